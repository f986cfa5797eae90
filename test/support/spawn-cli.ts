import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The project root, where `node --import tsx src/service/cli.ts` runs the CLI without a build. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** Runs node with `args` in the project root, collecting its output. */
export function node(args: readonly string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, MARKET_COLLECTOR_LOG_LEVEL: 'info', ...env },
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

/** `market-collector ARGS` as a user runs it. */
export function cli(args: readonly string[], env: Record<string, string> = {}): Run {
  return node(['--import', 'tsx', 'src/service/cli.ts', ...args], env);
}
