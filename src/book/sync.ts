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

/** Why a book last broke, kept after it recovers so that status can still say. */
export interface BookBreak {
  readonly code: FaultCode;
  readonly detail: string;
  /** Receipt time of the message that broke it, epoch ms (0 when the caller gave none). */
  readonly at: number;
}

export type BookApplyResult =
  /** The message was applied; the book is live. */
  | { readonly outcome: 'applied' }
  /** An idle keep-alive (no levels): checked, nothing changed; the book is live. */
  | { readonly outcome: 'unchanged' }
  /**
   * A copy of a message already applied, from another connection of the same stream (during a
   * 64008 handover both sockets deliver): dropped, the book unchanged and still live.
   */
  | { readonly outcome: 'duplicate' }
  /** Not applied because the book has no valid snapshot (`book-not-synced`); state unchanged. */
  | { readonly outcome: 'dropped'; readonly fault: BookFault }
  /** This message broke the book: it is now `invalid` and empty until the next snapshot. */
  | { readonly outcome: 'invalidated'; readonly fault: BookFault };

export interface BookSyncOptions {
  /** The exchange's checksum of a book; OKX's interleaved CRC32 unless given. */
  readonly checksum?: (book: OrderBook) => number;
  /** Levels per side the channel shows; the book keeps no more (worst levels dropped). */
  readonly depth?: number;
}

// The outcomes that carry nothing are shared, so the hot path allocates no result.
const APPLIED: BookApplyResult = Object.freeze({ outcome: 'applied' });
const UNCHANGED: BookApplyResult = Object.freeze({ outcome: 'unchanged' });
const DUPLICATE: BookApplyResult = Object.freeze({ outcome: 'duplicate' });

/** Where a message came from and when, for the chain across connections and for status. */
export interface BookSource {
  /** The connection that delivered it. */
  readonly connectionId: string;
  /** Receipt time, epoch ms. */
  readonly receivedAt: number;
}

/**
 * How long after the connection a book follows closed the other one's messages that are behind
 * still count as copies (a replacement catching up); past it, what does not chain is a break.
 */
export const COPY_WINDOW_MS = 5_000;

const NO_SOURCE: BookSource = Object.freeze({ connectionId: '', receivedAt: 0 });

export class BookSync {
  readonly book = new OrderBook();
  private current: BookSyncState = 'syncing';
  /** seqId of the last message applied; undefined before a snapshot or where there are none. */
  private lastSeqId: number | undefined;
  private readonly checksum: (book: OrderBook) => number;
  private readonly depth: number;
  /** The last break, whatever the state is now. */
  lastBreak: BookBreak | undefined;
  /** Receipt time of the last message that was applied or proved the book alive, epoch ms. */
  updatedAt: number | undefined;
  /** When the book entered its current state, epoch ms (receipt time, or the caller's clock). */
  stateSince: number;
  /** The connection of the last message applied: the one the book follows. */
  private lastSource = '';
  /** When the followed connection closed, if it has. */
  private followedClosedAt: number | undefined;
  /** The seqId a maintenance reset came from, while the book is in the epoch after it. */
  private resetFrom: number | undefined;
  /** When that reset was received. */
  private resetAt = 0;
  /** Receipt time of the message being applied, for `lastBreak`. */
  private receivedAt = 0;

  constructor(
    readonly symbol: string,
    options: BookSyncOptions = {},
    createdAt = 0,
  ) {
    this.stateSince = createdAt;
    this.checksum = options.checksum ?? interleavedCrc32;
    this.depth = options.depth ?? Number.POSITIVE_INFINITY;
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
   * levels as numbers when the caller has them (the `book_change` event made from the message);
   * `source` says which connection delivered it, and when.
   */
  apply(
    message: BookMessage,
    values?: LevelValues,
    source: BookSource = NO_SOURCE,
  ): BookApplyResult {
    this.receivedAt = source.receivedAt;
    if (message.action === 'snapshot') {
      // While two sockets overlap, a snapshot from the one the book does not follow that is not
      // ahead of the book is a copy of what it has (the replacement's first snapshot, or on
      // `books5` and `bbo-tbt` every push) and must not take the book back in time.
      if (this.current === 'live' && this.isCopy(message, source)) return this.copy(source);
      return this.applySnapshot(message, values, source);
    }
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
    if (gap !== undefined) {
      if (this.isCopy(message, source)) return this.copy(source);
      return this.invalidate('book-sequence-gap', gap);
    }
    this.book.applyUpdate(message.bids, message.asks, values);
    // A level pushed past the channel's depth leaves the exchange's view: it would never be
    // updated or deleted again, so it is dropped rather than kept stale.
    this.book.trim(this.depth);
    // Chained on prevSeqId alone: after maintenance seqId may drop below prevSeqId, and the
    // chain simply continues from the lower id (docs "Order book channel > Sequence ID").
    // After maintenance the ids restart lower: copies from another socket may still carry the
    // ids from before, up to where the reset came from.
    if (message.seqId !== undefined && previousOf(message) > message.seqId) {
      this.resetFrom = previousOf(message);
      this.resetAt = source.receivedAt;
    }
    this.lastSeqId = message.seqId;
    this.follow(source.connectionId);
    const broken = this.verify(message);
    if (broken !== undefined) return broken;
    this.updatedAt = source.receivedAt;
    // The idle keep-alive (empty sides, seqId == prevSeqId) passes the chain like any update;
    // it only differs in changing nothing.
    return message.bids.length === 0 && message.asks.length === 0 ? UNCHANGED : APPLIED;
  }

  /**
   * A message that does not chain is a copy, not a gap, when another connection than the one
   * the book follows sent it and it is not ahead of the book: the seqId space is per instrument
   * and the same on every connection (PROTOCOLS.md §1), so while two sockets overlap each update
   * arrives twice and the second is behind. "Not ahead" also covers ids from before a
   * maintenance reset the book has passed. A message from the same connection, or one that
   * skips ahead, still breaks the book; so does any once the followed connection has been
   * closed for `COPY_WINDOW_MS` (a replacement whose stream restarted lower never chains).
   */
  private isCopy(message: BookMessage, source: BookSource): boolean {
    const last = this.lastSeqId;
    const seqId = message.seqId;
    if (source.connectionId === this.lastSource || seqId === undefined || last === undefined) {
      return false;
    }
    const closedAt = this.followedClosedAt;
    if (closedAt !== undefined && source.receivedAt - closedAt > COPY_WINDOW_MS) return false;
    if (seqId <= last) return true;
    // Ids from before a reset can only be copies while the sockets still overlap: later, the new
    // epoch's ids climb through that range and are the real stream.
    const resetFrom = this.resetFrom;
    return (
      resetFrom !== undefined &&
      seqId <= resetFrom &&
      source.receivedAt - this.resetAt <= COPY_WINDOW_MS
    );
  }

  /** A copy changes nothing, but proves the book's stream alive (for the watch on silence). */
  private copy(source: BookSource): BookApplyResult {
    this.updatedAt = Math.max(this.updatedAt ?? 0, source.receivedAt);
    return DUPLICATE;
  }

  private follow(connectionId: string): void {
    if (connectionId === this.lastSource) return;
    this.lastSource = connectionId;
    this.followedClosedAt = undefined;
  }

  /** A connection closed: if it is the one the book follows, copies count only a while longer. */
  sourceClosed(connectionId: string, at: number): void {
    if (connectionId === this.lastSource && this.followedClosedAt === undefined) {
      this.followedClosedAt = at;
    }
  }

  /**
   * Breaks the book from outside: a message of it was lost (the parser rejected it), so the book
   * is known to be wrong. Same as a break found here: `invalid`, empty, until the next snapshot.
   */
  fail(code: FaultCode, detail: string, at = this.receivedAt): void {
    if (this.current !== 'invalid') this.stateSince = at;
    this.current = 'invalid';
    this.lastSeqId = undefined;
    this.book.clear();
    this.lastBreak = { code, detail, at };
  }

  /** Forgets the book and the chain, back to `syncing`: for a resubscribe or a new connection. */
  reset(at = this.receivedAt): void {
    if (this.current !== 'syncing') this.stateSince = at;
    this.current = 'syncing';
    this.lastSeqId = undefined;
    this.lastSource = '';
    this.followedClosedAt = undefined;
    this.resetFrom = undefined;
    this.book.clear();
  }

  /** A snapshot replaces the book whatever the state; its prevSeqId (-1) is not checked. */
  private applySnapshot(
    message: BookMessage,
    values: LevelValues | undefined,
    source: BookSource,
  ): BookApplyResult {
    this.book.applySnapshot(message.bids, message.asks, values);
    this.book.trim(this.depth);
    this.lastSeqId = message.seqId;
    this.follow(source.connectionId);
    this.resetFrom = undefined;
    if (this.current !== 'live') this.stateSince = source.receivedAt;
    this.current = 'live';
    const broken = this.verify(message);
    if (broken !== undefined) return broken;
    this.updatedAt = source.receivedAt;
    return APPLIED;
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
    if (previous === last && message.seqId === last) {
      // The idle keep-alive repeats the id and changes nothing; one that changes levels would
      // alter the book without moving the sequence.
      if (message.bids.length === 0 && message.asks.length === 0) return undefined;
      return this.describe(`an update that repeats seqId ${last} carries levels`);
    }
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
    this.fail(code, detail);
    return { outcome: 'invalidated', fault: { code, detail } };
  }

  private describe(detail: string): string {
    return `${this.symbol}: ${detail}`;
  }
}

/** An update's prevSeqId, or -Infinity without one. */
function previousOf(message: BookMessage): number {
  return message.prevSeqId ?? Number.NEGATIVE_INFINITY;
}
