import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, createMachine, not, setup } from 'xstate';
import { MACHINE_NAMES, machineDefinitions } from '../../src/machines/definitions.ts';
import { toDefinitionJson, toMermaid, toStudioDefinition } from '../../src/machines/diagram.ts';
import { main } from '../../src/service/cli.ts';
import type { CliIo } from '../../src/service/io.ts';
import {
  diagramBlock,
  readmeDiagramBlocks,
  updateReadmeDiagrams,
} from '../../src/service/machines.ts';

function machine(name: string): AnyStateMachine {
  const found = machineDefinitions().find((d) => d.name === name);
  if (found === undefined) throw new Error(`no ${name} machine`);
  return found.machine;
}

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim());
}

describe('toMermaid', () => {
  it('draws the connection machine: delays, guards, always, parallel regions, final state', () => {
    const text = toMermaid(machine('connection'));
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(lines(text)).toEqual(
      expect.arrayContaining([
        '[*] --> queued',
        'queued --> live : always [slotIsFree]',
        'queued --> queued : after queueDelay',
        'connecting --> open : SOCKET.OPEN',
        'connecting --> reconnecting : after connectTimeout',
        'live --> error : SOCKET.CLOSED [refusedForGood]',
        'live --> reconnecting : SOCKET.CLOSED',
        'awaitingPong --> reconnecting : after pongTimeout',
        'judged --> reconnecting : always [stalled]',
        'reconnecting --> queued : after backoffDelay',
        'error --> queued : CONNECTION.RETRY',
        'anyState --> stopped : CONNECTION.STOP',
        'stopped --> [*]',
      ]),
    );
    // The two regions of `open`, separated, each with its own initial state.
    const open = text.slice(text.indexOf('state open {'));
    expect(open.indexOf('state heartbeat {')).toBeLessThan(open.indexOf('\n      --\n'));
    expect(open.indexOf('\n      --\n')).toBeLessThan(open.indexOf('state subscription {'));
    expect(open).toContain('[*] --> waiting');
    expect(open).toContain('[*] --> subscribing');
  });

  it('is a function of the definition alone', () => {
    expect(toMermaid(machine('connection'))).toBe(toMermaid(machine('connection')));
    for (const { machine: m } of machineDefinitions()) expect(toMermaid(m)).toBe(toMermaid(m));
  });

  it('gives repeated keys their path, labels, and leaves out transitions without a target', () => {
    const m = setup({ guards: { ready: () => true } }).createMachine({
      id: 'demo',
      initial: 'a',
      states: {
        a: {
          initial: 'idle',
          states: {
            idle: { on: { GO: { target: 'done', guard: not('ready') } } },
            done: { type: 'final' },
          },
          on: { PING: { actions: [] } },
          after: { 500: 'b' },
        },
        b: { initial: 'idle', states: { idle: {} }, on: { BACK: { target: 'a', reenter: true } } },
        'c-d': { on: { SELF: { target: 'c-d', reenter: true } } },
      },
    });
    const text = toMermaid(m);
    expect(lines(text)).toEqual(
      expect.arrayContaining([
        'state "idle" as a_idle',
        'state "idle" as b_idle',
        '[*] --> a_idle',
        'a_idle --> done : GO [not(ready)]',
        'done --> [*]',
        'a --> b : after 500ms',
        'b --> a : BACK',
        'state "c-d" as c_d',
        'c_d --> c_d : SELF',
      ]),
    );
    expect(text).not.toContain('PING');
  });
});

/** Every implementation named in `setup()`: what Studio and the inspector show. */
function unnamed(config: unknown, path = ''): string[] {
  if (typeof config !== 'object' || config === null) return [];
  const found: string[] = [];
  const isNamed = (v: unknown) =>
    typeof v === 'string' || (typeof v === 'object' && v !== null && 'type' in v);
  for (const [key, value] of Object.entries(config)) {
    const here = `${path}.${key}`;
    if (['entry', 'exit', 'actions', 'guard', 'src'].includes(key)) {
      const items = Array.isArray(value) ? value : [value];
      for (const item of items) if (!isNamed(item)) found.push(here);
    }
    if (key === 'after') {
      for (const delay of Object.keys(value as object)) {
        if (!Number.isNaN(Number(delay))) found.push(`${here}.${delay}`);
      }
    }
    found.push(...unnamed(value, here));
  }
  return found;
}

describe('definitions', () => {
  it('lists every machine of the runtime', () => {
    expect(machineDefinitions().map((d) => d.name)).toEqual([...MACHINE_NAMES]);
  });

  it('names every action, guard, delay and actor of every machine', () => {
    for (const { name, machine: m } of machineDefinitions()) {
      expect(unnamed(m.config), name).toEqual([]);
    }
  });

  it('exports each machine as createMachine source that Stately Studio imports', () => {
    const m = machine('connection');
    const studio = toStudioDefinition(m);
    expect(studio.startsWith('createMachine({')).toBe(true);
    expect(studio.endsWith(');\n')).toBe(true);
    const config = JSON.parse(studio.slice('createMachine('.length, -3)) as Record<string, unknown>;
    expect(config).toEqual(JSON.parse(toDefinitionJson(m)));
    expect(config.id).toBe('connection');
    // The exported source rebuilds the same machine.
    expect(toMermaid(createMachine(config as never))).toBe(toMermaid(m));
  });
});

describe('the README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('shows each machine as the diagram its definition generates (npm run diagrams)', () => {
    const blocks = readmeDiagramBlocks(readme);
    expect([...blocks.keys()].sort()).toEqual([...MACHINE_NAMES].sort());
    for (const { name, machine: m } of machineDefinitions()) {
      expect(blocks.get(name), `README diagram of ${name}: run npm run diagrams`).toBe(
        diagramBlock(m),
      );
    }
  });

  it('rewrites only what lies between the markers', () => {
    const stale = readme.replace('reconnecting --> queued : after backoffDelay', 'stale');
    expect(updateReadmeDiagrams(stale, machineDefinitions())).toBe(readme);
    expect(() => updateReadmeDiagrams('# no markers\n', machineDefinitions())).toThrow(
      /diagram:connection:start/,
    );
  });
});

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = capture();
  const io: CliIo = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: {},
    signals: { on: () => undefined, off: () => undefined },
    exit: () => undefined,
  };
  const code = await main(args, io);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('market-collector machines', () => {
  it('prints every machine as a Mermaid diagram by default', async () => {
    const { code, stdout } = await cli(['machines']);
    expect(code).toBe(0);
    for (const { name, machine: m } of machineDefinitions()) {
      expect(stdout).toContain(`%% ${name}\n${toMermaid(m)}`);
    }
  });

  it('prints one machine as Studio source or as JSON', async () => {
    const studio = await cli(['machines', '--machine', 'collector', '--format', 'studio']);
    expect(studio.stdout).toBe(`// collector\n${toStudioDefinition(machine('collector'))}`);
    const json = await cli(['machines', '--machine', 'collector', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({
      collector: JSON.parse(toDefinitionJson(machine('collector'))),
    });
  });

  it('refuses an unknown format or machine with exit code 2, naming the option', async () => {
    const format = await cli(['machines', '--format', 'svg']);
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('format: got "svg"');
    const name = await cli(['machines', '--machine', 'manager']);
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('machine: got "manager"');
  });
});
