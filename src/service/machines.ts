import { readFile, writeFile } from 'node:fs/promises';
import type { AnyStateMachine } from 'xstate';
import { configError } from '../config/schema.ts';
import type { MachineDefinition } from '../machines/definitions.ts';
import { toDefinitionJson, toMermaid, toStudioDefinition } from '../machines/diagram.ts';
import type { CliIo } from './io.ts';

/**
 * `market-collector machines`: prints each machine's definition as a Mermaid state diagram, as
 * `createMachine(...)` source for Stately Studio, or as JSON; or rewrites the diagram blocks of a
 * README so that the pictures there stay the machines' own.
 */

export const MACHINE_FORMATS = ['mermaid', 'studio', 'json'] as const;
export type MachineFormat = (typeof MACHINE_FORMATS)[number];

export interface MachinesFlags {
  readonly format?: string | undefined;
  readonly machine?: string | undefined;
  /** A Markdown file whose `<!-- diagram:NAME:start -->` blocks are regenerated in place. */
  readonly writeReadme?: string | undefined;
}

export async function machinesCommand(flags: MachinesFlags, io: CliIo): Promise<number> {
  const format = parseFormat(flags.format);
  // Loaded here, not at the top: `--help` answers without building the runtime's machines.
  const { machineDefinitions, MACHINE_NAMES } = await import('../machines/definitions.ts');
  const all = machineDefinitions();
  const selected = flags.machine === undefined ? all : all.filter((d) => d.name === flags.machine);
  if (selected.length === 0) {
    throw configError([
      { field: 'machine', received: flags.machine, expected: `one of ${MACHINE_NAMES.join(', ')}` },
    ]);
  }
  if (flags.writeReadme !== undefined) {
    const before = await readFile(flags.writeReadme, 'utf8');
    const after = updateReadmeDiagrams(before, selected);
    if (after !== before) await writeFile(flags.writeReadme, after);
    const verb = after === before ? 'already up to date' : 'updated';
    io.stdout.write(`${flags.writeReadme}: diagrams of ${names(selected)} ${verb}\n`);
    return 0;
  }
  io.stdout.write(render(selected, format));
  return 0;
}

function parseFormat(format: string | undefined): MachineFormat {
  if (format === undefined) return 'mermaid';
  const known = MACHINE_FORMATS.find((f) => f === format);
  if (known !== undefined) return known;
  throw configError([
    { field: 'format', received: format, expected: `one of ${MACHINE_FORMATS.join(', ')}` },
  ]);
}

function render(definitions: readonly MachineDefinition[], format: MachineFormat): string {
  if (format === 'json') {
    const byName = Object.fromEntries(
      definitions.map((d) => [d.name, JSON.parse(toDefinitionJson(d.machine)) as unknown]),
    );
    return `${JSON.stringify(byName, null, 2)}\n`;
  }
  // A comment line names each machine; Mermaid (`%%`) and JavaScript (`//`) both skip it.
  const comment = format === 'mermaid' ? '%%' : '//';
  const text = format === 'mermaid' ? toMermaid : toStudioDefinition;
  return definitions.map((d) => `${comment} ${d.name}\n${text(d.machine)}`).join('\n');
}

function names(definitions: readonly MachineDefinition[]): string {
  return definitions.map((d) => d.name).join(', ');
}

export function diagramMarkers(name: string): { readonly start: string; readonly end: string } {
  return { start: `<!-- diagram:${name}:start -->`, end: `<!-- diagram:${name}:end -->` };
}

/** What goes between a machine's two markers: its diagram in a fenced `mermaid` block. */
export function diagramBlock(machine: AnyStateMachine): string {
  return `\n\`\`\`mermaid\n${toMermaid(machine)}\`\`\`\n`;
}

/** The text between each pair of diagram markers in a Markdown document, by machine name. */
export function readmeDiagramBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const pattern = /<!-- diagram:([A-Za-z0-9_-]+):start -->([\s\S]*?)<!-- diagram:\1:end -->/g;
  for (const match of markdown.matchAll(pattern)) {
    blocks.set(match[1] as string, match[2] as string);
  }
  return blocks;
}

/** Replaces each machine's block; a machine without markers is an error, not a silent skip. */
export function updateReadmeDiagrams(
  markdown: string,
  definitions: readonly MachineDefinition[],
): string {
  let text = markdown;
  for (const { name, machine } of definitions) {
    const { start, end } = diagramMarkers(name);
    const from = text.indexOf(start);
    const to = from === -1 ? -1 : text.indexOf(end, from);
    if (to === -1) {
      throw new Error(`no "${start}" … "${end}" block to rewrite for the ${name} machine`);
    }
    text = `${text.slice(0, from + start.length)}${diagramBlock(machine)}${text.slice(to)}`;
  }
  return text;
}
