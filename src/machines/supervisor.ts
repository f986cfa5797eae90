import { enqueueActions, setup } from 'xstate';
import type { CollectorConfig, SupervisionConfig } from '../config/schema.ts';
import type { CollectorCommand, CollectorMachine } from './collector.ts';
import { apply, asEnqueuer, type Effect, later } from './effects.ts';
import {
  effectivePolicy,
  intensityExceeded,
  recentRestarts,
  restartDelayMs,
  restartSet,
} from './restart-policy.ts';

/**
 * The supervisor statechart: it owns every collector as a child actor and keeps them alive.
 *
 *   idle ──START_ALL──▶ running (health tick every `health.intervalMs`) ──STOP_ALL──▶ stopped
 *
 * A collector crashes when its actor fails (an exception: `xstate.error.actor.<id>`), when it
 * reaches its `error` state (a connection refused for good), or when the health monitor finds it
 * stuck, with every subscription failed, or reconnecting without ever delivering data. The policy
 * then decides: a restart after a backoff, of the set the strategy names, or `failed` once the
 * restart intensity is passed (or at once with `autoRestart: false`). A failed collector stays in
 * the status with its last error until someone calls `restartCollector`.
 *
 * Reconnects are the connection healing itself and are counted by the collector; restarts are the
 * supervisor replacing the collector's actor and are counted here.
 */

export type ChildStatus = 'idle' | 'running' | 'backoff' | 'failed' | 'stopped';

export interface ChildEntry {
  readonly config: CollectorConfig;
  readonly enabled: boolean;
  readonly status: ChildStatus;
  /** Whether a child actor exists for it; never send to one that does not (XState throws). */
  readonly alive: boolean;
  readonly restarts: number;
  /** Times of the restarts that count against the intensity (crashes of this collector). */
  readonly restartTimes: readonly number[];
  /** Restart backoff attempt since the collector was last stable. */
  readonly attempt: number;
  /** Why the next restart is due: a crash of its own, or one of a sibling under the strategy. */
  readonly pendingCause: 'crash' | 'sibling' | undefined;
  readonly nextRestartAt: number | undefined;
  readonly lastCrashAt: number | undefined;
  readonly lastRestartAt: number | undefined;
  readonly lastRestartReason: string | undefined;
  readonly lastError: string | undefined;
  /** Health monitor bookkeeping. */
  readonly lastReportAt: number | undefined;
  /** When the oldest unanswered health probe was sent. */
  readonly probedAt: number | undefined;
  readonly allFailedSince: number | undefined;
  readonly messagesSeen: number;
  readonly reconnectsAtData: number;
}

export interface SupervisorContext {
  readonly policy: SupervisionConfig;
  readonly entries: Readonly<Record<string, ChildEntry>>;
  /** Ids in the order they were added: rest-for-one restarts the ones after the crashed one. */
  readonly order: readonly string[];
  readonly running: boolean;
  /** When the health tick last ran (the supervisor's own liveness), epoch ms. */
  readonly lastTickAt: number | undefined;
}

export interface SupervisorInput {
  readonly policy: SupervisionConfig;
}

/** What a collector answers to a health probe. */
export interface CollectorReport {
  readonly type: 'COLLECTOR.ALIVE';
  readonly collectorId: string;
  readonly reconnects: number;
  readonly allFailed: boolean;
}

export type SupervisorEvent =
  | { readonly type: 'SUPERVISOR.ADD'; readonly id: string; readonly config: CollectorConfig }
  | { readonly type: 'SUPERVISOR.REMOVE'; readonly id: string }
  | { readonly type: 'SUPERVISOR.ENABLE'; readonly id: string }
  | { readonly type: 'SUPERVISOR.DISABLE'; readonly id: string }
  | { readonly type: 'SUPERVISOR.RESTART'; readonly id: string }
  | { readonly type: 'SUPERVISOR.RESTART_ALL' }
  | { readonly type: 'SUPERVISOR.START_ALL' }
  | { readonly type: 'SUPERVISOR.STOP_ALL' }
  | { readonly type: 'SUPERVISOR.RESTART_DUE'; readonly id: string }
  | {
      readonly type: 'COLLECTOR.CRASHED';
      readonly collectorId: string;
      readonly reason: string;
      /** A cause no restart can fix (the exchange refuses this client for good). */
      readonly permanent: boolean;
    }
  | CollectorReport
  | {
      readonly type: `xstate.error.actor.${string}`;
      readonly actorId: string;
      readonly error: unknown;
    };

export interface SupervisorDeps {
  readonly collector: CollectorMachine;
  readonly now: () => number;
  readonly random: () => number;
  /** Market events delivered so far by a collector's feed (the health monitor's proof of data). */
  readonly eventsOf: (id: string) => number;
  readonly onRemoved: (id: string) => void;
  /** Keeps a collector's last snapshot for the status before its actor is stopped. */
  readonly retain: (id: string) => void;
  readonly reportState: (id: string, status: string, reason: string | undefined) => void;
  readonly reportRestart: (id: string, delayMs: number, reason: string) => void;
}

const START: CollectorCommand = { type: 'COLLECTOR.START' };
const STOP: CollectorCommand = { type: 'COLLECTOR.STOP' };
const PROBE: CollectorCommand = { type: 'COLLECTOR.PROBE' };

function restartTimerId(id: string): string {
  return `restart:${id}`;
}

function newEntry(config: CollectorConfig): ChildEntry {
  return {
    config,
    enabled: config.enabled,
    status: 'idle',
    alive: false,
    restarts: 0,
    restartTimes: [],
    attempt: 0,
    pendingCause: undefined,
    nextRestartAt: undefined,
    lastCrashAt: undefined,
    lastRestartAt: undefined,
    lastRestartReason: undefined,
    lastError: undefined,
    lastReportAt: undefined,
    probedAt: undefined,
    allFailedSince: undefined,
    messagesSeen: 0,
    reconnectsAtData: 0,
  };
}

export function createSupervisorMachine(deps: SupervisorDeps) {
  type Ctx = SupervisorContext;

  function withEntry(context: Ctx, id: string, patch: Partial<ChildEntry>): Ctx {
    const entry = context.entries[id];
    if (entry === undefined) return context;
    return { ...context, entries: { ...context.entries, [id]: { ...entry, ...patch } } };
  }

  function setStatus(
    fx: Effect[],
    context: Ctx,
    id: string,
    status: ChildStatus,
    reason: string | undefined,
    patch: Partial<ChildEntry> = {},
  ): Ctx {
    const before = context.entries[id]?.status;
    const next = withEntry(context, id, { ...patch, status });
    if (before !== status) later(fx, () => deps.reportState(id, status, reason));
    return next;
  }

  /** A fresh actor for the collector, started when the supervisor runs and it is enabled. */
  function spawnFresh(fx: Effect[], context: Ctx, id: string, reason: string | undefined): Ctx {
    const entry = context.entries[id];
    if (entry === undefined) return context;
    // Stop before re-spawning the same id: spawning over a live child orphans the old actor,
    // which keeps its sockets and keeps sending to us.
    fx.push({ kind: 'stop', id });
    fx.push({
      kind: 'spawn',
      src: 'collector',
      id,
      input: { collectorId: id, config: entry.config },
    });
    const start = context.running && entry.enabled;
    if (start) fx.push({ kind: 'send', to: id, event: START });
    return setStatus(fx, context, id, start ? 'running' : 'idle', reason, {
      alive: true,
      lastReportAt: deps.now(),
      probedAt: undefined,
      allFailedSince: undefined,
      reconnectsAtData: 0,
      nextRestartAt: undefined,
      pendingCause: undefined,
    });
  }

  function add(fx: Effect[], context: Ctx, id: string, config: CollectorConfig): Ctx {
    if (context.entries[id] !== undefined) return context;
    const next: Ctx = {
      ...context,
      entries: { ...context.entries, [id]: newEntry(config) },
      order: [...context.order, id],
    };
    return spawnFresh(fx, next, id, 'added');
  }

  function remove(fx: Effect[], context: Ctx, id: string): Ctx {
    if (context.entries[id] === undefined) return context;
    fx.push({ kind: 'cancel', id: restartTimerId(id) });
    fx.push({ kind: 'stop', id });
    later(fx, () => deps.onRemoved(id));
    const { [id]: _removed, ...entries } = context.entries;
    return { ...context, entries, order: context.order.filter((o) => o !== id) };
  }

  function enable(fx: Effect[], context: Ctx, id: string): Ctx {
    const entry = context.entries[id];
    if (entry === undefined || entry.enabled) return context;
    const next = withEntry(context, id, { enabled: true });
    if (!context.running || entry.status === 'failed') return next;
    // Disabled while it waited for a restart: its actor is gone, so it gets a fresh one.
    if (!entry.alive) return spawnFresh(fx, next, id, 'enabled');
    fx.push({ kind: 'send', to: id, event: START });
    return setStatus(fx, next, id, 'running', 'enabled', { lastReportAt: deps.now() });
  }

  function disable(fx: Effect[], context: Ctx, id: string): Ctx {
    const entry = context.entries[id];
    if (entry === undefined || !entry.enabled) return context;
    fx.push({ kind: 'cancel', id: restartTimerId(id) });
    if (entry.alive) fx.push({ kind: 'send', to: id, event: STOP });
    const status = entry.status === 'failed' ? 'failed' : 'stopped';
    return setStatus(fx, withEntry(context, id, { enabled: false }), id, status, 'disabled', {
      nextRestartAt: undefined,
      pendingCause: undefined,
    });
  }

  /** A restart someone asked for: immediate, and it gives a failed collector a fresh start. */
  function restartNow(fx: Effect[], context: Ctx, id: string): Ctx {
    const entry = context.entries[id];
    if (entry === undefined) return context;
    fx.push({ kind: 'cancel', id: restartTimerId(id) });
    const next = withEntry(context, id, {
      restarts: entry.restarts + 1,
      restartTimes: [],
      attempt: 0,
      lastRestartAt: deps.now(),
      lastRestartReason: 'requested',
    });
    later(fx, () => deps.reportRestart(id, 0, 'requested'));
    return spawnFresh(fx, next, id, 'restarted on request');
  }

  /** Stops a collector's actor, keeping its last snapshot for the status. */
  function retire(fx: Effect[], id: string): void {
    later(fx, () => deps.retain(id));
    fx.push({ kind: 'stop', id });
  }

  function giveUp(fx: Effect[], context: Ctx, id: string, reason: string): Ctx {
    fx.push({ kind: 'cancel', id: restartTimerId(id) });
    // The actor goes, so no socket or timer of it survives; its last status stays visible.
    if (context.entries[id]?.alive === true) retire(fx, id);
    return setStatus(fx, context, id, 'failed', reason, {
      alive: false,
      lastError: reason,
      nextRestartAt: undefined,
      pendingCause: undefined,
    });
  }

  /** Applies the policy to a crash of `id`. */
  function crash(fx: Effect[], context: Ctx, id: string, reason: string): Ctx {
    const entry = context.entries[id];
    if (entry === undefined || entry.status !== 'running') return context;
    const now = deps.now();
    let next = withEntry(context, id, { lastCrashAt: now, lastError: reason });
    if (!entry.config.autoRestart) return giveUp(fx, next, id, `${reason} (autoRestart is off)`);
    const policy = effectivePolicy(context.policy, entry.config.restart);
    if (intensityExceeded(entry.restartTimes, now, policy)) {
      const limit = `more than ${policy.maxRestarts} restarts within ${policy.withinMs} ms`;
      return giveUp(fx, next, id, `${reason}; ${limit}`);
    }
    // Stable = it ran `resetAfterMs` since its last restart (or was never restarted).
    const stable =
      entry.lastRestartAt === undefined || now - entry.lastRestartAt >= policy.resetAfterMs;
    const attempt = stable ? 1 : entry.attempt + 1;
    const delayMs = restartDelayMs(attempt, policy.backoff, deps.random);
    const running = next.order.filter((o) => next.entries[o]?.status === 'running');
    for (const member of restartSet(policy.strategy, running, id)) {
      const cause = member === id ? 'crash' : 'sibling';
      const why = member === id ? reason : `${policy.strategy}: ${id} crashed`;
      // The actor goes now, so a crashed collector holds no socket while it waits.
      if (next.entries[member]?.alive === true) retire(fx, member);
      fx.push({
        kind: 'raise',
        event: { type: 'SUPERVISOR.RESTART_DUE', id: member },
        delayMs,
        id: restartTimerId(member),
      });
      later(fx, () => deps.reportRestart(member, delayMs, why));
      next = setStatus(fx, next, member, 'backoff', why, {
        alive: false,
        pendingCause: cause,
        nextRestartAt: now + delayMs,
        lastRestartReason: why,
        ...(member === id ? { attempt } : {}),
      });
    }
    return next;
  }

  function restartDue(fx: Effect[], context: Ctx, id: string): Ctx {
    const entry = context.entries[id];
    if (entry === undefined || entry.status !== 'backoff') return context;
    const now = deps.now();
    const policy = effectivePolicy(context.policy, entry.config.restart);
    const restartTimes =
      entry.pendingCause === 'crash'
        ? [...recentRestarts(entry.restartTimes, now, policy.withinMs), now]
        : entry.restartTimes;
    const next = withEntry(context, id, {
      restarts: entry.restarts + 1,
      restartTimes,
      lastRestartAt: now,
    });
    return spawnFresh(fx, next, id, entry.lastRestartReason);
  }

  /**
   * One health tick: every running collector is probed; one that left a probe unanswered for
   * `stuckAfterMs` is stuck. Judging by the unanswered probe, not by the time since the last
   * report, keeps a late tick (a blocked event loop, a simulated jump) from condemning everyone.
   */
  function checkHealth(fx: Effect[], context: Ctx): Ctx {
    const now = deps.now();
    let next: Ctx = { ...context, lastTickAt: now };
    for (const id of context.order) {
      const entry = next.entries[id];
      if (entry === undefined || entry.status !== 'running') continue;
      const probedAt = entry.probedAt;
      const unanswered = probedAt !== undefined && (entry.lastReportAt ?? 0) < probedAt;
      if (unanswered && now - probedAt >= context.policy.health.stuckAfterMs) {
        next = unhealthy(fx, next, id, `stuck: no answer to a probe for ${now - probedAt} ms`);
        continue;
      }
      fx.push({ kind: 'send', to: id, event: PROBE });
      if (!unanswered) next = withEntry(next, id, { probedAt: now });
    }
    return next;
  }

  function unhealthy(fx: Effect[], context: Ctx, id: string, reason: string): Ctx {
    if (context.policy.health.action === 'fail') return giveUp(fx, context, id, reason);
    return crash(fx, context, id, `unhealthy: ${reason}`);
  }

  /** A collector's answer to a probe, judged against the health rules. */
  function report(fx: Effect[], context: Ctx, event: CollectorReport): Ctx {
    const id = event.collectorId;
    const entry = context.entries[id];
    if (entry === undefined || entry.status !== 'running') return context;
    const now = deps.now();
    const health = context.policy.health;
    const messages = deps.eventsOf(id);
    const delivered = messages > entry.messagesSeen;
    const patch: Partial<ChildEntry> = {
      lastReportAt: now,
      allFailedSince: event.allFailed ? (entry.allFailedSince ?? now) : undefined,
      messagesSeen: messages,
      reconnectsAtData: delivered ? event.reconnects : entry.reconnectsAtData,
    };
    const next = withEntry(context, id, patch);
    const failedFor = patch.allFailedSince === undefined ? 0 : now - patch.allFailedSince;
    if (event.allFailed && failedFor >= health.allFailedForMs) {
      return unhealthy(fx, next, id, `every subscription failed for ${failedFor} ms`);
    }
    const fruitless = event.reconnects - (patch.reconnectsAtData ?? 0);
    if (fruitless >= health.reconnectsWithoutData) {
      return unhealthy(fx, next, id, `${fruitless} reconnects without any data`);
    }
    return next;
  }

  function startAll(fx: Effect[], context: Ctx): Ctx {
    let next: Ctx = { ...context, running: true };
    for (const id of context.order) {
      const entry = next.entries[id];
      if (entry === undefined || !entry.enabled) continue;
      if (entry.status !== 'idle' && entry.status !== 'stopped') continue;
      if (!entry.alive) {
        next = spawnFresh(fx, next, id, 'started');
        continue;
      }
      fx.push({ kind: 'send', to: id, event: START });
      next = setStatus(fx, next, id, 'running', 'started', { lastReportAt: deps.now() });
    }
    return next;
  }

  function stopAll(fx: Effect[], context: Ctx): Ctx {
    let next: Ctx = { ...context, running: false };
    for (const id of context.order) {
      const entry = next.entries[id];
      if (entry === undefined) continue;
      fx.push({ kind: 'cancel', id: restartTimerId(id) });
      if (entry.status === 'backoff') {
        // Its actor is already gone; a fresh one waits for the next START_ALL.
        next = spawnFresh(fx, next, id, 'stopped');
        next = setStatus(fx, next, id, 'stopped', 'stopped');
        continue;
      }
      if (!entry.alive) continue;
      fx.push({ kind: 'send', to: id, event: STOP });
      if (entry.status === 'running' || entry.status === 'idle') {
        next = setStatus(fx, next, id, 'stopped', 'stopped');
      }
    }
    return next;
  }

  /** Runs one step and hands its context and effects to XState. */
  function run(enqueue: unknown, stepFn: (fx: Effect[]) => Ctx): void {
    const fx: Effect[] = [];
    apply(asEnqueuer(enqueue), stepFn(fx), fx);
  }
  const idOf = (event: SupervisorEvent): string | undefined =>
    'id' in event && typeof event.id === 'string' ? event.id : undefined;
  const forId =
    (stepFn: (fx: Effect[], context: Ctx, id: string) => Ctx) =>
    (fx: Effect[], context: Ctx, event: SupervisorEvent): Ctx => {
      const id = idOf(event);
      return id === undefined ? context : stepFn(fx, context, id);
    };
  const onId = {
    remove: forId(remove),
    enable: forId(enable),
    disable: forId(disable),
    restart: forId(restartNow),
    due: forId(restartDue),
  };

  return setup({
    types: {
      context: {} as SupervisorContext,
      input: {} as SupervisorInput,
      events: {} as SupervisorEvent,
    },
    actors: { collector: deps.collector },
    delays: {
      healthInterval: ({ context }) => context.policy.health.intervalMs,
    },
    actions: {
      addCollector: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) =>
          event.type === 'SUPERVISOR.ADD' ? add(fx, context, event.id, event.config) : context,
        ),
      ),
      removeCollector: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => onId.remove(fx, context, event)),
      ),
      enableCollector: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => onId.enable(fx, context, event)),
      ),
      disableCollector: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => onId.disable(fx, context, event)),
      ),
      restartCollector: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => onId.restart(fx, context, event)),
      ),
      restartAll: enqueueActions(({ context, enqueue }) =>
        run(enqueue, (fx) => context.order.reduce((ctx, id) => restartNow(fx, ctx, id), context)),
      ),
      restartDue: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => onId.due(fx, context, event)),
      ),
      startCollectors: enqueueActions(({ context, enqueue }) =>
        run(enqueue, (fx) => startAll(fx, context)),
      ),
      stopCollectors: enqueueActions(({ context, enqueue }) =>
        run(enqueue, (fx) => stopAll(fx, context)),
      ),
      checkHealth: enqueueActions(({ context, enqueue }) =>
        run(enqueue, (fx) => checkHealth(fx, context)),
      ),
      noteReport: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) =>
          event.type === 'COLLECTOR.ALIVE' ? report(fx, context, event) : context,
        ),
      ),
      handleCrash: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) =>
          event.type !== 'COLLECTOR.CRASHED'
            ? context
            : event.permanent
              ? giveUp(fx, context, event.collectorId, `${event.reason} (permanent)`)
              : crash(fx, context, event.collectorId, event.reason),
        ),
      ),
      handleFailure: enqueueActions(({ context, event, enqueue }) =>
        run(enqueue, (fx) => {
          if (!('actorId' in event)) return context;
          const error = event.error;
          const message = error instanceof Error ? error.message : String(error);
          const entry = context.entries[event.actorId];
          // Failed before it ever ran (e.g. while being created): nothing a restart would fix.
          if (entry !== undefined && entry.status !== 'running') {
            return giveUp(fx, context, event.actorId, `crashed: ${message}`);
          }
          return crash(fx, context, event.actorId, `crashed: ${message}`);
        }),
      ),
    },
  }).createMachine({
    id: 'supervisor',
    context: ({ input }) => ({
      policy: input.policy,
      entries: {},
      order: [],
      running: false,
      lastTickAt: undefined,
    }),
    initial: 'idle',
    on: {
      'SUPERVISOR.ADD': { actions: 'addCollector' },
      'SUPERVISOR.REMOVE': { actions: 'removeCollector' },
      'SUPERVISOR.ENABLE': { actions: 'enableCollector' },
      'SUPERVISOR.DISABLE': { actions: 'disableCollector' },
      'SUPERVISOR.RESTART': { actions: 'restartCollector' },
      'SUPERVISOR.RESTART_ALL': { actions: 'restartAll' },
      'SUPERVISOR.RESTART_DUE': { actions: 'restartDue' },
      'COLLECTOR.CRASHED': { actions: 'handleCrash' },
      'COLLECTOR.ALIVE': { actions: 'noteReport' },
      // A child whose own action threw: its failure is data, not an escalation.
      'xstate.error.actor.*': { actions: 'handleFailure' },
    },
    states: {
      idle: {
        on: { 'SUPERVISOR.START_ALL': 'running' },
      },
      running: {
        entry: 'startCollectors',
        on: { 'SUPERVISOR.STOP_ALL': 'stopped' },
        initial: 'watching',
        states: {
          watching: {
            after: {
              healthInterval: { target: 'watching', reenter: true, actions: 'checkHealth' },
            },
          },
        },
      },
      stopped: {
        entry: 'stopCollectors',
        on: { 'SUPERVISOR.START_ALL': 'running' },
      },
    },
  });
}

export type SupervisorMachine = ReturnType<typeof createSupervisorMachine>;
