import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { fromCallback } from 'xstate';
import type { ControlMessage } from '../exchanges/types.ts';
import type { Clock } from './clock.ts';

/**
 * The actor that owns one WebSocket. It lives exactly as long as the connection machine's `live`
 * state: leaving that state stops it, and stopping it destroys the socket. It never schedules
 * anything; every timer belongs to the machine, which asks this actor what it saw.
 */

export interface SocketInput {
  readonly url: string;
  readonly collectorId: string;
  readonly connectionId: string;
  readonly ping: string;
  readonly pong: string;
}

/** Commands the connection machine sends to its socket. */
export type SocketCommand =
  | { readonly type: 'SOCKET.SEND'; readonly frames: readonly string[] }
  /** Was anything received in the last `pingIntervalMs`? If not, ping. */
  | { readonly type: 'SOCKET.CHECK_IDLE'; readonly pingIntervalMs: number }
  /** Close with 1000 and wait for the peer's close frame. */
  | { readonly type: 'SOCKET.CLOSE' };

/** What the socket reports to the connection machine. */
export type SocketEvent =
  | { readonly type: 'SOCKET.OPEN' }
  | {
      readonly type: 'SOCKET.CLOSED';
      readonly code: number;
      readonly reason: string;
      /** HTTP status when the upgrade was refused. */
      readonly status: number | undefined;
      readonly error: string | undefined;
    }
  | { readonly type: 'SOCKET.ACTIVE'; readonly idleMs: number }
  | { readonly type: 'SOCKET.PINGED' }
  | { readonly type: 'SOCKET.PONG' }
  | { readonly type: 'SOCKET.CONTROL'; readonly control: ControlMessage };

/** The part of a collector's feed a socket hands frames to. */
export interface FrameSink {
  /** Parses and delivers one text frame; returns its control message, if any. */
  ingest(text: string, connectionId: string, receivedAt: number): ControlMessage | undefined;
  /** A frame that could not be read as text. */
  rejectBinary(size: number, connectionId: string): void;
  /** An exception from parsing a frame, counted as `internal-error`. */
  reportInternal(error: unknown, connectionId: string): void;
  /**
   * A heartbeat reply came: time passed on a socket that may carry no data at all, for watches
   * that otherwise run on frames. Returns a control message, if one is due.
   */
  heard?(connectionId: string, receivedAt: number): ControlMessage | undefined;
}

export interface SocketDeps {
  readonly clock: Clock;
  /** The feed of a collector, by collector id. */
  readonly sinkFor: (collectorId: string) => FrameSink | undefined;
  /** Every live socket of the runtime, so `stopAll()` can wait for the last close. */
  readonly sockets: SocketTracker;
  /** Largest frame accepted, bytes. */
  readonly maxPayloadBytes?: number;
}

/** Counts live sockets and resolves waiters when none is left. */
export class SocketTracker {
  private readonly live = new Set<WebSocket>();
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.live.size;
  }

  add(socket: WebSocket): void {
    this.live.add(socket);
  }

  delete(socket: WebSocket): void {
    if (!this.live.delete(socket) || this.live.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  whenIdle(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

const noop = (): void => {};

export function createSocketLogic(deps: SocketDeps) {
  return fromCallback<SocketCommand, SocketInput, SocketEvent>(
    ({ input, sendBack, receive, self }) => {
      const { clock, sockets } = deps;
      const sink = deps.sinkFor(input.collectorId);
      let disposed = false;
      let closedReported = false;
      let lastInboundAt = clock.now();
      let httpStatus: number | undefined;
      let lastError: string | undefined;

      const ws = new WebSocket(input.url, {
        // Compression costs CPU on every frame and OKX does not need it.
        perMessageDeflate: false,
        // The connect timeout is the machine's (`connectTimeout`), not ws's own timer.
        maxPayload: deps.maxPayloadBytes ?? 16 * 1024 * 1024,
      });
      sockets.add(ws);

      // Nothing thrown here may escape: an exception in a ws handler becomes an
      // uncaughtException (xstate #5433), so every handler reports through sendBack only.
      const report = (event: SocketEvent): void => {
        if (!disposed) sendBack(event);
      };

      ws.on('open', () => {
        lastInboundAt = clock.now();
        report({ type: 'SOCKET.OPEN' });
      });

      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        if (disposed) return;
        lastInboundAt = clock.now();
        if (isBinary) {
          sink?.rejectBinary(byteLength(data), input.connectionId);
          return;
        }
        const text = typeof data === 'string' ? data : data.toString();
        // OKX answers the text `ping` with the 4-byte text `pong`; it is not JSON.
        if (text === input.pong) {
          report({ type: 'SOCKET.PONG' });
          const due = sink?.heard?.(input.connectionId, lastInboundAt);
          if (due !== undefined) report({ type: 'SOCKET.CONTROL', control: due });
          return;
        }
        let control: ControlMessage | undefined;
        try {
          control = sink?.ingest(text, input.connectionId, lastInboundAt);
        } catch (error) {
          // The adapter contract says parse never throws; if one does, the frame is a counted
          // fault and the socket lives on (an exception here would end the process).
          sink?.reportInternal(error, input.connectionId);
          return;
        }
        if (control !== undefined) report({ type: 'SOCKET.CONTROL', control });
      });

      ws.on('unexpected-response', (_request, response: IncomingMessage) => {
        httpStatus = response.statusCode;
        lastError = `upgrade refused with HTTP ${response.statusCode}`;
        response.resume();
        ws.terminate();
      });

      ws.on('error', (error: Error) => {
        // `error` is always followed by `close`; only `close` reports, so a failure schedules
        // exactly one reconnect.
        lastError = error.message;
      });

      ws.on('close', (code: number, reason: Buffer) => {
        sockets.delete(ws);
        if (closedReported) return;
        closedReported = true;
        report({
          type: 'SOCKET.CLOSED',
          code,
          reason: reason.toString(),
          status: httpStatus,
          error: lastError,
        });
      });

      receive((command) => {
        if (disposed) return;
        switch (command.type) {
          case 'SOCKET.SEND':
            if (ws.readyState !== WebSocket.OPEN) return;
            for (const frame of command.frames) ws.send(frame);
            return;
          case 'SOCKET.CHECK_IDLE': {
            const idleMs = clock.now() - lastInboundAt;
            if (idleMs < command.pingIntervalMs) {
              report({ type: 'SOCKET.ACTIVE', idleMs });
              return;
            }
            if (ws.readyState === WebSocket.OPEN) ws.send(input.ping);
            report({ type: 'SOCKET.PINGED' });
            return;
          }
          case 'SOCKET.CLOSE':
            if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'client stopping');
            else ws.terminate();
            return;
        }
      });

      let watches: Array<{ unsubscribe(): void }> = [];
      const dispose = () => {
        if (disposed) return;
        disposed = true;
        for (const watch of watches) watch.unsubscribe();
        ws.removeAllListeners('open');
        ws.removeAllListeners('message');
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        // Closing a socket that is still connecting emits an error; swallow it.
        ws.on('error', noop);
        // Never wait out a close handshake here: the machine already decided this socket is done.
        if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
        else sockets.delete(ws);
      };
      // An ancestor that fails because one of its own actions threw does not stop its children
      // (xstate #5153): the socket would live on. So the socket watches every ancestor itself.
      watches = watchAncestors(self, dispose);
      return dispose;
    },
  );
}

interface Watchable {
  readonly _parent?: Watchable;
  subscribe(observer: { error: () => void; complete: () => void }): { unsubscribe(): void };
}

function watchAncestors(self: unknown, onEnd: () => void): Array<{ unsubscribe(): void }> {
  const watches: Array<{ unsubscribe(): void }> = [];
  // `_parent` is XState's link from an actor to the one that spawned or invoked it.
  for (
    let actor = (self as Watchable)._parent;
    actor?._parent !== undefined;
    actor = actor._parent
  ) {
    watches.push(actor.subscribe({ error: onEnd, complete: onEnd }));
  }
  return watches;
}

function byteLength(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
