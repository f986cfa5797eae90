import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { interleavedCrc32 } from '../../src/book/checksum.ts';
import type { RawLevel } from '../../src/book/message.ts';
import { OrderBook } from '../../src/book/order-book.ts';

const level = (px: string, sz: string): RawLevel => [px, sz, '0', '1'];
const signed = (text: string): number => crc32(text) | 0;

function bookOf(bids: RawLevel[], asks: RawLevel[]): OrderBook {
  const book = new OrderBook();
  book.applySnapshot(bids, asks);
  return book;
}

describe('interleavedCrc32', () => {
  it('hashes bid and ask level by level, bids first, joined with ":"', () => {
    const book = bookOf(
      [level('3366.1', '7'), level('3366', '6')],
      [level('3366.8', '9'), level('3368', '8')],
    );
    expect(interleavedCrc32(book)).toBe(signed('3366.1:7:3366.8:9:3366:6:3368:8'));
  });

  it("lets the longer side's remaining levels follow when the other side runs out", () => {
    const book = bookOf(
      [level('3366.1', '7'), level('3366', '6'), level('3365', '5')],
      [level('3366.8', '9')],
    );
    expect(interleavedCrc32(book)).toBe(signed('3366.1:7:3366.8:9:3366:6:3365:5'));
  });

  it('hashes the strings as sent, so trailing zeros change the checksum', () => {
    const plain = bookOf([level('100', '1.5')], [level('101', '2')]);
    const padded = bookOf([level('100.0', '1.50')], [level('101', '2')]);
    expect(interleavedCrc32(plain)).toBe(signed('100:1.5:101:2'));
    expect(interleavedCrc32(padded)).not.toBe(interleavedCrc32(plain));
  });

  it('reads only the best 25 levels of each side', () => {
    const bids = Array.from({ length: 30 }, (_, i) => level(String(1000 - i), '1'));
    const asks = Array.from({ length: 30 }, (_, i) => level(String(1001 + i), '2'));
    const parts: string[] = [];
    for (let i = 0; i < 25; i++) parts.push(`${1000 - i}:1:${1001 + i}:2`);
    expect(interleavedCrc32(bookOf(bids, asks))).toBe(signed(parts.join(':')));
  });

  it('returns the CRC as a signed 32-bit integer, as OKX sends it', () => {
    // The unsigned CRC32 of this text is 2236420006, above 2^31 - 1.
    const book = bookOf([level('3366.1', '7')], [level('3366.8', '9')]);
    expect(crc32('3366.1:7:3366.8:9')).toBe(2_236_420_006);
    expect(interleavedCrc32(book)).toBe(2_236_420_006 - 2 ** 32);
  });
});
