import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import type { CollectorManager, CollectorStatus, ManagerStatus } from '../api.ts';
import type { DataType, MarketEvent } from '../streams/events.ts';
import type { StateTelemetry, SubscriptionState, TelemetryEvent } from '../streams/telemetry.ts';
import { readiness } from './health.ts';

/**
 * Prometheus metrics of a manager, for `GET /metrics`. Nothing here runs per market message
 * except one decrement for the latency sample: counters the runtime already keeps (frames, bytes,
 * events, faults) are read from one `getStatus()` per scrape, and what the status does not keep
 * (connection attempts, reconnects and restarts by reason, state changes) is counted from
 * `telemetry$`, a few events per minute per collector.
 *
 * Every application metric is `market_collector_*`, in base units (seconds, bytes), labelled by
 * `collector` and `exchange`, and by `channel` where the value belongs to one; `symbol` only with
 * `symbols: true`, since it multiplies the series by the number of instruments. The process
 * defaults of prom-client (`process_*`, `nodejs_*`) are served beside them.
 */

export const METRICS_PREFIX = 'market_collector_';

/** One event in this many has its exchange-to-receipt latency observed. */
export const DEFAULT_LATENCY_SAMPLE_EVERY = 10;

/** Seconds from the exchange's timestamp to receipt. OKX pushes arrive in 5 to 100 ms. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every `state` of a collector status; the state gauge has a series for each, 0 or 1. */
export const COLLECTOR_STATES: readonly string[] = [
  'idle',
  'connecting',
  'subscribing',
  'subscribed',
  'reconnecting',
  'backoff',
  'failed',
  'error',
  'stopped',
  'disabled',
];

const SUBSCRIPTION_STATES: readonly SubscriptionState[] = [
  'pending',
  'active',
  'retrying',
  'failed',
  'quarantined',
];

const BOOK_STATES = ['syncing', 'live', 'invalid', 'quarantined'] as const;

/** Events whose `timestamp` is the exchange's time of the data; a candle's is its start. */
const LATENCY_DATA_TYPES: Readonly<Partial<Record<MarketEvent['type'], DataType>>> = {
  trade: 'trade',
  ticker: 'ticker',
  book_change: 'orderbook',
};

/** A reason that is one short word (`http-503`, `closed-1006`, `pong-timeout`) is a label value. */
const LABEL_WORD = /^[a-z0-9][a-z0-9_.-]{0,39}$/i;

const COLLECTOR_LABELS = ['collector', 'exchange'];

export interface MetricsOptions {
  readonly manager: CollectorManager;
  /** Adds `symbol` to the subscription, book and latency metrics. */
  readonly symbols?: boolean;
  /** Observe the latency of one event in this many (default 10); 1 observes every event. */
  readonly latencySampleEvery?: number;
  /** For `market_collector_ready`: it is 0 from the first moment of a shutdown. */
  readonly isShuttingDown?: () => boolean;
}

export interface Metrics {
  /** The Prometheus text format's content type. */
  readonly contentType: string;
  /** The application's metrics alone: what CI lints with `promtool check metrics`. */
  readonly registry: Registry;
  /** The application's and the process's metrics, as `GET /metrics` serves them. */
  scrape(): Promise<string>;
  /** Stops counting. Idempotent. */
  close(): void;
}

type Labels = Record<string, string>;

/** What the metrics share: where they register, the status of a scrape, the collectors' names. */
interface Scope {
  readonly registers: Registry[];
  readonly manager: CollectorManager;
  readonly symbols: boolean;
  readonly index: CollectorIndex;
  /** The status of the scrape in progress; every collect callback of one scrape reads the same. */
  status(): ManagerStatus;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const { manager } = options;
  const registry = new Registry();
  let scraped: ManagerStatus | undefined;
  const scope: Scope = {
    registers: [registry],
    manager,
    symbols: options.symbols === true,
    index: new CollectorIndex(manager),
    status: () => {
      scraped ??= manager.getStatus();
      return scraped;
    },
  };
  registerStatusCounters(scope);
  registerStateGauges(scope, options.isShuttingDown ?? (() => false));
  const telemetry = new TelemetryCounters(scope);
  const every = options.latencySampleEvery ?? DEFAULT_LATENCY_SAMPLE_EVERY;
  const latency = new LatencySampler(scope, Math.max(1, Math.floor(every)));
  const subscriptions: Subscription[] = [
    manager.telemetry$.subscribe((t) => telemetry.observe(t)),
    manager.data$.subscribe((event) => latency.observe(event)),
  ];
  const served = Registry.merge([registry, processRegistry()]);

  return {
    contentType: served.contentType,
    registry,
    scrape() {
      scraped = manager.getStatus();
      scope.index.remember(scraped);
      latency.forgetChildren();
      try {
        // Every collect callback runs synchronously inside this call, before its first await:
        // they all read the status taken above, and a concurrent scrape takes its own.
        return served.metrics();
      } finally {
        scraped = undefined;
      }
    },
    close() {
      for (const s of subscriptions) s.unsubscribe();
      subscriptions.length = 0;
    },
  };
}

/** Exchange and channel names of collectors, for the metrics fed by telemetry and events. */
class CollectorIndex {
  private readonly exchanges = new Map<string, string>();
  /** `collectorId|dataType` to the channel that carries it, e.g. `okx-1|orderbook` to `books`. */
  private readonly channels = new Map<string, string>();

  constructor(private readonly manager: CollectorManager) {}

  exchangeOf(collectorId: string): string {
    const known = this.exchanges.get(collectorId);
    if (known !== undefined) return known;
    // Not cached when unknown: the first telemetry of a collector may precede its status.
    const exchange = this.manager.getCollector(collectorId)?.getStatus().exchange;
    if (exchange !== undefined) this.exchanges.set(collectorId, exchange);
    return exchange ?? 'unknown';
  }

  channelOf(collectorId: string, dataType: string): string {
    return this.channels.get(`${collectorId}|${dataType}`) ?? dataType;
  }

  noteChannel(collectorId: string, dataType: string, channel: string): void {
    this.channels.set(`${collectorId}|${dataType}`, channel);
  }

  remember(status: ManagerStatus): void {
    for (const c of status.collectors) {
      this.exchanges.set(c.id, c.exchange);
      for (const s of c.subscriptions) this.noteChannel(c.id, s.dataType, s.channel);
    }
  }
}

function labelsOf(c: CollectorStatus): Labels {
  return { collector: c.id, exchange: c.exchange };
}

/** Counters the runtime keeps in its status, copied at scrape time. */
function registerStatusCounters(scope: Scope): void {
  const { registers } = scope;
  const fromStatus = (
    name: string,
    help: string,
    read: (c: CollectorStatus) => number | undefined,
  ) =>
    new Counter({
      name: `${METRICS_PREFIX}${name}`,
      help,
      labelNames: COLLECTOR_LABELS,
      registers,
      collect() {
        this.reset();
        for (const c of scope.status().collectors) {
          const value = read(c);
          if (value !== undefined) this.inc(labelsOf(c), value);
        }
      },
    });
  fromStatus('frames_received_total', 'WebSocket frames received.', (c) => c.messages);
  fromStatus(
    'received_bytes_total',
    'Payload received in WebSocket frames, bytes (UTF-16 code units of text frames).',
    (c) => c.bytes,
  );
  fromStatus('events_emitted_total', 'Normalized market events emitted on data$.', (c) => c.events);
  fromStatus(
    'duplicates_dropped_total',
    'Trades and tickers dropped as already emitted (a replay after a reconnect, a handover).',
    (c) => c.duplicatesDropped,
  );
  new Counter({
    name: `${METRICS_PREFIX}faults_total`,
    help: 'Operational faults by stable code; without collector for faults of no collector.',
    labelNames: [...COLLECTOR_LABELS, 'code'],
    registers,
    collect() {
      this.reset();
      const status = scope.status();
      const ofCollectors = new Map<string, number>();
      for (const c of status.collectors) {
        for (const [code, count] of Object.entries(c.faultsByCode)) {
          this.inc({ ...labelsOf(c), code }, count);
          ofCollectors.set(code, (ofCollectors.get(code) ?? 0) + count);
        }
      }
      // The runtime's count includes faults of no collector (`subscriber-threw`) and removed ones.
      for (const [code, count] of Object.entries(status.faultsByCode)) {
        const rest = count - (ofCollectors.get(code) ?? 0);
        if (rest > 0) this.inc({ code }, rest);
      }
    },
  });
}

/** States read at scrape time: collectors, subscriptions, books, last messages, readiness. */
function registerStateGauges(scope: Scope, isShuttingDown: () => boolean): void {
  const { registers, manager } = scope;
  const channelLabels = scope.symbols
    ? ['collector', 'exchange', 'channel', 'symbol', 'state']
    : ['collector', 'exchange', 'channel', 'state'];
  const group = (channel: string, symbol: string) =>
    scope.symbols ? `${channel}\u0000${symbol}` : channel;

  new Gauge({
    name: `${METRICS_PREFIX}collector_state`,
    help: 'The state of each collector: 1 for the current one, 0 for the others.',
    labelNames: [...COLLECTOR_LABELS, 'state'],
    registers,
    collect() {
      this.reset();
      for (const c of scope.status().collectors) {
        const known = COLLECTOR_STATES.includes(c.state);
        for (const state of known ? COLLECTOR_STATES : [...COLLECTOR_STATES, c.state]) {
          this.set({ ...labelsOf(c), state }, state === c.state ? 1 : 0);
        }
      }
    },
  });
  // Subscriptions and maintained books: a count per channel (and symbol) and state.
  const byChannelAndState = (
    name: string,
    help: string,
    itemsOf: (c: CollectorStatus) => readonly { channel: string; symbol: string; state: string }[],
    states: readonly string[],
  ) =>
    new Gauge({
      name: `${METRICS_PREFIX}${name}`,
      help,
      labelNames: channelLabels,
      registers,
      collect() {
        this.reset();
        for (const c of scope.status().collectors) {
          const counts = countBy(
            itemsOf(c),
            (item) => group(item.channel, item.symbol),
            (item) => item.state,
          );
          setCounts(this, labelsOf(c), counts, states);
        }
      },
    });
  byChannelAndState(
    'subscriptions',
    'Subscriptions by channel and state.',
    (c) => c.subscriptions,
    SUBSCRIPTION_STATES,
  );
  byChannelAndState(
    'books',
    'Maintained order books by channel and state (only live books are emitted).',
    (c) => c.books,
    BOOK_STATES,
  );
  new Gauge({
    name: `${METRICS_PREFIX}last_message_timestamp_seconds`,
    help: 'When the last market message of each channel was received, Unix time.',
    labelNames: [...COLLECTOR_LABELS, 'channel'],
    registers,
    collect() {
      this.reset();
      for (const c of scope.status().collectors) {
        // A collector switched off on purpose is not a stale stream (MarketCollectorStreamStale).
        if (!c.enabled) continue;
        for (const [dataType, at] of Object.entries(c.lastMessageAt)) {
          if (at === undefined) continue;
          this.set({ ...labelsOf(c), channel: scope.index.channelOf(c.id, dataType) }, at / 1_000);
        }
      }
    },
  });
  new Gauge({
    name: `${METRICS_PREFIX}ready`,
    help: 'Whether /readyz answers 200: every enabled collector subscribed, not shutting down.',
    registers,
    collect() {
      this.set(readiness(manager, scope.status(), isShuttingDown()).ok ? 1 : 0);
    },
  });
}

/** A group key `channel` or `channel\0symbol` to counts by state; every state gets a series. */
function setCounts(
  gauge: Gauge,
  base: Labels,
  counts: ReadonlyMap<string, ReadonlyMap<string, number>>,
  states: readonly string[],
): void {
  for (const [key, byState] of counts) {
    const [channel = key, symbol] = key.split('\u0000');
    const labels: Labels =
      symbol === undefined ? { ...base, channel } : { ...base, channel, symbol };
    for (const state of new Set([...states, ...byState.keys()])) {
      gauge.set({ ...labels, state }, byState.get(state) ?? 0);
    }
  }
}

/** What the status does not count: attempts, reconnects, restarts and state changes. */
class TelemetryCounters {
  private readonly attempts: Counter;
  private readonly reconnects: Counter;
  private readonly restarts: Counter;
  private readonly stateChanges: Counter;

  constructor(private readonly scope: Scope) {
    const counter = (name: string, help: string, labels: readonly string[]) =>
      new Counter({
        name: `${METRICS_PREFIX}${name}`,
        help,
        labelNames: [...COLLECTOR_LABELS, ...labels],
        registers: scope.registers,
      });
    this.attempts = counter(
      'connection_attempts_total',
      'Connection attempts by result: opened, refused (an HTTP status), failed, aborted.',
      ['result'],
    );
    this.reconnects = counter(
      'reconnects_total',
      'Reconnects by reason (pong-timeout, data-stall, http-503, closed-1006, ...).',
      ['reason'],
    );
    this.restarts = counter(
      'restarts_total',
      'Restarts by the supervisor, by reason: requested, crashed, unhealthy, sibling.',
      ['reason'],
    );
    this.stateChanges = counter(
      'state_changes_total',
      'State changes of the supervisor, collector and connection machines, by state entered.',
      ['machine', 'state'],
    );
  }

  observe(t: TelemetryEvent): void {
    try {
      this.count(t);
    } catch {
      // A metric must never become a fault of the runtime; the next scrape shows the status.
    }
  }

  private count(t: TelemetryEvent): void {
    switch (t.type) {
      case 'state':
        this.countState(t);
        return;
      case 'reconnect':
        this.reconnects.inc({ ...this.labels(t.collectorId), reason: word(t.reason) });
        return;
      case 'restart':
        this.restarts.inc({ ...this.labels(t.collectorId), reason: restartReason(t.reason) });
        return;
      case 'subscription':
        this.scope.index.noteChannel(t.collectorId, t.dataType, t.channel);
        return;
      case 'fault':
        // Counted from the status at scrape time: a flood of one code is not emitted in full.
        return;
    }
  }

  private countState(t: StateTelemetry): void {
    if (t.collectorId === undefined) return;
    const labels = this.labels(t.collectorId);
    this.stateChanges.inc({ ...labels, machine: t.machine, state: word(t.to) });
    if (t.machine === 'connection' && t.from === 'connecting') {
      this.attempts.inc({ ...labels, result: attemptResult(t.to, t.reason) });
    }
  }

  private labels(collectorId: string): Labels {
    return { collector: collectorId, exchange: this.scope.index.exchangeOf(collectorId) };
  }
}

/**
 * The exchange-to-receipt latency histogram, fed by one event in `every`: a histogram observation
 * per event (label hashing, bucket search) would be the costliest line of the hot path.
 */
class LatencySampler {
  private readonly histogram: Histogram;
  /** Bound children by collector and event type (and symbol); rebuilt after every scrape. */
  private readonly children = new Map<string, { observe(value: number): void }>();
  private countdown: number;

  constructor(
    private readonly scope: Scope,
    private readonly every: number,
  ) {
    this.countdown = every;
    this.histogram = new Histogram({
      name: `${METRICS_PREFIX}event_latency_seconds`,
      help: `Exchange timestamp to receipt, seconds; one event in ${every} is observed.`,
      labelNames: scope.symbols ? ['exchange', 'channel', 'symbol'] : ['exchange', 'channel'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: scope.registers,
    });
  }

  observe(event: MarketEvent): void {
    if (--this.countdown > 0) return;
    this.countdown = this.every;
    const dataType = LATENCY_DATA_TYPES[event.type];
    if (dataType === undefined) return;
    // A clock behind the exchange's would make it negative: such a sample says "no delay".
    this.childFor(event, dataType).observe(
      Math.max(0, event.localTimestamp - event.timestamp) / 1e3,
    );
  }

  /** A channel learnt later (or a collector re-added under its id) gets a fresh child. */
  forgetChildren(): void {
    this.children.clear();
  }

  private childFor(event: MarketEvent, dataType: DataType): { observe(value: number): void } {
    const symbols = this.scope.symbols;
    const key = `${event.collectorId}\u0000${event.type}${symbols ? `\u0000${event.symbol}` : ''}`;
    let child = this.children.get(key);
    if (child === undefined) {
      const channel = this.scope.index.channelOf(event.collectorId, dataType);
      const labels: Labels = { exchange: event.exchange, channel };
      if (symbols) labels.symbol = event.symbol;
      child = this.histogram.labels(labels);
      this.children.set(key, child);
    }
    return child;
  }
}

/** Counts of items by a group key, then by state. */
function countBy<T>(
  items: readonly T[],
  group: (item: T) => string,
  state: (item: T) => string,
): Map<string, Map<string, number>> {
  const counts = new Map<string, Map<string, number>>();
  for (const item of items) {
    const key = group(item);
    const byState = counts.get(key) ?? new Map<string, number>();
    byState.set(state(item), (byState.get(state(item)) ?? 0) + 1);
    counts.set(key, byState);
  }
  return counts;
}

function word(text: string): string {
  return LABEL_WORD.test(text) ? text : 'other';
}

/** How a connection attempt ended, from the state it left `connecting` for. */
function attemptResult(to: string, reason: string | undefined): string {
  if (to === 'subscribing' || to === 'subscribed' || to === 'open') return 'opened';
  if (to === 'reconnecting' || to === 'error') {
    return reason?.startsWith('http-') === true ? 'refused' : 'failed';
  }
  return 'aborted';
}

/** The supervisor's reasons carry detail (`crashed: <message>`); the label keeps their kind. */
function restartReason(reason: string): string {
  if (/^(one-for-all|rest-for-one): /.test(reason)) return 'sibling';
  return word(reason.split(/[:;(\s]/, 1)[0] ?? '');
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process defaults, once per process: they describe the process, not a manager,
 * and each set keeps an event-loop delay monitor running for good.
 */
function processRegistry(): Registry {
  if (processMetrics !== undefined) return processMetrics;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` refuses; their `type`-labelled
  // namesakes (`nodejs_active_handles` ...) carry the same numbers.
  for (const misnamed of ['handles', 'requests', 'resources']) {
    registry.removeSingleMetric(`nodejs_active_${misnamed}_total`);
  }
  processMetrics = registry;
  return registry;
}
