import type { BookMessage } from '../../book/message.ts';
import type { GapEvent, TradeEvent } from '../../streams/events.ts';
import type { FaultCode } from '../../streams/faults.ts';
import type { ParseContext } from '../types.ts';
import { type ParsedBook, parseBook } from './books.ts';
import { isJsonObject, parseTrade } from './data.ts';

/**
 * OKX v5 REST market data for recovery (docs/okx-rest.md): the book snapshot that bootstraps a
 * `books` stream without a pushed snapshot, and the trades that fill the hole of an outage. Pure:
 * URLs in, replies parsed, plans out; the request itself belongs to an actor (src/machines/rest.ts)
 * and every wait to a machine. Failures are returned as a `RestFault` with a stable code.
 */

/** Docs "GET / Order book": `sz` is the depth per side, at most 400. */
export const MAX_BOOK_DEPTH = 400;
/** Docs "GET / Trades history": `limit` is at most (and by default) 100. */
export const MAX_TRADES_PAGE = 100;

/**
 * Per-IP budgets (docs, each endpoint's "Rate Limit"). history-trades is 20 per 2 s in current
 * doc copies and 10 per 2 s in older client libraries; the lower figure is kept.
 */
export const OKX_REST_RATE_LIMITS = Object.freeze({
  books: { requests: 40, windowMs: 2000 },
  historyTrades: { requests: 10, windowMs: 2000 },
});

// --- hosts ---------------------------------------------------------------------------------------

/** `ws` + region + optional `pap` (demo): ws, wspap, wseea, wseeapap, wsus. */
const OKX_WS_HOST = /^ws([a-z]*?)(pap)?\.okx\.com$/;

/**
 * The REST origin that serves the market data of a WebSocket endpoint: `ws.okx.com` and the demo
 * `wspap.okx.com` → `https://www.okx.com`; `wseea`/`wseeapap` → `https://eea.okx.com` (docs
 * "Production/Demo Trading Services"). Other hosts (the mock, a proxy) keep host and port, `ws:`
 * becoming `http:` and `wss:` `https:`. The demo's `?brokerId` belongs to the WebSocket only;
 * demo REST is told apart by a header instead (`restHeadersFor`).
 */
export function restBaseFor(wsEndpoint: string): string {
  const url = parseWsUrl(wsEndpoint);
  const scheme = url.protocol === 'wss:' ? 'https:' : 'http:';
  const okx = OKX_WS_HOST.exec(url.hostname);
  if (okx === null) return `${scheme}//${url.host}`;
  const region = okx[1] ?? '';
  // OKX serves WebSockets on 8443 and REST on 443: the port is not carried over.
  return `https://${region === '' ? 'www' : region}.okx.com`;
}

/** Docs "Demo Trading Services": demo REST requests carry `x-simulated-trading: 1`. */
export function restHeadersFor(wsEndpoint: string): Readonly<Record<string, string>> {
  const okx = OKX_WS_HOST.exec(parseWsUrl(wsEndpoint).hostname);
  return okx?.[2] === 'pap' ? { 'x-simulated-trading': '1' } : {};
}

function parseWsUrl(endpoint: string): URL {
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined;
  if (url === undefined || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) {
    throw new RangeError(
      `okx endpoint must be a ws:// or wss:// URL; received ${JSON.stringify(endpoint)}`,
    );
  }
  return url;
}

// --- URLs ----------------------------------------------------------------------------------------

/**
 * `GET /api/v5/market/books`: up to 400 levels a side, refreshed every 50 ms, 40 requests per 2 s.
 * `books-full` (5000 levels) is refreshed once a second only, so its snapshot would nearly always
 * be older than the stream; it is not used.
 */
export function bookSnapshotUrl(base: string, instId: string, depth: number): string {
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_BOOK_DEPTH) {
    throw new RangeError(
      `okx book depth must be an integer from 1 to ${MAX_BOOK_DEPTH}; received ${depth}`,
    );
  }
  return `${base}/api/v5/market/books?instId=${encodeURIComponent(instId)}&sz=${depth}`;
}

export interface TradesPageOptions {
  /** Trades strictly older than this id (docs: `after`); the newest trades when absent. */
  readonly afterTradeId?: string | undefined;
  readonly limit: number;
}

/**
 * `GET /api/v5/market/history-trades` paged by trade id (`type=1`): newest first, `after` is
 * exclusive, three months deep. Backfill walks backwards from the first trade after an outage.
 */
export function tradesPageUrl(base: string, instId: string, options: TradesPageOptions): string {
  const { afterTradeId, limit } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TRADES_PAGE) {
    throw new RangeError(
      `okx trades page limit must be an integer from 1 to ${MAX_TRADES_PAGE}; received ${limit}`,
    );
  }
  if (afterTradeId !== undefined && !/^\d+$/.test(afterTradeId)) {
    throw new RangeError(
      `okx afterTradeId must be a trade id of digits; received ${JSON.stringify(afterTradeId)}`,
    );
  }
  const after = afterTradeId === undefined ? '' : `&after=${afterTradeId}`;
  const path = `/api/v5/market/history-trades?instId=${encodeURIComponent(instId)}`;
  return `${base}${path}&type=1${after}&limit=${limit}`;
}

// --- replies -------------------------------------------------------------------------------------

/** What the REST actor hands back (src/machines/rest.ts `RestResponse`). */
export interface RestReply {
  readonly status: number;
  readonly retryAfter: string | null;
  /** Parsed JSON, or undefined when the body was not JSON. */
  readonly body: unknown;
}

export type RestFaultCode = Extract<FaultCode, `rest-${string}`>;

export interface RestFault {
  readonly kind: 'fault';
  readonly code: RestFaultCode;
  readonly detail: string;
  /** OKX's own code from the body (`"50011"`), when the body had one. */
  readonly okxCode: string | undefined;
  /** False when asking again cannot help: an unknown instrument, a bad parameter. */
  readonly retryable: boolean;
  /** From `Retry-After`, when the server sent one. */
  readonly retryAfterMs: number | undefined;
}

export function isRestFault(value: object): value is RestFault {
  return 'kind' in value && value.kind === 'fault';
}

/**
 * Docs error table "REST API > Public": 50011 "Rate limit reached" (HTTP 200 or 429), 50013
 * "Systems are busy" (429), 50040 "Too frequent operations" (200). All mean: wait, then retry.
 */
const RATE_LIMIT_CODES: ReadonlySet<string> = new Set(['50011', '50013', '50040']);

/**
 * Codes that retrying will not change: a missing or conflicting parameter (50014, 50015), a
 * parameter error (51000), an instrument that does not exist (51001), a retired endpoint (50005).
 */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['50005', '50014', '50015', '51000', '51001']);

/**
 * `Retry-After` as milliseconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * OKX does not document the header; proxies and the mock send it. Undefined when absent or
 * unreadable; a date in the past is 0.
 */
export function parseRetryAfterMs(header: string | null, now: number): number | undefined {
  const value = header?.trim() ?? '';
  if (value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse reads bare numbers as years; an HTTP-date always has a letter (weekday, GMT).
  const at = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** The `data` array of a successful reply, or why there is none. */
function replyData(reply: RestReply, now: number): readonly unknown[] | RestFault {
  const envelope = isJsonObject(reply.body) ? reply.body : undefined;
  const okxCode = codeOf(envelope?.code);
  const verdict = judge(reply.status, envelope, okxCode);
  if (verdict === undefined) return envelope?.data as readonly unknown[];
  const retryAfterMs = parseRetryAfterMs(reply.retryAfter, now);
  return { kind: 'fault', ...verdict, okxCode, retryAfterMs };
}

/** Codes are strings in the docs; a 2021 capture of a 429 shows a number. */
function codeOf(code: unknown): string | undefined {
  if (typeof code === 'number') return String(code);
  return typeof code === 'string' ? code : undefined;
}

type Verdict = Pick<RestFault, 'code' | 'detail' | 'retryable'>;

/** What is wrong with a reply, checked in this order; undefined when it carries data. */
function judge(
  status: number,
  envelope: Record<string, unknown> | undefined,
  okxCode: string | undefined,
): Verdict | undefined {
  const said = okxCode === undefined ? '' : ` okx ${okxCode} ${describeMsg(envelope?.msg)}`;
  const http = `HTTP ${status}`;
  // A rate limit comes as a 429 or as 50011 inside a 200: either way, wait and retry.
  if (status === 429 || (okxCode !== undefined && RATE_LIMIT_CODES.has(okxCode))) {
    return { code: 'rest-rate-limited', detail: http + said, retryable: true };
  }
  const permanent = okxCode !== undefined && PERMANENT_CODES.has(okxCode);
  if (status < 200 || status > 299) {
    // 4xx will not change by asking again, except a request timeout.
    const clientError = status >= 400 && status < 500 && status !== 408;
    return { code: 'rest-error', detail: http + said, retryable: !permanent && !clientError };
  }
  if (envelope === undefined) {
    return {
      code: 'rest-invalid-body',
      detail: `${http}: the body is not a JSON object`,
      retryable: true,
    };
  }
  if (okxCode === undefined) {
    return { code: 'rest-invalid-body', detail: `${http}: the body has no code`, retryable: true };
  }
  if (okxCode !== '0') return { code: 'rest-error', detail: http + said, retryable: !permanent };
  if (!Array.isArray(envelope.data)) {
    return { code: 'rest-invalid-body', detail: `${http}: data is not an array`, retryable: true };
  }
  return undefined;
}

function describeMsg(msg: unknown): string {
  const text = typeof msg === 'string' ? msg : '';
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function invalidBody(detail: string): RestFault {
  return {
    kind: 'fault',
    code: 'rest-invalid-body',
    detail,
    okxCode: undefined,
    retryable: true,
    retryAfterMs: undefined,
  };
}

/**
 * A `GET /market/books` reply as the snapshot of `channel`: the event and the raw message the
 * book layer applies, exactly as a pushed snapshot would be (levels `[px, sz, "0", orders]`, wire
 * strings kept). `seqId` is kept when present, which the bootstrap needs (`planBookBootstrap`).
 */
export function parseBookSnapshot(
  reply: RestReply,
  instId: string,
  channel: string,
  context: ParseContext,
): ParsedBook | RestFault {
  const data = replyData(reply, context.receivedAt);
  if (!Array.isArray(data)) return data as RestFault;
  if (data.length !== 1) {
    return invalidBody(`books ${instId}: data must hold one book; it holds ${data.length}`);
  }
  const parsed = parseBook(numericSeqId(data[0]), 'snapshot', instId, channel, context);
  return 'event' in parsed ? parsed : invalidBody(`books ${instId}: ${parsed.detail}`);
}

/** WebSocket seqIds are JSON integers; the REST field is not shown in any doc copy: take both. */
function numericSeqId(element: unknown): unknown {
  if (!isJsonObject(element) || typeof element.seqId !== 'string') return element;
  return /^\d{1,15}$/.test(element.seqId) ? { ...element, seqId: Number(element.seqId) } : element;
}

export interface TradesPage {
  /** Ascending by numeric trade id, each `backfilled: true`. */
  readonly trades: readonly TradeEvent[];
  readonly oldestId: string | undefined;
  readonly newestId: string | undefined;
}

/**
 * A `history-trades` page (docs "GET / Trades history": `instId, tradeId, px, sz, side, ts`, newest
 * first). One bad row rejects the page: a page with a hole would pass for recovered trades.
 */
export function parseTradesPage(
  reply: RestReply,
  instId: string,
  context: ParseContext,
): TradesPage | RestFault {
  const data = replyData(reply, context.receivedAt);
  if (!Array.isArray(data)) return data as RestFault;
  const trades: TradeEvent[] = [];
  for (let i = 0; i < data.length; i++) {
    const row: unknown = data[i];
    if (isJsonObject(row) && row.instId !== undefined && row.instId !== instId) {
      return invalidBody(`trades ${instId}: data[${i}] is for ${JSON.stringify(row.instId)}`);
    }
    const trade = parseTrade(row, instId, 'history-trades', context);
    if (trade.type === 'rejected')
      return invalidBody(`trades ${instId}: data[${i}]: ${trade.detail}`);
    if (!Number.isSafeInteger(Number(trade.id))) {
      return invalidBody(`trades ${instId}: data[${i}]: tradeId ${trade.id} is not an integer`);
    }
    trades.push({ ...trade, backfilled: true });
  }
  trades.sort(byNumericId);
  return { trades, oldestId: trades[0]?.id, newestId: trades.at(-1)?.id };
}

function byNumericId(a: { readonly id: string }, b: { readonly id: string }): number {
  return Number(a.id) - Number(b.id);
}

// --- book bootstrap ------------------------------------------------------------------------------

export type BookBootstrapPlan =
  /** Apply `snapshot`, then `updates` in order, then the live stream. */
  | {
      readonly outcome: 'ready';
      readonly snapshot: BookMessage;
      readonly updates: readonly BookMessage[];
      /** The snapshot's own seqId, when `snapshot.seqId` was moved to bridge (see below). */
      readonly snapshotSeqId: number;
    }
  /** The snapshot is newer than every buffered update: keep buffering, plan again on the next. */
  | { readonly outcome: 'wait' }
  /** The snapshot is older than the stream: fetch another (with backoff), keep the buffer. */
  | { readonly outcome: 'stale'; readonly detail: string }
  /** The buffer cannot be bridged: drop it and the snapshot, and start over. */
  | { readonly outcome: 'restart'; readonly detail: string };

/**
 * OKX's procedure for a book without a pushed snapshot (changelog "Delist initial snapshot and
 * checksum field in order book channels", 2026-02-12): buffer the stream, fetch the REST
 * snapshot; if its seqId is below the first buffered update's prevSeqId, fetch again; drop the
 * buffered updates with seqId <= the snapshot's; the first one left must satisfy
 * prevSeqId <= snapshot seqId < seqId; apply the rest as usual. Pushed snapshots in the buffer
 * are ignored, as the procedure says.
 *
 * The first update left may start before the snapshot (prevSeqId < snapshot seqId): its levels
 * are absolute sizes, so re-applying the changes the snapshot already holds is harmless. The
 * returned snapshot then carries that prevSeqId as its seqId, so that BookSync's strict chain
 * (prevSeqId === last seqId) accepts the bridge; `snapshotSeqId` keeps the real one.
 */
export function planBookBootstrap(
  snapshot: BookMessage,
  buffered: readonly BookMessage[],
): BookBootstrapPlan {
  const at = snapshot.seqId;
  if (at === undefined) return { outcome: 'restart', detail: 'the snapshot carries no seqId' };
  const updates = buffered.filter((message) => message.action === 'update');
  for (const update of updates) {
    const { seqId, prevSeqId } = update;
    if (seqId === undefined || prevSeqId === undefined) {
      return { outcome: 'restart', detail: 'a buffered update carries no seqId' };
    }
    // Docs "Sequence ID": after maintenance ids restart lower; a snapshot cannot be placed
    // against a buffer that spans the reset.
    if (seqId < prevSeqId) {
      return { outcome: 'restart', detail: `the sequence reset from ${prevSeqId} to ${seqId}` };
    }
  }
  const firstPrev = updates[0]?.prevSeqId;
  if (firstPrev !== undefined && at < firstPrev) {
    return { outcome: 'stale', detail: `snapshot seqId ${at} is before the stream (${firstPrev})` };
  }
  const kept = updates.filter((update) => (update.seqId as number) > at);
  const first = kept[0];
  if (first === undefined) {
    // Exactly at the newest buffered update, the snapshot holds the whole buffer: the book can
    // go live now and chain on from it. Further ahead, the updates in between are still due.
    const newest = updates[updates.length - 1]?.seqId;
    if (newest === at) return { outcome: 'ready', snapshot, updates: [], snapshotSeqId: at };
    return { outcome: 'wait' };
  }
  const bridge = first.prevSeqId as number;
  if (bridge > at) {
    return { outcome: 'restart', detail: `the buffer skips from ${bridge} past snapshot ${at}` };
  }
  for (let i = 1; i < kept.length; i++) {
    const previous = kept[i - 1]?.seqId;
    const update = kept[i] as BookMessage;
    if (update.prevSeqId !== previous) {
      const detail = `buffered prevSeqId ${update.prevSeqId} does not follow seqId ${previous}`;
      return { outcome: 'restart', detail };
    }
  }
  const bridged = bridge === at ? snapshot : { ...snapshot, seqId: bridge };
  return { outcome: 'ready', snapshot: bridged, updates: kept, snapshotSeqId: at };
}

// --- trade backfill ------------------------------------------------------------------------------

/** The bounds of a `gap` event, as `GapEvent` names them. */
export type GapBounds = Pick<
  GapEvent,
  'fromId' | 'toId' | 'fromTimestamp' | 'toTimestamp' | 'missing'
>;

export interface TradeBound {
  readonly id: string;
  readonly timestamp: number;
}

export interface TradeBackfillInput {
  /** The last trade seen before the outage. */
  readonly from: TradeBound;
  /**
   * The first trade seen after it. On the `trades` channel one push aggregates `count` fills and
   * carries the last fill's id (docs "Trades channel"): it covers ids id-count+1 … id, which REST
   * returns one by one and which must not be emitted twice. Default 1.
   */
  readonly to: TradeBound & { readonly count?: number };
  /** Pages fetched so far, in the order fetched (`parseTradesPage`). */
  readonly pages: readonly (readonly TradeEvent[])[];
  /** The `limit` the pages were asked with: a shorter page means OKX has nothing older. */
  readonly pageLimit: number;
  /** How many more pages the caller will fetch; 0 ends the backfill with what it has. */
  readonly pagesLeft: number;
}

export interface TradeBackfillPlan {
  /** The fetched trades strictly inside the outage, ascending, each once. */
  readonly trades: readonly TradeEvent[];
  /** `afterTradeId` of the next page to fetch; undefined when the backfill is over. */
  readonly nextAfterId: string | undefined;
  /** Once over: what was not recovered, as one gap event's bounds; undefined if nothing. */
  readonly missing: GapBounds | undefined;
}

/**
 * Plans the backfill of one outage, page by page, newest first. Trade ids are consecutive
 * integers per instrument (a push's id rises by its `count`, fixtures okx/ccxt_2026-08/trades_*),
 * so the ids between `from` and the first fill of `to` are exactly what is missing. The backfill
 * is over when every id is recovered, when a page came back short (older than three months), or
 * when the caller has no pages left; what is still missing then becomes one gap, bounded by the
 * trades around the lowest and the highest id not recovered.
 */
export function planTradeBackfill(input: TradeBackfillInput): TradeBackfillPlan {
  const { from, to, pages } = input;
  const low = Number(from.id);
  const high = Number(to.id) - ((to.count ?? 1) - 1);
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
    return { trades: [], nextAfterId: undefined, missing: boundsOf(from, to, undefined) };
  }
  const expected = high - low - 1;
  if (expected <= 0) return { trades: [], nextAfterId: undefined, missing: undefined };
  const byId = new Map<number, TradeEvent>();
  let oldest = Number.POSITIVE_INFINITY;
  for (const page of pages) {
    for (const trade of page) {
      const id = Number(trade.id);
      oldest = Math.min(oldest, id);
      if (id > low && id < high && !byId.has(id)) byId.set(id, trade);
    }
  }
  const trades = [...byId.values()].sort(byNumericId);
  const complete = trades.length === expected || oldest <= low + 1;
  const lastPage = pages.at(-1);
  const exhausted = lastPage !== undefined && lastPage.length < input.pageLimit;
  if (!complete && !exhausted && input.pagesLeft > 0) {
    const cursor = pages.length === 0 ? high : oldest;
    return { trades, nextAfterId: String(cursor), missing: undefined };
  }
  return { trades, nextAfterId: undefined, missing: missingBounds(input, trades, low, high) };
}

/** One gap around every id in (low, high) that `trades` (ascending, inside it) lacks. */
function missingBounds(
  input: TradeBackfillInput,
  trades: readonly TradeEvent[],
  low: number,
  high: number,
): GapBounds | undefined {
  const count = high - low - 1 - trades.length;
  if (count <= 0) return undefined;
  // Walk up to the first hole, and down from the top to the last one.
  let below: TradeBound = input.from;
  for (let i = 0; i < trades.length && Number(trades[i]?.id) === low + 1 + i; i++) {
    below = trades[i] as TradeEvent;
  }
  let above: TradeBound = input.to;
  for (let i = trades.length - 1, id = high - 1; i >= 0 && Number(trades[i]?.id) === id; i--) {
    above = trades[i] as TradeEvent;
    id--;
  }
  return boundsOf(below, above, count);
}

function boundsOf(from: TradeBound, to: TradeBound, missing: number | undefined): GapBounds {
  return {
    fromId: from.id,
    toId: to.id,
    fromTimestamp: from.timestamp,
    toTimestamp: to.timestamp,
    missing,
  };
}
