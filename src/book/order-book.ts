import type { BookLevel } from '../streams/events.ts';
import type { RawLevel } from './message.ts';

/**
 * One symbol's L2 book. Each side is an array sorted worst first, so that the best level is the
 * last element: bids ascending, asks descending. Almost every update lands near the top of the
 * book, and an insert or delete there moves only the few levels behind it (at the front of a
 * 400-level array a splice costs about eight times more). Lookups are binary searches: O(log n),
 * and for the few hundred levels of an exchange book this beats any tree on constant factors.
 *
 * Levels keep the exchange's price and size strings beside the numeric price, because checksums
 * hash the wire text (PROTOCOLS.md §1 "Checksum": no float round trip). Input is trusted to be
 * decimal strings: the exchange parser validates levels before they get here.
 */

/** A level as the book holds it. */
export interface BookEntry {
  readonly price: number;
  /** Price as the exchange sent it. */
  readonly px: string;
  /** Size as the exchange sent it. */
  readonly sz: string;
}

interface MutableEntry {
  price: number;
  px: string;
  sz: string;
}

export interface BookTop {
  readonly bids: BookLevel[];
  readonly asks: BookLevel[];
}

class BookSide {
  /** Worst first; the best level is the last. */
  readonly entries: MutableEntry[] = [];
  /** +1 for bids (stored ascending), -1 for asks (stored descending): the key ascends. */
  private readonly sign: 1 | -1;

  constructor(bids: boolean) {
    this.sign = bids ? 1 : -1;
  }

  get size(): number {
    return this.entries.length;
  }

  /** The `rank`-th best level, 0 the best; undefined past the end. */
  at(rank: number): MutableEntry | undefined {
    return this.entries[this.entries.length - 1 - rank];
  }

  /**
   * OKX docs "Order book channel > Merging incremental data into full data": an equal price
   * replaces the level, size 0 deletes it, a new price is inserted in sort order. A delete of a
   * price the book does not hold is a no-op.
   */
  set(px: string, sz: string, price: number, amount: number): void {
    const entries = this.entries;
    const at = this.indexOf(price);
    const found = entries[at];
    const held = found !== undefined && found.price === price;
    if (amount === 0) {
      if (held) entries.splice(at, 1);
    } else if (held) {
      // Replace the price string too: the checksum must hash the latest text that was sent.
      found.px = px;
      found.sz = sz;
    } else if (at === entries.length) {
      entries.push({ price, px, sz });
    } else {
      entries.splice(at, 0, { price, px, sz });
    }
  }

  /** The index of the first entry whose key is not below `price`'s: the level or its slot. */
  private indexOf(price: number): number {
    const entries = this.entries;
    const sign = this.sign;
    const key = sign * price;
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sign * (entries[middle] as MutableEntry).price < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Best first. */
  list(): BookEntry[] {
    return this.entries.slice().reverse();
  }

  top(depth: number): BookLevel[] {
    const entries = this.entries;
    const count = Math.min(depth, entries.length);
    const levels: BookLevel[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const entry = entries[entries.length - 1 - i] as MutableEntry;
      levels[i] = [entry.price, +entry.sz];
    }
    return levels;
  }

  /**
   * Fills an empty side from a snapshot. Exchanges list a snapshot best first with each price
   * once, so the levels go in back to front with one pass; should a level be out of that order
   * (or a size be 0), the side is built level by level instead, as an update would.
   */
  fill(levels: readonly RawLevel[], values?: readonly BookLevel[]): void {
    const entries = this.entries;
    let previousKey = Number.NEGATIVE_INFINITY;
    // Worst level first: each one is pushed behind the previous, which must be worse.
    for (let i = levels.length - 1; i >= 0; i--) {
      const level = levels[i] as RawLevel;
      const value = values?.[i];
      const price = value === undefined ? +level[0] : value[0];
      const amount = value === undefined ? +level[1] : value[1];
      const key = this.sign * price;
      if (!(key > previousKey) || amount === 0) {
        this.clear();
        merge(this, levels, values);
        return;
      }
      previousKey = key;
      entries.push({ price, px: level[0], sz: level[1] });
    }
  }

  /** Keeps the best `depth` levels: the worst are at the front. */
  trim(depth: number): void {
    const excess = this.entries.length - depth;
    if (excess > 0) this.entries.splice(0, excess);
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/** Levels as numbers, `[price, amount]`, index for index with the strings they were read from. */
export interface LevelValues {
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

/**
 * Applies levels in the order sent, so that a price repeated within one message ends as its last
 * mention says (OKX's merge rules are stated level by level).
 */
function merge(side: BookSide, levels: readonly RawLevel[], values?: readonly BookLevel[]): void {
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as RawLevel;
    const value = values?.[i];
    if (value !== undefined) side.set(level[0], level[1], value[0], value[1]);
    else side.set(level[0], level[1], +level[0], +level[1]);
  }
}

export class OrderBook {
  private readonly bidSide = new BookSide(true);
  private readonly askSide = new BookSide(false);

  /** Bids, best (highest) first: a copy, made on each call. The hot path reads `bid(rank)`. */
  get bids(): readonly BookEntry[] {
    return this.bidSide.list();
  }

  /** Asks, best (lowest) first: a copy, made on each call. The hot path reads `ask(rank)`. */
  get asks(): readonly BookEntry[] {
    return this.askSide.list();
  }

  /**
   * The sides as kept, worst first (the best level last), not copied: for readers on the hot
   * path such as the checksum. Read-only; the book keeps mutating them.
   */
  get bidsWorstFirst(): readonly BookEntry[] {
    return this.bidSide.entries;
  }

  get asksWorstFirst(): readonly BookEntry[] {
    return this.askSide.entries;
  }

  get bidCount(): number {
    return this.bidSide.size;
  }

  get askCount(): number {
    return this.askSide.size;
  }

  /** The `rank`-th best bid, 0 the best; undefined past the last level. */
  bid(rank: number): BookEntry | undefined {
    return this.bidSide.at(rank);
  }

  /** The `rank`-th best ask, 0 the best; undefined past the last level. */
  ask(rank: number): BookEntry | undefined {
    return this.askSide.at(rank);
  }

  /** Replaces the whole book: no level of the previous book survives. */
  applySnapshot(bids: readonly RawLevel[], asks: readonly RawLevel[], values?: LevelValues): void {
    this.clear();
    this.bidSide.fill(bids, values?.bids);
    this.askSide.fill(asks, values?.asks);
  }

  /**
   * Merges levels into the book. `values`, when given, are the same levels as numbers, index for
   * index (a parser that validated the strings has them already); without it the strings are
   * converted here.
   */
  applyUpdate(bids: readonly RawLevel[], asks: readonly RawLevel[], values?: LevelValues): void {
    merge(this.bidSide, bids, values?.bids);
    merge(this.askSide, asks, values?.asks);
  }

  /** Drops the worst levels of each side beyond `depth`. */
  trim(depth: number): void {
    this.bidSide.trim(depth);
    this.askSide.trim(depth);
  }

  bestBid(): BookLevel | undefined {
    const entry = this.bidSide.at(0);
    return entry === undefined ? undefined : [entry.price, +entry.sz];
  }

  bestAsk(): BookLevel | undefined {
    const entry = this.askSide.at(0);
    return entry === undefined ? undefined : [entry.price, +entry.sz];
  }

  /** The best `depth` levels of each side as numbers, best first. */
  top(depth: number): BookTop {
    return { bids: this.bidSide.top(depth), asks: this.askSide.top(depth) };
  }

  /** True when the best bid is at or above the best ask: a book no exchange would show. */
  isCrossed(): boolean {
    const bid = this.bidSide.at(0);
    const ask = this.askSide.at(0);
    return bid !== undefined && ask !== undefined && bid.price >= ask.price;
  }

  clear(): void {
    this.bidSide.clear();
    this.askSide.clear();
  }
}
