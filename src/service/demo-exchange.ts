import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  loadReplayProgram,
  type RecordedFrame,
  type ReplayProgram,
  restampFrame,
} from './recordings.ts';

/**
 * A small OKX v5 endpoint on 127.0.0.1 for `market-collector demo`: text ping/pong, one ack per
 * subscribe arg, 60018 for what it has no recording of (or on the wrong one of `/public` and
 * `/business`), and the recorded frames of every subscribed channel and instrument, paced as
 * recorded and looped (later passes re-stamped, see `restampFrame`). The replay is one market for
 * all connections, as on the real exchange: it starts with the first subscription and runs on
 * whether or not anyone listens, so a reconnecting client misses the trades and tickers sent
 * meanwhile. Books are the exception, as on OKX: a subscriber gets the book at once (`booksOf`).
 */

export const DEMO_DEFAULTS = {
  /** Replay speed factor: 2 plays twice as fast as recorded. */
  speed: 1,
  /** Passes over the recordings before `market-collector demo` stops; 0 means never. */
  loops: 0,
} as const;

/**
 * Real time (not scaled) between the first subscription and the first frame. The recordings start
 * within milliseconds of their acks; a client that subscribes in several requests would miss the
 * first frames of its later ones without it.
 */
const LEAD_IN_MS = 100;

/** The URL prefix OKX serves v5 on; `/public` and `/business` follow it. */
const PATH_PREFIX = '/ws/v5/';

/**
 * Docs "Order book channel": on subscribe a book channel pushes its snapshot first, then updates
 * (`books`, the `-l2-tbt` ones, `books-rpi`), or each push is the whole book (`books5`, `bbo-tbt`).
 */
const BOOK_CHANNELS: ReadonlySet<string> = new Set([
  'books',
  'books5',
  'bbo-tbt',
  'books-l2-tbt',
  'books50-l2-tbt',
  'books-rpi',
]);

export interface DemoExchangeOptions {
  readonly speed?: number;
  /** Passes to play before the replay ends (the server stays up); 0 or absent: forever. */
  readonly passes?: number;
  /** Folder of recordings; the ones shipped in the package by default. */
  readonly recordings?: URL;
}

export interface DemoExchange {
  readonly port: number;
  /** Base endpoint for a collector: `ws://127.0.0.1:<port>/ws/v5`. */
  readonly endpoint: string;
  /** Instrument ids that have recorded frames, sorted. */
  readonly instruments: readonly string[];
  /** The instrument ids recorded on each channel, sorted, channels in name order. */
  readonly channels: ReadonlyMap<string, readonly string[]>;
  /** The replayed program, for tests that compare what they receive with the recording. */
  readonly program: ReplayProgram;
  /** Passes over the recordings completed so far. */
  passes(): number;
  /** Frames replayed so far, over every pass, whether or not anyone was subscribed. */
  framesSent(): number;
  /** Ends every client connection at once (no close frame), so a demo can show a reconnect. */
  dropConnections(): number;
  /** Called after each completed pass with the count so far; returns an unsubscribe. */
  onPass(listener: (passes: number) => void): () => void;
  /** Closes every connection and the server; idempotent. */
  close(): Promise<void>;
}

interface Client {
  readonly socket: WebSocket;
  readonly connId: string;
  /** `public` or `business`, from the URL. */
  readonly group: string;
  readonly subscriptions: Set<string>;
}

/** What every connection shares: the recordings and the one replay. */
interface Market {
  /** Every channel and instrument with recorded frames. */
  readonly available: ReadonlySet<string>;
  readonly startReplay: () => void;
  /** The frames that bring a new subscriber of a book to where the replay is now. */
  readonly bookSoFar: (key: string) => readonly string[];
}

export async function startDemoExchange(options: DemoExchangeOptions = {}): Promise<DemoExchange> {
  const speed = options.speed ?? DEMO_DEFAULTS.speed;
  if (!(Number.isFinite(speed) && speed > 0)) throw new RangeError(`speed must be > 0: ${speed}`);
  const program = await loadReplayProgram(options.recordings);
  const clients = new Set<Client>();
  const listeners = new Set<(passes: number) => void>();
  const replay = createReplay({
    program,
    speed,
    maxPasses: options.passes ?? 0,
    send: (frame, pass) => broadcast(clients, frame, pass),
    onPass: (passes) => {
      for (const listener of listeners) listener(passes);
    },
  });
  const market: Market = {
    available: new Set(program.frames.map((f) => channelKey(f.channel, f.instId))),
    startReplay: replay.start,
    bookSoFar: booksOf(program, replay),
  };
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    accept(socket, groupOfUrl(req.url ?? ''), clients, market);
  });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => upgrade(wss, req, socket, head));
  const port = await listen(server);
  let closing: Promise<void> | undefined;
  return {
    port,
    endpoint: `ws://127.0.0.1:${port}/ws/v5`,
    instruments: [...new Set(program.frames.map((f) => f.instId))].sort(),
    channels: channelsOf(program),
    program,
    passes: () => replay.passes(),
    framesSent: () => replay.framesSent(),
    dropConnections() {
      const dropped = clients.size;
      for (const client of clients) client.socket.terminate();
      return dropped;
    },
    onPass(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closing ??= shutDown(server, wss, clients, replay.stop);
      return closing;
    },
  };
}

function accept(socket: WebSocket, group: string, clients: Set<Client>, market: Market): void {
  const client: Client = {
    socket,
    connId: randomBytes(4).toString('hex'),
    group,
    subscriptions: new Set(),
  };
  clients.add(client);
  socket.on('message', (data: RawData, isBinary: boolean) => {
    onMessage(client, data, isBinary, market);
  });
  socket.on('close', () => clients.delete(client));
  // A protocol error from a client ends that client only; ws closes it after emitting.
  socket.on('error', () => socket.terminate());
}

function upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  if (!(req.url ?? '').startsWith(PATH_PREFIX)) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
}

function onMessage(client: Client, data: RawData, isBinary: boolean, market: Market): void {
  const text = isBinary ? undefined : rawText(data);
  // OKX heartbeat: the 4-byte text `ping`, answered with the text `pong` (not JSON).
  if (text === 'ping') {
    client.socket.send('pong');
    return;
  }
  const request = parseJson(text);
  const id = isRecord(request) && typeof request.id === 'string' ? request.id : undefined;
  const op = isRecord(request) ? request.op : undefined;
  const args = isRecord(request) && Array.isArray(request.args) ? request.args : undefined;
  if (args === undefined) {
    reply(client, id, { event: 'error', code: '60012', msg: `Invalid request: ${text}` });
  } else if (op !== 'subscribe' && op !== 'unsubscribe') {
    reply(client, id, { event: 'error', code: '60019', msg: `Invalid op: ${String(op)}` });
  } else {
    for (const arg of args as unknown[]) answerArg(client, op, arg, id, market);
    if (op === 'subscribe' && client.subscriptions.size > 0) market.startReplay();
  }
}

/** OKX acks every arg on its own (duplicates too) and refuses bad ones without naming the arg. */
function answerArg(
  client: Client,
  op: 'subscribe' | 'unsubscribe',
  arg: unknown,
  id: string | undefined,
  market: Market,
): void {
  const channel = isRecord(arg) ? String(arg.channel) : 'undefined';
  const instId = isRecord(arg) ? String(arg.instId) : 'undefined';
  const key = channelKey(channel, instId);
  if (market.available.has(key) && groupOf(channel) === client.group) {
    if (op === 'subscribe') client.subscriptions.add(key);
    else client.subscriptions.delete(key);
    reply(client, id, { event: op, arg });
    // After the ack, as OKX sends them; every subscribe, a repeated one too, starts the book over.
    if (op === 'subscribe' && BOOK_CHANNELS.has(channel)) {
      for (const text of market.bookSoFar(key)) send(client, text);
    }
    return;
  }
  const msg =
    `Wrong URL or channel:${channel},instId:${instId} doesn't exist. ` +
    'Please use the correct URL, channel and parameters referring to API document.';
  reply(client, id, { event: 'error', code: '60018', msg });
}

/** OKX puts the echoed `id` first and the `connId` last. */
function reply(client: Client, id: string | undefined, body: Record<string, unknown>): void {
  const frame = { ...(id === undefined ? {} : { id }), ...body, connId: client.connId };
  send(client, JSON.stringify(frame));
}

function send(client: Client, text: string): void {
  if (client.socket.readyState === WebSocket.OPEN) client.socket.send(text);
}

/**
 * For each recorded book, the frames a subscriber needs before the replay's next one: from the
 * last snapshot the replay has sent in this pass (for `books5` and `bbo-tbt` every push is one)
 * through every update after it, in order and as the pass stamps them. Updates alone would not
 * do: the client cannot apply them to a book it never had, and the checksum of each one is that
 * of the book after it. Before the pass has sent its snapshot there is nothing to send: the live
 * frames bring the snapshot first.
 */
function booksOf(program: ReplayProgram, replay: Replay): (key: string) => readonly string[] {
  const byKey = new Map<string, { readonly index: number; readonly frame: RecordedFrame }[]>();
  program.frames.forEach((frame, index) => {
    if (!BOOK_CHANNELS.has(frame.channel)) return;
    const key = channelKey(frame.channel, frame.instId);
    const book = byKey.get(key) ?? [];
    book.push({ index, frame });
    byKey.set(key, book);
  });
  return (key) => {
    const { pass, index } = replay.position();
    const sent = (byKey.get(key) ?? []).filter((entry) => entry.index < index);
    const from = sent.findLastIndex(({ frame }) => frame.action !== 'update');
    if (from < 0) return [];
    const now = Date.now();
    return sent.slice(from).map(({ frame }) => restampFrame(frame.text, pass, now));
  };
}

function broadcast(clients: ReadonlySet<Client>, frame: RecordedFrame, pass: number): void {
  const key = channelKey(frame.channel, frame.instId);
  let text: string | undefined;
  for (const client of clients) {
    if (client.subscriptions.has(key) && client.socket.readyState === WebSocket.OPEN) {
      text ??= restampFrame(frame.text, pass, Date.now());
      client.socket.send(text);
    }
  }
}

interface Replay {
  readonly start: () => void;
  readonly stop: () => void;
  readonly passes: () => number;
  readonly framesSent: () => number;
  /** The pass being played (0 = the first) and the index of its next frame. */
  readonly position: () => { readonly pass: number; readonly index: number };
}

interface ReplayOptions {
  readonly program: ReplayProgram;
  readonly speed: number;
  readonly maxPasses: number;
  readonly send: (frame: RecordedFrame, pass: number) => void;
  readonly onPass: (passes: number) => void;
}

/** One timer at a time; due times are measured from the pass start, so delays never drift. */
function createReplay(options: ReplayOptions): Replay {
  const { program, speed, maxPasses, send, onPass } = options;
  const { frames, durationMs } = program;
  let timer: NodeJS.Timeout | undefined;
  let passStart = 0;
  let index = 0;
  let passes = 0;
  let sent = 0;
  let state: 'idle' | 'running' | 'done' = 'idle';
  const dueAt = (atMs: number) => passStart + atMs / speed;
  const schedule = () => {
    const due = dueAt(frames[index]?.atMs ?? durationMs);
    timer = setTimeout(tick, Math.max(0, due - performance.now()));
    // The demo server must never be what keeps a finished process alive.
    timer.unref();
  };
  const tick = () => {
    const now = performance.now();
    for (let frame = frames[index]; frame && dueAt(frame.atMs) <= now; frame = frames[index]) {
      send(frame, passes);
      index += 1;
      sent += 1;
    }
    if (index >= frames.length && dueAt(durationMs) <= now) {
      passStart = dueAt(durationMs);
      index = 0;
      passes += 1;
      if (passes === maxPasses) state = 'done';
      onPass(passes);
    }
    if (state === 'running') schedule();
  };
  return {
    start() {
      if (state !== 'idle') return;
      state = 'running';
      passStart = performance.now() + LEAD_IN_MS;
      schedule();
    },
    stop() {
      state = 'done';
      clearTimeout(timer);
    },
    passes: () => passes,
    framesSent: () => sent,
    position: () => ({ pass: passes, index }),
  };
}

async function shutDown(
  server: Server,
  wss: WebSocketServer,
  clients: ReadonlySet<Client>,
  stopReplay: () => void,
): Promise<void> {
  stopReplay();
  for (const client of clients) client.socket.terminate();
  server.closeAllConnections();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function channelKey(channel: string, instId: string): string {
  return `${channel}\u0000${instId}`;
}

function channelsOf(program: ReplayProgram): ReadonlyMap<string, readonly string[]> {
  const byChannel = new Map<string, Set<string>>();
  for (const { channel, instId } of program.frames) {
    byChannel.set(channel, (byChannel.get(channel) ?? new Set()).add(instId));
  }
  const names = [...byChannel.keys()].sort();
  return new Map(names.map((name) => [name, [...(byChannel.get(name) ?? [])].sort()]));
}

/** `/ws/v5/business?brokerId=9999` → `business`. */
function groupOfUrl(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.slice(PATH_PREFIX.length).replace(/\/+$/, '');
}

/**
 * Docs "Connect" (the 2023 URL change): candlesticks and `trades-all` are served on `/business`
 * only, the rest of market data on `/public`; the other one refuses them with 60018.
 */
function groupOf(channel: string): string {
  return channel.includes('candle') || channel === 'trades-all' ? 'business' : 'public';
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
