/**
 * The exchange side of `npm run bench`: a minimal OKX v5 public endpoint on 127.0.0.1, run as its
 * own process so that sending never competes with the client being measured for the same thread.
 *
 *   node --import tsx bench/replay-server.ts <frames>
 *
 * Once listening it prints one JSON line on stdout (`ServerInfo` in server-process.ts). It speaks
 * as much of the protocol as a collector needs (docs "Connect", "Subscribe"): the text `ping` is
 * answered with `pong`, every subscribe or unsubscribe arg with its own ack carrying `connId` and
 * the request's `id`. On the IPC message `{"type":"blast"}` it sends the prepared trades frames
 * to every connection subscribed to a `trades` channel, as fast as each socket drains, then
 * answers `{"type":"blasted",…}`. It imports nothing from src/: it must not share the product's
 * mistakes.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { buildReplay } from './frames.ts';

const PATHS: ReadonlySet<string> = new Set(['/ws/v5/public', '/ws/v5/business']);
/** Bytes handed to the kernel per write; a write waits for `drain` once the socket is full. */
const CHUNK_BYTES = 256 * 1024;

interface Client {
  readonly ws: WebSocket;
  /** The upgraded TCP socket: the blast writes prepared frames to it directly. */
  readonly socket: Duplex;
  readonly connId: string;
  /** `channel:instId` of every subscribed stream. */
  readonly streams: Set<string>;
}

const frames = Number(process.argv[2] ?? '300000');
if (!Number.isSafeInteger(frames) || frames < 1) {
  throw new RangeError(`frames must be a positive integer; received ${process.argv[2]}`);
}
const replay = buildReplay(frames);
const clients = new Set<Client>();
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
});
const server = createServer((_request, response) => response.writeHead(404).end());

server.on('upgrade', (request, socket, head) => {
  const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
  if (!PATHS.has(path)) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => accept(ws, socket));
});

function accept(ws: WebSocket, socket: Duplex): void {
  const client: Client = { ws, socket, connId: randomBytes(4).toString('hex'), streams: new Set() };
  clients.add(client);
  ws.on('message', (data: RawData) => answer(client, data.toString()));
  ws.on('close', () => clients.delete(client));
  ws.on('error', () => clients.delete(client));
}

function answer(client: Client, text: string): void {
  // Docs "Connect": the heartbeat is the text `ping`, answered by the text `pong`.
  if (text === 'ping') {
    client.ws.send('pong');
    return;
  }
  const request = parseObject(text);
  const op = request?.op;
  const id = typeof request?.id === 'string' ? { id: request.id } : {};
  if (request === undefined || (op !== 'subscribe' && op !== 'unsubscribe')) {
    reply(client, { ...id, event: 'error', code: '60012', msg: `Invalid request: ${text}` });
    return;
  }
  const args = Array.isArray(request.args) ? request.args : [];
  for (const arg of args) {
    if (!isRecord(arg) || typeof arg.channel !== 'string' || typeof arg.instId !== 'string') {
      reply(client, { ...id, event: 'error', code: '60012', msg: `Invalid request: ${text}` });
      continue;
    }
    const key = `${arg.channel}:${arg.instId}`;
    if (op === 'subscribe') client.streams.add(key);
    else client.streams.delete(key);
    // Docs "Subscribe": one ack per arg, echoing the request's id.
    reply(client, { ...id, event: op, arg: { channel: arg.channel, instId: arg.instId } });
  }
}

function reply(client: Client, message: Record<string, unknown>): void {
  client.ws.send(JSON.stringify({ ...message, connId: client.connId }));
}

async function blast(): Promise<Record<string, unknown>> {
  const targets = [...clients].filter((c) => [...c.streams].some((s) => s.startsWith('trades:')));
  const startedAt = performance.now();
  const completed = await Promise.all(targets.map((c) => writeAll(c.socket, replay.wire)));
  return {
    type: 'blasted',
    connections: targets.length,
    completed: completed.filter(Boolean).length,
    frames: replay.frames,
    ms: performance.now() - startedAt,
  };
}

/**
 * Writes `bytes` in chunks, pausing on a full socket until `drain`, so at most one chunk beyond
 * the socket's high-water mark is ever buffered. Resolves false if the socket closes first.
 * Writing beside `ws` is safe here: its sender writes each frame synchronously and nothing else
 * is sent to this connection during a blast.
 */
function writeAll(socket: Duplex, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    let offset = 0;
    const finish = (completed: boolean): void => {
      socket.off('drain', next);
      socket.off('close', closed);
      resolve(completed);
    };
    const closed = (): void => finish(false);
    function next(): void {
      while (offset < bytes.length) {
        if (socket.destroyed) {
          finish(false);
          return;
        }
        const chunk = bytes.subarray(offset, offset + CHUNK_BYTES);
        offset += chunk.length;
        if (!socket.write(chunk)) return;
      }
      finish(true);
    }
    socket.on('drain', next);
    socket.on('close', closed);
    next();
  });
}

function shutDown(): void {
  for (const client of clients) client.ws.terminate();
  server.close();
  process.exit(0);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

process.on('message', (message: unknown) => {
  if (!isRecord(message) || message.type !== 'blast') return;
  void blast().then((report) => process.send?.(report));
});
// The bench owns this process: when it goes, so does the server.
process.on('disconnect', shutDown);
process.on('SIGTERM', shutDown);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const { wire, ...info } = replay;
  const line = { port, ...info, wireBytes: wire.length };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
