import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import type { InspectionEvent, Observer } from 'xstate';
import type { BookBreak } from './book/sync.ts';
import type { CollectorConfigInput, SupervisionConfigInput } from './config/schema.ts';
import type { Clock } from './machines/clock.ts';
import type { BookLevel, DataType, MarketEvent } from './streams/events.ts';
import type { ProcessResources } from './streams/process.ts';
import type { SubscriptionState, TelemetryEvent } from './streams/telemetry.ts';

/** Options of `createCollectorManager`. */
export interface ManagerOptions {
  /** The restart policy and health monitor of the supervisor (defaults in config/schema.ts). */
  readonly supervisor?: SupervisionConfigInput;
  /** Collectors to create at once; more can be added with `addCollector`. */
  readonly collectors?: readonly CollectorConfigInput[];
  /** A pino logger; child loggers are bound to collector and connection. Silent if absent. */
  readonly logger?: Logger;
  /** Time source and scheduler; a simulated clock in tests. Defaults to wall-clock time. */
  readonly clock?: Clock;
  /** Random source for backoff jitter, in [0, 1). Seed it in tests. */
  readonly random?: () => number;
  /** Passed to XState so the Stately inspector (or any observer) can watch the whole actor tree. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/**
 * The collector's lifecycle as the supervisor sees it: `backoff` waits for a restart, `failed`
 * passed its restart limit (or has `autoRestart: false`) and waits for `restartCollector`.
 */
export type CollectorLifecycle =
  | 'idle'
  | 'running'
  | 'backoff'
  | 'error'
  | 'stopped'
  | 'failed'
  | 'disabled';

export interface SubscriptionStatus {
  readonly dataType: DataType;
  readonly symbol: string;
  readonly channel: string;
  readonly state: SubscriptionState;
  readonly code: string | undefined;
  readonly message: string | undefined;
}

export interface ConnectionStatus {
  readonly id: string;
  readonly group: string;
  /** Machine state, e.g. `connecting`, `open.subscribed`, `reconnecting`. */
  readonly state: string;
  /** Heartbeat while open: `waiting`, `checking` (asked the socket), `awaitingPong`. */
  readonly heartbeat: string | undefined;
  readonly attempt: number;
  readonly lastReason: string | undefined;
  readonly openedAt: number | undefined;
}

export interface CollectorStatus {
  readonly id: string;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly dataTypes: readonly DataType[];
  readonly enabled: boolean;
  readonly lifecycle: CollectorLifecycle;
  /** One word for people: connecting, subscribed, reconnecting, error, stopped, disabled. */
  readonly state: string;
  readonly since: number;
  readonly connections: readonly ConnectionStatus[];
  readonly subscriptions: readonly SubscriptionStatus[];
  /** Every order book the collector maintains, one per channel and symbol. */
  readonly books: readonly BookStatus[];
  readonly reconnects: number;
  readonly restarts: number;
  readonly lastRestartReason: string | undefined;
  /** When a restart in backoff is due, epoch ms. */
  readonly nextRestartAt: number | undefined;
  readonly lastError: string | undefined;
  readonly messages: number;
  /** Text received, in UTF-16 code units (bytes for the ASCII JSON exchanges send). */
  readonly bytes: number;
  readonly events: number;
  readonly faults: number;
  readonly faultsByCode: Readonly<Record<string, number>>;
  readonly duplicatesDropped: number;
  readonly lastMessageAt: Readonly<Partial<Record<DataType, number>>>;
  /** The collector's data-silence thresholds per data type, ms (0 = not judged). */
  readonly silenceMs: Readonly<Record<DataType, number>>;
}

export interface HealthStatus {
  readonly healthy: boolean;
  readonly reasons: readonly string[];
}

export interface ManagerStatus {
  readonly startedAt: number;
  readonly uptimeMs: number;
  readonly collectors: readonly CollectorStatus[];
  readonly countsByState: Readonly<Record<string, number>>;
  /** Ids of collectors the supervisor gave up on. */
  readonly failed: readonly string[];
  /** Every fault of the runtime by code, including those of no collector (`subscriber-threw`). */
  readonly faultsByCode: Readonly<Record<string, number>>;
  readonly process: ProcessResources;
}

export interface CollectorSummary {
  readonly id: string;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly enabled: boolean;
  readonly state: string;
}

export type { BookBreak };

/** A maintained order book's integrity, as status shows it: no levels. */
export interface BookStatus {
  readonly channel: string;
  readonly symbol: string;
  /** `quarantined`: it broke again and again and is no longer resynced. */
  readonly state: 'syncing' | 'live' | 'invalid' | 'quarantined';
  /** The exchange's sequence id of the last message applied (OKX `seqId`). */
  readonly sequence: number | undefined;
  /** Times a fresh snapshot was asked for after a break, since the collector started. */
  readonly resyncs: number;
  /** Why the book last broke (`book-sequence-gap`, ...); kept after it recovered. */
  readonly lastFault: BookBreak | undefined;
  /** Receipt time of the last message applied, idle keep-alives included, epoch ms. */
  readonly updatedAt: number | undefined;
}

/** A maintained order book, as a consumer sees it. Only a `live` book is the exchange's book. */
export interface BookView extends BookStatus {
  readonly exchange: string;
  readonly collectorId: string;
  readonly bestBid: BookLevel | undefined;
  readonly bestAsk: BookLevel | undefined;
  /** The best `depth` levels of each side, best first. */
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

export interface BookQuery {
  readonly collectorId?: string;
  /** e.g. `books`, `books5`, `bbo-tbt`; any when absent. */
  readonly channel?: string;
  /** Levels per side in `bids`/`asks`, a positive integer; 25 by default. */
  readonly depth?: number;
}

/** A handle on one collector. */
export interface CollectorHandle {
  readonly id: string;
  getStatus(): CollectorStatus;
  getHealthStatus(): HealthStatus;
}

export interface CollectorManager {
  /** Every normalized market event of every collector. Survives reconnects and restarts. */
  readonly data$: Observable<MarketEvent>;
  /** State transitions, subscription changes, faults and reconnects. */
  readonly telemetry$: Observable<TelemetryEvent>;
  /** The root XState actor (the supervisor). */
  readonly actor: import('xstate').AnyActorRef;
  /** Starts every enabled collector. Idempotent. */
  startAll(): void;
  /** Stops every collector; resolves when every socket is closed. Idempotent. */
  stopAll(): Promise<void>;
  /** Validates and adds a collector (started if the manager is running); returns its id. */
  addCollector(config: CollectorConfigInput): string;
  /** Lifecycle by id; each returns false (and does nothing) for an id it does not know. */
  removeCollector(id: string): boolean;
  enableCollector(id: string): boolean;
  disableCollector(id: string): boolean;
  restartCollector(id: string): boolean;
  restartAll(): void;
  listCollectors(): CollectorSummary[];
  getStatus(): ManagerStatus;
  getCollector(id: string): CollectorHandle | undefined;
  /**
   * When the supervisor's health tick last ran (epoch ms on the manager's clock), and its
   * interval: a tick older than a few intervals means the supervisor is stuck.
   */
  health(): {
    readonly lastTickAt: number | undefined;
    readonly intervalMs: number;
    readonly now: number;
  };
  /** The maintained book of a symbol now, or undefined when no collector keeps one. */
  getBook(symbol: string, query?: BookQuery): BookView | undefined;
  /** The maintained book of a symbol after every change (applied, reset, resynced). */
  book$(symbol: string, query?: BookQuery): Observable<BookView>;
}
