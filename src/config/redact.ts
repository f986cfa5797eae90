/**
 * Which fields hold secrets, for everything that must not show one: the logger's redaction
 * paths, `config print`, the `received` value of a config issue, and the check that refuses a
 * secret-bearing config file others can read. One list, so those four cannot disagree.
 */

export const CENSOR = '[redacted]';

/** Object keys whose values are secrets wherever they appear. */
export const SECRET_KEYS: readonly string[] = [
  'apiKey',
  'apiSecret',
  'secretKey',
  'secret',
  'passphrase',
  'password',
  'token',
  'accessToken',
  'authorization',
  'Authorization',
  'cookie',
  'sign',
];

// `api_key`, `API-KEY` and `apikey` are the same secret as `apiKey`.
const normalize = (key: string) => key.replace(/[-_]/g, '').toLowerCase();
const SECRET_KEY_SET: ReadonlySet<string> = new Set(SECRET_KEYS.map(normalize));

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_SET.has(normalize(key));
}

/** A value that could be a secret: a non-empty string or a number (YAML reads `123456` so). */
function isSecretValue(value: unknown): boolean {
  return (typeof value === 'string' && value !== '') || typeof value === 'number';
}

/** Dotted paths of every secret-named key holding a secret value, e.g. `collectors.0.token`. */
export function findSecretFields(value: unknown, prefix: readonly string[] = []): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const path = [...prefix, key];
    if (isSecretKey(key) && isSecretValue(inner)) return [path.join('.')];
    return findSecretFields(inner, path);
  });
}

/** A deep copy with the value of every secret-named key replaced by `[redacted]`. */
export function redactFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactFields);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([key, inner]) => [
    key,
    isSecretKey(key) && isSecretValue(inner) ? CENSOR : redactFields(inner),
  ]);
  return Object.fromEntries(entries);
}
