import { assign, enqueueActions, sendParent, setup } from 'xstate';
import { channelOptions } from '../config/exchange.ts';
import type { CollectorConfig } from '../config/schema.ts';
import { symbolsOf } from '../config/schema.ts';
import type { ControlMessage, ExchangeAdapter, HttpReply } from '../exchanges/types.ts';
import type { FaultCode } from '../streams/faults.ts';
import type { BackfillStep } from '../streams/feed.ts';
import type { SubscriptionTelemetry } from '../streams/telemetry.ts';
import { backoffDelayMs } from './backoff.ts';
import type {
  ConnectionCommand,
  ConnectionInput,
  ConnectionMachine,
  ConnectionReport,
} from './connection.ts';
import { apply, asEnqueuer, type Effect, later } from './effects.ts';
import type { createRestLogic } from './rest.ts';
import {
  batchBySize,
  budgetLeft,
  isOutState,
  newSubscription,
  type RequestRecord,
  type SubscriptionRecord,
  subscriptionKey,
  withState,
} from './subscriptions.ts';
import type { CollectorReport } from './supervisor.ts';

/**
 * The collector statechart: one exchange, a set of wanted subscriptions (symbols × data types), and
 * one connection per endpoint group (two for a moment during a 64008 handover).
 *
 *   idle ──START──▶ running ──STOP──▶ stopping ──(connections closed)──▶ stopped ──START──▶ running
 *                      └──(a connection refused for good)──▶ error ──START──▶ running
 *
 * Desired state drives subscriptions: after every (re)open the collector sends exactly the wanted,
 * not permanently failed set, batched within the request size and the operation budget.
 */

export interface CollectorInput {
  readonly collectorId: string;
  readonly config: CollectorConfig;
}

interface Handover {
  readonly from: string;
  readonly to: string;
  readonly toOpened: boolean;
  /** The replacement got a 64008 of its own: it is handed over in turn once it took over. */
  readonly toNoticed?: boolean;
}

interface ConnectionSlot {
  readonly group: string;
  readonly open: boolean;
  /** CONNECTION.SUBSCRIBED already sent for the current socket. */
  readonly settled: boolean;
  /** Send times of subscribe/unsubscribe requests in the current budget window. */
  readonly ops: readonly number[];
}

export interface CollectorContext {
  readonly collectorId: string;
  readonly config: CollectorConfig;
  readonly subscriptions: Readonly<Record<string, SubscriptionRecord>>;
  readonly requests: Readonly<Record<string, RequestRecord>>;
  /** Current connection id per endpoint group. */
  readonly primary: Readonly<Record<string, string>>;
  readonly connections: Readonly<Record<string, ConnectionSlot>>;
  readonly handovers: Readonly<Record<string, Handover>>;
  readonly nextRequest: number;
  readonly nextConnection: number;
  readonly reconnects: number;
  /** REST jobs of the feed under way (`trade:SYMBOL`, `book:CHANNEL:SYMBOL`). */
  readonly backfills: readonly string[];
  readonly lastError: string | undefined;
  readonly lastErrorAt: number | undefined;
}

export type CollectorCommand =
  | { readonly type: 'COLLECTOR.START' }
  | { readonly type: 'COLLECTOR.STOP' }
  | { readonly type: 'COLLECTOR.RECONNECT' }
  /** The supervisor's health probe; answered with COLLECTOR.ALIVE. */
  | { readonly type: 'COLLECTOR.PROBE' };

type InternalEvent =
  | { readonly type: 'COLLECTOR.REQUEST_TIMEOUT'; readonly requestId: string }
  | { readonly type: 'COLLECTOR.BACKFILL_TIMEOUT'; readonly symbol: string }
  | {
      readonly type: 'COLLECTOR.BACKFILL_RETRY';
      readonly symbol: string;
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      readonly type: `xstate.done.actor.${string}`;
      readonly actorId: string;
      readonly output: unknown;
    }
  | {
      readonly type: `xstate.error.actor.${string}`;
      readonly actorId: string;
      readonly error: unknown;
    }
  | { readonly type: 'COLLECTOR.RESYNC'; readonly key: string }
  | { readonly type: 'COLLECTOR.RETRY_SUBSCRIPTIONS' };

export type CollectorEvent = CollectorCommand | ConnectionReport | InternalEvent;

export interface CollectorDeps {
  readonly connection: ConnectionMachine;
  readonly adapterFor: (exchange: string) => ExchangeAdapter;
  readonly now: () => number;
  readonly random: () => number;
  readonly markDisconnected: (collectorId: string) => void;
  /** A connection of the collector closed or was stopped (its books stop following it). */
  readonly connectionGone: (collectorId: string, connectionId: string) => void;
  readonly rest: ReturnType<typeof createRestLogic>;
  /** Advances a REST job of the feed with the last reply (undefined: start). */
  readonly backfillStep: (
    collectorId: string,
    symbol: string,
    reply: HttpReply | 'failed' | undefined,
  ) => BackfillStep;
  /** Ends every REST job of the feed at once (held trades go out, what was missed is a gap). */
  readonly abortBackfills: (collectorId: string) => void;
  readonly reportState: (context: CollectorContext, state: string, reason?: string) => void;
  readonly reportSubscription: (event: Omit<SubscriptionTelemetry, 'type' | 'at'>) => void;
  readonly reportFault: (
    context: CollectorContext,
    code: FaultCode,
    message: string,
    connectionId?: string,
  ) => void;
}

/** Time a stopping collector waits for its connections' close handshakes. */
const STOP_TIMEOUT_MS = 2_000;
/** Requests asked for at most this many times without any answer, then the subscription fails. */
const MAX_UNANSWERED_ATTEMPTS = 2;
/** A book that breaks this many times within the window is quarantined. */
const MAX_RESYNCS = 5;
/** A backfill still running after this long ends with what it has (the rest becomes a gap). */
const BACKFILL_TIMEOUT_MS = 30_000;
/** One REST request (a page of trades, a book snapshot) gets no answer after this: failed. */
const REST_REQUEST_TIMEOUT_MS = 10_000;
const RESYNC_WINDOW_MS = 10 * 60_000;
const RESYNC_MESSAGE = 'book resync';
/** The code of a subscription the exchange neither acknowledged nor refused. */
const NO_ANSWER = 'no-answer';
/** Transient refusals retried at most this many times in a row before the subscription fails. */
const MAX_TRANSIENT_RETRIES = 8;

function timeoutId(requestId: string): string {
  return `request-timeout:${requestId}`;
}

export function createCollectorMachine(deps: CollectorDeps) {
  // Every step below is "context before → context after" plus a list of effects; one action then
  // assigns the new context and enqueues the effects in order. No step performs a side effect.

  function subsOfGroup(context: CollectorContext, group: string): SubscriptionRecord[] {
    return Object.values(context.subscriptions).filter((s) => s.group === group);
  }

  function tellSubscription(fx: Effect[], context: CollectorContext, sub: SubscriptionRecord) {
    later(fx, () =>
      deps.reportSubscription({
        collectorId: context.collectorId,
        dataType: sub.dataType,
        symbol: sub.symbol,
        channel: sub.channel,
        state: sub.state,
        code: sub.code,
        message: sub.message,
      }),
    );
  }

  function connectionInput(context: CollectorContext, group: string, id: string): ConnectionInput {
    const adapter = deps.adapterFor(context.config.exchange);
    const base = context.config.endpoint ?? adapter.defaultEndpoint;
    const silenceMs: Record<string, number> = {};
    for (const sub of subsOfGroup(context, group)) {
      silenceMs[sub.dataType] = context.config.timers.silenceMs[sub.dataType];
    }
    return {
      collectorId: context.collectorId,
      connectionId: id,
      exchange: adapter.id,
      group,
      url: adapter.endpointUrl(base, group),
      ping: adapter.heartbeat.ping,
      pong: adapter.heartbeat.pong,
      connectionsPerSecond: adapter.limits.connectionsPerSecond,
      timers: context.config.timers,
      silenceMs,
    };
  }

  /** Spawns a connection for a group; returns the updated context. */
  function spawnConnection(
    fx: Effect[],
    context: CollectorContext,
    group: string,
  ): { context: CollectorContext; id: string } {
    const id = `${context.collectorId}/${group}#${context.nextConnection}`;
    fx.push({ kind: 'spawn', src: 'connection', id, input: connectionInput(context, group, id) });
    return {
      id,
      context: {
        ...context,
        nextConnection: context.nextConnection + 1,
        connections: {
          ...context.connections,
          [id]: { group, open: false, settled: false, ops: [] },
        },
      },
    };
  }

  /**
   * Asks for `subs` on a connection: batches by size, spends the operation budget, records the
   * requests and arms one answer timeout per request. What the budget cannot cover waits.
   */
  function request(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    subs: readonly SubscriptionRecord[],
    attempt = 1,
  ): CollectorContext {
    const slot = context.connections[connectionId];
    if (slot === undefined || !slot.open || subs.length === 0) return context;
    const adapter = deps.adapterFor(context.config.exchange);
    const now = deps.now();
    const budget = budgetLeft(slot.ops, now, adapter);
    const batches = batchBySize(subs, adapter);
    const sendable = batches.slice(0, budget.left);
    const deferred = batches.slice(budget.left).flat();

    const subscriptions = { ...context.subscriptions };
    const requests = { ...context.requests };
    const ops = [...budget.log];
    const frames: string[] = [];
    let nextRequest = context.nextRequest;
    for (const batch of sendable) {
      const requestId = `${nextRequest++}`;
      requests[requestId] = {
        connectionId,
        keys: batch.map((s) => s.key),
        attempt,
        error: undefined,
      };
      for (const sub of batch) {
        subscriptions[sub.key] = withState(sub, 'pending', { requestId, connectionId });
      }
      ops.push(now);
      frames.push(adapter.buildRequest('subscribe', batch, requestId));
      fx.push({
        kind: 'raise',
        event: { type: 'COLLECTOR.REQUEST_TIMEOUT', requestId },
        delayMs: context.config.timers.subscribeTimeoutMs,
        id: timeoutId(requestId),
      });
    }
    for (const sub of deferred) subscriptions[sub.key] = withState(sub, 'retrying');
    if (deferred.length > 0) {
      const waitMs = Math.max(1, (budget.nextFreeAt ?? now) - now);
      later(fx, () =>
        deps.reportFault(
          context,
          'op-budget-exhausted',
          `${deferred.length} subscriptions wait ${waitMs} ms for the operation budget`,
          connectionId,
        ),
      );
      armRetry(fx, waitMs);
    }
    if (frames.length > 0) {
      fx.push({ kind: 'send', to: connectionId, event: { type: 'CONNECTION.SEND', frames } });
    }
    const next: CollectorContext = {
      ...context,
      subscriptions,
      requests,
      nextRequest,
      connections: { ...context.connections, [connectionId]: { ...slot, ops } },
    };
    for (const sub of subs) {
      const updated = subscriptions[sub.key];
      if (updated !== undefined && updated.state !== sub.state) {
        tellSubscription(fx, next, updated);
      }
    }
    return next;
  }

  /** Forgets requests that match, and cancels their answer timeouts. */
  function forgetRequests(
    fx: Effect[],
    context: CollectorContext,
    drop: (request: RequestRecord, id: string) => boolean,
  ): CollectorContext {
    const requests: Record<string, RequestRecord> = {};
    for (const [id, request] of Object.entries(context.requests)) {
      if (drop(request, id)) fx.push({ kind: 'cancel', id: timeoutId(id) });
      else requests[id] = request;
    }
    return { ...context, requests };
  }

  /** Forgets the requests whose every subscription got its answer. */
  function forgetAnswered(fx: Effect[], context: CollectorContext): CollectorContext {
    return forgetRequests(fx, context, (request, id) =>
      request.keys.every((key) => {
        const sub = context.subscriptions[key];
        return sub === undefined || sub.requestId !== id || sub.state !== 'pending';
      }),
    );
  }

  function armRetry(fx: Effect[], delayMs: number): void {
    // A pending delayed event with the same id is not replaced by a new one: cancel first.
    fx.push({
      kind: 'raise',
      event: { type: 'COLLECTOR.RETRY_SUBSCRIPTIONS' },
      delayMs,
      id: 'retry-subscriptions',
    });
  }

  /** Marks subscriptions settled; tells the connection once its group is; ends handovers. */
  function settle(fx: Effect[], context: CollectorContext): CollectorContext {
    let next = context;
    for (const [connectionId, slot] of Object.entries(context.connections)) {
      if (!slot.open || slot.settled) continue;
      const subs = subsOfGroup(next, slot.group);
      const waiting = subs.some(
        (s) => !isOut(s) && !(s.state === 'active' && s.connectionId === connectionId),
      );
      if (waiting) continue;
      fx.push({ kind: 'send', to: connectionId, event: { type: 'CONNECTION.SUBSCRIBED' } });
      next = {
        ...next,
        connections: { ...next.connections, [connectionId]: { ...slot, settled: true } },
      };
      const handover = next.handovers[slot.group];
      if (handover !== undefined && handover.to === connectionId) {
        next = finishHandover(fx, next, slot.group, handover);
      }
    }
    return next;
  }

  function finishHandover(
    fx: Effect[],
    context: CollectorContext,
    group: string,
    handover: Handover,
  ): CollectorContext {
    // The replacement is subscribed: only now may the old connection go (OKX 64008), unless it
    // went by itself (OKX closes it soon after the notice): then it was stopped when it went
    // down, and its actor is gone and must not be sent to.
    if (context.connections[handover.from]?.open === true) {
      fx.push({ kind: 'send', to: handover.from, event: { type: 'CONNECTION.STOP' } });
    }
    later(fx, () => deps.connectionGone(context.collectorId, handover.from));
    const { [group]: _done, ...handovers } = context.handovers;
    const next = { ...context, handovers, primary: { ...context.primary, [group]: handover.to } };
    return handover.toNoticed === true ? beginHandover(fx, next, handover.to) : next;
  }

  function findSubscription(
    context: CollectorContext,
    channel: string,
    symbol: string,
  ): SubscriptionRecord | undefined {
    return context.subscriptions[subscriptionKey(channel, symbol)];
  }

  /** Applies the exchange's refusal to one subscription: failed for good, or retried later. */
  function refuse(
    fx: Effect[],
    context: CollectorContext,
    sub: SubscriptionRecord,
    code: string,
    message: string,
  ): CollectorContext {
    const adapter = deps.adapterFor(context.config.exchange);
    const permanent = adapter.isPermanentError(code) || sub.retries + 1 > MAX_TRANSIENT_RETRIES;
    const updated = permanent
      ? withState(sub, 'failed', { code, message, requestId: undefined })
      : withState(sub, 'retrying', { code, message, retries: sub.retries + 1 });
    const next = { ...context, subscriptions: { ...context.subscriptions, [sub.key]: updated } };
    tellSubscription(fx, next, updated);
    later(fx, () =>
      deps.reportFault(
        next,
        code === NO_ANSWER
          ? 'subscribe-unanswered'
          : permanent
            ? 'subscribe-rejected'
            : 'subscribe-retry',
        `${sub.channel} ${sub.symbol}: ${code} ${message}`,
        sub.connectionId,
      ),
    );
    if (!permanent) {
      armRetry(fx, backoffDelayMs(updated.retries, context.config.timers.backoff, deps.random));
    }
    return next;
  }

  function onControl(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    control: ControlMessage,
  ): CollectorContext {
    switch (control.kind) {
      case 'subscribed': {
        const sub = findSubscription(context, control.channel, control.symbol);
        // OKX acks every arg, duplicates included, and may ack after data: only the ack on the
        // connection that carries the subscription counts.
        if (sub === undefined || sub.connectionId !== connectionId || sub.state === 'active') {
          return context;
        }
        const updated: SubscriptionRecord = {
          ...withState(sub, 'active', { code: undefined, message: undefined, retries: 0 }),
          resyncWhenAnswered: false,
        };
        const next = {
          ...context,
          subscriptions: { ...context.subscriptions, [sub.key]: updated },
        };
        tellSubscription(fx, next, updated);
        const answered = forgetAnswered(fx, next);
        if (sub.resyncWhenAnswered !== true) return settle(fx, answered);
        return settle(fx, resubscribe(fx, answered, connectionId, updated));
      }
      case 'error':
        return settle(fx, forgetAnswered(fx, onError(fx, context, connectionId, control)));
      case 'notice': {
        const adapter = deps.adapterFor(context.config.exchange);
        if (!adapter.isReconnectNotice(control.code)) return context;
        return beginHandover(fx, context, connectionId);
      }
      case 'backfill':
        return beginBackfill(fx, context, `trade:${control.symbol}`);
      case 'book-snapshot':
        return beginBackfill(fx, context, `book:${control.channel}:${control.symbol}`);
      case 'resync':
        return onResync(fx, context, connectionId, control.channel, control.symbol, control.reason);
      case 'unsubscribed':
      case 'pong':
      case 'info':
        return context;
    }
  }

  /**
   * A book broke: unsubscribe and subscribe that one symbol for a fresh snapshot (OKX docs
   * "Sequence ID"), at once the first time, with a growing delay when it keeps breaking, and
   * quarantined past `MAX_RESYNCS` within `RESYNC_WINDOW_MS` instead of looping.
   */
  function onResync(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    channel: string,
    symbol: string,
    reason: string,
  ): CollectorContext {
    const sub = findSubscription(context, channel, symbol);
    if (sub === undefined || isOut(sub)) return context;
    const target = resyncTarget(context, sub, connectionId);
    if (target === 'replacement') return countResync(context, sub);
    if (target === undefined) return context;
    return resync(fx, context, target, sub, reason);
  }

  /**
   * Where a book's resync requests go. The frame that raised it may have come on another
   * group's socket (the feed's watch on stalled books runs on any frame): the group's own
   * socket, then. During a 64008 handover, the replacement once its subscribe of the book is
   * answered; before that, nowhere (`replacement`): that subscribe brings a fresh snapshot, and
   * a request on the old socket would pull the book back onto it and hold the handover up.
   */
  function resyncTarget(
    context: CollectorContext,
    sub: SubscriptionRecord,
    frameConnectionId: string | undefined,
  ): string | 'replacement' | undefined {
    const handover = context.handovers[sub.group];
    if (handover !== undefined) {
      const answered = sub.connectionId === handover.to && sub.state === 'active';
      return handover.toOpened && answered ? handover.to : 'replacement';
    }
    const frameGroup =
      frameConnectionId === undefined ? undefined : context.connections[frameConnectionId]?.group;
    return frameGroup === sub.group ? frameConnectionId : context.primary[sub.group];
  }

  /**
   * A break during a handover, before the replacement answered the book's subscribe: counted
   * toward quarantine, nothing sent now; the book is resubscribed on the replacement once that
   * answer comes, since the snapshot the replacement sent may have come before the break.
   */
  function countResync(context: CollectorContext, sub: SubscriptionRecord): CollectorContext {
    const now = deps.now();
    const recent = sub.resyncTimes.filter((at) => at > now - RESYNC_WINDOW_MS);
    const updated: SubscriptionRecord = {
      ...sub,
      resyncTimes: [...recent, now],
      resyncs: sub.resyncs + 1,
      resyncWhenAnswered: true,
    };
    return { ...context, subscriptions: { ...context.subscriptions, [sub.key]: updated } };
  }

  function resync(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    sub: SubscriptionRecord,
    reason: string,
  ): CollectorContext {
    const { channel, symbol } = sub;
    const now = deps.now();
    const recent = sub.resyncTimes.filter((at) => at > now - RESYNC_WINDOW_MS);
    if (recent.length >= MAX_RESYNCS) {
      const updated = withState(sub, 'quarantined', {
        code: reason,
        message: `${recent.length + 1} breaks within ${RESYNC_WINDOW_MS} ms`,
      });
      const next = { ...context, subscriptions: { ...context.subscriptions, [sub.key]: updated } };
      tellSubscription(fx, next, updated);
      later(fx, () =>
        deps.reportFault(next, 'book-quarantined', `${channel} ${symbol}: ${reason}`, connectionId),
      );
      return unsubscribe(fx, next, connectionId, updated);
    }
    const updated: SubscriptionRecord = {
      ...withState(sub, 'retrying', { code: reason, message: RESYNC_MESSAGE }),
      resyncTimes: [...recent, now],
      resyncs: sub.resyncs + 1,
    };
    const next = { ...context, subscriptions: { ...context.subscriptions, [sub.key]: updated } };
    tellSubscription(fx, next, updated);
    if (recent.length === 0) return resubscribe(fx, next, connectionId, updated);
    const delayMs = backoffDelayMs(recent.length, context.config.timers.backoff, deps.random);
    fx.push({
      kind: 'raise',
      event: { type: 'COLLECTOR.RESYNC', key: sub.key },
      delayMs,
      id: `resync:${sub.key}`,
    });
    return next;
  }

  /** Unsubscribes one subscription (one operation, if the budget has it). */
  function unsubscribe(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    sub: SubscriptionRecord,
  ): CollectorContext {
    const slot = context.connections[connectionId];
    if (slot === undefined || !slot.open) return context;
    const adapter = deps.adapterFor(context.config.exchange);
    const budget = budgetLeft(slot.ops, deps.now(), adapter);
    if (budget.left < 1) return context;
    const frame = adapter.buildRequest('unsubscribe', [sub], `${context.nextRequest}`);
    fx.push({
      kind: 'send',
      to: connectionId,
      event: { type: 'CONNECTION.SEND', frames: [frame] },
    });
    const ops = [...budget.log, deps.now()];
    return {
      ...context,
      nextRequest: context.nextRequest + 1,
      connections: { ...context.connections, [connectionId]: { ...slot, ops } },
    };
  }

  /** Unsubscribe then subscribe, for a fresh snapshot: two operations. */
  function resubscribe(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    sub: SubscriptionRecord,
  ): CollectorContext {
    return request(fx, unsubscribe(fx, context, connectionId, sub), connectionId, [sub]);
  }

  function onResyncDue(fx: Effect[], context: CollectorContext, key: string): CollectorContext {
    const sub = context.subscriptions[key];
    if (sub === undefined || sub.state !== 'retrying') return context;
    const connectionId = resyncTarget(context, sub, undefined);
    // Mid-handover the replacement subscribes every book of its group, this one included.
    if (connectionId === undefined || connectionId === 'replacement') return context;
    return resubscribe(fx, context, connectionId, sub);
  }

  /** Trades of a symbol were missed: fetch them, one page request at a time, bounded in time. */
  function beginBackfill(
    fx: Effect[],
    context: CollectorContext,
    symbol: string,
  ): CollectorContext {
    if (context.backfills.includes(symbol)) return context;
    const step = deps.backfillStep(context.collectorId, symbol, undefined);
    const next = { ...context, backfills: [...context.backfills, symbol] };
    // Live trades wait while theirs are fetched, so a trade backfill has a deadline as a whole;
    // a book bootstrap counts its own attempts. Each request has its own deadline either way.
    if (symbol.startsWith('trade:')) {
      fx.push({
        kind: 'raise',
        event: { type: 'COLLECTOR.BACKFILL_TIMEOUT', symbol },
        delayMs: BACKFILL_TIMEOUT_MS,
        id: `backfill-timeout:${symbol}`,
      });
    }
    return continueBackfill(fx, next, symbol, step);
  }

  function continueBackfill(
    fx: Effect[],
    context: CollectorContext,
    symbol: string,
    step: BackfillStep,
  ): CollectorContext {
    const id = `backfill:${symbol}`;
    // Stop before re-spawning the same id: the previous page's actor may still be listed.
    fx.push({ kind: 'stop', id });
    fx.push({ kind: 'cancel', id: `backfill-request-timeout:${symbol}` });
    if (step.kind === 'done') {
      fx.push({ kind: 'cancel', id: `backfill-timeout:${symbol}` });
      fx.push({ kind: 'cancel', id: `backfill-retry:${symbol}` });
      return { ...context, backfills: context.backfills.filter((s) => s !== symbol) };
    }
    if (step.delayMs > 0) {
      fx.push({
        kind: 'raise',
        event: { type: 'COLLECTOR.BACKFILL_RETRY', symbol, url: step.url, headers: step.headers },
        delayMs: step.delayMs,
        id: `backfill-retry:${symbol}`,
      });
      return context;
    }
    fx.push({ kind: 'spawn', src: 'rest', id, input: { url: step.url, headers: step.headers } });
    // A request that never answers counts as failed after this, on the machine's clock.
    fx.push({
      kind: 'raise',
      event: { type: 'COLLECTOR.BACKFILL_TIMEOUT', symbol },
      delayMs: REST_REQUEST_TIMEOUT_MS,
      id: `backfill-request-timeout:${symbol}`,
    });
    return context;
  }

  function onBackfillReply(
    fx: Effect[],
    context: CollectorContext,
    actorId: string,
    reply: HttpReply | 'failed',
  ): CollectorContext {
    const symbol = actorId.slice('backfill:'.length);
    if (!context.backfills.includes(symbol)) return context;
    return continueBackfill(
      fx,
      context,
      symbol,
      deps.backfillStep(context.collectorId, symbol, reply),
    );
  }

  function onError(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    control: Extract<ControlMessage, { kind: 'error' }>,
  ): CollectorContext {
    const request =
      control.requestId === undefined ? undefined : context.requests[control.requestId];
    // The error frame carries no `arg`: the request id narrows it to one request, and the
    // instrument named in `msg` (when there is one) to one subscription of it.
    const named =
      control.channel !== undefined && control.symbol !== undefined
        ? findSubscription(context, control.channel, control.symbol)
        : undefined;
    if (named !== undefined && (request === undefined || request.keys.includes(named.key))) {
      return refuse(fx, context, named, control.code, control.message);
    }
    if (request !== undefined && control.requestId !== undefined) {
      const pending = request.keys.filter(
        (k) =>
          context.subscriptions[k]?.state === 'pending' &&
          context.subscriptions[k]?.requestId === control.requestId,
      );
      const only = pending.length === 1 ? context.subscriptions[pending[0] as string] : undefined;
      if (only !== undefined) return refuse(fx, context, only, control.code, control.message);
      // Several args and no way to tell which one was refused: wait for the acks of the good ones;
      // the answer timeout then isolates the rest one by one.
      const requests = {
        ...context.requests,
        [control.requestId]: {
          ...request,
          error: { code: control.code, message: control.message },
        },
      };
      return { ...context, requests };
    }
    later(fx, () =>
      deps.reportFault(
        context,
        'error-uncorrelated',
        `${control.code} ${control.message}`,
        connectionId,
      ),
    );
    return context;
  }

  function onRequestTimeout(
    fx: Effect[],
    context: CollectorContext,
    requestId: string,
  ): CollectorContext {
    const expired = context.requests[requestId];
    if (expired === undefined) return context;
    const { [requestId]: _expired, ...requests } = context.requests;
    let next: CollectorContext = { ...context, requests };
    const pending = expired.keys
      .map((k) => next.subscriptions[k])
      .filter(
        (s): s is SubscriptionRecord =>
          s !== undefined && s.state === 'pending' && s.requestId === requestId,
      );
    if (pending.length === 0) return next;
    if (expired.error !== undefined) {
      const error = expired.error;
      if (pending.length === 1) {
        return settle(
          fx,
          refuse(fx, next, pending[0] as SubscriptionRecord, error.code, error.message),
        );
      }
      // Isolate: one request per suspect, so the next refusal names exactly one subscription.
      for (const sub of pending) {
        next = request(fx, next, expired.connectionId, [sub], expired.attempt);
      }
      return next;
    }
    if (expired.attempt >= MAX_UNANSWERED_ATTEMPTS) {
      for (const sub of pending) {
        next = refuse(
          fx,
          next,
          { ...sub, retries: MAX_TRANSIENT_RETRIES },
          NO_ANSWER,
          'the exchange neither acknowledged nor refused the subscription',
        );
      }
      return settle(fx, next);
    }
    return request(fx, next, expired.connectionId, pending, expired.attempt + 1);
  }

  function beginHandover(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
  ): CollectorContext {
    const slot = context.connections[connectionId];
    if (slot === undefined) return context;
    const running = context.handovers[slot.group];
    if (running !== undefined) {
      // A notice on the replacement itself: its server goes down too, so once it has taken
      // over it is replaced in turn. (Another on the old socket changes nothing.)
      if (running.to !== connectionId) return context;
      const noticed = { ...running, toNoticed: true };
      return { ...context, handovers: { ...context.handovers, [slot.group]: noticed } };
    }
    if (context.primary[slot.group] !== connectionId) return context;
    const spawned = spawnConnection(fx, context, slot.group);
    return {
      ...spawned.context,
      handovers: {
        ...spawned.context.handovers,
        [slot.group]: { from: connectionId, to: spawned.id, toOpened: false },
      },
    };
  }

  function onOpened(fx: Effect[], context: CollectorContext, connectionId: string) {
    const slot = context.connections[connectionId];
    if (slot === undefined) return context;
    // A new socket starts with a fresh operation budget: OKX counts per connection.
    let next: CollectorContext = {
      ...context,
      connections: {
        ...context.connections,
        [connectionId]: { ...slot, open: true, settled: false, ops: [] },
      },
    };
    const handover = next.handovers[slot.group];
    if (handover !== undefined && handover.to === connectionId) {
      next = {
        ...next,
        handovers: { ...next.handovers, [slot.group]: { ...handover, toOpened: true } },
      };
    }
    // Failed and quarantined subscriptions stay out until the collector restarts.
    const wanted = subsOfGroup(next, slot.group).filter((s) => !isOut(s));
    next = request(fx, next, connectionId, wanted);
    return settle(fx, next);
  }

  function onDown(
    fx: Effect[],
    context: CollectorContext,
    connectionId: string,
    reason: string,
  ): CollectorContext {
    const slot = context.connections[connectionId];
    if (slot === undefined) return context;
    later(fx, () => deps.connectionGone(context.collectorId, connectionId));
    const connections = {
      ...context.connections,
      [connectionId]: { ...slot, open: false, settled: false },
    };
    let next: CollectorContext = {
      ...forgetRequests(fx, context, (r) => r.connectionId === connectionId),
      connections,
      reconnects: context.reconnects + 1,
      lastError: reason,
      lastErrorAt: deps.now(),
    };
    const handover = next.handovers[slot.group];
    if (handover !== undefined && handover.from === connectionId) {
      // The old connection closed before its replacement took over; it is not reconnected.
      fx.push({ kind: 'send', to: connectionId, event: { type: 'CONNECTION.STOP' } });
      if (!handover.toOpened) later(fx, () => deps.markDisconnected(context.collectorId));
      return next;
    }
    const subscriptions = { ...next.subscriptions };
    for (const sub of subsOfGroup(next, slot.group)) {
      if (isOut(sub) || sub.connectionId !== connectionId) continue;
      subscriptions[sub.key] = withState(sub, 'pending', { requestId: undefined });
    }
    next = { ...next, subscriptions };
    later(fx, () => deps.markDisconnected(context.collectorId));
    return next;
  }

  function onRetry(fx: Effect[], context: CollectorContext): CollectorContext {
    let next = context;
    for (const [connectionId, slot] of Object.entries(context.connections)) {
      if (!slot.open || next.primary[slot.group] !== connectionId) continue;
      // A book waiting for its resync is resubscribed by its own timer, with an unsubscribe.
      const retrying = subsOfGroup(next, slot.group).filter(
        (s) => s.state === 'retrying' && s.message !== RESYNC_MESSAGE,
      );
      next = request(fx, next, connectionId, retrying);
    }
    return next;
  }

  function onStopped(fx: Effect[], context: CollectorContext, connectionId: string) {
    const { [connectionId]: _gone, ...connections } = context.connections;
    fx.push({ kind: 'stop', id: connectionId });
    return { ...context, connections };
  }

  /**
   * Runs one step. A step that throws (an adapter bug, an invariant broken) must not fail the
   * actor: XState would then leave its children, and their sockets, running (xstate #5153). So
   * the collector drops its connections and reports a crash; the supervisor restarts it.
   */
  function guarded(
    enqueue: unknown,
    context: CollectorContext,
    stepFn: (fx: Effect[]) => CollectorContext,
  ): void {
    const fx: Effect[] = [];
    let next: CollectorContext;
    try {
      next = stepFn(fx);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const crashFx: Effect[] = Object.keys(context.connections).map((id) => ({
        kind: 'stop',
        id,
      }));
      later(crashFx, () => deps.reportFault(context, 'internal-error', message));
      crashFx.push({
        kind: 'parent',
        event: {
          type: 'COLLECTOR.CRASHED',
          collectorId: context.collectorId,
          reason: `crashed: ${message}`,
          permanent: false,
        },
      });
      apply(
        asEnqueuer(enqueue),
        { connections: {}, requests: {}, handovers: {}, primary: {}, lastError: message },
        crashFx,
      );
      return;
    }
    apply(asEnqueuer(enqueue), next, fx);
  }

  return setup({
    types: {
      context: {} as CollectorContext,
      input: {} as CollectorInput,
      events: {} as CollectorEvent,
    },
    actors: { connection: deps.connection, rest: deps.rest },
    delays: { stopTimeout: STOP_TIMEOUT_MS },
    guards: {
      noConnectionsLeft: ({ context }) => Object.keys(context.connections).length === 0,
    },
    actions: {
      openConnections: enqueueActions(({ context, enqueue }) =>
        guarded(enqueue, context, (fx) => {
          // A (re)start may follow lost data: the feed checks the next trade of every symbol.
          later(fx, () => deps.markDisconnected(context.collectorId));
          let next: CollectorContext = {
            ...context,
            connections: {},
            primary: {},
            handovers: {},
            requests: {},
          };
          const groups = new Set(Object.values(context.subscriptions).map((s) => s.group));
          for (const group of groups) {
            const spawned = spawnConnection(fx, next, group);
            next = {
              ...spawned.context,
              primary: { ...spawned.context.primary, [group]: spawned.id },
            };
          }
          return next;
        }),
      ),
      handleOpened: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'CONNECTION.OPENED') return;
        guarded(enqueue, context, (fx) => onOpened(fx, context, event.connectionId));
      }),
      handleControl: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'CONNECTION.CONTROL') return;
        guarded(enqueue, context, (fx) =>
          onControl(fx, context, event.connectionId, event.control),
        );
      }),
      handleDown: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'CONNECTION.DOWN') return;
        guarded(enqueue, context, (fx) => onDown(fx, context, event.connectionId, event.reason));
      }),
      handleRequestTimeout: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'COLLECTOR.REQUEST_TIMEOUT') return;
        guarded(enqueue, context, (fx) => onRequestTimeout(fx, context, event.requestId));
      }),
      handleBackfillDone: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event) || !event.actorId.startsWith('backfill:')) return;
        const reply = 'output' in event ? (event.output as HttpReply) : 'failed';
        guarded(enqueue, context, (fx) => onBackfillReply(fx, context, event.actorId, reply));
      }),
      handleBackfillRetry: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'COLLECTOR.BACKFILL_RETRY') return;
        const { symbol, url, headers } = event;
        guarded(enqueue, context, (fx) =>
          continueBackfill(fx, context, symbol, { kind: 'fetch', url, headers, delayMs: 0 }),
        );
      }),
      handleBackfillTimeout: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'COLLECTOR.BACKFILL_TIMEOUT') return;
        const symbol = event.symbol;
        guarded(enqueue, context, (fx) =>
          onBackfillReply(fx, context, `backfill:${symbol}`, 'failed'),
        );
      }),
      endBackfills: enqueueActions(({ context, enqueue }) => {
        for (const symbol of context.backfills) {
          enqueue.stopChild(`backfill:${symbol}`);
          enqueue.cancel(`backfill-timeout:${symbol}`);
          enqueue.cancel(`backfill-request-timeout:${symbol}`);
          enqueue.cancel(`backfill-retry:${symbol}`);
        }
        enqueue(() => deps.abortBackfills(context.collectorId));
        enqueue.assign({ backfills: [] });
      }),
      handleResync: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'COLLECTOR.RESYNC') return;
        guarded(enqueue, context, (fx) => onResyncDue(fx, context, event.key));
      }),
      retrySubscriptions: enqueueActions(({ context, enqueue }) =>
        guarded(enqueue, context, (fx) => onRetry(fx, context)),
      ),
      forgetConnection: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'CONNECTION.STOPPED') return;
        guarded(enqueue, context, (fx) => onStopped(fx, context, event.connectionId));
      }),
      recycleConnections: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.keys(context.connections)) {
          enqueue.sendTo(id, {
            type: 'CONNECTION.RECYCLE',
            reason: 'requested',
          } satisfies ConnectionCommand);
        }
      }),
      stopConnections: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.keys(context.connections)) {
          enqueue.sendTo(id, { type: 'CONNECTION.STOP' } satisfies ConnectionCommand);
        }
      }),
      dropConnections: enqueueActions(({ context, enqueue }) => {
        for (const id of Object.keys(context.connections)) enqueue.stopChild(id);
        // Delayed events outlive the state that raised them: cancel every one still pending.
        for (const id of Object.keys(context.requests)) enqueue.cancel(timeoutId(id));
        enqueue.cancel('retry-subscriptions');
        enqueue.assign({ connections: {}, requests: {}, handovers: {}, primary: {} });
      }),
      resetSubscriptions: assign({
        subscriptions: ({ context }) => {
          const subscriptions: Record<string, SubscriptionRecord> = {};
          for (const sub of Object.values(context.subscriptions)) {
            subscriptions[sub.key] =
              sub.state === 'failed'
                ? sub
                : withState(sub, 'pending', { requestId: undefined, connectionId: undefined });
          }
          return subscriptions;
        },
      }),
      noteFailure: assign({
        lastError: ({ event }) => (event.type === 'CONNECTION.FAILED' ? event.reason : undefined),
        lastErrorAt: () => deps.now(),
      }),
      answerProbe: sendParent(
        ({ context }): CollectorReport => ({
          type: 'COLLECTOR.ALIVE',
          collectorId: context.collectorId,
          reconnects: context.reconnects,
          allFailed: Object.values(context.subscriptions).every(isOut),
        }),
      ),
      // The only way into `error` is a connection refused for good (e.g. HTTP 451): restarting
      // would only repeat the refusal, so the supervisor is told it is permanent.
      reportCrash: sendParent(({ context }) => ({
        type: 'COLLECTOR.CRASHED',
        collectorId: context.collectorId,
        reason: context.lastError ?? 'error',
        permanent: true,
      })),
      // Only `error` is explained by the last error; a later stop is not "because of" it.
      reportState: ({ context }, params: { state: string }) =>
        deps.reportState(
          context,
          params.state,
          params.state === 'error' ? context.lastError : undefined,
        ),
    },
  }).createMachine({
    id: 'collector',
    context: ({ input }) => initialContext(input, deps.adapterFor(input.config.exchange)),
    initial: 'idle',
    states: {
      idle: {
        entry: { type: 'reportState', params: { state: 'idle' } },
        on: { 'COLLECTOR.START': 'running' },
      },
      running: {
        entry: [
          'resetSubscriptions',
          'openConnections',
          { type: 'reportState', params: { state: 'running' } },
        ],
        // Leaving `running` ends every backfill: held trades go out, what is missing is a gap.
        exit: 'endBackfills',
        on: {
          'CONNECTION.OPENED': { actions: 'handleOpened' },
          'CONNECTION.CONTROL': { actions: 'handleControl' },
          'CONNECTION.DOWN': { actions: 'handleDown' },
          'CONNECTION.STOPPED': { actions: 'forgetConnection' },
          'CONNECTION.FAILED': { target: 'error', actions: 'noteFailure' },
          'COLLECTOR.REQUEST_TIMEOUT': { actions: 'handleRequestTimeout' },
          'COLLECTOR.RETRY_SUBSCRIPTIONS': { actions: 'retrySubscriptions' },
          'COLLECTOR.RESYNC': { actions: 'handleResync' },
          'COLLECTOR.BACKFILL_RETRY': { actions: 'handleBackfillRetry' },
          'COLLECTOR.BACKFILL_TIMEOUT': { actions: 'handleBackfillTimeout' },
          'xstate.done.actor.*': { actions: 'handleBackfillDone' },
          'xstate.error.actor.*': { actions: 'handleBackfillDone' },
          'COLLECTOR.RECONNECT': { actions: 'recycleConnections' },
          'COLLECTOR.PROBE': { actions: 'answerProbe' },
          'COLLECTOR.STOP': 'stopping',
        },
      },
      stopping: {
        entry: ['stopConnections', { type: 'reportState', params: { state: 'stopping' } }],
        always: { guard: 'noConnectionsLeft', target: 'stopped' },
        on: { 'CONNECTION.STOPPED': { actions: 'forgetConnection' } },
        after: { stopTimeout: 'stopped' },
      },
      stopped: {
        // Nothing is subscribed any more: the status must not show subscriptions as active.
        entry: [
          'dropConnections',
          'resetSubscriptions',
          { type: 'reportState', params: { state: 'stopped' } },
        ],
        on: { 'COLLECTOR.START': 'running' },
      },
      error: {
        entry: [
          'dropConnections',
          { type: 'reportState', params: { state: 'error' } },
          'reportCrash',
        ],
        on: { 'COLLECTOR.START': 'running', 'COLLECTOR.STOP': 'stopped' },
      },
    },
  });
}

/** Failed and quarantined subscriptions are left out until the collector restarts. */
function isOut(sub: SubscriptionRecord): boolean {
  return isOutState(sub.state);
}

function initialContext(input: CollectorInput, adapter: ExchangeAdapter): CollectorContext {
  const subscriptions: Record<string, SubscriptionRecord> = {};
  for (const symbol of symbolsOf(input.config)) {
    for (const dataType of input.config.dataTypes) {
      const sub = newSubscription(
        adapter.channelFor(dataType, symbol, channelOptions(input.config)),
      );
      subscriptions[sub.key] = sub;
    }
  }
  return {
    collectorId: input.collectorId,
    config: input.config,
    subscriptions,
    requests: {},
    primary: {},
    connections: {},
    handovers: {},
    nextRequest: 1,
    nextConnection: 1,
    reconnects: 0,
    backfills: [],
    lastError: undefined,
    lastErrorAt: undefined,
  };
}

export type CollectorMachine = ReturnType<typeof createCollectorMachine>;
