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
 * Spaces connection attempts to one exchange so the process never passes its per-IP connection
 * rate (OKX: 3 per second). Each reservation returns how long to wait before connecting.
 */
export class ConnectionPacer {
  private readonly nextSlotAt = new Map<string, number>();

  reserve(exchange: string, perSecond: number, now: number): number {
    const spacingMs = Math.ceil(1000 / perSecond);
    const slot = Math.max(now, this.nextSlotAt.get(exchange) ?? 0);
    this.nextSlotAt.set(exchange, slot + spacingMs);
    return slot - now;
  }
}
