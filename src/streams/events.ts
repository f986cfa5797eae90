/**
 * Normalized market events (DESIGN.md §5). Plain objects discriminated by `type`; every one carries
 * the exchange's own instrument id as `symbol`, the exchange's `timestamp` and our receipt time
 * `localTimestamp`, both in epoch milliseconds.
 */

/** The data types a collector can be asked for. Later issues add `orderbook` and `candle`. */
export const DATA_TYPES = ['trade', 'ticker', 'orderbook', 'candle'] as const;
export type DataType = (typeof DATA_TYPES)[number];

interface EventBase {
  readonly exchange: string;
  readonly symbol: string;
  /** Exchange time, epoch ms. */
  readonly timestamp: number;
  /** Receipt time on this host, epoch ms. */
  readonly localTimestamp: number;
  /** Id of the collector that produced the event. */
  readonly collectorId: string;
}

export interface TradeEvent extends EventBase {
  readonly type: 'trade';
  /** The exchange's trade id, as sent. */
  readonly id: string;
  readonly price: number;
  readonly amount: number;
  /** Taker side. */
  readonly side: 'buy' | 'sell';
  /** True when the trade was fetched after the fact to fill a gap. */
  readonly backfilled?: boolean;
  /**
   * Fills aggregated into this trade, when more than one (OKX since 2026: one push per taker
   * order, `count` fills, carrying the last fill's id; the fills' ids are consecutive).
   */
  readonly fills?: number;
}

export interface TickerEvent extends EventBase {
  readonly type: 'ticker';
  readonly last: number | undefined;
  readonly lastAmount: number | undefined;
  readonly bidPrice: number | undefined;
  readonly bidAmount: number | undefined;
  readonly askPrice: number | undefined;
  readonly askAmount: number | undefined;
  readonly open24h: number | undefined;
  readonly high24h: number | undefined;
  readonly low24h: number | undefined;
  /** 24 h volume in the base currency (contracts for derivatives, as the exchange reports it). */
  readonly volume24h: number | undefined;
  /** 24 h volume in the quote currency. */
  readonly quoteVolume24h: number | undefined;
}

/** One price level: price, amount. `amount` 0 deletes the level. */
export type BookLevel = readonly [price: number, amount: number];

export interface BookChangeEvent extends EventBase {
  readonly type: 'book_change';
  readonly isSnapshot: boolean;
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
  readonly sequence: number | undefined;
}

export interface BookResetEvent extends EventBase {
  readonly type: 'book_reset';
  readonly reason: string;
}

export interface CandleEvent extends EventBase {
  readonly type: 'candle';
  readonly interval: string;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly closed: boolean;
}

/**
 * Data may have been lost. Emitted for trades when the first trade after a disconnect does not
 * follow the last one seen before it. Bounds are the last event before and the first after the
 * hole; ids are present when the exchange's ids allow a comparison.
 */
export interface GapEvent extends EventBase {
  readonly type: 'gap';
  readonly dataType: DataType;
  readonly reason: string;
  /** Exchange time of the last event before the gap (epoch ms). */
  readonly fromTimestamp: number | undefined;
  /** Exchange time of the first event after the gap (epoch ms). */
  readonly toTimestamp: number | undefined;
  readonly fromId: string | undefined;
  readonly toId: string | undefined;
  /** How many ids are missing, when ids are consecutive integers. */
  readonly missing: number | undefined;
}

export type MarketEvent =
  | TradeEvent
  | TickerEvent
  | BookChangeEvent
  | BookResetEvent
  | CandleEvent
  | GapEvent;

export type MarketEventType = MarketEvent['type'];

/** The data type each event kind belongs to, for silence tracking and statistics. */
export const DATA_TYPE_OF_EVENT: Readonly<Record<MarketEventType, DataType | undefined>> = {
  trade: 'trade',
  ticker: 'ticker',
  book_change: 'orderbook',
  book_reset: 'orderbook',
  candle: 'candle',
  gap: undefined,
};
