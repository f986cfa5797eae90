import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';
import { MockOkx, type MockOkxOptions } from './mock-okx.ts';

const RECORDING = new URL(
  '../../../shared/fixtures/okx/cryptofeed_okx_v5_public_2022-05-13.jsonl',
  import.meta.url,
);

/** A plain ws client that keeps every text frame and how the connection ended. */
interface Client {
  readonly ws: WebSocket;
  readonly frames: string[];
  readonly events: string[];
  closeCode: number | undefined;
}

let mock: MockOkx;
const clients: Client[] = [];

async function startMock(options: MockOkxOptions = {}): Promise<void> {
  await mock.close();
  mock = await MockOkx.start(options);
}

function connect(path = '/public', options: ClientOptions = {}): Client {
  const ws = new WebSocket(`${mock.url}${path}`, options);
  const client: Client = { ws, frames: [], events: [], closeCode: undefined };
  ws.on('open', () => client.events.push('open'));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) client.frames.push(String(data));
  });
  ws.on('error', (error) => client.events.push(`error:${errorCode(error)}`));
  ws.on('close', (code) => {
    client.closeCode = code;
    client.events.push(`close:${code}`);
  });
  clients.push(client);
  return client;
}

async function open(path = '/public'): Promise<Client> {
  const client = connect(path);
  await mock.waitFor(() => client.events.includes('open'), 2000, 'client open');
  return client;
}

async function subscribe(client: Client, args: object[], id?: string): Promise<unknown[]> {
  const before = client.frames.length;
  client.ws.send(JSON.stringify({ ...(id === undefined ? {} : { id }), op: 'subscribe', args }));
  await mock.waitFor(() => client.frames.length >= before + args.length, 2000, 'replies');
  return client.frames.slice(before).map((frame) => JSON.parse(frame));
}

async function frameCount(client: Client, count: number): Promise<string[]> {
  await mock.waitFor(() => client.frames.length >= count, 2000, `${count} frames`);
  return client.frames;
}

function errorCode(error: Error): string {
  return 'code' in error && typeof error.code === 'string' ? error.code : error.message;
}

function recordedLines(channel: string, instId: string): string[] {
  const arg = `"arg":{"channel":"${channel}","instId":"${instId}"},"data"`;
  return readFileSync(RECORDING, 'utf8')
    .split('\n')
    .filter((line) => line.includes(arg));
}

beforeEach(async () => {
  mock = await MockOkx.start({ unknownInstIds: ['NOPE-USDT'] });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await mock.close();
});

describe('protocol', () => {
  it('answers the text ping with the text pong', async () => {
    const client = await open();
    client.ws.send('ping');
    expect(await frameCount(client, 1)).toEqual(['pong']);
    expect(mock.pingsReceived).toBe(1);
  });

  it('acks every arg with the connection id and the echoed request id', async () => {
    const client = await open();
    const args = [
      { channel: 'trades', instId: 'BTC-USDT' },
      { channel: 'tickers', instId: 'BTC-USDT' },
    ];
    const replies = await subscribe(client, args, 'abc123');
    const connId = mock.connections[0]?.connId;
    expect(connId).toMatch(/^[0-9a-f]{8}$/);
    expect(replies).toEqual(args.map((arg) => ({ id: 'abc123', event: 'subscribe', arg, connId })));
    expect([...(mock.connections[0]?.subscriptions ?? [])]).toEqual([
      'trades:BTC-USDT',
      'tickers:BTC-USDT',
    ]);
  });

  it('answers one unknown symbol of three with a 60018 without arg, acking the rest', async () => {
    const client = await open();
    const args = ['BTC-USDT', 'NOPE-USDT', 'UNI-USD-SWAP'].map((instId) => ({
      channel: 'trades',
      instId,
    }));
    const replies = await subscribe(client, args, '7');
    expect(replies.map((reply) => (reply as { event: string }).event)).toEqual([
      'subscribe',
      'error',
      'subscribe',
    ]);
    expect(replies[1]).toEqual({
      id: '7',
      event: 'error',
      code: '60018',
      msg: "Wrong URL or channel:trades,instId:NOPE-USDT doesn't exist. Please use the correct URL, channel and parameters referring to API document.",
      connId: mock.connections[0]?.connId,
    });
    expect(mock.connections[0]?.subscriptions.has('trades:NOPE-USDT')).toBe(false);
  });

  it('refuses candles on /public and serves them on /business', async () => {
    const arg = { channel: 'candle1m', instId: 'BTC-USDT' };
    const [onPublic] = await subscribe(await open('/public'), [arg]);
    const [onBusiness] = await subscribe(await open('/business'), [arg]);
    expect(onPublic).toMatchObject({ event: 'error', code: '60018' });
    expect(onBusiness).toMatchObject({ event: 'subscribe', arg });
  });

  it.each([
    ['an unknown key (the docs example)', '{"op":"subscribe","argss":[{"channel":"trades"}]}'],
    ['empty args', '{"op":"subscribe","args":[]}'],
    ['an arg without instId', '{"op":"subscribe","args":[{"channel":"trades"}]}'],
    ['an unknown arg key', '{"op":"subscribe","args":[{"channel":"trades","instId":"A","x":"1"}]}'],
    ['a numeric instId', '{"op":"subscribe","args":[{"channel":"trades","instId":1}]}'],
    ['a numeric id', '{"id":1,"op":"subscribe","args":[{"channel":"trades","instId":"A"}]}'],
    ['an id of 33 characters', `{"id":"${'a'.repeat(33)}","op":"subscribe","args":[]}`],
    ['text that is not JSON', '{"op":"subscribe"'],
  ])('answers a request with %s with 60012 quoting the raw text', async (_, text) => {
    const client = await open();
    client.ws.send(text);
    const [reply] = await frameCount(client, 1);
    expect(JSON.parse(reply ?? '')).toMatchObject({
      event: 'error',
      code: '60012',
      msg: `Invalid request: ${text}`,
    });
    expect(mock.requests).toEqual([]);
  });

  it('echoes the id in a validation error and answers an unknown op with 60019', async () => {
    const client = await open();
    client.ws.send('{"id":"9","op":"subscribe","args":"trades"}');
    client.ws.send('{"op":"login","args":[]}');
    const replies = (await frameCount(client, 2)).map((frame) => JSON.parse(frame));
    expect(replies[0]).toMatchObject({ id: '9', event: 'error', code: '60012' });
    expect(replies[1]).toMatchObject({ event: 'error', code: '60019', msg: 'Invalid op: login' });
  });

  it('answers args over 64 KB with 60013', async () => {
    const client = await open();
    const args = Array.from({ length: 2000 }, (_, i) => ({
      channel: 'trades',
      instId: `X${i}-USDT`,
    }));
    client.ws.send(JSON.stringify({ op: 'subscribe', args }));
    const [reply] = await frameCount(client, 1);
    expect(JSON.parse(reply ?? '')).toMatchObject({ event: 'error', code: '60013' });
  });

  it('answers the request past the hourly operation budget with 60014', async () => {
    await startMock({ opsPerHour: 2 });
    const client = await open();
    const arg = { channel: 'trades', instId: 'BTC-USDT' };
    await subscribe(client, [arg]);
    client.ws.send(JSON.stringify({ op: 'unsubscribe', args: [arg] }));
    client.ws.send(JSON.stringify({ op: 'subscribe', args: [arg] }));
    const replies = (await frameCount(client, 3)).map((frame) => JSON.parse(frame));
    expect(replies[1]).toMatchObject({ event: 'unsubscribe', arg });
    expect(replies[2]).toMatchObject({ event: 'error', code: '60014' });
    expect(mock.connections[0]?.subscriptions.size).toBe(0);
    expect(mock.requests.map((request) => request.op)).toEqual([
      'subscribe',
      'unsubscribe',
      'subscribe',
    ]);
  });

  it('serves only /ws/v5/public and /ws/v5/business', async () => {
    const client = connect('/private');
    let status = 0;
    client.ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      client.ws.terminate();
    });
    await mock.waitFor(() => status !== 0);
    expect(status).toBe(404);
    expect(mock.upgradeAttempts.at(-1)).toMatchObject({
      path: '/ws/v5/private',
      outcome: 'not-found',
    });
  });
});

describe('data', () => {
  it('replays the recorded trade frames byte-for-byte, only to subscribers', async () => {
    const subscriber = await open();
    const bystander = await open();
    await subscribe(subscriber, [{ channel: 'trades', instId: 'BTC-USDT' }]);
    const sent = mock.push('trades', 'BTC-USDT', 5);
    mock.push('trades', 'BTC-USDT', 2);
    const expected = recordedLines('trades', 'BTC-USDT').slice(0, 7);
    expect(sent).toEqual(expected.slice(0, 5));
    expect((await frameCount(subscriber, 8)).slice(1)).toEqual(expected);
    expect(bystander.frames).toEqual([]);
  });

  it('rewrites a recording for an instrument it lacks, keeping every value', async () => {
    const client = await open();
    await subscribe(client, [{ channel: 'tickers', instId: 'ETH-USDT' }]);
    mock.push('tickers', 'ETH-USDT');
    const frame = JSON.parse((await frameCount(client, 2))[1] ?? '');
    const recorded = JSON.parse(recordedLines('tickers', 'BTC-USDT')[0] ?? '');
    expect(frame).toEqual({
      arg: { channel: 'tickers', instId: 'ETH-USDT' },
      data: [{ ...recorded.data[0], instId: 'ETH-USDT' }],
    });
  });

  it('synthesizes trades with the chosen ids', async () => {
    const client = await open();
    await subscribe(client, [{ channel: 'trades', instId: 'BTC-USDT-SWAP' }]);
    mock.pushTrades('BTC-USDT-SWAP', [1, 2, 3]);
    mock.pushTrades('BTC-USDT-SWAP', [4, 5], { perFrame: 2 });
    const frames = (await frameCount(client, 5)).slice(1).map((frame) => JSON.parse(frame));
    const ids = frames.map((frame) =>
      frame.data.map((trade: { tradeId: string }) => trade.tradeId),
    );
    expect(ids).toEqual([['1'], ['2'], ['3'], ['4', '5']]);
    expect(frames[0]).toMatchObject({
      arg: { channel: 'trades', instId: 'BTC-USDT-SWAP' },
      data: [{ instId: 'BTC-USDT-SWAP', tradeId: '1', px: '63913.5', seqId: 1 }],
    });
  });

  it('sends data before the ack when acks are delayed, and none when they never come', async () => {
    mock.ackDelayMs = 50;
    const client = await open();
    client.ws.send(
      JSON.stringify({ op: 'subscribe', args: [{ channel: 'trades', instId: 'A-B' }] }),
    );
    await mock.waitFor(() => mock.requests.length === 1);
    mock.pushTrades('A-B', [1]);
    const frames = (await frameCount(client, 2)).map((frame) => JSON.parse(frame));
    expect(frames.map((frame) => frame.event ?? 'data')).toEqual(['data', 'subscribe']);

    mock.neverAck = true;
    client.ws.send(
      JSON.stringify({ op: 'subscribe', args: [{ channel: 'trades', instId: 'C-D' }] }),
    );
    await mock.waitFor(() => mock.requests.length === 2);
    mock.pushTrades('C-D', [1]);
    await frameCount(client, 3);
    expect(JSON.parse(client.frames[2] ?? '')).toMatchObject({ arg: { instId: 'C-D' } });
  });

  it('sends raw frames as given: fragmented, binary, invalid UTF-8', async () => {
    const client = connect();
    const binary: Buffer[] = [];
    client.ws.on('message', (data, isBinary) => {
      if (isBinary) binary.push(data as Buffer);
    });
    await mock.waitFor(() => client.events.includes('open'));
    mock.sendRaw('{"a":1}{"b":2}', { fragments: 3 });
    mock.sendRaw(Buffer.from('{"c":3}'));
    await mock.waitFor(() => client.frames.length === 1 && binary.length === 1);
    expect(client.frames).toEqual(['{"a":1}{"b":2}']);
    expect(String(binary[0])).toBe('{"c":3}');
    mock.sendRaw(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
    await mock.waitFor(() => mock.closes.length === 1);
    // The client stops reading once it fails, so it reports 1006; the mock saw its 1007.
    expect(client.events).toEqual(['open', 'error:WS_ERR_INVALID_UTF8', 'close:1006']);
    expect(mock.closes[0]).toMatchObject({ connection: 1, code: 1007 });
  });
});

describe('faults', () => {
  it('refuses upgrades with HTTP 451 until told otherwise', async () => {
    mock.refuseUpgrades(451);
    const client = connect();
    let status = 0;
    client.ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      client.ws.terminate();
    });
    await mock.waitFor(() => status !== 0);
    expect(status).toBe(451);
    mock.refuseUpgrades(null);
    await open();
    expect(mock.upgradeAttempts.map((attempt) => attempt.outcome)).toEqual(['refused', 'accepted']);
    expect(mock.connectionCount).toBe(1);
  });

  it('resets the TCP connection, or sends a corrupt frame after the handshake', async () => {
    mock.refuseUpgrades('reset');
    const reset = connect();
    await mock.waitFor(() => reset.closeCode !== undefined);
    expect(reset.events[0]).toMatch(/^error:/);
    mock.refuseUpgrades('malformed');
    const malformed = connect();
    await mock.waitFor(() => malformed.closeCode !== undefined);
    expect(malformed.events).toEqual(['open', 'error:WS_ERR_UNEXPECTED_RSV_1', 'close:1006']);
    expect(mock.connectionCount).toBe(0);
  });

  it('holds an upgrade until the client gives up, or delays it', async () => {
    mock.holdUpgrades(true);
    const held = connect('/public', { handshakeTimeout: 100 });
    await mock.waitFor(() => held.closeCode !== undefined);
    expect(held.events[0]).toMatch(/^error:.*timed out/);
    await mock.waitFor(() => mock.openSocketCount() === 0, 2000, 'held socket closed');
    mock.holdUpgrades(false).delayUpgrade(50);
    const delayed = connect();
    await mock.waitFor(() => mock.upgradeAttempts.length === 2);
    expect(delayed.events).toEqual([]);
    await mock.waitFor(() => delayed.events.includes('open'));
  });

  it('stays silent and ignores close frames while blackholed, keeping TCP open', async () => {
    const client = await open();
    await subscribe(client, [{ channel: 'trades', instId: 'BTC-USDT' }]);
    mock.blackhole();
    client.ws.send('ping');
    client.ws.close(1000);
    await mock.waitFor(() => mock.pingsReceived === 1);
    expect(mock.push('trades', 'BTC-USDT')).toEqual([]);
    // Silence can only be shown by waiting; 50 ms is ample on loopback.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.frames).toHaveLength(1);
    expect(client.ws.readyState).toBe(WebSocket.CLOSING);
    expect(mock.openSocketCount()).toBe(1);
    mock.blackhole(false);
    expect(mock.push('trades', 'BTC-USDT')).toHaveLength(1);
  });

  it('stops answering pings but keeps the data flowing', async () => {
    const client = await open();
    await subscribe(client, [{ channel: 'trades', instId: 'BTC-USDT' }]);
    mock.answerPings(false);
    client.ws.send('ping');
    await mock.waitFor(() => mock.pingsReceived === 1);
    // A pong, had one been sent, would now arrive before this trade.
    const [trade] = mock.push('trades', 'BTC-USDT');
    expect((await frameCount(client, 2))[1]).toBe(trade);
    mock.stopData();
    expect(mock.push('trades', 'BTC-USDT')).toEqual([]);
    mock.resumeData();
    expect(mock.push('trades', 'BTC-USDT')).toEqual(
      recordedLines('trades', 'BTC-USDT').slice(1, 2),
    );
  });

  it('drops connections with a close code, an empty close frame or a reset', async () => {
    const [a, b] = [await open(), await open()];
    mock.drop(1, 4004, 'No data received in 30s');
    mock.drop(2, 1005);
    await mock.waitFor(() => a.closeCode !== undefined && b.closeCode !== undefined);
    const [c, d] = [await open(), await open()];
    mock.dropAll();
    await mock.waitFor(() => mock.closes.length === 4);
    expect([a, b, c, d].map((client) => client.closeCode)).toEqual([4004, 1005, 1006, 1006]);
    const closes = [...mock.closes].sort((x, y) => x.connection - y.connection);
    expect(closes.map((closed) => closed.code)).toEqual([4004, 1005, 1006, 1006]);
    expect(mock.connections).toEqual([]);
  });

  it('closes the connection on a subscribe before acking it', async () => {
    mock.closeOnSubscribe = 'terminate';
    const client = await open();
    client.ws.send(
      JSON.stringify({ op: 'subscribe', args: [{ channel: 'trades', instId: 'A-B' }] }),
    );
    await mock.waitFor(() => client.closeCode !== undefined);
    expect(client.closeCode).toBe(1006);
    expect(client.frames).toEqual([]);
    expect(mock.requests).toHaveLength(1);
  });

  it('sends the 64008 notice with each connection id', async () => {
    const [a, b] = [await open(), await open('/business')];
    expect(mock.sendNotice()).toBe(2);
    await mock.waitFor(() => a.frames.length === 1 && b.frames.length === 1);
    expect(JSON.parse(a.frames[0] ?? '')).toEqual({
      event: 'notice',
      code: '64008',
      msg: 'The connection will soon be closed for a service upgrade. Please reconnect.',
      connId: mock.connections[0]?.connId,
    });
    expect(JSON.parse(b.frames[0] ?? '').connId).toBe(mock.connections[1]?.connId);
  });

  it('makes a client error on a frame with RSV1 set mid-stream', async () => {
    const client = await open();
    mock.sendCorruptFrame('rsv1');
    await mock.waitFor(() => client.closeCode !== undefined && mock.closes.length === 1);
    expect(client.events).toEqual(['open', 'error:WS_ERR_UNEXPECTED_RSV_1', 'close:1006']);
    expect(mock.closes[0]?.code).toBe(1002);
  });
});

/** A plain GET against the mock's REST origin; the body parsed as JSON when there is one. */
async function rest(
  path: string,
): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
  const response = await fetch(`${mock.restUrl}${path}`);
  const text = await response.text();
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** The `data` of an OKX envelope, asserting `code` "0". */
async function restData(path: string): Promise<Record<string, unknown>[]> {
  const { status, body } = await rest(path);
  expect(status).toBe(200);
  expect(body).toMatchObject({ code: '0', msg: '' });
  return (body as { data: Record<string, unknown>[] }).data;
}

const tradeIdsOf = (rows: Record<string, unknown>[]) => rows.map((row) => Number(row.tradeId));

describe('rest books', () => {
  const bids = [
    ['100.5', '2', '0', '1'],
    ['100.4', '3', '0', '2'],
  ];
  const asks = [
    ['100.6', '1', '0', '1'],
    ['100.7', '4', '0', '3'],
  ];

  it('serves the book set for an instrument, cut to sz, in the docs shape', async () => {
    mock.setRestBook('BTC-USDT', { bids, asks, seqId: 5000, ts: 1786538760218 });
    expect(await restData('/api/v5/market/books?instId=BTC-USDT&sz=400')).toEqual([
      { asks, bids, ts: '1786538760218', seqId: 5000 },
    ]);
    // The docs' default depth is 1.
    expect(await restData('/api/v5/market/books?instId=BTC-USDT')).toEqual([
      { asks: [asks[0]], bids: [bids[0]], ts: '1786538760218', seqId: 5000 },
    ]);
  });

  it('serves a snapshot older than the stream for the first replies when asked', async () => {
    mock.setRestBook('BTC-USDT', { bids, asks, seqId: 5000 }, { lagSeq: 30, lagResponses: 2 });
    const seqIds: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      seqIds.push((await restData('/api/v5/market/books?instId=BTC-USDT&sz=5'))[0]?.seqId);
    }
    expect(seqIds).toEqual([4970, 4970, 5000]);
  });

  it('serves an empty book without seqId for an instrument nobody set', async () => {
    const [book] = await restData('/api/v5/market/books?instId=ETH-USDT&sz=5');
    expect(book).toEqual({ asks: [], bids: [], ts: expect.stringMatching(/^\d{13}$/) });
  });

  it.each([
    ['an unknown instrument', '?instId=NOPE-USDT', 200, '51001'],
    ['no instId', '?sz=5', 400, '50014'],
    ['a depth over 400', '?instId=BTC-USDT&sz=401', 400, '51000'],
    ['a depth that is not a number', '?instId=BTC-USDT&sz=abc', 400, '51000'],
  ])('answers %s with the OKX error envelope', async (_, query, status, code) => {
    const reply = await rest(`/api/v5/market/books${query}`);
    expect(reply).toMatchObject({ status, body: { code, data: [] } });
  });

  it('logs every REST request with its status, and answers other paths with 404', async () => {
    await rest('/api/v5/market/books?instId=BTC-USDT&sz=2');
    expect(await rest('/api/v5/market/candles?instId=BTC-USDT')).toEqual({
      status: 404,
      retryAfter: null,
      body: undefined,
    });
    expect(mock.restRequests).toEqual([
      {
        at: expect.any(Number),
        method: 'GET',
        path: '/api/v5/market/books',
        query: { instId: 'BTC-USDT', sz: '2' },
        status: 200,
      },
      expect.objectContaining({ path: '/api/v5/market/candles', status: 404 }),
    ]);
  });
});

describe('rest trades', () => {
  const history = (query: string) => restData(`/api/v5/market/history-trades?${query}`);

  it('keeps every pushed trade, heard or not, and trades recorded during an outage', async () => {
    const client = await open();
    await subscribe(client, [{ channel: 'trades', instId: 'BTC-USDT-SWAP' }]);
    mock.pushTrades('BTC-USDT-SWAP', [1, 2]);
    mock.stopData();
    expect(mock.pushTrades('BTC-USDT-SWAP', [3])).toEqual([]);
    mock.resumeData();
    mock.recordTrades('BTC-USDT-SWAP', [4, 5]);
    mock.pushTrades('BTC-USDT-SWAP', [6]);
    const frames = (await frameCount(client, 4)).slice(1).map((frame) => JSON.parse(frame));
    expect(frames.map((frame) => frame.data[0].tradeId)).toEqual(['1', '2', '6']);
    expect(mock.tradeHistory('BTC-USDT-SWAP')).toEqual([1, 2, 3, 4, 5, 6]);
    const rows = await history('instId=BTC-USDT-SWAP');
    expect(tradeIdsOf(rows)).toEqual([6, 5, 4, 3, 2, 1]);
    // The REST row of the docs: one fill, no count and no seqId; values and ts as pushed.
    expect(rows[5]).toEqual({
      instId: 'BTC-USDT-SWAP',
      side: frames[0].data[0].side,
      sz: frames[0].data[0].sz,
      px: frames[0].data[0].px,
      tradeId: '1',
      ts: frames[0].data[0].ts,
    });
  });

  it('pages newest first by trade id; before alone gives the newest above it', async () => {
    mock.recordTrades(
      'BTC-USDT',
      Array.from({ length: 250 }, (_, i) => 1001 + i),
    );
    expect(tradeIdsOf(await history('instId=BTC-USDT&type=1&after=1011&limit=3'))).toEqual([
      1010, 1009, 1008,
    ]);
    expect(tradeIdsOf(await history('instId=BTC-USDT&after=1003'))).toEqual([1002, 1001]);
    expect(tradeIdsOf(await history('instId=BTC-USDT&before=1100&limit=2'))).toEqual([1250, 1249]);
    expect(tradeIdsOf(await history('instId=BTC-USDT&after=1010&before=1006'))).toEqual([
      1009, 1008, 1007,
    ]);
    // limit is at most 100; a larger one returns 100.
    expect(await history('instId=BTC-USDT&limit=500')).toHaveLength(100);
    expect(await history('instId=BTC-USDT&after=1001')).toEqual([]);
  });

  it('pages by timestamp with type=2, which does not take before', async () => {
    mock.recordTrades('BTC-USDT', [1, 2, 3]);
    const [newest] = await history('instId=BTC-USDT&type=2');
    const ts = Number(newest?.ts) + 1;
    expect(tradeIdsOf(await history(`instId=BTC-USDT&type=2&after=${ts}`))).toEqual([3, 2, 1]);
    const refused = await rest(`/api/v5/market/history-trades?instId=BTC-USDT&type=2&before=${ts}`);
    expect(refused).toMatchObject({ status: 200, body: { code: '50039', data: [] } });
  });

  it.each([
    ['a limit that is not a number', 'instId=BTC-USDT&limit=ten', 400, '51000'],
    ['a cursor that is not a trade id', 'instId=BTC-USDT&after=1e3', 400, '51000'],
    ['an unknown type', 'instId=BTC-USDT&type=3', 400, '51000'],
    ['an unknown instrument', 'instId=NOPE-USDT', 200, '51001'],
  ])('answers %s with the OKX error envelope', async (_, query, status, code) => {
    const reply = await rest(`/api/v5/market/history-trades?${query}`);
    expect(reply).toMatchObject({ status, body: { code } });
  });
});

describe('rest faults', () => {
  it('answers the next n requests with 429, OKX 50011 and Retry-After', async () => {
    mock.restRateLimit(2, 3);
    const path = '/api/v5/market/books?instId=BTC-USDT';
    const replies = [await rest(path), await rest('/api/v5/market/history-trades?instId=A-B')];
    for (const reply of replies) {
      expect(reply).toEqual({
        status: 429,
        retryAfter: '3',
        body: { msg: 'Too Many Requests', code: '50011' },
      });
    }
    expect((await rest(path)).status).toBe(200);
    mock.restRateLimit(1);
    expect(await rest(path)).toMatchObject({ status: 429, retryAfter: null });
    expect(mock.restRequests.map((request) => request.status)).toEqual([429, 429, 200, 429]);
  });

  it('delays replies, and carries on after a client gave up on one', async () => {
    mock.restDelayMs = 200;
    const controller = new AbortController();
    const url = `${mock.restUrl}/api/v5/market/books?instId=BTC-USDT`;
    const aborted = fetch(url, { signal: controller.signal });
    await mock.waitFor(() => mock.restRequests.length === 1);
    controller.abort();
    await expect(aborted).rejects.toThrow(/abort/i);
    // Not asserted: openSocketCount(). undici opens a fresh idle connection after an abort.
    mock.restDelayMs = 20;
    expect((await rest('/api/v5/market/books?instId=BTC-USDT')).status).toBe(200);
  });
});

describe('book pushes', () => {
  it('sends book snapshots and updates shaped like OKX, to subscribers only', async () => {
    const client = await open();
    const bystander = await open();
    await subscribe(client, [{ channel: 'books', instId: 'BTC-USDT' }]);
    mock.pushBook('BTC-USDT', { action: 'snapshot', seqId: 10, bids: [['1', '2', '0', '1']] });
    mock.pushBook('BTC-USDT', { action: 'update', prevSeqId: 10, seqId: 14 });
    mock.pushBook('BTC-USDT', { action: 'update', seqId: 14 });
    const frames = (await frameCount(client, 4)).slice(1).map((frame) => JSON.parse(frame));
    expect(frames[0]).toEqual({
      arg: { channel: 'books', instId: 'BTC-USDT' },
      action: 'snapshot',
      data: [
        {
          asks: [],
          bids: [['1', '2', '0', '1']],
          ts: expect.stringMatching(/^\d{13}$/),
          checksum: 0,
          prevSeqId: -1,
          seqId: 10,
        },
      ],
    });
    // An update without prevSeqId is the idle keep-alive: prevSeqId equals seqId.
    expect(frames.slice(1).map((frame) => [frame.action, frame.data[0].prevSeqId])).toEqual([
      ['update', 10],
      ['update', 14],
    ]);
    expect(bystander.frames).toEqual([]);
  });
});

describe('close', () => {
  it('leaves no open sockets, even with held upgrades and blackholed connections', async () => {
    const client = await open();
    mock.blackhole().holdUpgrades(true);
    connect();
    await mock.waitFor(() => mock.upgradeAttempts.length === 2);
    expect(mock.openSocketCount()).toBe(2);
    await Promise.all([mock.close(), mock.close()]);
    expect(mock.openSocketCount()).toBe(0);
    expect(mock.connections).toEqual([]);
    await mock.waitFor(() => client.closeCode !== undefined);
    await mock.close();
  });
});
