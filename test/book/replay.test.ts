import { describe, expect, it } from 'vitest';
import { interleavedCrc32 } from '../../src/book/checksum.ts';
import type { BookMessage } from '../../src/book/message.ts';
import { type BookApplyResult, BookSync } from '../../src/book/sync.ts';
import { BOOKS_RPI, bookMessages, OKCOIN_2023, OKX_2022 } from './recordings.ts';

interface Replay {
  readonly syncs: Map<string, BookSync>;
  readonly outcomes: BookApplyResult[];
  /** Messages whose non-zero checksum the rebuilt book reproduced. */
  readonly verified: number;
}

/** Feeds messages to one BookSync per symbol, as a collector would. */
function replay(messages: readonly BookMessage[]): Replay {
  const syncs = new Map<string, BookSync>();
  const outcomes: BookApplyResult[] = [];
  let verified = 0;
  for (const message of messages) {
    let sync = syncs.get(message.symbol);
    if (sync === undefined) {
      sync = new BookSync(message.symbol);
      syncs.set(message.symbol, sync);
    }
    outcomes.push(sync.apply(message));
    if (message.checksum !== undefined && message.checksum !== 0) {
      if (interleavedCrc32(sync.book) === message.checksum) verified++;
    }
  }
  return { syncs, outcomes, verified };
}

function outcomeCounts(outcomes: readonly BookApplyResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { outcome } of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

/** Copies `messages` with the message at `index` replaced (or removed, for `undefined`). */
function edited(messages: readonly BookMessage[], index: number, replacement?: BookMessage) {
  const copy = [...messages];
  if (replacement === undefined) copy.splice(index, 1);
  else copy[index] = replacement;
  return copy;
}

describe('replaying the recorded OKX books', () => {
  const okx = bookMessages(OKX_2022);
  const okcoin = bookMessages(OKCOIN_2023);

  it('verifies all 290 checksums of the 2022 OKX recording and keeps every book live', () => {
    expect(okx).toHaveLength(290);
    const { syncs, outcomes, verified } = replay(okx);
    expect(verified).toBe(290);
    expect(outcomeCounts(outcomes)).toEqual({ applied: 290 });
    expect([...syncs.keys()].sort()).toEqual(['BTC-USD-220527', 'BTC-USDT', 'UNI-USD-SWAP']);
    for (const sync of syncs.values()) {
      expect(sync.state).toBe('live');
      expect(sync.book.isCrossed()).toBe(false);
    }
  });

  it('verifies all 6 checksums of the 2023 OKCoin recording, keep-alives included', () => {
    expect(okcoin).toHaveLength(6);
    const { outcomes, verified } = replay(okcoin);
    expect(verified).toBe(6);
    // The two updates have empty sides: they change nothing, but their checksums still count.
    expect(outcomeCounts(outcomes)).toEqual({ applied: 4, unchanged: 2 });
  });

  it('rebuilds the 400-level BTC-USDT snapshot with 400 bids and 400 asks', () => {
    const snapshot = okx.find((m) => m.symbol === 'BTC-USDT' && m.action === 'snapshot');
    const sync = new BookSync('BTC-USDT');
    expect(snapshot && sync.apply(snapshot)).toEqual({ outcome: 'applied' });
    expect(sync.book.bids).toHaveLength(400);
    expect(sync.book.asks).toHaveLength(400);
  });

  it('chains the books-rpi snapshot and its update across a seqId jump of 4', () => {
    const rpi = bookMessages(BOOKS_RPI);
    expect(rpi.map((m) => [m.action, m.prevSeqId, m.seqId])).toEqual([
      ['snapshot', -1, 1082831226],
      ['update', 1082831226, 1082831230],
    ]);
    const { syncs, outcomes } = replay(rpi);
    expect(outcomeCounts(outcomes)).toEqual({ applied: 2 });
    const sync = syncs.get('OMI-USD');
    expect(sync?.seqId).toBe(1082831230);
    expect(sync?.book.bestAsk()).toEqual([0.0001625, 12324367.786]);
  });

  it('invalidates a book whose recorded checksum was corrupted, with book-checksum-mismatch', () => {
    const index = okx.findIndex((m) => m.symbol === 'UNI-USD-SWAP' && m.action === 'update');
    const original = okx[index] as BookMessage;
    const corrupted = { ...original, checksum: (original.checksum ?? 0) ^ 1 };
    const { syncs, outcomes } = replay(edited(okx, index, corrupted));
    expect(outcomes[index]).toMatchObject({
      outcome: 'invalidated',
      fault: { code: 'book-checksum-mismatch' },
    });
    // Until a new snapshot, the rest of that symbol's updates are dropped; the others stay live.
    expect(syncs.get('UNI-USD-SWAP')?.state).toBe('invalid');
    expect(syncs.get('UNI-USD-SWAP')?.book.bids).toHaveLength(0);
    expect(syncs.get('BTC-USDT')?.state).toBe('live');
    const after = outcomes.filter((_, i) => i > index && okx[i]?.symbol === 'UNI-USD-SWAP');
    expect(after.length).toBeGreaterThan(0);
    for (const result of after) {
      expect(result).toMatchObject({ outcome: 'dropped', fault: { code: 'book-not-synced' } });
    }
  });

  it('catches any one dropped BTC-USDT update at the very next message, by checksum', () => {
    const btc = okx.filter((m) => m.symbol === 'BTC-USDT');
    // The last update has no successor to reveal it; every other drop must be caught.
    for (let dropped = 1; dropped < btc.length - 1; dropped++) {
      const { outcomes } = replay(edited(btc, dropped));
      const broken = outcomes.findIndex((result) => result.outcome !== 'applied');
      expect(broken).toBe(dropped);
      expect(outcomes[broken]).toMatchObject({ fault: { code: 'book-checksum-mismatch' } });
    }
  });
});
