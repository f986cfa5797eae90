import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { BookView, CollectorManager, CollectorStatus, ManagerStatus } from '../api.ts';
import { DEFAULT_TIMERS } from '../config/schema.ts';
import type { BookLevel, DataType } from '../streams/events.ts';
import type { ProcessResources } from '../streams/process.ts';
import type { AdminRoute } from './admin.ts';
import { DASHBOARD_PAGE, DASHBOARD_PAGE_CSP } from './dashboard-page.ts';
import { sanitizeError } from './logging.ts';
import type { AdminSettings } from './serve.ts';
import type { Timeline, TimelineEntry } from './timeline.ts';

/**
 * The live dashboard on the admin listener:
 *
 *   GET  /, /dashboard    one self-contained page (no external asset), fed by the stream below
 *   GET  /events          Server-Sent Events: a full snapshot at once, then one per change, at
 *                         most every `intervalMs`; a comment line keeps idle proxies from closing
 *   POST /actions/drop-connections   only when the demo offers it (`dropConnections`)
 *
 * One snapshot is built per tick for every open page, and only while a page is open: a dashboard
 * nobody watches costs nothing. Every text in a snapshot went through the sanitizer; the page
 * puts each one in with `textContent`, never as markup (symbols and errors come from the network).
 */

export interface DashboardOptions {
  readonly manager: CollectorManager;
  /** Fed by the manager's `inspect` option (see timeline.ts). */
  readonly timeline: Timeline;
  /** The manager's clock: ages and time in state are measured against the status's times. */
  readonly now?: () => number;
  /** Least time between two snapshots on the stream; 500 ms by default. */
  readonly intervalMs?: number;
  /** Where a snapshot that could not be built is reported; the admin server's logger. */
  readonly logger?: Logger;
  /** The demo's button: ends every connection of the demo exchange, to watch a reconnect. */
  readonly dropConnections?: () => void;
}

export type VerdictState = 'ready' | 'degraded' | 'down';

export interface DashboardVerdict {
  readonly state: VerdictState;
  readonly reasons: readonly string[];
}

/** How a data type's last message compares with its silence threshold (`timers.silenceMs`). */
export type Freshness = 'ok' | 'late' | 'stale' | 'none' | 'off';

export interface DataAge {
  readonly dataType: DataType;
  readonly ageMs: number | undefined;
  /** 0: no threshold (the default for trades and candles). */
  readonly thresholdMs: number;
  readonly freshness: Freshness;
}

export interface CollectorRow {
  readonly id: string;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly enabled: boolean;
  readonly state: string;
  readonly lifecycle: string;
  readonly inStateMs: number;
  readonly connections: readonly { readonly id: string; readonly state: string }[];
  readonly messages: number;
  /** Undefined until two samples were taken. */
  readonly messagesPerSecond: number | undefined;
  readonly data: readonly DataAge[];
  readonly reconnects: number;
  readonly restarts: number;
  readonly faults: number;
  readonly lastError: string | undefined;
}

export interface BookRow {
  readonly collectorId: string;
  readonly symbol: string;
  readonly channel: string;
  /** The book's state, or the subscription's while there is no book yet. */
  readonly state: string;
  readonly bestBid: BookLevel | undefined;
  readonly bestAsk: BookLevel | undefined;
  readonly sequence: number | undefined;
  readonly resyncs: number;
}

export interface DashboardSnapshot {
  readonly at: number;
  readonly uptimeMs: number;
  readonly verdict: DashboardVerdict;
  readonly collectors: readonly CollectorRow[];
  readonly books: readonly BookRow[];
  /** Newest first. */
  readonly timeline: readonly TimelineEntry[];
  readonly process: ProcessResources;
  /** Buttons the page may show: `drop-connections` in the demo. */
  readonly actions: readonly string[];
}

const DEFAULT_INTERVAL_MS = 500;
/** A comment line this often on a stream with nothing new (proxies close idle ones at ~60 s). */
const KEEP_ALIVE_MS = 15_000;
/** How long the browser waits before it reconnects a broken stream. */
const RETRY_MS = 2_000;
/** A page that does not read its stream is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1 << 20;
const TIMELINE_SHOWN = 60;
const MAX_TEXT_CHARS = 300;

export function dashboardRoutes(options: DashboardOptions): AdminRoute[] {
  const { manager } = options;
  const now = options.now ?? Date.now;
  const rates = createRateSampler();
  const actions = options.dropConnections === undefined ? [] : ['drop-connections'];
  const build = (sampleRates: boolean) => {
    const status = manager.getStatus();
    const perSecond = sampleRates ? rates.sample(status) : rates.last();
    return JSON.stringify(
      buildSnapshot({
        status,
        manager,
        timeline: options.timeline,
        perSecond,
        now: now(),
        actions,
      }),
    );
  };
  const onError = (err: unknown) => options.logger?.error({ err }, 'dashboard snapshot failed');
  const hub = createEventHub(build, options.intervalMs ?? DEFAULT_INTERVAL_MS, onError);
  const page = (req: IncomingMessage, res: ServerResponse) => sendPage(req, res);
  const routes: AdminRoute[] = [
    { method: 'GET', path: '/', handle: page },
    { method: 'GET', path: '/dashboard', handle: page },
    { method: 'GET', path: '/events', handle: (req, res) => hub.add(req, res) },
  ];
  const drop = options.dropConnections;
  if (drop !== undefined) {
    routes.push({
      method: 'POST',
      path: '/actions/drop-connections',
      handle: (req, res) => dropRoute(req, res, drop),
    });
  }
  return routes;
}

/** The admin settings of `run` or `demo` with the dashboard's routes added; none stays none. */
export function attachDashboard(
  admin: AdminSettings | undefined,
  options: DashboardOptions,
  /** Told the page's address once bound, when the port is chosen at listen time (`:0`). */
  announce?: (url: string) => void,
): AdminSettings | undefined {
  if (admin === undefined) return undefined;
  const routes = [...(admin.routes ?? []), ...dashboardRoutes(options)];
  if (announce === undefined || dashboardUrl(admin) !== undefined) return { ...admin, routes };
  return { ...admin, routes, onListening: (bound) => announce(`${bound}/`) };
}

/** `http://HOST:PORT/`, or undefined for port 0, whose port is known only once listening. */
export function dashboardUrl(admin: Pick<AdminSettings, 'host' | 'port'>): string | undefined {
  if (admin.port === 0) return undefined;
  const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host;
  return `http://${host}:${admin.port}/`;
}

interface SnapshotInput {
  readonly status: ManagerStatus;
  readonly manager: Pick<CollectorManager, 'getBook'>;
  readonly timeline: Pick<Timeline, 'entries'>;
  readonly perSecond: ReadonlyMap<string, number>;
  readonly now: number;
  readonly actions?: readonly string[];
}

export function buildSnapshot(input: SnapshotInput): DashboardSnapshot {
  const { status, now } = input;
  return {
    at: now,
    uptimeMs: status.uptimeMs,
    verdict: verdictOf(status),
    collectors: status.collectors.map((c) => collectorRow(c, input.perSecond.get(c.id), now)),
    books: status.collectors.flatMap((c) => bookRows(c, input.manager)),
    timeline: input.timeline.entries().slice(-TIMELINE_SHOWN).reverse(),
    process: status.process,
    actions: input.actions ?? [],
  };
}

/**
 * Ready when every enabled collector is subscribed and no subscription failed; down when no
 * enabled collector is subscribed (or none is enabled); degraded in between.
 */
export function verdictOf(status: ManagerStatus): DashboardVerdict {
  const enabled = status.collectors.filter((c) => c.enabled);
  if (enabled.length === 0) return { state: 'down', reasons: ['no collector is enabled'] };
  const reasons: string[] = [];
  let subscribed = 0;
  for (const c of enabled) {
    if (c.state === 'subscribed') subscribed += 1;
    else
      reasons.push(`${c.id} is ${c.state}${c.lastError === undefined ? '' : `: ${c.lastError}`}`);
    for (const s of c.subscriptions) {
      if (s.state !== 'failed' && s.state !== 'quarantined') continue;
      const code = s.code === undefined ? '' : ` (code ${s.code})`;
      reasons.push(`${c.id}: ${s.dataType} ${s.symbol} subscription ${s.state}${code}`);
    }
  }
  const state = subscribed === 0 ? 'down' : reasons.length === 0 ? 'ready' : 'degraded';
  return { state, reasons: reasons.map(clean) };
}

function collectorRow(
  c: CollectorStatus,
  perSecond: number | undefined,
  now: number,
): CollectorRow {
  return {
    id: c.id,
    exchange: c.exchange,
    symbols: c.symbols,
    enabled: c.enabled,
    state: c.state,
    lifecycle: c.lifecycle,
    inStateMs: Math.max(0, now - c.since),
    connections: c.connections.map((conn) => ({ id: conn.id, state: conn.state })),
    messages: c.messages,
    messagesPerSecond: perSecond,
    data: c.dataTypes.map((dataType) =>
      dataAge(dataType, c.lastMessageAt[dataType], now, c.silenceMs[dataType]),
    ),
    reconnects: c.reconnects,
    restarts: c.restarts,
    faults: c.faults,
    lastError: c.lastError === undefined ? undefined : clean(c.lastError),
  };
}

/** A data type's last message age, judged against the collector's own silence threshold. */
export function dataAge(
  dataType: DataType,
  lastAt: number | undefined,
  now: number,
  thresholdMs: number = DEFAULT_TIMERS.silenceMs[dataType],
): DataAge {
  const ageMs = lastAt === undefined ? undefined : Math.max(0, now - lastAt);
  const freshness: Freshness =
    thresholdMs <= 0
      ? 'off'
      : ageMs === undefined
        ? 'none'
        : ageMs >= thresholdMs
          ? 'stale'
          : ageMs >= thresholdMs / 2
            ? 'late'
            : 'ok';
  return { dataType, ageMs, thresholdMs, freshness };
}

function bookRows(c: CollectorStatus, manager: Pick<CollectorManager, 'getBook'>): BookRow[] {
  return c.subscriptions
    .filter((s) => s.dataType === 'orderbook')
    .map((s) => {
      const query = { collectorId: c.id, channel: s.channel, depth: 1 };
      const book: BookView | undefined = manager.getBook(s.symbol, query);
      return {
        collectorId: c.id,
        symbol: s.symbol,
        channel: s.channel,
        state: book?.state ?? `subscription ${s.state}`,
        bestBid: book?.bestBid,
        bestAsk: book?.bestAsk,
        sequence: book?.sequence,
        resyncs: book?.resyncs ?? 0,
      };
    });
}

interface RateSampler {
  /** Messages per second of each collector since the previous sample. */
  sample(status: ManagerStatus): ReadonlyMap<string, number>;
  last(): ReadonlyMap<string, number>;
}

/**
 * From successive `messages` counters. Real elapsed time, not the manager's clock: a rate is
 * throughput, and a simulated clock that stands still would divide by zero.
 */
export function createRateSampler(elapsedNow: () => number = () => performance.now()) {
  let previous: { readonly at: number; readonly counts: Map<string, number> } | undefined;
  let rates = new Map<string, number>();
  const sampler: RateSampler = {
    sample(status) {
      const at = elapsedNow();
      const counts = new Map(status.collectors.map((c) => [c.id, c.messages]));
      const seconds = previous === undefined ? 0 : (at - previous.at) / 1_000;
      if (previous !== undefined && seconds > 0) {
        const before = previous.counts;
        rates = new Map(
          [...counts].flatMap(([id, count]): [string, number][] => {
            const was = before.get(id);
            // A restarted collector starts its counters again: no rate for that one sample.
            return was === undefined || count < was ? [] : [[id, (count - was) / seconds]];
          }),
        );
      }
      previous = { at, counts };
      return rates;
    },
    last: () => rates,
  };
  return sampler;
}

interface EventHub {
  add(req: IncomingMessage, res: ServerResponse): void;
}

/** The `/events` streams: one timer for all of them, running only while one is open. */
function createEventHub(
  build: (sampleRates: boolean) => string,
  intervalMs: number,
  onError: (error: unknown) => void,
): EventHub {
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  let lastSentAt = 0;

  const send = (res: ServerResponse, text: string) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
    else res.write(text);
  };
  const tick = () => {
    let data: string;
    try {
      data = build(true);
    } catch (error) {
      // A timer callback that throws would end the process. End the streams instead: each page
      // reconnects, and its request fails (and is logged) through the admin server.
      onError(error);
      for (const res of clients) res.destroy();
      return;
    }
    const at = performance.now();
    if (data !== last) {
      last = data;
      lastSentAt = at;
      for (const res of clients) send(res, `data: ${data}\n\n`);
    } else if (at - lastSentAt >= KEEP_ALIVE_MS) {
      lastSentAt = at;
      for (const res of clients) send(res, ': keep-alive\n\n');
    }
  };

  return {
    add(req, res) {
      // Before the head: a status that cannot be read fails this request with a 500.
      const first = req.method === 'HEAD' ? '' : build(false);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // nginx buffers responses unless told not to; a buffered stream shows nothing live.
        'x-accel-buffering': 'no',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      clients.add(res);
      // The admin server's close ends every connection, and with it this stream: one path out.
      res.on('close', () => {
        clients.delete(res);
        if (clients.size === 0) {
          clearInterval(timer);
          timer = undefined;
        }
      });
      // JSON.stringify escapes every line break, so one `data:` line holds a whole snapshot.
      send(res, `retry: ${RETRY_MS}\ndata: ${first}\n\n`);
      if (timer === undefined) {
        timer = setInterval(tick, intervalMs);
        // A page left open must not keep a stopped service alive.
        timer.unref();
      }
    },
  };
}

function sendPage(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(DASHBOARD_PAGE),
    'cache-control': 'no-store',
    'content-security-policy': DASHBOARD_PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : DASHBOARD_PAGE);
}

/**
 * Only from the page itself: the custom header makes a cross-site request need a CORS preflight,
 * which this server never grants, so another site open in the browser cannot press the button.
 */
function dropRoute(req: IncomingMessage, res: ServerResponse, drop: () => void): void {
  req.resume();
  const site = req.headers['sec-fetch-site'];
  if (req.headers['x-dashboard'] !== '1' || (site !== undefined && site !== 'same-origin')) {
    res.writeHead(403, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: 'forbidden' }));
    return;
  }
  drop();
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ ok: true }));
}

function clean(text: string): string {
  const { message } = sanitizeError(text);
  return message.length <= MAX_TEXT_CHARS ? message : `${message.slice(0, MAX_TEXT_CHARS - 1)}…`;
}
