import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFrame, parseJsonFrame } from '../../../src/exchanges/okx/parse.ts';
import { scanBookPush } from '../../../src/exchanges/okx/scan.ts';
import { seededRandom } from '../../../src/machines/backoff.ts';
import { readFrames } from './recordings.ts';

/**
 * The book scanner (src/exchanges/okx/scan.ts) must give exactly what the JSON path gives, or
 * decline. These tests hold the two side by side: on every recorded frame, on hand-made frames
 * at every edge of the scanner's grammar, and on thousands of mutated copies of recorded frames.
 */

const context = { collectorId: 'scan-test', receivedAt: Date.UTC(2026, 11, 3) };

/** Every recording of ../shared/fixtures/okx, subfolders included. */
function recordings(): string[] {
  const folder = new URL('../../../../shared/fixtures/okx/', import.meta.url);
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.jsonl'))
    .sort();
}

const isBookPush = (text: string): boolean => {
  const channel = (JSON.parse(text) as { arg?: { channel?: string } }).arg?.channel ?? '';
  return /^(books|bbo-tbt)/.test(channel) && !text.includes('"event"');
};

/** parseFrame (scanner first) and parseJsonFrame agree; returns whether the scanner read it. */
function agree(text: string): boolean {
  expect(parseFrame(text, context)).toStrictEqual(parseJsonFrame(text, context));
  return scanBookPush(text, context) !== undefined;
}

/** A small real book update (2022 recording), a base for hand-made variants. */
const UPDATE =
  '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["30243.5","1.2112","0","4"],["30247.5","0","0","0"]],"bids":[["30236.1","0.5","0","2"]],"ts":"1652400000000","checksum":-855196043,"prevSeqId":100,"seqId":101}]}';

describe('the book scanner against JSON.parse', () => {
  it('agrees on every frame of every OKX recording and reads every book push itself', () => {
    let books = 0;
    let scanned = 0;
    for (const name of recordings()) {
      for (const text of readFrames(name)) {
        const read = agree(text);
        if (read) scanned++;
        if (isBookPush(text)) books++;
        // The scanner reads book pushes and nothing else.
        if (read) expect(isBookPush(text)).toBe(true);
      }
    }
    expect(books).toBeGreaterThan(300);
    expect(scanned).toBe(books);
  });

  it('reads the base update, keeping price and size strings and their numbers', () => {
    const result = scanBookPush(UPDATE, context);
    expect(result?.books?.[0]).toMatchObject({
      action: 'update',
      checksum: -855196043,
      prevSeqId: 100,
      seqId: 101,
      asks: [
        ['30243.5', '1.2112'],
        ['30247.5', '0'],
      ],
    });
    expect(result?.events?.[0]).toMatchObject({
      asks: [
        [30243.5, 1.2112],
        [30247.5, 0],
      ],
      bids: [[30236.1, 0.5]],
      timestamp: 1652400000000,
      sequence: 101,
    });
  });

  // Frames the scanner must read itself, identically.
  const readable: Array<[string, string]> = [
    [
      'members in another order',
      '{"arg":{"instId":"BTC-USDT","channel":"books"},"data":[{"seqId":101,"prevSeqId":100,"ts":"1652400000000","bids":[],"asks":[["1","2"]]}],"action":"update"}',
    ],
    ['empty sides', UPDATE.replace(/"asks":\[.*?\]\],"bids":\[.*?\]\]/, '"asks":[],"bids":[]')],
    ['no checksum and no sequence', UPDATE.replace(/,"checksum":.*?(?=})/, '')],
    [
      'a level of price and size only',
      UPDATE.replace('["30236.1","0.5","0","2"]', '["30236.1","0.5"]'),
    ],
    ['two elements', UPDATE.replace(/"data":\[(.*)\]}$/, '"data":[$1,$1]}')],
    [
      'books5 without action',
      UPDATE.replace('"books"', '"books5"').replace('"action":"update",', ''),
    ],
    ['a very long decimal', UPDATE.replace('"0.5"', '"0.50000000000000000000000001"')],
    ['a 20-digit size', UPDATE.replace('"0.5"', '"12345678901234567890"')],
    ['leading zeros in a decimal string', UPDATE.replace('"0.5"', '"000.500"')],
    ['a trailing dot', UPDATE.replace('"0.5"', '"5."')],
    ['a leading dot', UPDATE.replace('"0.5"', '".5"')],
    ['unicode in the symbol', UPDATE.replace('BTC-USDT', 'BTC-ÜSDT✓')],
    ['a seqId of 15 digits', UPDATE.replace('"seqId":101', '"seqId":999999999999999')],
    ['a negative seqId', UPDATE.replace('"seqId":101', '"seqId":-5')],
    ['an unknown member', UPDATE.replace('"seqId":101', '"seqId":101,"instId":"BTC-USDT"')],
    ['an unknown numeric member', UPDATE.replace('"seqId":101', '"seqId":101,"extra":7')],
    ['an unknown arg member', UPDATE.replace('"instId"', '"instType":"SPOT","instId"')],
  ];
  it.each(readable)('reads a frame with %s as JSON.parse does', (_, text) => {
    expect(agree(text)).toBe(true);
  });

  // Frames the scanner must leave to the JSON path, which then reports or reads them.
  const declined: Array<[string, string]> = [
    ['an escape in the symbol', UPDATE.replace('BTC-USDT', 'BTC\\u002dUSDT')],
    ['an escape in a level', UPDATE.replace('"1.2112"', '"1\\u002e2112"')],
    ['whitespace', UPDATE.replace('"action":', '"action": ')],
    ['a newline at the end', `${UPDATE}\n`],
    ['an unknown member holding an object', UPDATE.replace('"seqId":101', '"seqId":101,"x":{}')],
    ['an unknown member holding a fraction', UPDATE.replace('"seqId":101', '"seqId":101,"x":1.5')],
    ['an unknown arg member holding a number', UPDATE.replace('"instId"', '"uid":5,"instId"')],
    ['a repeated member', UPDATE.replace('"seqId":101', '"seqId":101,"seqId":102')],
    [
      'a repeated arg',
      UPDATE.replace('"action"', '"arg":{"channel":"books","instId":"X"},"action"'),
    ],
    ['an event member', UPDATE.replace('"action"', '"event":"error","action"')],
    ['a leading zero in an integer', UPDATE.replace('"seqId":101', '"seqId":0101')],
    ['minus zero', UPDATE.replace('"seqId":101', '"seqId":-0')],
    ['a fraction', UPDATE.replace('"seqId":101', '"seqId":101.0')],
    ['an exponent', UPDATE.replace('"seqId":101', '"seqId":1e2')],
    ['a 16-digit integer', UPDATE.replace('"seqId":101', '"seqId":9007199254740993')],
    ['a checksum beyond 32 bits', UPDATE.replace('-855196043', '4294967296')],
    ['a null checksum', UPDATE.replace('-855196043', 'null')],
    ['a numeric ts', UPDATE.replace('"1652400000000"', '1652400000000')],
    ['a ts in microseconds', UPDATE.replace('"1652400000000"', '"1652400000000000"')],
    ['a ts before 2010', UPDATE.replace('"1652400000000"', '"1000"')],
    ['an exponent in a size', UPDATE.replace('"0.5"', '"5e-1"')],
    ['a negative size', UPDATE.replace('"0.5"', '"-0.5"')],
    ['a space in a price', UPDATE.replace('"30236.1"', '" 30236.1"')],
    ['two dots', UPDATE.replace('"0.5"', '"0.5.1"')],
    ['an empty price', UPDATE.replace('"30236.1"', '""')],
    ['a lone dot', UPDATE.replace('"0.5"', '"."')],
    ['a numeric price', UPDATE.replace('"30236.1"', '30236.1')],
    ['a price of 400 digits', UPDATE.replace('"30236.1"', `"${'9'.repeat(400)}"`)],
    ['a level of one field', UPDATE.replace('["30236.1","0.5","0","2"]', '["30236.1"]')],
    ['a numeric field after size', UPDATE.replace('"0","2"]', '"0",2]')],
    ['an object for a level', UPDATE.replace('["30236.1","0.5","0","2"]', '{"px":"1"}')],
    ['no bids', UPDATE.replace(/,"bids":\[.*?\]\]/, '')],
    ['no ts', UPDATE.replace(',"ts":"1652400000000"', '')],
    ['half a chain link', UPDATE.replace(',"prevSeqId":100', '')],
    ['no action on books', UPDATE.replace('"action":"update",', '')],
    ['an unknown action', UPDATE.replace('"update"', '"partial"')],
    [
      'an empty data array',
      '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}',
    ],
    ['no instId', UPDATE.replace('"instId":"BTC-USDT"', '"instId":5')],
    ['a channel that is not a book', UPDATE.replace('"books"', '"bookish"')],
    ['a control character in a string', UPDATE.replace('BTC-USDT', 'BTC\tUSDT')],
    ['a truncated frame', UPDATE.slice(0, -2)],
    ['glued frames', `${UPDATE}${UPDATE}`],
    ['trailing text', `${UPDATE}x`],
  ];
  it.each(declined)('leaves a frame with %s to JSON.parse', (_, text) => {
    expect(text).not.toBe(UPDATE);
    expect(agree(text)).toBe(false);
  });

  it('agrees on 20,000 mutated copies of recorded book pushes', () => {
    const bases = recordings()
      .flatMap((name) => readFrames(name))
      .filter((text) => isBookPush(text) && text.length < 4000);
    expect(bases.length).toBeGreaterThan(50);
    const next = seededRandom(1203);
    const alphabet = '{}[]",:-.0123456789e \\u\t';
    let read = 0;
    let left = 0;
    for (let n = 0; n < 20_000; n++) {
      const base = bases[Math.floor(next() * bases.length)] as string;
      // Half of the edits land in the first 120 characters, where the frame's shape is.
      const at = Math.floor(next() * (next() < 0.5 ? Math.min(120, base.length) : base.length));
      const char = alphabet[Math.floor(next() * alphabet.length)] as string;
      const kind = Math.floor(next() * 3);
      const text =
        kind === 0
          ? base.slice(0, at) + base.slice(at + 1)
          : kind === 1
            ? base.slice(0, at) + char + base.slice(at)
            : base.slice(0, at) + char + base.slice(at + 1);
      if (agree(text)) read++;
      else left++;
    }
    // Both sides are exercised: edits inside digits keep a frame readable, most others do not.
    expect(read).toBeGreaterThan(1000);
    expect(left).toBeGreaterThan(1000);
  });
});
