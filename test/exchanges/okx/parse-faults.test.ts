import { describe, expect, it } from 'vitest';
import { okxAdapter } from '../../../src/exchanges/okx/adapter.ts';
import type { ParseResult } from '../../../src/exchanges/types.ts';
import type { FaultCode } from '../../../src/streams/faults.ts';
import { raw, readFrames } from './recordings.ts';

const RECEIVED_AT = Date.UTC(2022, 4, 13, 16, 27, 30);
const context = { collectorId: 'okx-test', receivedAt: RECEIVED_AT };
const DAY_MS = 86_400_000;

const parse = (text: string): ParseResult => okxAdapter.parse(text, context);

/** A 2022 trade push with some of its element's fields replaced. */
function tradePush(fields: Record<string, unknown> = {}): string {
  const trade = {
    instId: 'BTC-USDT',
    tradeId: '338476307',
    px: '30236',
    sz: '0.0002',
    side: 'buy',
    ts: '1652459224818',
    ...fields,
  };
  return JSON.stringify({ arg: { channel: 'trades', instId: 'BTC-USDT' }, data: [trade] });
}

function tickerPush(fields: Record<string, unknown> = {}): string {
  const ticker = {
    instType: 'SPOT',
    instId: 'BTC-USDT',
    last: '30236',
    lastSz: '0.0002',
    askPx: '30228.7',
    askSz: '1.55896972',
    bidPx: '30228.6',
    bidSz: '0.23393',
    open24h: '29700.4',
    high24h: '31073',
    low24h: '28020.3',
    volCcy24h: '525802090.62716611',
    vol24h: '17602.13085371',
    ts: '1652459224956',
    ...fields,
  };
  return JSON.stringify({ arg: { channel: 'tickers', instId: 'BTC-USDT' }, data: [ticker] });
}

function candlePush(row: unknown[]): string {
  return JSON.stringify({ arg: { channel: 'candle1m', instId: 'BTC-USDT' }, data: [row] });
}

const TRADE = tradePush();
const CANDLE = ['1652459220000', '30218.8', '30250.1', '30210.4', '30243.5', '12.5', '1', '1', '0'];

describe('parse: malformed frames', () => {
  it('answers the text pong with a pong control, before any JSON parsing', () => {
    expect(parse('pong')).toStrictEqual({ control: { kind: 'pong' } });
  });

  const table: [title: string, frame: string, code: FaultCode][] = [
    ['the text ping (OKX never pings a client)', 'ping', 'frame-not-json'],
    ['pong with a trailing newline', 'pong\n', 'frame-not-json'],
    ['an empty frame', '', 'frame-not-json'],
    ['truncated JSON', TRADE.slice(0, 60), 'frame-not-json'],
    ['two JSON objects glued in one frame', TRADE + TRADE, 'frame-not-json'],
    ['an empty array', '[]', 'frame-unknown-shape'],
    ['null', 'null', 'frame-unknown-shape'],
    ['a number', '42', 'frame-unknown-shape'],
    ['pong as a JSON string', '"pong"', 'frame-unknown-shape'],
    ['an empty object', '{}', 'frame-unknown-shape'],
    ['an event that is not a string', '{"event":1}', 'frame-unknown-shape'],
    ['an ack without arg', '{"event":"subscribe"}', 'frame-unknown-shape'],
    [
      'an ack whose arg lacks instId',
      '{"event":"subscribe","arg":{"channel":"trades"}}',
      'frame-unknown-shape',
    ],
    ['an error without code', '{"event":"error","msg":"x"}', 'frame-unknown-shape'],
    ['a notice without code', '{"event":"notice","msg":"x"}', 'frame-unknown-shape'],
    ['data without arg', '{"data":[]}', 'frame-unknown-shape'],
    [
      'data that is not an array',
      '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":{}}',
      'frame-unknown-shape',
    ],
    [
      'a push arg without instId',
      '{"arg":{"channel":"trades"},"data":[{}]}',
      'frame-unknown-shape',
    ],
    [
      'a push on a channel with no parser (funding-rate)',
      '{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{}]}',
      'frame-unknown-shape',
    ],
    [
      'a mark-price candle push',
      '{"arg":{"channel":"mark-price-candle1m","instId":"BTC-USDT"},"data":[[]]}',
      'frame-unknown-shape',
    ],
    [
      'a push with an empty data array',
      '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[]}',
      'frame-invalid-data',
    ],
  ];

  it.each(table)('reports %s as a fault and yields nothing else', (_title, frame, code) => {
    const result = parse(frame);
    expect(result.fault?.code).toBe(code);
    expect(result.events).toBeUndefined();
    expect(result.control).toBeUndefined();
  });

  it('keeps a sample of at most 200 characters of the frame', () => {
    const long = `{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[${'1,'.repeat(500)}1]}`;
    const sample = parse(long).fault?.sample;
    expect(sample).toHaveLength(200);
    expect(long.startsWith(sample ?? '-')).toBe(true);
    expect(parse('ping').fault?.sample).toBe('ping');
  });

  it('never throws on any proper prefix of a recorded frame, and calls each one not JSON', () => {
    const frames = readFrames('cryptofeed_okx_v5_public_2022-05-13.jsonl').filter(
      (text) => raw(text).arg?.channel !== 'books',
    );
    let prefixes = 0;
    for (const frame of frames) {
      for (let end = 0; end < frame.length; end++) {
        expect(parse(frame.slice(0, end)).fault?.code).toBe('frame-not-json');
        prefixes++;
      }
    }
    expect(prefixes).toBeGreaterThan(10_000);
  });
});

describe('parse: invalid data elements', () => {
  const wrongTrades: [field: string, value: unknown][] = [
    ['px', 30236],
    ['px', ''],
    ['px', 'abc'],
    ['px', 'Infinity'],
    ['sz', null],
    ['sz', []],
    ['side', 'hold'],
    ['side', 'BUY'],
    ['tradeId', 338476307],
    ['tradeId', ''],
    ['tradeId', undefined],
    ['ts', 1652459224818],
    ['ts', '1652459224818.5'],
    ['ts', 'yesterday'],
    ['ts', {}],
  ];

  it.each(wrongTrades)('drops a trade whose %s is %j as frame-invalid-data', (field, value) => {
    expect(parse(tradePush({ [field]: value }))).toStrictEqual({
      fault: expect.objectContaining({ code: 'frame-invalid-data' }),
    });
  });

  it('drops a trade element that is not an object', () => {
    const frame = '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":["338476307"]}';
    expect(parse(frame).fault?.code).toBe('frame-invalid-data');
  });

  it('keeps the good trades of a push and reports the bad one in the fault', () => {
    const good = raw(TRADE).data?.[0] as Record<string, string>;
    const frame = JSON.stringify({
      arg: { channel: 'trades', instId: 'BTC-USDT' },
      data: [good, { ...good, tradeId: '2', px: 1 }, { ...good, tradeId: '3' }],
    });
    const result = parse(frame);
    expect(result.events?.map((event) => event.type === 'trade' && event.id)).toEqual([
      '338476307',
      '3',
    ]);
    expect(result.fault?.code).toBe('frame-invalid-data');
  });

  it('ignores element fields it does not use (count, source, seqId, even a wrong type)', () => {
    const result = parse(tradePush({ count: 1, source: null, seqId: 'x', instId: 7 }));
    expect(result.fault).toBeUndefined();
    expect(result.events).toHaveLength(1);
  });

  it('reads empty ticker fields as undefined, not as zero', () => {
    const event = parse(tickerPush({ bidPx: '', bidSz: '', last: '' })).events?.[0];
    expect(event).toMatchObject({ bidPrice: undefined, bidAmount: undefined, last: undefined });
    expect(event).toMatchObject({ askPrice: 30228.7 });
  });

  it.each([
    ['bidPx', 30228.6],
    ['askSz', 'many'],
    ['vol24h', null],
    ['ts', ''],
  ])('drops a ticker whose %s is %j as frame-invalid-data', (field, value) => {
    expect(parse(tickerPush({ [field]: value })).fault?.code).toBe('frame-invalid-data');
  });

  it.each([
    ['a short row', CANDLE.slice(0, 8)],
    ['a confirm flag of "2"', [...CANDLE.slice(0, 8), '2']],
    ['a numeric open', [CANDLE[0], 30218.8, ...CANDLE.slice(2)]],
    ['a high below the low', [CANDLE[0], '30218.8', '30200', '30210.4', ...CANDLE.slice(4)]],
    ['a close above the high', [...CANDLE.slice(0, 4), '30300', ...CANDLE.slice(5)]],
    ['an open below the low', [CANDLE[0], '30000', ...CANDLE.slice(2)]],
  ])('drops a candle with %s as frame-invalid-data', (_title, row) => {
    expect(parse(candlePush(row)).fault?.code).toBe('frame-invalid-data');
  });
});

describe('parse: implausible timestamps', () => {
  const table: [title: string, ts: string][] = [
    ['the 1970 epoch', '0'],
    ['a 1970 value', '86400000'],
    ['seconds instead of milliseconds', '1652459224'],
    ['microseconds instead of milliseconds', '1652459224818000'],
    ['more than a day after receipt', String(RECEIVED_AT + DAY_MS + 1)],
    ['2009-12-31', String(Date.UTC(2009, 11, 31))],
  ];

  it.each(table)('skips a trade stamped with %s as timestamp-implausible', (_title, ts) => {
    expect(parse(tradePush({ ts }))).toStrictEqual({
      fault: expect.objectContaining({ code: 'timestamp-implausible' }),
    });
  });

  it('accepts a trade stamped up to a day after receipt (clock skew)', () => {
    expect(parse(tradePush({ ts: String(RECEIVED_AT + DAY_MS) })).events).toHaveLength(1);
  });

  it('skips implausible tickers and candles too', () => {
    expect(parse(tickerPush({ ts: '0' })).fault?.code).toBe('timestamp-implausible');
    expect(parse(candlePush(['0', ...CANDLE.slice(1)])).fault?.code).toBe('timestamp-implausible');
  });
});

describe('numbers that are not plain positive decimals', () => {
  const context = { collectorId: 'c', receivedAt: Date.UTC(2026, 0, 1) };
  const trade = (px: string, sz: string) =>
    JSON.stringify({
      arg: { channel: 'trades', instId: 'BTC-USDT' },
      data: [
        { instId: 'BTC-USDT', tradeId: '1', px, sz, side: 'buy', ts: String(context.receivedAt) },
      ],
    });
  it.each([
    ['-5', '1'],
    ['0', '1'],
    ['0x10', '1'],
    ['1e3', '1'],
    [' 5', '1'],
    ['100', '-2'],
    ['100', '0'],
  ])('refuses a trade with px %j and sz %j as frame-invalid-data', (px, sz) => {
    const result = okxAdapter.parse(trade(px, sz), context);
    expect(result.events ?? []).toHaveLength(0);
    expect(result.fault?.code).toBe('frame-invalid-data');
  });
});
