import { crc32 } from 'node:zlib';
import type { OrderBook } from './order-book.ts';

/** OKX docs "Order book channel > Checksum": the best 25 levels of each side are hashed. */
export const CHECKSUM_DEPTH = 25;

/**
 * The OKX book checksum (shared by OKCoin and OKJ, which run the same v5 engine): CRC32 of
 * `bid1Px:bid1Sz:ask1Px:ask1Sz:bid2Px:…` over the best `depth` levels of each side, alternating
 * level by level, bids first. When one side runs out, the other side's levels simply follow
 * (the docs' "less than 25 levels" example). The strings are the ones the exchange sent: a price
 * formatted back from a float hashes differently (0 of 290 recorded frames match that way).
 * OKX compares a signed 32-bit integer; `crc32` returns it unsigned, so `| 0` reinterprets it.
 */
export function interleavedCrc32(book: OrderBook, depth: number = CHECKSUM_DEPTH): number {
  const bids = book.bids;
  const asks = book.asks;
  const levels = Math.min(depth, Math.max(bids.length, asks.length));
  let text = '';
  for (let i = 0; i < levels; i++) {
    const bid = bids[i];
    const ask = asks[i];
    if (bid !== undefined) text += `:${bid.px}:${bid.sz}`;
    if (ask !== undefined) text += `:${ask.px}:${ask.sz}`;
  }
  // Every pair was written with a leading separator; the first one has nothing to separate.
  return crc32(text.slice(1)) | 0;
}
