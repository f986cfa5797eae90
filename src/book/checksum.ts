import type { BookEntry, OrderBook } from './order-book.ts';

/** OKX docs "Order book channel > Checksum": the best 25 levels of each side are hashed. */
export const CHECKSUM_DEPTH = 25;

/** The CRC-32 of zlib and PNG (reflected polynomial 0xEDB88320), one entry per byte value. */
const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

const COLON = 58;

/** Feeds the characters of `text` into a running CRC; decimal strings are ASCII, byte = code. */
function update(crc: number, text: string): number {
  let c = crc;
  for (let i = 0; i < text.length; i++) {
    c = (TABLE[(c ^ text.charCodeAt(i)) & 0xff] as number) ^ (c >>> 8);
  }
  return c;
}

/** Feeds `:px:sz` of one level, or `px:sz` for the very first one. */
function level(crc: number, entry: BookEntry, first: boolean): number {
  let c = first ? crc : (TABLE[(crc ^ COLON) & 0xff] as number) ^ (crc >>> 8);
  c = update(c, entry.px);
  c = (TABLE[(c ^ COLON) & 0xff] as number) ^ (c >>> 8);
  return update(c, entry.sz);
}

/**
 * The OKX book checksum (shared by OKCoin and OKJ, which run the same v5 engine): CRC32 of
 * `bid1Px:bid1Sz:ask1Px:ask1Sz:bid2Px:…` over the best `depth` levels of each side, alternating
 * level by level, bids first. When one side runs out, the other side's levels simply follow
 * (the docs' "less than 25 levels" example). The strings are the ones the exchange sent: a price
 * formatted back from a float hashes differently (0 of 290 recorded frames match that way).
 *
 * The CRC runs over the strings in place, so no joined text is built for each message: the book
 * holds only strings its parser checked to be digits and dots, whose UTF-8 bytes are their
 * character codes. OKX compares a signed 32-bit integer, which is what `| 0` leaves.
 */
export function interleavedCrc32(book: OrderBook, depth: number = CHECKSUM_DEPTH): number {
  const bids = book.bidsWorstFirst;
  const asks = book.asksWorstFirst;
  const levels = Math.min(depth, Math.max(bids.length, asks.length));
  let crc = -1;
  let first = true;
  for (let i = 0; i < levels; i++) {
    const bid = bids[bids.length - 1 - i];
    const ask = asks[asks.length - 1 - i];
    if (bid !== undefined) {
      crc = level(crc, bid, first);
      first = false;
    }
    if (ask !== undefined) {
      crc = level(crc, ask, first);
      first = false;
    }
  }
  return ~crc | 0;
}
