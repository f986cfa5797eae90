import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockOkx } from '../support/mock-okx.ts';
import { promtool, SKIP_PROMTOOL } from '../support/promtool.ts';
import { cli, type Run } from '../support/spawn-cli.ts';

/** `market-collector run` with its admin listener, as an operator's probes and scrapers see it. */

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not met in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The URL of the `admin listening` log line: with `--http 127.0.0.1:0` the port is chosen. */
function adminUrl(stderr: string): string | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.includes('"msg":"admin listening"')) continue;
    return (JSON.parse(line) as { url: string }).url;
  }
  return undefined;
}

async function readyz(url: string): Promise<{ status: number; body: unknown } | undefined> {
  try {
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: await res.json() };
  } catch {
    return undefined;
  }
}

describe('market-collector run --http', () => {
  let mock: MockOkx;
  let run: Run;
  let url: string;

  beforeAll(async () => {
    mock = await MockOkx.start({ autoReplay: { intervalMs: 20 } });
    run = cli(['run', '--endpoint', mock.url, '--symbols', 'BTC-USDT', '--http', '127.0.0.1:0']);
    url = await until(() => adminUrl(run.stderr()), 'admin listening');
  });

  afterAll(async () => {
    run.child.kill('SIGKILL');
    await mock.close();
  });

  it('logs the address it listens on and answers /readyz 200 once subscribed', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await until(async () => {
      const answer = await readyz(url);
      return answer?.status === 200 ? answer : undefined;
    }, 'ready');
    expect(ready.body).toEqual({ status: 'ready', checks: [] });
  });

  it.skipIf(SKIP_PROMTOOL)('serves /metrics that pass promtool check metrics', async () => {
    await until(() => (run.stdout().split('\n').length > 10 ? true : undefined), 'events');
    const scrape = await (await fetch(`${url}/metrics`)).text();
    expect(scrape).toMatch(/^market_collector_events_emitted_total\{[^}]*\} [1-9]/m);
    const result = promtool(['check', 'metrics'], scrape);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('prints the collectors with `status`, without color under NO_COLOR', async () => {
    const status = cli(['status', '--url', url], { NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(await status.exited).toBe(0);
    expect(status.stdout()).toMatch(/^COLLECTOR +EXCHANGE +STATE/m);
    expect(status.stdout()).toMatch(/^okx-1 +okx +subscribed /m);
    expect(status.stdout()).not.toContain('\u001b[');
  });

  it('answers /readyz 503 from the moment SIGTERM arrives, then exits 0', async () => {
    // The peer now ignores the close frame: the stop waits out the close timeout (1 s).
    mock.blackhole(true);
    run.child.kill('SIGTERM');
    const first = await until(async () => {
      const answer = await readyz(url);
      if (answer === undefined) throw new Error('the listener closed before /readyz said 503');
      return answer.status === 200 ? undefined : answer;
    }, 'not ready');
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({
      status: 'not ready',
      checks: expect.arrayContaining([{ name: 'shutdown', ok: false, message: 'shutting down' }]),
    });
    expect(await run.exited).toBe(0);
    await expect(fetch(`${url}/livez`)).rejects.toThrow();
  });
});

describe('market-collector status and exchanges as processes', () => {
  it('status exits 1 and says why when nothing listens', async () => {
    const status = cli(['status', '--url', 'http://127.0.0.1:1/']);
    expect(await status.exited).toBe(1);
    expect(status.stderr()).toContain('cannot read http://127.0.0.1:1/status');
    expect(status.stdout()).toBe('');
  });

  it('exchanges lists every supported exchange with its data types', async () => {
    const exchanges = cli(['exchanges']);
    expect(await exchanges.exited).toBe(0);
    expect(exchanges.stdout()).toMatch(/^EXCHANGE +DATA TYPES +DEFAULT ENDPOINT$/m);
    expect(exchanges.stdout()).toMatch(/^okx +trade, ticker, orderbook, candle +wss:\/\//m);
  });
});
