import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { createInspector as createStatelyInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { AnyEventObject, InspectionEvent, MachineContext, Observer } from 'xstate';
import { CENSOR, isSecretKey } from '../config/redact.ts';
import { configError } from '../config/schema.ts';
import { redactSecrets, sanitizeError } from './logging.ts';

/**
 * `--inspect URL`: the actor tree's inspection events, in the Stately inspector's format, pushed
 * over a WebSocket to a relay (such as `@statelyai/inspect/server`) that a browser watches.
 *
 * Lifecycle only, by default: actor registrations and snapshots, not the raw event stream, and not
 * the connection heartbeat's chatter. Market data is never an XState event, so it cannot pass.
 * Every context, event and snapshot is sanitized on the way out: fields named like secrets are
 * replaced, and every string goes through `redactSecrets` (URL credentials, query strings, tokens).
 *
 * The conversion is the package's (`createInspector`); the WebSocket is ours. The package's own
 * WebSocket adapter (0.7.2) keeps retrying an unreachable relay every 5 s after `stop()`, on a
 * timer that keeps the process alive, and sends its whole backlog again after every reconnect.
 */

export interface InspectorOptions {
  /** `lifecycle` (default): registrations and state changes; `all`: every event too. */
  readonly detail?: 'lifecycle' | 'all';
  /** Events held while the relay is unreachable; registrations are kept longest (default 1000). */
  readonly maxPendingEvents?: number;
  /** Wait between attempts to reach the relay (default 5000); a real, unref'd timer. */
  readonly retryMs?: number;
  readonly logger?: Logger;
}

export interface Inspector extends Observer<InspectionEvent> {
  readonly next: (event: InspectionEvent) => void;
  /**
   * Sends what is already converted, closes the relay socket (1000, bounded) and drops whatever
   * could not be sent. Idempotent; events that arrive after it are ignored.
   */
  stop(): Promise<void>;
}

const DEFAULTS = { maxPendingEvents: 1_000, retryMs: 5_000 } as const;
const CLOSE_TIMEOUT_MS = 1_000;
const MAX_DEPTH = 10;
const MAX_STRING_CHARS = 2_000;

/**
 * Field names whose values never leave the process, at any depth: the secret keys of
 * src/config/redact.ts, and a collector's whole `credentials` block. Exact names, so that a
 * collector id such as `token-feed` stays readable.
 */
function isSecretField(key: string): boolean {
  return key === 'credentials' || isSecretKey(key);
}

/**
 * The connection machine's heartbeat (connection.ts, region `heartbeat`): a check, a ping, a pong
 * or activity every `pingIntervalMs` per connection. A missed pong still shows, as a transition
 * to `reconnecting`.
 */
const HEARTBEAT_EVENTS = new Set([
  'SOCKET.CHECK_IDLE',
  'SOCKET.ACTIVE',
  'SOCKET.PINGED',
  'SOCKET.PONG',
]);
const HEARTBEAT_DELAY_EVENT = 'xstate.after.idleCheck.';

export function createInspector(url: string, options: InspectorOptions = {}): Inspector {
  const target = parseRelayUrl(url);
  const relay = new RelaySocket(target, {
    maxPendingEvents: options.maxPendingEvents ?? DEFAULTS.maxPendingEvents,
    retryMs: options.retryMs ?? DEFAULTS.retryMs,
    logger: options.logger,
  });
  const lifecycleOnly = (options.detail ?? 'lifecycle') === 'lifecycle';
  const inspector = createStatelyInspector(relay, {
    filter: (event) => guarded(() => !lifecycleOnly || isLifecycleEvent(event), false),
    sanitizeContext: (context) => sanitize(context) as MachineContext,
    sanitizeEvent: (event) => sanitizeEvent(event),
    // The hooks above cover `context` and `event`; a callback actor's snapshot carries its
    // `input` (a URL) and a failed actor's its `error`: sanitize the whole snapshot too.
    serialize: (event) => sanitizeInspectionEvent(event),
  });
  inspector.start();
  let stopped: Promise<void> | undefined;
  return {
    next(event) {
      if (stopped === undefined) inspector.inspect.next?.(event);
    },
    stop() {
      stopped ??= relay.stop();
      return stopped;
    },
  };
}

function parseRelayUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
    throw configError([
      { field: 'inspect', received: redactSecrets(url), expected: 'a ws:// or wss:// URL' },
    ]);
  }
  return parsed.href;
}

function isLifecycleEvent(event: StatelyInspectionEvent): boolean {
  switch (event.type) {
    case '@xstate.actor':
      return true;
    case '@xstate.event':
      // Each snapshot names the event that caused it; the raw stream adds only noise.
      return false;
    case '@xstate.snapshot': {
      const cause = event.event?.type ?? '';
      if (HEARTBEAT_EVENTS.has(cause)) return false;
      if (cause.startsWith(HEARTBEAT_DELAY_EVENT)) return false;
      // An actor without states (the socket) changes only when it ends.
      const snapshot = event.snapshot as { value?: unknown; status?: unknown };
      return snapshot.value !== undefined || snapshot.status !== 'active';
    }
  }
}

function sanitizeEvent(event: AnyEventObject): AnyEventObject {
  const clean = sanitize(event);
  const type = typeof event.type === 'string' ? redactSecrets(event.type) : 'unknown';
  return isRecord(clean) ? { ...clean, type } : { type };
}

function sanitizeInspectionEvent(event: StatelyInspectionEvent): StatelyInspectionEvent {
  // `definition` is the machine's own config (names, no runtime data) and must stay valid JSON.
  switch (event.type) {
    case '@xstate.event':
      return { ...event, event: sanitizeEvent(event.event) };
    case '@xstate.actor':
      return { ...event, snapshot: sanitize(event.snapshot) as typeof event.snapshot };
    case '@xstate.snapshot':
      return {
        ...event,
        snapshot: sanitize(event.snapshot) as typeof event.snapshot,
        event: sanitizeEvent(event.event),
      };
  }
}

/**
 * A JSON-ready copy with secrets removed: secret-named fields replaced, strings redacted and
 * bounded, errors reduced to `sanitizeError`, `toJSON` honoured (actor refs, snapshots), cycles
 * and depth cut. Never throws.
 */
export function sanitize(value: unknown): unknown {
  return guarded(() => scrub(value, 0, new Set()), CENSOR);
}

function scrub(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (typeof value === 'string') return bound(redactSecrets(value));
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return sanitizeError(value);
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (ancestors.has(value)) return '[circular]';
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(value);
    if (json !== value) return scrub(json, depth, ancestors);
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1, ancestors) ?? null);
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = isSecretField(key) ? CENSOR : scrub(inner, depth + 1, ancestors);
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

function bound(text: string): string {
  return text.length <= MAX_STRING_CHARS ? text : `${text.slice(0, MAX_STRING_CHARS - 1)}…`;
}

/** Inspection runs inside XState's and the package's callbacks: a throw there kills the process. */
function guarded<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface RelayOptions {
  readonly maxPendingEvents: number;
  readonly retryMs: number;
  readonly logger: Logger | undefined;
}

/**
 * The `Adapter` of `@statelyai/inspect`: one WebSocket to the relay, reopened after a pause while
 * the inspector runs, closed for good by `stop()`. Events wait in a bounded queue while it is not
 * open; each is sent once.
 */
class RelaySocket {
  private socket: WebSocket | undefined;
  private retry: NodeJS.Timeout | undefined;
  private pending: { readonly registration: boolean; readonly text: string }[] = [];
  private stopped = false;
  private reported = false;

  constructor(
    private readonly url: string,
    private readonly options: RelayOptions,
  ) {}

  start(): void {
    if (this.stopped || this.socket !== undefined) return;
    const socket = new WebSocket(this.url, { perMessageDeflate: false });
    this.socket = socket;
    socket.on('open', () => {
      this.reported = false;
      this.options.logger?.info({ relay: redactSecrets(this.url) }, 'inspector relay connected');
      const queued = this.pending;
      this.pending = [];
      for (const { text } of queued) socket.send(text);
    });
    // 'close' follows 'error' too: one place decides about the next attempt.
    socket.on('error', (err) => {
      if (this.reported) return;
      this.reported = true;
      this.options.logger?.warn(
        { err, relay: redactSecrets(this.url), retryMs: this.options.retryMs },
        'inspector relay unreachable; retrying',
      );
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (this.stopped) return;
      this.retry = setTimeout(() => this.start(), this.options.retryMs);
      this.retry.unref();
    });
  }

  send(event: StatelyInspectionEvent): void {
    if (this.stopped) return;
    const text = guarded(() => JSON.stringify(event), undefined);
    if (text === undefined) return;
    const socket = this.socket;
    if (socket?.readyState === WebSocket.OPEN) {
      socket.send(text);
      return;
    }
    this.pending.push({ registration: event.type === '@xstate.actor', text });
    if (this.pending.length > this.options.maxPendingEvents) {
      // Without its registration an actor's snapshots mean nothing to the inspector: drop the
      // oldest snapshot first.
      const oldest = this.pending.findIndex((p) => !p.registration);
      this.pending.splice(oldest === -1 ? 0 : oldest, 1);
    }
  }

  async stop(): Promise<void> {
    // The package converts each inspection event on a `setTimeout(0)`: let the ones already
    // scheduled (the last transitions before stop) reach `send` first.
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.stopped = true;
    clearTimeout(this.retry);
    this.pending = [];
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return;
    // Closing a socket that is still connecting emits an error: nobody needs to hear it.
    socket.removeAllListeners('error');
    socket.on('error', () => undefined);
    if (socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (socket.readyState === WebSocket.CONNECTING) {
      socket.terminate();
    } else {
      socket.close(1000);
      const fallback = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS);
      fallback.unref();
      closed.then(() => clearTimeout(fallback));
    }
    await closed;
  }
}
