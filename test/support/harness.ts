import type { SimulatedClock } from 'xstate';
import type { CollectorManager, ManagerOptions } from '../../src/api.ts';
import type { CollectorConfigInput } from '../../src/config/schema.ts';
import { createCollectorManager } from '../../src/index.ts';
import { seededRandom } from '../../src/machines/backoff.ts';
import { type Clock, createSimulatedClock } from '../../src/machines/clock.ts';
import type { MarketEvent } from '../../src/streams/events.ts';
import type { TelemetryEvent } from '../../src/streams/telemetry.ts';
import { MockOkx, waitFor } from './mock-okx.ts';

/**
 * A manager on a simulated clock, pointed at a fresh mock OKX, recording everything it emits.
 * Machine timers advance only with `advance(ms)`; socket I/O is real and awaited with `until`.
 */
export interface Harness {
  readonly mock: MockOkx;
  readonly clock: SimulatedClock & Clock;
  readonly manager: CollectorManager;
  readonly events: MarketEvent[];
  readonly telemetry: TelemetryEvent[];
  advance(ms: number): void;
  until(predicate: () => boolean, what?: string, timeoutMs?: number): Promise<void>;
  /**
   * Advances simulated time in small steps, letting real I/O settle after each (so pings are
   * answered), until `predicate` holds; fails after `steps` steps.
   */
  advanceUntil(
    predicate: () => boolean,
    what?: string,
    stepMs?: number,
    steps?: number,
  ): Promise<void>;
  add(config: Partial<CollectorConfigInput>): string;
  close(): Promise<void>;
}

export async function startHarness(
  options: { mock?: Parameters<typeof MockOkx.start>[0]; manager?: Partial<ManagerOptions> } = {},
): Promise<Harness> {
  const clock = createSimulatedClock();
  const mock = await MockOkx.start({ clock: () => clock.now(), ...options.mock });
  const manager = createCollectorManager({ clock, random: seededRandom(42), ...options.manager });
  const events: MarketEvent[] = [];
  const telemetry: TelemetryEvent[] = [];
  const subs = [
    manager.data$.subscribe((e) => events.push(e)),
    manager.telemetry$.subscribe((t) => telemetry.push(t)),
  ];
  return {
    mock,
    clock,
    manager,
    events,
    telemetry,
    advance: (ms) => clock.increment(ms),
    until: (predicate, what, timeoutMs) => waitFor(predicate, timeoutMs ?? 10_000, what),
    async advanceUntil(predicate, what = 'condition', stepMs = 500, steps = 200) {
      for (let i = 0; i < steps; i++) {
        if (predicate()) return;
        clock.increment(stepMs);
        await waitFor(predicate, 25, what).catch(() => undefined);
      }
      if (!predicate()) throw new Error(`advanceUntil: ${what} not met in ${steps} steps`);
    },
    add: (config) =>
      manager.addCollector({
        exchange: 'okx',
        endpoint: mock.url,
        symbols: ['BTC-USDT'],
        dataTypes: ['trade', 'ticker'],
        ...config,
      } as CollectorConfigInput),
    async close() {
      const stopping = manager.stopAll();
      // A close handshake the mock never answers is bounded by a machine timer.
      clock.increment(5_000);
      await stopping;
      for (const s of subs) s.unsubscribe();
      await mock.close();
    },
  };
}

export function ofKind<T extends TelemetryEvent['type']>(
  telemetry: readonly TelemetryEvent[],
  type: T,
): Extract<TelemetryEvent, { type: T }>[] {
  return telemetry.filter((t): t is Extract<TelemetryEvent, { type: T }> => t.type === type);
}
