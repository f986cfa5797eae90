import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { bookSnapshotUrl, restBaseFor } from '../../src/exchanges/okx/rest.ts';
import { createRestLogic, RestRequestError } from '../../src/machines/rest.ts';
import { MockOkx } from '../support/mock-okx.ts';

let mock: MockOkx;

beforeEach(async () => {
  mock = await MockOkx.start();
});

afterEach(async () => {
  await mock.close();
});

function run(input: { url: string; timeoutMs?: number }, logic = createRestLogic()) {
  const actor = createActor(logic, { input });
  actor.start();
  return actor;
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (error: unknown) => error,
  );
}

describe('createRestLogic', () => {
  it('hands back the status, Retry-After and JSON body of an answer', async () => {
    mock.setRestBook('BTC-USDT', { bids: [['1', '2', '0', '1']], asks: [], seqId: 7, ts: 1e12 });
    const url = bookSnapshotUrl(restBaseFor(mock.url), 'BTC-USDT', 5);
    expect(await toPromise(run({ url, timeoutMs: 2000 }))).toEqual({
      status: 200,
      retryAfter: null,
      body: {
        code: '0',
        msg: '',
        data: [{ asks: [], bids: [['1', '2', '0', '1']], ts: '1000000000000', seqId: 7 }],
      },
    });
  });

  it('answers an HTTP error instead of failing: a 429 with its Retry-After', async () => {
    mock.restRateLimit(1, 7);
    const url = bookSnapshotUrl(mock.restUrl, 'BTC-USDT', 1);
    expect(await toPromise(run({ url }))).toEqual({
      status: 429,
      retryAfter: '7',
      body: { msg: 'Too Many Requests', code: '50011' },
    });
  });

  it('keeps the status of a body that is not JSON', async () => {
    const output = await toPromise(run({ url: `${mock.restUrl}/not/served` }));
    expect(output).toEqual({ status: 404, retryAfter: null, body: undefined });
  });

  it('sends accept and the extra headers', async () => {
    let seen: RequestInit | undefined;
    const fetchStub: typeof fetch = async (_url, init) => {
      seen = init;
      return new Response('{"code":"0"}', { status: 200, headers: { 'retry-after': '1' } });
    };
    const logic = createRestLogic({ fetch: fetchStub });
    const actor = createActor(logic, {
      input: { url: 'https://www.okx.com/x', headers: { 'x-simulated-trading': '1' } },
    });
    actor.start();
    expect(await toPromise(actor)).toEqual({ status: 200, retryAfter: '1', body: { code: '0' } });
    expect(seen?.headers).toEqual({ accept: 'application/json', 'x-simulated-trading': '1' });
  });

  it('aborts the request when the actor is stopped, and reports nothing', async () => {
    let signal: AbortSignal | undefined;
    const fetchStub: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        signal = init?.signal ?? undefined;
        signal?.addEventListener('abort', () => reject(signal?.reason));
      });
    const actor = run({ url: 'https://www.okx.com/x' }, createRestLogic({ fetch: fetchStub }));
    const reports: string[] = [];
    actor.subscribe({ next: () => reports.push('next'), error: () => reports.push('error') });
    expect(signal?.aborted).toBe(false);
    actor.stop();
    actor.stop();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(signal?.aborted).toBe(true);
    expect(actor.getSnapshot().status).toBe('stopped');
    expect(reports).toEqual([]);
  });

  it('stops a real request in flight without waiting for the reply', async () => {
    mock.restDelayMs = 5000;
    const actor = run({ url: bookSnapshotUrl(mock.restUrl, 'BTC-USDT', 1) });
    await mock.waitFor(() => mock.restRequests.length === 1);
    actor.stop();
    expect(actor.getSnapshot().status).toBe('stopped');
  });

  it('fails with reason network when nothing answers', async () => {
    const url = bookSnapshotUrl(mock.restUrl, 'BTC-USDT', 1);
    await mock.close();
    const error = await rejection(toPromise(run({ url, timeoutMs: 2000 })));
    expect(error).toBeInstanceOf(RestRequestError);
    expect(error).toMatchObject({ reason: 'network', url });
    expect((error as Error).message).toMatch(/^GET .* failed: fetch failed \(ECONNREFUSED/);
  });

  it('fails with reason timeout when the answer takes longer than timeoutMs', async () => {
    mock.restDelayMs = 2000;
    const url = bookSnapshotUrl(mock.restUrl, 'BTC-USDT', 1);
    const error = await rejection(toPromise(run({ url, timeoutMs: 50 })));
    expect(error).toMatchObject({ reason: 'timeout', message: `GET ${url} timed out after 50 ms` });
  });
});
