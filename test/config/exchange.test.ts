import { describe, expect, it } from 'vitest';
import {
  channelOptions,
  checkAgainstExchange,
  checkAsFarAsParsed,
} from '../../src/config/exchange.ts';
import { parseCollectorConfig } from '../../src/config/schema.ts';
import { ChannelOptionError } from '../../src/exchanges/errors.ts';
import { okxAdapter } from '../../src/exchanges/okx/adapter.ts';
import { registerExchange } from '../../src/exchanges/registry.ts';

const collector = (input: Record<string, unknown>) =>
  parseCollectorConfig({ exchange: 'okx', symbols: ['BTC-USDT'], ...input });

describe('checkAgainstExchange', () => {
  it('finds nothing wrong with what the adapter serves', () => {
    const config = collector({ dataTypes: ['orderbook', 'candle'], bookChannel: 'bbo-tbt' });
    expect(checkAgainstExchange({ ...config, candleInterval: '6Hutc' })).toEqual([]);
  });

  it("names an option's field under the prefix, from the adapter's ChannelOptionError", () => {
    const config = collector({ dataTypes: ['orderbook'], bookChannel: 'books-l2-tbt' });
    expect(() => okxAdapter.channelFor('orderbook', 'BTC-USDT', channelOptions(config))).toThrow(
      ChannelOptionError,
    );
    expect(checkAgainstExchange(config, 'collectors.3')).toEqual([
      {
        field: 'collectors.3.bookChannel',
        received: 'books-l2-tbt',
        expected: 'one of the depth channels that need no login: books, books5, bbo-tbt',
      },
    ]);
  });

  it('blames the data type when a plug-in adapter throws an error that names no option', () => {
    registerExchange({
      ...okxAdapter,
      id: 'plain',
      channelFor: (dataType, symbol, options) => {
        if (dataType === 'candle') throw new RangeError('no candles on Sundays');
        return okxAdapter.channelFor(dataType, symbol, options);
      },
    });
    const config = collector({ exchange: 'plain', dataTypes: ['trade', 'candle'] });
    expect(checkAgainstExchange(config)).toEqual([
      {
        field: 'dataTypes.1',
        received: 'candle',
        expected: 'a data type the adapter can subscribe to (no candles on Sundays)',
      },
    ]);
  });
});

describe('checkAsFarAsParsed', () => {
  const entry = { exchange: 'okx', symbols: ['BTC-USDT'], dataTypes: ['orderbook'] };

  it('asks the adapter about a collector whatever its other fields hold', () => {
    const input = { ...entry, bookChannel: 'books400', bookSnapshot: 'REST', backfil: false };
    expect(checkAsFarAsParsed(input, 'collectors.1').map((i) => [i.field, i.received])).toEqual([
      ['collectors.1.bookChannel', 'books400'],
    ]);
  });

  it('asks nothing while the exchange, the symbols or the data types are refused', () => {
    for (const input of [
      { ...entry, exchange: 5, bookChannel: 'books400' },
      { ...entry, symbols: [], bookChannel: 'books400' },
      { ...entry, symbols: undefined, bookChannel: 'books400' },
      { ...entry, symbol: 'ETH-USDT', bookChannel: 'books400' },
      { ...entry, dataTypes: ['orderbook', 'books'], bookChannel: 'books400' },
      null,
      ['okx'],
    ]) {
      expect(checkAsFarAsParsed(input)).toEqual([]);
    }
  });

  it('leaves out an option the schema refuses, and checks the rest', () => {
    const input = {
      ...entry,
      dataTypes: ['orderbook', 'candle'],
      bookChannel: '',
      candleInterval: '2m',
    };
    expect(checkAsFarAsParsed(input).map((i) => i.field)).toEqual(['candleInterval']);
  });

  it('checks a list with repeats as it is, so the indexes stay those of the input', () => {
    const input = { ...entry, symbols: ['BTC-USDT', 'BTC-USDT', 'btc_usdt'] };
    expect(checkAsFarAsParsed(input).map((i) => [i.field, i.received])).toEqual([
      ['symbols.2', 'btc_usdt'],
    ]);
  });
});
