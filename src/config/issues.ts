import { z } from 'zod';
import { CENSOR, isSecretKey, redactFields } from './redact.ts';
import type { ConfigIssue } from './schema.ts';

/**
 * Zod's issues as config issues: the field's dotted path, the value received, and what was
 * expected, worded like the checks of our own (`one of auto, rest`, `a number above 0`) and never
 * quoting the value a second time. A message a schema gives itself (`a ws:// or wss:// URL`) wins
 * over the wording here: zod asks a parse's error map only for the issues left without one.
 */

export type ConfigParse<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly issues: ConfigIssue[] };

/** Parses `input` with `schema`; issue fields start with `prefix` (`collectors.0`), if any. */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  prefix: string,
): ConfigParse<z.output<S>> {
  // The keys of each strict object that met an unknown key, by the object's path: the issues
  // keep only the unknown keys, and a typo is best answered with the key it is close to.
  const known = new Map<string, readonly string[]>();
  const result = schema.safeParse(input, {
    reportInput: true,
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') known.set(pathKey(issue.path), keysOf(issue.inst));
      return expectation(issue);
    },
  });
  if (result.success) return { success: true, data: result.data };
  const issues = result.error.issues.flatMap((issue) => toConfigIssues(issue, prefix, known));
  return { success: false, issues };
}

function toConfigIssues(
  issue: z.core.$ZodIssue,
  prefix: string,
  known: ReadonlyMap<string, readonly string[]>,
): ConfigIssue[] {
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '');
  const field = path.length === 0 ? '(root)' : path.join('.');
  if (issue.code === 'unrecognized_keys') {
    // The key, not its value: a key the schema does not know may hold anything, a secret too.
    const keys = known.get(pathKey(issue.path)) ?? [];
    return issue.keys.map((key) => ({ field, received: key, expected: knownKey(key, keys) }));
  }
  // A misplaced or mistyped secret is reported by its field, never by its value.
  const last = issue.path.at(-1);
  const secret = typeof last === 'string' && isSecretKey(last) && issue.input !== undefined;
  return [
    { field, received: secret ? CENSOR : redactFields(issue.input), expected: issue.message },
  ];
}

/** What zod's issue asked for, as the `expected` of a config issue. */
function expectation(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? `a value of type ${issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? String(issue.values[0])
        : `one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
    case 'too_big':
      return bounded(issue);
    case 'invalid_format':
      return formatted(issue);
    case 'not_multiple_of':
      return `a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return 'a known key';
    case 'invalid_union':
      return union(issue);
    case 'invalid_key':
      return `a key that is ${issue.issues.map((i) => i.message).join(' and ')}`;
    case 'invalid_element':
      return `elements that are ${issue.issues.map((i) => i.message).join(' and ')}`;
    case 'custom':
      return 'a valid value';
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  tuple: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a map',
  set: 'a set',
  date: 'a date',
  null: 'null',
  undefined: 'nothing',
  never: 'nothing',
};

/** What a size or range is counted in; a number is counted in itself. */
const UNITS: Readonly<Record<string, readonly [one: string, many: string]>> = {
  string: ['character', 'characters'],
  array: ['item', 'items'],
  set: ['item', 'items'],
  map: ['entry', 'entries'],
  file: ['byte', 'bytes'],
};

/** `a number above 0`, `an integer of at most 2147483647`, `a non-empty list`. */
function bounded(
  issue: z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>,
): string {
  const small = issue.code === 'too_small';
  const limit = small ? issue.minimum : issue.maximum;
  const noun = TYPE_NAMES[issue.origin] ?? 'a value';
  const units = UNITS[issue.origin];
  if (units === undefined) {
    if (issue.exact === true) return `${noun} of exactly ${limit}`;
    if (issue.inclusive === true) return `${noun} of ${small ? 'at least' : 'at most'} ${limit}`;
    return `${noun} ${small ? 'above' : 'below'} ${limit}`;
  }
  const atLeastOne = small && (issue.inclusive === true ? limit === 1 : limit === 0);
  if (atLeastOne && issue.exact !== true) return `a non-empty ${noun.replace(/^an? /, '')}`;
  const count = `${limit} ${units[limit === 1 ? 0 : 1]}`;
  if (issue.exact === true) return `${noun} of exactly ${count}`;
  if (issue.inclusive === true) return `${noun} of ${small ? 'at least' : 'at most'} ${count}`;
  return `${noun} of ${small ? 'more' : 'fewer'} than ${count}`;
}

function formatted(issue: z.core.$ZodRawIssue<z.core.$ZodIssueInvalidStringFormat>): string {
  const { format } = issue;
  if (format === 'regex' && issue.pattern !== undefined) return `text matching ${issue.pattern}`;
  if (format === 'starts_with' && typeof issue.prefix === 'string') {
    return `text starting with "${issue.prefix}"`;
  }
  if (format === 'ends_with' && typeof issue.suffix === 'string') {
    return `text ending with "${issue.suffix}"`;
  }
  if (format === 'includes' && typeof issue.includes === 'string') {
    return `text containing "${issue.includes}"`;
  }
  return `a valid ${format.replaceAll('_', ' ')}`;
}

/**
 * A value no option of a union took: the options' own expectations, `a string or a number`,
 * when each option refused the value as a whole; an option that refused a field inside it
 * has no one-line form, and then the union has none either.
 */
function union(issue: z.core.$ZodRawIssue<z.core.$ZodIssueInvalidUnion>): string {
  // A discriminated union names the values its discriminator may take; the path is that field.
  const { options } = issue;
  if (Array.isArray(options) && options.length > 0) {
    return `one of ${options.map(String).join(', ')}`;
  }
  if (issue.inclusive === false) return 'a value that exactly one of the accepted forms takes';
  const forms = issue.errors.map((option) => {
    const [only, ...more] = option;
    return only !== undefined && more.length === 0 && only.path.length === 0
      ? only.message
      : undefined;
  });
  const named = forms.filter((form) => form !== undefined);
  if (named.length === 0 || named.length < forms.length) return 'one of the accepted forms';
  return [...new Set(named)].join(' or ');
}

/** `a known key (did you mean backfill?): id, exchange, ...`. */
function knownKey(key: string, keys: readonly string[]): string {
  if (keys.length === 0) return 'a known key';
  const near = closest(key, keys);
  const hint = near === undefined ? '' : ` (did you mean ${near}?)`;
  return `a known key${hint}: ${keys.join(', ')}`;
}

function keysOf(inst: z.core.$ZodType | z.core.$ZodCheck | undefined): readonly string[] {
  return inst instanceof z.core.$ZodObject ? Object.keys(inst._zod.def.shape) : [];
}

function pathKey(path: readonly PropertyKey[] | undefined): string {
  return JSON.stringify((path ?? []).map(String));
}

/** The known key a typo most likely meant: a few edits away, case aside. */
function closest(key: string, keys: readonly string[]): string | undefined {
  const budget = Math.max(1, Math.floor(key.length / 3));
  let best: { key: string; distance: number } | undefined;
  for (const candidate of keys) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= budget && (best === undefined || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

/** Levenshtein: insertions, deletions and substitutions, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}
