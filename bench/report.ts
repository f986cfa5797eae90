import type { HeapCase, HeapResult } from './heap.ts';
import type { ServerInfo } from './server-process.ts';
import type { ClientKind, Round } from './throughput.ts';

/** Medians, the ratio, the aims, and how to print them for people and for machines. */

/** The aims. */
export const AIMS = { ratio: 0.85, heapBytesPerCollector: 16 * 1024 } as const;

export interface ClientSummary {
  readonly medianPerSecond: number;
  readonly usPerFrame: number;
  readonly perSecond: readonly number[];
  /** The same per second of this process's CPU time. */
  readonly medianPerCpuSecond: number;
  readonly cpuUsPerFrame: number;
  readonly perCpuSecond: readonly number[];
}

/** Pipeline over ceiling, from wall time or from CPU time. */
export interface Ratio {
  /** Median pipeline over median ceiling. */
  readonly ofMedians: number;
  /** Pipeline over ceiling within each cycle: the spread says how much to trust the median. */
  readonly perRound: readonly number[];
}

export interface Report {
  readonly node: string;
  readonly cpus: number;
  readonly server: ServerInfo;
  readonly rounds: number;
  readonly clients: Partial<Record<ClientKind, ClientSummary>>;
  /** From frames per second: what the aim is about. */
  readonly ratio: Ratio | undefined;
  /** From frames per CPU second: steadier when other processes share the machine. */
  readonly cpuRatio: Ratio | undefined;
  readonly heap: readonly HeapResult[];
  readonly aims: typeof AIMS;
  readonly met: { readonly ratio: boolean | undefined; readonly heap: boolean | undefined };
  readonly totalMs: number;
}

export interface Measurements {
  readonly node: string;
  readonly cpus: number;
  readonly server: ServerInfo;
  readonly rounds: readonly Round[];
  readonly heap: readonly HeapResult[];
  readonly totalMs: number;
}

export function summarize(m: Measurements): Report {
  const clients: Partial<Record<ClientKind, ClientSummary>> = {};
  for (const round of m.rounds) {
    const mine = m.rounds.filter((r) => r.client === round.client);
    const perSecond = mine.map((r) => r.perSecond);
    const perCpuSecond = mine.map((r) => r.perCpuSecond);
    clients[round.client] = {
      medianPerSecond: median(perSecond),
      usPerFrame: 1e6 / median(perSecond),
      perSecond,
      medianPerCpuSecond: median(perCpuSecond),
      cpuUsPerFrame: 1e6 / median(perCpuSecond),
      perCpuSecond,
    };
  }
  const { ceiling, pipeline } = clients;
  const ratio = ceiling && pipeline ? ratioOf(pipeline.perSecond, ceiling.perSecond) : undefined;
  const cpuRatio =
    ceiling && pipeline ? ratioOf(pipeline.perCpuSecond, ceiling.perCpuSecond) : undefined;
  const subscribed = m.heap.find((h) => h.case === 'subscribed');
  const perClient = Object.values(clients).map((c) => c.perSecond.length);
  return {
    node: m.node,
    cpus: m.cpus,
    server: m.server,
    rounds: Math.max(0, ...perClient),
    clients,
    ratio,
    cpuRatio,
    heap: m.heap,
    aims: AIMS,
    met: {
      ratio: ratio === undefined ? undefined : ratio.ofMedians >= AIMS.ratio,
      heap:
        subscribed === undefined
          ? undefined
          : subscribed.heapBytesEach < AIMS.heapBytesPerCollector,
    },
    totalMs: m.totalMs,
  };
}

function ratioOf(pipeline: readonly number[], ceiling: readonly number[]): Ratio {
  return {
    ofMedians: median(pipeline) / median(ceiling),
    perRound: pipeline.map((p, i) => p / (ceiling[i] ?? Number.NaN)),
  };
}

const CLIENT_LABELS: Record<ClientKind, string> = {
  transport: 'ws, count only (transport)',
  ceiling: 'ws + JSON.parse (ceiling)',
  pipeline: 'collector to data$ (pipeline)',
};

const HEAP_LABELS: Record<HeapCase, string> = {
  added: 'collector added, not started',
  subscribed: 'collector started, subscribed',
  bare: 'bare ws client, subscribed',
};

export function formatReport(report: Report): string {
  const { server } = report;
  const averageBytes = Math.round(server.payloadBytes / server.frames);
  const lines = [
    `market-collector bench: node ${report.node}, ${report.cpus} cpus, ` +
      `${(report.totalMs / 1000).toFixed(0)} s`,
  ];
  if (report.rounds > 0) {
    lines.push(
      `${int(server.frames)} frames per round (${server.recorded} recorded trades frames cycled, ` +
        `${averageBytes} B each on average, ${server.instIds.length} instIds); ` +
        `median of ${report.rounds} rounds`,
      '',
      throughputTable(report),
    );
  }
  if (report.heap.length > 0) lines.push('', heapTable(report));
  return lines.join('\n');
}

function throughputTable(report: Report): string {
  const { ceiling } = report.clients;
  const rows = (Object.keys(CLIENT_LABELS) as ClientKind[]).flatMap((client) => {
    const summary = report.clients[client];
    if (summary === undefined) return [];
    const vs = (value: number, of: number | undefined) =>
      of === undefined ? '' : (value / of).toFixed(2);
    return [
      [
        CLIENT_LABELS[client],
        int(summary.medianPerSecond),
        summary.usPerFrame.toFixed(2),
        vs(summary.medianPerSecond, ceiling?.medianPerSecond),
        summary.cpuUsPerFrame.toFixed(2),
        vs(summary.medianPerCpuSecond, ceiling?.medianPerCpuSecond),
      ],
    ];
  });
  const table = formatTable(
    ['client', 'frames/s', 'µs/frame', 'vs ceiling', 'CPU µs/frame', 'vs ceiling (CPU)'],
    rows,
  );
  const { ratio, cpuRatio } = report;
  if (ratio === undefined || cpuRatio === undefined) return table;
  const verdict = report.met.ratio ? 'met' : 'NOT met';
  return [
    table,
    `ratio pipeline/ceiling ${describeRatio(ratio)}; aim ≥ ${AIMS.ratio}: ${verdict}`,
    `the same from CPU time ${describeRatio(cpuRatio)}`,
  ].join('\n');
}

function describeRatio(ratio: Ratio): string {
  const rounds = ratio.perRound.map((r) => r.toFixed(2)).join(' ');
  return `${ratio.ofMedians.toFixed(2)} (each round ${rounds})`;
}

function heapTable(report: Report): string {
  const byCase = new Map(report.heap.map((h) => [h.case, h]));
  const rows = report.heap.map((h) => [
    HEAP_LABELS[h.case],
    int(h.heapBytesEach),
    int(h.marginalBytesEach),
    int(h.externalBytesEach),
    int(h.count),
    (h.ms / 1000).toFixed(1),
  ]);
  const added = byCase.get('added');
  const subscribed = byCase.get('subscribed');
  if (added !== undefined && subscribed !== undefined) {
    const socketShare = subscribed.heapBytesEach - added.heapBytesEach;
    rows.splice(rows.length - (byCase.has('bare') ? 1 : 0), 0, [
      '  of which connection + socket',
      int(socketShare),
      int(subscribed.marginalBytesEach - added.marginalBytesEach),
      '',
      '',
      '',
    ]);
  }
  const table = formatTable(
    ['heap per idle collector', 'heap B', '2nd half B', 'external B', 'count', 's'],
    rows,
  );
  const legend =
    'heap B: heapUsed growth per member after full GCs; 2nd half B: the same over the second ' +
    'half only; external B: Buffers and other memory outside the V8 heap';
  if (subscribed === undefined) return `${table}\n${legend}`;
  const verdict = report.met.heap ? 'met' : 'NOT met';
  return `${table}\n${legend}\nheap per subscribed idle collector ${int(subscribed.heapBytesEach)} B; aim < ${int(AIMS.heapBytesPerCollector)} B: ${verdict}`;
}

export function formatJson(report: Report): string {
  return `BENCH_JSON ${JSON.stringify(report, (_key, value) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value,
  )}`;
}

/** Left-aligned first column, right-aligned numbers, two spaces between columns. */
function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function int(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
}
