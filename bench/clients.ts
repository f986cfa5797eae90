import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { type RawData } from 'ws';

/** Bare `ws` clients and the small helpers every measurement shares. */

/** Connects to `url`, subscribes to `trades` of `instIds` and waits for every ack. */
export async function openSubscribed(url: string, instIds: readonly string[]): Promise<WebSocket> {
  // As the collector's socket does: compression costs CPU on every frame.
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await once(ws, 'open');
  const args = instIds.map((instId) => ({ channel: 'trades', instId }));
  let acks = 0;
  const acked = new Promise<void>((resolve, reject) => {
    const onMessage = (data: RawData): void => {
      const reply = JSON.parse(data.toString()) as { event?: unknown; msg?: unknown };
      if (reply.event === 'error') reject(new Error(`subscribe refused: ${String(reply.msg)}`));
      if (reply.event === 'subscribe' && ++acks === args.length) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
  ws.send(JSON.stringify({ id: '1', op: 'subscribe', args }));
  await acked;
  return ws;
}

export async function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, 'close');
  ws.close(1000);
  await closed;
}

/** Polls `predicate` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Timing {
  readonly frames: number;
  /** From the first frame's arrival to the last's: `frames - 1` intervals. */
  readonly ms: number;
  /**
   * CPU time of this process (user + system, all threads) over the same interval. On a shared
   * machine it barely moves when another process takes the core, which wall time does.
   */
  readonly cpuMs: number;
}

export function perSecond(timing: Timing): number {
  return ((timing.frames - 1) * 1000) / timing.ms;
}

export function perCpuSecond(timing: Timing): number {
  return ((timing.frames - 1) * 1000) / timing.cpuMs;
}

export interface Counter {
  /** Call once per frame or event; allocates on the first and the last call only. */
  readonly tick: () => void;
  readonly count: () => number;
  /** Resolves when `expected` ticks have happened. */
  readonly done: Promise<Timing>;
}

export function createCounter(expected: number): Counter {
  let count = 0;
  let firstAt = 0;
  let firstCpu: NodeJS.CpuUsage | undefined;
  let finish: (timing: Timing) => void = () => {};
  const done = new Promise<Timing>((resolve) => {
    finish = resolve;
  });
  const tick = (): void => {
    if (count === 0) {
      firstAt = performance.now();
      firstCpu = process.cpuUsage();
    }
    if (++count !== expected) return;
    const ms = performance.now() - firstAt;
    const cpu = process.cpuUsage(firstCpu);
    finish({ frames: count, ms, cpuMs: (cpu.user + cpu.system) / 1000 });
  };
  return { tick, count: () => count, done };
}

/** How long a round may go without one more frame before it is declared lost. */
const STALL_MS = 3_000;

/** `counter.done`, or an error saying how far it got once nothing arrives for `STALL_MS`. */
export async function unlessStalled(counter: Counter, expected: number): Promise<Timing> {
  let seen = -1;
  let seenAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setInterval(() => {
      if (counter.count() !== seen) {
        seen = counter.count();
        seenAt = Date.now();
      } else if (Date.now() - seenAt > STALL_MS) {
        reject(new Error(`only ${seen} of ${expected} arrived; nothing more for ${STALL_MS} ms`));
      }
    }, 250);
  });
  try {
    return await Promise.race([counter.done, stalled]);
  } finally {
    clearInterval(timer);
  }
}
