import { createCollectorManager } from '../src/index.ts';
import { createSimulatedClock } from '../src/machines/clock.ts';
import { startDemoExchange } from '../src/service/demo-exchange.ts';

/**
 * Heap across supervisor restarts: one collector is restarted `cycles` times, each time connecting
 * and subscribing again over a real loopback socket. Time runs on a simulated clock so the
 * 3-connections-per-second pacing costs nothing; sockets are real. The heap is measured after
 * full GCs at a tenth of the cycles and at the end: flat means the growth per cycle is noise.
 */
export interface RestartCycleResult {
  readonly cycles: number;
  readonly heapAtStartBytes: number;
  readonly heapAtTenthBytes: number;
  readonly heapAtHalfBytes: number;
  readonly heapAtEndBytes: number;
  /** (end − half) / (cycles − half): what one more restart leaves behind, once warmed up. */
  readonly bytesPerCycle: number;
  readonly seconds: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`restart cycles: ${what} did not happen in 5 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export async function measureRestartCycles(cycles: number): Promise<RestartCycleResult> {
  if (gc === undefined) throw new Error('run with --expose-gc');
  const exchange = await startDemoExchange({ passes: 1 });
  const clock = createSimulatedClock();
  const manager = createCollectorManager({ clock });
  const id = manager.addCollector({
    id: 'restarted',
    exchange: 'okx',
    endpoint: exchange.endpoint,
    symbols: ['BTC-USDT'],
    dataTypes: ['trade'],
  });
  const restarts = () => manager.getCollector(id)?.getStatus().restarts ?? -1;
  const subscribed = () => manager.getCollector(id)?.getStatus().state === 'subscribed';
  const started = performance.now();
  manager.startAll();
  await until(subscribed, 'the first subscribe');
  const heapAtStartBytes = heapAfterGc();
  const tenth = Math.max(1, Math.floor(cycles / 10));
  let heapAtTenthBytes = heapAtStartBytes;
  let heapAtHalfBytes = heapAtStartBytes;
  const half = Math.max(tenth + 1, Math.floor(cycles / 2));
  for (let cycle = 1; cycle <= cycles; cycle++) {
    manager.restartCollector(id);
    // Past the pacing slot of the previous connection.
    clock.increment(400);
    await until(() => restarts() === cycle && subscribed(), `restart ${cycle}`);
    if (cycle === tenth) heapAtTenthBytes = heapAfterGc();
    if (cycle === half) heapAtHalfBytes = heapAfterGc();
  }
  const heapAtEndBytes = heapAfterGc();
  const seconds = (performance.now() - started) / 1000;
  const stopping = manager.stopAll();
  clock.increment(5_000);
  await stopping;
  await exchange.close();
  return {
    cycles,
    heapAtStartBytes,
    heapAtTenthBytes,
    heapAtHalfBytes,
    heapAtEndBytes,
    bytesPerCycle: (heapAtEndBytes - heapAtHalfBytes) / Math.max(1, cycles - half),
    seconds,
  };
}

// Run on its own: `node --expose-gc --import tsx bench/restart-cycles.ts [cycles]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const cycles = Number(process.argv[2] ?? 1000);
  const result = await measureRestartCycles(cycles);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
