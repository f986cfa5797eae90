import type { ExchangeHeartbeat, ExchangeLimits } from '../types.ts';

/**
 * OKX v5 protocol constants and error-code knowledge (PROTOCOLS.md §1). Everything here is a fact
 * about the exchange, with the rule it comes from next to it.
 */

export const OKX_EXCHANGE_ID = 'okx';

/** Production host; `/public` or `/business` is appended per channel group (docs "Connect"). */
export const OKX_DEFAULT_ENDPOINT = 'wss://ws.okx.com:8443/ws/v5';

export const OKX_LIMITS: ExchangeLimits = Object.freeze({
  // Docs "Subscribe": the args of one request may total at most 64 KB.
  maxRequestArgsBytes: 65_536,
  // Docs "Connect": 480 subscribe/unsubscribe/login requests per hour, counted per connection.
  maxOpsPerWindow: 480,
  opsWindowMs: 3_600_000,
  // Docs "Connect": 3 connection requests per second per IP.
  connectionsPerSecond: 3,
});

/** Docs "Connect": the heartbeat is the 4-byte text `ping`, answered by the text `pong`. */
export const OKX_HEARTBEAT: ExchangeHeartbeat = Object.freeze({ ping: 'ping', pong: 'pong' });

/**
 * Error codes that retrying will not fix (docs error table "WebSocket > Public"): a channel or
 * instId that does not exist (60018), malformed requests (60012, 60013, 60019), `uly` no longer
 * accepted (64000), the wrong URL for the channel (64001, 64002, 60008, 60028), login or VIP tier
 * required (60011, 60029, 60030, 64003) and a refused channel combination (64004).
 * Everything else, including 60014 (too frequent), 63999 and 64007 (internal), is retried.
 */
const PERMANENT_ERROR_CODES: ReadonlySet<string> = new Set([
  '60018',
  '60012',
  '60013',
  '60019',
  '64000',
  '64001',
  '64002',
  '60008',
  '60028',
  '60011',
  '60029',
  '60030',
  '64003',
  '64004',
]);

/** Docs "Notification": 64008 announces a close for a service upgrade; reconnect first. */
const RECONNECT_NOTICE_CODE = '64008';

export function isPermanentError(code: string): boolean {
  return PERMANENT_ERROR_CODES.has(code);
}

export function isReconnectNotice(code: string): boolean {
  return code === RECONNECT_NOTICE_CODE;
}
