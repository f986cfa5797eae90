import { readdir, readFile } from 'node:fs/promises';

/**
 * Recorded OKX frames shipped in the package (`recordings/okx/`, sources in its SOURCES.md), laid
 * out as one replay pass: each file in turn, paced as it was recorded.
 */

/** `../../recordings/okx/` holds from both `src/service` and `dist/service`. */
export const RECORDINGS_URL = new URL('../../recordings/okx/', import.meta.url);

/** Pause between two recordings in a pass, and before the pass starts over. */
export const SEGMENT_GAP_MS = 1_000;

export interface RecordedFrame {
  /** The line exactly as recorded: the demo exchange sends it unchanged. */
  readonly text: string;
  readonly channel: string;
  readonly instId: string;
  /** A book push's `action` (`snapshot`, `update`); undefined for frames that name none. */
  readonly action: string | undefined;
  /** When the frame is due, ms after the start of a pass. */
  readonly atMs: number;
}

export interface ReplayProgram {
  /** Data frames of every recording, ordered by `atMs`. */
  readonly frames: readonly RecordedFrame[];
  /** Length of one pass, trailing gap included. */
  readonly durationMs: number;
  /** Recording files, relative to the folder, in pass order. */
  readonly files: readonly string[];
}

interface DataLine {
  readonly text: string;
  readonly channel: string;
  readonly instId: string;
  readonly action: string | undefined;
  /** Receive time from the `.ts.txt`, else the exchange time of the data; ms. */
  readonly timeMs: number | undefined;
}

export async function loadReplayProgram(folder: URL = RECORDINGS_URL): Promise<ReplayProgram> {
  const entries = await readdir(folder, { recursive: true });
  const names = entries.filter(
    (name) => name.endsWith('.jsonl') && !name.endsWith('.client.jsonl'),
  );
  const recordings = await Promise.all(
    names.map(async (file) => ({ file, lines: await readDataLines(new URL(file, folder)) })),
  );
  // Oldest recording first: the collector drops a trade id or ticker time below one it has seen,
  // so a 2022 recording played after a 2026 one would vanish as duplicates.
  recordings.sort((a, b) => recordedAt(a.lines) - recordedAt(b.lines));
  const frames: RecordedFrame[] = [];
  let startMs = 0;
  for (const { lines } of recordings) {
    const segment = placeSegment(lines, startMs);
    frames.push(...segment);
    startMs = (segment.at(-1)?.atMs ?? startMs) + SEGMENT_GAP_MS;
  }
  if (frames.length === 0) throw new Error(`no recorded data frames in ${folder.pathname}`);
  return { frames, durationMs: startMs, files: recordings.map((r) => r.file) };
}

/**
 * A frame for pass `pass` (0 = the first). The first pass is the recording itself. Later ones are
 * stamped as new data, or the collector would rightly drop every frame as a duplicate: each data
 * item's `ts` becomes `nowMs` and a numeric `tradeId` moves up by `pass` × 10^10 (above any id
 * in the recordings); everything else is as recorded.
 */
export function restampFrame(text: string, pass: number, nowMs: number): string {
  if (pass === 0) return text;
  const frame: unknown = JSON.parse(text);
  if (!isRecord(frame) || !Array.isArray(frame.data)) return text;
  const data = frame.data.map((item: unknown) =>
    isRecord(item) ? restampItem(item, pass, nowMs) : item,
  );
  return JSON.stringify({ ...frame, data });
}

const TRADE_ID_STEP = 10_000_000_000n;

function restampItem(item: Record<string, unknown>, pass: number, nowMs: number): object {
  const restamped: Record<string, unknown> = { ...item };
  if (typeof item.ts === 'string') restamped.ts = String(nowMs);
  if (typeof item.tradeId === 'string' && /^\d+$/.test(item.tradeId)) {
    restamped.tradeId = (BigInt(item.tradeId) + BigInt(pass) * TRADE_ID_STEP).toString();
  }
  return restamped;
}

/** When a recording starts: the time of its first frame that has one. */
function recordedAt(lines: readonly DataLine[]): number {
  return lines.find((line) => line.timeMs !== undefined)?.timeMs ?? 0;
}

/** Data frames of one recording; acks and other events are left out (the server makes its own). */
async function readDataLines(file: URL): Promise<DataLine[]> {
  const lines = splitLines(await readFile(file, 'utf8'));
  const times = await readReceiveTimes(new URL(file.href.replace(/\.jsonl$/, '.ts.txt')));
  return lines.flatMap((text, i): DataLine[] => {
    const frame: unknown = JSON.parse(text);
    const arg = isRecord(frame) ? frame.arg : undefined;
    if (!isRecord(frame) || !Array.isArray(frame.data) || !isRecord(arg)) return [];
    const { channel, instId } = arg;
    if (typeof channel !== 'string' || typeof instId !== 'string') return [];
    const timeMs = times === undefined ? exchangeTimeMs(frame.data) : times[i];
    const action = typeof frame.action === 'string' ? frame.action : undefined;
    return [{ text, channel, instId, action, timeMs }];
  });
}

/** Local receive times (Unix seconds, one per line) in ms; undefined when the file has none. */
async function readReceiveTimes(file: URL): Promise<number[] | undefined> {
  try {
    return splitLines(await readFile(file, 'utf8')).map((line) => Number(line) * 1_000);
  } catch (error) {
    if (isRecord(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Offsets from the segment's first frame; a missing or backward time keeps the previous one. */
function placeSegment(lines: readonly DataLine[], startMs: number): RecordedFrame[] {
  const origin = lines.find((line) => line.timeMs !== undefined)?.timeMs ?? 0;
  let previous = 0;
  return lines.map(({ text, channel, instId, action, timeMs }) => {
    const offset = timeMs === undefined || !Number.isFinite(timeMs) ? previous : timeMs - origin;
    previous = Math.max(previous, offset);
    return { text, channel, instId, action, atMs: startMs + previous };
  });
}

/**
 * OKX pushes carry `ts` as a millisecond string in each data item; a candle is a row whose first
 * field is that time (docs "Candlesticks channel"). Without it a candle recording would count as
 * recorded in 1970 and play first.
 */
function exchangeTimeMs(data: readonly unknown[]): number | undefined {
  const first: unknown = data[0];
  const ts = Number(Array.isArray(first) ? first[0] : isRecord(first) ? first.ts : undefined);
  return Number.isFinite(ts) ? ts : undefined;
}

/** Keeps line numbers aligned with the `.ts.txt`: only the final newline is dropped. */
function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
