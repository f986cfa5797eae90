import { describe, expect, it } from 'vitest';
import { createLogger, sanitizeError, serializeError } from '../../src/service/logging.ts';

/** A pino destination that keeps every line, parsed. */
function capture(): {
  lines: Record<string, unknown>[];
  raw: () => string;
  write(s: string): void;
} {
  const chunks: string[] = [];
  return {
    lines: [],
    raw: () => chunks.join(''),
    write(chunk: string) {
      chunks.push(chunk);
      this.lines.push(JSON.parse(chunk) as Record<string, unknown>);
    },
  };
}

const SECRETS = ['hunter2', 'ter2', 'k3y-abc', 's3cr3t', 'p4ss', 'tok-123', 'Zm9vOmJhcg'];

function expectNoSecrets(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

describe('sanitizeError', () => {
  it('strips credentials and query strings from URLs', () => {
    const err = new Error(
      'connect to wss://alice:hunter2@ws.okx.com:8443/ws/v5/private?apiKey=k3y-abc&x=1#frag failed',
    );
    const { name, message } = sanitizeError(err);
    expect(name).toBe('Error');
    expect(message).toBe('connect to wss://ws.okx.com:8443/ws/v5/private failed');
  });

  it('strips user info up to the last @, so a password holding one does not leak', () => {
    const { message } = sanitizeError(new Error('dial ws://bob:hun@ter2@127.0.0.1:8080/ws failed'));
    expect(message).toBe('dial ws://127.0.0.1:8080/ws failed');
  });

  it('redacts key=value, JSON and header style secrets', () => {
    const message = [
      'secretKey=s3cr3t',
      'passphrase: p4ss',
      '{"token":"tok-123"}',
      'Authorization: Basic Zm9vOmJhcg==',
      "password='hunter2'",
    ].join(' ');
    const sanitized = sanitizeError(new Error(message));
    expectNoSecrets(sanitized.message);
    expect(sanitized.message).toContain('[redacted]');
  });

  it('keeps name and code, and drops the stack', () => {
    const err = Object.assign(new TypeError('bad frame'), { code: 'ERR_BAD' });
    const sanitized = sanitizeError(err);
    expect(sanitized).toEqual({ name: 'TypeError', message: 'bad frame', code: 'ERR_BAD' });
    expect(JSON.stringify(sanitized)).not.toContain('at ');
  });

  it('follows causes for the message and the code', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    const sanitized = sanitizeError(new TypeError('fetch failed', { cause }));
    expect(sanitized.message).toBe('fetch failed (cause: connect ECONNREFUSED 127.0.0.1:1)');
    expect(sanitized.code).toBe('ECONNREFUSED');
  });

  it('describes circular objects without throwing', () => {
    const value: Record<string, unknown> = { reason: 'loop', apiKey: 'k3y-abc' };
    value.self = value;
    const sanitized = sanitizeError(value);
    expect(sanitized.name).toBe('NonError');
    expect(sanitized.message).toContain('[circular]');
    expectNoSecrets(sanitized.message);
  });

  it('never throws, whatever was thrown', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const throwingGetter = Object.defineProperty({}, 'message', {
      get() {
        throw new Error('getter');
      },
    });
    const inputs: unknown[] = [
      null,
      undefined,
      'plain string with token=tok-123',
      42,
      10n,
      Symbol('thrown'),
      Object.create(null),
      { message: 12 },
      [1, [2]],
      () => undefined,
      hostile,
      throwingGetter,
      Object.assign(new Error('x'), { name: 42 }),
    ];
    for (const input of inputs) {
      const sanitized = sanitizeError(input);
      expect(typeof sanitized.name).toBe('string');
      expect(typeof sanitized.message).toBe('string');
      expectNoSecrets(sanitized.message);
    }
    expect(sanitizeError('boom')).toEqual({ name: 'NonError', message: 'boom' });
    expect(sanitizeError(null).message).toBe('null');
  });

  it('truncates long messages', () => {
    const { message } = sanitizeError(new Error('x'.repeat(10_000)));
    expect(message.length).toBeLessThanOrEqual(500);
    expect(message.endsWith('…')).toBe(true);
  });
});

describe('createLogger', () => {
  it('redacts secret-bearing fields at any of the first three levels', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    logger.info(
      {
        apiKey: 'k3y-abc',
        collector: { secretKey: 's3cr3t', passphrase: 'p4ss' },
        request: { headers: { authorization: 'Bearer tok-123' } },
        password: 'hunter2',
        symbol: 'BTC-USDT',
      },
      'connecting',
    );
    expectNoSecrets(out.raw());
    const [line] = out.lines;
    expect(line?.apiKey).toBe('[redacted]');
    expect(line?.symbol).toBe('BTC-USDT');
    expect(line?.collector).toEqual({ secretKey: '[redacted]', passphrase: '[redacted]' });
    expect(line?.request).toEqual({ headers: { authorization: '[redacted]' } });
  });

  it('logs errors and messages sanitized, without a stack at info', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    logger.error({ err: new Error('GET https://u:hunter2@h/x?token=tok-123 failed') }, 'failed');
    logger.error(new Error('secret=s3cr3t'));
    logger.error({ err: new Error('password=hunter2') });
    logger.child({ collector: 'c1' }).warn('retrying wss://ws.okx.com/ws?token=%s', 'tok-123');
    expectNoSecrets(out.raw());
    expect(out.lines.map((l) => l.msg)).toEqual([
      'failed',
      'secret=[redacted]',
      'password=[redacted]',
      'retrying wss://ws.okx.com/ws',
    ]);
    const err = out.lines[0]?.err as Record<string, unknown>;
    expect(err).toEqual({ name: 'Error', message: 'GET https://h/x failed' });
  });

  it('adds a sanitized stack at debug', () => {
    const out = capture();
    const logger = createLogger({ level: 'debug', destination: out });
    logger.debug({ err: new Error('token=tok-123') }, 'detail');
    const err = out.lines[0]?.err as Record<string, unknown>;
    expect(err.stack).toEqual(expect.stringContaining('logging.test.ts'));
    expectNoSecrets(out.raw());
  });

  it('writes nothing below its level', () => {
    const out = capture();
    createLogger({ level: 'warn', destination: out }).info('quiet');
    expect(out.lines).toEqual([]);
  });

  it('serializes non-errors through the same sanitizer', () => {
    expect(serializeError('token=tok-123')).toEqual({
      name: 'NonError',
      message: 'token=[redacted]',
    });
  });
});
