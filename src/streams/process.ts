import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Process resources for the status: memory, CPU and event-loop delay. Sampling is cheap (no
 * history is kept beyond the delay histogram, which Node maintains incrementally).
 */
export interface ProcessResources {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  /** CPU time used since the monitor started, microseconds. */
  readonly cpuUserMicros: number;
  readonly cpuSystemMicros: number;
  /** Event-loop delay since the monitor started, milliseconds; undefined before any sample. */
  readonly eventLoopDelayP50Ms: number | undefined;
  readonly eventLoopDelayP99Ms: number | undefined;
  readonly eventLoopDelayMaxMs: number | undefined;
}

const NS_PER_MS = 1e6;

export class ProcessMonitor {
  private histogram: IntervalHistogram | undefined;
  private cpuBase = process.cpuUsage();

  /** Starts the event-loop delay histogram. Idempotent. */
  start(): void {
    if (this.histogram !== undefined) return;
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
    this.histogram.enable();
    this.cpuBase = process.cpuUsage();
  }

  /** Stops it, so a stopped runtime holds no timer. Idempotent. */
  stop(): void {
    this.histogram?.disable();
    this.histogram = undefined;
  }

  sample(): ProcessResources {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage(this.cpuBase);
    const h = this.histogram;
    const seen = h !== undefined && h.count > 0;
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      cpuUserMicros: cpu.user,
      cpuSystemMicros: cpu.system,
      eventLoopDelayP50Ms: seen ? h.percentile(50) / NS_PER_MS : undefined,
      eventLoopDelayP99Ms: seen ? h.percentile(99) / NS_PER_MS : undefined,
      eventLoopDelayMaxMs: seen ? h.max / NS_PER_MS : undefined,
    };
  }
}
