import { SimulatedClock } from 'xstate';

/**
 * Time, injected. Machines schedule through XState's clock (`setTimeout`/`clearTimeout`); "now" is
 * read from the same object so a simulated clock governs both. No machine or parser calls
 * `Date.now` or `setTimeout` itself.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, timeoutMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Wall-clock time. Timers are unref'd so a stopped runtime never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, timeoutMs) => setTimeout(fn, timeoutMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A simulated clock for tests, starting at a realistic epoch time so timestamps stay plausible. */
export function createSimulatedClock(startAt = Date.UTC(2026, 0, 1)): SimulatedClock & Clock {
  const clock = new SimulatedClock();
  clock.set(startAt);
  return clock;
}
