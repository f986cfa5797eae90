import { readFileSync } from 'node:fs';

/** The shared OKX recordings (see shared/fixtures/README.md), resolved from this file. */
const OKX_FIXTURES = new URL('../../../../shared/fixtures/okx/', import.meta.url);

/** One frame per line, exactly as recorded. */
export function readFrames(name: string): string[] {
  return readFileSync(new URL(name, OKX_FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}

/** Receipt times from a `.ts.txt` beside a recording (Unix seconds as floats), in epoch ms. */
export function readReceiptTimes(name: string): number[] {
  return readFileSync(new URL(name, OKX_FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => Math.round(Number(line) * 1000));
}

/** A recorded frame as loose JSON, for reading the raw values the adapter must reproduce. */
export interface RawFrame {
  readonly event?: string;
  readonly arg?: { readonly channel: string; readonly instId: string };
  readonly data?: readonly unknown[];
  readonly code?: string;
  readonly msg?: string;
}

export function raw(text: string): RawFrame {
  return JSON.parse(text) as RawFrame;
}

export type RawFields = Readonly<Record<string, string>>;
