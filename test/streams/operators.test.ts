import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { MarketEvent } from '../../src/streams/events.ts';
import {
  candlesFromTrades,
  forCollector,
  forExchange,
  forSymbol,
  ofType,
} from '../../src/streams/operators.ts';

const base = { exchange: 'okx', timestamp: 1, localTimestamp: 2, collectorId: 'c1' };
const events: MarketEvent[] = [
  { ...base, type: 'trade', symbol: 'BTC-USDT', id: '1', price: 1, amount: 1, side: 'buy' },
  { ...base, type: 'trade', symbol: 'ETH-USDT', id: '2', price: 2, amount: 1, side: 'sell' },
  {
    ...base,
    collectorId: 'c2',
    exchange: 'binance',
    type: 'ticker',
    symbol: 'BTCUSDT',
    last: 3,
    lastAmount: undefined,
    bidPrice: 2.9,
    bidAmount: 1,
    askPrice: 3.1,
    askAmount: 1,
    open24h: undefined,
    high24h: undefined,
    low24h: undefined,
    volume24h: undefined,
    quoteVolume24h: undefined,
  },
];
const run = <T>(source: ReturnType<typeof from<T[]>>) => lastValueFrom(source.pipe(toArray()));

describe('stream operators', () => {
  it('ofType keeps one kind and narrows its type', async () => {
    const trades = await run(from(events).pipe(ofType('trade')));
    expect(trades.map((t) => t.price)).toEqual([1, 2]);
    const several = await run(from(events).pipe(ofType('trade', 'ticker')));
    expect(several).toHaveLength(3);
  });

  it('forSymbol, forExchange and forCollector filter on the event fields', async () => {
    expect(await run(from(events).pipe(forSymbol('ETH-USDT')))).toEqual([events[1]]);
    expect(await run(from(events).pipe(forExchange('BINANCE')))).toEqual([events[2]]);
    expect(await run(from(events).pipe(forCollector('c1')))).toHaveLength(2);
  });
});

describe('candlesFromTrades', () => {
  const trade = (ts: number, price: number, amount: number, symbol = 'BTC-USDT') => ({
    ...base,
    type: 'trade' as const,
    symbol,
    id: String(ts),
    price,
    amount,
    side: 'buy' as const,
    timestamp: ts,
  });

  it('builds OHLCV per bucket and closes a candle when the next bucket starts', async () => {
    const trades = [
      trade(10_000, 100, 1),
      trade(12_000, 105, 2),
      trade(13_000, 99, 1),
      trade(14_999, 101, 0.5),
      trade(15_000, 110, 1),
      trade(11_000, 1, 1), // late: older than the open bucket, never folded in
    ];
    const candles = await run(from(trades).pipe(candlesFromTrades(5_000, { interval: '5s' })));
    expect(candles).toEqual([
      expect.objectContaining({
        timestamp: 10_000,
        open: 100,
        high: 105,
        low: 99,
        close: 101,
        volume: 4.5,
        closed: true,
        interval: '5s',
      }),
      expect.objectContaining({
        timestamp: 15_000,
        open: 110,
        close: 110,
        volume: 1,
        closed: false,
      }),
    ]);
  });

  it('keeps symbols apart and refuses a non-positive interval', async () => {
    const candles = await run(
      from([trade(0, 1, 1, 'A'), trade(0, 2, 1, 'B'), trade(5_000, 3, 1, 'A')]).pipe(
        candlesFromTrades(1_000),
      ),
    );
    expect(candles.map((c) => [c.symbol, c.timestamp, c.closed])).toEqual([
      ['A', 0, true],
      // On completion the candles still open are flushed, unclosed.
      ['A', 5_000, false],
      ['B', 0, false],
    ]);
    expect(() => candlesFromTrades(0)).toThrow(RangeError);
  });

  it('keeps the trades of two collectors of one symbol in two series', async () => {
    const other = { ...trade(1_000, 2, 3), collectorId: 'c2' };
    const candles = await run(from([trade(1_000, 1, 1), other]).pipe(candlesFromTrades(1_000)));
    expect(candles.map((c) => [c.collectorId, c.volume])).toEqual([
      ['c1', 1],
      ['c2', 3],
    ]);
  });
});
