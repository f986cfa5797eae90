import { afterEach, describe, expect, it } from 'vitest';
import type { BookChangeEvent, BookResetEvent } from '../../src/streams/events.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Level = [string, string];
/** An OKX `books` push, as the exchange sends it (levels `[px, sz, "0", numOrders]`). */
function bookFrame(
  instId: string,
  action: 'snapshot' | 'update',
  seqId: number,
  prevSeqId: number,
  bids: Level[],
  asks: Level[],
  checksum = 0,
): string {
  const levels = (side: Level[]) => side.map(([px, sz]) => [px, sz, '0', '1']);
  return JSON.stringify({
    arg: { channel: 'books', instId },
    action,
    data: [
      {
        asks: levels(asks),
        bids: levels(bids),
        ts: String(Date.UTC(2026, 0, 1)),
        checksum,
        seqId,
        prevSeqId,
      },
    ],
  });
}

const books = (t: Harness, symbol?: string) =>
  t.events.filter(
    (e): e is BookChangeEvent =>
      e.type === 'book_change' && (symbol === undefined || e.symbol === symbol),
  );
const resets = (t: Harness) => t.events.filter((e): e is BookResetEvent => e.type === 'book_reset');
const bookRequests = (t: Harness, op: 'subscribe' | 'unsubscribe', instId = 'BTC-USDT') =>
  t.mock.requests.filter(
    (r) => r.op === op && r.args.some((a) => a.channel === 'books' && a.instId === instId),
  );

/** A started harness with one subscribed `orderbook` collector, id `books`. */
async function subscribedBooks(
  symbols: string[],
  options: { bookSnapshot?: 'auto' | 'rest' } = {},
): Promise<Harness> {
  const t = await startHarness();
  h = t;
  const id = t.add({ id: 'books', symbols, dataTypes: ['orderbook'], ...options });
  t.manager.startAll();
  await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed', 'subscribed');
  return t;
}

describe('order books through the collector', () => {
  it('replays the recorded BTC-USDT book with every checksum verified', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const frames = t.mock.framesFor('books', 'BTC-USDT');
    expect(frames.length).toBe(98);
    t.mock.push('books', 'BTC-USDT', frames.length);
    await t.until(() => books(t).length === frames.length, 'every book push');
    expect(resets(t)).toHaveLength(0);
    expect(t.manager.getCollector('books')?.getStatus().faults).toBe(0);
    expect(books(t)[0]?.isSnapshot).toBe(true);
    expect(books(t)[0]?.bids).toHaveLength(400);
  });

  it('resets the book on a sequence gap, resubscribes that symbol and goes live from the new snapshot', async () => {
    const t = await subscribedBooks(['BTC-USDT', 'ETH-USDT']);
    const send = (frame: string) => t.mock.sendRaw(frame);
    send(bookFrame('BTC-USDT', 'snapshot', 10, -1, [['100', '1']], [['101', '1']]));
    send(bookFrame('ETH-USDT', 'snapshot', 50, -1, [['10', '1']], [['11', '1']]));
    // ids are not consecutive: +4 is fine.
    send(bookFrame('BTC-USDT', 'update', 14, 10, [['100', '2']], []));
    // An idle keep-alive repeats the id and changes nothing.
    send(bookFrame('BTC-USDT', 'update', 14, 14, [], []));
    // After maintenance the sequence may restart lower; prevSeqId still chains.
    send(
      bookFrame(
        'BTC-USDT',
        'update',
        3,
        14,
        [],
        [
          ['101', '0'],
          ['102', '5'],
        ],
      ),
    );
    send(bookFrame('BTC-USDT', 'update', 200, 99, [['99', '1']], []));
    await t.until(() => resets(t).length === 1, 'reset');
    expect(resets(t)[0]).toMatchObject({ symbol: 'BTC-USDT', reason: 'book-sequence-gap' });
    expect(books(t, 'BTC-USDT').map((b) => b.sequence)).toEqual([10, 14, 3]);
    await t.until(() => bookRequests(t, 'subscribe').length === 2, 'resubscribe');
    const unsubscribe = bookRequests(t, 'unsubscribe');
    expect(unsubscribe.map((r) => r.args)).toEqual([[{ channel: 'books', instId: 'BTC-USDT' }]]);
    expect(bookRequests(t, 'subscribe')[1]?.args).toEqual([
      { channel: 'books', instId: 'BTC-USDT' },
    ]);
    // Updates before the new snapshot are not applied; the snapshot replaces everything.
    send(bookFrame('BTC-USDT', 'update', 201, 200, [['98', '1']], []));
    send(bookFrame('BTC-USDT', 'snapshot', 300, -1, [['200', '1']], [['201', '1']]));
    await t.until(() => books(t, 'BTC-USDT').length === 4, 'fresh snapshot');
    const view = t.manager.getBook('BTC-USDT');
    expect(view).toMatchObject({ state: 'live', sequence: 300 });
    expect(view?.bids).toEqual([[200, 1]]);
    expect(view?.asks).toEqual([[201, 1]]);
    // The other symbol was never touched.
    expect(t.manager.getBook('ETH-USDT')).toMatchObject({ state: 'live', sequence: 50 });
    expect(t.mock.connectionCount).toBe(1);
  });

  it('quarantines a symbol whose book breaks on every update, leaving the others alone', async () => {
    const t = await subscribedBooks(['BTC-USDT', 'ETH-USDT']);
    t.mock.sendRaw(bookFrame('ETH-USDT', 'snapshot', 1, -1, [['10', '1']], [['11', '1']]));
    for (let round = 0; round < 6; round++) {
      t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 10, -1, [['100', '1']], [['101', '1']]));
      t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 12, 11, [['100', '2']], []));
      await t.until(() => resets(t).length === round + 1, `break ${round + 1}`);
      await t.advanceUntil(
        () => bookRequests(t, 'subscribe').length === round + 2 || round === 5,
        `resync ${round + 1}`,
      );
    }
    const status = t.manager.getCollector('books')?.getStatus();
    const btc = status?.subscriptions.find((s) => s.symbol === 'BTC-USDT');
    expect(btc).toMatchObject({ state: 'quarantined', code: 'book-sequence-gap' });
    expect(status?.subscriptions.find((s) => s.symbol === 'ETH-USDT')?.state).toBe('active');
    expect(bookRequests(t, 'subscribe')).toHaveLength(6);
    // Quarantined: unsubscribed for good, no more resyncs.
    expect(bookRequests(t, 'unsubscribe').at(-1)?.args).toEqual([
      { channel: 'books', instId: 'BTC-USDT' },
    ]);
    expect(t.manager.getBook('ETH-USDT')?.state).toBe('live');
    expect(t.manager.getBook('BTC-USDT')?.state).toBe('quarantined');
    expect(ofKind(t.telemetry, 'fault').some((f) => f.code === 'book-quarantined')).toBe(true);
    // Ten quiet minutes (the connection is even recycled for data silence): BTC-USDT stays out.
    await t.advanceUntil(() => false, 'nothing more', 10_000, 60).catch(() => undefined);
    expect(bookRequests(t, 'subscribe')).toHaveLength(6);
    expect(bookRequests(t, 'subscribe', 'ETH-USDT').length).toBeGreaterThan(1);
  });

  it('announces a reset on reconnect and keeps no old level after the new snapshot', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.sendRaw(
      bookFrame(
        'BTC-USDT',
        'snapshot',
        10,
        -1,
        [
          ['100', '1'],
          ['99', '1'],
        ],
        [['101', '1']],
      ),
    );
    await t.until(() => books(t).length === 1);
    t.mock.dropAll('terminate');
    await t.until(() => resets(t).length === 1, 'reset on disconnect');
    expect(resets(t)[0]?.reason).toBe('reconnect');
    expect(t.manager.getBook('BTC-USDT')?.state).toBe('syncing');
    await t.advanceUntil(() => t.manager.getCollector('books')?.getStatus().state === 'subscribed');
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 500, -1, [['50', '3']], [['51', '4']]));
    await t.until(() => books(t).length === 2);
    expect(t.manager.getBook('BTC-USDT')).toMatchObject({ bids: [[50, 3]], asks: [[51, 4]] });
  });

  it('treats a corrupted checksum as a break and checksum 0 as "not checked"', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 10, -1, [['100', '1']], [['101', '1']], 0));
    await t.until(() => books(t).length === 1);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 11, 10, [['100', '2']], [], 123456));
    await t.until(() => resets(t).length === 1, 'checksum break');
    expect(resets(t)[0]?.reason).toBe('book-checksum-mismatch');
  });
});

describe('candles', () => {
  it('opens the /business endpoint on demand and delivers the recorded candles', async () => {
    const t = await startHarness();
    h = t;
    // The recording is of August 2026: a clock months earlier would find its times implausible.
    t.clock.set(Date.UTC(2026, 7, 13));
    const id = t.add({ id: 'candles', dataTypes: ['candle', 'trade'], candleInterval: '1m' });
    t.manager.startAll();
    await t.advanceUntil(
      () => t.manager.getCollector(id)?.getStatus().state === 'subscribed',
      'both endpoints subscribed',
    );
    const paths = t.mock.connections.map((c) => c.path).sort();
    expect(paths).toEqual(['/ws/v5/business', '/ws/v5/public']);
    const frames = t.mock.push('candle1m', 'BTC-USDT', 2);
    await t.until(() => t.events.filter((e) => e.type === 'candle').length >= 2, 'candles');
    const row = JSON.parse(frames[0] as string).data[0] as string[];
    expect(t.events.find((e) => e.type === 'candle')).toMatchObject({
      symbol: 'BTC-USDT',
      interval: '1m',
      timestamp: Number(row[0]),
      open: Number(row[1]),
      close: Number(row[4]),
      closed: row[8] === '1',
    });
  });
});

const level = (px: string, sz: string): [string, string, string, string] => [px, sz, '0', '1'];

/**
 * BTC-USDT live at 100 on the first socket, then OKX's 64008 on it: returns once the replacement
 * connected (its acks take 300 ms), with the old socket's id.
 */
async function liveThenNotice(t: Harness): Promise<number> {
  t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 100, -1, [['100', '1']], [['101', '1']]));
  await t.until(() => t.manager.getBook('BTC-USDT')?.state === 'live');
  const old = t.mock.connections[0]?.id ?? -1;
  t.mock.ackDelayMs = 300;
  t.mock.sendNotice('64008');
  await t.until(() => t.mock.connections.length === 2, 'the replacement connected');
  return old;
}

/** One BTC-USDT `books` update of one level, through the mock's book push. */
function pushUpdate(
  t: Harness,
  seqId: number,
  prevSeqId: number,
  side: 'bids' | 'asks',
  px: string,
  sz = '1',
): void {
  t.mock.pushBook('BTC-USDT', { action: 'update', seqId, prevSeqId, [side]: [level(px, sz)] });
}

/**
 * A live BTC-USDT book breaks (a gap) while REST already holds the book at `restSeqId`; the
 * channel pushes updates only. The book must heal from REST alone, to 200/201 plus 202.
 */
async function healFromRest(t: Harness, restSeqId: number): Promise<void> {
  t.mock.setRestBook('BTC-USDT', {
    bids: [level('200', '1')],
    asks: [level('201', '1')],
    seqId: restSeqId,
  });
  pushUpdate(t, restSeqId - 10, restSeqId - 20, 'bids', '199');
  pushUpdate(t, restSeqId + 10, restSeqId, 'asks', '202');
  const healed = () => t.manager.getBook('BTC-USDT')?.sequence === restSeqId + 10;
  await t.advanceUntil(healed, 'healed', 100, 100);
  expect(t.manager.getBook('BTC-USDT')).toMatchObject({
    state: 'live',
    bids: [[200, 1]],
    asks: [
      [201, 1],
      [202, 1],
    ],
  });
  expect(resets(t).map((r) => r.reason)).toEqual(['book-sequence-gap']);
}

describe('books without a pushed snapshot', () => {
  it('bootstraps from a REST snapshot, refetching one older than the stream', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    // REST knows the book at seqId 120; its first answer lags behind the stream (seqId 20).
    t.mock.setRestBook(
      'BTC-USDT',
      { bids: [level('100', '1'), level('99', '2')], asks: [level('101', '1')], seqId: 120 },
      { lagSeq: 100, lagResponses: 1 },
    );
    // The channel sends updates only, starting after 100.
    pushUpdate(t, 110, 100, 'bids', '98', '1');
    pushUpdate(t, 120, 110, 'asks', '102', '1');
    pushUpdate(t, 130, 120, 'bids', '100', '5');
    await t.advanceUntil(() => t.manager.getBook('BTC-USDT')?.state === 'live', 'live', 100, 100);
    const view = t.manager.getBook('BTC-USDT');
    // The REST book at 120, then the buffered update 130 on top of it; 110 and 120 were in it.
    expect(view?.sequence).toBe(130);
    expect(view?.bids).toEqual([
      [100, 5],
      [99, 2],
    ]);
    expect(view?.asks).toEqual([[101, 1]]);
    const rest = t.mock.restRequests.filter((r) => r.path === '/api/v5/market/books');
    expect(rest.length).toBe(2);
    const changes = books(t);
    expect(changes[0]).toMatchObject({ isSnapshot: true, sequence: 120 });
    expect(changes.map((c) => c.sequence)).toEqual([120, 130]);
    // The live stream continues on the chain.
    pushUpdate(t, 140, 130, 'asks', '101', '0');
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 140);
    expect(t.manager.getBook('BTC-USDT')?.asks).toEqual([]);
  });

  it('with bookSnapshot rest, ignores pushed snapshots and heals a gap from REST', async () => {
    const t = await subscribedBooks(['BTC-USDT'], { bookSnapshot: 'rest' });
    t.mock.setRestBook('BTC-USDT', {
      bids: [level('100', '1')],
      asks: [level('101', '1')],
      seqId: 10,
    });
    t.mock.pushBook('BTC-USDT', {
      action: 'snapshot',
      seqId: 5,
      bids: [level('1', '1')],
      asks: [level('2', '1')],
    });
    pushUpdate(t, 20, 10, 'bids', '100', '3');
    await t.advanceUntil(
      () => t.manager.getBook('BTC-USDT')?.sequence === 20,
      'live at 20',
      100,
      100,
    );
    expect(t.manager.getBook('BTC-USDT')?.bids).toEqual([[100, 3]]);
    // A gap: the REST snapshot heals it; nothing is resubscribed.
    await healFromRest(t, 50);
    expect(t.mock.requests.filter((r) => r.op === 'unsubscribe')).toHaveLength(0);
  });
});

describe('books that must not stay wrong or dead (found by a fresh-user trial)', () => {
  const faultsOf = (t: Harness, id: string) => t.manager.getCollector(id)?.getStatus().faultsByCode;

  it('follows a 64008 handover without a reset: the overlap copies are dropped, not gaps', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 100, -1, [['100', '1']], [['101', '1']]));
    t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 110, 100, [['99', '1']], []));
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 110);
    t.mock.ackDelayMs = 300;
    t.mock.sendNotice('64008');
    await t.until(
      () => t.mock.connections[1]?.subscriptions.has('books:BTC-USDT') === true,
      'the replacement subscribed',
    );
    const replacement = t.mock.connections[1]?.id ?? -1;
    // The replacement's snapshot, then every update on both sockets, as the exchange does.
    t.mock.sendRaw(
      bookFrame(
        'BTC-USDT',
        'snapshot',
        110,
        -1,
        [
          ['100', '1'],
          ['99', '1'],
        ],
        [['101', '1']],
      ),
      { to: replacement },
    );
    pushUpdate(t, 120, 110, 'bids', '98', '1');
    pushUpdate(t, 130, 120, 'bids', '97', '1');
    await t.until(() => t.mock.connections.length === 1, 'the old connection closed', 5000);
    pushUpdate(t, 140, 130, 'bids', '96', '1');
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 140, 'at 140');
    expect(resets(t)).toEqual([]);
    expect(t.manager.getBook('BTC-USDT')?.bids).toEqual([
      [100, 1],
      [99, 1],
      [98, 1],
      [97, 1],
      [96, 1],
    ]);
    expect(t.manager.getCollector('books')?.getStatus().duplicatesDropped).toBeGreaterThan(0);
    expect(bookRequests(t, 'unsubscribe')).toEqual([]);
  });

  it('breaks a live book at once when one of its updates is rejected, and resyncs it', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 10, -1, [['100', '1']], [['101', '1']]));
    await t.until(() => t.manager.getBook('BTC-USDT')?.state === 'live');
    // A negative size: the parser rejects the update, so the book no longer has it.
    t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 20, 10, [['100', '-1']], []));
    await t.until(() => resets(t).length === 1, 'a reset');
    expect(resets(t)[0]?.reason).toBe('book-message-lost');
    expect(t.manager.getBook('BTC-USDT')?.state).toBe('invalid');
    expect(faultsOf(t, 'books')).toMatchObject({ 'frame-invalid-data': 1 });
    await t.until(() => bookRequests(t, 'unsubscribe').length === 1, 'resubscribed');
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 30, -1, [['100', '2']], [['101', '1']]));
    await t.until(() => t.manager.getBook('BTC-USDT')?.state === 'live', 'live again');
  });

  it('refuses a book push of a channel the collector did not subscribe', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 10, -1, [['100', '1']], [['101', '1']]));
    await t.until(() => books(t).length === 1);
    // The same symbol's bbo-tbt, as another collector on this socket might have asked for.
    const bbo = JSON.stringify({
      arg: { channel: 'bbo-tbt', instId: 'BTC-USDT' },
      data: [
        { asks: [level('51', '1')], bids: [level('50', '1')], ts: String(Date.UTC(2026, 0, 1)) },
      ],
    });
    t.mock.sendRaw(bbo);
    await t.until(() => faultsOf(t, 'books')?.['data-unsubscribed'] === 1, 'refused');
    expect(books(t)).toHaveLength(1);
    expect(t.manager.getBook('BTC-USDT')?.bids).toEqual([[100, 1]]);
  });

  it('bootstraps again over REST after a break on a channel that pushes no snapshot', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.setRestBook('BTC-USDT', {
      bids: [level('100', '1')],
      asks: [level('101', '1')],
      seqId: 100,
    });
    pushUpdate(t, 110, 100, 'bids', '99', '1');
    await t.advanceUntil(() => t.manager.getBook('BTC-USDT')?.sequence === 110, 'live', 100, 100);
    // A gap; REST has moved on; the channel still sends updates only.
    await healFromRest(t, 300);
  });

  it('never emits a crossed REST snapshot: it is a break, announced, and fetched again', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const id = 'books';
    t.mock.setRestBook('BTC-USDT', {
      bids: [level('102', '1')],
      asks: [level('101', '1')],
      seqId: 100,
    });
    pushUpdate(t, 110, 100, 'bids', '99', '1');
    await t.until(() => resets(t).length === 1, 'the crossed snapshot announced');
    expect(resets(t)[0]?.reason).toBe('book-crossed');
    expect(books(t)).toEqual([]);
    expect(faultsOf(t, id)).toMatchObject({ 'book-crossed': 1 });
    // REST comes right; the next fetch heals the book without any help from the stream.
    t.mock.setRestBook('BTC-USDT', {
      bids: [level('100', '1')],
      asks: [level('101', '1')],
      seqId: 120,
    });
    pushUpdate(t, 130, 120, 'bids', '99', '1');
    await t.advanceUntil(() => t.manager.getBook('BTC-USDT')?.state === 'live', 'live', 100, 100);
    expect(t.manager.getBook('BTC-USDT')).toMatchObject({
      sequence: 130,
      bids: [
        [100, 1],
        [99, 1],
      ],
    });
    expect(books(t).every((b) => b.bids[0] !== undefined && b.bids[0][0] < 101)).toBe(true);
  });

  it('asks again for a book snapshot whose request never answers', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    t.mock.restDelayMs = 1e7;
    t.mock.setRestBook('BTC-USDT', {
      bids: [level('100', '1')],
      asks: [level('101', '1')],
      seqId: 100,
    });
    pushUpdate(t, 110, 100, 'bids', '99', '1');
    await t.until(() => t.mock.restRequests.length === 1, 'the request that hangs');
    t.mock.restDelayMs = 0;
    await t.advanceUntil(() => t.manager.getBook('BTC-USDT')?.state === 'live', 'live', 1_000, 30);
    expect(t.mock.restRequests).toHaveLength(2);
    expect(faultsOf(t, 'books')).toMatchObject({ 'rest-error': 1 });
  });

  it('resyncs a subscribed book that never goes live, while the others stay busy', async () => {
    const t = await subscribedBooks(['BTC-USDT', 'ETH-USDT']);
    const booksStatus = () => t.manager.getCollector('books')?.getStatus().books ?? [];
    // Seen from the start, although the exchange has sent it nothing.
    expect(booksStatus().map((b) => [b.symbol, b.state])).toContainEqual(['BTC-USDT', 'syncing']);
    t.mock.sendRaw(bookFrame('ETH-USDT', 'snapshot', 1, -1, [['10', '1']], [['11', '1']]));
    let seq = 1;
    for (let i = 0; i < 120 && bookRequests(t, 'unsubscribe').length === 0; i++) {
      t.advance(1_000);
      t.mock.sendRaw(bookFrame('ETH-USDT', 'update', seq + 1, seq, [['10', String(i + 2)]], []));
      seq++;
      await t.until(() => t.manager.getBook('ETH-USDT')?.sequence === seq, `ETH at ${seq}`);
    }
    // silenceMs.orderbook (90 s) after its subscription was seen active.
    expect(bookRequests(t, 'unsubscribe')).toHaveLength(1);
    expect(seq).toBeGreaterThan(90);
    expect(faultsOf(t, 'books')).toMatchObject({ 'book-stalled': 1 });
    expect(booksStatus().find((b) => b.symbol === 'BTC-USDT')?.lastFault?.code).toBe(
      'book-stalled',
    );
    expect(bookRequests(t, 'unsubscribe', 'ETH-USDT')).toEqual([]);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 5, -1, [['100', '1']], [['101', '1']]));
    await t.until(() => t.manager.getBook('BTC-USDT')?.state === 'live', 'live at last');
  });

  it('ends a lone book that never goes live quarantined, and the collector unhealthy', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const sub = () => t.manager.getCollector('books')?.getStatus().subscriptions[0];
    // Nothing ever comes for the book; the connection is recycled for data silence meanwhile.
    await t.advanceUntil(() => sub()?.state === 'quarantined', 'quarantined', 2_000, 600);
    expect(sub()?.code).toBe('book-stalled');
    expect(faultsOf(t, 'books')?.['book-stalled']).toBeGreaterThanOrEqual(5);
    expect(t.manager.getCollector('books')?.getHealthStatus().healthy).toBe(false);
  });

  it('breaks and resyncs a live book that hears nothing, not even a keep-alive', async () => {
    const t = await subscribedBooks(['BTC-USDT', 'ETH-USDT']);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 1, -1, [['100', '1']], [['101', '1']]));
    t.mock.sendRaw(bookFrame('ETH-USDT', 'snapshot', 1, -1, [['10', '1']], [['11', '1']]));
    let seq = 1;
    // ETH stays busy; BTC falls silent for good.
    for (let i = 0; i < 120 && resets(t).length === 0; i++) {
      t.advance(1_000);
      t.mock.sendRaw(bookFrame('ETH-USDT', 'update', seq + 1, seq, [['10', String(i + 2)]], []));
      seq++;
      await t.until(() => t.manager.getBook('ETH-USDT')?.sequence === seq, `ETH at ${seq}`);
    }
    expect(resets(t).map((r) => [r.symbol, r.reason])).toEqual([['BTC-USDT', 'book-stalled']]);
    // 1.5 keep-alive intervals of OKX (60 s): not before 90 s.
    expect(seq).toBeGreaterThan(90);
    expect(t.manager.getBook('BTC-USDT')?.state).toBe('invalid');
    await t.until(() => bookRequests(t, 'unsubscribe').length === 1, 'resubscribed');
  });

  it('survives the old socket closing before the replacement is subscribed (64008)', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const old = await liveThenNotice(t);
    // OKX closes the old socket, as it announced, before the replacement's acks are out.
    t.mock.drop(old, 'terminate');
    const replacement = t.mock.connections.find((c) => c.id !== old);
    await t.until(() => replacement?.subscriptions.has('books:BTC-USDT') === true, 'subscribed');
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 110, -1, [['100', '2']], [['101', '1']]), {
      to: replacement?.id ?? -1,
    });
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 110, 'live on the replacement');
    // The replacement's acks (300 ms) end the handover, with the old actor already gone.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(t.manager.getBook('BTC-USDT')).toMatchObject({ state: 'live', sequence: 110 });
    const status = t.manager.getCollector('books')?.getStatus();
    expect(status?.restarts).toBe(0);
    expect(status?.faultsByCode['internal-error']).toBeUndefined();
    await t.until(
      () => t.manager.getCollector('books')?.getStatus().state === 'subscribed',
      'subscribed',
    );
  });

  it('finishes a 64008 handover although a book breaks on the old socket meanwhile', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const old = await liveThenNotice(t);
    // A gap on the socket the book follows, while the replacement is still subscribing.
    t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 130, 120, [['99', '1']], []), { to: old });
    await t.until(() => resets(t).length === 1, 'the break');
    // No request goes to the old socket: the replacement's subscribe brings the snapshot.
    expect(t.mock.requests.filter((r) => r.connection === old)).toHaveLength(1);
    await t.until(() => t.mock.connections.length === 1, 'the old socket closed', 5_000);
    const replacement = t.mock.connections[0]?.id ?? -1;
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 140, -1, [['100', '3']], [['101', '1']]), {
      to: replacement,
    });
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 140, 'live again');
    expect(t.manager.getCollector('books')?.getStatus()).toMatchObject({
      state: 'subscribed',
      restarts: 0,
    });
  });

  it('resubscribes on the replacement a book that broke after its snapshot came as a copy', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const old = await liveThenNotice(t);
    const replacement = t.mock.connections.find((c) => c.id !== old);
    await t.until(() => replacement?.subscriptions.has('books:BTC-USDT') === true, 'asked');
    // The replacement's snapshot comes before its ack, while the book is live: a copy.
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 100, -1, [['100', '1']], [['101', '1']]), {
      to: replacement?.id ?? -1,
    });
    // Then the old socket breaks the book, still before the ack (300 ms).
    t.mock.sendRaw(bookFrame('BTC-USDT', 'update', 130, 120, [['99', '1']], []), { to: old });
    await t.until(() => resets(t).length === 1, 'the break');
    const onReplacement = (op: string) =>
      t.mock.requests.filter((r) => r.connection === replacement?.id && r.op === op);
    await t.until(
      () => onReplacement('unsubscribe').length === 1,
      'resubscribed on the replacement',
    );
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 140, -1, [['100', '3']], [['101', '1']]), {
      to: replacement?.id ?? -1,
    });
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 140, 'live again');
    expect(t.mock.requests.filter((r) => r.connection === old)).toHaveLength(1);
  });

  it('hands the replacement over in turn when a 64008 reaches it mid-handover', async () => {
    const t = await subscribedBooks(['BTC-USDT']);
    const old = await liveThenNotice(t);
    const second = t.mock.connections.find((c) => c.id !== old)?.id ?? -1;
    // The replacement's server is going down too, before the first handover is over.
    t.mock.sendNotice('64008', { to: second });
    await t.until(() => t.mock.connectionCount === 3, 'a third connection', 5_000);
    const third = t.mock.connections.find((c) => c.id !== old && c.id !== second)?.id ?? -1;
    await t.until(() => t.mock.connections.length === 1, 'both old ones closed', 5_000);
    expect(t.mock.connections[0]?.id).toBe(third);
    t.mock.sendRaw(bookFrame('BTC-USDT', 'snapshot', 110, -1, [['100', '2']], [['101', '1']]), {
      to: third,
    });
    await t.until(() => t.manager.getBook('BTC-USDT')?.sequence === 110, 'live on the third');
    expect(resets(t)).toEqual([]);
    expect(t.manager.getCollector('books')?.getStatus()).toMatchObject({ restarts: 0 });
  });
});
