import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The bench's handle on replay-server.ts, running as a child process. */

export interface ServerInfo {
  readonly port: number;
  readonly frames: number;
  readonly trades: number;
  readonly payloadBytes: number;
  readonly wireBytes: number;
  readonly instIds: readonly string[];
  readonly recorded: number;
}

export interface BlastReport {
  /** Connections subscribed to a `trades` channel when the blast began. */
  readonly connections: number;
  /** Of those, how many took every byte before closing. */
  readonly completed: number;
  readonly frames: number;
  /** Until the last byte was handed to the kernel. */
  readonly ms: number;
}

export interface ReplayServer {
  readonly info: ServerInfo;
  /** Base endpoint for a collector; the adapter appends `/public`. */
  readonly endpoint: string;
  /** Where a bare client connects. */
  readonly publicUrl: string;
  /** Asks the server to send every frame to each connection subscribed to trades. */
  blast(): Promise<BlastReport>;
  /** Ends the server process; idempotent. */
  stop(): Promise<void>;
}

const SERVER = fileURLToPath(new URL('./replay-server.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export async function startReplayServer(frames: number): Promise<ReplayServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, String(frames)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let info: ServerInfo;
  try {
    info = await readInfo(child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  let pending:
    | { resolve: (report: BlastReport) => void; reject: (error: Error) => void }
    | undefined;
  const settle = (): typeof pending => {
    const settled = pending;
    pending = undefined;
    return settled;
  };
  child.on('message', (message: unknown) => settle()?.resolve(message as BlastReport));
  const exited = once(child, 'exit');
  child.on('exit', (code, signal) => {
    settle()?.reject(new Error(`the replay server exited (${signal ?? code}) during a blast`));
  });
  return {
    info,
    endpoint: `ws://127.0.0.1:${info.port}/ws/v5`,
    publicUrl: `ws://127.0.0.1:${info.port}/ws/v5/public`,
    blast() {
      if (pending !== undefined) return Promise.reject(new Error('a blast is already running'));
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send({ type: 'blast' }, (error) => {
          if (error !== null) settle()?.reject(error);
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The server's one stdout line, printed once it listens. */
async function readInfo(child: ChildProcess): Promise<ServerInfo> {
  if (child.stdout === null) throw new Error('the replay server has no stdout');
  const lines = createInterface({ input: child.stdout });
  const timeout = AbortSignal.timeout(START_TIMEOUT_MS);
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the replay server exited with code ${String(code)} before listening`);
  });
  // Once the server listens this promise loses the race; its later rejection is nobody's fault.
  exited.catch(() => {});
  const [line] = (await Promise.race([once(lines, 'line', { signal: timeout }), exited])) as [
    string,
  ];
  lines.close();
  const info = JSON.parse(line) as ServerInfo;
  if (!Number.isInteger(info.port) || !Array.isArray(info.instIds)) {
    throw new Error(`the replay server printed an unexpected line: ${line}`);
  }
  return info;
}
