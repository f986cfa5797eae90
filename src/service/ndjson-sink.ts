import type { Writable } from 'node:stream';
import type { MarketEvent } from '../streams/events.ts';

/**
 * Writes one normalized event per line as JSON. Nothing is dropped while the reader is there:
 * when the stream is past its high-water mark the line still goes into the stream's buffer, and
 * the write is counted so a slow reader shows in the stop summary instead of vanishing. Once the
 * reader is gone (EPIPE) there is nobody to write to: later events are counted as discarded.
 */

export interface SinkStats {
  /** Lines handed to the stream. */
  readonly written: number;
  /** Of those, lines written while the stream was past its high-water mark (held in memory). */
  readonly writtenWhileFull: number;
  /** Events that arrived after the stream broke, not written. */
  readonly discarded: number;
}

export interface NdjsonSink {
  write(event: MarketEvent): void;
  stats(): SinkStats;
  /** Resolves once every line written has left the stream's buffer, or the stream broke. */
  flush(): Promise<void>;
}

export interface SinkHooks {
  /** The first write that had to wait in memory: the reader is slower than the feed. */
  readonly onFull?: () => void;
  /** The stream failed (EPIPE: the reader closed its end). Called once. */
  readonly onBroken?: (error: unknown) => void;
}

export function createNdjsonSink(stream: Writable, hooks: SinkHooks = {}): NdjsonSink {
  let written = 0;
  let writtenWhileFull = 0;
  let discarded = 0;
  let broken = false;
  let inFlight = 0;
  let flushed: (() => void) | undefined;
  // A write's callback runs once the line has left the stream's buffer, or failed.
  const settled = () => {
    inFlight -= 1;
    if (inFlight === 0) flushed?.();
  };
  stream.on('error', (error: unknown) => {
    if (broken) return;
    broken = true;
    hooks.onBroken?.(error);
    flushed?.();
  });
  return {
    write(event) {
      if (broken) {
        discarded += 1;
        return;
      }
      inFlight += 1;
      const accepted = stream.write(`${JSON.stringify(event)}\n`, settled);
      written += 1;
      if (accepted) return;
      writtenWhileFull += 1;
      if (writtenWhileFull === 1) hooks.onFull?.();
    },
    stats: () => ({ written, writtenWhileFull, discarded }),
    flush() {
      if (broken || inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        flushed = resolve;
      });
    },
  };
}
