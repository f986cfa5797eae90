import type { BookLevel } from '../streams/events.ts';
import type { RawLevel } from './message.ts';

/**
 * One symbol's L2 book. Each side is an array sorted best first (bids descending, asks
 * ascending), searched by binary search: a lookup is O(log n) and an insert or delete one splice,
 * which for the few hundred levels of an exchange book beats any tree on constant factors.
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
  readonly entries: MutableEntry[] = [];
  /** -1 for bids, so that "better" is "smaller key" on both sides. */
  private readonly sign: 1 | -1;

  constructor(descending: boolean) {
    this.sign = descending ? -1 : 1;
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
    } else {
      entries.splice(at, 0, { price, px, sz });
    }
  }

  /** The index of the first entry not better than `price`: the level itself or its slot. */
  private indexOf(price: number): number {
    const entries = this.entries;
    const key = this.sign * price;
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.sign * (entries[middle] as MutableEntry).price < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  top(depth: number): BookLevel[] {
    const count = Math.min(depth, this.entries.length);
    const levels: BookLevel[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const entry = this.entries[i] as MutableEntry;
      levels[i] = [entry.price, +entry.sz];
    }
    return levels;
  }
}

/** Levels as numbers, `[price, amount]`, index for index with the strings they were read from. */
export interface LevelValues {
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

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

  /** Bids, best (highest) first. Read-only view; the book keeps mutating it. */
  get bids(): readonly BookEntry[] {
    return this.bidSide.entries;
  }

  /** Asks, best (lowest) first. Read-only view; the book keeps mutating it. */
  get asks(): readonly BookEntry[] {
    return this.askSide.entries;
  }

  /** Replaces the whole book: no level of the previous book survives. */
  applySnapshot(bids: readonly RawLevel[], asks: readonly RawLevel[], values?: LevelValues): void {
    this.clear();
    this.applyUpdate(bids, asks, values);
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

  bestBid(): BookLevel | undefined {
    const entry = this.bidSide.entries[0];
    return entry === undefined ? undefined : [entry.price, +entry.sz];
  }

  bestAsk(): BookLevel | undefined {
    const entry = this.askSide.entries[0];
    return entry === undefined ? undefined : [entry.price, +entry.sz];
  }

  /** The best `depth` levels of each side as numbers, best first. */
  top(depth: number): BookTop {
    return { bids: this.bidSide.top(depth), asks: this.askSide.top(depth) };
  }

  /** True when the best bid is at or above the best ask: a book no exchange would show. */
  isCrossed(): boolean {
    const bid = this.bidSide.entries[0];
    const ask = this.askSide.entries[0];
    return bid !== undefined && ask !== undefined && bid.price >= ask.price;
  }

  clear(): void {
    this.bidSide.entries.length = 0;
    this.askSide.entries.length = 0;
  }
}
