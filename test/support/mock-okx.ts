/**
 * A mock OKX v5 public WebSocket exchange on 127.0.0.1 for tests. It speaks the real protocol
 * (shared/PROTOCOLS.md section 1), replays the recordings in shared/fixtures/okx/ when the test
 * says so, and stages the faults of shared/FAULTS.md on command. It imports nothing from src/:
 * it is the referee, so it must not share the product's mistakes.
 *
 * Replay is driven by the test (`push`, `pushTrades`), never by wall-clock timers, unless
 * `autoReplay` is asked for. Timers come from `node:timers`, so fake timers installed on
 * `globalThis` by a test cannot freeze the mock's own I/O.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { clearInterval, clearTimeout, setImmediate, setInterval, setTimeout } from 'node:timers';
import { type RawData, WebSocket, WebSocketServer } from 'ws';

export type OkxPath = '/ws/v5/public' | '/ws/v5/business';
/** How the mock ends a connection: a close frame with this code, or `terminate` (TCP destroyed). */
export type CloseMode = number | 'terminate';
/** An HTTP status, a TCP reset before any response, or a 101 followed by a frame ws rejects. */
export type UpgradeRefusal = number | 'reset' | 'malformed';
export type UpgradeOutcome = 'accepted' | 'refused' | 'reset' | 'malformed' | 'held' | 'not-found';

export interface MockOkxOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Instruments answered with 60018, as if they did not exist; also `mock.unknownInstIds`. */
  unknownInstIds?: Iterable<string>;
  /** Files under shared/fixtures/okx/, highest priority first (default: OKX recordings). */
  recordings?: readonly string[];
  /** Time for records, synthesized trade `ts` and the operation window (default `Date.now`). */
  clock?: () => number;
  /** Subscribe/unsubscribe requests allowed per connection per rolling hour (OKX: 480). */
  opsPerHour?: number;
  /** Demo use only: push one frame per subscribed stream every `intervalMs` on real timers. */
  autoReplay?: { intervalMs: number };
}

export interface MockConnection {
  /** 1, 2, 3… in order of acceptance; `to` in send options refers to it. */
  readonly id: number;
  /** The 8 hex digits sent as `connId` in acks, errors and notices. */
  readonly connId: string;
  readonly path: OkxPath;
  /** `channel:instId` of every stream this connection is subscribed to. */
  readonly subscriptions: ReadonlySet<string>;
  readonly isOpen: boolean;
  readonly acceptedAt: number;
}

export interface UpgradeAttempt {
  readonly at: number;
  readonly path: string;
  readonly outcome: UpgradeOutcome;
}

export interface ReceivedFrame {
  readonly connection: number;
  readonly text: string;
  /** The parsed frame, or null when it is not JSON (`ping`, garbage). */
  readonly json: unknown;
  readonly binary: boolean;
  readonly at: number;
}

export interface ClosedConnection {
  readonly connection: number;
  /** The code of the client's close frame: 1005 for an empty one, 1006 when none came. */
  readonly code: number;
  readonly reason: string;
  readonly at: number;
}

export interface SubscriptionArg {
  readonly channel: string;
  readonly instId: string;
  readonly [key: string]: string;
}

export interface SubscriptionRequest {
  readonly connection: number;
  readonly op: 'subscribe' | 'unsubscribe';
  readonly args: readonly SubscriptionArg[];
  readonly id?: string;
  readonly at: number;
}

/** A REST order book (docs "GET / Order book"); levels are sent as given, `[px, sz, "0", n]`. */
export interface RestBook {
  readonly bids: readonly (readonly string[])[];
  readonly asks: readonly (readonly string[])[];
  /** Left out of the reply when absent, as before OKX's 2026 change. */
  readonly seqId?: number;
  /** Epoch ms; default: the clock at the request. */
  readonly ts?: number;
}

export interface RestBookOptions {
  /** The first `lagResponses` replies carry `seqId - lagSeq`: a snapshot older than the stream. */
  lagSeq?: number;
  /** Default 1 when `lagSeq` is given. */
  lagResponses?: number;
}

export interface RestRequestLog {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

/** One order book push for `pushBook` (docs "Order book channel"). */
export interface BookPush {
  readonly action: 'snapshot' | 'update';
  readonly seqId: number;
  /** Default: -1 for a snapshot. */
  readonly prevSeqId?: number;
  readonly bids?: readonly (readonly string[])[];
  readonly asks?: readonly (readonly string[])[];
  /** Default 0, as OKX sends since the checksum was retired. */
  readonly checksum?: number;
}

export interface SendOptions {
  /** Default: binary for a Buffer, text for a string; a Buffer sent as text may be bad UTF-8. */
  binary?: boolean;
  /** Split the message into this many frames (first frame, then continuation frames). */
  fragments?: number;
  /** Only this connection id (default: every open connection). */
  to?: number;
}

const FIXTURES = new URL('../../../shared/fixtures/okx/', import.meta.url);
const PATHS: ReadonlySet<string> = new Set<OkxPath>(['/ws/v5/public', '/ws/v5/business']);
// Market-data channels per URL (PROTOCOLS.md "URLs"); anything else is refused with 60018, as
// OKX does today for candles on /public.
const PUBLIC_CHANNELS = new Set([
  ...['tickers', 'trades', 'books', 'books5', 'bbo-tbt', 'books-rpi', 'funding-rate'],
  ...['mark-price', 'index-tickers', 'open-interest', 'price-limit'],
]);
const BUSINESS_CHANNEL = /^((mark-price-|index-)?candle\d+[smHDWM](utc)?|trades-all)$/;
const REQUEST_KEYS = new Set(['op', 'args', 'id']);
const ARG_KEYS = new Set(['channel', 'instId', 'instType', 'instFamily', 'extraParams']);
// OKX docs "Subscribe": id is case-sensitive alphanumerics, at most 32 characters.
const REQUEST_ID = /^[A-Za-z0-9]{1,32}$/;
const ARGS_MAX_BYTES = 64 * 1024;
const HOUR_MS = 3_600_000;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// FIN + RSV1 + text, 2-byte payload "{}": RSV1 without a negotiated extension is a protocol
// error, so ws emits `error` (WS_ERR_UNEXPECTED_RSV_1) then closes with 1002.
const RSV1_FRAME = Buffer.from([0xc1, 0x02, 0x7b, 0x7d]);
// FIN + reserved opcode 0x3, empty payload: WS_ERR_INVALID_OPCODE, close 1002.
const BAD_OPCODE_FRAME = Buffer.from([0x83, 0x00]);
// OKX docs "GET / Order book" (sz at most 400) and "GET / Trades history" (limit at most 100).
const REST_BOOK_MAX_DEPTH = 400;
const REST_TRADES_MAX_LIMIT = 100;
const DIGITS = /^\d+$/;
const NOTICES: Readonly<Record<string, string>> = {
  '64008': 'The connection will soon be closed for a service upgrade. Please reconnect.',
};

const DEFAULT_RECORDINGS: readonly string[] = [
  // Verbatim and the longest: it wins every stream it has (BTC-USDT, UNI-USD-SWAP, BTC-USD-220527).
  'cryptofeed_okx_v5_public_2022-05-13.jsonl',
  ...readdirSync(new URL('ccxt_2026-08/', FIXTURES))
    .filter((name) => name.endsWith('.jsonl') && !name.endsWith('.client.jsonl'))
    .sort()
    .map((name) => `ccxt_2026-08/${name}`),
  'nautilus_books-rpi_OMI-USD_2026-07-30.jsonl',
  'tardis_bbo-tbt_BTC-USDT-SWAP_2022-05-05.jsonl',
];

class Connection implements MockConnection {
  readonly subscriptions = new Set<string>();
  /** Times of the subscribe/unsubscribe requests counted against the hourly budget. */
  readonly operations: number[] = [];

  constructor(
    readonly id: number,
    readonly connId: string,
    readonly path: OkxPath,
    readonly acceptedAt: number,
    readonly ws: WebSocket,
    readonly socket: Duplex,
  ) {}

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
}

export class MockOkx {
  readonly url: string;
  /** The REST origin, `http://127.0.0.1:<port>`: what restBaseFor(url) gives. */
  readonly restUrl: string;
  readonly upgradeAttempts: UpgradeAttempt[] = [];
  readonly received: ReceivedFrame[] = [];
  readonly requests: SubscriptionRequest[] = [];
  readonly closes: ClosedConnection[] = [];
  /** Every REST request, in order of arrival, with the status it was answered with. */
  readonly restRequests: RestRequestLog[] = [];
  readonly unknownInstIds: Set<string>;
  /** Delay of the replies (acks and 60018) to a valid request; its subscriptions start at once. */
  ackDelayMs = 0;
  /** Never reply to valid requests; their subscriptions still start, as data may precede acks. */
  neverAck = false;
  /** End the connection this way when a subscribe arrives, before acking it; null: never. */
  closeOnSubscribe: CloseMode | null = null;
  /** Delay of every REST reply; a client that gives up meanwhile gets none. */
  restDelayMs = 0;

  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, autoPong: false });
  readonly #clock: () => number;
  readonly #opsPerHour: number;
  readonly #recordings: ReadonlyMap<string, readonly string[]>;
  readonly #streams = new Map<string, readonly string[]>();
  readonly #cursors = new Map<string, number>();
  readonly #sockets = new Set<Duplex>();
  readonly #live = new Map<number, Connection>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #restBooks = new Map<string, { book: RestBook; lagSeq: number; lagLeft: number }>();
  /** Every trade that happened, per instId, by trade id: what history-trades serves. */
  readonly #tradeHistory = new Map<string, Map<number, TradeRow>>();
  #rateLimitLeft = 0;
  #rateLimitRetryAfterSec: number | undefined;
  #interval: NodeJS.Timeout | undefined;
  #accepted = 0;
  #pings = 0;
  #answerPings = true;
  #blackhole = false;
  #dataStopped = false;
  #refusal: UpgradeRefusal | null = null;
  #refusalHeaders: Readonly<Record<string, string>> = {};
  #holdUpgrades = false;
  #upgradeDelayMs = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, port: number, options: MockOkxOptions) {
    this.#server = server;
    this.url = `ws://127.0.0.1:${port}/ws/v5`;
    this.restUrl = `http://127.0.0.1:${port}`;
    this.unknownInstIds = new Set(options.unknownInstIds);
    this.#clock = options.clock ?? Date.now;
    this.#opsPerHour = options.opsPerHour ?? 480;
    this.#recordings = loadRecordings(options.recordings ?? DEFAULT_RECORDINGS);
    server.on('connection', (socket) => this.#track(socket));
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    server.on('request', (req, res) => this.#onHttp(req, res));
    if (options.autoReplay !== undefined) {
      this.#interval = setInterval(() => this.#replayTick(), options.autoReplay.intervalMs);
    }
  }

  static async start(options: MockOkxOptions = {}): Promise<MockOkx> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('mock-okx: no TCP port');
    return new MockOkx(server, address.port, options);
  }

  /** Connections whose socket has not closed yet. */
  get connections(): readonly MockConnection[] {
    return [...this.#live.values()];
  }

  /** Every WebSocket handshake the mock completed. */
  get connectionCount(): number {
    return this.#accepted;
  }

  get pingsReceived(): number {
    return this.#pings;
  }

  /** Server-side TCP sockets not yet closed: open, upgrading, held or being refused. */
  openSocketCount(): number {
    return this.#sockets.size;
  }

  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void> {
    return waitFor(predicate, timeoutMs, what);
  }

  // --- fault controls -------------------------------------------------------------------------

  answerPings(on: boolean): this {
    this.#answerPings = on;
    return this;
  }

  /**
   * F1: no pong, no data, no acks, and the client's close frame is ignored, while TCP stays open.
   * Applies to open connections and to every connection accepted until `blackhole(false)`.
   */
  blackhole(on = true): this {
    this.#blackhole = on;
    return this;
  }

  /** While stopped, `push`, `pushTrades` and auto replay send nothing and keep their cursors. */
  stopData(): this {
    this.#dataStopped = true;
    return this;
  }

  resumeData(): this {
    this.#dataStopped = false;
    return this;
  }

  /** Refuse every later upgrade this way until called with null. `headers` go with a status. */
  refuseUpgrades(refusal: UpgradeRefusal | null, headers: Record<string, string> = {}): this {
    this.#refusal = refusal;
    this.#refusalHeaders = headers;
    return this;
  }

  /** Accept TCP but never answer the handshake; held sockets stay until the client or close(). */
  holdUpgrades(on: boolean): this {
    this.#holdUpgrades = on;
    return this;
  }

  delayUpgrade(ms: number): this {
    this.#upgradeDelayMs = ms;
    return this;
  }

  /** Code 1005 sends a close frame without a status code, which is how a client receives 1005. */
  drop(connectionId: number, mode: CloseMode = 'terminate', reason?: string): void {
    const connection = this.#live.get(connectionId);
    if (connection !== undefined) endConnection(connection, mode, reason);
  }

  dropAll(mode: CloseMode = 'terminate', reason?: string): void {
    for (const connection of this.#live.values()) endConnection(connection, mode, reason);
  }

  sendNotice(code = '64008', options: { msg?: string; to?: number } = {}): number {
    const msg = options.msg ?? NOTICES[code] ?? 'Notice.';
    const targets = this.#targets(options.to);
    for (const c of targets) {
      c.ws.send(JSON.stringify({ event: 'notice', code, msg, connId: c.connId }));
    }
    return targets.length;
  }

  /** Sends these exact bytes as one message in `fragments` frames; returns connections reached. */
  sendRaw(data: string | Buffer, options: SendOptions = {}): number {
    const binary = options.binary ?? typeof data !== 'string';
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const pieces = splitInto(bytes, options.fragments);
    const targets = this.#targets(options.to);
    for (const c of targets) {
      for (const [i, piece] of pieces.entries()) {
        c.ws.send(piece, { binary, fin: i === pieces.length - 1 });
      }
    }
    return targets.length;
  }

  /** F8: writes a frame ws must reject straight onto the TCP socket of open connections. */
  sendCorruptFrame(kind: 'rsv1' | 'opcode', to?: number): number {
    const targets = this.#targets(to);
    for (const c of targets) c.socket.write(kind === 'rsv1' ? RSV1_FRAME : BAD_OPCODE_FRAME);
    return targets.length;
  }

  // --- data -----------------------------------------------------------------------------------

  /**
   * Sends the next `count` frames of the stream to every open connection subscribed to it and
   * returns them. The cursor is per stream and wraps at the end of the recording.
   */
  push(channel: string, instId: string, count = 1): string[] {
    const frames = this.framesFor(channel, instId);
    if (this.#silent() || frames.length === 0) return [];
    const key = `${channel}:${instId}`;
    const cursor = this.#cursors.get(key) ?? 0;
    const at = (i: number) => frames[(cursor + i) % frames.length] ?? '';
    const sent = Array.from({ length: count }, (_, i) => at(i));
    this.#cursors.set(key, cursor + count);
    this.#broadcast(key, sent);
    return sent;
  }

  /**
   * Synthesizes `trades` frames with these trade ids (F7), `perFrame` trades per frame, values
   * from a recorded trade, `ts` from the clock; `seqId` is the trade id when the template has one.
   * The trades also enter the REST history, even while data is stopped or blackholed: the
   * exchange traded, the client just did not hear it.
   */
  pushTrades(
    instId: string,
    ids: readonly number[],
    options: { perFrame?: number } = {},
  ): string[] {
    const template = firstDataItem(this.framesFor('trades', instId));
    const rows = this.#recordTrades(instId, ids, template);
    if (this.#silent()) return [];
    const perFrame = options.perFrame ?? 1;
    const sent: string[] = [];
    for (let i = 0; i < ids.length; i += perFrame) {
      const data = rows.slice(i, i + perFrame).map((row) => ({
        ...template,
        instId,
        tradeId: row.tradeId,
        ts: row.ts,
        ...(typeof template.seqId === 'number' ? { seqId: Number(row.tradeId) } : {}),
      }));
      sent.push(JSON.stringify({ arg: { channel: 'trades', instId }, data }));
    }
    this.#broadcast(`trades:${instId}`, sent);
    return sent;
  }

  /**
   * Sends one `books` push (or another incremental book channel) to its subscribers, shaped like
   * OKX's: `{arg, action, data: [{asks, bids, ts, checksum, prevSeqId, seqId}]}`.
   */
  pushBook(instId: string, push: BookPush, channel = 'books'): string {
    const element = {
      asks: push.asks ?? [],
      bids: push.bids ?? [],
      ts: String(this.#clock()),
      checksum: push.checksum ?? 0,
      prevSeqId: push.prevSeqId ?? (push.action === 'snapshot' ? -1 : push.seqId),
      seqId: push.seqId,
    };
    const frame = JSON.stringify({
      arg: { channel, instId },
      action: push.action,
      data: [element],
    });
    if (!this.#silent()) this.#broadcast(`${channel}:${instId}`, [frame]);
    return frame;
  }

  // --- REST -----------------------------------------------------------------------------------

  /** The book `GET /api/v5/market/books` serves for `instId` from now on. */
  setRestBook(instId: string, book: RestBook, options: RestBookOptions = {}): this {
    const lagSeq = options.lagSeq ?? 0;
    const lagLeft = lagSeq === 0 ? 0 : (options.lagResponses ?? 1);
    this.#restBooks.set(instId, { book, lagSeq, lagLeft });
    return this;
  }

  /** Trades that happen without being pushed, as during an outage; history-trades has them. */
  recordTrades(instId: string, ids: readonly number[]): this {
    this.#recordTrades(instId, ids, firstDataItem(this.framesFor('trades', instId)));
    return this;
  }

  /** Ids of every trade of `instId` the REST history holds, ascending. */
  tradeHistory(instId: string): number[] {
    return [...(this.#tradeHistory.get(instId)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The next `count` REST requests get 429 with OKX's 50011 body, and `Retry-After` if given. */
  restRateLimit(count: number, retryAfterSec?: number): this {
    this.#rateLimitLeft = count;
    this.#rateLimitRetryAfterSec = retryAfterSec;
    return this;
  }

  /**
   * The frames `push` replays for a stream: the recording's lines byte-for-byte when it has the
   * instrument, else a recording of the same channel and instrument kind with `instId` replaced.
   */
  framesFor(channel: string, instId: string): readonly string[] {
    const key = `${channel}:${instId}`;
    let frames = this.#streams.get(key) ?? this.#recordings.get(key);
    if (frames === undefined) {
      const template = this.#recordings.get(templateKey(this.#recordings, channel, instId) ?? '');
      frames = (template ?? []).map((line) => withInstId(line, instId));
    }
    this.#streams.set(key, frames);
    return frames;
  }

  // --- lifecycle ------------------------------------------------------------------------------

  /** Terminates every socket, pending upgrade and timer, then closes the server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#interval);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const connection of this.#live.values()) connection.ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    this.#wss.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await waitFor(() => this.#sockets.size === 0 && this.#live.size === 0, 2000, 'sockets closed');
  }

  // --- upgrades -------------------------------------------------------------------------------

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // A client that resets a held or refused upgrade must not crash the test process.
    socket.on('error', () => {});
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const outcome = this.#upgradeOutcome(path);
    this.upgradeAttempts.push({ at: this.#clock(), path, outcome });
    switch (outcome) {
      case 'not-found':
        writeHttpRefusal(socket, 404);
        break;
      case 'refused':
        writeHttpRefusal(socket, Number(this.#refusal), this.#refusalHeaders);
        break;
      case 'reset':
        resetSocket(socket);
        break;
      case 'malformed':
        acceptWithCorruptFrame(req, socket);
        break;
      case 'held':
        holdSocket(socket);
        break;
      case 'accepted':
        this.#later(this.#upgradeDelayMs, () => this.#accept(req, socket, head, path));
    }
  }

  #upgradeOutcome(path: string): UpgradeOutcome {
    if (!PATHS.has(path)) return 'not-found';
    if (typeof this.#refusal === 'number') return 'refused';
    if (this.#refusal !== null) return this.#refusal;
    return this.#holdUpgrades ? 'held' : 'accepted';
  }

  #accept(req: IncomingMessage, socket: Duplex, head: Buffer, path: string): void {
    if (socket.destroyed) return; // the client gave up during a delayed upgrade
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const id = ++this.#accepted;
      const connId = randomBytes(4).toString('hex');
      const connection = new Connection(id, connId, path as OkxPath, this.#clock(), ws, socket);
      this.#live.set(id, connection);
      // ws answers a client's close frame by calling close() on this instance; shadowing it is
      // the one hook that lets a blackholed server ignore the close handshake (F1). The mock's
      // own closes go through WebSocket.prototype.close.
      ws.close = (code?: number, data?: string | Buffer) => {
        if (!this.#blackhole) WebSocket.prototype.close.call(ws, code, data);
      };
      ws.on('ping', (data) => {
        if (!this.#blackhole) ws.pong(data);
      });
      ws.on('message', (data, isBinary) => this.#onMessage(connection, data, isBinary));
      ws.on('error', () => {}); // a client's invalid frame: ws closes with the right code itself
      ws.on('close', (code, reason) => {
        this.#live.delete(id);
        this.closes.push({ connection: id, code, reason: String(reason), at: this.#clock() });
      });
    });
  }

  // --- REST requests --------------------------------------------------------------------------

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const reply = this.#restReply(method, url.pathname, query);
    this.restRequests.push({
      at: this.#clock(),
      method,
      path: url.pathname,
      query,
      status: reply.status,
    });
    req.resume();
    this.#later(this.restDelayMs, () => {
      if (res.destroyed) return; // the client gave up during a delayed reply
      const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
      // Connection: close keeps openSocketCount() meaningful: no idle keep-alive sockets linger.
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        connection: 'close',
        ...reply.headers,
      });
      res.end(body);
    });
  }

  #restReply(method: string, path: string, query: Readonly<Record<string, string>>): RestReply {
    const route = REST_ROUTES[path];
    if (route === undefined) return { status: 404, body: undefined, headers: {} };
    if (method !== 'GET') return okxError(405, '50115', 'Invalid request method.');
    if (this.#rateLimitLeft > 0) {
      this.#rateLimitLeft--;
      const after = this.#rateLimitRetryAfterSec;
      // The body of a live 429 (c9s/bbgo PR #1534); OKX documents no Retry-After.
      return {
        status: 429,
        body: { msg: 'Too Many Requests', code: '50011' },
        headers: after === undefined ? {} : { 'retry-after': String(after) },
      };
    }
    const instId = query.instId ?? '';
    if (instId === '') return okxError(400, '50014', 'Parameter instId can not be empty.');
    if (this.unknownInstIds.has(instId)) {
      return okxError(200, '51001', "Instrument ID or Spread ID doesn't exist.");
    }
    return route === 'books' ? this.#bookReply(instId, query) : this.#tradesReply(instId, query);
  }

  #bookReply(instId: string, query: Readonly<Record<string, string>>): RestReply {
    const sz = query.sz ?? '1';
    const depth = Number(sz);
    if (!DIGITS.test(sz) || depth < 1 || depth > REST_BOOK_MAX_DEPTH) {
      return okxError(400, '51000', 'Parameter sz error');
    }
    const entry = this.#restBooks.get(instId);
    const book: RestBook = entry?.book ?? { bids: [], asks: [] };
    let seqId = book.seqId;
    if (entry !== undefined && entry.lagLeft > 0 && seqId !== undefined) {
      entry.lagLeft--;
      seqId -= entry.lagSeq;
    }
    // Field order of the docs' example; seqId, which the 2026 procedure reads, last.
    const data = {
      asks: book.asks.slice(0, depth),
      bids: book.bids.slice(0, depth),
      ts: String(book.ts ?? this.#clock()),
      ...(seqId === undefined ? {} : { seqId }),
    };
    return { status: 200, body: { code: '0', msg: '', data: [data] }, headers: {} };
  }

  /**
   * Docs "GET / Trades history": newest first; `type` 1 pages by tradeId (default), 2 by ts;
   * `after` older than, `before` newer than (tradeId only, else 50039); `limit` at most 100.
   * `before` alone returns the newest trades above it, as the docs put it.
   */
  #tradesReply(instId: string, query: Readonly<Record<string, string>>): RestReply {
    const type = query.type ?? '1';
    if (type !== '1' && type !== '2') return okxError(400, '51000', 'Parameter type error');
    const { after, before } = query;
    for (const [name, value] of [
      ['after', after],
      ['before', before],
      ['limit', query.limit],
    ] as const) {
      if (value !== undefined && !DIGITS.test(value)) {
        return okxError(400, '51000', `Parameter ${name} error`);
      }
    }
    if (type === '2' && before !== undefined) {
      return okxError(200, '50039', 'Parameter "before" isn\'t supported for timestamp pagination');
    }
    const limit = Math.min(Number(query.limit ?? REST_TRADES_MAX_LIMIT), REST_TRADES_MAX_LIMIT);
    const key = (row: TradeRow): number => (type === '1' ? Number(row.tradeId) : Number(row.ts));
    const rows = [...(this.#tradeHistory.get(instId)?.values() ?? [])]
      .filter((row) => after === undefined || key(row) < Number(after))
      .filter((row) => before === undefined || key(row) > Number(before))
      .sort((a, b) => key(b) - key(a) || Number(b.tradeId) - Number(a.tradeId))
      .slice(0, limit);
    return { status: 200, body: { code: '0', msg: '', data: rows }, headers: {} };
  }

  #recordTrades(
    instId: string,
    ids: readonly number[],
    template: Record<string, unknown>,
  ): TradeRow[] {
    let history = this.#tradeHistory.get(instId);
    if (history === undefined) {
      history = new Map();
      this.#tradeHistory.set(instId, history);
    }
    const rows: TradeRow[] = [];
    for (const id of ids) {
      // The REST row of docs "GET / Trades history": one fill, no count and no seqId.
      const row: TradeRow = {
        instId,
        side: typeof template.side === 'string' ? template.side : 'buy',
        sz: typeof template.sz === 'string' ? template.sz : '1',
        px: typeof template.px === 'string' ? template.px : '1',
        tradeId: String(id),
        ts: String(this.#clock()),
      };
      history.set(id, row);
      rows.push(row);
    }
    return rows;
  }

  // --- requests -------------------------------------------------------------------------------

  #onMessage(connection: Connection, data: RawData, binary: boolean): void {
    const text = rawText(data);
    const json = parseJson(text);
    this.received.push({ connection: connection.id, text, json, binary, at: this.#clock() });
    if (binary) return; // OKX requests are text frames; a binary frame gets no answer
    // ping is a 4-byte text frame, not JSON (PROTOCOLS.md "Heartbeat").
    if (text === 'ping') {
      this.#pings++;
      if (this.#answerPings) this.#reply(connection, ['pong']);
      return;
    }
    const verdict = parseRequest(text, json);
    if (verdict.ok) {
      this.#onRequest(connection, verdict);
    } else {
      const { code, msg, id } = verdict;
      this.#reply(connection, [errorFrame(code, msg, id, connection.connId)]);
    }
  }

  #onRequest(connection: Connection, { op, args, id }: ValidRequest): void {
    this.requests.push({ connection: connection.id, op, args, ...idField(id), at: this.#clock() });
    if (!this.#takeOperation(connection)) {
      const frame = errorFrame('60014', 'Requests too frequent.', id, connection.connId);
      this.#reply(connection, [frame]);
    } else if (op === 'subscribe' && this.closeOnSubscribe !== null) {
      endConnection(connection, this.closeOnSubscribe);
    } else {
      const replies = args.map((arg) => this.#applyArg(connection, op, arg, id));
      if (!this.neverAck) this.#later(this.ackDelayMs, () => this.#reply(connection, replies));
    }
  }

  /** Starts or stops one stream and returns the reply: one ack, or one 60018 error without arg. */
  #applyArg(connection: Connection, op: string, arg: SubscriptionArg, id?: string): string {
    const { channel, instId } = arg;
    const channelExists =
      connection.path === '/ws/v5/public'
        ? PUBLIC_CHANNELS.has(channel)
        : BUSINESS_CHANNEL.test(channel);
    if (!channelExists || this.unknownInstIds.has(instId)) {
      // OKX error frames carry no `arg` (PROTOCOLS.md "Subscribe / ack / error shapes"): the client
      // correlates by the echoed id or by parsing msg. One error per bad arg, as the others go on.
      const msg = `Wrong URL or channel:${channel},instId:${instId} doesn't exist. Please use the correct URL, channel and parameters referring to API document.`;
      return errorFrame('60018', msg, id, connection.connId);
    }
    const key = `${channel}:${instId}`;
    if (op === 'subscribe') connection.subscriptions.add(key);
    else connection.subscriptions.delete(key);
    return JSON.stringify({ ...idField(id), event: op, arg, connId: connection.connId });
  }

  /** OKX counts every subscribe/unsubscribe request, whatever its size, per connection per hour. */
  #takeOperation(connection: Connection): boolean {
    const now = this.#clock();
    const times = connection.operations;
    while ((times[0] ?? Number.POSITIVE_INFINITY) <= now - HOUR_MS) times.shift();
    if (times.length >= this.#opsPerHour) return false;
    times.push(now);
    return true;
  }

  // --- sending --------------------------------------------------------------------------------

  /** Protocol replies and data; a blackholed server sends none of them. */
  #reply(connection: Connection, frames: readonly string[]): void {
    if (this.#blackhole || !connection.isOpen) return;
    for (const frame of frames) connection.ws.send(frame);
  }

  #broadcast(key: string, frames: readonly string[]): void {
    for (const connection of this.#live.values()) {
      if (connection.subscriptions.has(key)) this.#reply(connection, frames);
    }
  }

  #silent(): boolean {
    return this.#dataStopped || this.#blackhole;
  }

  #replayTick(): void {
    const keys = new Set([...this.#live.values()].flatMap((c) => [...c.subscriptions]));
    for (const key of keys) {
      const colon = key.indexOf(':');
      this.push(key.slice(0, colon), key.slice(colon + 1));
    }
  }

  #targets(to?: number): Connection[] {
    return [...this.#live.values()].filter((c) => c.isOpen && (to === undefined || c.id === to));
  }

  /** Runs `fn` after `ms` on a real timer that close() cancels; at once when `ms` is 0. */
  #later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }
}

/**
 * Resolves once `predicate` holds, polling on real timers (alternating setImmediate and a 5 ms
 * sleep) so socket I/O can settle while the product's machines run on a simulated clock.
 */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 2000,
  what = 'condition',
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let round = 0; !predicate(); round++) {
    if (performance.now() > deadline) {
      throw new Error(`waitFor: ${what} not met in ${timeoutMs} ms`);
    }
    await new Promise<void>((resolve) => {
      if (round % 2 === 0) setImmediate(resolve);
      else setTimeout(resolve, 5);
    });
  }
}

// --- REST helpers -------------------------------------------------------------------------------

interface TradeRow {
  readonly instId: string;
  readonly side: string;
  readonly sz: string;
  readonly px: string;
  readonly tradeId: string;
  readonly ts: string;
}

interface RestReply {
  readonly status: number;
  /** Sent as JSON; undefined sends an empty body. */
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

const REST_ROUTES: Readonly<Record<string, 'books' | 'trades'>> = {
  '/api/v5/market/books': 'books',
  '/api/v5/market/history-trades': 'trades',
};

/** OKX errors keep the envelope: `{code, msg, data: []}` (docs error table "REST API > Public"). */
function okxError(status: number, code: string, msg: string): RestReply {
  return { status, body: { code, msg, data: [] }, headers: {} };
}

// --- request validation -------------------------------------------------------------------------

interface ValidRequest {
  ok: true;
  op: 'subscribe' | 'unsubscribe';
  args: SubscriptionArg[];
  id?: string;
}

type Verdict = ValidRequest | { ok: false; code: string; msg: string; id?: string };

/**
 * Strict, as F4 requires: unknown keys, a malformed id, empty or malformed args → 60012 with the
 * raw text; an op OKX does not serve here → 60019; args over 64 KB → 60013 "Invalid args".
 */
function parseRequest(text: string, json: unknown): Verdict {
  const id = isRecord(json) && typeof json.id === 'string' ? json.id : undefined;
  const invalid: Verdict = {
    ok: false,
    code: '60012',
    msg: `Invalid request: ${text}`,
    ...idField(id),
  };
  if (!isRecord(json) || Object.keys(json).some((key) => !REQUEST_KEYS.has(key))) return invalid;
  if ('id' in json && (id === undefined || !REQUEST_ID.test(id))) return invalid;
  const { op, args } = json;
  if (typeof op !== 'string') return invalid;
  if (op !== 'subscribe' && op !== 'unsubscribe') {
    return { ok: false, code: '60019', msg: `Invalid op: ${op}`, ...idField(id) };
  }
  if (!Array.isArray(args) || args.length === 0 || !args.every(isSubscriptionArg)) return invalid;
  if (Buffer.byteLength(JSON.stringify(args)) > ARGS_MAX_BYTES) {
    return { ok: false, code: '60013', msg: 'Invalid args', ...idField(id) };
  }
  return { ok: true, op, args, ...idField(id) };
}

function isSubscriptionArg(value: unknown): value is SubscriptionArg {
  if (!isRecord(value)) return false;
  const entries = Object.entries(value);
  return (
    typeof value.channel === 'string' &&
    value.channel !== '' &&
    typeof value.instId === 'string' &&
    value.instId !== '' &&
    entries.every(([key, field]) => ARG_KEYS.has(key) && typeof field === 'string')
  );
}

function errorFrame(code: string, msg: string, id: string | undefined, connId: string): string {
  return JSON.stringify({ ...idField(id), event: 'error', code, msg, connId });
}

/** OKX puts the echoed id first (docs "Subscribe" examples); absent when the request had none. */
function idField(id: string | undefined): { id?: string } {
  return id === undefined ? {} : { id };
}

// --- recordings ---------------------------------------------------------------------------------

/** Data frames per `channel:instId`; the first file holding a stream wins it, whole. */
function loadRecordings(files: readonly string[]): Map<string, readonly string[]> {
  const streams = new Map<string, readonly string[]>();
  for (const file of files) {
    const found = new Map<string, string[]>();
    for (const line of readFileSync(new URL(file, FIXTURES), 'utf8').split('\n')) {
      const key = streamKey(parseJson(line));
      if (key !== undefined) found.set(key, [...(found.get(key) ?? []), line]);
    }
    // One stream never mixes two recording sessions: their ids and times would not line up.
    for (const [key, lines] of found) if (!streams.has(key)) streams.set(key, lines);
  }
  return streams;
}

function streamKey(frame: unknown): string | undefined {
  if (!isRecord(frame) || 'event' in frame || !('data' in frame) || !isRecord(frame.arg)) return;
  const { channel, instId } = frame.arg;
  return typeof channel === 'string' && typeof instId === 'string'
    ? `${channel}:${instId}`
    : undefined;
}

/** A recorded stream of the same channel, preferring the same instrument kind (instType). */
function templateKey(
  recordings: ReadonlyMap<string, unknown>,
  channel: string,
  instId: string,
): string | undefined {
  const candidates = [...recordings.keys()].filter((key) => key.startsWith(`${channel}:`));
  const kind = instrumentKind(instId);
  return (
    candidates.find((key) => instrumentKind(key.slice(channel.length + 1)) === kind) ??
    candidates[0]
  );
}

function instrumentKind(instId: string): string {
  if (instId.endsWith('-SWAP')) return 'SWAP';
  if (/-[CP]$/.test(instId)) return 'OPTION';
  if (/-\d{6}$/.test(instId)) return 'FUTURES';
  return 'SPOT';
}

/** Keeps every value and key order, replaces the instrument in `arg` and in each data item. */
function withInstId(line: string, instId: string): string {
  const frame = parseJson(line);
  if (!isRecord(frame) || !isRecord(frame.arg)) return line;
  const data = Array.isArray(frame.data) ? frame.data : [];
  return JSON.stringify({
    ...frame,
    arg: { ...frame.arg, instId },
    data: data.map((item: unknown) =>
      isRecord(item) && 'instId' in item ? { ...item, instId } : item,
    ),
  });
}

function firstDataItem(frames: readonly string[]): Record<string, unknown> {
  const frame = parseJson(frames[0] ?? '');
  const item: unknown = isRecord(frame) && Array.isArray(frame.data) ? frame.data[0] : undefined;
  return isRecord(item) ? item : { px: '1', sz: '1', side: 'buy' };
}

// --- low-level helpers --------------------------------------------------------------------------

function writeHttpRefusal(
  socket: Duplex,
  status: number,
  headers: Readonly<Record<string, string>> = {},
): void {
  const reason = STATUS_CODES[status] ?? 'Unknown';
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    'Connection: close',
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(reason)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.resume(); // drain, so the client's FIN is seen and the socket closes
  socket.end(`${lines.join('\r\n')}\r\n\r\n${reason}`);
}

/** Completes the handshake by hand, then sends a frame ws must reject, then ends the socket. */
function acceptWithCorruptFrame(req: IncomingMessage, socket: Duplex): void {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string') {
    writeHttpRefusal(socket, 400);
    return;
  }
  const accept = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  const handshake = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${accept}`,
  ];
  socket.resume();
  socket.write(`${handshake.join('\r\n')}\r\n\r\n`);
  socket.end(RSV1_FRAME);
}

function endConnection(connection: Connection, mode: CloseMode, reason?: string): void {
  if (mode === 'terminate') {
    connection.ws.terminate();
    return;
  }
  // An empty close frame is the only way to make the peer report 1005 (no status received).
  const code = mode === 1005 ? undefined : mode;
  WebSocket.prototype.close.call(connection.ws, code, code === undefined ? undefined : reason);
}

/**
 * Keeps the TCP connection and never answers, so the client's connect timeout must fire. The
 * socket is drained so that the client's FIN is seen: the server allows half-open sockets, and a
 * held socket the client gave up on would otherwise stay open forever.
 */
function holdSocket(socket: Duplex): void {
  socket.resume();
  socket.once('end', () => socket.destroy());
}

/** An RST instead of a FIN: the client sees ECONNRESET during its upgrade (F2). */
function resetSocket(socket: Duplex): void {
  if (socket instanceof Socket) socket.resetAndDestroy();
  else socket.destroy();
}

function splitInto(bytes: Buffer, fragments = 1): Buffer[] {
  const count = Math.max(1, Math.min(fragments, bytes.length));
  const size = Math.ceil(bytes.length / count);
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
