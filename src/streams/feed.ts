import type { BookMessage } from '../book/message.ts';
import { type BookApplyResult, type BookSource, BookSync } from '../book/sync.ts';
import type { ControlMessage, ExchangeAdapter, HttpReply, ParseFault } from '../exchanges/types.ts';
import type { Clock } from '../machines/clock.ts';
import type { FrameSink } from '../machines/socket.ts';
import { isOutState } from '../machines/subscriptions.ts';
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
import type { SubscriptionState } from './telemetry.ts';

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
  /**
   * The exchange channels this collector subscribed (`books`, `candle1m`…): a push of any other
   * is counted as `data-unsubscribed` and dropped. Absent: not checked.
   */
  readonly channels?: ReadonlySet<string>;
  /**
   * The state of a book's subscription (`active`, `quarantined`…), from the collector. Asked
   * when a snapshot arrives or a book that is not live could start again, so that nothing in
   * flight revives a book that is out, and by the watch on books that stay down.
   */
  readonly bookSubscription?: (channel: string, symbol: string) => SubscriptionState | undefined;
  /**
   * A book whose subscription is active but which has not been live for this long is resynced
   * (`book-stalled`): a snapshot that never came, a resubscribe nobody answered with data.
   * 0 or absent: not watched.
   */
  readonly staleBookMs?: number;
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
/** Snapshot requests per bootstrap before it rests (a `rest-error` fault) and starts over. */
const MAX_SNAPSHOT_ATTEMPTS = 6;
/** How long a bootstrap that used up its attempts rests before the stream may start another. */
const BOOTSTRAP_REST_MS = 60_000;

interface Bootstrap {
  readonly channel: string;
  readonly symbol: string;
  /** The connection whose updates are buffered; another's (a handover's overlap) are not. */
  readonly connectionId: string;
  readonly buffer: BookMessage[];
  readonly events: Map<BookMessage, BookChangeEvent>;
  snapshot: { readonly message: BookMessage; readonly event: BookChangeEvent } | undefined;
  attempts: number;
  /** A snapshot request is under way (the collector runs its REST job). */
  fetching: boolean;
  /** Used up its attempts: updates are dropped until this time, then a new bootstrap starts. */
  restingUntil: number;
}

/** How often, at most, books are checked for staying down while subscribed. */
const BOOK_WATCH_INTERVAL_MS = 1_000;
/** How long a book's subscription is active before the watch judges it (its snapshot is due). */
const BOOK_ACTIVE_GRACE_MS = 10_000;

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
  /** When each book's subscription was first seen active by `watchBooks`, by `channel:symbol`. */
  private activeSince: Map<string, number> | undefined;
  private nextBookWatch = 0;
  /** Where the book messages being applied came from; one object, reused for every frame. */
  private readonly source: { connectionId: string; receivedAt: number } = {
    connectionId: '',
    receivedAt: 0,
  };

  // One context object, reused for every frame: the adapter must not keep it.
  private readonly context: { collectorId: string; receivedAt: number };

  get exchange(): string {
    return this.options.adapter.id;
  }

  constructor(private readonly options: FeedOptions) {
    this.context = { collectorId: options.collectorId, receivedAt: 0 };
    // Every wanted book exists from the start, `syncing`, so that one that never gets a message
    // is still seen (status, getBook) and watched.
    const bookChannels = [...(options.channels ?? [])].filter(
      (channel) => options.adapter.bookDepth?.(channel) !== undefined,
    );
    for (const [symbol, types] of options.wanted) {
      if (!types.has('book_change')) continue;
      for (const channel of bookChannels) this.bookFor(channel, symbol);
    }
  }

  ingest(text: string, connectionId: string, receivedAt: number): ControlMessage | undefined {
    const stats = this.stats;
    this.context.receivedAt = receivedAt;
    stats.messages++;
    stats.bytes += text.length;
    const result = this.options.adapter.parse(text, this.context);
    if (result.fault !== undefined) this.reportParseFault(result.fault, connectionId);
    if (result.lostBook !== undefined) this.bookLost(result.lostBook, connectionId, receivedAt);
    const events = result.events;
    if (events !== undefined && this.isWantedChannel(result.channel, events, connectionId)) {
      if (result.books !== undefined) {
        this.deliverBooks(events, result.books, connectionId, receivedAt);
      } else {
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as MarketEvent;
          if (this.isWanted(event, connectionId)) this.deliver(event);
        }
      }
    }
    if (receivedAt >= this.nextBookWatch) this.watchBooks(receivedAt);
    if (this.pendingControl !== undefined) {
      const control = this.pendingControl;
      this.pendingControl = undefined;
      return control;
    }
    return result.control;
  }

  /** A heartbeat reply: the book watch runs on a socket that brings no data at all. */
  heard(_connectionId: string, receivedAt: number): ControlMessage | undefined {
    if (receivedAt >= this.nextBookWatch) this.watchBooks(receivedAt);
    const control = this.pendingControl;
    this.pendingControl = undefined;
    return control;
  }

  /**
   * At most once a second, on the collector's own frames and heartbeat replies, books that
   * stay down while subscribed are asked for again, one book per frame:
   * - not live for `staleBookMs` (a snapshot that never came, a resubscribe answered by nothing),
   *   counted across reconnects, once the subscription has been active a little while;
   * - live but silent well past the exchange's keep-alive (the subscription died quietly): the
   *   book is broken first, since nothing says it is still right.
   * (A collector whose frames stop altogether is the data-silence watch's to recycle.)
   */
  private watchBooks(now: number): void {
    this.nextBookWatch = now + BOOK_WATCH_INTERVAL_MS;
    const staleMs = this.options.staleBookMs ?? 0;
    const stateOf = this.options.bookSubscription;
    if (staleMs <= 0 || stateOf === undefined || this.books.size === 0) return;
    // Made on first use: most collectors keep no book.
    this.activeSince ??= new Map();
    const activeSince = this.activeSince;
    const grace = Math.min(staleMs, BOOK_ACTIVE_GRACE_MS);
    for (const [key, sync] of this.books) {
      const channel = key.slice(0, key.indexOf(':'));
      if (stateOf(channel, sync.symbol) !== 'active') {
        activeSince.delete(key);
        continue;
      }
      const since = activeSince.get(key);
      if (since === undefined) activeSince.set(key, now);
      if (since === undefined || now - since < grace || this.pendingControl !== undefined) continue;
      let detail: string;
      if (sync.state === 'live') {
        const keepAlive = this.options.adapter.bookKeepAliveMs?.(channel);
        if (keepAlive === undefined) continue;
        const silentFor = now - (sync.updatedAt ?? sync.stateSince);
        if (silentFor < Math.max(staleMs, keepAlive * 1.5)) continue;
        const seconds = Math.round(silentFor / 1000);
        detail = `${sync.symbol}: the live ${channel} book heard nothing for ${seconds} s`;
        sync.fail('book-stalled', detail, now);
        this.emitBookReset(this.eventBase(sync.symbol, now), 'book-stalled');
        this.notifyBook(sync, channel);
      } else {
        // A snapshot request under way has its own deadline.
        if (this.bootstraps.get(key)?.fetching === true) continue;
        const downFor = now - sync.stateSince;
        if (downFor < staleMs) continue;
        const seconds = Math.round(downFor / 1000);
        detail = `${sync.symbol}: the ${channel} book is subscribed but not live for ${seconds} s`;
        sync.lastBreak = { code: 'book-stalled', detail, at: now };
      }
      this.recordFault({
        code: 'book-stalled',
        detail,
        sample: undefined,
        connectionId: undefined,
      });
      activeSince.delete(key);
      this.bootstraps.delete(key);
      this.source.connectionId = '';
      this.source.receivedAt = now;
      // A resubscribe in every mode, so that a book that never heals ends quarantined; with
      // REST snapshots the updates it brings start a new bootstrap.
      this.pendingControl = {
        kind: 'resync',
        channel,
        symbol: sync.symbol,
        reason: 'book-stalled',
      };
    }
  }

  /**
   * A push of a channel this collector did not subscribe (another depth of the same book,
   * another candle bar) is refused whole: its events would look like this collector's own.
   */
  private isWantedChannel(
    channel: string | undefined,
    events: readonly MarketEvent[],
    connectionId: string,
  ): boolean {
    const channels = this.options.channels;
    if (channel === undefined || channels === undefined || channels.has(channel)) return true;
    this.recordFault({
      code: 'data-unsubscribed',
      detail: `${channel} for ${events[0]?.symbol}, a channel this collector did not subscribe`,
      sample: undefined,
      connectionId,
    });
    return false;
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
   * collector (through `pendingControl`) for a fresh snapshot.
   */
  private deliverBooks(
    events: readonly MarketEvent[],
    books: readonly BookMessage[],
    connectionId: string,
    receivedAt: number,
  ): void {
    const source = this.source;
    source.connectionId = connectionId;
    source.receivedAt = receivedAt;
    const snapshotMode = this.options.bookSnapshot?.mode;
    for (let i = 0; i < books.length; i++) {
      const message = books[i] as BookMessage;
      const event = events[i] as BookChangeEvent;
      if (!this.isWanted(event, connectionId)) continue;
      const key = `${message.channel}:${message.symbol}`;
      const sync = this.bookFor(message.channel, message.symbol, key);
      // A quarantined book is never live; what was in flight when it went out must not revive it.
      if ((message.action === 'snapshot' || sync.state !== 'live') && this.isOut(message)) continue;
      const boot = this.bootstraps.get(key);
      // `auto`: a snapshot the channel does push wins over the one awaited from REST.
      if (boot !== undefined && snapshotMode === 'auto' && message.action === 'snapshot') {
        this.bootstraps.delete(key);
      } else if (boot !== undefined) {
        this.bufferForBootstrap(boot, message, event, source);
        continue;
      }
      // `rest`: the REST snapshot is the only snapshot; a pushed one is not trusted.
      if (snapshotMode === 'rest' && message.action === 'snapshot') continue;
      // An update for a book that is not live and has no snapshot coming by push for sure (OKX
      // announced its channels will stop sending one): the snapshot comes over REST while the
      // updates wait. In `auto` a pushed snapshot that arrives meanwhile still wins.
      if (snapshotMode !== undefined && message.action === 'update' && sync.state !== 'live') {
        this.pendingControl = this.startBootstrap(message.channel, message.symbol, source, {
          message,
          event,
        });
        continue;
      }
      const result = sync.apply(message, event, source);
      switch (result.outcome) {
        case 'applied':
          this.deliver(event);
          this.notifyBook(sync, message.channel);
          break;
        case 'unchanged':
          // An idle keep-alive proves the book is alive without changing it.
          this.stats.lastMessageAt.orderbook = event.localTimestamp;
          break;
        case 'duplicate':
          this.stats.duplicatesDropped++;
          break;
        case 'dropped':
          // Counted, never reported: the break before it was, and a storm of these says nothing.
          this.countQuietFault(result.fault.code);
          break;
        case 'invalidated':
          this.recordFault({
            code: result.fault.code,
            detail: result.fault.detail,
            sample: undefined,
            connectionId,
          });
          this.pendingControl = this.afterBreak(sync, message.channel, result.fault.code, event);
          break;
      }
    }
  }

  /**
   * A book broke (already invalid): consumers hear `book_reset`, and the collector is asked to
   * heal it: a resubscribe for a fresh pushed snapshot, or with REST snapshots a new bootstrap.
   */
  private afterBreak(
    sync: BookSync,
    channel: string,
    reason: string,
    from: Pick<MarketEvent, 'exchange' | 'symbol' | 'collectorId' | 'timestamp' | 'localTimestamp'>,
  ): ControlMessage {
    this.emitBookReset(from, reason);
    this.notifyBook(sync, channel);
    if (this.options.bookSnapshot?.mode === 'rest') {
      return this.startBootstrap(channel, sync.symbol, this.source);
    }
    return { kind: 'resync', channel, symbol: sync.symbol, reason };
  }

  /**
   * The parser rejected a message of an incremental book: the book lacks it from now on, even
   * if its chain only shows that at the next update, which on a quiet book may be long. It is
   * broken at once, so that it never claims to be live without it.
   */
  private bookLost(
    lost: { readonly channel: string; readonly symbol: string },
    connectionId: string,
    receivedAt: number,
  ): void {
    if (this.options.wanted.get(lost.symbol)?.has('book_change') !== true) return;
    const channels = this.options.channels;
    if (channels !== undefined && !channels.has(lost.channel)) return;
    const key = `${lost.channel}:${lost.symbol}`;
    const from = this.eventBase(lost.symbol, receivedAt);
    this.source.connectionId = connectionId;
    this.source.receivedAt = receivedAt;
    const boot = this.bootstraps.get(key);
    if (boot !== undefined) {
      // The buffer has a hole: whatever snapshot comes cannot be bridged to it. Start over.
      this.pendingControl = this.restartBootstrap(boot);
      return;
    }
    const sync = this.books.get(key);
    if (sync === undefined || sync.state !== 'live') return;
    sync.fail('book-message-lost', `${lost.symbol}: a ${lost.channel} message was rejected`);
    this.pendingControl = this.afterBreak(sync, lost.channel, 'book-message-lost', from);
  }

  private isOut(book: { readonly channel: string; readonly symbol: string }): boolean {
    return isOutState(this.options.bookSubscription?.(book.channel, book.symbol));
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

  /**
   * Starts waiting for a REST snapshot of a book, `first` the update that found it not live;
   * returns the request for the collector.
   */
  private startBootstrap(
    channel: string,
    symbol: string,
    source: BookSource,
    first?: { readonly message: BookMessage; readonly event: BookChangeEvent },
    attempts = 0,
  ): ControlMessage {
    const boot: Bootstrap = {
      channel,
      symbol,
      connectionId: source.connectionId,
      buffer: [],
      events: new Map(),
      snapshot: undefined,
      attempts,
      fetching: true,
      restingUntil: 0,
    };
    this.bootstraps.set(`${channel}:${symbol}`, boot);
    if (first !== undefined && first.message.action === 'update') {
      boot.buffer.push(first.message);
      boot.events.set(first.message, first.event);
    }
    return { kind: 'book-snapshot', channel, symbol };
  }

  /**
   * Throws away a bootstrap's buffer and snapshot and starts it again, keeping its attempts so
   * that one that keeps failing still rests in the end. The request goes out unless one is
   * already under way, whose reply the new bootstrap then takes.
   */
  private restartBootstrap(boot: Bootstrap): ControlMessage | undefined {
    const { channel, symbol, fetching } = boot;
    const source = { connectionId: boot.connectionId, receivedAt: 0 };
    const control = this.startBootstrap(channel, symbol, source, undefined, boot.attempts);
    (this.bootstraps.get(`${channel}:${symbol}`) as Bootstrap).fetching = fetching;
    return fetching ? undefined : control;
  }

  private bufferForBootstrap(
    boot: Bootstrap,
    message: BookMessage,
    event: BookChangeEvent,
    source: BookSource,
  ): void {
    if (boot.restingUntil > 0) {
      if (source.receivedAt < boot.restingUntil) {
        this.countQuietFault('book-not-synced');
        return;
      }
      // Rested: this update begins a new bootstrap.
      this.pendingControl = this.startBootstrap(boot.channel, boot.symbol, source, {
        message,
        event,
      });
      return;
    }
    if (message.action !== 'update' || source.connectionId !== boot.connectionId) return;
    if (boot.buffer.length >= MAX_BUFFERED_UPDATES) {
      // The snapshot is taking too long: the oldest updates can no longer be bridged anyway.
      boot.buffer.length = 0;
      boot.events.clear();
      boot.snapshot = undefined;
    }
    boot.buffer.push(message);
    boot.events.set(message, event);
    if (boot.snapshot === undefined) return;
    // A snapshot was in hand, so no request is under way: ask for another if it will not do.
    if (this.tryBootstrap(boot).kind === 'refetch') {
      this.pendingControl = this.refetchSoon(boot.channel, boot.symbol);
    }
  }

  /** The collector's request for a snapshot, when the current bootstrap needs another. */
  private refetchSoon(channel: string, symbol: string): ControlMessage | undefined {
    const boot = this.bootstraps.get(`${channel}:${symbol}`);
    if (boot === undefined || boot.fetching) return undefined;
    boot.fetching = true;
    return { kind: 'book-snapshot', channel, symbol };
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
    const key = `${channel}:${symbol}`;
    const support = this.options.adapter.bookSnapshot;
    const target = this.options.bookSnapshot;
    const started = this.bootstraps.get(key);
    if (started === undefined || support === undefined || target === undefined) {
      return { kind: 'done' };
    }
    if (started.restingUntil > 0) {
      started.fetching = false;
      return { kind: 'done' };
    }
    const fetchAgain = (detail: string | undefined, retryAfterMs = 0): BackfillStep => {
      // A bootstrap that broke was replaced by a fresh one: it is the one to fetch for.
      const boot = this.bootstraps.get(key) ?? started;
      boot.attempts++;
      if (boot.attempts >= MAX_SNAPSHOT_ATTEMPTS) {
        boot.fetching = false;
        const now = this.options.clock.now();
        boot.restingUntil = now + BOOTSTRAP_REST_MS;
        const why = `${symbol}: ${detail ?? 'no usable snapshot'}`;
        this.bookFor(channel, symbol).lastBreak = { code: 'rest-error', detail: why, at: now };
        this.recordFault({
          code: 'rest-error',
          detail: `${why}; trying again after ${BOOTSTRAP_REST_MS / 1000} s`,
          sample: undefined,
          connectionId: undefined,
        });
        return { kind: 'done' };
      }
      boot.fetching = true;
      return {
        kind: 'fetch',
        url: support.url(target.base, symbol, support.depth),
        headers: target.headers,
        delayMs: Math.max(retryAfterMs, reply === undefined ? 0 : 250 * 2 ** boot.attempts),
      };
    };
    if (reply === undefined) return fetchAgain(undefined);
    if (reply === 'failed') {
      const detail = `${symbol}: the ${channel} snapshot request got no answer`;
      this.recordFault({ code: 'rest-error', detail, sample: undefined, connectionId: undefined });
      return fetchAgain(detail);
    }
    this.context.receivedAt = this.options.clock.now();
    const parsed = support.parse(reply, symbol, channel, this.context);
    if (!parsed.ok) {
      this.recordFault({
        code: parsed.code,
        detail: parsed.detail,
        sample: undefined,
        connectionId: undefined,
      });
      if (!parsed.retryable) started.attempts = MAX_SNAPSHOT_ATTEMPTS;
      return fetchAgain(parsed.detail, parsed.retryAfterMs);
    }
    started.snapshot = { message: parsed.message, event: parsed.event };
    const outcome = this.tryBootstrap(started);
    if (outcome.kind === 'refetch') return fetchAgain(outcome.detail);
    started.fetching = false;
    return { kind: 'done' };
  }

  /**
   * Fits the snapshot to the buffered updates; on `ready` the book goes live. The snapshot and
   * each update still pass the book's own checks: one that breaks it (a crossed REST snapshot,
   * a bad checksum) announces `book_reset` and starts the bootstrap over.
   */
  private tryBootstrap(
    boot: Bootstrap,
  ): { readonly kind: 'wait' | 'ready' } | { readonly kind: 'refetch'; readonly detail: string } {
    const support = this.options.adapter.bookSnapshot;
    const snapshot = boot.snapshot;
    if (support === undefined || snapshot === undefined) return { kind: 'wait' };
    const plan = support.plan(snapshot.message, boot.buffer);
    if (plan.outcome === 'stale' || plan.outcome === 'restart') {
      boot.snapshot = undefined;
      if (plan.outcome === 'restart') {
        boot.buffer.length = 0;
        boot.events.clear();
      }
      return { kind: 'refetch', detail: `snapshot ${plan.outcome}: ${plan.detail}` };
    }
    if (plan.outcome === 'wait') return { kind: 'wait' };
    const key = `${boot.channel}:${boot.symbol}`;
    const sync = this.bookFor(boot.channel, boot.symbol);
    this.bootstraps.delete(key);
    if (this.isOut(boot)) return { kind: 'ready' };
    const source: BookSource = {
      connectionId: boot.connectionId,
      receivedAt: this.options.clock.now(),
    };
    let broke: BookApplyResult = sync.apply(plan.snapshot, snapshot.event, source);
    if (broke.outcome !== 'invalidated') {
      this.deliver(snapshot.event);
      for (const update of plan.updates) {
        const event = boot.events.get(update);
        broke = sync.apply(update, event, source);
        if (broke.outcome === 'invalidated') break;
        if (broke.outcome === 'applied' && event !== undefined) this.deliver(event);
      }
    }
    if (broke.outcome !== 'invalidated') {
      this.notifyBook(sync, boot.channel);
      return { kind: 'ready' };
    }
    this.recordFault({
      code: broke.fault.code,
      detail: broke.fault.detail,
      sample: undefined,
      connectionId: boot.connectionId,
    });
    this.emitBookReset(snapshot.event, broke.fault.code);
    this.notifyBook(sync, boot.channel);
    this.startBootstrap(boot.channel, boot.symbol, source, undefined, boot.attempts);
    (this.bootstraps.get(key) as Bootstrap).fetching = false;
    return { kind: 'refetch', detail: broke.fault.detail };
  }

  /** The book of a channel and symbol, made on first use; `key` saves building it again. */
  private bookFor(channel: string, symbol: string, key = `${channel}:${symbol}`): BookSync {
    let sync = this.books.get(key);
    if (sync === undefined) {
      const depth = this.options.adapter.bookDepth?.(channel);
      sync = new BookSync(symbol, depth === undefined ? {} : { depth }, this.options.clock.now());
      this.books.set(key, sync);
    }
    return sync;
  }

  private notifyBook(sync: BookSync, channel: string): void {
    this.options.bookChanged?.(sync, channel);
  }

  /** The common fields of an event this feed makes itself, at `at` (exchange and local time). */
  private eventBase(symbol: string, at: number) {
    return {
      exchange: this.options.adapter.id,
      symbol,
      collectorId: this.options.collectorId,
      timestamp: at,
      localTimestamp: at,
    };
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
      sync.reset(now);
      this.emitBookReset(this.eventBase(sync.symbol, now), 'reconnect');
      this.notifyBook(sync, key.slice(0, key.indexOf(':')));
    }
  }

  /** A connection closed or was stopped: books that follow it count copies only a while longer. */
  connectionGone(connectionId: string): void {
    const now = this.options.clock.now();
    for (const sync of this.books.values()) sync.sourceClosed(connectionId, now);
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

  /** A fault counted in the totals but not reported one by one. */
  private countQuietFault(code: FaultCode): void {
    this.stats.faults++;
    this.stats.faultsByCode[code] = (this.stats.faultsByCode[code] ?? 0) + 1;
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
    if (reply === 'failed') {
      this.recordFault({
        code: 'rest-error',
        detail: `${symbol}: a page of missed trades got no answer in time`,
        sample: undefined,
        connectionId: undefined,
      });
      return this.finishBackfill(symbol, 'rest-error');
    }
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
    if (missing <= 0) {
      for (const trade of [...fetched, ...backfill.held]) this.deliver(trade);
      return { kind: 'done' };
    }
    // The gap's bounds are the known trades around what is still missing (usually the oldest
    // part, beyond the pages fetched), not the whole outage; it goes out in its place in id order.
    const known = [backfill.from, ...fetched];
    const idOf = (i: number) => (i < known.length ? Number(known[i]?.id) : high);
    let first = 0;
    while (idOf(first + 1) === idOf(first) + 1) first++;
    let last = known.length - 1;
    while (idOf(last + 1) === idOf(last) + 1) last--;
    const reason = failure === undefined ? 'reconnect' : `reconnect (backfill: ${failure})`;
    const before = known[first] as TradeEvent;
    const after = last + 1 < known.length ? (known[last + 1] as TradeEvent) : backfill.to;
    for (let i = 1; i <= first; i++) this.deliver(known[i] as TradeEvent);
    this.emitGap(before, after, missing, reason);
    for (const trade of [...fetched.slice(first), ...backfill.held]) this.deliver(trade);
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
