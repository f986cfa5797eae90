import { spawnSync } from 'node:child_process';

/**
 * `promtool` from Prometheus (Debian package `prometheus`; .ci/run installs it). A test that needs
 * it is skipped only on a developer's machine without it: under CI (`CI` set) it must run, so a
 * missing promtool fails there instead of passing unseen.
 */

export const PROMTOOL_AVAILABLE = spawnSync('promtool', ['--version']).status === 0;

export const SKIP_PROMTOOL = !PROMTOOL_AVAILABLE && (process.env.CI ?? '') === '';

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

export function promtool(args: readonly string[], input?: string, cwd?: string): PromtoolResult {
  const result = spawnSync('promtool', args, {
    input,
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`;
  return { status: result.status, output };
}
