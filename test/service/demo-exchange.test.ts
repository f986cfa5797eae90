import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type DemoExchange, startDemoExchange } from '../../src/service/demo-exchange.ts';
import { RECORDINGS_URL, restampFrame } from '../../src/service/recordings.ts';

const CRYPTOFEED = 'cryptofeed_okx_v5_public_2022-05-13_trades-tickers-books';

/** Data lines of a shipped recording for one channel and instrument, exactly as stored. */
function recordedLines(file: string, channel: string, instId: string): string[] {
  const text = readFileSync(new URL(file, RECORDINGS_URL), 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .filter((line) => {
      const frame = JSON.parse(line) as { arg?: { channel?: string; instId?: string }; data?: [] };
      return (
        frame.data !== undefined && frame.arg?.channel === channel && frame.arg.instId === instId
      );
    });
}

interface Client {
  readonly ws: WebSocket;
  readonly frames: string[];
  /** Resolves with the next `count` frames received from now on. */
  next(count?: number): Promise<string[]>;
}

const opened: Client[] = [];
let exchange: DemoExchange | undefined;

async function start(options: { speed?: number; passes?: number } = {}): Promise<DemoExchange> {
  exchange = await startDemoExchange(options);
  return exchange;
}

async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const frames: string[] = [];
  let waiters: { count: number; from: number; resolve: (f: string[]) => void }[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    frames.push(String(data));
    waiters = waiters.filter((w) => {
      if (frames.length - w.from < w.count) return true;
      w.resolve(frames.slice(w.from, w.from + w.count));
      return false;
    });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const client: Client = {
    ws,
    frames,
    next: (count = 1) =>
      new Promise((resolve) => waiters.push({ count, from: frames.length, resolve })),
  };
  opened.push(client);
  return client;
}

afterEach(async () => {
  for (const client of opened.splice(0)) client.ws.terminate();
  await exchange?.close();
  exchange = undefined;
});

describe('demo exchange: OKX v5 protocol', () => {
  it('answers the text ping with the text pong', async () => {
    const { endpoint } = await start();
    const client = await connect(`${endpoint}/public`);
    const reply = client.next();
    client.ws.send('ping');
    expect(await reply).toEqual(['pong']);
  });

  it('acks each subscribe arg, echoing the id, with a connId', async () => {
    const { endpoint } = await start();
    const client = await connect(`${endpoint}/public`);
    const args = [
      { channel: 'trades', instId: 'BTC-USDT' },
      { channel: 'tickers', instId: 'BTC-USDT' },
    ];
    const replies = client.next(2);
    client.ws.send(JSON.stringify({ id: 'r1', op: 'subscribe', args }));
    const acks = (await replies).map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(acks.map((ack) => ack.arg)).toEqual(args);
    for (const ack of acks) {
      expect(Object.keys(ack)).toEqual(['id', 'event', 'arg', 'connId']);
      expect(ack).toMatchObject({ id: 'r1', event: 'subscribe' });
      expect(ack.connId).toMatch(/^[0-9a-f]{8}$/);
    }
  });

  it('refuses an instrument it has no recording of with 60018 and no arg', async () => {
    const { endpoint } = await start();
    const client = await connect(`${endpoint}/public`);
    const replies = client.next(2);
    const args = [
      { channel: 'trades', instId: 'BTC-USDT' },
      { channel: 'trades', instId: 'NOPE-USDT' },
    ];
    client.ws.send(JSON.stringify({ id: '7', op: 'subscribe', args }));
    const [ack, error] = (await replies).map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(ack).toMatchObject({ id: '7', event: 'subscribe', arg: args[0] });
    expect(error).toMatchObject({ id: '7', event: 'error', code: '60018' });
    expect(error).not.toHaveProperty('arg');
    expect(error?.msg).toContain('channel:trades,instId:NOPE-USDT');
  });

  it('refuses requests that are not JSON or have an unknown op', async () => {
    const { endpoint } = await start();
    const client = await connect(`${endpoint}/public`);
    const replies = client.next(2);
    client.ws.send('{"op":');
    client.ws.send(JSON.stringify({ op: 'login', args: [] }));
    const codes = (await replies).map((text) => (JSON.parse(text) as { code: string }).code);
    expect(codes).toEqual(['60012', '60019']);
  });

  it('serves candles on /business only and market data on /public only, as OKX does', async () => {
    const { endpoint } = await start();
    const candle = { channel: 'candle1m', instId: 'BTC-USDT' };
    const trades = { channel: 'trades', instId: 'BTC-USDT' };
    const answers = async (group: string) => {
      const client = await connect(`${endpoint}/${group}`);
      const replies = client.next(2);
      client.ws.send(JSON.stringify({ op: 'subscribe', args: [candle, trades] }));
      return (await replies).map((text) => (JSON.parse(text) as { event: string }).event);
    };
    expect(await answers('business')).toEqual(['subscribe', 'error']);
    expect(await answers('public')).toEqual(['error', 'subscribe']);
  });

  it('refuses an upgrade outside /ws/v5/', async () => {
    const { port } = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/other`);
    const status = await new Promise((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.once('error', () => resolve('error'));
    });
    ws.terminate();
    expect(status).toBe(404);
  });
});

describe('demo exchange: replay', () => {
  it('replays the recorded frames of a subscription, byte for byte, in order', async () => {
    const demo = await start({ speed: 200, passes: 1 });
    const client = await connect(`${demo.endpoint}/public`);
    const passed = new Promise<void>((resolve) => demo.onPass(() => resolve()));
    client.ws.send(
      JSON.stringify({ op: 'subscribe', args: [{ channel: 'trades', instId: 'BTC-USDT' }] }),
    );
    await passed;
    const expected = [
      ...recordedLines(`${CRYPTOFEED}.jsonl`, 'trades', 'BTC-USDT'),
      ...recordedLines('ccxt_2026-08/trades_BTC-USDT.jsonl', 'trades', 'BTC-USDT'),
    ];
    expect(expected).toHaveLength(71);
    expect(client.frames.slice(1)).toEqual(expected);
    expect(demo.passes()).toBe(1);
  });

  it('paces frames as the receive times of the recording say', async () => {
    const demo = await start();
    const times = readFileSync(new URL(`${CRYPTOFEED}.ts.txt`, RECORDINGS_URL), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => Number(line) * 1_000);
    const lines = readFileSync(new URL(`${CRYPTOFEED}.jsonl`, RECORDINGS_URL), 'utf8').split('\n');
    const frames = demo.program.frames.filter((f) => lines.includes(f.text));
    expect(frames).toHaveLength(times.length);
    const first = frames[0]?.atMs ?? 0;
    frames.forEach((frame, i) => {
      expect(frame.atMs - first).toBeCloseTo((times[i] ?? 0) - (times[0] ?? 0), 6);
    });
  });

  it('plays the oldest recording first, candles among them by the time of their rows', async () => {
    const demo = await start();
    expect(demo.program.files[0]).toBe(`${CRYPTOFEED}.jsonl`);
    const lines = readFileSync(new URL(`${CRYPTOFEED}.jsonl`, RECORDINGS_URL), 'utf8').split('\n');
    const end2022 = demo.program.frames.findLast((f) => lines.includes(f.text))?.atMs ?? 0;
    const candles = demo.program.frames.filter((f) => f.channel === 'candle1m');
    expect(candles.length).toBeGreaterThan(0);
    for (const frame of candles) expect(frame.atMs).toBeGreaterThan(end2022);
    expect(demo.instruments).toEqual([
      'BTC-USD-220527',
      'BTC-USDT',
      'BTC-USDT-SWAP',
      'UNI-USD-SWAP',
    ]);
  });

  it('lists the instruments recorded on each channel', async () => {
    const demo = await start();
    expect(Object.fromEntries(demo.channels)).toEqual({
      books: ['BTC-USD-220527', 'BTC-USDT', 'UNI-USD-SWAP'],
      candle1m: ['BTC-USDT', 'BTC-USDT-SWAP'],
      tickers: ['BTC-USD-220527', 'BTC-USDT', 'BTC-USDT-SWAP', 'UNI-USD-SWAP'],
      trades: ['BTC-USD-220527', 'BTC-USDT', 'BTC-USDT-SWAP', 'UNI-USD-SWAP'],
    });
  });

  it('starts every recorded books stream of a pass with its snapshot', async () => {
    const demo = await start();
    const books = demo.program.frames.filter((f) => f.channel === 'books');
    for (const instId of demo.channels.get('books') ?? []) {
      const actions = books.filter((f) => f.instId === instId).map((f) => f.action);
      expect(actions[0]).toBe('snapshot');
      expect(actions.slice(1).every((action) => action === 'update')).toBe(true);
    }
  });

  it('gives a book subscriber the snapshot and every update since, then the live ones', async () => {
    const demo = await start({ speed: 20, passes: 1 });
    const arg = { channel: 'books', instId: 'BTC-USD-220527' };
    const early = await connect(`${demo.endpoint}/public`);
    const late = await connect(`${demo.endpoint}/public`);
    const passed = new Promise<void>((resolve) => demo.onPass(() => resolve()));
    const ackAndTen = early.next(11);
    early.ws.send(JSON.stringify({ op: 'subscribe', args: [arg] }));
    await ackAndTen;
    late.ws.send(JSON.stringify({ op: 'subscribe', args: [arg] }));
    await passed;
    const recorded = recordedLines(`${CRYPTOFEED}.jsonl`, 'books', 'BTC-USD-220527');
    expect(recorded).toHaveLength(99);
    expect(early.frames.slice(1)).toEqual(recorded);
    // Subscribed mid-stream: still every frame of the book, byte for byte, the snapshot first.
    expect(late.frames.slice(1)).toEqual(recorded);
  });

  it('sends the snapshot first to a book subscriber that came before it', async () => {
    const demo = await start();
    const client = await connect(`${demo.endpoint}/public`);
    const ack = client.next();
    client.ws.send(
      JSON.stringify({ op: 'subscribe', args: [{ channel: 'books', instId: 'BTC-USDT' }] }),
    );
    await ack;
    const snapshot = client.next();
    expect(client.frames).toHaveLength(1);
    const first = JSON.parse((await snapshot)[0] ?? '{}') as { action?: string };
    expect(first.action).toBe('snapshot');
  });

  it('sends nothing after unsubscribe', async () => {
    const demo = await start({ speed: 200, passes: 1 });
    const client = await connect(`${demo.endpoint}/public`);
    const arg = { channel: 'trades', instId: 'BTC-USDT' };
    const passed = new Promise<void>((resolve) => demo.onPass(() => resolve()));
    const acks = client.next(2);
    client.ws.send(JSON.stringify({ op: 'subscribe', args: [arg] }));
    client.ws.send(JSON.stringify({ op: 'unsubscribe', args: [arg] }));
    const events = (await acks).map((text) => (JSON.parse(text) as { event: string }).event);
    await passed;
    expect(events).toEqual(['subscribe', 'unsubscribe']);
    expect(client.frames).toHaveLength(2);
  });

  it('re-stamps frames after the first pass so they read as new data', () => {
    const text = readFileSync(
      new URL('ccxt_2026-08/trades_BTC-USDT.jsonl', RECORDINGS_URL),
      'utf8',
    ).split('\n')[1] as string;
    expect(restampFrame(text, 0, 1)).toBe(text);
    const original = JSON.parse(text) as { data: Record<string, unknown>[] };
    const later = JSON.parse(restampFrame(text, 2, 1_800_000_000_000)) as typeof original;
    expect(later.data[0]).toEqual({
      ...original.data[0],
      ts: '1800000000000',
      tradeId: String(Number(original.data[0]?.tradeId) + 2 * 10_000_000_000),
    });
  });

  it('re-stamps only the times of a book frame, so its checksums still hold', () => {
    const lines = recordedLines(`${CRYPTOFEED}.jsonl`, 'books', 'BTC-USDT');
    for (const text of lines.slice(0, 5)) {
      expect(restampFrame(text, 3, 1_800_000_000_000)).toBe(
        text.replaceAll(/"ts":"\d+"/g, '"ts":"1800000000000"'),
      );
    }
  });

  it('closes idempotently, ending its connections', async () => {
    const demo = await start({ speed: 50 });
    const client = await connect(`${demo.endpoint}/public`);
    const closed = new Promise((resolve) => client.ws.once('close', resolve));
    await Promise.all([demo.close(), demo.close()]);
    await closed;
    await demo.close();
    expect(client.ws.readyState).toBe(WebSocket.CLOSED);
  });
});
