/**
 * Every operational fault has a stable string code, listed here and nowhere else. Tests, logs,
 * telemetry and (later) metrics use the code; message text is for people and may change.
 */
export const FAULT_CODES = {
  /** A frame that is not valid JSON (and not the text `pong`). */
  'frame-not-json': 'a frame could not be parsed as JSON',
  /** Valid JSON whose shape the adapter does not know. */
  'frame-unknown-shape': 'a frame had an unknown shape',
  /** A data push whose fields have the wrong types or are missing. */
  'frame-invalid-data': 'a data push had missing or mistyped fields',
  /** A binary frame where the exchange only sends text. */
  'frame-binary': 'a binary frame arrived where text was expected',
  /** An `event` the adapter does not know (parsed quietly, counted). */
  'event-unknown': 'an unknown event arrived',
  /** A data push for a channel or symbol nobody subscribed to. */
  'data-unsubscribed': 'data arrived for a subscription that is not wanted',
  /** A timestamp outside the plausible range (before 2010 or more than a day ahead). */
  'timestamp-implausible': 'an event carried an implausible timestamp',
  /** The exchange refused a subscription for good (60018 and kin). */
  'subscribe-rejected': 'the exchange rejected a subscription permanently',
  /** The exchange neither acknowledged nor refused a subscription, twice: it is failed. */
  'subscribe-unanswered': 'the exchange never answered a subscription',
  /** The exchange refused a subscription for now (60014, 63999, 64007): retried with backoff. */
  'subscribe-retry': 'the exchange refused a subscription for now',
  /** An error frame that could not be tied to any request. */
  'error-uncorrelated': 'an error frame could not be tied to a request',
  /** Subscribing would pass the exchange's operation budget; requests were deferred. */
  'op-budget-exhausted': 'the per-connection operation budget is exhausted',
  /** A subscriber of data$ or telemetry$ threw. The feed and other subscribers carry on. */
  'subscriber-threw': 'a stream subscriber threw',
  /** The WebSocket reported an error (handshake refused, reset, protocol error). */
  'socket-error': 'the socket reported an error',
  /** The upgrade was refused with a status that will not change by retrying (e.g. 451). */
  'connect-refused-permanently': 'the server refused the connection permanently',
  /** A book update whose prevSeqId does not follow the last seqId: invalid until a snapshot. */
  'book-sequence-gap': 'an order book update broke the sequence chain',
  /** A book whose CRC32 differs from the exchange's checksum: invalid until a snapshot. */
  'book-checksum-mismatch': 'an order book failed its checksum',
  /** A book whose best bid is at or above its best ask: invalid until a snapshot. */
  'book-crossed': 'an order book crossed',
  /**
   * A message of an incremental book was rejected by the parser (its fault says why): the book
   * lacks it, so it is invalid until a snapshot even though its chain does not show it yet.
   */
  'book-message-lost': 'an order book message was rejected, so the book missed it',
  /** A book update with no valid snapshot to apply to (none yet, or the book is invalid). */
  'book-not-synced': 'an order book update arrived before a valid snapshot',
  /** A subscribed book stayed down (no snapshot came, or a live one went silent): resynced. */
  'book-stalled': 'an order book stayed down while subscribed and was resynced',
  /** A book kept breaking; its subscription is quarantined instead of resynced in a loop. */
  'book-quarantined': 'an order book kept breaking and was quarantined',
  /** A REST request failed: an HTTP error status or an OKX error code other than rate limits. */
  'rest-error': 'a REST request failed',
  /** A REST request was refused for its rate (HTTP 429, OKX 50011/50013/50040): wait, retry. */
  'rest-rate-limited': 'a REST request was rate-limited',
  /** A REST response that is not the documented JSON envelope, or whose data is mistyped. */
  'rest-invalid-body': 'a REST response body was invalid',
  /** An internal invariant broke; the machine caught it instead of crashing. */
  'internal-error': 'an internal error was caught',
} as const;

export type FaultCode = keyof typeof FAULT_CODES;

export function isFaultCode(value: string): value is FaultCode {
  return Object.hasOwn(FAULT_CODES, value);
}
