import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { MarketEvent } from '../../src/streams/events.ts';
import { forCollector, forExchange, forSymbol, ofType } from '../../src/streams/operators.ts';

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
