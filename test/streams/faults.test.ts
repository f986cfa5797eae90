import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAULT_CODES } from '../../src/streams/faults.ts';

describe('the fault codes', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  // The rows of the README's fault table: "| `code` | raised when |".
  const documented = [...readme.matchAll(/^\| `([a-z-]+)` \| (.+) \|$/gm)]
    .filter(([, code]) => code !== undefined && Object.hasOwn(FAULT_CODES, code))
    .map(([, code]) => code);

  it('are each listed in the README, one line with what it means', () => {
    expect([...documented].sort()).toEqual(Object.keys(FAULT_CODES).sort());
  });
});
