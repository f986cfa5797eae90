import { afterEach, describe, expect, it } from 'vitest';
import type { TradeEvent } from '../../src/streams/events.ts';
import { type Harness, startHarness } from '../support/harness.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

describe('collector against the mock exchange', () => {
  it('subscribes and delivers normalized trades and tickers', async () => {
    h = await startHarness();
    const id = h.add({});
    h.manager.startAll();
    await h.until(
      () => h.manager.getCollector(id)?.getStatus().state === 'subscribed',
      'subscribed',
    );
    const frames = h.mock.push('trades', 'BTC-USDT', 5);
    h.mock.push('tickers', 'BTC-USDT', 3);
    await h.until(() => h.events.length >= 8, '8 events');
    const trades = h.events.filter((e): e is TradeEvent => e.type === 'trade');
    expect(trades).toHaveLength(5);
    const first = JSON.parse(frames[0] as string).data[0];
    expect(trades[0]).toMatchObject({
      exchange: 'okx',
      symbol: 'BTC-USDT',
      id: first.tradeId,
      price: Number(first.px),
      amount: Number(first.sz),
      side: first.side,
      timestamp: Number(first.ts),
    });
    expect(h.mock.requests).toHaveLength(1);
  });
});
