import pino from 'pino';
import { Subject } from 'rxjs';
import { type AnyActorRef, assign, createActor, enqueueActions, setup } from 'xstate';
import type {
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
import type { CollectorConfig, CollectorConfigInput } from '../config/schema.ts';
import { ConfigError, parseCollectorConfig, symbolsOf } from '../config/schema.ts';
import { getExchange, hasExchange, supportedExchanges } from '../exchanges/registry.ts';
import type { DataType, MarketEvent } from '../streams/events.ts';
import { CollectorFeed } from '../streams/feed.ts';
import { guardSubscribers } from '../streams/guard.ts';
import { TelemetryReporter } from '../streams/reporter.ts';
import type { TelemetryEvent } from '../streams/telemetry.ts';
import { ConnectionPacer } from './backoff.ts';
import { systemClock } from './clock.ts';
import {
  type CollectorCommand,
  type CollectorContext,
  type CollectorMachine,
  createCollectorMachine,
} from './collector.ts';
import { type ConnectionContext, createConnectionMachine } from './connection.ts';
import { createSocketLogic, SocketTracker } from './socket.ts';

/**
 * The manager: a supervisor actor that owns every collector as a child, and the runtime around it
 * (streams, feeds, sockets). Restart policies and the health monitor are the supervisor issue's;
 * here the supervisor adds, removes, enables, disables, starts, stops and restarts on request.
 */

interface Entry {
  readonly config: CollectorConfig;
  readonly enabled: boolean;
  readonly restarts: number;
}

interface ManagerContext {
  readonly entries: Readonly<Record<string, Entry>>;
  readonly running: boolean;
}

type ManagerEvent =
  | { readonly type: 'MANAGER.ADD'; readonly id: string; readonly config: CollectorConfig }
  | { readonly type: 'MANAGER.REMOVE'; readonly id: string }
  | { readonly type: 'MANAGER.ENABLE'; readonly id: string }
  | { readonly type: 'MANAGER.DISABLE'; readonly id: string }
  | { readonly type: 'MANAGER.RESTART'; readonly id: string }
  | { readonly type: 'MANAGER.RESTART_ALL' }
  | { readonly type: 'MANAGER.START_ALL' }
  | { readonly type: 'MANAGER.STOP_ALL' };

interface ManagerDeps {
  readonly collector: CollectorMachine;
  readonly onRemoved: (id: string) => void;
}

const START: CollectorCommand = { type: 'COLLECTOR.START' };
const STOP: CollectorCommand = { type: 'COLLECTOR.STOP' };

function createManagerMachine(deps: ManagerDeps) {
  return setup({
    types: { context: {} as ManagerContext, events: {} as ManagerEvent },
    actors: { collector: deps.collector },
    actions: {
      addCollector: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'MANAGER.ADD' || context.entries[event.id] !== undefined) return;
        enqueue.assign({
          entries: {
            ...context.entries,
            [event.id]: { config: event.config, enabled: event.config.enabled, restarts: 0 },
          },
        });
        enqueue.spawnChild('collector', {
          id: event.id,
          input: { collectorId: event.id, config: event.config },
        });
        if (context.running && event.config.enabled) enqueue.sendTo(event.id, START);
      }),
      removeCollector: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'MANAGER.REMOVE' || context.entries[event.id] === undefined) return;
        const { [event.id]: _removed, ...entries } = context.entries;
        enqueue.stopChild(event.id);
        enqueue.assign({ entries });
        enqueue(() => deps.onRemoved(event.id));
      }),
      setEnabled: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'MANAGER.ENABLE' && event.type !== 'MANAGER.DISABLE') return;
        const entry = context.entries[event.id];
        const enabled = event.type === 'MANAGER.ENABLE';
        if (entry === undefined || entry.enabled === enabled) return;
        enqueue.assign({ entries: { ...context.entries, [event.id]: { ...entry, enabled } } });
        if (!enabled) enqueue.sendTo(event.id, STOP);
        else if (context.running) enqueue.sendTo(event.id, START);
      }),
      restartCollectors: enqueueActions(({ context, event, enqueue }) => {
        const ids =
          event.type === 'MANAGER.RESTART'
            ? [event.id].filter((id) => context.entries[id] !== undefined)
            : Object.keys(context.entries);
        const entries = { ...context.entries };
        for (const id of ids) {
          const entry = entries[id] as Entry;
          // Stop before re-spawning the same id: spawning over a live child orphans it.
          enqueue.stopChild(id);
          enqueue.spawnChild('collector', {
            id,
            input: { collectorId: id, config: entry.config },
          });
          entries[id] = { ...entry, restarts: entry.restarts + 1 };
          if (context.running && entry.enabled) enqueue.sendTo(id, START);
        }
        enqueue.assign({ entries });
      }),
      startCollectors: enqueueActions(({ context, enqueue }) => {
        for (const [id, entry] of Object.entries(context.entries)) {
          if (entry.enabled) enqueue.sendTo(id, START);
        }
      }),
      stopCollectors: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.keys(context.entries)) enqueue.sendTo(id, STOP);
      }),
      markRunning: assign({ running: true }),
      markStopped: assign({ running: false }),
    },
  }).createMachine({
    id: 'manager',
    context: { entries: {}, running: false },
    initial: 'idle',
    on: {
      'MANAGER.ADD': { actions: 'addCollector' },
      'MANAGER.REMOVE': { actions: 'removeCollector' },
      'MANAGER.ENABLE': { actions: 'setEnabled' },
      'MANAGER.DISABLE': { actions: 'setEnabled' },
      'MANAGER.RESTART': { actions: 'restartCollectors' },
      'MANAGER.RESTART_ALL': { actions: 'restartCollectors' },
    },
    states: {
      idle: {
        on: { 'MANAGER.START_ALL': 'running' },
      },
      running: {
        entry: ['markRunning', 'startCollectors'],
        on: { 'MANAGER.STOP_ALL': 'stopped' },
      },
      stopped: {
        entry: ['markStopped', 'stopCollectors'],
        on: { 'MANAGER.START_ALL': 'running' },
      },
    },
  });
}

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

let nextAnonymousId = 1;

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
  const pacer = new ConnectionPacer();
  let releaseGuard: (() => void) | undefined;

  const emitData = (event: MarketEvent) => data.next(event);

  const socket = createSocketLogic({ clock, sockets, sinkFor: (id) => feeds.get(id) });
  const connection = createConnectionMachine({
    socket,
    now,
    random,
    reserveConnectSlot: (exchange, perSecond) => pacer.reserve(exchange, perSecond, now()),
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
    reportReconnect: (context) =>
      reporter.reconnect({
        collectorId: context.collectorId,
        connectionId: context.connectionId,
        attempt: context.attempt,
        delayMs: context.backoffMs,
        reason: context.lastReason ?? 'unknown',
      }),
  });
  const collector = createCollectorMachine({
    connection,
    adapterFor: getExchange,
    now,
    random,
    markDisconnected: (id) => feeds.get(id)?.markDisconnected(),
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
  const machine = createManagerMachine({
    collector,
    onRemoved: (id) => {
      feeds.delete(id);
      reporter.forget(id);
    },
  });
  const actor = createActor(machine, {
    clock,
    ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
  });
  actor.start();

  function addCollector(input: CollectorConfigInput): string {
    const config = validate(input);
    const id = config.id ?? `${config.exchange}-${nextAnonymousId++}`;
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
        emit: emitData,
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
    actor.send({ type: 'MANAGER.ADD', id, config });
    return id;
  }

  function childSnapshot(id: string): CollectorSnapshot | undefined {
    const ref = actor.getSnapshot().children[id] as AnyActorRef | undefined;
    return ref?.getSnapshot() as CollectorSnapshot | undefined;
  }

  function collectorStatus(id: string): CollectorStatus | undefined {
    const entry = actor.getSnapshot().context.entries[id];
    const snapshot = childSnapshot(id);
    const feed = feeds.get(id);
    if (entry === undefined || snapshot === undefined || feed === undefined) return undefined;
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
    const lifecycle = typeof snapshot.value === 'string' ? snapshot.value : 'running';
    const state = entry.enabled ? collectorState(lifecycle, connections) : 'disabled';
    const subscriptions: SubscriptionStatus[] = Object.values(context.subscriptions).map((s) => ({
      dataType: s.dataType,
      symbol: s.symbol,
      channel: s.channel,
      state: s.state,
      code: s.code,
      message: s.message,
    }));
    const stats = feed.stats;
    const lastChanges = [reporter.since(id), ...connections.map((c) => reporter.since(id, c.id))];
    return {
      id,
      exchange: context.config.exchange,
      symbols: symbolsOf(context.config),
      dataTypes: context.config.dataTypes,
      enabled: entry.enabled,
      lifecycle: entry.enabled ? (lifecycle as CollectorStatus['lifecycle']) : 'disabled',
      state,
      since: Math.max(startedAt, ...lastChanges.filter((t): t is number => t !== undefined)),
      connections,
      subscriptions,
      reconnects: context.reconnects,
      restarts: entry.restarts,
      lastError: context.lastError,
      messages: stats.messages,
      events: stats.events,
      faults: stats.faults,
      faultsByCode: { ...stats.faultsByCode },
      duplicatesDropped: stats.duplicatesDropped,
      lastMessageAt: { ...stats.lastMessageAt } as Partial<Record<DataType, number>>,
    };
  }

  function healthOf(status: CollectorStatus): HealthStatus {
    const reasons: string[] = [];
    if (!status.enabled) reasons.push('disabled');
    else if (status.state !== 'subscribed') reasons.push(`state is ${status.state}`);
    const failed = status.subscriptions.filter((s) => s.state === 'failed');
    if (failed.length > 0) {
      reasons.push(`${failed.length} of ${status.subscriptions.length} subscriptions failed`);
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

  function ids(): string[] {
    return Object.keys(actor.getSnapshot().context.entries);
  }

  const manager: CollectorManager = {
    data$: data.asObservable(),
    telemetry$: telemetry.asObservable(),
    actor,
    startAll() {
      releaseGuard ??= guardSubscribers((error) =>
        reporter.fault({
          code: 'subscriber-threw',
          collectorId: undefined,
          connectionId: undefined,
          message: error instanceof Error ? error.message : String(error),
          sample: undefined,
        }),
      );
      actor.send({ type: 'MANAGER.START_ALL' });
    },
    async stopAll() {
      actor.send({ type: 'MANAGER.STOP_ALL' });
      await sockets.whenIdle();
      releaseGuard?.();
      releaseGuard = undefined;
    },
    addCollector,
    removeCollector: (id) => actor.send({ type: 'MANAGER.REMOVE', id }),
    enableCollector: (id) => actor.send({ type: 'MANAGER.ENABLE', id }),
    disableCollector: (id) => actor.send({ type: 'MANAGER.DISABLE', id }),
    restartCollector: (id) => actor.send({ type: 'MANAGER.RESTART', id }),
    restartAll: () => actor.send({ type: 'MANAGER.RESTART_ALL' }),
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
      return { startedAt, uptimeMs: now() - startedAt, collectors, countsByState };
    },
    getCollector: handle,
  };

  for (const config of options.collectors ?? []) addCollector(config);
  return manager;
}

function validate(input: CollectorConfigInput): CollectorConfig {
  const config = parseCollectorConfig(input);
  if (!hasExchange(config.exchange)) {
    const expected = `one of the supported exchanges: ${supportedExchanges().join(', ')}`;
    throw new ConfigError(
      `invalid configuration\n  exchange: got ${JSON.stringify(config.exchange)}, expected ${expected}`,
      [{ field: 'exchange', received: config.exchange, expected }],
    );
  }
  const adapter = getExchange(config.exchange);
  const issues = symbolsOf(config).flatMap((symbol, i) => {
    const problem = adapter.validateSymbol(symbol);
    return problem === undefined
      ? []
      : [{ field: `symbols.${i}`, received: symbol, expected: problem }];
  });
  const unsupported = config.dataTypes.filter((t) => !adapter.dataTypes.includes(t));
  for (const dataType of unsupported) {
    issues.push({
      field: 'dataTypes',
      received: dataType,
      expected: `one of ${adapter.dataTypes.join(', ')} for ${adapter.id}`,
    });
  }
  if (issues.length > 0) {
    const lines = issues.map(
      (i) => `${i.field}: got ${JSON.stringify(i.received)}, expected ${i.expected}`,
    );
    throw new ConfigError(`invalid configuration\n  ${lines.join('\n  ')}`, issues);
  }
  return config;
}

function gone(id: string): never {
  throw new Error(`collector "${id}" was removed`);
}
