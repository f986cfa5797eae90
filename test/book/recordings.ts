import { readFileSync } from 'node:fs';
import type { BookMessage } from '../../src/book/message.ts';
import { okxAdapter } from '../../src/exchanges/okx/adapter.ts';

/** The shared OKX recordings (see shared/fixtures/README.md), resolved from this file. */
const OKX_FIXTURES = new URL('../../../shared/fixtures/okx/', import.meta.url);

export const OKX_2022 = 'cryptofeed_okx_v5_public_2022-05-13.jsonl';
export const OKCOIN_2023 = 'cryptofeed_okcoin_v5_public_2023-05-27.jsonl';
export const BOOKS_RPI = 'nautilus_books-rpi_OMI-USD_2026-07-30.jsonl';

/** Receipt time late enough for every recording's exchange times to be plausible. */
const RECEIVED_AT = Date.UTC(2026, 7, 13);
const context = { collectorId: 'book-test', receivedAt: RECEIVED_AT };

/** One frame per line, exactly as recorded. */
export function readFrames(name: string): string[] {
  return readFileSync(new URL(name, OKX_FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}

/** Every book message of a recording, in the order received, through the OKX parser. */
export function bookMessages(name: string): BookMessage[] {
  return readFrames(name).flatMap((text) => {
    const result = okxAdapter.parse(text, context);
    if (result.fault !== undefined) throw new Error(`${name}: ${result.fault.detail}`);
    return result.books ?? [];
  });
}
