import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises';
import type WebSocket from 'ws';
import { createCollectorManager } from '../src/index.ts';
import { closeSocket, openSubscribed, until } from './clients.ts';
import type { ReplayServer } from './server-process.ts';

/**
 * Heap per idle collector: the growth of `heapUsed` after full collections while members are
 * added, divided by their number. The baseline already holds a few warm-up members, so what is paid
 * once (the manager, compiled code, first-use caches) stays out; the growth over the second half
 * alone (`marginalBytesEach`) shows whether anything is left of it. Three cases separate the costs:
 *
 * - `added`: collectors added to a manager that was never started: machines, feed, config;
 * - `subscribed`: started and subscribed: adds the connection machine, the socket actor, the
 *   `ws` client with its `net.Socket`, and their timers;
 * - `bare`: plain `ws` clients, connected and subscribed: the socket alone, no product code.
 */

export const HEAP_CASES = ['added', 'subscribed', 'bare'] as const;
export type HeapCase = (typeof HEAP_CASES)[number];

export interface HeapResult {
  readonly case: HeapCase;
  readonly count: number;
  readonly heapBytesEach: number;
  /** Growth per member over the second half only. */
  readonly marginalBytesEach: number;
  /** Buffers and other memory outside the V8 heap; not part of the aim, shown for honesty. */
  readonly externalBytesEach: number;
  readonly ms: number;
}

/** OKX allows 3 connection attempts per second per IP; the runtime paces itself to match. */
export const CONNECTS_PER_SECOND = 3;
const WARM_UP_MEMBERS = 3;
const UNPACED_FACTOR = 4;
const WARM_UP_PING_MS = 250;
const GC_PASSES = 6;

interface Memory {
  readonly heapUsed: number;
  readonly external: number;
}

/** Adds members `from` to `to - 1` and resolves once they are all settled. */
type Grow = (from: number, to: number) => Promise<void>;

/**
 * Members measured: `collectors` when they must connect (paced), four times as many otherwise.
 * Compiled code lands on the heap too, and more members dilute it.
 */
export function memberCount(heapCase: HeapCase, collectors: number): number {
  return heapCase === 'subscribed' ? collectors : collectors * UNPACED_FACTOR;
}

export async function measureHeap(
  server: ReplayServer,
  heapCase: HeapCase,
  collectors: number,
): Promise<HeapResult> {
  const startedAt = Date.now();
  const count = memberCount(heapCase, collectors);
  const half = Math.floor(count / 2);
  const [base, middle, full] =
    heapCase === 'bare'
      ? await withBareSockets(server, (grow) => sample(grow, half, count))
      : await withCollectors(server, heapCase === 'subscribed', (grow) =>
          sample(grow, half, count),
        );
  return {
    case: heapCase,
    count,
    heapBytesEach: (full.heapUsed - base.heapUsed) / count,
    marginalBytesEach: (full.heapUsed - middle.heapUsed) / (count - half),
    externalBytesEach: (full.external - base.external) / count,
    ms: Date.now() - startedAt,
  };
}

/** Memory with the warm-up members only, with half of the measured ones, and with all. */
async function sample(grow: Grow, half: number, count: number): Promise<[Memory, Memory, Memory]> {
  await grow(0, WARM_UP_MEMBERS);
  const base = await settledMemory();
  await grow(WARM_UP_MEMBERS, WARM_UP_MEMBERS + half);
  const middle = await settledMemory();
  await grow(WARM_UP_MEMBERS + half, WARM_UP_MEMBERS + count);
  return [base, middle, await settledMemory()];
}

async function withCollectors<T>(
  server: ReplayServer,
  started: boolean,
  use: (grow: Grow) => Promise<T>,
): Promise<T> {
  const manager = createCollectorManager();
  // Counted from telemetry rather than polled from status: polling would allocate, and compile
  // code, while the heap is being measured.
  const active = new Set<string>();
  const telemetry = manager.telemetry$.subscribe((event) => {
    if (event.type === 'subscription' && event.state === 'active') active.add(event.collectorId);
  });
  // Started first, so that every collector added later starts at once.
  if (started) manager.startAll();
  const grow: Grow = async (from, to) => {
    const warmUp = from < WARM_UP_MEMBERS;
    for (let i = from; i < to; i++) {
      manager.addCollector({
        id: `idle-${i}`,
        exchange: 'okx',
        endpoint: server.endpoint,
        symbols: ['BTC-USDT'],
        dataTypes: ['trade'],
        // Warm-up members ping at once, so the heartbeat's code is compiled before the baseline
        // and not while measured members go through their first ping 20 s after connecting.
        ...(warmUp ? { timers: { pingIntervalMs: WARM_UP_PING_MS } } : {}),
      });
    }
    if (!started) return;
    await until(() => active.size === to, waitMs(to - from), `${to} collectors to subscribe`, 250);
    if (warmUp) await sleep(WARM_UP_PING_MS * 4);
  };
  try {
    const result = await use(grow);
    const subscribed = manager.getStatus().countsByState.subscribed ?? 0;
    if (started && subscribed !== active.size) {
      throw new Error(`${active.size} collectors were subscribed but only ${subscribed} still are`);
    }
    return result;
  } finally {
    telemetry.unsubscribe();
    await manager.stopAll();
    manager.actor.stop();
  }
}

/** How long `count` connections may take at the runtime's pace, with room to spare. */
function waitMs(count: number): number {
  return (count / CONNECTS_PER_SECOND) * 1000 + 15_000;
}

async function withBareSockets<T>(
  server: ReplayServer,
  use: (grow: Grow) => Promise<T>,
): Promise<T> {
  const sockets: WebSocket[] = [];
  const grow: Grow = async (from, to) => {
    for (let i = from; i < to; i++) {
      const ws = await openSubscribed(server.publicUrl, ['BTC-USDT']);
      // As the collector's socket has: one message listener.
      ws.on('message', () => {});
      sockets.push(ws);
    }
  };
  try {
    return await use(grow);
  } finally {
    await Promise.all(sockets.map(closeSocket));
  }
}

/**
 * Memory after enough full collections, with turns between them for finalizers and weak refs.
 * It is read right after the last collection, before another turn: pings, pongs and timers that
 * ran in a turn would otherwise leave young garbage in the figure.
 */
async function settledMemory(): Promise<Memory> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('heap figures need node --expose-gc (npm run bench)');
  for (let i = 1; i < GC_PASSES; i++) {
    gc();
    await turn();
  }
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return { heapUsed, external };
}
