import { describe, expect, it, vi } from 'vitest';
import { interleavedCrc32 } from '../../src/book/checksum.ts';
import type { BookMessage, RawLevel } from '../../src/book/message.ts';
import { OrderBook } from '../../src/book/order-book.ts';
import { BookSync, COPY_WINDOW_MS } from '../../src/book/sync.ts';

const SYMBOL = 'BTC-USDT-SWAP';
const level = (px: string, sz: string): RawLevel => [px, sz, '0', '1'];

/** A books message with a seqId chain and no checksum, as OKX has sent since 2026-06-23. */
function message(fields: Partial<BookMessage>): BookMessage {
  return {
    symbol: SYMBOL,
    channel: 'books',
    action: 'update',
    timestamp: 1_786_541_241_006,
    seqId: undefined,
    prevSeqId: undefined,
    checksum: 0,
    bids: [],
    asks: [],
    ...fields,
  };
}

const SNAPSHOT = message({
  action: 'snapshot',
  seqId: 100,
  prevSeqId: -1,
  bids: [level('63921.4', '421.93'), level('63921.3', '0.25')],
  asks: [level('63921.5', '790.41'), level('63921.8', '0.32')],
});
const UPDATE = message({ seqId: 104, prevSeqId: 100, bids: [level('63921.3', '0')] });

/** A BookSync that has applied the snapshot. */
function live(): BookSync {
  const sync = new BookSync(SYMBOL);
  expect(sync.apply(SNAPSHOT)).toEqual({ outcome: 'applied' });
  return sync;
}

function levelsOf(sync: BookSync) {
  return {
    bids: sync.book.bids.map((e) => [e.px, e.sz]),
    asks: sync.book.asks.map((e) => [e.px, e.sz]),
  };
}

describe('BookSync: the sequence chain', () => {
  it('starts syncing and goes live on a snapshot', () => {
    const sync = new BookSync(SYMBOL);
    expect(sync.state).toBe('syncing');
    sync.apply(SNAPSHOT);
    expect(sync.state).toBe('live');
    expect(sync.seqId).toBe(100);
  });

  it('drops an update that comes before any snapshot and stays syncing', () => {
    const sync = new BookSync(SYMBOL);
    expect(sync.apply(UPDATE)).toMatchObject({
      outcome: 'dropped',
      fault: { code: 'book-not-synced' },
    });
    expect(sync.state).toBe('syncing');
    expect(sync.book.bids).toHaveLength(0);
  });

  it('applies an update whose prevSeqId is the last seqId, however far the ids jump', () => {
    const sync = live();
    expect(sync.apply(UPDATE)).toEqual({ outcome: 'applied' });
    expect(
      sync.apply(message({ seqId: 9_000, prevSeqId: 104, asks: [level('63922', '1')] })),
    ).toEqual({ outcome: 'applied' });
    expect(sync.seqId).toBe(9_000);
    expect(levelsOf(sync).bids).toEqual([['63921.4', '421.93']]);
  });

  it('invalidates the book on a gap in the chain, with book-sequence-gap', () => {
    const sync = live();
    const skipped = message({ seqId: 110, prevSeqId: 104, bids: [level('63921', '1')] });
    expect(sync.apply(skipped)).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-sequence-gap' },
    });
    expect(sync.state).toBe('invalid');
    expect(sync.book.bids).toHaveLength(0);
  });

  it('treats an update without prevSeqId after a sequenced snapshot as a gap', () => {
    const sync = live();
    expect(sync.apply(message({ bids: [level('63921', '1')] }))).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-sequence-gap' },
    });
  });

  it('drops every update once invalid, and goes live again from the next snapshot', () => {
    const sync = live();
    sync.apply(message({ seqId: 110, prevSeqId: 104 }));
    expect(sync.apply(message({ seqId: 111, prevSeqId: 110 }))).toMatchObject({
      outcome: 'dropped',
      fault: { code: 'book-not-synced' },
    });
    expect(sync.apply(SNAPSHOT)).toEqual({ outcome: 'applied' });
    expect(sync.state).toBe('live');
    expect(sync.apply(UPDATE)).toEqual({ outcome: 'applied' });
  });

  it('takes an idle keep-alive (equal ids, empty sides) as unchanged, not as a gap', () => {
    const sync = live();
    sync.apply(UPDATE);
    const before = levelsOf(sync);
    expect(sync.apply(message({ seqId: 104, prevSeqId: 104 }))).toEqual({ outcome: 'unchanged' });
    expect(sync.state).toBe('live');
    expect(sync.seqId).toBe(104);
    expect(levelsOf(sync)).toEqual(before);
    expect(
      sync.apply(message({ seqId: 130, prevSeqId: 104, asks: [level('63923', '1')] })),
    ).toEqual({ outcome: 'applied' });
  });

  it('breaks on an update that repeats the seqId but carries levels', () => {
    const sync = live();
    const lying = message({ seqId: 100, prevSeqId: 100, bids: [level('1', '1')] });
    expect(sync.apply(lying)).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-sequence-gap' },
    });
  });

  it('accepts a reset to a lower seqId after maintenance and chains on from it', () => {
    const sync = live();
    sync.apply(UPDATE);
    const reset = message({ seqId: 15, prevSeqId: 104, asks: [level('63921.8', '1')] });
    expect(sync.apply(reset)).toEqual({ outcome: 'applied' });
    expect(sync.seqId).toBe(15);
    expect(sync.apply(message({ seqId: 18, prevSeqId: 15, asks: [level('63922', '1')] }))).toEqual({
      outcome: 'applied',
    });
    // The old id no longer chains.
    expect(sync.apply(message({ seqId: 108, prevSeqId: 104 }))).toMatchObject({
      fault: { code: 'book-sequence-gap' },
    });
  });

  it('replaces the whole book on a snapshot after a reconnect: no old level survives', () => {
    const sync = live();
    sync.apply(UPDATE);
    const fresh = message({
      action: 'snapshot',
      seqId: 5_000,
      prevSeqId: -1,
      bids: [level('60000', '1'), level('59999', '2')],
      asks: [level('60001', '3')],
    });
    expect(sync.apply(fresh)).toEqual({ outcome: 'applied' });
    expect(levelsOf(sync)).toEqual({
      bids: [
        ['60000', '1'],
        ['59999', '2'],
      ],
      asks: [['60001', '3']],
    });
    expect(sync.seqId).toBe(5_000);
  });

  it('forgets book and chain on reset, back to syncing', () => {
    const sync = live();
    sync.reset();
    expect(sync.state).toBe('syncing');
    expect(sync.seqId).toBeUndefined();
    expect(sync.book.asks).toHaveLength(0);
    expect(sync.apply(UPDATE)).toMatchObject({ outcome: 'dropped' });
  });
});

describe('BookSync: two connections of one stream (a 64008 handover)', () => {
  const a = { connectionId: 'a', receivedAt: 1 };
  const b = { connectionId: 'b', receivedAt: 2 };

  it('drops the later copy of an update from the other connection, and chains on', () => {
    const sync = new BookSync(SYMBOL);
    sync.apply(SNAPSHOT, undefined, a);
    expect(sync.apply(UPDATE, undefined, a)).toEqual({ outcome: 'applied' });
    expect(sync.apply(UPDATE, undefined, b)).toEqual({ outcome: 'duplicate' });
    const next = message({ seqId: 108, prevSeqId: 104, asks: [level('63921.8', '0')] });
    expect(sync.apply(next, undefined, b)).toEqual({ outcome: 'applied' });
    expect(sync.apply(next, undefined, a)).toEqual({ outcome: 'duplicate' });
    expect(sync.state).toBe('live');
    expect(sync.updatedAt).toBe(2);
  });

  it('still breaks on a gap from the same connection, or one that skips ahead from another', () => {
    const same = live();
    expect(same.apply(message({ seqId: 90, prevSeqId: 80 }))).toMatchObject({
      outcome: 'invalidated',
    });
    const ahead = new BookSync(SYMBOL);
    ahead.apply(SNAPSHOT, undefined, a);
    expect(ahead.apply(message({ seqId: 200, prevSeqId: 150 }), undefined, b)).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-sequence-gap' },
    });
    expect(ahead.lastBreak).toMatchObject({ code: 'book-sequence-gap', at: 2 });
  });

  it("drops the replacement's lagging snapshot and updates until it catches up", () => {
    const sync = new BookSync(SYMBOL);
    sync.apply(SNAPSHOT, undefined, a);
    sync.apply(UPDATE, undefined, a);
    sync.apply(message({ seqId: 108, prevSeqId: 104 }), undefined, a);
    const lagging = { ...SNAPSHOT, bids: [level('1', '1')] };
    expect(sync.apply(lagging, undefined, b)).toEqual({ outcome: 'duplicate' });
    // A copy changes nothing but proves the book's stream alive, for the watch on silence.
    expect(sync.updatedAt).toBe(2);
    expect(sync.apply(UPDATE, undefined, b)).toEqual({ outcome: 'duplicate' });
    const next = message({ seqId: 112, prevSeqId: 108, asks: [level('63921.9', '1')] });
    expect(sync.apply(next, undefined, b)).toEqual({
      outcome: 'applied',
    });
    expect(sync.seqId).toBe(112);
    expect(sync.book.bestBid()).toEqual([63921.4, 421.93]);
  });

  it('takes what does not chain from the other socket as a break once its own has closed', () => {
    const sync = new BookSync(SYMBOL);
    sync.apply(SNAPSHOT, undefined, a);
    // While `a` is open, however quiet, a message of `b` that is behind is a copy.
    const quiet = { connectionId: 'b', receivedAt: 60_000 };
    expect(sync.apply(message({ seqId: 90, prevSeqId: 80 }), undefined, quiet)).toEqual({
      outcome: 'duplicate',
    });
    sync.sourceClosed('a', 60_000);
    const late = { connectionId: 'b', receivedAt: 60_000 + COPY_WINDOW_MS + 1 };
    expect(sync.apply(message({ seqId: 90, prevSeqId: 80 }), undefined, late)).toMatchObject({
      outcome: 'invalidated',
    });
  });

  it('knows copies from before a maintenance reset the book has passed', () => {
    const sync = new BookSync(SYMBOL);
    sync.apply(SNAPSHOT, undefined, a);
    sync.apply(message({ seqId: 120, prevSeqId: 100, bids: [level('1', '1')] }), undefined, a);
    // Maintenance: the ids restart lower; the chain goes on from 3.
    const reset = message({ seqId: 3, prevSeqId: 120, bids: [level('2', '1')] });
    expect(sync.apply(reset, undefined, a)).toEqual({ outcome: 'applied' });
    // The replacement's late copies of what came before the reset, update and snapshot.
    expect(sync.apply(message({ seqId: 120, prevSeqId: 100 }), undefined, b)).toEqual({
      outcome: 'duplicate',
    });
    expect(sync.apply({ ...SNAPSHOT, seqId: 110 }, undefined, b)).toEqual({ outcome: 'duplicate' });
    const next = message({ seqId: 6, prevSeqId: 3, asks: [level('63922', '1')] });
    expect(sync.apply(next, undefined, a)).toEqual({ outcome: 'applied' });
    expect(sync.seqId).toBe(6);
    // Long after the reset, a later replacement's snapshot in the new epoch is ahead, not a copy.
    const later = { connectionId: 'c', receivedAt: 1 + COPY_WINDOW_MS + 1 };
    expect(sync.apply({ ...SNAPSHOT, seqId: 25 }, undefined, later)).toEqual({
      outcome: 'applied',
    });
    expect(sync.seqId).toBe(25);
  });

  it('keeps a books5 book from going back in time on an older copy from the other socket', () => {
    const five = (seqId: number, px: string) =>
      message({ action: 'snapshot', channel: 'books5', seqId, bids: [level(px, '1')] });
    const sync = new BookSync(SYMBOL);
    sync.apply(five(200, '101'), undefined, a);
    expect(sync.apply(five(150, '100'), undefined, b)).toEqual({ outcome: 'duplicate' });
    expect(sync.book.bestBid()).toEqual([101, 1]);
    // From the same socket a lower seqId is a reset after maintenance, and taken.
    expect(sync.apply(five(10, '99'), undefined, a)).toEqual({ outcome: 'applied' });
    expect(sync.book.bestBid()).toEqual([99, 1]);
  });
});

describe('BookSync: the channel depth', () => {
  it('keeps no level pushed past the depth the channel shows', () => {
    const sync = new BookSync(SYMBOL, { depth: 2 });
    sync.apply(
      message({
        action: 'snapshot',
        seqId: 1,
        prevSeqId: -1,
        bids: [level('100', '1'), level('99', '1'), level('98', '1')],
        asks: [level('101', '1')],
      }),
    );
    expect(levelsOf(sync).bids).toEqual([
      ['100', '1'],
      ['99', '1'],
    ]);
    // A better bid pushes 99 out of the exchange's two levels: it is dropped, not kept stale.
    sync.apply(message({ seqId: 2, prevSeqId: 1, bids: [level('100.5', '1')] }));
    expect(levelsOf(sync).bids).toEqual([
      ['100.5', '1'],
      ['100', '1'],
    ]);
    expect(levelsOf(sync).asks).toEqual([['101', '1']]);
  });
});

describe('BookSync: checksum and crossed book', () => {
  /** The snapshot's checksum as OKX computed it before 2026-06-23. */
  function withChecksum(book: BookMessage): BookMessage {
    const scratch = new OrderBook();
    scratch.applySnapshot(book.bids, book.asks);
    return { ...book, checksum: interleavedCrc32(scratch) };
  }

  it('verifies a non-zero checksum and invalidates on a mismatch with book-checksum-mismatch', () => {
    const sync = new BookSync(SYMBOL);
    const good = withChecksum(SNAPSHOT);
    expect(sync.apply(good)).toEqual({ outcome: 'applied' });
    const bad = { ...good, checksum: (good.checksum ?? 0) + 1 };
    expect(sync.apply(bad)).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-checksum-mismatch' },
    });
    expect(sync.state).toBe('invalid');
  });

  it('does not compute a checksum when the field is 0 or absent', () => {
    const checksum = vi.fn(() => 12_345);
    const sync = new BookSync(SYMBOL, { checksum });
    expect(sync.apply({ ...SNAPSHOT, checksum: 0 })).toEqual({ outcome: 'applied' });
    expect(sync.apply({ ...UPDATE, checksum: undefined })).toEqual({ outcome: 'applied' });
    expect(checksum).not.toHaveBeenCalled();
    expect(sync.apply(message({ seqId: 105, prevSeqId: 104, checksum: 12_345 }))).toEqual({
      outcome: 'unchanged',
    });
    expect(checksum).toHaveBeenCalledTimes(1);
  });

  it('invalidates a book whose best bid reaches its best ask, with book-crossed', () => {
    const sync = live();
    const crossing = message({ seqId: 104, prevSeqId: 100, bids: [level('63921.5', '1')] });
    expect(sync.apply(crossing)).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-crossed' },
    });
    expect(sync.state).toBe('invalid');
  });

  it('invalidates a crossed snapshot too', () => {
    const sync = new BookSync(SYMBOL);
    const crossed = { ...SNAPSHOT, bids: [level('63930', '1')] };
    expect(sync.apply(crossed)).toMatchObject({ fault: { code: 'book-crossed' } });
    expect(sync.state).toBe('invalid');
  });

  it('names the symbol in every fault detail', () => {
    const sync = new BookSync(SYMBOL);
    const result = sync.apply(UPDATE);
    expect(result.outcome === 'dropped' && result.fault.detail).toContain(SYMBOL);
  });
});
