import type { BookMessage } from '../../book/message.ts';
import type { BookChangeEvent, MarketEvent } from '../../streams/events.ts';
import type { FaultCode } from '../../streams/faults.ts';
import type { ControlMessage, ParseContext, ParseFault, ParseResult } from '../types.ts';
import { bookActionOf, isBookChannel, isIncrementalBookChannel, parseBook } from './books.ts';
import { CANDLE_PREFIX } from './channels.ts';
import {
  type ElementParser,
  isJsonObject,
  type JsonObject,
  parseCandle,
  parseTicker,
  parseTrade,
  type Rejection,
} from './data.ts';
import { scanBookPush } from './scan.ts';

/**
 * Parses one OKX text frame. Never throws: every way a frame can be wrong ends in `fault`, the one
 * way to fail. The cases, in the order they are tried:
 *
 * 1. the text `pong`: heartbeat reply;
 * 2. not JSON (truncated, two objects glued, `ping`): `frame-not-json`;
 * 3. JSON but not an object: `frame-unknown-shape`;
 * 4. `event` present: a control message (ack, error, notice, info);
 * 5. `arg` and `data`: a data push, one event per element of `data`; book pushes also hand their
 *    raw messages to the book layer in `books`.
 */

/** Shared: a pong carries nothing, so every pong can be the same frozen result. */
const PONG: ParseResult = Object.freeze({ control: Object.freeze({ kind: 'pong' }) });

/** Longest fault sample kept for the log. */
const SAMPLE_CHARS = 200;

/**
 * Events that are known and carry nothing the machines act on (docs "WebSocket > Login",
 * "Connection count limit"). Any other event is still parsed as `info`, plus an `event-unknown`
 * fault so that new OKX events get counted and noticed rather than silently swallowed
 * (FAULTS.md F14: parse unknown control events quietly).
 */
const INFO_EVENTS: ReadonlySet<string> = new Set([
  'login',
  'channel-conn-count',
  'channel-conn-count-error',
]);

/**
 * How every book push begins (`books`, `books5`, `bbo-tbt`, `books-l2-tbt`, `books-rpi`…), and no
 * other push: OKX writes `arg` first.
 */
const BOOK_PUSH_PREFIX = '{"arg":{"channel":"b';

export function parseFrame(text: string, context: ParseContext): ParseResult {
  // Docs "Connect": the heartbeat reply is 4 bytes of text, not JSON; test it before parsing.
  if (text === 'pong') return PONG;
  // A book feed is almost all book pushes: those are read without JSON.parse when they are plain
  // and right (scan.ts); anything else, and every fault, goes the JSON way.
  if (text.startsWith(BOOK_PUSH_PREFIX)) {
    const scanned = scanBookPush(text, context);
    if (scanned !== undefined) return scanned;
  }
  return parseJsonFrame(text, context);
}

/** `parseFrame` without the book scanner: every frame through `JSON.parse`. */
export function parseJsonFrame(text: string, context: ParseContext): ParseResult {
  if (text === 'pong') return PONG;
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return fail('frame-not-json', 'the frame is not valid JSON', text);
  }
  if (!isJsonObject(frame)) return fail('frame-unknown-shape', 'the frame is not an object', text);
  const event = frame.event;
  if (event !== undefined) return parseEvent(frame, event, text);
  return parsePush(frame, text, context);
}

function parseEvent(frame: JsonObject, event: unknown, text: string): ParseResult {
  switch (event) {
    case 'subscribe':
      return parseAck('subscribed', frame, text);
    case 'unsubscribe':
      return parseAck('unsubscribed', frame, text);
    case 'error':
      return parseError(frame, text);
    case 'notice':
      return parseNotice(frame, text);
  }
  if (typeof event !== 'string') return fail('frame-unknown-shape', 'event is not a string', text);
  const control: ControlMessage = { kind: 'info', event };
  if (INFO_EVENTS.has(event)) return { control };
  return { control, fault: fault('event-unknown', `unknown event ${quote(event)}`, text) };
}

/** The control kinds that answer a request, and so may echo its `id`. */
type Reply = Extract<ControlMessage, { kind: 'subscribed' | 'unsubscribed' | 'error' }>;

/** The subscription a control message is about, as OKX names it. */
interface Named {
  readonly channel: string;
  readonly symbol: string;
}

/**
 * Docs "Subscribe": one ack per arg, `{"event":"subscribe","arg":{…},"id"?,"connId"?}`; `id`
 * echoes the request's id when it had one.
 */
function parseAck(
  kind: 'subscribed' | 'unsubscribed',
  frame: JsonObject,
  text: string,
): ParseResult {
  const arg = argOf(frame.arg);
  if (arg === undefined) {
    return fail('frame-unknown-shape', 'an ack has no arg with channel and instId', text);
  }
  return { control: withRequestId({ kind, ...arg }, frame) };
}

function argOf(arg: unknown): Named | undefined {
  if (!isJsonObject(arg) || typeof arg.channel !== 'string' || typeof arg.instId !== 'string') {
    return undefined;
  }
  return { channel: arg.channel, symbol: arg.instId };
}

/**
 * Docs "Subscribe" failure: `{"event":"error","code":"60018","msg":"…","id"?,"connId"}` with no
 * `arg`. Permanence is decided on `code` alone (`isPermanentError`); the channel and instId are
 * taken from an `arg` should one ever come, else read out of `msg`, only to help correlate when
 * no `id` came back.
 */
function parseError(frame: JsonObject, text: string): ParseResult {
  const code = codeOf(frame.code);
  if (code === undefined) return fail('frame-unknown-shape', 'an error event has no code', text);
  const message = typeof frame.msg === 'string' ? frame.msg : '';
  const named = argOf(frame.arg) ?? namedInMessage(message);
  return { control: withRequestId({ kind: 'error', code, message, ...named }, frame) };
}

/**
 * Live 60018 wordings name the subscription as `channel:<channel>,instId:<instId>`:
 * "Wrong URL or channel:tickers,instId:X doesn't exist. …" (older) and
 * "Subscribe failed, wrong URL or channel:trades,instId:BTC-XXX doesn't exist. …" (2026).
 */
const NAMED_IN_MESSAGE = /channel:\s*([^\s,]+)\s*,\s*instId:\s*([^\s,]+)/;

function namedInMessage(message: string): Named | undefined {
  const match = NAMED_IN_MESSAGE.exec(message);
  const channel = match?.[1];
  const symbol = match?.[2];
  return channel === undefined || symbol === undefined ? undefined : { channel, symbol };
}

/** Docs "Notification": `{"event":"notice","code":"64008","msg":"…","connId"}`. */
function parseNotice(frame: JsonObject, text: string): ParseResult {
  const code = codeOf(frame.code);
  if (code === undefined) return fail('frame-unknown-shape', 'a notice event has no code', text);
  const message = typeof frame.msg === 'string' ? frame.msg : '';
  return { control: { kind: 'notice', code, message } };
}

/** Docs: `code` is a string. A number is accepted too: losing an error frame costs more. */
function codeOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  return undefined;
}

function withRequestId<C extends Reply>(control: C, frame: JsonObject): C {
  const id = frame.id;
  return typeof id === 'string' && id.length > 0 ? { ...control, requestId: id } : control;
}

/**
 * Docs "WebSocket > Public": `{"arg":{"channel":…,"instId":…},"data":[…]}`. The events are
 * filed under `arg.instId`, the key the subscription was made with.
 */
function parsePush(frame: JsonObject, text: string, context: ParseContext): ParseResult {
  const arg = frame.arg;
  const data = frame.data;
  if (!isJsonObject(arg) || !Array.isArray(data)) {
    return fail('frame-unknown-shape', 'the frame has neither an event nor arg and data', text);
  }
  const channel = arg.channel;
  const symbol = arg.instId;
  if (typeof channel !== 'string' || typeof symbol !== 'string') {
    return fail('frame-unknown-shape', 'a push arg has no channel and instId', text);
  }
  const parser = parserFor(channel);
  if (parser === undefined) {
    // Books are looked for only after trades, tickers and candles missed: they cost those nothing.
    if (isBookChannel(channel)) {
      return parseBooks(frame.action, data, symbol, channel, text, context);
    }
    return fail('frame-unknown-shape', `no parser for channel ${quote(channel)}`, text);
  }
  if (data.length === 0) {
    return fail('frame-invalid-data', `${channel} ${symbol}: the data array is empty`, text);
  }
  return collect(data, parser, symbol, channel, text, context);
}

function parserFor(channel: string): ElementParser<MarketEvent> | undefined {
  switch (channel) {
    case 'trades':
      return parseTrade;
    case 'tickers':
      return parseTicker;
  }
  // `candle1m`, `candle1H`, `candle1Dutc`…; `mark-price-candle*` and `index-candle*` stay unknown.
  return channel.startsWith(CANDLE_PREFIX) ? parseCandle : undefined;
}

/**
 * Keeps every good element and drops the bad ones: one bad trade must not cost its neighbours.
 * The first rejection is reported with how many elements went, as the frame's one fault.
 */
function collect(
  data: readonly unknown[],
  parser: ElementParser<MarketEvent>,
  symbol: string,
  channel: string,
  text: string,
  context: ParseContext,
): ParseResult {
  const events: MarketEvent[] = [];
  let rejection: Rejection | undefined;
  let rejected = 0;
  for (let i = 0; i < data.length; i++) {
    const result = parser(data[i], symbol, channel, context);
    if (result.type === 'rejected') {
      rejection ??= result;
      rejected++;
    } else {
      events.push(result);
    }
  }
  if (rejection === undefined) return { events, channel };
  const dropped = droppedFault(`${channel} ${symbol}`, rejection, rejected, data.length, text);
  return events.length === 0 ? { fault: dropped } : { events, fault: dropped, channel };
}

/**
 * Like `collect`, plus the raw message of each event in `books`, index for index. The `action`
 * is the frame's, not the element's (docs "Order book channel": it sits beside `arg`).
 */
function parseBooks(
  action: unknown,
  data: readonly unknown[],
  symbol: string,
  channel: string,
  text: string,
  context: ParseContext,
): ParseResult {
  // A snapshot channel's next push replaces the book anyway; an incremental one cannot heal.
  const lost = isIncrementalBookChannel(channel) ? { lostBook: { channel, symbol } } : {};
  const kind = bookActionOf(channel, action);
  if (kind === undefined) {
    const detail = `${channel} ${symbol}: action must be "snapshot" or "update"`;
    return { ...fail('frame-invalid-data', detail, text), ...lost };
  }
  if (data.length === 0) {
    return fail('frame-invalid-data', `${channel} ${symbol}: the data array is empty`, text);
  }
  const events: BookChangeEvent[] = [];
  const books: BookMessage[] = [];
  let rejection: Rejection | undefined;
  let rejected = 0;
  for (let i = 0; i < data.length; i++) {
    const result = parseBook(data[i], kind, symbol, channel, context);
    if ('event' in result) {
      events.push(result.event);
      books.push(result.message);
    } else {
      rejection ??= result;
      rejected++;
    }
  }
  if (rejection === undefined) return { events, books, channel };
  const dropped = droppedFault(`${channel} ${symbol}`, rejection, rejected, data.length, text);
  return events.length === 0
    ? { fault: dropped, ...lost }
    : { events, books, fault: dropped, channel, ...lost };
}

/** A push's one fault for its rejected elements: the first rejection, and how many went. */
function droppedFault(
  push: string,
  first: Rejection,
  rejected: number,
  total: number,
  text: string,
): ParseFault {
  return fault(first.code, `${push}: ${first.detail} (${rejected} of ${total} dropped)`, text);
}

function fail(code: FaultCode, detail: string, text: string): ParseResult {
  return { fault: fault(code, detail, text) };
}

function fault(code: FaultCode, detail: string, text: string): ParseFault {
  return { code, detail, sample: text.length > SAMPLE_CHARS ? text.slice(0, SAMPLE_CHARS) : text };
}

function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
