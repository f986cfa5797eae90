import type { BookMessage } from '../book/message.ts';
import type { BookChangeEvent, DataType, MarketEvent } from '../streams/events.ts';
import type { FaultCode } from '../streams/faults.ts';

/**
 * The exchange adapter contract: everything the generic machines need to know about one exchange.
 * It is deliberately small; an adapter is pure protocol knowledge and owns no socket or timer.
 */

/** One subscription as the exchange names it: a channel for one instrument. */
export interface ChannelSubscription {
  readonly dataType: DataType;
  /** The exchange's instrument id, exact wire form (OKX: `BTC-USDT`). */
  readonly symbol: string;
  /** The exchange's channel name (OKX: `trades`, `tickers`, `books`, `candle1m`). */
  readonly channel: string;
  /** Endpoint group the channel lives on (OKX: `public`, `business`). One socket per group. */
  readonly group: string;
}

/** Options that pick a channel for a data type (depth for books, interval for candles). */
export interface ChannelOptions {
  readonly bookChannel?: string;
  readonly candleInterval?: string;
}

/** A control message: everything from the exchange that is not market data. */
export type ControlMessage =
  | {
      readonly kind: 'subscribed';
      readonly channel: string;
      readonly symbol: string;
      readonly requestId?: string;
    }
  | {
      readonly kind: 'unsubscribed';
      readonly channel: string;
      readonly symbol: string;
      readonly requestId?: string;
    }
  | {
      readonly kind: 'error';
      readonly code: string;
      readonly message: string;
      readonly requestId?: string;
      /** Channel and symbol when the exchange's message names them. */
      readonly channel?: string;
      readonly symbol?: string;
    }
  | { readonly kind: 'notice'; readonly code: string; readonly message: string }
  | { readonly kind: 'pong' }
  /** Raised by the feed: trades of this symbol were missed; fetch them (`backfillStep`). */
  | { readonly kind: 'backfill'; readonly symbol: string }
  /** Raised by the feed: this book needs a REST snapshot (`bookSnapshotStep`). */
  | { readonly kind: 'book-snapshot'; readonly channel: string; readonly symbol: string }
  /**
   * Raised by the feed, not the exchange: a book of this subscription broke (sequence gap,
   * checksum, crossed) and needs a fresh snapshot.
   */
  | {
      readonly kind: 'resync';
      readonly channel: string;
      readonly symbol: string;
      readonly reason: string;
    }
  | { readonly kind: 'info'; readonly event: string };

export interface ParseFault {
  readonly code: FaultCode;
  readonly detail: string;
  /** A short, truncated sample of the frame for the log. */
  readonly sample: string;
}

/**
 * What one frame yields. The hot path only allocates what a frame really holds; a data frame has
 * `events` and nothing else, except a book push, which adds `books`.
 */
export interface ParseResult {
  readonly events?: readonly MarketEvent[];
  /**
   * Book pushes only: the raw message behind each `book_change` event, index for index (a book
   * push yields nothing but book_change events). The book layer needs what the event drops: the
   * wire strings for the checksum and the sequence fields.
   */
  readonly books?: readonly BookMessage[];
  /** The exchange channel of a data push (`trades`, `books`, `candle1m`…), when it was read. */
  readonly channel?: string;
  /**
   * An incremental book push of which an element was rejected: that book missed a message and
   * can no longer be trusted, although its chain may not show it until the next update.
   */
  readonly lostBook?: { readonly channel: string; readonly symbol: string };
  readonly control?: ControlMessage;
  readonly fault?: ParseFault;
}

export interface ParseContext {
  readonly collectorId: string;
  /** Receipt time, epoch ms. */
  readonly receivedAt: number;
}

export interface ExchangeLimits {
  /** Maximum serialized size of the args of one subscribe request, bytes. */
  readonly maxRequestArgsBytes: number;
  /** Subscribe, unsubscribe and login requests allowed per connection per window. */
  readonly maxOpsPerWindow: number;
  readonly opsWindowMs: number;
  /** New connections allowed per second per IP. */
  readonly connectionsPerSecond: number;
}

export interface ExchangeHeartbeat {
  /** Text frame sent as application-level ping. */
  readonly ping: string;
  /** Text frame the exchange answers with. */
  readonly pong: string;
}

/** An HTTP answer, as the REST actor hands it over. */
export interface HttpReply {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: unknown;
}

/** A page of trades fetched after the fact, or why not. */
export type TradePageResult =
  | { readonly ok: true; readonly trades: readonly import('../streams/events.ts').TradeEvent[] }
  | {
      readonly ok: false;
      readonly code: FaultCode;
      readonly detail: string;
      readonly retryable: boolean;
      readonly retryAfterMs: number | undefined;
    };

/** How an exchange's REST API serves trades missed during an outage (optional). */
export interface TradeBackfill {
  /** Trades per page the exchange serves at most. */
  readonly pageLimit: number;
  /** The REST base URL that belongs to a WebSocket endpoint. */
  restBase(wsEndpoint: string): string;
  /** Headers every request needs (e.g. OKX demo trading). */
  restHeaders(wsEndpoint: string): Readonly<Record<string, string>>;
  /** The page of trades older than `afterTradeId` (the newest when absent). */
  pageUrl(base: string, symbol: string, afterTradeId: string | undefined): string;
  parsePage(reply: HttpReply, symbol: string, context: ParseContext): TradePageResult;
}

/** How an exchange's REST API serves order book snapshots (optional). */
export interface BookSnapshotSupport {
  readonly depth: number;
  url(base: string, symbol: string, depth: number): string;
  parse(
    reply: HttpReply,
    symbol: string,
    channel: string,
    context: ParseContext,
  ):
    | { readonly ok: true; readonly message: BookMessage; readonly event: BookChangeEvent }
    | {
        readonly ok: false;
        readonly code: FaultCode;
        readonly detail: string;
        readonly retryable: boolean;
        readonly retryAfterMs: number | undefined;
      };
  /** How a snapshot and the buffered updates fit together (the exchange's documented rule). */
  plan(snapshot: BookMessage, buffered: readonly BookMessage[]): BookBootstrapPlan;
}

export type BookBootstrapPlan =
  | {
      readonly outcome: 'ready';
      readonly snapshot: BookMessage;
      readonly updates: readonly BookMessage[];
    }
  | { readonly outcome: 'wait' }
  | { readonly outcome: 'stale'; readonly detail: string }
  | { readonly outcome: 'restart'; readonly detail: string };

export interface ExchangeAdapter {
  /** Bootstrapping books from a REST snapshot; absent when the exchange cannot. */
  readonly bookSnapshot?: BookSnapshotSupport;
  /** Fetching missed trades over REST; absent when the exchange cannot. */
  readonly tradeBackfill?: TradeBackfill;
  /** Registry key, lowercase (`okx`). */
  readonly id: string;
  readonly dataTypes: readonly DataType[];
  /** Default base endpoint; groups are appended by `endpointUrl`. */
  readonly defaultEndpoint: string;
  readonly limits: ExchangeLimits;
  readonly heartbeat: ExchangeHeartbeat;
  /** Validates a symbol's wire form; returns an explanation when it cannot be valid. */
  validateSymbol(symbol: string): string | undefined;
  /** The channel (and endpoint group) that carries a data type for a symbol. */
  channelFor(dataType: DataType, symbol: string, options?: ChannelOptions): ChannelSubscription;
  /**
   * Levels per side a book channel shows (OKX `books`: 400), beyond which a maintained book
   * keeps nothing: the exchange no longer reports a level that falls past its depth. Optional;
   * undefined means no limit.
   */
  bookDepth?(channel: string): number | undefined;
  /**
   * How long at most a book channel stays quiet before the exchange sends a keep-alive (OKX
   * `books`: an empty update about every 60 s when nothing changes); undefined for channels that
   * send nothing when idle. A live book silent well past it has lost its subscription.
   */
  bookKeepAliveMs?(channel: string): number | undefined;
  /** The URL of an endpoint group under a base endpoint. */
  endpointUrl(base: string, group: string): string;
  /** One subscribe (or unsubscribe) request frame for a batch. */
  buildRequest(
    op: 'subscribe' | 'unsubscribe',
    subscriptions: readonly ChannelSubscription[],
    requestId: string,
  ): string;
  /** Serialized size of one subscription inside a request's args, bytes. */
  requestArgBytes(subscription: ChannelSubscription): number;
  /** Parses one text frame. Never throws: a bad frame is a `fault`. */
  parse(text: string, context: ParseContext): ParseResult;
  /** True for error codes that retrying will not fix (wrong symbol, wrong URL, no permission). */
  isPermanentError(code: string): boolean;
  /** True for notices that announce the connection will close soon (OKX 64008). */
  isReconnectNotice(code: string): boolean;
}
