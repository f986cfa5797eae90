import type { ChannelSubscription } from '../types.ts';
import { OKX_LIMITS } from './protocol.ts';

/**
 * Subscribe and unsubscribe requests (docs "WebSocket > Subscribe"):
 * `{"id":"…","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}, …]}`.
 * OKX acks every arg on its own and echoes `id` in acks and errors, so the id is how an error
 * frame (which carries no `arg`) is tied back to its request.
 */

interface RequestArg {
  readonly channel: string;
  readonly instId: string;
}

/** Docs "Subscribe": `id` is case-sensitive letters and digits, at most 32 characters. */
const REQUEST_ID = /^[A-Za-z0-9]{1,32}$/;

export function buildRequest(
  op: 'subscribe' | 'unsubscribe',
  subscriptions: readonly ChannelSubscription[],
  requestId: string,
): string {
  if (!REQUEST_ID.test(requestId)) {
    throw new RangeError(
      `okx requestId must be 1 to 32 letters or digits; received ${JSON.stringify(requestId)}`,
    );
  }
  return JSON.stringify({ id: requestId, op, args: subscriptions.map(toArg) });
}

/** UTF-8 size of one arg inside `args`, counting the comma that separates it from the next. */
export function requestArgBytes(subscription: ChannelSubscription): number {
  return Buffer.byteLength(JSON.stringify(toArg(subscription)), 'utf8') + 1;
}

/**
 * Splits subscriptions into requests whose serialized `args` array stays within
 * `maxArgsBytes` (docs "Subscribe": 64 KB). Order is kept. The array's size is `[` + `]` plus
 * each arg and its comma, less the last comma: 1 + Σ requestArgBytes. An arg too large for any
 * request still gets a request of its own, so OKX answers it with an error instead of it
 * vanishing here.
 */
export function batchSubscriptions(
  subscriptions: readonly ChannelSubscription[],
  maxArgsBytes: number = OKX_LIMITS.maxRequestArgsBytes,
): ChannelSubscription[][] {
  const batches: ChannelSubscription[][] = [];
  let batch: ChannelSubscription[] = [];
  let bytes = 1;
  for (const subscription of subscriptions) {
    const argBytes = requestArgBytes(subscription);
    if (batch.length > 0 && bytes + argBytes > maxArgsBytes) {
      batches.push(batch);
      batch = [];
      bytes = 1;
    }
    batch.push(subscription);
    bytes += argBytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

function toArg(subscription: ChannelSubscription): RequestArg {
  return { channel: subscription.channel, instId: subscription.symbol };
}
