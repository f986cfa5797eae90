import type { FaultCode } from '../streams/faults.ts';
import { interleavedCrc32 } from './checksum.ts';
import type { BookMessage } from './message.ts';
import { type LevelValues, OrderBook } from './order-book.ts';

/**
 * Integrity rules for one symbol's book: the sequence chain, the checksum and the crossed-book
 * check (PROTOCOLS.md §1 "Book sync", "Checksum"). Pure and synchronous: no timer, no I/O, and a
 * failure is a returned result with a stable fault code, never a throw. What to do about a broken
 * book (resubscribe, quarantine a symbol that keeps breaking) is the caller's decision.
 *
 * States: `syncing` until the first snapshot; `live` while every message checks out; `invalid`
 * from the message that broke it until the next snapshot, which makes the book live again.
 */

export type BookSyncState = 'syncing' | 'live' | 'invalid';

export type BookFaultCode = Extract<FaultCode, `book-${string}`>;

export interface BookFault {
  readonly code: BookFaultCode;
  readonly detail: string;
}

export type BookApplyResult =
  /** The message was applied; the book is live. */
  | { readonly outcome: 'applied' }
  /** An idle keep-alive (no levels): checked, nothing changed; the book is live. */
  | { readonly outcome: 'unchanged' }
  /** Not applied because the book has no valid snapshot (`book-not-synced`); state unchanged. */
  | { readonly outcome: 'dropped'; readonly fault: BookFault }
  /** This message broke the book: it is now `invalid` and empty until the next snapshot. */
  | { readonly outcome: 'invalidated'; readonly fault: BookFault };

export interface BookSyncOptions {
  /** The exchange's checksum of a book; OKX's interleaved CRC32 unless given. */
  readonly checksum?: (book: OrderBook) => number;
}

// The outcomes that carry nothing are shared, so the hot path allocates no result.
const APPLIED: BookApplyResult = Object.freeze({ outcome: 'applied' });
const UNCHANGED: BookApplyResult = Object.freeze({ outcome: 'unchanged' });

export class BookSync {
  readonly book = new OrderBook();
  private current: BookSyncState = 'syncing';
  /** seqId of the last message applied; undefined before a snapshot or where there are none. */
  private lastSeqId: number | undefined;
  private readonly checksum: (book: OrderBook) => number;

  constructor(
    readonly symbol: string,
    options: BookSyncOptions = {},
  ) {
    this.checksum = options.checksum ?? interleavedCrc32;
  }

  get state(): BookSyncState {
    return this.current;
  }

  /** The seqId the next update must name as its prevSeqId, when the channel has one. */
  get seqId(): number | undefined {
    return this.lastSeqId;
  }

  /**
   * Applies one message of this symbol, checks it, and says what became of it. `values` are its
   * levels as numbers when the caller has them (the `book_change` event made from the message).
   */
  apply(message: BookMessage, values?: LevelValues): BookApplyResult {
    if (message.action === 'snapshot') return this.applySnapshot(message, values);
    if (this.current !== 'live') {
      return {
        outcome: 'dropped',
        fault: {
          code: 'book-not-synced',
          detail: this.describe(`an update in state ${this.current}`),
        },
      };
    }
    const gap = this.chainBreak(message);
    if (gap !== undefined) return this.invalidate('book-sequence-gap', gap);
    this.book.applyUpdate(message.bids, message.asks, values);
    // Chained on prevSeqId alone: after maintenance seqId may drop below prevSeqId, and the
    // chain simply continues from the lower id (docs "Order book channel > Sequence ID").
    this.lastSeqId = message.seqId;
    const broken = this.verify(message);
    if (broken !== undefined) return broken;
    // The idle keep-alive (empty sides, seqId == prevSeqId) passes the chain like any update;
    // it only differs in changing nothing.
    return message.bids.length === 0 && message.asks.length === 0 ? UNCHANGED : APPLIED;
  }

  /** Forgets the book and the chain, back to `syncing`: for a resubscribe or a new connection. */
  reset(): void {
    this.current = 'syncing';
    this.lastSeqId = undefined;
    this.book.clear();
  }

  /** A snapshot replaces the book whatever the state; its prevSeqId (-1) is not checked. */
  private applySnapshot(message: BookMessage, values: LevelValues | undefined): BookApplyResult {
    this.book.applySnapshot(message.bids, message.asks, values);
    this.lastSeqId = message.seqId;
    this.current = 'live';
    return this.verify(message) ?? APPLIED;
  }

  /**
   * Docs "Sequence ID": an update's prevSeqId must equal the seqId of the previous message;
   * ids are not consecutive, so `seqId + 1` proves nothing. A book whose snapshot had no seqId
   * (recordings before seqIds existed) has no chain to check; its checksum guards it.
   */
  private chainBreak(message: BookMessage): string | undefined {
    const last = this.lastSeqId;
    if (last === undefined) return undefined;
    const previous = message.prevSeqId;
    if (previous === undefined) return this.describe(`an update has no prevSeqId after ${last}`);
    if (previous === last) return undefined;
    return this.describe(`prevSeqId ${previous} does not follow seqId ${last}`);
  }

  /**
   * The checksum is verified only when present and non-zero: since 2026-06-23 OKX sends 0 on
   * every frame (PROTOCOLS.md "The checksum is retired"), and `books-rpi` has no field at all.
   * It is tested before the crossed check: a mismatch says more about what went wrong.
   */
  private verify(message: BookMessage): BookApplyResult | undefined {
    const expected = message.checksum;
    if (expected !== undefined && expected !== 0) {
      const actual = this.checksum(this.book);
      if (actual !== expected) {
        const detail = `checksum ${expected} was sent, the book hashes to ${actual}`;
        return this.invalidate('book-checksum-mismatch', this.describe(detail));
      }
    }
    if (this.book.isCrossed()) {
      const bid = this.book.bid(0)?.px;
      const ask = this.book.ask(0)?.px;
      const detail = `best bid ${bid} is at or above best ask ${ask}`;
      return this.invalidate('book-crossed', this.describe(detail));
    }
    return undefined;
  }

  /** Empties the book so that nobody reads levels known to be wrong. */
  private invalidate(code: BookFaultCode, detail: string): BookApplyResult {
    this.current = 'invalid';
    this.lastSeqId = undefined;
    this.book.clear();
    return { outcome: 'invalidated', fault: { code, detail } };
  }

  private describe(detail: string): string {
    return `${this.symbol}: ${detail}`;
  }
}
