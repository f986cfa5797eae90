import type { CliIo } from './io.ts';

/**
 * Plain-text tables for the operator commands (`status`, `exchanges`), with optional ANSI color.
 * Color follows https://no-color.org: `NO_COLOR` set to anything but the empty string turns it
 * off, whatever else says; `FORCE_COLOR` turns it on for a pipe; otherwise only a terminal gets it.
 */

export type Color = 'green' | 'yellow' | 'red' | 'dim' | 'bold';

export interface Cell {
  readonly text: string;
  readonly color?: Color | undefined;
}

const SGR: Readonly<Record<Color, string>> = {
  green: '32',
  yellow: '33',
  red: '31',
  dim: '2',
  bold: '1',
};

export function colorEnabled(io: Pick<CliIo, 'env' | 'stdout'>): boolean {
  const noColor = io.env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  const force = io.env.FORCE_COLOR;
  if (force !== undefined && force !== '' && force !== '0') return true;
  return (io.stdout as { isTTY?: boolean }).isTTY === true;
}

export function paint(text: string, color: Color | undefined, enabled: boolean): string {
  return enabled && color !== undefined ? `\u001b[${SGR[color]}m${text}\u001b[0m` : text;
}

/** Columns padded to their widest cell (measured before painting), two spaces apart. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly (string | Cell)[])[],
  color: boolean,
): string {
  const cells = rows.map((row) =>
    row.map((cell) => (typeof cell === 'string' ? { text: cell } : cell)),
  );
  const widths = header.map((title, i) =>
    Math.max(title.length, ...cells.map((row) => row[i]?.text.length ?? 0)),
  );
  const line = (row: readonly Cell[]) =>
    row
      .map((cell, i) => {
        const last = i === row.length - 1;
        const padded = last ? cell.text : cell.text.padEnd(widths[i] ?? 0);
        return paint(padded, cell.color, color);
      })
      .join('  ');
  const head = line(header.map((text) => ({ text, color: 'bold' as const })));
  return `${[head, ...cells.map(line)].join('\n')}\n`;
}
