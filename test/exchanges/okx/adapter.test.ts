import { describe, expect, it } from 'vitest';
import { okxAdapter } from '../../../src/exchanges/okx/adapter.ts';
import { batchSubscriptions } from '../../../src/exchanges/okx/request.ts';
import {
  getExchange,
  registerExchange,
  supportedExchanges,
} from '../../../src/exchanges/registry.ts';
import type { ChannelSubscription } from '../../../src/exchanges/types.ts';

const BASE = 'wss://ws.okx.com:8443/ws/v5';
const trades = (symbol: string): ChannelSubscription => okxAdapter.channelFor('trade', symbol);

describe('okxAdapter', () => {
  it('is registered as okx', () => {
    expect(getExchange('okx')).toBe(okxAdapter);
    expect(getExchange('OKX')).toBe(okxAdapter);
  });

  it('offers trades, tickers, order books and candles', () => {
    expect(okxAdapter.id).toBe('okx');
    expect(okxAdapter.dataTypes).toEqual(['trade', 'ticker', 'orderbook', 'candle']);
  });

  it('carries the documented limits and the text heartbeat', () => {
    expect(okxAdapter.defaultEndpoint).toBe(BASE);
    expect(okxAdapter.limits).toEqual({
      maxRequestArgsBytes: 65_536,
      maxOpsPerWindow: 480,
      opsWindowMs: 3_600_000,
      connectionsPerSecond: 3,
    });
    expect(okxAdapter.heartbeat).toEqual({ ping: 'ping', pong: 'pong' });
  });
});

describe('okxAdapter.isPermanentError', () => {
  const permanent = ['60018', '60012', '60013', '60019', '64000', '64001', '64002'];
  const permanentToo = ['60008', '60028', '60011', '60029', '60030', '64003', '64004'];

  it.each([...permanent, ...permanentToo])('treats %s as permanent', (code) => {
    expect(okxAdapter.isPermanentError(code)).toBe(true);
  });

  it.each(['60014', '63999', '64007', '64008', '99999', '', '0'])(
    'retries %j: throttling, internal and unknown codes are not permanent',
    (code) => {
      expect(okxAdapter.isPermanentError(code)).toBe(false);
    },
  );

  it('treats only 64008 as a reconnect notice', () => {
    expect(okxAdapter.isReconnectNotice('64008')).toBe(true);
    expect(okxAdapter.isReconnectNotice('64007')).toBe(false);
  });
});

describe('okxAdapter.endpointUrl', () => {
  it.each([
    [BASE, 'public', `${BASE}/public`],
    [`${BASE}/`, 'public', `${BASE}/public`],
    [BASE, 'business', `${BASE}/business`],
    [`${BASE}/public`, 'business', `${BASE}/business`],
    [`${BASE}/business/`, 'public', `${BASE}/public`],
    ['wss://wseea.okx.com:8443/ws/v5', 'public', 'wss://wseea.okx.com:8443/ws/v5/public'],
    [
      'wss://wspap.okx.com:8443/ws/v5/public?brokerId=9999',
      'business',
      'wss://wspap.okx.com:8443/ws/v5/business?brokerId=9999',
    ],
    ['ws://127.0.0.1:9000', 'public', 'ws://127.0.0.1:9000/public'],
  ])('maps %s and group %s to %s', (base, group, url) => {
    expect(okxAdapter.endpointUrl(base, group)).toBe(url);
  });

  it('refuses a group OKX does not have', () => {
    expect(() => okxAdapter.endpointUrl(BASE, 'spot')).toThrow(RangeError);
  });
});

describe('okxAdapter.validateSymbol', () => {
  it.each(['BTC-USDT', 'BTC-USDT-SWAP', 'BTC-USD-220527', 'BTC-USD-240628-60000-C', 'USDC-USDT'])(
    'accepts the instId %s',
    (symbol) => {
      expect(okxAdapter.validateSymbol(symbol)).toBeUndefined();
    },
  );

  it.each([
    '',
    ' ',
    'BTC-USDT ',
    ' BTC-USDT',
    'BTC -USDT',
    'btc-usdt',
    'Btc-Usdt',
    'BTCUSDT',
    'btcusdt',
    'BTC_USDT',
    'BTC/USDT',
    'BTC-',
    '-USDT',
    'BTC--USDT',
  ])('explains why %j is not an instId, without rewriting it', (symbol) => {
    expect(okxAdapter.validateSymbol(symbol)).toEqual(expect.any(String));
  });
});

describe('okxAdapter.channelFor', () => {
  it('puts trades and tickers on the public group', () => {
    expect(okxAdapter.channelFor('trade', 'BTC-USDT')).toEqual({
      dataType: 'trade',
      symbol: 'BTC-USDT',
      channel: 'trades',
      group: 'public',
    });
    expect(okxAdapter.channelFor('ticker', 'BTC-USDT-SWAP')).toMatchObject({
      channel: 'tickers',
      group: 'public',
    });
  });

  it('maps books to books by default, or to the depth channel asked for', () => {
    expect(okxAdapter.channelFor('orderbook', 'BTC-USDT')).toMatchObject({
      channel: 'books',
      group: 'public',
    });
    for (const bookChannel of ['books', 'books5', 'bbo-tbt']) {
      expect(okxAdapter.channelFor('orderbook', 'BTC-USDT', { bookChannel }).channel).toBe(
        bookChannel,
      );
    }
  });

  it('maps candles to candle1m on the business group by default', () => {
    expect(okxAdapter.channelFor('candle', 'BTC-USDT')).toEqual({
      dataType: 'candle',
      symbol: 'BTC-USDT',
      channel: 'candle1m',
      group: 'business',
    });
    const options = { candleInterval: '1Dutc' };
    expect(okxAdapter.channelFor('candle', 'BTC-USDT', options).channel).toBe('candle1Dutc');
  });

  it('refuses a depth channel that needs login, and an interval OKX does not have', () => {
    const bookChannel = 'books-l2-tbt';
    expect(() => okxAdapter.channelFor('orderbook', 'BTC-USDT', { bookChannel })).toThrow(
      RangeError,
    );
    const candleInterval = '7m';
    expect(() => okxAdapter.channelFor('candle', 'BTC-USDT', { candleInterval })).toThrow(
      RangeError,
    );
  });
});

describe('okxAdapter.buildRequest', () => {
  it('writes the documented subscribe frame with the request id', () => {
    const subscriptions = [trades('BTC-USDT'), okxAdapter.channelFor('ticker', 'BTC-USDT-SWAP')];
    expect(okxAdapter.buildRequest('subscribe', subscriptions, '1512')).toBe(
      '{"id":"1512","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},' +
        '{"channel":"tickers","instId":"BTC-USDT-SWAP"}]}',
    );
  });

  it('writes unsubscribe with the same wire form of the symbol', () => {
    expect(okxAdapter.buildRequest('unsubscribe', [trades('BTC-USDT')], 'a1')).toBe(
      '{"id":"a1","op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}',
    );
  });

  it.each(['', 'r-1', 'x'.repeat(33)])('refuses the request id %j that OKX would reject', (id) => {
    expect(() => okxAdapter.buildRequest('subscribe', [trades('BTC-USDT')], id)).toThrow(
      RangeError,
    );
  });

  it('counts an arg as its JSON bytes plus the separating comma', () => {
    const arg = '{"channel":"trades","instId":"BTC-USDT"}';
    expect(okxAdapter.requestArgBytes(trades('BTC-USDT'))).toBe(arg.length + 1);
  });
});

describe('batchSubscriptions', () => {
  const symbols = Array.from({ length: 3000 }, (_, i) => `COIN${i}-USDT`);
  const subscriptions = symbols.map(trades);

  it('keeps every request within 64 KB of args, in order, losing nothing', () => {
    const batches = batchSubscriptions(subscriptions);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toEqual(subscriptions);
    for (const batch of batches) {
      const args = JSON.parse(okxAdapter.buildRequest('subscribe', batch, '1')).args;
      expect(Buffer.byteLength(JSON.stringify(args))).toBeLessThanOrEqual(65_536);
    }
  });

  it('fills a request exactly up to the limit', () => {
    const [first, second, third] = subscriptions.map(okxAdapter.requestArgBytes);
    const maxBytes = 1 + (first ?? 0) + (second ?? 0);
    const batches = batchSubscriptions(subscriptions.slice(0, 3), maxBytes);
    expect(batches.map((batch) => batch.length)).toEqual([2, 1]);
    expect(third).toBeGreaterThan(0);
    const args = JSON.stringify(
      JSON.parse(okxAdapter.buildRequest('subscribe', batches[0] ?? [], '1')).args,
    );
    expect(args.length).toBe(maxBytes);
  });

  it('gives an arg larger than the limit a request of its own', () => {
    const batches = batchSubscriptions(subscriptions.slice(0, 3), 10);
    expect(batches.map((batch) => batch.length)).toEqual([1, 1, 1]);
  });

  it('makes no request for no subscriptions', () => {
    expect(batchSubscriptions([])).toEqual([]);
  });
});

describe('registerExchange', () => {
  it('refuses an adapter that lacks parts of the contract, naming them', () => {
    expect(() => registerExchange({} as never)).toThrow(
      /registerExchange: the adapter lacks id, validateSymbol\(\).*defaultEndpoint/,
    );
    expect(supportedExchanges()).not.toContain('');
  });
});
