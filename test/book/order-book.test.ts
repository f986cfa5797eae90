import { describe, expect, it } from 'vitest';
import type { RawLevel } from '../../src/book/message.ts';
import { OrderBook } from '../../src/book/order-book.ts';

const level = (px: string, sz: string): RawLevel => [px, sz, '0', '1'];

function prices(book: OrderBook) {
  return { bids: book.bids.map((e) => e.px), asks: book.asks.map((e) => e.px) };
}

describe('OrderBook', () => {
  it('keeps bids descending and asks ascending whatever order the levels arrive in', () => {
    const book = new OrderBook();
    book.applySnapshot(
      [level('99', '1'), level('101', '1'), level('100', '1')],
      [level('103', '1'), level('102', '1'), level('104', '1')],
    );
    expect(prices(book)).toEqual({ bids: ['101', '100', '99'], asks: ['102', '103', '104'] });
  });

  it('replaces the size at an equal price and keeps the strings as sent', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100.5', '1')], [level('101', '2')]);
    book.applyUpdate([level('100.5', '0.30000000')], []);
    expect(book.bids).toEqual([{ price: 100.5, px: '100.5', sz: '0.30000000' }]);
  });

  it('deletes a level whose size is "0" and ignores a delete of a price it does not hold', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100', '1'), level('99', '1')], [level('101', '1')]);
    book.applyUpdate([level('100', '0'), level('98', '0')], [level('101', '0')]);
    expect(prices(book)).toEqual({ bids: ['99'], asks: [] });
  });

  it('inserts a new price in order: in front, between and behind the held levels', () => {
    const book = new OrderBook();
    book.applySnapshot(
      [level('100', '1'), level('98', '1')],
      [level('102', '1'), level('104', '1')],
    );
    book.applyUpdate(
      [level('101', '1'), level('99', '1'), level('97', '1')],
      [level('101.5', '1'), level('103', '1'), level('105', '1')],
    );
    expect(prices(book)).toEqual({
      bids: ['101', '100', '99', '98', '97'],
      asks: ['101.5', '102', '103', '104', '105'],
    });
  });

  it('drops every old level on a snapshot, even where prices are all new', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100', '1'), level('99', '1')], [level('101', '1')]);
    book.applySnapshot([level('50', '2')], [level('51', '2'), level('52', '2')]);
    expect(prices(book)).toEqual({ bids: ['50'], asks: ['51', '52'] });
  });

  it('gives the best levels and the top of each side as numbers', () => {
    const book = new OrderBook();
    expect(book.bestBid()).toBeUndefined();
    expect(book.bestAsk()).toBeUndefined();
    book.applySnapshot(
      [level('100', '1.5'), level('99', '2'), level('98', '3')],
      [level('101', '0.25'), level('102', '4')],
    );
    expect(book.bestBid()).toEqual([100, 1.5]);
    expect(book.bestAsk()).toEqual([101, 0.25]);
    expect(book.top(2)).toEqual({
      bids: [
        [100, 1.5],
        [99, 2],
      ],
      asks: [
        [101, 0.25],
        [102, 4],
      ],
    });
    expect(book.top(0)).toEqual({ bids: [], asks: [] });
  });

  it('calls a book crossed when the best bid reaches the best ask, not before', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100', '1')], [level('100.1', '1')]);
    expect(book.isCrossed()).toBe(false);
    book.applyUpdate([level('100.1', '1')], []);
    expect(book.isCrossed()).toBe(true);
    book.applyUpdate([], [level('100.1', '0')]);
    expect(book.isCrossed()).toBe(false);
  });

  it('is empty after clear', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100', '1')], [level('101', '1')]);
    book.clear();
    expect(prices(book)).toEqual({ bids: [], asks: [] });
    expect(book.isCrossed()).toBe(false);
  });

  it('agrees with a naive map-and-sort book over 20 000 random updates', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const book = new OrderBook();
    const naive = { bids: new Map<string, string>(), asks: new Map<string, string>() };
    for (let i = 0; i < 20_000; i++) {
      const side = random() < 0.5 ? 'bids' : 'asks';
      // Bids below 1000, asks above, on a 0.5 tick: many hits on held prices.
      const ticks = Math.floor(random() * 600);
      const px = String(side === 'bids' ? 1000 - ticks / 2 : 1000.5 + ticks / 2);
      const sz = random() < 0.3 ? '0' : String(Math.floor(random() * 100) + 1);
      if (sz === '0') naive[side].delete(px);
      else naive[side].set(px, sz);
      if (side === 'bids') book.applyUpdate([level(px, sz)], []);
      else book.applyUpdate([], [level(px, sz)]);
    }
    const sorted = (side: Map<string, string>, sign: number) =>
      [...side].sort(([a], [b]) => sign * (Number(a) - Number(b)));
    expect(book.bids.map((e) => [e.px, e.sz])).toEqual(sorted(naive.bids, -1));
    expect(book.asks.map((e) => [e.px, e.sz])).toEqual(sorted(naive.asks, 1));
    expect(book.bids.length).toBeGreaterThan(300);
  });

  it('applies a price repeated within one message in the order sent', () => {
    const book = new OrderBook();
    book.applySnapshot([level('100', '1'), level('98', '1')], [level('101', '1')]);
    book.applyUpdate([level('99', '5'), level('99', '7'), level('98', '1'), level('98', '0')], []);
    expect(book.bids.map((e) => [e.px, e.sz])).toEqual([
      ['100', '1'],
      ['99', '7'],
    ]);
  });

  it('builds a snapshot that is not best first, or repeats a price, as updates would', () => {
    const sorted = new OrderBook();
    sorted.applySnapshot([level('101', '1'), level('100', '1'), level('99', '1')], []);
    const shuffled = new OrderBook();
    shuffled.applySnapshot([level('100', '1'), level('101', '1'), level('99', '1')], []);
    expect(prices(shuffled)).toEqual(prices(sorted));
    const repeated = new OrderBook();
    repeated.applySnapshot([level('101', '1'), level('101', '2'), level('100', '0')], []);
    expect(repeated.bids.map((e) => [e.px, e.sz])).toEqual([['101', '2']]);
  });
});
