import { describe, expect, it } from 'vitest';
import {
  type CollectorConfigInput,
  ConfigError,
  parseCollectorConfig,
} from '../../src/config/schema.ts';
import { createCollectorManager } from '../../src/index.ts';

/** The issues a call throws as a ConfigError; fails the test if it returns or throws another. */
function issuesOf(call: () => unknown): unknown[][] {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => [i.field, i.received, i.expected]);
  }
  throw new Error('expected a ConfigError');
}

describe('collector config: repeats', () => {
  const repeated: CollectorConfigInput = {
    exchange: 'okx',
    symbols: ['BTC-USDT', 'ETH-USDT', ' BTC-USDT'],
    dataTypes: ['orderbook', 'orderbook'],
  };
  const expected = [
    ['symbols.2', 'BTC-USDT', 'a symbol not listed before'],
    ['dataTypes.1', 'orderbook', 'a data type not listed before'],
  ];

  it('refuses a symbol or a data type listed twice, as the trimmed value the collector uses', () => {
    expect(issuesOf(() => parseCollectorConfig(repeated))).toEqual(expected);
  });

  it('is refused by addCollector as by config validate, and adds nothing', () => {
    const manager = createCollectorManager();
    expect(issuesOf(() => manager.addCollector(repeated))).toEqual(expected);
    expect(manager.listCollectors()).toEqual([]);
  });
});

describe('addCollector: every issue at once', () => {
  it('reports what the exchange refuses beside what the schema refuses', () => {
    const manager = createCollectorManager();
    const input = {
      exchange: 'okx',
      symbols: ['BTC-USDT'],
      dataTypes: ['orderbook'],
      bookChannel: 'books400',
      backfil: true,
    } as unknown as CollectorConfigInput;
    const fields = issuesOf(() => manager.addCollector(input)).map(([field]) => field);
    expect(fields).toEqual(expect.arrayContaining(['bookChannel']));
    expect(fields.length).toBeGreaterThanOrEqual(2);
    expect(manager.listCollectors()).toEqual([]);
  });
});
