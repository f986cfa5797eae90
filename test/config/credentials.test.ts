import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Credentials,
  resolveCredentials,
  resolveServiceCredentials,
} from '../../src/config/credentials.ts';
import { checkPrivateFile } from '../../src/config/files.ts';
import { ConfigError, parseServiceConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/service/logging.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'market-collector-credentials-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretsFile(name: string, text: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

async function configErrorOf(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

const SECRETS = ['k3y-abc', 's3cr3t', 'p4ss', 'f1le-key'];

describe('resolveCredentials', () => {
  it('is undefined when the config names no credentials', async () => {
    expect(await resolveCredentials({}, {})).toBeUndefined();
  });

  it('reads the secrets from the variables the config names', async () => {
    const credentials = { apiKeyEnv: 'OKX_KEY', secretKeyEnv: 'OKX_SECRET' };
    const env = { OKX_KEY: 'k3y-abc', OKX_SECRET: 's3cr3t' };
    const resolved = await resolveCredentials({ credentials }, env);
    expect(resolved?.get('apiKey')).toBe('k3y-abc');
    expect(resolved?.get('secretKey')).toBe('s3cr3t');
    expect(resolved?.get('passphrase')).toBeUndefined();
    expect(resolved?.names()).toEqual(['apiKey', 'secretKey']);
  });

  it('names the field and the variable, not a value, when a variable is not set', async () => {
    const credentials = { apiKeyEnv: 'OKX_KEY', passphraseEnv: 'OKX_PASS' };
    const error = await configErrorOf(
      resolveCredentials({ credentials }, { OKX_KEY: '' }, { field: 'collectors.1.credentials' }),
    );
    expect(error.code).toBe('config-invalid');
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.1.credentials.apiKeyEnv', 'OKX_KEY'],
      ['collectors.1.credentials.passphraseEnv', 'OKX_PASS'],
    ]);
  });

  it('reads a private secrets file; a variable wins over it, and it over a literal', async () => {
    const file = await secretsFile(
      'okx.yaml',
      'apiKey: f1le-key\nsecretKey: s3cr3t\npassphrase: "0123"\n',
    );
    const credentials = { file, apiKeyEnv: 'OKX_KEY', passphrase: 'literal' };
    const resolved = await resolveCredentials({ credentials }, { OKX_KEY: 'k3y-abc' });
    const names = ['apiKey', 'secretKey', 'passphrase'] as const;
    expect(names.map((name) => resolved?.get(name))).toEqual(['k3y-abc', 's3cr3t', '0123']);
  });

  it.skipIf(process.platform === 'win32')(
    'refuses a secrets file that group or others can read, before reading it',
    async () => {
      const file = await secretsFile('open.json', '{"apiKey": "k3y-abc"', 0o640);
      const error = await configErrorOf(
        resolveCredentials({ credentials: { file } }, {}, { field: 'collectors.0.credentials' }),
      );
      expect(error.code).toBe('config-file-exposed');
      expect(error.message).toBe(
        `secrets file ${file} holds secrets (named by collectors.0.credentials.file) and is ` +
          `readable by group or others (mode 0640): run chmod 600 ${file}`,
      );
    },
  );

  it('refuses a malformed secrets file without quoting any of it', async () => {
    const file = await secretsFile('wrong.yaml', 'apiKey: k3y-abc\napi_secret: s3cr3t\n');
    const list = await secretsFile('list.yaml', '- k3y-abc\n');
    for (const path of [file, list]) {
      const error = await configErrorOf(resolveCredentials({ credentials: { file: path } }, {}));
      for (const secret of SECRETS) expect(error.message).not.toContain(secret);
      for (const secret of SECRETS) expect(JSON.stringify(error.issues)).not.toContain(secret);
    }
  });

  it('names a missing secrets file', async () => {
    const file = join(dir, 'missing.yaml');
    const error = await configErrorOf(resolveCredentials({ credentials: { file } }, {}));
    expect(error.message).toContain(file);
    expect(error.message).toContain('ENOENT');
  });
});

describe('resolveServiceCredentials', () => {
  it("gives each collector its own credentials, else the service's", async () => {
    const config = parseServiceConfig({
      credentials: { apiKeyEnv: 'SHARED_KEY' },
      collectors: [
        { exchange: 'okx', symbol: 'A-B' },
        { exchange: 'okx', symbol: 'C-D', credentials: { apiKeyEnv: 'OWN_KEY' } },
      ],
    });
    const env = { SHARED_KEY: 'k3y-abc', OWN_KEY: 'p4ss' };
    const resolved = await resolveServiceCredentials(config, env);
    expect(resolved.map((c) => c?.get('apiKey'))).toEqual(['k3y-abc', 'p4ss']);
  });

  it('reports the problems of every collector at once', async () => {
    const config = parseServiceConfig({
      collectors: [
        { exchange: 'okx', symbol: 'A-B', credentials: { apiKeyEnv: 'NOT_SET_1' } },
        { exchange: 'okx', symbol: 'C-D' },
        { exchange: 'okx', symbol: 'E-F', credentials: { secretKeyEnv: 'NOT_SET_2' } },
      ],
    });
    const error = await configErrorOf(resolveServiceCredentials(config, {}));
    expect(error.issues.map((i) => i.field)).toEqual([
      'collectors.0.credentials.apiKeyEnv',
      'collectors.2.credentials.secretKeyEnv',
    ]);
  });
});

describe('Credentials', () => {
  const credentials = new Credentials({
    apiKey: 'k3y-abc',
    secretKey: 's3cr3t',
    passphrase: 'p4ss',
  });

  it('shows no secret when serialized, inspected, spread or printed', () => {
    const shown = [
      JSON.stringify({ deep: { deeper: { credentials } } }),
      inspect({ credentials }, { depth: 10 }),
      String(credentials),
      `${credentials}`,
      JSON.stringify({ ...credentials }),
      Object.keys(credentials).join(','),
    ].join('\n');
    for (const secret of SECRETS) expect(shown).not.toContain(secret);
    expect(shown).toContain('[redacted]');
  });

  it('never reaches a log line, at any depth', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (l) => lines.push(l) } });
    logger.info({ credentials }, 'resolved');
    logger.info({ collector: { a: { b: { c: { credentials } } } } }, 'nested');
    logger.info({ secrets: credentials.names() }, 'names only');
    logger.child({ credentials }).warn('child');
    const text = lines.join('');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(lines).toHaveLength(4);
  });
});

describe('checkPrivateFile', () => {
  it('passes on Windows, whose ACLs mode bits do not describe', async () => {
    const file = await secretsFile('windows.yaml', 'apiKey: k3y-abc\n', 0o644);
    await expect(
      checkPrivateFile(file, { kind: 'secrets file', because: 'x', platform: 'win32' }),
    ).resolves.toBeUndefined();
  });

  it.skipIf(process.platform === 'win32')(
    'quotes a path that needs it in the command',
    async () => {
      const file = await secretsFile("it's here.yaml", 'apiKey: k3y-abc\n', 0o604);
      const error = await configErrorOf(
        checkPrivateFile(file, { kind: 'config file', because: 'apiKey' }),
      );
      expect(error.message.endsWith(`run chmod 600 '${file.replace("'", "'\\''")}'`)).toBe(true);
    },
  );
});
