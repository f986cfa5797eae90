import { describe, expect, it } from 'vitest';
import { okxAdapter } from '../../../src/exchanges/okx/adapter.ts';
import type { ParseContext, ParseResult } from '../../../src/exchanges/types.ts';
import type { CandleEvent, TickerEvent, TradeEvent } from '../../../src/streams/events.ts';
import { type RawFields, raw, readFrames, readReceiptTimes } from './recordings.ts';

const COLLECTOR_ID = 'okx-test';
const OKX_2022 = 'cryptofeed_okx_v5_public_2022-05-13';
const OKCOIN_2023 = 'cryptofeed_okcoin_v5_public_2023-05-27';
/** The ccxt recordings have no receipt times; they were made on 2026-08-12/13. */
const CCXT_RECEIVED_AT = Date.UTC(2026, 7, 13, 12);
const CCXT = 'ccxt_2026-08/';
const CCXT_TRADES = [`${CCXT}trades_BTC-USDT`, `${CCXT}trades_BTC-USDT-SWAP`];
const CCXT_TICKERS = [
  `${CCXT}tickers_BTC-USDT`,
  `${CCXT}tickers_BTC-USDT-SWAP`,
  `${CCXT}tickers_BTC-USDT_bidsasks`,
];
const CCXT_CANDLES = [
  `${CCXT}business_candle1m_BTC-USDT`,
  `${CCXT}business_candle1m_BTC-USDT-SWAP`,
];

/** The recorded frames of one file, each with its receipt time. */
function recording(name: string, receivedAt?: readonly number[]) {
  return readFrames(`${name}.jsonl`).map((text, line) => ({
    text,
    frame: raw(text),
    context: { collectorId: COLLECTOR_ID, receivedAt: receivedAt?.[line] ?? CCXT_RECEIVED_AT },
  }));
}

function expectedTrade(symbol: string, fields: RawFields, context: ParseContext): TradeEvent {
  return {
    type: 'trade',
    exchange: 'okx',
    symbol,
    timestamp: Number(fields.ts),
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    id: fields.tradeId as string,
    price: Number(fields.px),
    amount: Number(fields.sz),
    side: fields.side as 'buy' | 'sell',
    ...(Number(fields.count) > 1 ? { fills: Number(fields.count) } : {}),
  };
}

function expectedTicker(symbol: string, fields: RawFields, context: ParseContext): TickerEvent {
  const spot = fields.instType === 'SPOT' || fields.instType === 'MARGIN';
  return {
    type: 'ticker',
    exchange: 'okx',
    symbol,
    timestamp: Number(fields.ts),
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    last: Number(fields.last),
    lastAmount: Number(fields.lastSz),
    bidPrice: Number(fields.bidPx),
    bidAmount: Number(fields.bidSz),
    askPrice: Number(fields.askPx),
    askAmount: Number(fields.askSz),
    open24h: Number(fields.open24h),
    high24h: Number(fields.high24h),
    low24h: Number(fields.low24h),
    volume24h: Number(fields.vol24h),
    quoteVolume24h: spot ? Number(fields.volCcy24h) : undefined,
  };
}

function expectedCandle(channel: string, symbol: string, row: string[], context: ParseContext) {
  const candle: CandleEvent = {
    type: 'candle',
    exchange: 'okx',
    symbol,
    timestamp: Number(row[0]),
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    interval: channel.replace('candle', ''),
    open: Number(row[1]),
    high: Number(row[2]),
    low: Number(row[3]),
    close: Number(row[4]),
    volume: Number(row[5]),
    closed: row[8] === '1',
  };
  return candle;
}

/** Parses every push of `channel` in a recording; checks each event against its raw element. */
function checkPushes<E>(
  frames: ReturnType<typeof recording>,
  channel: string,
  expected: (symbol: string, element: E, context: ParseContext) => unknown,
): { frames: number; events: number } {
  let pushes = 0;
  let events = 0;
  for (const { text, frame, context } of frames) {
    if (frame.event !== undefined || frame.arg?.channel !== channel) continue;
    const result = okxAdapter.parse(text, context);
    const data = frame.data ?? [];
    expect(result).toStrictEqual({
      events: data.map((element) => expected(frame.arg?.instId ?? '', element as E, context)),
      channel,
    });
    pushes++;
    events += data.length;
  }
  return { frames: pushes, events };
}

function parseAll(frames: ReturnType<typeof recording>): ParseResult[] {
  return frames.map(({ text, context }) => okxAdapter.parse(text, context));
}

describe('the 2022 OKX recording (cryptofeed, verbatim)', () => {
  const frames = recording(OKX_2022, readReceiptTimes(`${OKX_2022}.ts.txt`));

  it('yields one trade per recorded trade, with the values as sent', () => {
    expect(checkPushes(frames, 'trades', expectedTrade)).toEqual({ frames: 74, events: 74 });
  });

  it('yields one ticker per recorded ticker, with the values as sent', () => {
    expect(checkPushes(frames, 'tickers', expectedTicker)).toEqual({ frames: 28, events: 28 });
  });

  it('parses all 18 acks as subscribed controls for the arg they name', () => {
    const acks = frames.filter(({ frame }) => frame.event === 'subscribe');
    expect(acks).toHaveLength(18);
    for (const { text, frame, context } of acks) {
      expect(okxAdapter.parse(text, context)).toStrictEqual({
        control: { kind: 'subscribed', channel: frame.arg?.channel, symbol: frame.arg?.instId },
      });
    }
  });

  it('yields one book_change and one raw book message per book push (test/exchanges/okx/books)', () => {
    const books = parseAll(
      frames.filter(({ frame }) => frame.event === undefined && frame.arg?.channel === 'books'),
    );
    expect(books).toHaveLength(290);
    for (const result of books) {
      expect(result.events).toHaveLength(1);
      expect(result.books).toHaveLength(1);
    }
    expect(frames).toHaveLength(18 + 74 + 28 + 290);
  });

  it('reports no fault on any trade, ticker, book or ack', () => {
    const parsed = parseAll(frames);
    expect(parsed.filter((result) => result.fault !== undefined)).toEqual([]);
  });
});

describe('the 2026 OKX recordings (ccxt, re-serialized)', () => {
  it('parses trades with the 2026 fields count, source and seqId', () => {
    const counts = CCXT_TRADES.map((name) => checkPushes(recording(name), 'trades', expectedTrade));
    expect(counts).toEqual([
      { frames: 2, events: 2 },
      { frames: 2, events: 2 },
    ]);
  });

  it('parses spot and swap tickers with the values as sent', () => {
    const counts = CCXT_TICKERS.map((name) =>
      checkPushes(recording(name), 'tickers', expectedTicker),
    );
    expect(counts.map((count) => count.events)).toEqual([2, 2, 2]);
  });

  it('leaves quoteVolume24h undefined on a swap, whose volCcy24h is in base currency', () => {
    const [, , push] = recording(`${CCXT}tickers_BTC-USDT-SWAP`);
    const event = push && okxAdapter.parse(push.text, push.context).events?.[0];
    expect(event).toMatchObject({
      type: 'ticker',
      volume24h: 7399887.86,
      quoteVolume24h: undefined,
    });
  });

  it('parses candles from the business endpoint, including one that came before its ack', () => {
    const counts = CCXT_CANDLES.map((name) =>
      checkPushes(recording(name), 'candle1m', (symbol, row: string[], context) =>
        expectedCandle('candle1m', symbol, row, context),
      ),
    );
    expect(counts.map((count) => count.events)).toEqual([2, 2]);
  });

  it('parses every ack as a subscribed control and ignores connId', () => {
    const names = [...CCXT_TRADES, ...CCXT_TICKERS, ...CCXT_CANDLES];
    const acks = names.flatMap((name) =>
      recording(name).filter(({ frame }) => frame.event === 'subscribe'),
    );
    expect(acks).toHaveLength(7);
    for (const { text, frame, context } of acks) {
      expect(okxAdapter.parse(text, context).control).toStrictEqual({
        kind: 'subscribed',
        channel: frame.arg?.channel,
        symbol: frame.arg?.instId,
      });
    }
  });
});

describe('the 2023 OKCoin recording (same v5 protocol)', () => {
  const frames = recording(OKCOIN_2023, readReceiptTimes(`${OKCOIN_2023}.ts.txt`));

  it('parses its trades, tickers and candles with the values as sent', () => {
    const candle = (symbol: string, row: string[], context: ParseContext) =>
      expectedCandle('candle1m', symbol, row, context);
    expect(checkPushes(frames, 'trades', expectedTrade).events).toBe(4);
    expect(checkPushes(frames, 'tickers', expectedTicker).events).toBe(8);
    expect(checkPushes(frames, 'candle1m', candle).events).toBe(12);
  });

  it('marks a candle closed only when confirm is "1"', () => {
    const candles = parseAll(frames.filter(({ frame }) => frame.arg?.channel === 'candle1m'))
      .flatMap((result) => result.events ?? [])
      .filter((event) => event.type === 'candle');
    expect(candles.filter((candle) => candle.closed)).toHaveLength(4);
  });
});

describe('the OKX documentation examples', () => {
  const [error, notice] = readFrames('okx_docs_examples.jsonl');
  const context = { collectorId: COLLECTOR_ID, receivedAt: CCXT_RECEIVED_AT };

  it('parses the subscribe failure as an error control with its code and message', () => {
    const frame = raw(error ?? '');
    expect(okxAdapter.parse(error ?? '', context)).toStrictEqual({
      control: { kind: 'error', code: '60012', message: frame.msg },
    });
    expect(okxAdapter.isPermanentError('60012')).toBe(true);
  });

  it('parses the 64008 notice as a notice control that asks for a reconnect', () => {
    const frame = raw(notice ?? '');
    expect(okxAdapter.parse(notice ?? '', context)).toStrictEqual({
      control: { kind: 'notice', code: '64008', message: frame.msg },
    });
    expect(okxAdapter.isReconnectNotice('64008')).toBe(true);
  });
});
