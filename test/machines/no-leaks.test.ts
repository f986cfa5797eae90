import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../support/exit-check.ts', import.meta.url));

describe('stopAll', () => {
  it('leaves no timer or socket behind: the process exits by itself, with no stray exception', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('exit', (exitCode) => {
        clearTimeout(killer);
        resolve(exitCode);
      });
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim()) as { events: number; trips: string[] };
    expect(result.trips).toEqual([]);
    expect(result.events).toBeGreaterThanOrEqual(5);
  }, 20_000);
});
