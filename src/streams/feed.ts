import type { BookMessage } from '../book/message.ts';
import { BookSync } from '../book/sync.ts';
import type {
  BookBootstrapPlan,
  ControlMessage,
  ExchangeAdapter,
  HttpReply,
  ParseFault,
} from '../exchanges/types.ts';
import type { Clock } from '../machines/clock.ts';
import type { FrameSink } from '../machines/socket.ts';
import type {
  BookChangeEvent,
  BookResetEvent,
  DataType,
  GapEvent,
  MarketEvent,
  TickerEvent,
  TradeEvent,
} from './events.ts';
import type { FaultCode } from './faults.ts';

/**
 * A collector's hot path: frame → adapter.parse → dedupe → `emit`. Market data never becomes a
 * machine event; this object only counts and stamps times, and hands control messages back to the
 * socket actor, which turns them into machine events.
 */

export interface FeedStats {
  messages: number;
  bytes: number;
  /** Reconnect attempts of the collector's connections, refused upgrades included. */
  reconnects: number;
  events: number;
  faults: number;
  duplicatesDropped: number;
  readonly faultsByCode: Record<string, number>;
  readonly lastMessageAt: Partial<Record<DataType, number>>;
}

export interface FeedFault {
  readonly code: FaultCode;
  readonly detail: string;
  readonly sample: string | undefined;
  readonly connectionId: string | undefined;
}

export interface FeedOptions {
  readonly collectorId: string;
  readonly adapter: ExchangeAdapter;
  readonly clock: Clock;
  readonly emit: (event: MarketEvent) => void;
  readonly fault: (fault: FeedFault) => void;
  /**
   * The event types wanted per symbol. Anything else the exchange pushes (a symbol nobody asked
   * for, a channel of another collector) is counted as `data-unsubscribed` and dropped, so data
   * is never filed under a collector that did not ask for it.
   */
  readonly wanted: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Where missed trades can be fetched after a disconnect (REST base and headers); absent: a
   * disconnect that lost trades is announced as one `gap` and nothing is fetched.
   */
  readonly backfill?: { readonly base: string; readonly headers: Readonly<Record<string, string>> };
  /**
   * Books from REST snapshots: `auto` when a channel sends updates without a snapshot, `rest`
   * always (pushed snapshots ignored). Absent: only pushed snapshots.
   */
  readonly bookSnapshot?: {
    readonly mode: 'auto' | 'rest';
    readonly base: string;
    readonly headers: Readonly<Record<string, string>>;
  };
  /** Called after a maintained book changed (applied, reset, invalidated). */
  readonly bookChanged?: (sync: BookSync, channel: string) => void;
}

/** Per-symbol trade state: the dedupe window and what a gap check needs. */
interface TradeTrack {
  /** Highest numeric trade id seen; NaN when ids are not integers. */
  highestId: number;
  last: TradeEvent | undefined;
  /** Recent non-numeric ids, for exchanges whose ids do not order. */
  recent: Set<string> | undefined;
  /** A disconnect happened since the last trade: the next one is checked for a gap. */
  checkGap: boolean;
}

const RECENT_IDS_WINDOW = 2048;
/** Live trades held while their symbol is backfilled; past this the backfill ends as a gap. */
const MAX_HELD_TRADES = 20_000;
/** Pages of missed trades fetched at most per outage; what lies beyond becomes a gap. */
const MAX_BACKFILL_PAGES = 10;
/** Attempts per page when the exchange says "later" (429, rate limit). */
const MAX_PAGE_ATTEMPTS = 3;

interface Backfill {
  readonly from: TradeEvent;
  readonly to: TradeEvent;
  /** Live trades that arrived meanwhile, the first one (`to`) included, in arrival order. */
  readonly held: TradeEvent[];
  readonly pages: TradeEvent[][];
  afterId: string | undefined;
  pagesLeft: number;
  attempts: number;
}

/** Book updates buffered at most while a REST snapshot is awaited; past it, start over. */
const MAX_BUFFERED_UPDATES = 10_000;
/** Snapshot requests per bootstrap before the book is left syncing (until a reconnect). */
const MAX_SNAPSHOT_ATTEMPTS = 6;

interface Bootstrap {
  readonly channel: string;
  readonly symbol: string;
  readonly buffer: BookMessage[];
  readonly events: Map<BookMessage, BookChangeEvent>;
  snapshot: { readonly message: BookMessage; readonly event: BookChangeEvent } | undefined;
  attempts: number;
  /** Gave up: updates are dropped until a reconnect clears it. */
  abandoned: boolean;
}

/** What the collector machine is to do next for a backfill. */
export type BackfillStep =
  | {
      readonly kind: 'fetch';
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly delayMs: number;
    }
  | { readonly kind: 'done' };

export class CollectorFeed implements FrameSink {
  readonly stats: FeedStats = {
    messages: 0,
    bytes: 0,
    reconnects: 0,
    events: 0,
    faults: 0,
    duplicatesDropped: 0,
    faultsByCode: {},
    lastMessageAt: {},
  };
  private readonly trades = new Map<string, TradeTrack>();
  private readonly tickers = new Map<string, TickerEvent>();
  /** Books waiting for a REST snapshot, by `channel:symbol`; their updates wait in `buffer`. */
  private readonly bootstraps = new Map<string, Bootstrap>();
  /** Trade backfills under way, by symbol; live trades of the symbol wait in `held`. */
  private readonly backfills = new Map<string, Backfill>();
  /** A control message the last frame raised (a backfill request), for `ingest` to return. */
  private pendingControl: ControlMessage | undefined;
  /** One maintained book per channel and symbol: `books` and `bbo-tbt` of one instrument differ. */
  private readonly books = new Map<string, BookSync>();

  // One context object, reused for every frame: the adapter must not keep it.
  private readonly context: { collectorId: string; receivedAt: number };

  get exchange(): string {
    return this.options.adapter.id;
  }

  constructor(private readonly options: FeedOptions) {
    this.context = { collectorId: options.collectorId, receivedAt: 0 };
  }

  ingest(text: string, connectionId: string, receivedAt: number): ControlMessage | undefined {
    const stats = this.stats;
    this.context.receivedAt = receivedAt;
    stats.messages++;
    stats.bytes += text.length;
    const result = this.options.adapter.parse(text, this.context);
    if (result.fault !== undefined) this.reportParseFault(result.fault, connectionId);
    const events = result.events;
    if (events === undefined) return result.control;
    if (result.books !== undefined) return this.deliverBooks(events, result.books, connectionId);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as MarketEvent;
      if (this.isWanted(event, connectionId)) this.deliver(event);
    }
    if (this.pendingControl !== undefined) {
      const control = this.pendingControl;
      this.pendingControl = undefined;
      return control;
    }
    return result.control;
  }

  /** The maintained book of a channel and symbol, if the feed has one. */
  book(channel: string, symbol: string): BookSync | undefined {
    return this.books.get(`${channel}:${symbol}`);
  }

  /** Every maintained book, keyed `channel:symbol`. */
  allBooks(): ReadonlyMap<string, BookSync> {
    return this.books;
  }

  /**
   * A book push: each message goes through its book's integrity rules before its event may go
   * out. Only an applied message is emitted; a broken book announces `book_reset` and asks the
   * collector (through the returned control message) for a fresh snapshot.
   */
  private deliverBooks(
    events: readonly MarketEvent[],
    books: readonly BookMessage[],
    connectionId: string,
  ): ControlMessage | undefined {
    let control: ControlMessage | undefined;
    for (let i = 0; i < books.length; i++) {
      const message = books[i] as BookMessage;
      const event = events[i] as BookChangeEvent;
      if (!this.isWanted(event, connectionId)) continue;
      const sync = this.bookFor(message.channel, message.symbol);
      const snapshotMode = this.options.bookSnapshot?.mode;
      const key = `${message.channel}:${message.symbol}`;
      const boot = this.bootstraps.get(key);
      // `auto`: a snapshot the channel does push wins over the one awaited from REST.
      if (boot !== undefined && snapshotMode === 'auto' && message.action === 'snapshot') {
        this.bootstraps.delete(key);
      } else if (boot !== undefined) {
        this.bufferForBootstrap(boot, message, event);
        continue;
      }
      // `rest`: the REST snapshot is the only snapshot; a pushed one is not trusted.
      if (snapshotMode === 'rest' && message.action === 'snapshot') continue;
      // An update for a book that never had a snapshot: the channel sends none (OKX's announced
      // change), so the snapshot comes over REST while the updates wait. (An `invalid` book in
      // `auto` is resubscribed instead, and the channel's own snapshot rebuilds it.)
      const bootstrapping =
        snapshotMode === 'rest' ? sync.state !== 'live' : sync.state === 'syncing';
      if (snapshotMode !== undefined && message.action === 'update' && bootstrapping) {
        control = this.startBootstrap(message, event);
        continue;
      }
      const result = sync.apply(message, event);
      switch (result.outcome) {
        case 'applied':
          this.deliver(event);
          this.notifyBook(sync, message.channel);
          break;
        case 'unchanged':
          // An idle keep-alive proves the book is alive without changing it.
          this.stats.lastMessageAt.orderbook = event.localTimestamp;
          break;
        case 'dropped':
          this.stats.faultsByCode[result.fault.code] =
            (this.stats.faultsByCode[result.fault.code] ?? 0) + 1;
          break;
        case 'invalidated':
          this.recordFault({
            code: result.fault.code,
            detail: result.fault.detail,
            sample: undefined,
            connectionId,
          });
          this.emitBookReset(event, result.fault.code);
          this.notifyBook(sync, message.channel);
          // With REST snapshots a break is healed by a new snapshot, not by resubscribing.
          control =
            snapshotMode === 'rest'
              ? this.startBootstrap(undefined, event, message.channel)
              : {
                  kind: 'resync',
                  channel: message.channel,
                  symbol: message.symbol,
                  reason: result.fault.code,
                };
          break;
      }
    }
    return control;
  }

  private isWanted(event: MarketEvent, connectionId: string): boolean {
    if (this.options.wanted.get(event.symbol)?.has(event.type) === true) return true;
    this.recordFault({
      code: 'data-unsubscribed',
      detail: `${event.type} for ${event.symbol}, which this collector did not subscribe`,
      sample: undefined,
      connectionId,
    });
    return false;
  }

  /** Starts waiting for a REST snapshot of a book; returns the request for the collector. */
  private startBootstrap(
    first: BookMessage | undefined,
    from: BookChangeEvent,
    channel = first?.channel ?? '',
  ): ControlMessage {
    const boot: Bootstrap = {
      channel,
      symbol: from.symbol,
      buffer: [],
      events: new Map(),
      snapshot: undefined,
      attempts: 0,
      abandoned: false,
    };
    this.bootstraps.set(`${channel}:${from.symbol}`, boot);
    if (first !== undefined) this.bufferForBootstrap(boot, first, from);
    return { kind: 'book-snapshot', channel, symbol: from.symbol };
  }

  private bufferForBootstrap(boot: Bootstrap, message: BookMessage, event: BookChangeEvent): void {
    if (boot.abandoned || message.action !== 'update') return;
    if (boot.buffer.length >= MAX_BUFFERED_UPDATES) {
      // The snapshot is taking too long: the oldest updates can no longer be bridged anyway.
      boot.buffer.length = 0;
      boot.events.clear();
      boot.snapshot = undefined;
    }
    boot.buffer.push(message);
    boot.events.set(message, event);
    if (boot.snapshot !== undefined) this.tryBootstrap(boot);
  }

  /**
   * One step of a book bootstrap, driven by the collector machine like `backfillStep`: the
   * snapshot reply (undefined to begin, `failed` when there was none) → the next request or done.
   */
  bookSnapshotStep(
    channel: string,
    symbol: string,
    reply: HttpReply | 'failed' | undefined,
  ): BackfillStep {
    const boot = this.bootstraps.get(`${channel}:${symbol}`);
    const support = this.options.adapter.bookSnapshot;
    const target = this.options.bookSnapshot;
    if (boot === undefined || support === undefined || target === undefined || boot.abandoned) {
      return { kind: 'done' };
    }
    const fetchAgain = (detail: string | undefined, retryAfterMs = 0): BackfillStep => {
      boot.attempts++;
      if (boot.attempts >= MAX_SNAPSHOT_ATTEMPTS) {
        boot.abandoned = true;
        const why = detail ?? 'no usable snapshot';
        this.recordFault({
          code: 'rest-error',
          detail: `${symbol}: ${why}`,
          sample: undefined,
          connectionId: undefined,
        });
        return { kind: 'done' };
      }
      return {
        kind: 'fetch',
        url: support.url(target.base, symbol, support.depth),
        headers: target.headers,
        delayMs: Math.max(retryAfterMs, reply === undefined ? 0 : 250 * 2 ** boot.attempts),
      };
    };
    if (reply === undefined) return fetchAgain(undefined);
    if (reply === 'failed') return fetchAgain('the snapshot request got no answer');
    this.context.receivedAt = this.options.clock.now();
    const parsed = support.parse(reply, symbol, channel, this.context);
    if (!parsed.ok) {
      this.recordFault({
        code: parsed.code,
        detail: parsed.detail,
        sample: undefined,
        connectionId: undefined,
      });
      if (!parsed.retryable) boot.attempts = MAX_SNAPSHOT_ATTEMPTS;
      return fetchAgain(parsed.detail, parsed.retryAfterMs);
    }
    boot.snapshot = { message: parsed.message, event: parsed.event };
    const outcome = this.tryBootstrap(boot);
    if (outcome === 'stale' || outcome === 'restart') return fetchAgain(`snapshot ${outcome}`);
    return { kind: 'done' };
  }

  /** Fits the snapshot to the buffered updates; on `ready` the book goes live. */
  private tryBootstrap(boot: Bootstrap): BookBootstrapPlan['outcome'] {
    const support = this.options.adapter.bookSnapshot;
    const snapshot = boot.snapshot;
    if (support === undefined || snapshot === undefined) return 'wait';
    const plan = support.plan(snapshot.message, boot.buffer);
    if (plan.outcome === 'stale' || plan.outcome === 'restart') {
      boot.snapshot = undefined;
      if (plan.outcome === 'restart') {
        boot.buffer.length = 0;
        boot.events.clear();
      }
      return plan.outcome;
    }
    if (plan.outcome === 'wait') return 'wait';
    const sync = this.bookFor(boot.channel, boot.symbol);
    this.bootstraps.delete(`${boot.channel}:${boot.symbol}`);
    sync.apply(plan.snapshot);
    this.deliver(snapshot.event);
    for (const update of plan.updates) {
      const result = sync.apply(update);
      const event = boot.events.get(update);
      if (result.outcome === 'applied' && event !== undefined) this.deliver(event);
    }
    this.notifyBook(sync, boot.channel);
    return 'ready';
  }

  private bookFor(channel: string, symbol: string): BookSync {
    const key = `${channel}:${symbol}`;
    let sync = this.books.get(key);
    if (sync === undefined) {
      sync = new BookSync(symbol);
      this.books.set(key, sync);
    }
    return sync;
  }

  private notifyBook(sync: BookSync, channel: string): void {
    this.options.bookChanged?.(sync, channel);
  }

  private emitBookReset(
    from: Pick<MarketEvent, 'exchange' | 'symbol' | 'collectorId' | 'timestamp' | 'localTimestamp'>,
    reason: string,
  ): void {
    const reset: BookResetEvent = {
      type: 'book_reset',
      exchange: from.exchange,
      symbol: from.symbol,
      collectorId: from.collectorId,
      timestamp: from.timestamp,
      localTimestamp: from.localTimestamp,
      reason,
    };
    this.deliver(reset);
  }

  rejectBinary(size: number, connectionId: string): void {
    this.stats.messages++;
    this.stats.bytes += size;
    this.recordFault({
      code: 'frame-binary',
      detail: `binary frame of ${size} bytes`,
      sample: undefined,
      connectionId,
    });
  }

  reportInternal(error: unknown, connectionId: string): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.recordFault({ code: 'internal-error', detail, sample: undefined, connectionId });
  }

  /**
   * A socket of this collector went down: the next trade of every symbol is checked for a gap,
   * and every book is void until its next snapshot, which consumers learn from `book_reset`.
   */
  markDisconnected(): void {
    for (const track of this.trades.values()) track.checkGap = true;
    // A bootstrap in progress belongs to the old socket's stream; the new one starts its own.
    this.bootstraps.clear();
    const now = this.options.clock.now();
    for (const [key, sync] of this.books) {
      if (sync.state === 'syncing') continue;
      sync.reset();
      this.emitBookReset(
        {
          exchange: this.options.adapter.id,
          symbol: sync.symbol,
          collectorId: this.options.collectorId,
          timestamp: now,
          localTimestamp: now,
        },
        'reconnect',
      );
      this.notifyBook(sync, key.slice(0, key.indexOf(':')));
    }
  }

  /** Silence per data type since `since`, against thresholds (0 = off). */
  judgeSilence(since: number, thresholds: Readonly<Record<string, number>>) {
    const now = this.options.clock.now();
    let stalled: string | undefined;
    let silentMs = 0;
    let nextCheckMs = Number.POSITIVE_INFINITY;
    for (const [dataType, threshold] of Object.entries(thresholds)) {
      if (threshold <= 0) continue;
      const last = Math.max(this.stats.lastMessageAt[dataType as DataType] ?? 0, since);
      const silent = now - last;
      if (silent >= threshold && silent > silentMs) {
        stalled = dataType;
        silentMs = silent;
      }
      nextCheckMs = Math.min(nextCheckMs, Math.max(1, threshold - silent));
    }
    return { stalled, silentMs, nextCheckMs: Number.isFinite(nextCheckMs) ? nextCheckMs : 60_000 };
  }

  recordFault(fault: FeedFault): void {
    this.stats.faults++;
    this.stats.faultsByCode[fault.code] = (this.stats.faultsByCode[fault.code] ?? 0) + 1;
    this.options.fault(fault);
  }

  private reportParseFault(fault: ParseFault, connectionId: string): void {
    this.recordFault({
      code: fault.code,
      detail: fault.detail,
      sample: fault.sample,
      connectionId,
    });
  }

  private deliver(event: MarketEvent): void {
    if (event.type === 'trade') {
      if (!this.admitTrade(event)) return;
    } else if (event.type === 'ticker') {
      if (!this.admitTicker(event)) return;
    }
    this.stats.events++;
    switch (event.type) {
      case 'trade':
      case 'ticker':
      case 'candle':
        this.stats.lastMessageAt[event.type] = event.localTimestamp;
        break;
      case 'book_change':
      case 'book_reset':
        this.stats.lastMessageAt.orderbook = event.localTimestamp;
        break;
    }
    this.options.emit(event);
  }

  /** Drops trades already emitted (a reconnect's replay, a handover's overlap); checks for gaps. */
  private admitTrade(trade: TradeEvent): boolean {
    let track = this.trades.get(trade.symbol);
    if (track === undefined) {
      track = {
        highestId: Number.NEGATIVE_INFINITY,
        last: undefined,
        recent: undefined,
        checkGap: false,
      };
      this.trades.set(trade.symbol, track);
    }
    const backfill = this.backfills.get(trade.symbol);
    if (backfill !== undefined) return this.hold(backfill, trade);
    const numericId = Number(trade.id);
    if (Number.isSafeInteger(numericId) && !Number.isNaN(track.highestId)) {
      // OKX trade ids are increasing integers per instrument, so a high-water mark is an exact
      // dedupe window of unbounded length that costs one number per symbol.
      if (numericId <= track.highestId) return this.dropDuplicate();
      if (track.checkGap && this.startBackfill(track, trade, numericId)) return false;
      if (track.checkGap) this.checkGap(track, trade, numericId);
      track.highestId = numericId;
    } else {
      track.highestId = Number.NaN;
      if (track.recent === undefined) track.recent = new Set();
      const recent = track.recent;
      if (recent.has(trade.id)) return this.dropDuplicate();
      if (track.checkGap) this.checkGap(track, trade, undefined);
      recent.add(trade.id);
      if (recent.size > RECENT_IDS_WINDOW) {
        const oldest = recent.values().next();
        if (oldest.done !== true) recent.delete(oldest.value);
      }
    }
    track.last = trade;
    return true;
  }

  /** Duplicates are expected after every reconnect: counted, never reported one by one. */
  private dropDuplicate(): false {
    this.stats.duplicatesDropped++;
    return false;
  }

  /**
   * The first trade after a disconnect does not follow the last one: hold it (and every later
   * trade of the symbol) and ask the collector to fetch what is missing. False when there is
   * nothing to fetch or no way to.
   */
  private startBackfill(track: TradeTrack, trade: TradeEvent, numericId: number): boolean {
    const last = track.last;
    const support = this.options.adapter.tradeBackfill;
    if (last === undefined || this.options.backfill === undefined || support === undefined) {
      return false;
    }
    if (numericId - ((trade.fills ?? 1) - 1) - track.highestId - 1 <= 0) return false;
    track.checkGap = false;
    this.backfills.set(trade.symbol, {
      from: last,
      to: trade,
      held: [trade],
      pages: [],
      afterId: trade.id,
      pagesLeft: MAX_BACKFILL_PAGES,
      attempts: 0,
    });
    this.pendingControl = { kind: 'backfill', symbol: trade.symbol };
    return true;
  }

  private hold(backfill: Backfill, trade: TradeEvent): false {
    backfill.held.push(trade);
    if (backfill.held.length >= MAX_HELD_TRADES) this.finishBackfill(trade.symbol, undefined);
    return false;
  }

  /**
   * One step of a backfill, driven by the collector machine (which owns the request and its
   * timers): `reply` is the answer to the last request, undefined to begin, `failed` when it got
   * none. Returns the next request, or `done` once the trades are out.
   */
  backfillStep(symbol: string, reply: HttpReply | 'failed' | undefined): BackfillStep {
    const backfill = this.backfills.get(symbol);
    const support = this.options.adapter.tradeBackfill;
    const target = this.options.backfill;
    if (backfill === undefined || support === undefined || target === undefined) {
      return { kind: 'done' };
    }
    const fetchNext = (delayMs: number): BackfillStep => ({
      kind: 'fetch',
      url: support.pageUrl(target.base, symbol, backfill.afterId),
      headers: target.headers,
      delayMs,
    });
    if (reply === undefined) return fetchNext(0);
    if (reply === 'failed') return this.finishBackfill(symbol, 'rest-error');
    this.context.receivedAt = this.options.clock.now();
    const page = support.parsePage(reply, symbol, this.context);
    if (!page.ok) {
      this.recordFault({
        code: page.code,
        detail: page.detail,
        sample: undefined,
        connectionId: undefined,
      });
      backfill.attempts++;
      if (!page.retryable || backfill.attempts >= MAX_PAGE_ATTEMPTS) {
        return this.finishBackfill(symbol, page.code);
      }
      return fetchNext(Math.max(page.retryAfterMs ?? 0, 500 * 2 ** backfill.attempts));
    }
    backfill.attempts = 0;
    backfill.pages.push([...page.trades]);
    backfill.pagesLeft--;
    const oldest = page.trades[0];
    const recovered = this.recovered(backfill);
    const exhausted = page.trades.length < support.pageLimit;
    if (recovered || exhausted || backfill.pagesLeft <= 0 || oldest === undefined) {
      return this.finishBackfill(symbol, undefined);
    }
    backfill.afterId = oldest.id;
    return fetchNext(0);
  }

  /** Every id between the trade before and the trade after the outage has been fetched. */
  private recovered(backfill: Backfill): boolean {
    const low = Number(backfill.from.id);
    let oldest = Number.POSITIVE_INFINITY;
    for (const page of backfill.pages) {
      for (const trade of page) oldest = Math.min(oldest, Number(trade.id));
    }
    return oldest <= low + 1;
  }

  /**
   * Ends a backfill: one `gap` for what was not recovered, then the fetched trades in id order,
   * marked `backfilled`, then the live trades that waited, each through the dedupe.
   */
  private finishBackfill(symbol: string, failure: string | undefined): BackfillStep {
    const backfill = this.backfills.get(symbol);
    if (backfill === undefined) return { kind: 'done' };
    this.backfills.delete(symbol);
    const low = Number(backfill.from.id);
    // The first live push covers its own fills: fetched ids among them would count twice.
    const high = Number(backfill.to.id) - ((backfill.to.fills ?? 1) - 1);
    const byId = new Map<number, TradeEvent>();
    for (const page of backfill.pages) {
      for (const trade of page) {
        const id = Number(trade.id);
        if (id > low && id < high) byId.set(id, trade);
      }
    }
    const fetched = [...byId.entries()].sort((a, b) => a[0] - b[0]).map(([, trade]) => trade);
    const missing = high - low - 1 - fetched.length;
    if (missing > 0) {
      const reason = failure === undefined ? 'reconnect' : `reconnect (backfill: ${failure})`;
      this.emitGap(backfill.from, backfill.to, missing, reason);
    }
    for (const trade of [...fetched, ...backfill.held]) this.deliver(trade);
    return { kind: 'done' };
  }

  /** Ends every backfill at once (the collector stopped): what was missing becomes gaps. */
  abortBackfills(): void {
    this.bootstraps.clear();
    for (const symbol of [...this.backfills.keys()]) this.finishBackfill(symbol, 'stopped');
  }

  private emitGap(from: TradeEvent, to: TradeEvent, missing: number | undefined, reason: string) {
    const gap: GapEvent = {
      type: 'gap',
      exchange: to.exchange,
      symbol: to.symbol,
      collectorId: to.collectorId,
      timestamp: to.timestamp,
      localTimestamp: to.localTimestamp,
      dataType: 'trade',
      reason,
      fromTimestamp: from.timestamp,
      toTimestamp: to.timestamp,
      fromId: from.id,
      toId: to.id,
      missing,
    };
    this.stats.events++;
    this.options.emit(gap);
  }

  private checkGap(track: TradeTrack, trade: TradeEvent, numericId: number | undefined): void {
    track.checkGap = false;
    const last = track.last;
    if (last === undefined) return;
    // A push of `fills` fills carries the last one's id: the first is id − fills + 1.
    const missing =
      numericId !== undefined && Number.isFinite(track.highestId)
        ? numericId - ((trade.fills ?? 1) - 1) - track.highestId - 1
        : undefined;
    if (missing === 0) return;
    this.emitGap(last, trade, missing, 'reconnect');
  }

  /** Drops a ticker that repeats the last one (a handover's overlap) or is older than it. */
  private admitTicker(ticker: TickerEvent): boolean {
    const last = this.tickers.get(ticker.symbol);
    if (
      last !== undefined &&
      (ticker.timestamp < last.timestamp ||
        (ticker.timestamp === last.timestamp &&
          ticker.last === last.last &&
          ticker.bidPrice === last.bidPrice &&
          ticker.askPrice === last.askPrice &&
          ticker.bidAmount === last.bidAmount &&
          ticker.askAmount === last.askAmount))
    ) {
      this.stats.duplicatesDropped++;
      return false;
    }
    this.tickers.set(ticker.symbol, ticker);
    return true;
  }
}
