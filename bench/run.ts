/**
 * `npm run bench`: replays recorded OKX trades frames from a server in another process and
 * reports, side by side from one run, the frames per second of a bare `ws` client that parses
 * (the ceiling) and of the full pipeline to a `data$` subscriber, their ratio, and the heap of
 * one idle collector. Aims (the issue's): ratio ≥ 0.85, under 16 KB per idle collector.
 *
 *   npm run bench -- [--frames 300000] [--rounds 5] [--collectors 150]
 *                    [--only transport,ceiling,pipeline,heap,restarts,books] [--restarts 4000]
 *
 * A table goes to stdout, then one `BENCH_JSON {…}` line for machines; progress goes to stderr.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { measureBooks } from './books.ts';
import { CONNECTS_PER_SECOND, HEAP_CASES, type HeapResult, measureHeap } from './heap.ts';
import { formatJson, formatReport, type Report, summarize } from './report.ts';
import { measureRestartCycles } from './restart-cycles.ts';
import { startReplayServer } from './server-process.ts';
import { CLIENTS, type ClientKind, type Round, runRound } from './throughput.ts';

const PARTS = [...CLIENTS, 'heap', 'restarts', 'books'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  readonly frames: number;
  readonly rounds: number;
  readonly collectors: number;
  readonly restarts: number;
  readonly only: ReadonlySet<Part>;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '300000' },
      rounds: { type: 'string', default: '5' },
      // 150 collectors connect in ~50 s at OKX's 3 connections per second.
      collectors: { type: 'string', default: '150' },
      only: { type: 'string', default: PARTS.join(',') },
      restarts: { type: 'string', default: '4000' },
    },
  });
  const only = new Set(values.only.split(',').map((part) => part.trim()));
  for (const part of only) {
    if (!(PARTS as readonly string[]).includes(part)) {
      throw new RangeError(`--only takes ${PARTS.join(', ')}; received ${JSON.stringify(part)}`);
    }
  }
  return {
    frames: positiveInteger('frames', values.frames),
    rounds: positiveInteger('rounds', values.rounds),
    collectors: positiveInteger('collectors', values.collectors),
    restarts: positiveInteger('restarts', values.restarts),
    only: only as Set<Part>,
  };
}

function positiveInteger(option: string, value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new RangeError(
      `--${option} must be a positive integer; received ${JSON.stringify(value)}`,
    );
  }
  return number;
}

const progress = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

/** One discarded warm-up cycle, then `rounds` cycles in which the clients alternate. */
async function throughput(
  run: (client: ClientKind) => Promise<Round>,
  clients: readonly ClientKind[],
  rounds: number,
): Promise<Round[]> {
  const kept: Round[] = [];
  for (let cycle = 0; cycle <= rounds; cycle++) {
    for (const client of clients) {
      // Garbage left by the previous round would otherwise be collected on this one's time.
      globalThis.gc?.();
      const round = await run(client);
      const label = cycle === 0 ? 'warm-up' : `round ${cycle}/${rounds}`;
      progress(`${label} ${client}: ${Math.round(round.perSecond).toLocaleString('en-US')} /s`);
      if (cycle > 0) kept.push(round);
    }
  }
  return kept;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const startedAt = Date.now();
  const clients = CLIENTS.filter((client) => options.only.has(client));
  // The heap cases send nothing: a server with one frame ready starts at once.
  const frames = clients.length > 0 ? options.frames : 1;
  progress(`preparing ${frames} frames in the replay server`);
  const server = await startReplayServer(frames);
  try {
    const rounds = await throughput((c) => runRound(server, c), clients, options.rounds);
    const heap: HeapResult[] = [];
    if (options.only.has('heap')) {
      for (const heapCase of HEAP_CASES) {
        if (heapCase === 'subscribed') {
          const seconds = Math.ceil(options.collectors / CONNECTS_PER_SECOND);
          progress(
            `connecting ${options.collectors} collectors, paced by the runtime at ` +
              `${CONNECTS_PER_SECOND} per second as OKX requires: ~${seconds} s`,
          );
        }
        heap.push(await measureHeap(server, heapCase, options.collectors));
      }
    }
    const report: Report = summarize({
      node: process.version,
      cpus: availableParallelism(),
      server: server.info,
      rounds,
      heap,
      totalMs: Date.now() - startedAt,
    });
    process.stdout.write(`${formatReport(report)}\n${formatJson(report)}\n`);
    if (options.only.has('books')) {
      progress('book updates through the feed against JSON.parse, in process');
      const count = (n: number, width: number) =>
        Math.round(n).toLocaleString('en-US').padStart(width);
      const books = measureBooks();
      const lines = books.map(
        (r) =>
          `  ${r.variant.padEnd(11)} ${count(r.parsePerSecond, 10)} ${count(r.feedPerSecond, 9)}` +
          `  ${r.ratio.toFixed(2).padEnd(15)} ${count(r.jsonFeedPerSecond, 14)}  ` +
          `${r.jsonRatio.toFixed(2).padEnd(5)}  ` +
          `(${r.checksumsVerified.toLocaleString('en-US')} applied, ${r.resets} resets)`,
      );
      process.stdout.write(
        `\nbook updates per second (recorded BTC-USDT books, 400 levels)\n` +
          `  variant     JSON.parse      feed  ratio (aim 0.8)  feed, JSON path  ratio\n` +
          `${lines.join('\n')}\nBENCH_BOOKS_JSON ${JSON.stringify(books)}\n`,
      );
    }
    if (options.only.has('restarts')) {
      progress(`restarting one collector ${options.restarts} times over real loopback sockets`);
      const result = await measureRestartCycles(options.restarts);
      const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
      process.stdout.write(
        `\nheap across ${result.cycles} supervisor restarts (${result.seconds.toFixed(1)} s): ` +
          `${kb(result.heapAtStartBytes)} at start, ${kb(result.heapAtHalfBytes)} at half, ` +
          `${kb(result.heapAtEndBytes)} at the end; ${result.bytesPerCycle.toFixed(0)} B per ` +
          `restart over the second half\nBENCH_RESTARTS_JSON ${JSON.stringify(result)}\n`,
      );
    }
  } finally {
    await server.stop();
  }
}

await main();
