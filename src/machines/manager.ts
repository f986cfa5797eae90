import pino from 'pino';
import { filter, map, type Observable, Subject } from 'rxjs';
import { type AnyActorRef, createActor } from 'xstate';
import type {
  BookQuery,
  BookStatus,
  BookView,
  CollectorHandle,
  CollectorManager,
  CollectorStatus,
  CollectorSummary,
  ConnectionStatus,
  HealthStatus,
  ManagerOptions,
  ManagerStatus,
  SubscriptionStatus,
} from '../api.ts';
import type { BookSync } from '../book/sync.ts';
import { channelOptions, checkAgainstExchange, checkAsFarAsParsed } from '../config/exchange.ts';
import type { CollectorConfig, CollectorConfigInput } from '../config/schema.ts';
import {
  ConfigError,
  configError,
  parseCollectorConfig,
  parseSupervision,
  symbolsOf,
} from '../config/schema.ts';
import { getExchange } from '../exchanges/registry.ts';
import type { ExchangeAdapter } from '../exchanges/types.ts';
import type { DataType, MarketEvent } from '../streams/events.ts';
import { type BackfillStep, CollectorFeed, type FeedStats } from '../streams/feed.ts';
import { guardSubscribers } from '../streams/guard.ts';
import { ProcessMonitor } from '../streams/process.ts';
import { TelemetryReporter } from '../streams/reporter.ts';
import type { TelemetryEvent } from '../streams/telemetry.ts';
import { ConnectionPacer } from './backoff.ts';
import { systemClock } from './clock.ts';
import { type CollectorContext, createCollectorMachine } from './collector.ts';
import { type ConnectionContext, createConnectionMachine } from './connection.ts';
import { createRestLogic } from './rest.ts';
import { createSocketLogic, SocketTracker } from './socket.ts';
import { type ChildEntry, createSupervisorMachine, type SupervisorEvent } from './supervisor.ts';

/**
 * The manager: the supervisor actor that owns every collector as a child, and the runtime around
 * it (streams, feeds, sockets, status). The machines decide; this file wires them to the world.
 */

/** The snapshot shapes the status reads; XState types children loosely. */
interface CollectorSnapshot {
  readonly value: unknown;
  readonly context: CollectorContext;
  readonly children: Readonly<Record<string, AnyActorRef | undefined>>;
}
interface ConnectionSnapshot {
  readonly value: unknown;
  readonly context: ConnectionContext;
}

/** One word per connection state, for people and status. */
function connectionState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return 'unknown';
  const live = (value as { live?: unknown }).live;
  if (typeof live === 'string') return live;
  if (typeof live === 'object' && live !== null && 'open' in live) {
    const open = (live as { open: { subscription?: unknown } }).open;
    const sub = open.subscription;
    return typeof sub === 'string' ? sub : 'subscribed';
  }
  return 'unknown';
}

function heartbeatState(value: unknown): string | undefined {
  const open = (value as { live?: { open?: { heartbeat?: unknown } } } | null)?.live?.open;
  return typeof open?.heartbeat === 'string' ? open.heartbeat : undefined;
}

/** The collector's state in one word: its own lifecycle, refined by its connections'. */
function collectorState(lifecycle: string, connections: readonly ConnectionStatus[]): string {
  if (lifecycle !== 'running') return lifecycle;
  const states = connections.map((c) => c.state);
  if (states.length === 0) return 'connecting';
  if (states.includes('error')) return 'error';
  if (states.includes('reconnecting')) return 'reconnecting';
  if (states.every((s) => s === 'subscribed' || s === 'stopped' || s === 'closing')) {
    return 'subscribed';
  }
  if (states.includes('subscribing')) return 'subscribing';
  return 'connecting';
}

const DEFAULT_BOOK_DEPTH = 25;

export function createCollectorManager(options: ManagerOptions = {}): CollectorManager {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const random = options.random ?? Math.random;
  const logger = options.logger ?? pino({ level: 'silent' });
  const startedAt = now();

  const data = new Subject<MarketEvent>();
  const telemetry = new Subject<TelemetryEvent>();
  const reporter = new TelemetryReporter(telemetry, logger, now);
  const feeds = new Map<string, CollectorFeed>();
  const sockets = new SocketTracker();
  const pacer = ConnectionPacer.for(clock);
  const processMonitor = new ProcessMonitor();
  /** Last snapshots of collectors whose actor the supervisor stopped (failed, in backoff). */
  const retained = new Map<string, CollectorSnapshot>();
  let guarded = false;

  const emitData = (event: MarketEvent) => data.next(event);
  const bookChanges = new Subject<{ collectorId: string; channel: string; sync: BookSync }>();

  const socket = createSocketLogic({ clock, sockets, sinkFor: (id) => feeds.get(id) });
  const connection = createConnectionMachine({
    socket,
    now,
    random,
    reserveConnectSlot: (exchange, perSecond) => pacer.tryStart(exchange, perSecond, now()),
    judgeSilence: (collectorId, since, thresholds) =>
      feeds.get(collectorId)?.judgeSilence(since, thresholds) ?? {
        stalled: undefined,
        silentMs: 0,
        nextCheckMs: 60_000,
      },
    reportState: (context, state, reason) =>
      reporter.state({
        machine: 'connection',
        collectorId: context.collectorId,
        connectionId: context.connectionId,
        to: state,
        reason,
      }),
    reportFault: (context, code, message) => {
      const fault = {
        code,
        detail: message,
        sample: undefined,
        connectionId: context.connectionId,
      };
      feeds.get(context.collectorId)?.recordFault(fault);
    },
    reportReconnect: (context) => {
      const feed = feeds.get(context.collectorId);
      if (feed !== undefined) feed.stats.reconnects++;
      reporter.reconnect({
        collectorId: context.collectorId,
        connectionId: context.connectionId,
        attempt: context.attempt,
        delayMs: context.backoffMs,
        reason: context.lastReason ?? 'unknown',
      });
    },
  });
  const collector = createCollectorMachine({
    connection,
    adapterFor: getExchange,
    now,
    random,
    markDisconnected: (id) => feeds.get(id)?.markDisconnected(),
    connectionGone: (id, connectionId) => feeds.get(id)?.connectionGone(connectionId),
    rest: createRestLogic(),
    backfillStep: (id, job, reply): BackfillStep => {
      const feed = feeds.get(id);
      if (feed === undefined) return { kind: 'done' };
      if (job.startsWith('trade:')) return feed.backfillStep(job.slice('trade:'.length), reply);
      // `book:CHANNEL:SYMBOL`; OKX channel names have no colon.
      const [, channel = '', symbol = ''] = /^book:([^:]*):(.*)$/.exec(job) ?? [];
      return feed.bookSnapshotStep(channel, symbol, reply);
    },
    abortBackfills: (id) => feeds.get(id)?.abortBackfills(),
    reportState: (context, state, reason) =>
      reporter.state({
        machine: 'collector',
        collectorId: context.collectorId,
        connectionId: undefined,
        to: state,
        reason,
      }),
    reportSubscription: (event) => reporter.subscription(event),
    reportFault: (context, code, message, connectionId) => {
      const feed = feeds.get(context.collectorId);
      const fault = { code, detail: message, sample: undefined, connectionId };
      if (feed !== undefined) feed.recordFault(fault);
      else
        reporter.fault({
          code,
          collectorId: context.collectorId,
          connectionId,
          message,
          sample: undefined,
        });
    },
  });
  const machine = createSupervisorMachine({
    collector,
    now,
    random,
    eventsOf: (id) => feeds.get(id)?.stats.events ?? 0,
    onRemoved: (id) => {
      feeds.delete(id);
      retained.delete(id);
      reporter.forget(id);
    },
    retain: (id) => {
      const snapshot = childSnapshot(id);
      if (snapshot !== undefined) retained.set(id, snapshot);
    },
    reportState: (id, status, reason) =>
      reporter.state({
        machine: 'supervisor',
        collectorId: id,
        connectionId: undefined,
        to: status,
        reason,
      }),
    reportRestart: (id, delayMs, reason) => reporter.restart({ collectorId: id, delayMs, reason }),
  });
  const actor = createActor(machine, {
    clock,
    input: { policy: parseSupervision(options.supervisor) },
    ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
  });
  actor.start();

  function addCollector(input: CollectorConfigInput): string {
    const config = validate(input);
    const id = config.id ?? freeId(config.exchange);
    if (actor.getSnapshot().context.entries[id] !== undefined) {
      throw new ConfigError(`a collector with id "${id}" already exists`, [
        { field: 'id', received: id, expected: 'an id not used by another collector' },
      ]);
    }
    const adapter = getExchange(config.exchange);
    feeds.set(
      id,
      new CollectorFeed({
        collectorId: id,
        adapter,
        clock,
        wanted: wantedEvents(config),
        channels: subscribedChannels(adapter, config),
        bookSubscription: (channel, symbol) =>
          childSnapshot(id)?.context.subscriptions[`${channel}:${symbol}`]?.state,
        staleBookMs: config.timers.silenceMs.orderbook,
        ...backfillTarget(adapter, config),
        ...bookSnapshotTarget(adapter, config),
        emit: emitData,
        bookChanged: (sync, channel) => bookChanges.next({ collectorId: id, channel, sync }),
        fault: (fault) =>
          reporter.fault({
            code: fault.code,
            collectorId: id,
            connectionId: fault.connectionId,
            message: fault.detail,
            sample: fault.sample,
          }),
      }),
    );
    actor.send({ type: 'SUPERVISOR.ADD', id, config });
    return id;
  }

  /** `<exchange>-<n>` with the first n no collector of this manager uses. */
  function freeId(exchange: string): string {
    const taken = actor.getSnapshot().context.entries;
    let n = 1;
    while (taken[`${exchange}-${n}`] !== undefined) n++;
    return `${exchange}-${n}`;
  }

  function childSnapshot(id: string): CollectorSnapshot | undefined {
    const ref = actor.getSnapshot().children[id] as AnyActorRef | undefined;
    return ref?.getSnapshot() as CollectorSnapshot | undefined;
  }

  function collectorStatus(id: string): CollectorStatus | undefined {
    const entry: ChildEntry | undefined = actor.getSnapshot().context.entries[id];
    const live = entry?.alive === true ? childSnapshot(id) : undefined;
    const snapshot = live ?? retained.get(id);
    const feed = feeds.get(id);
    if (entry === undefined || feed === undefined) return undefined;
    // An actor that failed while being created has no context to read.
    if (snapshot?.context === undefined) return unreadableStatus(id, entry, feed);
    const context = snapshot.context;
    const connections: ConnectionStatus[] = [];
    for (const connectionId of Object.keys(context.connections)) {
      const child = snapshot.children[connectionId]?.getSnapshot() as
        | ConnectionSnapshot
        | undefined;
      if (child === undefined) continue;
      connections.push({
        id: connectionId,
        group: child.context.group,
        state: connectionState(child.value),
        heartbeat: heartbeatState(child.value),
        attempt: child.context.attempt,
        lastReason: child.context.lastReason,
        openedAt: child.context.openedAt,
      });
    }
    const lifecycle = lifecycleOf(entry, snapshot);
    // During a 64008 handover the replacement is not yet the connection serving data.
    const primaries = new Set(Object.values(context.primary));
    const serving = connections.filter((c) => primaries.has(c.id));
    const state = !entry.enabled
      ? 'disabled'
      : lifecycle === 'running'
        ? collectorState(lifecycle, serving)
        : lifecycle;
    const subscriptions: SubscriptionStatus[] = Object.values(context.subscriptions).map((s) => ({
      dataType: s.dataType,
      symbol: s.symbol,
      channel: s.channel,
      state: s.state,
      code: s.code,
      message: s.message,
    }));
    const stats = feed.stats;
    const lastChanges = [
      reporter.since('supervisor', id),
      reporter.since('collector', id),
      ...connections.map((c) => reporter.since('connection', id, c.id)),
    ];
    return {
      id,
      exchange: context.config.exchange,
      symbols: symbolsOf(context.config),
      dataTypes: context.config.dataTypes,
      enabled: entry.enabled,
      lifecycle,
      state,
      since: Math.max(startedAt, ...lastChanges.filter((t): t is number => t !== undefined)),
      connections,
      subscriptions,
      books: booksOf(feed, context),
      // Every attempt counts, refused upgrades included; the collector's own count (drops of an
      // open connection) drives the health monitor.
      reconnects: stats.reconnects,
      restarts: entry.restarts,
      lastRestartReason: entry.lastRestartReason,
      nextRestartAt: entry.nextRestartAt,
      lastError: entry.lastError ?? context.lastError,
      ...countersOf(stats),
      silenceMs: context.config.timers.silenceMs,
    };
  }

  function unreadableStatus(id: string, entry: ChildEntry, feed: CollectorFeed): CollectorStatus {
    const config = entry.config;
    const stats = feed.stats;
    return {
      id,
      exchange: config.exchange,
      symbols: symbolsOf(config),
      dataTypes: config.dataTypes,
      enabled: entry.enabled,
      lifecycle: entry.enabled ? entry.status : 'disabled',
      state: entry.enabled ? entry.status : 'disabled',
      since: reporter.since('supervisor', id) ?? startedAt,
      connections: [],
      subscriptions: [],
      books: [],
      reconnects: stats.reconnects,
      restarts: entry.restarts,
      lastRestartReason: entry.lastRestartReason,
      nextRestartAt: entry.nextRestartAt,
      lastError: entry.lastError,
      ...countersOf(stats),
      silenceMs: config.timers.silenceMs,
    };
  }

  function healthOf(status: CollectorStatus): HealthStatus {
    const reasons: string[] = [];
    if (!status.enabled) reasons.push('disabled');
    else if (status.state !== 'subscribed') reasons.push(`state is ${status.state}`);
    for (const state of ['failed', 'quarantined', 'retrying'] as const) {
      const count = status.subscriptions.filter((s) => s.state === state).length;
      if (count > 0)
        reasons.push(`${count} of ${status.subscriptions.length} subscriptions ${state}`);
    }
    return { healthy: reasons.length === 0, reasons };
  }

  function handle(id: string): CollectorHandle | undefined {
    if (collectorStatus(id) === undefined) return undefined;
    return {
      id,
      getStatus: () => collectorStatus(id) ?? gone(id),
      getHealthStatus: () => {
        const status = collectorStatus(id);
        return status === undefined ? { healthy: false, reasons: ['removed'] } : healthOf(status);
      },
    };
  }

  function bookView(collectorId: string, channel: string, sync: BookSync, depth: number): BookView {
    const top = sync.book.top(depth);
    return {
      exchange: feeds.get(collectorId)?.exchange ?? '',
      collectorId,
      ...bookStatus(channel, sync, childSnapshot(collectorId)?.context),
      bestBid: sync.book.bestBid(),
      bestAsk: sync.book.bestAsk(),
      bids: top.bids,
      asks: top.asks,
    };
  }

  function matches(
    collectorId: string,
    channel: string,
    sync: BookSync,
    symbol: string,
    query: BookQuery,
  ): boolean {
    return (
      sync.symbol === symbol &&
      (query.collectorId === undefined || query.collectorId === collectorId) &&
      (query.channel === undefined || query.channel === channel)
    );
  }

  function getBook(symbol: string, query: BookQuery = {}): BookView | undefined {
    const depth = depthOf(query, 'getBook');
    for (const [collectorId, feed] of feeds) {
      for (const [key, sync] of feed.allBooks()) {
        const channel = channelOf(key);
        if (matches(collectorId, channel, sync, symbol, query)) {
          return bookView(collectorId, channel, sync, depth);
        }
      }
    }
    return undefined;
  }

  function book$(symbol: string, query: BookQuery = {}): Observable<BookView> {
    // Checked here, not per change: a bad depth is the caller's mistake, not the stream's error.
    const depth = depthOf(query, 'book$');
    return bookChanges.pipe(
      filter((c) => matches(c.collectorId, c.channel, c.sync, symbol, query)),
      map((c) => bookView(c.collectorId, c.channel, c.sync, depth)),
    );
  }

  function command(event: Extract<SupervisorEvent, { id: string }>): boolean {
    if (
      typeof event.id !== 'string' ||
      actor.getSnapshot().context.entries[event.id] === undefined
    ) {
      return false;
    }
    actor.send(event);
    return true;
  }

  function ids(): string[] {
    return Object.keys(actor.getSnapshot().context.entries);
  }

  const manager: CollectorManager = {
    data$: data.asObservable(),
    telemetry$: telemetry.asObservable(),
    actor,
    startAll() {
      processMonitor.start();
      if (!guarded) {
        guarded = true;
        guardSubscribers((error) =>
          reporter.fault({
            code: 'subscriber-threw',
            collectorId: undefined,
            connectionId: undefined,
            message: error instanceof Error ? error.message : String(error),
            sample: undefined,
          }),
        );
      }
      actor.send({ type: 'SUPERVISOR.START_ALL' });
    },
    async stopAll() {
      actor.send({ type: 'SUPERVISOR.STOP_ALL' });
      await sockets.whenIdle();
      processMonitor.stop();
      // The subscriber guard stays: RxJS reports a subscriber's throw on a timer, possibly after
      // this promise resolved, and without the guard that report would end the process.
    },
    addCollector,
    removeCollector: (id) => command({ type: 'SUPERVISOR.REMOVE', id }),
    enableCollector: (id) => command({ type: 'SUPERVISOR.ENABLE', id }),
    disableCollector: (id) => command({ type: 'SUPERVISOR.DISABLE', id }),
    restartCollector: (id) => command({ type: 'SUPERVISOR.RESTART', id }),
    restartAll: () => actor.send({ type: 'SUPERVISOR.RESTART_ALL' }),
    listCollectors(): CollectorSummary[] {
      return ids().flatMap((id) => {
        const status = collectorStatus(id);
        if (status === undefined) return [];
        const { exchange, symbols, enabled, state } = status;
        return [{ id, exchange, symbols, enabled, state }];
      });
    },
    getStatus(): ManagerStatus {
      const collectors = ids().flatMap((id) => collectorStatus(id) ?? []);
      const countsByState: Record<string, number> = {};
      for (const c of collectors) countsByState[c.state] = (countsByState[c.state] ?? 0) + 1;
      const failed = collectors.filter((c) => c.lifecycle === 'failed').map((c) => c.id);
      return {
        startedAt,
        uptimeMs: now() - startedAt,
        collectors,
        countsByState,
        failed,
        faultsByCode: reporter.faultsByCode(),
        process: processMonitor.sample(),
      };
    },
    getCollector: handle,
    getBook,
    book$,
    health() {
      const context = actor.getSnapshot().context;
      return {
        lastTickAt: context.lastTickAt,
        intervalMs: context.policy.health.intervalMs,
        now: now(),
      };
    },
  };

  for (const config of options.collectors ?? []) addCollector(config);
  return manager;
}

const EVENT_TYPES_OF: Readonly<Record<DataType, readonly string[]>> = {
  trade: ['trade'],
  ticker: ['ticker'],
  orderbook: ['book_change'],
  candle: ['candle'],
};

/** Where a collector's feed fetches missed trades, when its exchange can serve them. */
function backfillTarget(
  adapter: ExchangeAdapter,
  config: CollectorConfig,
): { backfill?: { base: string; headers: Readonly<Record<string, string>> } } {
  const support = adapter.tradeBackfill;
  if (support === undefined || !config.backfill || !config.dataTypes.includes('trade')) return {};
  const endpoint = config.endpoint ?? adapter.defaultEndpoint;
  return { backfill: { base: support.restBase(endpoint), headers: support.restHeaders(endpoint) } };
}

/** Where a collector's feed fetches book snapshots, when its exchange serves them. */
function bookSnapshotTarget(
  adapter: ExchangeAdapter,
  config: CollectorConfig,
): {
  bookSnapshot?: { mode: 'auto' | 'rest'; base: string; headers: Readonly<Record<string, string>> };
} {
  const rest = adapter.tradeBackfill;
  if (adapter.bookSnapshot === undefined || rest === undefined) return {};
  if (!config.dataTypes.includes('orderbook')) return {};
  const endpoint = config.endpoint ?? adapter.defaultEndpoint;
  return {
    bookSnapshot: {
      mode: config.bookSnapshot,
      base: rest.restBase(endpoint),
      headers: rest.restHeaders(endpoint),
    },
  };
}

/** The exchange channels a collector subscribes: the same for each of its symbols. */
function subscribedChannels(adapter: ExchangeAdapter, config: CollectorConfig): Set<string> {
  const symbol = symbolsOf(config)[0] ?? '';
  const options = channelOptions(config);
  return new Set(config.dataTypes.map((type) => adapter.channelFor(type, symbol, options).channel));
}

/** The event types a collector's feed may emit, per symbol. */
function wantedEvents(config: CollectorConfig): Map<string, Set<string>> {
  const types = new Set(config.dataTypes.flatMap((t) => EVENT_TYPES_OF[t]));
  return new Map(symbolsOf(config).map((symbol) => [symbol, types]));
}

/** The feed's books as status shows them: one object each, no levels copied. */
function booksOf(feed: CollectorFeed, context: CollectorContext): BookStatus[] {
  const books: BookStatus[] = [];
  for (const [key, sync] of feed.allBooks()) books.push(bookStatus(channelOf(key), sync, context));
  return books;
}

function bookStatus(
  channel: string,
  sync: BookSync,
  context: CollectorContext | undefined,
): BookStatus {
  // The book keeps no record of quarantine or resyncs: they are its subscription's.
  const sub = context?.subscriptions[`${channel}:${sync.symbol}`];
  return {
    channel,
    symbol: sync.symbol,
    state: sub?.state === 'quarantined' ? 'quarantined' : sync.state,
    sequence: sync.seqId,
    resyncs: sub?.resyncs ?? 0,
    lastFault: sync.lastBreak,
    updatedAt: sync.updatedAt,
  };
}

/** The channel of a feed's book key, `channel:symbol`; OKX channel names have no colon. */
function channelOf(key: string): string {
  return key.slice(0, key.indexOf(':'));
}

/** A query's levels per side: a positive integer, or the default when absent. */
function depthOf(query: BookQuery, method: string): number {
  const depth: unknown = query.depth;
  if (depth === undefined) return DEFAULT_BOOK_DEPTH;
  const received = typeof depth === 'string' ? JSON.stringify(depth) : String(depth);
  const problem = `${method}: depth must be a positive integer (levels per side); received`;
  if (typeof depth !== 'number') throw new TypeError(`${problem} ${typeof depth} ${received}`);
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`${problem} ${received}`);
  return depth;
}

/** A feed's counters, as the status shows them (copies: the feed keeps counting). */
function countersOf(stats: FeedStats) {
  return {
    messages: stats.messages,
    bytes: stats.bytes,
    events: stats.events,
    faults: stats.faults,
    faultsByCode: { ...stats.faultsByCode },
    duplicatesDropped: stats.duplicatesDropped,
    lastMessageAt: { ...stats.lastMessageAt } as Partial<Record<DataType, number>>,
  };
}

/** The collector's lifecycle: the supervisor's view first, then the collector machine's own. */
function lifecycleOf(entry: ChildEntry, snapshot: CollectorSnapshot): CollectorStatus['lifecycle'] {
  if (!entry.enabled) return 'disabled';
  switch (entry.status) {
    case 'failed':
    case 'backoff':
    case 'idle':
    case 'stopped':
      return entry.status;
    case 'running':
      if (snapshot.value === 'error') return 'error';
      return snapshot.value === 'stopped' ? 'stopped' : 'running';
  }
}

/** The schema's checks, then the exchange's; the fields name the config's own keys. */
function validate(input: CollectorConfigInput): CollectorConfig {
  let config: CollectorConfig;
  try {
    config = parseCollectorConfig(input);
  } catch (error) {
    // Everything wrong at once, as `config validate` reports it: what the exchange would refuse
    // among the fields that did parse, beside what the schema refused.
    if (!(error instanceof ConfigError) || error.code !== 'config-invalid') throw error;
    const more = checkAsFarAsParsed(input);
    throw more.length === 0 ? error : configError([...error.issues, ...more]);
  }
  const issues = checkAgainstExchange(config);
  if (issues.length > 0) throw configError(issues);
  return config;
}

function gone(id: string): never {
  throw new Error(`collector "${id}" was removed`);
}
