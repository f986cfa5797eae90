import type { DataType } from '../../streams/events.ts';
import { ChannelOptionError } from '../errors.ts';
import type { ChannelOptions, ChannelSubscription } from '../types.ts';
import { OKX_EXCHANGE_ID } from './protocol.ts';

/**
 * Which OKX channel and endpoint group carries each data type, the endpoint URL of a group, and
 * the wire form of an instrument id.
 */

/** Docs "Connect": market data lives on `/public`, candles and `trades-all` on `/business`. */
export const OKX_GROUPS = ['public', 'business'] as const;
export type OkxGroup = (typeof OKX_GROUPS)[number];

/** Depth channels that need no login (`books-l2-tbt` and `books50-l2-tbt` need login, 60011). */
export const OKX_BOOK_CHANNELS = ['books', 'books5', 'bbo-tbt'] as const;
export const DEFAULT_BOOK_CHANNEL = 'books';

/** Docs "Candlesticks channel": `candle` + bar; `utc` variants align days to UTC, not UTC+8. */
export const OKX_CANDLE_INTERVALS = [
  '1s',
  '1m',
  '3m',
  '5m',
  '15m',
  '30m',
  '1H',
  '2H',
  '4H',
  '6H',
  '12H',
  '1D',
  '2D',
  '3D',
  '5D',
  '1W',
  '1M',
  '3M',
  '6M',
  '1Y',
  '6Hutc',
  '12Hutc',
  '1Dutc',
  '2Dutc',
  '3Dutc',
  '5Dutc',
  '1Wutc',
  '1Mutc',
  '3Mutc',
  '6Mutc',
  '1Yutc',
] as const;
export const DEFAULT_CANDLE_INTERVAL = '1m';

export const CANDLE_PREFIX = 'candle';

export function channelFor(
  dataType: DataType,
  symbol: string,
  options: ChannelOptions = {},
): ChannelSubscription {
  switch (dataType) {
    case 'trade':
      return { dataType, symbol, channel: 'trades', group: 'public' };
    case 'ticker':
      return { dataType, symbol, channel: 'tickers', group: 'public' };
    case 'orderbook':
      return { dataType, symbol, channel: bookChannel(options.bookChannel), group: 'public' };
    case 'candle':
      // Candles moved to `/business`; on `/public` they are refused with 60018 or 64001.
      return {
        dataType,
        symbol,
        channel: candleChannel(options.candleInterval),
        group: 'business',
      };
  }
}

function bookChannel(requested: string | undefined): string {
  const channel = requested ?? DEFAULT_BOOK_CHANNEL;
  if (!includes(OKX_BOOK_CHANNELS, channel)) {
    const channels = OKX_BOOK_CHANNELS.join(', ');
    const expected = `one of the depth channels that need no login: ${channels}`;
    throw new ChannelOptionError(OKX_EXCHANGE_ID, 'bookChannel', channel, expected);
  }
  return channel;
}

function candleChannel(requested: string | undefined): string {
  const interval = requested ?? DEFAULT_CANDLE_INTERVAL;
  if (!includes(OKX_CANDLE_INTERVALS, interval)) {
    const expected = `one of the candle bars: ${OKX_CANDLE_INTERVALS.join(', ')}`;
    throw new ChannelOptionError(OKX_EXCHANGE_ID, 'candleInterval', interval, expected);
  }
  return CANDLE_PREFIX + interval;
}

/** The bar of a candle channel name (`candle1m` → `1m`), or undefined for any other channel. */
export function candleIntervalOf(channel: string): string | undefined {
  return channel.startsWith(CANDLE_PREFIX) ? channel.slice(CANDLE_PREFIX.length) : undefined;
}

/**
 * `base` plus `/<group>`. A trailing slash is dropped and a group suffix already on the base is
 * replaced, so `…/ws/v5`, `…/ws/v5/` and `…/ws/v5/public` all work. A query string is kept at the
 * end (the demo hosts take `?brokerId=9999`).
 */
export function endpointUrl(base: string, group: string): string {
  if (!includes(OKX_GROUPS, group)) {
    const expected = OKX_GROUPS.join(', ');
    throw new RangeError(
      `okx endpoint group must be one of ${expected}; received ${JSON.stringify(group)}`,
    );
  }
  const queryAt = base.indexOf('?');
  const path = queryAt === -1 ? base : base.slice(0, queryAt);
  const query = queryAt === -1 ? '' : base.slice(queryAt);
  const root = path.replace(/\/+$/, '').replace(/\/(?:public|business|private)$/, '');
  return `${root}/${group}${query}`;
}

/**
 * OKX instIds are uppercase segments joined by `-`: `BTC-USDT` (spot), `BTC-USDT-SWAP`,
 * `BTC-USD-220527` (futures), `BTC-USD-240628-60000-C` (options).
 */
const INST_ID = /^[A-Z0-9]+(?:-[A-Z0-9]+)+$/;
const EXAMPLES = 'e.g. BTC-USDT, BTC-USDT-SWAP, BTC-USD-240628-60000-C';

/**
 * An explanation when `symbol` cannot be an OKX instId. Never rewrites (FAULTS.md F11): OKX ids
 * are case-sensitive and `BTCUSDT` is not `BTC-USDT`, so the caller must fix its configuration.
 */
export function validateSymbol(symbol: string): string | undefined {
  if (INST_ID.test(symbol)) return undefined;
  const quoted = JSON.stringify(symbol);
  if (symbol.length === 0) return `an okx instId must not be empty (${EXAMPLES})`;
  if (/\s/.test(symbol)) return `okx instId ${quoted} contains whitespace (${EXAMPLES})`;
  if (symbol !== symbol.toUpperCase()) {
    return `okx instId ${quoted} is not uppercase: instIds are case-sensitive (${EXAMPLES})`;
  }
  if (!symbol.includes('-')) {
    return `okx instId ${quoted} has no "-": OKX joins base and quote with "-" (${EXAMPLES})`;
  }
  return `okx instId ${quoted} is not uppercase letters and digits joined by "-" (${EXAMPLES})`;
}

function includes<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}
