import type { ExchangeAdapter, HttpReply, ParseContext, TradePageResult } from '../types.ts';
import { bookDepth, bookKeepAliveMs } from './books.ts';
import { channelFor, endpointUrl, validateSymbol } from './channels.ts';
import { parseFrame } from './parse.ts';
import {
  isPermanentError,
  isReconnectNotice,
  OKX_DEFAULT_ENDPOINT,
  OKX_EXCHANGE_ID,
  OKX_HEARTBEAT,
  OKX_LIMITS,
} from './protocol.ts';
import { buildRequest, requestArgBytes } from './request.ts';
import {
  bookSnapshotUrl,
  isRestFault,
  MAX_BOOK_DEPTH,
  MAX_TRADES_PAGE,
  parseBookSnapshot,
  parseTradesPage,
  planBookBootstrap,
  restBaseFor,
  restHeadersFor,
  tradesPageUrl,
} from './rest.ts';

/**
 * The OKX v5 adapter (PROTOCOLS.md §1). Pure protocol knowledge: it owns no socket and no timer.
 * Books (`orderbook`: books, books5, bbo-tbt) are checked by src/book before any event goes out;
 * candles come from the `/business` endpoint, which the collector opens on demand.
 */
export const okxAdapter: ExchangeAdapter = Object.freeze({
  id: OKX_EXCHANGE_ID,
  dataTypes: Object.freeze(['trade', 'ticker', 'orderbook', 'candle'] as const),
  defaultEndpoint: OKX_DEFAULT_ENDPOINT,
  limits: OKX_LIMITS,
  heartbeat: OKX_HEARTBEAT,
  validateSymbol,
  channelFor,
  bookDepth,
  bookKeepAliveMs,
  endpointUrl,
  buildRequest,
  requestArgBytes,
  parse: parseFrame,
  isPermanentError,
  isReconnectNotice,
  bookSnapshot: Object.freeze({
    depth: MAX_BOOK_DEPTH,
    url: bookSnapshotUrl,
    parse: (reply: HttpReply, symbol: string, channel: string, context: ParseContext) => {
      const parsed = parseBookSnapshot(reply, symbol, channel, context);
      if (isRestFault(parsed)) {
        return {
          ok: false as const,
          code: parsed.code,
          detail: parsed.detail,
          retryable: parsed.retryable,
          retryAfterMs: parsed.retryAfterMs,
        };
      }
      return { ok: true as const, message: parsed.message, event: parsed.event };
    },
    plan: planBookBootstrap,
  }),
  tradeBackfill: Object.freeze({
    pageLimit: MAX_TRADES_PAGE,
    restBase: restBaseFor,
    restHeaders: restHeadersFor,
    pageUrl: (base: string, symbol: string, afterTradeId: string | undefined) =>
      tradesPageUrl(base, symbol, { afterTradeId, limit: MAX_TRADES_PAGE }),
    parsePage: (reply: HttpReply, symbol: string, context: ParseContext): TradePageResult => {
      const page = parseTradesPage(reply, symbol, context);
      if (isRestFault(page)) {
        return {
          ok: false,
          code: page.code,
          detail: page.detail,
          retryable: page.retryable,
          retryAfterMs: page.retryAfterMs,
        };
      }
      return { ok: true, trades: page.trades };
    },
  }),
});
