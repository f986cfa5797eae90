/**
 * What an exchange parser hands the book layer: one book push as received, next to the
 * `book_change` event made from it. The event carries numbers for consumers; this carries what
 * integrity needs and the event does not: the price and size strings exactly as sent (checksums
 * hash the wire text) and the sequence fields.
 */

/** One level as sent: price and size strings first; anything after them is not read (parsers may
 * keep only those two). */
export type RawLevel = readonly [price: string, size: string, ...rest: readonly unknown[]];

export interface BookMessage {
  /** The exchange's instrument id, as the push was filed under. */
  readonly symbol: string;
  /** The exchange's channel name (OKX: `books`, `books5`, `bbo-tbt`, `books-rpi`). */
  readonly channel: string;
  /** A snapshot replaces the whole book; an update merges into it. */
  readonly action: 'snapshot' | 'update';
  /** Exchange time, epoch ms. */
  readonly timestamp: number;
  /** This message's id in the symbol's sequence; absent on channels or years without one. */
  readonly seqId: number | undefined;
  /** The id of the message this one follows (-1 on a snapshot); absent where seqId is. */
  readonly prevSeqId: number | undefined;
  /** Signed 32-bit CRC of the book after this message; absent or 0 means "do not check". */
  readonly checksum: number | undefined;
  readonly bids: readonly RawLevel[];
  readonly asks: readonly RawLevel[];
}
