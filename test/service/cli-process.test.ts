import { afterEach, describe, expect, it } from 'vitest';
import { loadReplayProgram } from '../../src/service/recordings.ts';
import { MockOkx } from '../support/mock-okx.ts';
import { type Run, cli as spawnCli, node as spawnNode } from '../support/spawn-cli.ts';

/** The CLI as a user runs it, through tsx so no build is needed; a free port for its listener. */
const FREE_PORT = { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' };

function cli(args: readonly string[]): Run {
  return spawnCli(args, FREE_PORT);
}

function node(args: readonly string[]): Run {
  return spawnNode(args, FREE_PORT);
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('market-collector as a process', () => {
  it('exits 2 with the field and value on stderr for an invalid log level', async () => {
    const run = cli(['run', '--symbols', 'BTC-USDT', '--log-level', 'nope']);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/logLevel: got "nope", expected one of fatal, error,/);
    expect(run.stdout()).toBe('');
  });

  it('exits 2 for an unknown data type', async () => {
    const run = cli(['run', '--symbols', 'BTC-USDT', '--data-types', 'foo']);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('collectors.0.dataTypes.0: got "foo"');
  });

  it('demo prints every recorded trade, ticker, book change and candle once, then exits 0', async () => {
    const program = await loadReplayProgram();
    const items = program.frames.reduce(
      (sum, f) => sum + (JSON.parse(f.text).data.length as number),
      0,
    );
    const run = cli(['demo', '--speed', '100', '--loops', '1']);
    expect(await run.exited).toBe(0);
    const events = run
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { type: string; symbol: string });
    expect(events).toHaveLength(items);
    expect(new Set(events.map((e) => e.type))).toEqual(
      new Set(['trade', 'ticker', 'book_change', 'candle']),
    );
    expect(new Set(events.map((e) => e.symbol)).size).toBe(4);
  });

  it('demo stops cleanly on SIGTERM with exit code 0', async () => {
    const run = cli(['demo']);
    await until(() => run.stderr().includes('collectors started'));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain('"reason":"SIGTERM"');
  });
});

describe('market-collector run as a process: shutdown', () => {
  let mock: MockOkx | undefined;

  afterEach(async () => {
    await mock?.close();
    mock = undefined;
  });

  function run(server: MockOkx, ...extra: string[]): Run {
    const args = ['run', '--endpoint', server.url, '--symbols', 'BTC-USDT', ...extra];
    return cli([...args, '--data-types', 'trade,ticker']);
  }

  const lines = (text: string) => text.split('\n').filter((line) => line !== '');

  it('on SIGTERM closes with 1000, writes only whole JSON lines and exits 0', async () => {
    const server = await MockOkx.start({ autoReplay: { intervalMs: 5 } });
    mock = server;
    const child = run(server);
    await until(() => lines(child.stdout()).length >= 20);
    child.child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    await server.waitFor(() => server.closes.length > 0, 2_000, 'close seen');
    expect(server.closes.map((c) => c.code)).toEqual([1000]);
    const out = child.stdout();
    expect(out.endsWith('\n')).toBe(true);
    for (const line of lines(out)) expect(() => JSON.parse(line)).not.toThrow();
    expect(child.stderr()).toContain('"reason":"SIGTERM"');
    expect(child.stderr()).toContain('"msg":"stopped"');
  });

  it('exits at once with 143 on a second SIGTERM while the close is pending', async () => {
    const server = await MockOkx.start();
    mock = server;
    const child = run(server);
    await until(() => server.requests.length > 0 && child.stderr().includes('collectors started'));
    // The peer now ignores the close frame: a clean stop would wait out the close timeout.
    server.blackhole(true);
    child.child.kill('SIGTERM');
    await until(() => child.stderr().includes('stopping collectors'));
    const secondAt = Date.now();
    child.child.kill('SIGTERM');
    expect(await child.exited).toBe(143);
    expect(Date.now() - secondAt).toBeLessThan(500);
    expect(child.stderr()).toContain('signal while stopping');
  });

  it('logs an error and exits 1 when the stop outlasts --shutdown-timeout-ms', async () => {
    const server = await MockOkx.start();
    mock = server;
    const child = run(server, '--shutdown-timeout-ms', '150');
    await until(() => server.requests.length > 0 && child.stderr().includes('collectors started'));
    server.blackhole(true);
    child.child.kill('SIGINT');
    expect(await child.exited).toBe(1);
    expect(child.stderr()).toMatch(/"level":50,.*"msg":"shutdown deadline passed/);
  });
});

describe('the fatal handlers as a process', () => {
  const script = (fault: string) =>
    node([
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "import { installFatalHandlers, processIo } from './src/service/io.ts';" +
        `installFatalHandlers(process, processIo()); ${fault}`,
    ]);

  it('log an uncaught exception or unhandled rejection at fatal, sanitized, and exit 1', async () => {
    const thrown = script("setTimeout(() => { throw new Error('boom token=tok-123'); }, 5);");
    const rejected = script("void Promise.reject(new Error('no password=hunter2'));");
    for (const [child, origin] of [
      [thrown, 'uncaughtException'],
      [rejected, 'unhandledRejection'],
    ] as const) {
      expect(await child.exited).toBe(1);
      const line = JSON.parse(child.stderr().trim()) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 60, origin });
      expect(child.stderr()).not.toMatch(/tok-123|hunter2/);
    }
  });
});
