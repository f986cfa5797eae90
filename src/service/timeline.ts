import type { InspectionEvent, Observer } from 'xstate';
import { redactSecrets } from './logging.ts';

/**
 * The latest state transitions of the actor tree, for the dashboard, taken from XState's
 * inspection events. The observer runs inside XState's event loop for every snapshot of every
 * actor, so it does as little as it can: it keeps only snapshots whose state changed, and keeps
 * them in a bounded buffer.
 */

export interface TimelineEntry {
  /** 1, 2, 3… in order of arrival, so a reader can tell new entries from those it has shown. */
  readonly seq: number;
  readonly at: number;
  /** The actor's id: a collector id, a connection id (`okx-1/public#1`), or `supervisor`. */
  readonly actor: string;
  /** The machine's id: `supervisor`, `collector` or `connection`. */
  readonly machine: string;
  /** Undefined for an actor's first snapshot. */
  readonly from: string | undefined;
  readonly to: string;
  /** The event that caused the transition, e.g. `SOCKET.CLOSED`. */
  readonly event: string;
  readonly reason: string | undefined;
}

export interface Timeline {
  /** Pass as the manager's `inspect` option, or through `combineObservers`. */
  readonly observer: Observer<InspectionEvent>;
  /** Oldest first. */
  entries(): TimelineEntry[];
}

/**
 * The heartbeat of every open connection (connection.ts, region `heartbeat`): a check, a ping or
 * a pong every `pingIntervalMs`. A missed pong still shows: its transition is to `reconnecting`.
 */
const NOISE_EVENTS = new Set([
  'SOCKET.CHECK_IDLE',
  'SOCKET.ACTIVE',
  'SOCKET.PINGED',
  'SOCKET.PONG',
]);
const NOISE_DELAY_PREFIX = 'xstate.after.idleCheck.';
/** Regions left out of a state's label, so their rhythm does not count as a change. */
const NOISE_REGIONS = new Set(['heartbeat']);
/** States whose substates are the silence judge's rhythm (watching, judging, judged). */
const LEAF_STATES = new Set(['subscribed']);
/**
 * States that only group others (connection.ts: `live`, its `open`, the `subscription` region):
 * left out of labels, which then read as the status's words (`connecting`, `subscribed`).
 */
const GROUPING_STATES = new Set(['live', 'open', 'subscription']);
const DELAY_EVENT_PREFIX = 'xstate.after.';
/** Entering one of these, the machine's context says why. */
const REASONED_STATES = new Set(['reconnecting', 'error', 'failed', 'backoff']);
const MAX_TEXT_CHARS = 200;

interface SnapshotLike {
  readonly value?: unknown;
  readonly status?: unknown;
  readonly machine?: { readonly id?: unknown };
  readonly context?: { readonly lastReason?: unknown; readonly lastError?: unknown };
}

export function createTimeline(limit = 200, now: () => number = Date.now): Timeline {
  const buffer: TimelineEntry[] = [];
  // Keyed by the actor ref, so an actor that is gone takes its entry with it.
  const labels = new WeakMap<object, string>();
  let seq = 0;

  function next(event: InspectionEvent): void {
    if (event.type !== '@xstate.snapshot') return;
    const cause = event.event.type;
    if (NOISE_EVENTS.has(cause) || cause.startsWith(NOISE_DELAY_PREFIX)) return;
    const snapshot = event.snapshot as SnapshotLike;
    // Actors without states (the socket) have nothing to show.
    if (snapshot.value === undefined) return;
    const to = stateLabel(snapshot.value);
    const from = labels.get(event.actorRef);
    if (from === to) return;
    labels.set(event.actorRef, to);
    const machine = typeof snapshot.machine?.id === 'string' ? snapshot.machine.id : 'machine';
    const ref = event.actorRef as { readonly id?: unknown };
    const id = typeof ref.id === 'string' ? ref.id : event.actorRef.sessionId;
    buffer.push({
      seq: ++seq,
      at: now(),
      // The root actor's id is XState's `x:0`; people know it as the supervisor.
      actor: /^x:\d+$/.test(id) ? machine : bound(id),
      machine,
      from,
      to,
      event: bound(eventLabel(cause)),
      reason: reasonOf(event.event, snapshot, to),
    });
    if (buffer.length > limit) buffer.shift();
  }

  return {
    observer: { next: (event) => guarded(() => next(event)) },
    entries: () => [...buffer],
  };
}

/**
 * One observer that hands every event to each of several (the dashboard's timeline and the
 * `--inspect` relay). One that throws does not keep the event from the others.
 */
export function combineObservers<T>(
  ...observers: readonly (Observer<T> | ((event: T) => void) | undefined)[]
): Observer<T> {
  const nexts = observers
    .filter((o) => o !== undefined)
    .map((o) => (typeof o === 'function' ? o : (event: T) => o.next?.(event)));
  return {
    next(event) {
      for (const next of nexts) guarded(() => next(event));
    },
  };
}

/**
 * `queued`, `connecting`, `subscribed`, `running.watching`; parallel regions in braces,
 * `a.{b | c}`. Noise regions, grouping states and the substates of leaf states are left out.
 */
export function stateLabel(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  const parts = Object.entries(value)
    .filter(([key]) => !NOISE_REGIONS.has(key))
    .map(([key, inner]) => {
      if (LEAF_STATES.has(key)) return key;
      return GROUPING_STATES.has(key) ? stateLabel(inner) : `${key}.${stateLabel(inner)}`;
    });
  return parts.length === 1 ? (parts[0] ?? '') : `{${parts.join(' | ')}}`;
}

/** `xstate.after.backoffDelay.connection.reconnecting` reads `after backoffDelay`, as drawn. */
function eventLabel(type: string): string {
  if (!type.startsWith(DELAY_EVENT_PREFIX)) return type;
  return `after ${type.slice(DELAY_EVENT_PREFIX.length).split('.')[0]}`;
}

function reasonOf(
  event: { readonly type: string; readonly reason?: unknown },
  snapshot: SnapshotLike,
  to: string,
): string | undefined {
  // The machine's own account first: a close event's `reason` is the peer's text, often empty.
  const state = to.slice(to.lastIndexOf('.') + 1);
  const why = REASONED_STATES.has(state)
    ? (snapshot.context?.lastReason ?? snapshot.context?.lastError)
    : undefined;
  if (typeof why === 'string' && why !== '') return bound(why);
  return typeof event.reason === 'string' && event.reason !== '' ? bound(event.reason) : undefined;
}

/** Reasons and ids come from the network and from errors: no credential may reach a page. */
function bound(text: string): string {
  const clean = redactSecrets(text);
  return clean.length <= MAX_TEXT_CHARS ? clean : `${clean.slice(0, MAX_TEXT_CHARS - 1)}…`;
}

/** Inspection runs inside XState's loop: a throw here would reach the actor that was observed. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch {
    // The timeline loses one entry; the runtime loses nothing.
  }
}
