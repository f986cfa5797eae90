import type { BackoffConfig } from '../config/schema.ts';

/**
 * Exponential backoff with jitter, capped. `attempt` counts from 1. The jitter spreads the delay
 * by ±`jitter` of itself so that many collectors dropped together do not reconnect together.
 */
export function backoffDelayMs(
  attempt: number,
  policy: Pick<BackoffConfig, 'initialMs' | 'maxMs' | 'factor' | 'jitter'>,
  random: () => number,
): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(policy.maxMs, base + spread)));
}

/** A small deterministic PRNG (mulberry32) for seeded jitter in tests and benchmarks. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Keeps connection attempts to one exchange under its per-IP rate (OKX: 3 per second). It counts
 * the attempts actually started in the last second; a connection that may not start yet is told
 * how long to wait and asks again then. Nothing is reserved ahead, so a connection stopped while
 * it waits (a restart, a stop) holds no slot. One pacer per clock, shared by every manager on it:
 * the limit is the process's, not one manager's.
 */
export class ConnectionPacer {
  private readonly started = new Map<string, number[]>();

  private static readonly byClock = new WeakMap<object, ConnectionPacer>();

  static for(clock: object): ConnectionPacer {
    let pacer = ConnectionPacer.byClock.get(clock);
    if (pacer === undefined) {
      pacer = new ConnectionPacer();
      ConnectionPacer.byClock.set(clock, pacer);
    }
    return pacer;
  }

  /** 0 and the attempt is counted when it may start now; else the wait in ms, nothing counted. */
  tryStart(exchange: string, perSecond: number, now: number): number {
    const recent = (this.started.get(exchange) ?? []).filter((at) => at > now - 1000);
    if (recent.length < perSecond) {
      recent.push(now);
      this.started.set(exchange, recent);
      return 0;
    }
    this.started.set(exchange, recent);
    return Math.max(1, (recent[0] as number) + 1000 - now);
  }
}
