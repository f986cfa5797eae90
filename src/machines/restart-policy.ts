import type { RestartOverride, RestartStrategy, SupervisionConfig } from '../config/schema.ts';
import { backoffDelayMs } from './backoff.ts';

/**
 * The supervisor's decisions, as pure functions: which collectors a crash restarts, whether the
 * restart intensity is exceeded, and how long to wait. OTP semantics for the first two (a child
 * restarted more than `maxRestarts` times within `withinMs` is given up on), Akka's backoff for
 * the third (exponential with jitter, reset after a quiet period).
 */

export interface EffectivePolicy {
  readonly strategy: RestartStrategy;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoff: SupervisionConfig['backoff'];
  readonly resetAfterMs: number;
}

/** The manager's policy with a collector's overrides applied. */
export function effectivePolicy(
  policy: SupervisionConfig,
  override: RestartOverride | undefined,
): EffectivePolicy {
  if (override === undefined) return policy;
  return {
    strategy: override.strategy ?? policy.strategy,
    maxRestarts: override.maxRestarts ?? policy.maxRestarts,
    withinMs: override.withinMs ?? policy.withinMs,
    backoff: {
      minMs: override.backoff?.minMs ?? policy.backoff.minMs,
      maxMs: override.backoff?.maxMs ?? policy.backoff.maxMs,
      factor: override.backoff?.factor ?? policy.backoff.factor,
      jitter: override.backoff?.jitter ?? policy.backoff.jitter,
    },
    resetAfterMs: override.resetAfterMs ?? policy.resetAfterMs,
  };
}

/** The restarts still inside the intensity window. */
export function recentRestarts(times: readonly number[], now: number, withinMs: number): number[] {
  return times.filter((at) => at > now - withinMs);
}

/** True when one more restart would pass `maxRestarts` within `withinMs`. */
export function intensityExceeded(
  times: readonly number[],
  now: number,
  policy: Pick<EffectivePolicy, 'maxRestarts' | 'withinMs'>,
): boolean {
  return recentRestarts(times, now, policy.withinMs).length >= policy.maxRestarts;
}

/** Delay before restart number `attempt` (from 1) since the collector was last stable. */
export function restartDelayMs(
  attempt: number,
  backoff: SupervisionConfig['backoff'],
  random: () => number,
): number {
  return backoffDelayMs(
    attempt,
    {
      initialMs: backoff.minMs,
      maxMs: backoff.maxMs,
      factor: backoff.factor,
      jitter: backoff.jitter,
    },
    random,
  );
}

/**
 * The collectors a crash of `crashed` takes down with it, itself first: only itself
 * (one-for-one), every collector (one-for-all), or itself and those added after it (rest-for-one).
 */
export function restartSet(
  strategy: RestartStrategy,
  order: readonly string[],
  crashed: string,
): string[] {
  switch (strategy) {
    case 'one-for-one':
      return [crashed];
    case 'one-for-all':
      return [crashed, ...order.filter((id) => id !== crashed)];
    case 'rest-for-one': {
      const at = order.indexOf(crashed);
      return at < 0 ? [crashed] : [crashed, ...order.slice(at + 1)];
    }
  }
}
