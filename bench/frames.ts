import { readdirSync, readFileSync } from 'node:fs';

/**
 * The frames the replay server blasts: the recorded OKX `trades` pushes, cycled to any length,
 * with every `tradeId` rewritten to a fresh increasing integer and every other byte as recorded.
 * The collector drops a trade whose id is not above the highest it has seen for the instrument,
 * so a replay that repeated recorded ids would measure the dedupe path instead of the pipeline.
 *
 * Everything is built once, up front, as the bytes of complete server-to-client WebSocket frames
 * (RFC 6455 §5.2: FIN + text opcode, unmasked), so sending costs the server one socket write per
 * chunk and the server process is never what limits a round.
 */

const FIXTURES = new URL('../../shared/fixtures/okx/', import.meta.url);
const CYCLED = [
  'cryptofeed_okx_v5_public_2022-05-13.jsonl',
  ...readdirSync(new URL('ccxt_2026-08/', FIXTURES))
    .filter((name) => /^trades_.*\.jsonl$/.test(name) && !name.endsWith('.client.jsonl'))
    .sort()
    .map((name) => `ccxt_2026-08/${name}`),
];

/** Fresh ids have ten digits, as the ids of the 2026 recordings do. */
const FIRST_TRADE_ID = 1_000_000_000;
const TRADE_ID = /"tradeId":"\d+"/g;

export interface Replay {
  /** Complete WebSocket frames, back to back. */
  readonly wire: Buffer;
  readonly frames: number;
  /** Trades in all frames: what a client that keeps every trade must count. */
  readonly trades: number;
  /** JSON text bytes, without WebSocket headers. */
  readonly payloadBytes: number;
  /** Every instId the frames carry, in order of first appearance: what to subscribe. */
  readonly instIds: readonly string[];
  /** The recorded frames one cycle is made of. */
  readonly recorded: number;
}

interface Template {
  /** The recorded text split around its tradeIds: n ids leave n + 1 parts. */
  readonly parts: readonly string[];
  readonly instId: string;
}

export function buildReplay(frames: number): Replay {
  const templates = CYCLED.flatMap((file) => tradeTemplates(new URL(file, FIXTURES)));
  if (templates.length === 0) throw new Error(`no recorded trades frames under ${FIXTURES.href}`);
  const texts: string[] = [];
  let nextId = FIRST_TRADE_ID;
  for (let i = 0; i < frames; i++) {
    const { parts } = templates[i % templates.length] as Template;
    let text = parts[0] as string;
    for (let p = 1; p < parts.length; p++) text += `"tradeId":"${nextId++}"${parts[p]}`;
    texts.push(text);
  }
  const payloads = texts.map((text) => Buffer.from(text, 'utf8'));
  const payloadBytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
  return {
    wire: Buffer.concat(payloads.flatMap((payload) => [frameHeader(payload.length), payload])),
    frames,
    trades: nextId - FIRST_TRADE_ID,
    payloadBytes,
    instIds: [...new Set(templates.map((t) => t.instId))],
    recorded: templates.length,
  };
}

/** One complete unmasked text frame, for messages sent outside the blast. */
export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  return Buffer.concat([frameHeader(payload.length), payload]);
}

/** RFC 6455 §5.2: lengths up to 125 inline, then 16-bit, then 64-bit extended lengths. */
function frameHeader(length: number): Buffer {
  const FIN_TEXT = 0x81;
  if (length < 126) return Buffer.from([FIN_TEXT, length]);
  if (length < 65_536) {
    const header = Buffer.from([FIN_TEXT, 126, 0, 0]);
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.alloc(10);
  header[0] = FIN_TEXT;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/** The `trades` data pushes of a recording, kept as the recorded text. */
function tradeTemplates(file: URL): Template[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((text): Template[] => {
      if (text.trim() === '') return [];
      const frame: unknown = JSON.parse(text);
      const arg = isRecord(frame) ? frame.arg : undefined;
      if (!isRecord(frame) || !isRecord(arg) || !Array.isArray(frame.data)) return [];
      if (arg.channel !== 'trades' || typeof arg.instId !== 'string') return [];
      const parts = text.split(TRADE_ID);
      // Every element must have had its id rewritten, or a cycle would repeat a recorded one.
      if (parts.length - 1 !== frame.data.length) return [];
      return [{ parts, instId: arg.instId }];
    });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
