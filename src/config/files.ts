import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigIssue } from './schema.ts';

/**
 * Reading config and secrets files, and the rule for any file that holds a secret: only its
 * owner may read or write it (mode 0600 or 0400), as ssh demands of a private key. A file others
 * can read has leaked its secret already; refusing it makes the operator fix the mode now.
 */

const FILE_FORMATS: Readonly<Record<string, 'json' | 'yaml'>> = {
  '.json': 'json',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};

/** Mode bits of group and others. */
const SHARED_BITS = 0o077;
const SHARED_READ_BITS = 0o044;

/**
 * Reads and parses a config (or secrets) file; a missing, unreadable or unparsable file names
 * itself.
 */
export async function readConfigFile(file: string, kind = 'config file'): Promise<unknown> {
  const format = FILE_FORMATS[extname(file).toLowerCase()];
  if (format === undefined) {
    throw fileError(kind, file, 'has an unknown extension', 'a .json, .yaml or .yml file');
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw fileError(kind, file, `could not be read (${errorCode(error)})`, 'a readable file');
  }
  try {
    return format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // Only the first line: parser messages go on to quote the offending source line, which may
    // be a secret.
    const reason = firstLine(error instanceof Error ? error.message : String(error));
    const problem = `is not valid ${format.toUpperCase()}: ${reason}`;
    throw fileError(kind, file, problem, `valid ${format}`);
  }
}

export interface PrivateFileCheck {
  /** `config file` or `secrets file`: how the message names the file. */
  readonly kind: string;
  /** What makes it secret: the secret fields found in it, or the field that names it. */
  readonly because: string;
  /** Tests pass a platform to exercise the rule anywhere. */
  readonly platform?: NodeJS.Platform;
}

/**
 * Refuses a file holding secrets whose mode lets group or others read or write it. Windows has
 * no such mode bits (its ACLs are out of reach of `stat`), so there the check passes.
 */
export async function checkPrivateFile(file: string, check: PrivateFileCheck): Promise<void> {
  if ((check.platform ?? process.platform) === 'win32') return;
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (error) {
    throw fileError(check.kind, file, `could not be read (${errorCode(error)})`, 'a readable file');
  }
  if ((mode & SHARED_BITS) === 0) return;
  const octal = mode.toString(8).padStart(4, '0');
  const access = (mode & SHARED_READ_BITS) !== 0 ? 'readable' : 'writable';
  // The path as given, so the command in the message works from where the operator stands.
  const message =
    `${check.kind} ${file} holds secrets (${check.because}) and is ${access} by group or ` +
    `others (mode ${octal}): run chmod 600 ${shellWord(file)}`;
  const issue: ConfigIssue = {
    field: check.because,
    received: `${file} with mode ${octal}`,
    expected: 'a file only its owner can read (mode 0600 or 0400)',
  };
  throw new ConfigError(message, [issue], 'config-file-exposed');
}

function fileError(kind: string, file: string, problem: string, expected: string): ConfigError {
  const issue: ConfigIssue = { field: 'config', received: file, expected };
  return new ConfigError(`${kind} "${file}" ${problem}`, [issue]);
}

/** A path as one shell word: quoted when it holds anything but letters, digits and `_./-`. */
function shellWord(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

function errorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? Reflect.get(error, 'code') : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
