import { type DestinationStream, type Logger, pino } from 'pino';
import { CENSOR, SECRET_KEYS } from '../config/redact.ts';
import type { LogLevel } from '../config/schema.ts';

/**
 * The service's logger and the one function that sanitizes errors before they leave the process.
 * Logs, status and (later) HTTP responses all go through `sanitizeError`: no credential, query
 * string or stack reaches an operator's terminal or a log store by another path.
 */

export interface SanitizedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where log lines go; stderr (fd 2) when absent, so stdout stays free for data. */
  readonly destination?: DestinationStream | undefined;
}

const MAX_MESSAGE_CHARS = 500;
const MAX_NAME_CHARS = 64;
const MAX_CAUSE_DEPTH = 2;

/** Top level, one and two levels down: pino's redaction has no recursive wildcard. */
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
]);

export function createLogger(options: LoggerOptions): Logger {
  // Synchronous stderr: a fatal line written just before exit must not be lost in a buffer.
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  const withStack = options.level === 'debug' || options.level === 'trace';
  const serializeErr = (err: unknown) => serializeError(err, withStack);
  return pino(
    {
      level: options.level,
      redact: { paths: [...REDACT_PATHS], censor: CENSOR },
      serializers: { err: serializeErr, error: serializeErr },
      hooks: { logMethod: redactLogArguments },
    },
    destination,
  );
}

/**
 * Message strings are redacted like error messages. `logger.error(err)` or `({ err })` without a
 * message makes pino copy the raw `err.message` into `msg`, past the serializer: give it the
 * sanitized one instead.
 */
function redactLogArguments(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
  const [first, second] = args;
  const redacted = args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg));
  const err = first instanceof Error ? first : isRecord(first) ? first.err : undefined;
  if (err instanceof Error && typeof second !== 'string') {
    redacted.splice(1, 0, sanitizeError(err).message);
  }
  method.apply(this, redacted);
}

/** The pino `err` serializer: the sanitized error, plus a sanitized stack at debug and trace. */
export function serializeError(
  err: unknown,
  withStack = false,
): SanitizedError & { stack?: string } {
  const sanitized = sanitizeError(err);
  if (!withStack) return sanitized;
  const stack = safely(() => (err instanceof Error ? err.stack : undefined));
  return typeof stack === 'string' ? { ...sanitized, stack: redactSecrets(stack) } : sanitized;
}

/** Name, message and code of anything thrown, without secrets or stack. Never throws. */
export function sanitizeError(err: unknown): SanitizedError {
  try {
    const code = findCode(err, 0);
    const name = truncate(cleanName(nameOf(err)), MAX_NAME_CHARS);
    const message = truncate(redactSecrets(messageWithCauses(err, 0)), MAX_MESSAGE_CHARS);
    return code === undefined ? { name, message } : { name, message, code };
  } catch {
    // Reached only by hostile values (a Proxy that throws on every trap): say so, leak nothing.
    return { name: 'Error', message: 'an error that could not be described' };
  }
}

/** Scheme, then user info up to the last `@` before the path (passwords may hold an `@`). */
const URL_PATTERN =
  /\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#"'<>]*@)?([^\s?#"'<>]*)(?:[?#][^\s"'<>]*)?/gi;
const BEARER_PATTERN = /\b(Bearer|Basic|Digest)\s+[A-Za-z0-9._~+/=-]{8,}/g;
const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const SECRET_NAMES = [
  'api[-_]?key',
  'api[-_]?secret',
  'secret[-_]?key',
  'secret',
  'passphrase',
  'passwd',
  'password',
  'pwd',
  'access[-_]?token',
  'token',
  'authorization',
  'cookie',
  'sign',
  'signature',
];
/** `name=value`, `name: value`, `"name":"value"`; the value ends at a separator or its quote. */
const SECRET_PAIR_PATTERN = new RegExp(
  String.raw`(["']?\b(?:${SECRET_NAMES.join('|')})\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}"']+)`,
  'gi',
);

/** Replaces URL credentials and query strings, bearer tokens and `key=value` secrets. */
export function redactSecrets(text: string): string {
  return text
    .replace(URL_PATTERN, (_match, scheme: string, rest: string) => `${scheme}${rest}`)
    .replace(BEARER_PATTERN, `$1 ${CENSOR}`)
    .replace(JWT_PATTERN, CENSOR)
    .replace(SECRET_PAIR_PATTERN, `$1${CENSOR}`);
}

function nameOf(err: unknown): string {
  if (err instanceof Error) return err.name;
  if (isRecord(err) && typeof err.name === 'string') return err.name;
  return 'NonError';
}

function cleanName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.$-]/g, '');
  return cleaned === '' ? 'Error' : cleaned;
}

/** `fetch failed (cause: connect ECONNREFUSED …)`: the cause is often the only useful part. */
function messageWithCauses(err: unknown, depth: number): string {
  const message = describe(err);
  const cause = isRecord(err) ? err.cause : undefined;
  if (cause === undefined || depth >= MAX_CAUSE_DEPTH) return message;
  return `${message} (cause: ${messageWithCauses(cause, depth + 1)})`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.message === 'string') return value.message;
  if (value === null || typeof value !== 'object') return safely(() => String(value)) ?? 'unknown';
  return safeJson(value) ?? 'unknown';
}

function findCode(err: unknown, depth: number): string | undefined {
  if (!isRecord(err) || depth > MAX_CAUSE_DEPTH) return undefined;
  const code = err.code;
  if (typeof code === 'string' || typeof code === 'number') {
    return truncate(redactSecrets(String(code)), MAX_NAME_CHARS);
  }
  return findCode(err.cause, depth + 1);
}

/** JSON with cycles cut and bigints spelled out; undefined when the value will not serialize. */
function safeJson(value: object): string | undefined {
  const seen = new WeakSet<object>();
  return safely(() =>
    JSON.stringify(value, (_key, inner: unknown) => {
      if (typeof inner === 'bigint') return inner.toString();
      if (typeof inner !== 'object' || inner === null) return inner;
      if (seen.has(inner)) return '[circular]';
      seen.add(inner);
      return inner;
    }),
  );
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
