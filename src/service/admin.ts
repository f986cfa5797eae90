import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { BookBreak, CollectorManager, CollectorStatus, ManagerStatus } from '../api.ts';
import { liveness, readiness, type Verdict } from './health.ts';
import { sanitizeError } from './logging.ts';
import { createMetrics } from './metrics.ts';

/**
 * The HTTP admin listener: health probes, status, Prometheus metrics and, with a token, control
 * of collectors. Its own server on its own port, apart from the data path (stdout), with handlers
 * that each cost one status read at most, so a probe still answers while the feed is busy.
 *
 *   GET  /livez (/healthz)    200 while the process and its supervisor are alive
 *   GET  /readyz [?verbose]   200 when every enabled collector is subscribed, else 503
 *   GET  /status              the manager's status, errors sanitized
 *   GET  /metrics             Prometheus text
 *   POST /collectors/:id/restart|enable|disable   only with a token (bearer)
 *
 * Other modules mount routes of their own with `routes` (the dashboard's `GET /`, `GET /events`).
 */

export interface AdminRoute {
  /** `GET` also answers `HEAD`. */
  readonly method: string;
  /** Matched exactly against the path, without the query string. */
  readonly path: string;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port; `url` tells which. */
  readonly port: number;
  readonly manager: CollectorManager;
  readonly logger: Logger;
  /** The bearer token of the control routes; without one they do not exist (404). */
  readonly token?: string | undefined;
  readonly routes?: readonly AdminRoute[];
  /** True from the first moment of a shutdown: `/readyz` answers 503 from then on. */
  readonly isShuttingDown?: () => boolean;
  /** Adds a `symbol` label to the metrics that have one (off by default). */
  readonly metricsSymbols?: boolean;
  /** One event in this many has its latency observed (see metrics.ts). */
  readonly latencySampleEvery?: number;
}

export interface AdminServer {
  /** `http://HOST:PORT`, with the port actually bound. */
  readonly url: string;
  /** Stops listening and ends open connections (keep-alive, event streams). Idempotent. */
  close(): Promise<void>;
}

type Handler = AdminRoute['handle'];

const CONTROL_PATH = /^\/collectors\/([^/]+)\/(restart|enable|disable)$/;
const CONTROL_ACTIONS = {
  restart: (manager: CollectorManager, id: string) => manager.restartCollector(id),
  enable: (manager: CollectorManager, id: string) => manager.enableCollector(id),
  disable: (manager: CollectorManager, id: string) => manager.disableCollector(id),
} as const;

/** A probe or scrape that has not sent its request in this long is cut off. */
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Resolves once listening; rejects with the listen error (`EADDRINUSE`, `EACCES`). */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { manager, logger } = options;
  const isShuttingDown = options.isShuttingDown ?? (() => false);
  const metrics = createMetrics({
    manager,
    isShuttingDown,
    ...(options.metricsSymbols === undefined ? {} : { symbols: options.metricsSymbols }),
    ...(options.latencySampleEvery === undefined
      ? {}
      : { latencySampleEvery: options.latencySampleEvery }),
  });
  const routes = new Map<string, Map<string, Handler>>();
  const mount = (method: string, path: string, handle: Handler) => {
    const byMethod = routes.get(path) ?? new Map<string, Handler>();
    const verb = method.toUpperCase();
    if (byMethod.has(verb)) throw new TypeError(`admin route ${verb} ${path} is mounted twice`);
    routes.set(path, byMethod.set(verb, handle));
  };

  const livez: Handler = (_req, res, url) => sendVerdict(res, url, liveness(manager), 'alive');
  mount('GET', '/livez', livez);
  mount('GET', '/healthz', livez);
  mount('GET', '/readyz', (_req, res, url) => {
    const verdict = readiness(manager, manager.getStatus(), isShuttingDown());
    sendVerdict(res, url, verdict, 'ready');
  });
  mount('GET', '/status', (_req, res) => sendJson(res, 200, sanitizeStatus(manager.getStatus())));
  mount('GET', '/metrics', async (_req, res) => {
    const text = await metrics.scrape();
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
    res.end(text);
  });
  for (const route of options.routes ?? []) mount(route.method, route.path, route.handle);

  const control = options.token === undefined ? undefined : controlRoute(options, options.token);

  const server = createServer((req, res) => {
    void dispatch(req, res).catch((err: unknown) => fail(res, err));
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS / 2;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const byMethod = routes.get(url.pathname);
    if (byMethod !== undefined) {
      const handle = byMethod.get(method);
      if (handle === undefined) return notAllowed(res, [...byMethod.keys()]);
      return handle(req, res, url);
    }
    const match = control === undefined ? null : CONTROL_PATH.exec(url.pathname);
    if (control !== undefined && match !== null) {
      if (method !== 'POST') return notAllowed(res, ['POST']);
      return control(req, res, match[1] ?? '', match[2] as keyof typeof CONTROL_ACTIONS);
    }
    sendJson(res, 404, { error: 'not found' });
  }

  function fail(res: ServerResponse, err: unknown): void {
    logger.error({ err }, 'admin request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, 500, { error: sanitizeError(err).message });
  }

  try {
    await listen(server, options.host, options.port);
  } catch (error) {
    metrics.close();
    throw error;
  }
  server.on('error', (err) => logger.error({ err }, 'admin listener failed'));
  const url = urlOf(server.address() as AddressInfo);
  logger.info({ url, control: control !== undefined }, 'admin listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        metrics.close();
        server.close(() => resolve());
        // Keep-alive sockets and event streams would hold `close` open until they end.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** POST /collectors/:id/ACTION: bearer token first, so an unknown id tells nothing without it. */
function controlRoute(options: AdminServerOptions, token: string) {
  const expected = digest(token);
  return (req: IncomingMessage, res: ServerResponse, rawId: string, action: string) => {
    req.resume();
    if (!bearerMatches(req.headers.authorization, expected)) {
      options.logger.warn({ action, remote: req.socket.remoteAddress }, 'admin control refused');
      res.setHeader('www-authenticate', 'Bearer realm="market-collector"');
      sendJson(res, 401, { error: 'unauthorized' });
      return;
    }
    const id = decodeId(rawId);
    const act = CONTROL_ACTIONS[action as keyof typeof CONTROL_ACTIONS];
    if (id === undefined || !act(options.manager, id)) {
      sendJson(res, 404, { error: 'unknown collector', id: id ?? rawId });
      return;
    }
    options.logger.info(
      { collector: id, action, remote: req.socket.remoteAddress },
      'admin control',
    );
    const state = options.manager.getCollector(id)?.getStatus().state;
    sendJson(res, 200, { ok: true, id, action, state });
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares digests of equal length, in constant time whatever the header holds. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  const same = timingSafeEqual(digest(given ?? ''), expected);
  return given !== undefined && same;
}

function decodeId(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function sendVerdict(res: ServerResponse, url: URL, verdict: Verdict, word: string): void {
  const verbose = url.searchParams.has('verbose');
  const checks = verbose ? verdict.checks : verdict.checks.filter((c) => !c.ok);
  sendJson(res, verdict.ok ? 200 : 503, { status: verdict.ok ? word : `not ${word}`, checks });
}

function notAllowed(res: ServerResponse, methods: readonly string[]): void {
  const allow = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
  res.setHeader('allow', allow.join(', '));
  sendJson(res, 405, { error: 'method not allowed' });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/** The status as `getStatus()` returns it, with every free text through the one sanitizer. */
export function sanitizeStatus(status: ManagerStatus): ManagerStatus {
  return { ...status, collectors: status.collectors.map(sanitizeCollector) };
}

function sanitizeCollector(c: CollectorStatus): CollectorStatus {
  return {
    ...c,
    lastError: clean(c.lastError),
    lastRestartReason: clean(c.lastRestartReason),
    connections: c.connections.map((conn) => ({ ...conn, lastReason: clean(conn.lastReason) })),
    subscriptions: c.subscriptions.map((s) => ({ ...s, message: clean(s.message) })),
    books: c.books.map((b) => ({ ...b, lastFault: cleanBreak(b.lastFault) })),
  };
}

function cleanBreak(fault: BookBreak | undefined): BookBreak | undefined {
  return fault === undefined
    ? undefined
    : { ...fault, detail: sanitizeError(fault.detail).message };
}

function clean(text: string | undefined): string | undefined {
  return text === undefined ? undefined : sanitizeError(text).message;
}

function listen(server: ReturnType<typeof createServer>, host: string, port: number) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
