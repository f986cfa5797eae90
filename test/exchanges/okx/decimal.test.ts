import { describe, expect, it } from 'vitest';
import { decimal } from '../../../src/exchanges/okx/data.ts';
import { seededRandom } from '../../../src/machines/backoff.ts';
import { BOOKS_RPI, OKCOIN_2023, OKX_2022, readFrames } from '../../book/recordings.ts';

/** Every quoted decimal of a recording: prices, sizes, volumes, as the exchange wrote them. */
function recordedDecimals(name: string): string[] {
  const found = new Set<string>();
  for (const frame of readFrames(name)) {
    for (const match of frame.matchAll(/"(\d*\.?\d+)"/g)) found.add(match[1] as string);
  }
  return [...found];
}

describe('decimal', () => {
  it.each([OKX_2022, OKCOIN_2023, BOOKS_RPI])('reads every decimal of %s as + does', (name) => {
    const strings = recordedDecimals(name);
    expect(strings.length).toBeGreaterThan(30);
    const differing = strings.filter((text) => !Object.is(decimal(text), +text));
    expect(differing).toEqual([]);
  });

  it('gives the same double as + for random decimals up to 25 digits and 25 decimals', () => {
    const next = seededRandom(20261203);
    const differing: string[] = [];
    for (let n = 0; n < 50_000; n++) {
      const whole = Math.floor(next() * 12);
      const fraction = Math.floor(next() * 26);
      let text = '';
      for (let i = 0; i < whole; i++) text += String(Math.floor(next() * 10));
      if (fraction > 0 || whole === 0) text += '.';
      for (let i = 0; i < fraction; i++) text += String(Math.floor(next() * 10));
      if (text === '.') continue;
      if (!Object.is(decimal(text), +text)) differing.push(text);
    }
    expect(differing).toEqual([]);
  });

  it('reads a trailing or leading dot and leading zeros as + does', () => {
    expect(decimal('5.')).toBe(5);
    expect(decimal('.5')).toBe(0.5);
    expect(decimal('007.250')).toBe(7.25);
    expect(decimal('0')).toBe(0);
    expect(decimal('9007199254740993')).toBe(+'9007199254740993');
  });

  it.each(['', '.', '1.2.3', '-1', '+1', ' 1', '1 ', '1e3', '0x10', 'NaN', 'Infinity', '1,5'])(
    'refuses %j',
    (text) => {
      expect(decimal(text)).toBeNaN();
    },
  );

  it.each([undefined, null, 5, true, ['1'], { px: '1' }])('refuses the non-string %j', (value) => {
    expect(decimal(value)).toBeNaN();
  });
});
