import type { BookMessage, RawLevel } from '../../book/message.ts';
import type { BookChangeEvent, BookLevel } from '../../streams/events.ts';
import type { ParseContext } from '../types.ts';
import {
  decimal,
  EPOCH_MS,
  epochMs,
  implausible,
  invalid,
  isJsonObject,
  isPlausibleTime,
  type Rejection,
  reject,
} from './data.ts';
import { OKX_EXCHANGE_ID } from './protocol.ts';

/**
 * Book pushes (docs "Order book channel"): one element of `data` in, a `book_change` event and
 * the raw message the book layer checks out. Levels are `[px, sz, "0", numOrders]` strings; the
 * event gets them as numbers, the message keeps price and size as sent, strings untouched, for
 * the checksum. Only the first two fields of a level are read: on `books-rpi` the third is not
 * "0". Most book pushes never come here: scan.ts reads the plain ones without JSON.parse.
 */

/** Channels that send a snapshot, then updates, each push naming its `action`. */
const INCREMENTAL_CHANNELS: ReadonlySet<string> = new Set([
  'books',
  'books-l2-tbt',
  'books50-l2-tbt',
  'books-rpi',
]);

/**
 * Channels whose every push is the whole book, with no `action` and no `prevSeqId`: `books5`
 * (5 levels) and `bbo-tbt` (1 level). PROTOCOLS.md §1 "Book sync", last paragraph.
 */
const SNAPSHOT_CHANNELS: ReadonlySet<string> = new Set(['books5', 'bbo-tbt']);

export type BookAction = BookMessage['action'];

export interface ParsedBook {
  readonly event: BookChangeEvent;
  readonly message: BookMessage;
}

/** Levels per side of each book channel (docs "Order book channel"). */
const DEPTHS: ReadonlyMap<string, number> = new Map([
  ['books', 400],
  ['books-l2-tbt', 400],
  ['books50-l2-tbt', 50],
  ['books5', 5],
  ['bbo-tbt', 1],
]);

export function bookDepth(channel: string): number | undefined {
  return DEPTHS.get(channel);
}

/**
 * PROTOCOLS.md §1 "Book sync": an incremental book idle for about 60 s gets an empty update
 * with `seqId == prevSeqId`. Snapshot channels push only on change.
 */
const KEEP_ALIVE_MS = 60_000;

export function bookKeepAliveMs(channel: string): number | undefined {
  return INCREMENTAL_CHANNELS.has(channel) ? KEEP_ALIVE_MS : undefined;
}

/** A channel whose updates build on each other, so that a lost one breaks the book. */
export function isIncrementalBookChannel(channel: string): boolean {
  return INCREMENTAL_CHANNELS.has(channel);
}

export function isBookChannel(channel: string): boolean {
  return INCREMENTAL_CHANNELS.has(channel) || SNAPSHOT_CHANNELS.has(channel);
}

/** What a push of `channel` is, from the frame's `action`; undefined when that is missing. */
export function bookActionOf(channel: string, action: unknown): BookAction | undefined {
  if (SNAPSHOT_CHANNELS.has(channel)) return 'snapshot';
  return action === 'snapshot' || action === 'update' ? action : undefined;
}

const INTEGER = 'an integer';
const INT32 = 'a 32-bit integer';

export function parseBook(
  element: unknown,
  action: BookAction,
  symbol: string,
  channel: string,
  context: ParseContext,
): ParsedBook | Rejection {
  if (!isJsonObject(element)) return reject('frame-invalid-data', 'a book is not an object');
  const timestamp = epochMs(element.ts);
  if (!Number.isFinite(timestamp)) return invalid('ts', element.ts, EPOCH_MS);
  // seqId, prevSeqId and checksum are JSON integers; seqIds pass 2^32 but stay safe integers.
  const seqId = integer(element.seqId);
  const prevSeqId = integer(element.prevSeqId);
  const checksum = integer(element.checksum);
  if (Number.isNaN(seqId)) return invalid('seqId', element.seqId, INTEGER);
  if (Number.isNaN(prevSeqId)) return invalid('prevSeqId', element.prevSeqId, INTEGER);
  if (Number.isNaN(checksum) || !isInt32(checksum)) {
    return invalid('checksum', element.checksum, INT32);
  }
  if (action === 'update' && (seqId === undefined) !== (prevSeqId === undefined)) {
    // Half a chain link cannot be checked; the book layer would have to guess.
    return reject('frame-invalid-data', 'an update must carry both seqId and prevSeqId or neither');
  }
  const rawBids: RawLevel[] = [];
  const rawAsks: RawLevel[] = [];
  const bids = levelsOf(element.bids, rawBids);
  if (bids === undefined) return invalidLevels('bids', element.bids);
  const asks = levelsOf(element.asks, rawAsks);
  if (asks === undefined) return invalidLevels('asks', element.asks);
  if (!isPlausibleTime(timestamp, context.receivedAt)) return implausible(element.ts);
  const fields: BookFields = {
    timestamp,
    seqId,
    prevSeqId,
    checksum,
    rawBids,
    rawAsks,
    bids,
    asks,
  };
  return parsedBook(fields, action, symbol, channel, context);
}

/** One book element, checked: what both readers of book pushes (JSON and scanner) find. */
export interface BookFields {
  readonly timestamp: number;
  readonly seqId: number | undefined;
  readonly prevSeqId: number | undefined;
  readonly checksum: number | undefined;
  /** The levels as sent, strings untouched. */
  readonly rawBids: readonly RawLevel[];
  readonly rawAsks: readonly RawLevel[];
  /** The same levels as numbers, index for index. */
  readonly bids: BookLevel[];
  readonly asks: BookLevel[];
}

/** The event and the book message of one checked element. */
export function parsedBook(
  fields: BookFields,
  action: BookAction,
  symbol: string,
  channel: string,
  context: ParseContext,
): ParsedBook {
  const event: BookChangeEvent = {
    type: 'book_change',
    exchange: OKX_EXCHANGE_ID,
    symbol,
    timestamp: fields.timestamp,
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    isSnapshot: action === 'snapshot',
    bids: fields.bids,
    asks: fields.asks,
    sequence: fields.seqId,
  };
  const message: BookMessage = {
    symbol,
    channel,
    action,
    timestamp: fields.timestamp,
    seqId: fields.seqId,
    prevSeqId: fields.prevSeqId,
    checksum: fields.checksum,
    bids: fields.rawBids,
    asks: fields.rawAsks,
  };
  return { event, message };
}

/** Absent is undefined, a safe integer itself, anything else NaN. */
function integer(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : Number.NaN;
}

function isInt32(value: number | undefined): boolean {
  return value === undefined || (value | 0) === value;
}

/**
 * Numeric levels, or undefined unless `value` is an array of levels whose price is a decimal
 * string and whose size a non-negative one. A bad level rejects the whole element: half a book
 * message applied would corrupt the book without breaking the chain. Each level's price and size
 * strings go to `raw` as a pair: the fields after them are not the book's business, and the
 * scanner (scan.ts) keeps the same two.
 */
function levelsOf(value: unknown, raw: RawLevel[]): BookLevel[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const levels: BookLevel[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const level: unknown = value[i];
    if (!Array.isArray(level)) return undefined;
    const px: unknown = level[0];
    const sz: unknown = level[1];
    const price = decimal(px);
    const amount = decimal(sz);
    // No exchange quotes a price of 0; a size of 0 deletes the level.
    if (!(price > 0) || !Number.isFinite(price) || !Number.isFinite(amount)) return undefined;
    levels[i] = [price, amount];
    raw.push([px as string, sz as string]);
  }
  return levels;
}

/** Finds the level that failed, off the hot path, for the fault detail. */
function invalidLevels(side: 'bids' | 'asks', value: unknown): Rejection {
  const expected = 'an array of [price, size, …] with decimal strings, price above 0';
  if (!Array.isArray(value)) return invalid(side, value, expected);
  const at = value.findIndex((level: unknown) => levelsOf([level], []) === undefined);
  return invalid(`${side}[${at}]`, value[at], expected);
}
