import { describe, expect, it } from 'vitest';
import type { BookMessage } from '../../../src/book/message.ts';
import { BookSync } from '../../../src/book/sync.ts';
import {
  bookSnapshotUrl,
  isRestFault,
  parseBookSnapshot,
  parseRetryAfterMs,
  parseTradesPage,
  planBookBootstrap,
  planTradeBackfill,
  type RestFault,
  type RestReply,
  restBaseFor,
  restHeadersFor,
  type TradeBackfillInput,
  type TradesPage,
  tradesPageUrl,
} from '../../../src/exchanges/okx/rest.ts';
import type { TradeEvent } from '../../../src/streams/events.ts';

/**
 * Bodies are shaped as the sources named beside them: the OKX v5 docs' response examples ("GET /
 * Order book", "GET / Full order book", "GET / Trades history", read through the mirror
 * arakinyemi/exchange-api-docs · OKX/Order_Book_Trading/Market_Data/*.md), the docs' REST error
 * table (OKX/Error_Code/Rest_API/Public.md), and live 429 bodies quoted in c9s/bbgo PR #1534
 * (2024) and knowm/XChange PR #4114 (2021).
 */

const context = { collectorId: 'c1', receivedAt: Date.UTC(2026, 9, 1) };
const ok = (body: unknown): RestReply => ({ status: 200, retryAfter: null, body });

// Docs "GET / Order book" response example.
const DOCS_BOOK = {
  code: '0',
  msg: '',
  data: [
    {
      asks: [['41006.8', '0.60038921', '0', '1']],
      bids: [['41006.3', '0.30178218', '0', '2']],
      ts: '1629966436396',
    },
  ],
};

// Docs "GET / Trades history" response example.
const DOCS_TRADES = {
  code: '0',
  msg: '',
  data: [
    {
      instId: 'BTC-USDT',
      side: 'sell',
      sz: '0.00001',
      px: '29963.2',
      tradeId: '242720720',
      ts: '1654161646974',
    },
    {
      instId: 'BTC-USDT',
      side: 'sell',
      sz: '0.00001',
      px: '29964.1',
      tradeId: '242720719',
      ts: '1654161641568',
    },
  ],
};

function withBook(fields: Record<string, unknown>): unknown {
  return { ...DOCS_BOOK, data: [{ ...DOCS_BOOK.data[0], ...fields }] };
}

function fault(result: object): RestFault {
  if (!isRestFault(result)) throw new Error(`expected a fault, got ${JSON.stringify(result)}`);
  return result;
}

function page(result: TradesPage | RestFault): TradesPage {
  if (isRestFault(result)) throw new Error(`expected a page, got ${result.code}: ${result.detail}`);
  return result;
}

describe('restBaseFor', () => {
  it.each([
    ['wss://ws.okx.com:8443/ws/v5', 'https://www.okx.com', {}],
    ['wss://ws.okx.com:8443/ws/v5/public', 'https://www.okx.com', {}],
    [
      'wss://wspap.okx.com:8443/ws/v5/public?brokerId=9999',
      'https://www.okx.com',
      { 'x-simulated-trading': '1' },
    ],
    ['wss://wseea.okx.com:8443/ws/v5/business', 'https://eea.okx.com', {}],
    ['wss://wseeapap.okx.com:8443/ws/v5', 'https://eea.okx.com', { 'x-simulated-trading': '1' }],
    ['ws://127.0.0.1:41234/ws/v5', 'http://127.0.0.1:41234', {}],
    ['wss://okx-proxy.internal:9443/ws/v5', 'https://okx-proxy.internal:9443', {}],
  ])('maps %s to %s', (endpoint, base, headers) => {
    expect(restBaseFor(endpoint)).toBe(base);
    expect(restHeadersFor(endpoint)).toEqual(headers);
  });

  it.each(['https://www.okx.com', 'ws.okx.com:8443', ''])(
    'refuses %j, naming what it expected',
    (endpoint) => {
      expect(() => restBaseFor(endpoint)).toThrow(/must be a ws:\/\/ or wss:\/\/ URL/);
    },
  );
});

describe('REST URLs', () => {
  const base = 'https://www.okx.com';

  it('asks for a book of the stream depth', () => {
    expect(bookSnapshotUrl(base, 'BTC-USDT', 400)).toBe(
      'https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400',
    );
  });

  it('pages trades by trade id, older than the cursor', () => {
    const path = '/api/v5/market/history-trades?instId=BTC-USDT-SWAP';
    expect(tradesPageUrl(base, 'BTC-USDT-SWAP', { afterTradeId: '1040968613', limit: 100 })).toBe(
      `${base}${path}&type=1&after=1040968613&limit=100`,
    );
    expect(tradesPageUrl(base, 'BTC-USDT', { limit: 5 })).toBe(
      'https://www.okx.com/api/v5/market/history-trades?instId=BTC-USDT&type=1&limit=5',
    );
  });

  it.each([0, 401, 1.5])('refuses book depth %s', (depth) => {
    expect(() => bookSnapshotUrl(base, 'BTC-USDT', depth)).toThrow(/from 1 to 400; received/);
  });

  it('refuses a page limit over 100 and a cursor that is not a trade id', () => {
    expect(() => tradesPageUrl(base, 'BTC-USDT', { limit: 101 })).toThrow(/from 1 to 100/);
    expect(() => tradesPageUrl(base, 'BTC-USDT', { afterTradeId: '12a', limit: 1 })).toThrow(
      /afterTradeId must be a trade id of digits; received "12a"/,
    );
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.UTC(2015, 9, 21, 7, 27, 58);

  it.each([
    [null, undefined],
    ['', undefined],
    ['5', 5000],
    [' 2 ', 2000],
    ['0', 0],
    ['Wed, 21 Oct 2015 07:28:00 GMT', 2000],
    ['Wed, 21 Oct 2015 07:00:00 GMT', 0],
    ['1.5', undefined],
    ['-1', undefined],
    ['soon', undefined],
  ])('reads %j as %s ms', (header, expected) => {
    expect(parseRetryAfterMs(header, now)).toBe(expected);
  });
});

describe('REST replies that are not data', () => {
  const rateLimited = { msg: 'Too Many Requests', code: '50011' };

  it.each<[string, RestReply, Partial<RestFault>]>([
    [
      'a 429 with Retry-After (bbgo #1534 body)',
      { status: 429, retryAfter: '2', body: rateLimited },
      { code: 'rest-rate-limited', okxCode: '50011', retryable: true, retryAfterMs: 2000 },
    ],
    [
      'a 429 with a numeric code (XChange #4114 body)',
      { status: 429, retryAfter: null, body: { msg: 'Requests too frequent.', code: 50011 } },
      { code: 'rest-rate-limited', okxCode: '50011', retryAfterMs: undefined },
    ],
    [
      '50011 inside an HTTP 200 (docs error table)',
      ok({ code: '50011', msg: 'Rate limit reached.', data: [] }),
      { code: 'rest-rate-limited', retryable: true },
    ],
    [
      '50013 systems busy',
      { status: 429, retryAfter: null, body: { code: '50013', msg: 'Systems are busy.' } },
      { code: 'rest-rate-limited' },
    ],
    [
      '51001, an instrument that does not exist',
      ok({ code: '51001', msg: "Instrument ID doesn't exist.", data: [] }),
      { code: 'rest-error', okxCode: '51001', retryable: false },
    ],
    [
      '51000 with HTTP 400',
      { status: 400, retryAfter: null, body: { code: '51000', msg: 'Parameter sz error' } },
      { code: 'rest-error', retryable: false },
    ],
    [
      '50001 with HTTP 503',
      {
        status: 503,
        retryAfter: '1',
        body: { code: '50001', msg: 'Service temporarily unavailable.' },
      },
      { code: 'rest-error', retryable: true, retryAfterMs: 1000 },
    ],
    [
      'a 404 without a JSON body',
      { status: 404, retryAfter: null, body: undefined },
      { code: 'rest-error', okxCode: undefined, retryable: false },
    ],
    ['a 200 that is not JSON', ok(undefined), { code: 'rest-invalid-body', retryable: true }],
    ['an envelope without code', ok({ data: [] }), { code: 'rest-invalid-body' }],
    [
      'data that is not an array',
      ok({ code: '0', msg: '', data: {} }),
      { code: 'rest-invalid-body' },
    ],
  ])('turns %s into a fault', (_, reply, expected) => {
    expect(fault(parseBookSnapshot(reply, 'BTC-USDT', 'books', context))).toMatchObject(expected);
    expect(fault(parseTradesPage(reply, 'BTC-USDT', context))).toMatchObject(expected);
  });

  it('names the HTTP status and OKX code and message in the detail', () => {
    const reply = ok({ code: '51001', msg: "Instrument ID doesn't exist.", data: [] });
    expect(fault(parseTradesPage(reply, 'NOPE-USDT', context)).detail).toBe(
      'HTTP 200 okx 51001 "Instrument ID doesn\'t exist."',
    );
  });
});

describe('parseBookSnapshot', () => {
  it('reads the docs example as a snapshot, wire strings kept', () => {
    const parsed = parseBookSnapshot(ok(DOCS_BOOK), 'BTC-USDT', 'books', context);
    if (isRestFault(parsed)) throw new Error(parsed.detail);
    expect(parsed.message).toEqual({
      symbol: 'BTC-USDT',
      channel: 'books',
      action: 'snapshot',
      timestamp: 1629966436396,
      seqId: undefined,
      prevSeqId: undefined,
      checksum: undefined,
      // Price and size as sent; the two fields after them are not kept.
      bids: [['41006.3', '0.30178218']],
      asks: [['41006.8', '0.60038921']],
    });
    expect(parsed.event).toMatchObject({
      type: 'book_change',
      exchange: 'okx',
      isSnapshot: true,
      bids: [[41006.3, 0.30178218]],
      asks: [[41006.8, 0.60038921]],
      localTimestamp: context.receivedAt,
    });
  });

  it.each([
    ['an integer, as on the WebSocket', 333794734996],
    ['a string of digits', '333794734996'],
  ])('keeps a seqId sent as %s', (_, seqId) => {
    const parsed = parseBookSnapshot(ok(withBook({ seqId })), 'BTC-USDT', 'books', context);
    if (isRestFault(parsed)) throw new Error(parsed.detail);
    expect(parsed.message.seqId).toBe(333794734996);
    expect(parsed.event.sequence).toBe(333794734996);
  });

  it('reads books-full rows, which have three fields (docs "GET / Full order book")', () => {
    const body = withBook({ asks: [['41006.8', '0.60038921', '1']], bids: [] });
    const parsed = parseBookSnapshot(ok(body), 'BTC-USDT', 'books', context);
    if (isRestFault(parsed)) throw new Error(parsed.detail);
    expect(parsed.event.asks).toEqual([[41006.8, 0.60038921]]);
  });

  it.each([
    ['no book', { code: '0', msg: '', data: [] }, 'data must hold one book; it holds 0'],
    [
      'two books',
      { ...DOCS_BOOK, data: [DOCS_BOOK.data[0], DOCS_BOOK.data[0]] },
      'data must hold one book; it holds 2',
    ],
    ['a bad level', withBook({ asks: [['41006.8', '-1', '0', '1']] }), 'asks[0] must be'],
    ['a seqId that is not an integer', withBook({ seqId: 1.5 }), 'seqId must be an integer'],
    ['no ts', withBook({ ts: undefined }), 'ts must be'],
  ])('rejects %s as rest-invalid-body', (_, body, detail) => {
    const result = fault(parseBookSnapshot(ok(body), 'BTC-USDT', 'books', context));
    expect(result.code).toBe('rest-invalid-body');
    expect(result.detail).toContain(detail);
  });
});

describe('parseTradesPage', () => {
  it('reads the docs example oldest first, marked backfilled', () => {
    const result = page(parseTradesPage(ok(DOCS_TRADES), 'BTC-USDT', context));
    expect(result.oldestId).toBe('242720719');
    expect(result.newestId).toBe('242720720');
    expect(result.trades).toEqual([
      {
        type: 'trade',
        exchange: 'okx',
        symbol: 'BTC-USDT',
        timestamp: 1654161641568,
        localTimestamp: context.receivedAt,
        collectorId: 'c1',
        id: '242720719',
        price: 29964.1,
        amount: 0.00001,
        side: 'sell',
        backfilled: true,
      },
      expect.objectContaining({ id: '242720720', price: 29963.2, backfilled: true }),
    ]);
  });

  it('reads an empty page as no trades (nothing older than three months)', () => {
    expect(
      page(parseTradesPage(ok({ code: '0', msg: '', data: [] }), 'BTC-USDT', context)),
    ).toEqual({ trades: [], oldestId: undefined, newestId: undefined });
  });

  it('sorts by numeric id, not by text', () => {
    const rows = ['100', '99', '1000'].map((tradeId) => ({ ...DOCS_TRADES.data[0], tradeId }));
    const result = page(parseTradesPage(ok({ ...DOCS_TRADES, data: rows }), 'BTC-USDT', context));
    expect(result.trades.map((trade) => trade.id)).toEqual(['99', '100', '1000']);
  });

  it.each([
    ['a row of another instrument', { instId: 'ETH-USDT' }, 'data[1] is for "ETH-USDT"'],
    ['a row without px', { px: undefined }, 'data[1]: px must be'],
    ['a tradeId that is not an integer', { tradeId: 'x1' }, 'tradeId x1 is not an integer'],
  ])('rejects the whole page for %s', (_, fields, detail) => {
    const data = [DOCS_TRADES.data[0], { ...DOCS_TRADES.data[1], ...fields }];
    const result = fault(parseTradesPage(ok({ ...DOCS_TRADES, data }), 'BTC-USDT', context));
    expect(result.code).toBe('rest-invalid-body');
    expect(result.detail).toContain(detail);
  });
});

describe('planBookBootstrap', () => {
  const level = (px: string, sz: string) => [px, sz, '0', '1'] as const;

  function message(action: 'snapshot' | 'update', prevSeqId: number, seqId: number): BookMessage {
    return {
      symbol: 'BTC-USDT',
      channel: 'books',
      action,
      timestamp: context.receivedAt,
      seqId,
      prevSeqId,
      checksum: 0,
      bids: [level('100', String(seqId))],
      asks: [level('101', '1')],
    };
  }
  const update = (prevSeqId: number, seqId: number) => message('update', prevSeqId, seqId);
  const snapshot = (seqId: number | undefined): BookMessage => ({
    ...message('snapshot', -1, 0),
    seqId,
    prevSeqId: undefined,
    checksum: undefined,
    bids: [level('100', '4'), level('99', '2')],
  });
  const buffer = [update(10, 15), update(15, 20), update(20, 22)];

  it('applies the updates after a snapshot that falls on an update', () => {
    const plan = planBookBootstrap(snapshot(15), buffer);
    expect(plan).toEqual({
      outcome: 'ready',
      snapshot: snapshot(15),
      updates: [update(15, 20), update(20, 22)],
      snapshotSeqId: 15,
    });
  });

  it('bridges a snapshot that falls inside an update, and BookSync accepts the result', () => {
    const plan = planBookBootstrap(snapshot(17), buffer);
    if (plan.outcome !== 'ready') throw new Error(plan.outcome);
    expect(plan.snapshot.seqId).toBe(15);
    expect(plan.snapshotSeqId).toBe(17);
    expect(plan.updates).toEqual([update(15, 20), update(20, 22)]);
    const sync = new BookSync('BTC-USDT');
    const outcomes = [plan.snapshot, ...plan.updates].map((m) => sync.apply(m).outcome);
    expect(outcomes).toEqual(['applied', 'applied', 'applied']);
    expect(sync.apply(update(22, 30)).outcome).toBe('applied');
    expect(sync.book.bids.map((entry) => [entry.px, entry.sz])).toEqual([
      ['100', '30'],
      ['99', '2'],
    ]);
  });

  it('asks for another snapshot when this one is older than the stream', () => {
    expect(planBookBootstrap(snapshot(8), buffer)).toEqual({
      outcome: 'stale',
      detail: 'snapshot seqId 8 is before the stream (10)',
    });
  });

  it.each([
    ['newer than every buffered update', 23, buffer],
    ['fetched before any update arrived', 15, []],
  ])('waits for more updates when the snapshot is %s', (_, seqId, buffered) => {
    expect(planBookBootstrap(snapshot(seqId), buffered)).toEqual({ outcome: 'wait' });
  });

  it('goes live on the snapshot alone when it is exactly at the newest buffered update', () => {
    const newest = buffer[buffer.length - 1]?.seqId ?? 0;
    expect(planBookBootstrap(snapshot(newest), buffer)).toEqual({
      outcome: 'ready',
      snapshot: snapshot(newest),
      updates: [],
      snapshotSeqId: newest,
    });
  });

  it('ignores pushed snapshots and idle keep-alives at or before the snapshot', () => {
    const buffered = [message('snapshot', -1, 9), update(10, 15), update(15, 15), update(15, 18)];
    const plan = planBookBootstrap(snapshot(15), buffered);
    expect(plan).toMatchObject({ outcome: 'ready', updates: [update(15, 18)] });
  });

  it.each<[string, number | undefined, BookMessage[], string]>([
    ['a snapshot without seqId', undefined, buffer, 'the snapshot carries no seqId'],
    ['a sequence reset', 15, [update(10, 15), update(15, 3)], 'the sequence reset from 15 to 3'],
    [
      'a hole around the snapshot',
      16,
      [update(10, 15), update(18, 20)],
      'the buffer skips from 18 past snapshot 16',
    ],
    [
      'a hole after the snapshot',
      15,
      [update(10, 15), update(15, 20), update(21, 25)],
      'buffered prevSeqId 21 does not follow seqId 20',
    ],
    [
      'an update without ids',
      15,
      [{ ...update(10, 15), seqId: undefined }],
      'a buffered update carries no seqId',
    ],
  ])('starts over on %s', (_, seqId, buffered, detail) => {
    expect(planBookBootstrap(snapshot(seqId), buffered)).toEqual({ outcome: 'restart', detail });
  });
});

describe('planTradeBackfill', () => {
  const T0 = Date.UTC(2026, 9, 1);

  function trade(id: number): TradeEvent {
    return {
      type: 'trade',
      exchange: 'okx',
      symbol: 'BTC-USDT',
      timestamp: T0 + id,
      localTimestamp: T0 + 5000,
      collectorId: 'c1',
      id: String(id),
      price: 1,
      amount: 1,
      side: 'buy',
      backfilled: true,
    };
  }
  const trades = (...ids: number[]) => ids.map(trade);
  const bound = (id: number) => ({ id: String(id), timestamp: T0 + id });

  function plan(overrides: Partial<TradeBackfillInput>) {
    return planTradeBackfill({
      from: bound(100),
      to: bound(110),
      pages: [],
      pageLimit: 100,
      pagesLeft: 10,
      ...overrides,
    });
  }
  const ids = (result: ReturnType<typeof plan>) => result.trades.map((t) => Number(t.id));

  it('has nothing to do when the trades follow each other', () => {
    expect(plan({ to: bound(101) })).toEqual({
      trades: [],
      nextAfterId: undefined,
      missing: undefined,
    });
  });

  it('starts below the first fill of the live push, which aggregates count fills', () => {
    expect(plan({}).nextAfterId).toBe('110');
    expect(plan({ to: { ...bound(112), count: 3 } }).nextAfterId).toBe('110');
  });

  it('recovers everything in order, once, from an unsorted page that overlaps both ends', () => {
    const result = plan({
      pages: [trades(109, 108, 99, 100, 101, 102, 103, 104, 105, 106, 107, 110)],
    });
    expect(ids(result)).toEqual([101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(result.nextAfterId).toBeUndefined();
    expect(result.missing).toBeUndefined();
  });

  it('pages backwards from the oldest trade fetched until the outage is covered', () => {
    const first = plan({ pageLimit: 3, pages: [trades(107, 108, 109)] });
    expect(first.nextAfterId).toBe('107');
    const second = plan({ pageLimit: 3, pages: [trades(107, 108, 109), trades(104, 105, 106)] });
    expect(second.nextAfterId).toBe('104');
    const pages = [trades(107, 108, 109), trades(104, 105, 106), trades(101, 102, 103)];
    const done = plan({ pageLimit: 3, pages });
    expect(ids(done)).toEqual([101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(done).toMatchObject({ nextAfterId: undefined, missing: undefined });
  });

  it('drops a page fetched twice (a retry after 429)', () => {
    const result = plan({
      pages: [trades(105, 106, 107, 108, 109), trades(105, 106, 107, 108, 109)],
    });
    expect(ids(result)).toEqual([105, 106, 107, 108, 109]);
  });

  it('announces the unrecovered oldest part when OKX has nothing older (a short page)', () => {
    const result = plan({ pages: [trades(106, 107, 108, 109)] });
    expect(ids(result)).toEqual([106, 107, 108, 109]);
    expect(result).toMatchObject({ nextAfterId: undefined });
    expect(result.missing).toEqual({
      fromId: '100',
      toId: '106',
      fromTimestamp: T0 + 100,
      toTimestamp: T0 + 106,
      missing: 5,
    });
  });

  it('announces what is left when the caller has no pages left', () => {
    const result = plan({ pageLimit: 2, pagesLeft: 0, pages: [trades(108, 109)] });
    expect(result.missing).toMatchObject({ fromId: '100', toId: '108', missing: 7 });
  });

  it('announces the whole outage when nothing came back', () => {
    const result = plan({ pages: [[]] });
    expect(result.trades).toEqual([]);
    expect(result.missing).toEqual({
      fromId: '100',
      toId: '110',
      fromTimestamp: T0 + 100,
      toTimestamp: T0 + 110,
      missing: 9,
    });
  });

  it('bounds one gap around holes inside the recovered trades', () => {
    const one = plan({ to: bound(106), pages: [trades(101, 102, 104, 105)] });
    expect(one.missing).toMatchObject({ fromId: '102', toId: '104', missing: 1 });
    const three = plan({ to: bound(107), pages: [trades(101, 103, 105)] });
    expect(three.missing).toMatchObject({ fromId: '101', toId: '107', missing: 3 });
  });

  it('announces the outage without a count when ids are not integers', () => {
    const result = plan({ from: { id: 'a1', timestamp: T0 } });
    expect(result).toEqual({
      trades: [],
      nextAfterId: undefined,
      missing: {
        fromId: 'a1',
        toId: '110',
        fromTimestamp: T0,
        toTimestamp: T0 + 110,
        missing: undefined,
      },
    });
  });
});
