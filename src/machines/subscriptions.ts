import type { ChannelSubscription, ExchangeAdapter } from '../exchanges/types.ts';
import type { SubscriptionState } from '../streams/telemetry.ts';

/**
 * Pure bookkeeping of the subscriptions a collector wants: their states, the requests in flight,
 * batching within the exchange's request size and the per-connection operation budget. The
 * collector machine calls these from its actions; nothing here has side effects.
 */

export interface SubscriptionRecord extends ChannelSubscription {
  readonly key: string;
  readonly state: SubscriptionState;
  readonly code: string | undefined;
  readonly message: string | undefined;
  /** The request that last asked for it, and the connection it went on. */
  readonly requestId: string | undefined;
  readonly connectionId: string | undefined;
  /** Transient refusals in a row, for the retry backoff. */
  readonly retries: number;
  /** When its book was last resynced (recent ones only), for the resync backoff and quarantine. */
  readonly resyncTimes: readonly number[];
  /** Book resyncs since the collector started. */
  readonly resyncs: number;
  /**
   * The book broke during a 64008 handover before the replacement answered its subscribe: once
   * it does, the book is resubscribed there (its snapshot may have come already, as a copy).
   */
  readonly resyncWhenAnswered?: boolean;
}

export interface RequestRecord {
  readonly connectionId: string;
  readonly keys: readonly string[];
  /** How many times these keys have been asked for without an answer. */
  readonly attempt: number;
  /** An error frame that named this request but not which of its args it refused. */
  readonly error: { readonly code: string; readonly message: string } | undefined;
}

/** Failed and quarantined subscriptions are out: left unrequested until the collector restarts. */
export function isOutState(state: SubscriptionState | undefined): boolean {
  return state === 'failed' || state === 'quarantined';
}

export function subscriptionKey(channel: string, symbol: string): string {
  return `${channel}:${symbol}`;
}

export function newSubscription(channel: ChannelSubscription): SubscriptionRecord {
  return {
    ...channel,
    key: subscriptionKey(channel.channel, channel.symbol),
    state: 'pending',
    code: undefined,
    message: undefined,
    requestId: undefined,
    connectionId: undefined,
    retries: 0,
    resyncTimes: [],
    resyncs: 0,
  };
}

/** Splits subscriptions into requests whose args stay within the exchange's size limit. */
export function batchBySize(
  subscriptions: readonly SubscriptionRecord[],
  adapter: ExchangeAdapter,
): SubscriptionRecord[][] {
  const limit = adapter.limits.maxRequestArgsBytes;
  const batches: SubscriptionRecord[][] = [];
  let batch: SubscriptionRecord[] = [];
  let bytes = 0;
  for (const sub of subscriptions) {
    const size = adapter.requestArgBytes(sub);
    if (batch.length > 0 && bytes + size > limit) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(sub);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * The operation budget of one connection: timestamps of the requests sent in the current window.
 * Returns the log without expired entries and how many requests may still be sent now.
 */
export function budgetLeft(
  log: readonly number[],
  now: number,
  adapter: ExchangeAdapter,
): { log: number[]; left: number; nextFreeAt: number | undefined } {
  const windowStart = now - adapter.limits.opsWindowMs;
  const live = log.filter((at) => at > windowStart);
  const left = Math.max(0, adapter.limits.maxOpsPerWindow - live.length);
  const oldest = live[0];
  return {
    log: live,
    left,
    nextFreeAt: oldest === undefined ? undefined : oldest + adapter.limits.opsWindowMs,
  };
}

export function withState(
  sub: SubscriptionRecord,
  state: SubscriptionState,
  patch: Partial<Omit<SubscriptionRecord, 'state'>> = {},
): SubscriptionRecord {
  return { ...sub, ...patch, state };
}
