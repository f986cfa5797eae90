import type { CandleEvent, TickerEvent, TradeEvent } from '../../streams/events.ts';
import type { FaultCode } from '../../streams/faults.ts';
import type { ParseContext } from '../types.ts';
import { CANDLE_PREFIX } from './channels.ts';
import { OKX_EXCHANGE_ID } from './protocol.ts';

/**
 * Element parsers for OKX data pushes: one element of `data` in, one normalized event or a
 * rejection out. Hot path: no closures, no regex, no intermediate objects; an event is the only
 * allocation. Prices, sizes and times arrive as strings (PROTOCOLS.md §1 "Timestamps and
 * numbers") and become numbers with unary `+`, checked with `Number.isFinite`.
 */

/** Why one element was dropped. Allocated only on the failure path. */
export interface Rejection {
  readonly type: 'rejected';
  readonly code: FaultCode;
  readonly detail: string;
}

export type ElementParser<E> = (
  element: unknown,
  symbol: string,
  channel: string,
  context: ParseContext,
) => E | Rejection;

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a field must be, for fault details. */
const NON_EMPTY = 'a non-empty string';
const POSITIVE_DECIMAL = 'a positive decimal string';
const OPTIONAL_DECIMAL = 'a decimal string or ""';
export const EPOCH_MS = 'a string of epoch milliseconds';

/** FAULTS.md F10: nothing before 2010-01-01 UTC is a real exchange time (catches 1970 zeros). */
const EARLIEST_PLAUSIBLE_MS = Date.UTC(2010, 0, 1);
/** More than a day after receipt is a unit or clock error, not latency. */
const LATEST_AHEAD_MS = 86_400_000;

/**
 * Trades (docs "Trades channel"). 2022 elements carry instId, tradeId, px, sz, side, ts; 2026
 * ones add count, source and seqId, which are not part of a TradeEvent and are ignored. The
 * symbol is the push's `arg.instId`, the key the subscription was made under (FAULTS.md F11).
 */
export function parseTrade(
  element: unknown,
  symbol: string,
  _channel: string,
  context: ParseContext,
): TradeEvent | Rejection {
  if (!isJsonObject(element)) return reject('frame-invalid-data', 'a trade is not an object');
  const id = element.tradeId;
  const price = decimal(element.px);
  const amount = decimal(element.sz);
  const side = element.side;
  const timestamp = epochMs(element.ts);
  if (typeof id !== 'string' || id.length === 0) return invalid('tradeId', id, NON_EMPTY);
  if (!(price > 0)) return invalid('px', element.px, POSITIVE_DECIMAL);
  if (!(amount > 0)) return invalid('sz', element.sz, POSITIVE_DECIMAL);
  if (side !== 'buy' && side !== 'sell') return invalid('side', side, '"buy" or "sell"');
  if (!Number.isFinite(timestamp)) return invalid('ts', element.ts, EPOCH_MS);
  if (!isPlausibleTime(timestamp, context.receivedAt)) return implausible(element.ts);
  const fills = epochMs(element.count);
  return {
    type: 'trade',
    exchange: OKX_EXCHANGE_ID,
    symbol,
    timestamp,
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    id,
    price,
    amount,
    side,
    // Only when it says something: most pushes (and every one before 2026) are one fill.
    ...(fills > 1 ? { fills } : {}),
  };
}

/**
 * Tickers (docs "Tickers channel"). Every field but `ts` may be empty (`""`: no bid, or no trade
 * yet), which becomes `undefined`. `vol24h` is base currency on spot and contracts on
 * derivatives, as `volume24h` documents. `volCcy24h` is the quote currency only on SPOT and
 * MARGIN; on derivatives it is the base currency, so `quoteVolume24h` stays undefined there
 * rather than carry a base-currency figure under a quote-currency name.
 */
export function parseTicker(
  element: unknown,
  symbol: string,
  _channel: string,
  context: ParseContext,
): TickerEvent | Rejection {
  if (!isJsonObject(element)) return reject('frame-invalid-data', 'a ticker is not an object');
  const timestamp = epochMs(element.ts);
  if (!Number.isFinite(timestamp)) return invalid('ts', element.ts, EPOCH_MS);
  if (!isPlausibleTime(timestamp, context.receivedAt)) return implausible(element.ts);
  const instType = element.instType;
  const event: TickerEvent = {
    type: 'ticker',
    exchange: OKX_EXCHANGE_ID,
    symbol,
    timestamp,
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    last: optionalDecimal(element.last),
    lastAmount: optionalDecimal(element.lastSz),
    bidPrice: optionalDecimal(element.bidPx),
    bidAmount: optionalDecimal(element.bidSz),
    askPrice: optionalDecimal(element.askPx),
    askAmount: optionalDecimal(element.askSz),
    open24h: optionalDecimal(element.open24h),
    high24h: optionalDecimal(element.high24h),
    low24h: optionalDecimal(element.low24h),
    volume24h: optionalDecimal(element.vol24h),
    quoteVolume24h:
      instType === 'SPOT' || instType === 'MARGIN' ? optionalDecimal(element.volCcy24h) : undefined,
  };
  // optionalDecimal yields NaN for a present but unusable field; find which one off the hot path.
  if (hasNaN(event)) return invalidTickerField(element);
  return event;
}

/**
 * Candles (docs "Candlesticks channel"): each element is a row of 9 strings
 * `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`, `confirm` "1" once the bar has closed.
 * `vol` is base currency on spot and contracts on derivatives, as for tickers.
 */
export function parseCandle(
  element: unknown,
  symbol: string,
  channel: string,
  context: ParseContext,
): CandleEvent | Rejection {
  if (!Array.isArray(element) || element.length < 9) {
    return reject('frame-invalid-data', 'a candle is not a row of 9 fields');
  }
  const timestamp = epochMs(element[0]);
  const open = decimal(element[1]);
  const high = decimal(element[2]);
  const low = decimal(element[3]);
  const close = decimal(element[4]);
  const volume = decimal(element[5]);
  const confirm = element[8];
  if (!Number.isFinite(timestamp)) return invalid('ts', element[0], EPOCH_MS);
  if (!Number.isFinite(open + high + low + close + volume)) {
    return reject('frame-invalid-data', 'a candle price or volume is not a numeric string');
  }
  if (confirm !== '0' && confirm !== '1') return invalid('confirm', confirm, '"0" or "1"');
  // A bar whose open or close lies outside its own low–high range is not a bar.
  if (low > Math.min(open, close) || high < Math.max(open, close)) {
    const bar = `open ${element[1]} high ${element[2]} low ${element[3]} close ${element[4]}`;
    return reject(
      'frame-invalid-data',
      `a candle's open and close must lie within low–high: ${bar}`,
    );
  }
  if (!isPlausibleTime(timestamp, context.receivedAt)) return implausible(element[0]);
  return {
    type: 'candle',
    exchange: OKX_EXCHANGE_ID,
    symbol,
    timestamp,
    localTimestamp: context.receivedAt,
    collectorId: context.collectorId,
    // The caller dispatched on the `candle` prefix, so the rest of the channel is the bar.
    interval: channel.slice(CANDLE_PREFIX.length),
    open,
    high,
    low,
    close,
    volume,
    closed: confirm === '1',
  };
}

/** Exact powers of ten: every one up to 1e22 is a double without rounding. */
const POWERS_OF_TEN = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
  1e18, 1e19, 1e20, 1e21, 1e22,
];

/**
 * A required decimal string as a number; NaN for anything else, `""` included. Plain digits and
 * at most one dot: `+` alone would take "0x10", "1e3", " 5" and "-2".
 *
 * The digits are read once, checking and accumulating together. When they fit in 2^53 and there
 * are at most 22 decimals, `digits / 10^decimals` divides two exact doubles, so it is rounded
 * once, correctly: the same double `+value` gives (the classic fast path of decimal conversion).
 * Anything longer is left to `+value`. This runs twice per book level, the hottest loop there is.
 */
export function decimal(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  const length = value.length;
  let digits = 0;
  let dot = -1;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) digits = digits * 10 + (c - 48);
    else if (c === 46 && dot < 0) dot = i;
    else return Number.NaN;
  }
  // "" and "." have no digit.
  if (length === 0 || (dot === 0 && length === 1)) return Number.NaN;
  return decimalValue(digits, dot < 0 ? 0 : length - dot - 1, value);
}

/**
 * The number a decimal string stands for, from its digits read as one integer and the count of
 * them after the dot; `text` is the string itself, converted by `+` beyond the exact fast path.
 */
export function decimalValue(digits: number, decimals: number, text: string): number {
  if (digits > Number.MAX_SAFE_INTEGER || decimals >= POWERS_OF_TEN.length) return +text;
  return decimals === 0 ? digits : digits / (POWERS_OF_TEN[decimals] as number);
}

/** Epoch ms from a string of digits; NaN for anything else (numbers too: OKX sends strings). */
export function epochMs(value: unknown): number {
  // 16 digits still reads a microsecond stamp, which the plausibility check then refuses.
  if (typeof value !== 'string' || value.length === 0 || value.length > 16) return Number.NaN;
  // A digit loop: exact for any millisecond time (far below 2^53) and cheaper than `+`.
  let ms = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    ms = ms * 10 + digit;
  }
  return ms;
}

/** An optional decimal: absent or `""` is undefined, a usable string a number, the rest NaN. */
function optionalDecimal(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  return decimal(value);
}

export function isPlausibleTime(timestamp: number, receivedAt: number): boolean {
  return timestamp >= EARLIEST_PLAUSIBLE_MS && timestamp <= receivedAt + LATEST_AHEAD_MS;
}

function hasNaN(event: TickerEvent): boolean {
  return (
    Number.isNaN(event.last) ||
    Number.isNaN(event.lastAmount) ||
    Number.isNaN(event.bidPrice) ||
    Number.isNaN(event.bidAmount) ||
    Number.isNaN(event.askPrice) ||
    Number.isNaN(event.askAmount) ||
    Number.isNaN(event.open24h) ||
    Number.isNaN(event.high24h) ||
    Number.isNaN(event.low24h) ||
    Number.isNaN(event.volume24h) ||
    Number.isNaN(event.quoteVolume24h)
  );
}

const TICKER_FIELDS = [
  'last',
  'lastSz',
  'bidPx',
  'bidSz',
  'askPx',
  'askSz',
  'open24h',
  'high24h',
  'low24h',
  'vol24h',
  'volCcy24h',
] as const;

function invalidTickerField(element: JsonObject): Rejection {
  for (const field of TICKER_FIELDS) {
    const value = element[field];
    if (Number.isNaN(optionalDecimal(value))) return invalid(field, value, OPTIONAL_DECIMAL);
  }
  return reject('frame-invalid-data', 'a ticker field is not a numeric string');
}

export function invalid(field: string, value: unknown, expected: string): Rejection {
  return reject('frame-invalid-data', `${field} must be ${expected}; received ${render(value)}`);
}

export function implausible(ts: unknown): Rejection {
  return reject(
    'timestamp-implausible',
    `ts ${render(ts)} is before 2010-01-01 or more than a day after receipt`,
  );
}

export function reject(code: FaultCode, detail: string): Rejection {
  return { type: 'rejected', code, detail };
}

/** A short rendering of a bad value for a fault detail. */
function render(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
