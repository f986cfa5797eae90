import { readFileSync } from 'node:fs';
import { Subject } from 'rxjs';
import { okxAdapter } from '../src/exchanges/okx/adapter.ts';
import { parseJsonFrame } from '../src/exchanges/okx/parse.ts';
import type { ExchangeAdapter } from '../src/exchanges/types.ts';
import { systemClock } from '../src/machines/clock.ts';
import type { MarketEvent } from '../src/streams/events.ts';
import { CollectorFeed } from '../src/streams/feed.ts';

/**
 * Book updates per second through a collector's feed (parse → sequence and checksum rules → the
 * maintained book → `data$`) against `JSON.parse` alone on the same frames, in this process. The
 * frames are the recorded BTC-USDT `books` stream of 2022 (a 400-level snapshot, then updates,
 * every one with a live checksum), replayed over and over: each pass starts with its snapshot, so
 * every message checks out and is applied. Sockets are left out on purpose: the trades benchmark
 * measures them; this one isolates what books add.
 *
 * A third column runs the same feed with every frame going through `JSON.parse` (the adapter's
 * general path, which the book scanner in src/exchanges/okx/scan.ts lets book pushes skip), to
 * show what reading the text directly is worth.
 */
export interface BookBenchResult {
  /** `recorded`: the 2022 checksums, all verified; `checksum 0`: as OKX sends since 2026-06-23. */
  readonly variant: 'recorded' | 'checksum 0';
  readonly frames: number;
  readonly parsePerSecond: number;
  readonly feedPerSecond: number;
  readonly ratio: number;
  /** The feed with the scanner bypassed: every frame through JSON.parse. */
  readonly jsonFeedPerSecond: number;
  readonly jsonRatio: number;
  readonly checksumsVerified: number;
  readonly resets: number;
}

const RECORDING = new URL(
  '../../shared/fixtures/okx/cryptofeed_okx_v5_public_2022-05-13.jsonl',
  import.meta.url,
);

function recordedBook(instId: string): string[] {
  return readFileSync(RECORDING, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"channel":"books"') && line.includes(`"instId":"${instId}"`))
    .filter((line) => line.includes('"data"'));
}

function timed(run: () => void): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export function measureBooks(passes = 40, rounds = 9): BookBenchResult[] {
  const recorded = recordedBook('BTC-USDT');
  const zeroed = recorded.map((frame) => frame.replace(/"checksum":-?\d+/, '"checksum":0'));
  return [
    measure('recorded', recorded, passes, rounds),
    measure('checksum 0', zeroed, passes, rounds),
  ];
}

function measure(
  variant: BookBenchResult['variant'],
  frames: readonly string[],
  passes: number,
  rounds: number,
): BookBenchResult {
  if (frames.length === 0) throw new Error(`no recorded BTC-USDT books under ${RECORDING.href}`);
  const total = frames.length * passes;
  let resets = 0;
  let changes = 0;
  const feedOf = (adapter: ExchangeAdapter) => {
    const data = new Subject<MarketEvent>();
    data.subscribe((event) => {
      if (event.type === 'book_reset') resets++;
      else changes++;
    });
    return new CollectorFeed({
      collectorId: 'bench',
      adapter,
      clock: systemClock,
      wanted: new Map([['BTC-USDT', new Set(['book_change'])]]),
      emit: (event) => data.next(event),
      fault: () => undefined,
    });
  };
  const feed = feedOf(okxAdapter);
  const jsonFeed = feedOf({ ...okxAdapter, parse: parseJsonFrame });
  let sink: unknown;
  const parseRound = () =>
    timed(() => {
      for (let p = 0; p < passes; p++) for (const frame of frames) sink = JSON.parse(frame);
    });
  const feedRound = (through: CollectorFeed) =>
    timed(() => {
      const now = Date.now();
      for (let p = 0; p < passes; p++) for (const frame of frames) through.ingest(frame, 'c', now);
    });
  parseRound();
  feedRound(feed);
  feedRound(jsonFeed);
  const parseTimes: number[] = [];
  const feedTimes: number[] = [];
  const jsonFeedTimes: number[] = [];
  changes = 0;
  for (let round = 0; round < rounds; round++) {
    parseTimes.push(parseRound());
    feedTimes.push(feedRound(feed));
    jsonFeedTimes.push(feedRound(jsonFeed));
  }
  void sink;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
  const parsePerSecond = total / median(parseTimes);
  const feedPerSecond = total / median(feedTimes);
  const jsonFeedPerSecond = total / median(jsonFeedTimes);
  return {
    variant,
    frames: total,
    parsePerSecond,
    feedPerSecond,
    ratio: feedPerSecond / parsePerSecond,
    jsonFeedPerSecond,
    jsonRatio: jsonFeedPerSecond / parsePerSecond,
    // Both feeds apply every message of every round.
    checksumsVerified: changes / 2,
    resets,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(measureBooks())}\n`);
}
