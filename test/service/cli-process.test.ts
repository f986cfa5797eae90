import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadReplayProgram } from '../../src/service/recordings.ts';

/** The CLI as a user runs it, through tsx so no build is needed. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function cli(args: readonly string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, MARKET_COLLECTOR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
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
    expect(run.stderr()).toMatch(/logLevel: got "nope", expected .*"fatal"/);
    expect(run.stdout()).toBe('');
  });

  it('exits 2 for an unknown data type', async () => {
    const run = cli(['run', '--symbols', 'BTC-USDT', '--data-types', 'foo']);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('collectors.0.dataTypes.0: got "foo"');
  });

  it('demo prints every recorded trade and ticker once, then exits 0', async () => {
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
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['trade', 'ticker']));
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
