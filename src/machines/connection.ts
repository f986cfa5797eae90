import { assign, enqueueActions, sendParent, sendTo, setup } from 'xstate';
import type { TimersConfig } from '../config/schema.ts';
import type { ControlMessage } from '../exchanges/types.ts';
import type { FaultCode } from '../streams/faults.ts';
import { backoffDelayMs } from './backoff.ts';
import type { createSocketLogic, SocketCommand, SocketEvent, SocketInput } from './socket.ts';

/**
 * The connection statechart: one WebSocket's life, from the first attempt to the last close.
 *
 *   queued ──▶ live ─────────────────────────────┬──▶ reconnecting ──▶ queued
 *              ├─ connecting (connect timeout)    │        (backoff)
 *              ├─ open ∥ heartbeat: waiting ⇄ checking ─▶ awaitingPong (pong timeout)
 *              │       ∥ subscription: subscribing ─▶ subscribed (data silence)
 *              └─ closing (close handshake, bounded)
 *   error: refused for good, until RETRY         stopped: final
 *
 * The socket actor is invoked on `live`, so it exists exactly while the machine is in `live`:
 * entering `reconnecting` destroys it, and a timer of `live` can never act on the next socket.
 */

export interface ConnectionInput {
  readonly collectorId: string;
  readonly connectionId: string;
  readonly exchange: string;
  readonly group: string;
  readonly url: string;
  readonly ping: string;
  readonly pong: string;
  readonly connectionsPerSecond: number;
  readonly timers: TimersConfig;
  /** Silence thresholds of the data types this connection carries (0 = off). */
  readonly silenceMs: Readonly<Record<string, number>>;
}

export interface ConnectionContext extends ConnectionInput {
  /** Reconnect attempts since the connection was last stable. */
  attempt: number;
  reconnects: number;
  backoffMs: number;
  queueMs: number;
  nextIdleCheckMs: number;
  nextSilenceCheckMs: number;
  lastReason: string | undefined;
  openedAt: number | undefined;
  subscribedAt: number | undefined;
  /** The data type found silent past its threshold by the last silence check. */
  stalledType: string | undefined;
  /** Consecutive upgrades refused with a status that retrying will not change. */
  permanentRefusals: number;
}

/** Commands from the collector. */
export type ConnectionCommand =
  | { readonly type: 'CONNECTION.SEND'; readonly frames: readonly string[] }
  /** Every wanted subscription on this connection is settled: start judging data silence. */
  | { readonly type: 'CONNECTION.SUBSCRIBED' }
  /** Drop the socket and connect again (a stall, a manual reconnect). */
  | { readonly type: 'CONNECTION.RECYCLE'; readonly reason: string }
  | { readonly type: 'CONNECTION.RETRY' }
  | { readonly type: 'CONNECTION.STOP' };

/** What a connection tells its collector. */
export type ConnectionReport =
  | { readonly type: 'CONNECTION.OPENED'; readonly connectionId: string; readonly group: string }
  | { readonly type: 'CONNECTION.DOWN'; readonly connectionId: string; readonly reason: string }
  | {
      readonly type: 'CONNECTION.CONTROL';
      readonly connectionId: string;
      readonly control: ControlMessage;
    }
  | { readonly type: 'CONNECTION.FAILED'; readonly connectionId: string; readonly reason: string }
  | { readonly type: 'CONNECTION.STOPPED'; readonly connectionId: string };

/** Silence check result, asked of the feed. */
export interface SilenceVerdict {
  readonly stalled: string | undefined;
  readonly silentMs: number;
  readonly nextCheckMs: number;
}

export interface ConnectionDeps {
  readonly socket: ReturnType<typeof createSocketLogic>;
  readonly now: () => number;
  readonly random: () => number;
  /** 0 when a connection attempt may start now (and it is counted), else how long to wait. */
  readonly reserveConnectSlot: (exchange: string, perSecond: number) => number;
  /** How long each data type has been silent since `since`, judged against thresholds. */
  readonly judgeSilence: (
    collectorId: string,
    since: number,
    thresholds: Readonly<Record<string, number>>,
  ) => SilenceVerdict;
  readonly reportState: (context: ConnectionContext, state: string, reason?: string) => void;
  readonly reportReconnect: (context: ConnectionContext) => void;
  readonly reportFault: (context: ConnectionContext, code: FaultCode, message: string) => void;
}

const REASONED_STATES = new Set(['reconnecting', 'error']);

/** Upgrade statuses that a retry will not change (wrong path, forbidden, blocked by law). */
function isPermanentRefusal(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

const MAX_PERMANENT_REFUSALS = 3;
/** How long a graceful close may wait for the peer's close frame before the socket is destroyed. */
const CLOSE_TIMEOUT_MS = 1_000;

function describeClose(event: Extract<SocketEvent, { type: 'SOCKET.CLOSED' }>): string {
  if (event.status !== undefined) return `http-${event.status}`;
  if (event.error !== undefined && event.code === 1006) return 'connect-failed';
  return `closed-${event.code}`;
}

export function createConnectionMachine(deps: ConnectionDeps) {
  return setup({
    types: {
      context: {} as ConnectionContext,
      input: {} as ConnectionInput,
      events: {} as ConnectionCommand | SocketEvent,
    },
    actors: { socket: deps.socket },
    delays: {
      queueDelay: ({ context }) => context.queueMs,
      connectTimeout: ({ context }) => context.timers.connectTimeoutMs,
      idleCheck: ({ context }) => context.nextIdleCheckMs,
      pongTimeout: ({ context }) => context.timers.pongTimeoutMs,
      silenceCheck: ({ context }) => context.nextSilenceCheckMs,
      stableAfter: ({ context }) => context.timers.backoff.stableAfterMs,
      backoffDelay: ({ context }) => context.backoffMs,
      closeTimeout: CLOSE_TIMEOUT_MS,
    },
    guards: {
      slotIsFree: ({ context }) => context.queueMs === 0,
      refusedForGood: ({ context, event }) =>
        event.type === 'SOCKET.CLOSED' &&
        isPermanentRefusal(event.status) &&
        context.permanentRefusals + 1 >= MAX_PERMANENT_REFUSALS,
      silenceJudged: ({ context }) => Object.values(context.silenceMs).some((ms) => ms > 0),
      stalled: ({ context }) => context.stalledType !== undefined,
    },
    actions: {
      reserveSlot: assign({
        queueMs: ({ context }) =>
          deps.reserveConnectSlot(context.exchange, context.connectionsPerSecond),
      }),
      noteOpened: assign({
        openedAt: () => deps.now(),
        nextIdleCheckMs: ({ context }) => context.timers.pingIntervalMs,
        permanentRefusals: 0,
      }),
      noteSubscribed: assign({
        subscribedAt: () => deps.now(),
        nextSilenceCheckMs: ({ context }) => firstSilenceCheckMs(context.silenceMs),
      }),
      noteClosed: assign(({ context, event }) => {
        if (event.type !== 'SOCKET.CLOSED') return {};
        return {
          lastReason: describeClose(event),
          permanentRefusals: isPermanentRefusal(event.status) ? context.permanentRefusals + 1 : 0,
        };
      }),
      noteReason: assign({
        lastReason: (_, params: { reason: string }) => params.reason,
      }),
      noteRecycle: assign({
        lastReason: ({ event }) => (event.type === 'CONNECTION.RECYCLE' ? event.reason : undefined),
      }),
      scheduleBackoff: assign(({ context }) => {
        const attempt = context.attempt + 1;
        return {
          attempt,
          reconnects: context.reconnects + 1,
          backoffMs: backoffDelayMs(attempt, context.timers.backoff, deps.random),
          openedAt: undefined,
          subscribedAt: undefined,
          stalledType: undefined,
        };
      }),
      resetAttempts: assign({ attempt: 0 }),
      checkIdle: sendTo(
        'socket',
        ({ context }): SocketCommand => ({
          type: 'SOCKET.CHECK_IDLE',
          pingIntervalMs: context.timers.pingIntervalMs,
        }),
      ),
      rearmIdleCheck: assign({
        nextIdleCheckMs: ({ context, event }) =>
          event.type === 'SOCKET.ACTIVE'
            ? Math.max(1, context.timers.pingIntervalMs - event.idleMs)
            : context.timers.pingIntervalMs,
      }),
      forwardFrames: sendTo(
        'socket',
        ({ event }): SocketCommand => ({
          type: 'SOCKET.SEND',
          frames: event.type === 'CONNECTION.SEND' ? event.frames : [],
        }),
      ),
      closeSocket: sendTo('socket', { type: 'SOCKET.CLOSE' } satisfies SocketCommand),
      judgeSilence: assign(({ context }) => {
        const verdict = deps.judgeSilence(
          context.collectorId,
          context.subscribedAt ?? deps.now(),
          context.silenceMs,
        );
        return {
          nextSilenceCheckMs: Math.max(1, verdict.nextCheckMs),
          stalledType: verdict.stalled,
          lastReason: verdict.stalled === undefined ? context.lastReason : 'data-stall',
        };
      }),
      tellOpened: sendParent(
        ({ context }): ConnectionReport => ({
          type: 'CONNECTION.OPENED',
          connectionId: context.connectionId,
          group: context.group,
        }),
      ),
      // Runs on entry to `reconnecting`, after the transition recorded its reason; an exit action
      // of `open` would run before that and report the previous reason.
      tellDownIfWasOpen: enqueueActions(({ context, enqueue }) => {
        if (context.openedAt === undefined) return;
        enqueue.sendParent({
          type: 'CONNECTION.DOWN',
          connectionId: context.connectionId,
          reason: context.lastReason ?? 'unknown',
        } satisfies ConnectionReport);
      }),
      tellControl: sendParent(({ context, event }): ConnectionReport => {
        const control: ControlMessage =
          event.type === 'SOCKET.CONTROL' ? event.control : { kind: 'info', event: 'none' };
        return { type: 'CONNECTION.CONTROL', connectionId: context.connectionId, control };
      }),
      tellFailed: sendParent(
        ({ context }): ConnectionReport => ({
          type: 'CONNECTION.FAILED',
          connectionId: context.connectionId,
          reason: context.lastReason ?? 'unknown',
        }),
      ),
      tellStopped: sendParent(
        ({ context }): ConnectionReport => ({
          type: 'CONNECTION.STOPPED',
          connectionId: context.connectionId,
        }),
      ),
      // Only the states a reason explains carry one; a later `connecting` is not "because of" it.
      reportState: ({ context }, params: { state: string }) =>
        deps.reportState(
          context,
          params.state,
          REASONED_STATES.has(params.state) ? context.lastReason : undefined,
        ),
      reportSocketError: ({ context, event }) => {
        // A refused upgrade is its status (e.g. http-451), not also a socket error.
        if (event.type !== 'SOCKET.CLOSED' || event.error === undefined) return;
        if (event.status !== undefined) return;
        deps.reportFault(context, 'socket-error', event.error);
      },
      reportRefusal: ({ context }) =>
        deps.reportFault(
          context,
          'connect-refused-permanently',
          `${context.url}: ${context.lastReason ?? 'refused'} ${MAX_PERMANENT_REFUSALS} times`,
        ),
      reportReconnect: ({ context }) => deps.reportReconnect(context),
    },
  }).createMachine({
    id: 'connection',
    context: ({ input }) => ({
      ...input,
      attempt: 0,
      reconnects: 0,
      backoffMs: 0,
      queueMs: 0,
      nextIdleCheckMs: input.timers.pingIntervalMs,
      nextSilenceCheckMs: 0,
      lastReason: undefined,
      openedAt: undefined,
      subscribedAt: undefined,
      stalledType: undefined,
      permanentRefusals: 0,
    }),
    initial: 'queued',
    on: {
      'CONNECTION.STOP': '.stopped',
    },
    states: {
      /** Waiting for a slot under the exchange's connections-per-second limit. */
      queued: {
        entry: ['reserveSlot', { type: 'reportState', params: { state: 'queued' } }],
        always: { guard: 'slotIsFree', target: 'live' },
        // Ask again when the wait is over: another connection may have taken the slot.
        after: { queueDelay: { target: 'queued', reenter: true } },
      },
      live: {
        invoke: {
          id: 'socket',
          src: 'socket',
          input: ({ context }): SocketInput => ({
            url: context.url,
            collectorId: context.collectorId,
            connectionId: context.connectionId,
            ping: context.ping,
            pong: context.pong,
          }),
        },
        initial: 'connecting',
        on: {
          'SOCKET.CLOSED': [
            {
              guard: 'refusedForGood',
              target: 'error',
              actions: ['noteClosed', 'reportSocketError'],
            },
            { target: 'reconnecting', actions: ['noteClosed', 'reportSocketError'] },
          ],
          'CONNECTION.STOP': '.closing',
          'CONNECTION.RECYCLE': { target: 'reconnecting', actions: 'noteRecycle' },
        },
        states: {
          connecting: {
            entry: { type: 'reportState', params: { state: 'connecting' } },
            after: {
              connectTimeout: {
                target: '#connection.reconnecting',
                actions: { type: 'noteReason', params: { reason: 'connect-timeout' } },
              },
            },
            on: { 'SOCKET.OPEN': { target: 'open', actions: 'noteOpened' } },
          },
          open: {
            type: 'parallel',
            entry: 'tellOpened',
            after: { stableAfter: { actions: 'resetAttempts' } },
            on: {
              'CONNECTION.SEND': { actions: 'forwardFrames' },
              'SOCKET.CONTROL': { actions: 'tellControl' },
            },
            states: {
              heartbeat: {
                initial: 'waiting',
                states: {
                  waiting: {
                    after: { idleCheck: 'checking' },
                  },
                  checking: {
                    entry: 'checkIdle',
                    on: {
                      'SOCKET.ACTIVE': { target: 'waiting', actions: 'rearmIdleCheck' },
                      'SOCKET.PINGED': 'awaitingPong',
                    },
                  },
                  awaitingPong: {
                    after: {
                      pongTimeout: {
                        target: '#connection.reconnecting',
                        actions: { type: 'noteReason', params: { reason: 'pong-timeout' } },
                      },
                    },
                    on: { 'SOCKET.PONG': { target: 'waiting', actions: 'rearmIdleCheck' } },
                  },
                },
              },
              subscription: {
                initial: 'subscribing',
                states: {
                  subscribing: {
                    entry: { type: 'reportState', params: { state: 'subscribing' } },
                    on: { 'CONNECTION.SUBSCRIBED': 'subscribed' },
                  },
                  subscribed: {
                    entry: [
                      'noteSubscribed',
                      { type: 'reportState', params: { state: 'subscribed' } },
                    ],
                    initial: 'watching',
                    states: {
                      watching: {
                        always: { guard: { type: 'silenceJudged' }, target: 'judging' },
                      },
                      judging: {
                        after: {
                          silenceCheck: { target: 'judged', actions: 'judgeSilence' },
                        },
                      },
                      judged: {
                        always: [
                          { guard: 'stalled', target: '#connection.reconnecting' },
                          { target: 'judging' },
                        ],
                      },
                    },
                  },
                },
              },
            },
          },
          /** Graceful close: 1000 sent, waiting for the peer's close frame, bounded. */
          closing: {
            entry: ['closeSocket', { type: 'reportState', params: { state: 'closing' } }],
            on: { 'SOCKET.CLOSED': '#connection.stopped', 'CONNECTION.RECYCLE': {} },
            after: { closeTimeout: '#connection.stopped' },
          },
        },
      },
      reconnecting: {
        entry: [
          'tellDownIfWasOpen',
          'scheduleBackoff',
          { type: 'reportState', params: { state: 'reconnecting' } },
          'reportReconnect',
        ],
        after: { backoffDelay: 'queued' },
        on: { 'CONNECTION.RECYCLE': 'queued' },
      },
      /** Refused for good (e.g. HTTP 451): no retry until someone asks. */
      error: {
        entry: [{ type: 'reportState', params: { state: 'error' } }, 'reportRefusal', 'tellFailed'],
        on: { 'CONNECTION.RETRY': 'queued' },
      },
      stopped: {
        type: 'final',
        entry: [{ type: 'reportState', params: { state: 'stopped' } }, 'tellStopped'],
      },
    },
  });
}

/** The first silence check after subscribing: the smallest active threshold. */
function firstSilenceCheckMs(thresholds: Readonly<Record<string, number>>): number {
  const active = Object.values(thresholds).filter((ms) => ms > 0);
  return active.length === 0 ? 0 : Math.min(...active);
}

export type ConnectionMachine = ReturnType<typeof createConnectionMachine>;
