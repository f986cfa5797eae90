import { describe, expect, it } from 'vitest';
import type { BookMessage } from '../../../src/book/message.ts';
import { okxAdapter } from '../../../src/exchanges/okx/adapter.ts';
import type { ParseResult } from '../../../src/exchanges/types.ts';
import type { BookChangeEvent, BookLevel } from '../../../src/streams/events.ts';
import { raw, readFrames, readReceiptTimes } from './recordings.ts';

const COLLECTOR_ID = 'okx-test';
const RECEIVED_AT = Date.UTC(2026, 7, 13, 12);
const context = { collectorId: COLLECTOR_ID, receivedAt: RECEIVED_AT };
const parse = (text: string): ParseResult => okxAdapter.parse(text, context);

/** A recorded book element, loosely typed. */
interface RawBook {
  readonly bids: string[][];
  readonly asks: string[][];
  readonly ts: string;
  readonly seqId?: number;
  readonly prevSeqId?: number;
  readonly checksum?: number;
}

const numeric = (levels: string[][]): BookLevel[] =>
  levels.map((level) => [Number(level[0]), Number(level[1])]);

/** The book keeps a level's price and size strings as sent, and nothing after them. */
const priceAndSize = (levels: string[][]): BookMessage['bids'] =>
  levels.map((level) => [level[0] ?? '', level[1] ?? '']);

/** The event and raw message a recorded book push must yield, built from the raw element. */
function expected(text: string, receivedAt = RECEIVED_AT) {
  const frame = raw(text) as ReturnType<typeof raw> & { action?: string };
  const channel = frame.arg?.channel ?? '';
  const symbol = frame.arg?.instId ?? '';
  const element = frame.data?.[0] as RawBook;
  const action = frame.action === 'update' ? 'update' : 'snapshot';
  const event: BookChangeEvent = {
    type: 'book_change',
    exchange: 'okx',
    symbol,
    timestamp: Number(element.ts),
    localTimestamp: receivedAt,
    collectorId: COLLECTOR_ID,
    isSnapshot: action === 'snapshot',
    bids: numeric(element.bids),
    asks: numeric(element.asks),
    sequence: element.seqId,
  };
  const message: BookMessage = {
    symbol,
    channel,
    action,
    timestamp: Number(element.ts),
    seqId: element.seqId,
    prevSeqId: element.prevSeqId,
    checksum: element.checksum,
    bids: priceAndSize(element.bids),
    asks: priceAndSize(element.asks),
  };
  return { events: [event], books: [message], channel };
}

const isBookPush = (text: string) => {
  const frame = raw(text);
  return frame.event === undefined && frame.arg !== undefined;
};

describe('OKX book pushes from the recordings', () => {
  it('parses all 290 books pushes of 2022 into book_change events and raw messages', () => {
    const name = 'cryptofeed_okx_v5_public_2022-05-13';
    const times = readReceiptTimes(`${name}.ts.txt`);
    const frames = readFrames(`${name}.jsonl`)
      .map((text, line) => ({ text, receivedAt: times[line] ?? 0 }))
      .filter(({ text }) => raw(text).arg?.channel === 'books' && isBookPush(text));
    expect(frames).toHaveLength(290);
    for (const { text, receivedAt } of frames) {
      const result = okxAdapter.parse(text, { collectorId: COLLECTOR_ID, receivedAt });
      expect(result).toStrictEqual(expected(text, receivedAt));
    }
  });

  it('keeps the level strings exactly as sent in the raw message', () => {
    const text = readFrames('cryptofeed_okx_v5_public_2022-05-13.jsonl').find(
      (line) => isBookPush(line) && line.includes('"action":"update"'),
    );
    const message = text === undefined ? undefined : parse(text).books?.[0];
    expect(message?.action).toBe('update');
    expect(message?.checksum).toBeTypeOf('number');
    const rawBook = raw(text ?? '').data?.[0] as RawBook;
    expect(message?.asks).toEqual(priceAndSize(rawBook.asks));
  });

  it('parses books5 pushes as full 5-level snapshots with their seqId', () => {
    for (const name of ['books5_BTC-USDT', 'books5_BTC-USDT-SWAP']) {
      const pushes = readFrames(`ccxt_2026-08/${name}.jsonl`).filter(isBookPush);
      expect(pushes).toHaveLength(2);
      for (const text of pushes) {
        const result = parse(text);
        expect(result).toStrictEqual(expected(text));
        expect(result.events?.[0]).toMatchObject({ isSnapshot: true });
        expect(result.books?.[0]).toMatchObject({ prevSeqId: undefined, checksum: undefined });
      }
    }
    const swap = readFrames('ccxt_2026-08/books5_BTC-USDT-SWAP.jsonl').filter(isBookPush);
    const [first, second] = swap.map((text) => parse(text).events?.[0]);
    expect(first?.type === 'book_change' && first.bids[0]).toEqual([63921.4, 421.93]);
    expect(first).toMatchObject({
      sequence: 333794734980,
      bids: { length: 5 },
      asks: { length: 5 },
    });
    expect(second).toMatchObject({ sequence: 333794734996 });
  });

  it('parses the 2022 bbo-tbt push as a one-level snapshot without a sequence', () => {
    const [text = ''] = readFrames('tardis_bbo-tbt_BTC-USDT-SWAP_2022-05-05.jsonl');
    const result = parse(text);
    expect(result).toStrictEqual(expected(text));
    expect(result.events?.[0]).toMatchObject({
      symbol: 'BTC-USDT-SWAP',
      isSnapshot: true,
      bids: [[38632.3, 990]],
      asks: [[38632.4, 727]],
      sequence: undefined,
      timestamp: 1651761120004,
    });
  });

  it('parses the books-rpi snapshot and update with their seqIds and no checksum', () => {
    const frames = readFrames('nautilus_books-rpi_OMI-USD_2026-07-30.jsonl');
    for (const text of frames) expect(parse(text)).toStrictEqual(expected(text));
    const [snapshot, update] = frames.map((text) => parse(text));
    expect(snapshot?.events?.[0]).toMatchObject({ isSnapshot: true, sequence: 1082831226 });
    expect(update?.events?.[0]).toMatchObject({
      isSnapshot: false,
      sequence: 1082831230,
      bids: [],
      asks: [
        [0.0001617, 0],
        [0.0001625, 12324367.786],
      ],
    });
    expect(update?.books?.[0]).toMatchObject({ prevSeqId: 1082831226, checksum: undefined });
  });

  it('adds no books field to trade and ticker results', () => {
    const frames = readFrames('cryptofeed_okx_v5_public_2022-05-13.jsonl').filter((text) => {
      const channel = raw(text).arg?.channel;
      return isBookPush(text) && (channel === 'trades' || channel === 'tickers');
    });
    expect(frames).toHaveLength(102);
    for (const text of frames) expect(Object.keys(parse(text))).toEqual(['events', 'channel']);
  });
});

/** A 2026-style books push with some of its element's fields replaced; `null` omits action. */
function bookPush(fields: Record<string, unknown> = {}, action: unknown = 'update'): string {
  const book = {
    asks: [['63921.5', '790.41', '0', '42']],
    bids: [['63921.4', '421.93', '0', '28']],
    ts: '1786541241006',
    checksum: 0,
    prevSeqId: 333794734980,
    seqId: 333794734996,
    ...fields,
  };
  return JSON.stringify({
    arg: { channel: 'books', instId: 'BTC-USDT-SWAP' },
    ...(action === null ? {} : { action }),
    data: [book],
  });
}

const BOOK = { channel: 'books', symbol: 'BTC-USDT-SWAP' };

describe('OKX book pushes that are wrong', () => {
  it('parses a well-formed 2026 update, checksum 0 and all', () => {
    expect(parse(bookPush()).books?.[0]).toMatchObject({
      action: 'update',
      seqId: 333794734996,
      prevSeqId: 333794734980,
      checksum: 0,
    });
  });

  const table: [title: string, frame: string][] = [
    ['a books push without action', bookPush({}, null)],
    ['a books push with an unknown action', bookPush({}, 'partial')],
    ['a book that is not an object', bookPush({}).replace(/"data":\[\{.*\}\]/, '"data":[1]')],
    ['bids that are not an array', bookPush({ bids: {} })],
    ['a level that is not an array', bookPush({ asks: ['63921.5'] })],
    ['a price that is a number', bookPush({ asks: [[63921.5, '1', '0', '1']] })],
    ['a size that is empty', bookPush({ bids: [['63921.4', '', '0', '1']] })],
    ['a negative size', bookPush({ bids: [['63921.4', '-1', '0', '1']] })],
    ['a level with only a price', bookPush({ bids: [['63921.4']] })],
    ['a seqId sent as a string', bookPush({ seqId: '333794734996' })],
    ['a prevSeqId that is not an integer', bookPush({ prevSeqId: 1.5 })],
    ['a checksum beyond 32 bits', bookPush({ checksum: 2 ** 32 })],
    ['an update with seqId but no prevSeqId', bookPush({ prevSeqId: undefined })],
    ['a ts that is a number', bookPush({ ts: 1786541241006 })],
    ['an empty data array', bookPush().replace(/"data":\[.*\]\}$/, '"data":[]}')],
  ];

  it.each(table)('reports %s as frame-invalid-data and yields nothing', (title, frame) => {
    // The book missed a message, which the feed must know at once: its chain may not show it
    // until the next update. An empty data array carries no message to miss.
    const lost = title === 'an empty data array' ? {} : { lostBook: BOOK };
    expect(parse(frame)).toStrictEqual({
      fault: { code: 'frame-invalid-data', detail: expect.any(String), sample: expect.any(String) },
      ...lost,
    });
  });

  it('reports no lost book for a snapshot channel, whose next push replaces the book', () => {
    const frame = bookPush({ bids: {} }).replace('"books"', '"books5"');
    expect(parse(frame).fault?.code).toBe('frame-invalid-data');
    expect(parse(frame).lostBook).toBeUndefined();
  });

  it('reports a 1970 ts as timestamp-implausible', () => {
    expect(parse(bookPush({ ts: '0' })).fault?.code).toBe('timestamp-implausible');
  });

  it('names the field and the side of a bad level in the fault detail', () => {
    expect(
      parse(
        bookPush({
          asks: [
            ['1', '1'],
            ['2', 'x'],
          ],
        }),
      ).fault?.detail,
    ).toContain('asks[1]');
  });

  it('takes a snapshot with seqId but no prevSeqId, as books5 sends', () => {
    const result = parse(bookPush({ prevSeqId: undefined }, 'snapshot'));
    expect(result.books?.[0]).toMatchObject({ action: 'snapshot', prevSeqId: undefined });
  });
});
