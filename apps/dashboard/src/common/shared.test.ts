import { latexEscape } from '@ablate/stats';
import { describe, expect, test } from 'vitest';
import { rng } from '../gen/generate.js';
import { csvField, toCsv } from '../server/export.js';
import { parseCsv } from '../test-utils/reference.js';
import { diffLines } from './diff.js';
import { formatDelta, formatMeanStd, formatValue } from './metrics.js';
import { dominates, paretoFront } from './pareto.js';
import { parseVariantKey, variantKey } from './variant.js';

/** LCS length by plain recursion with memo (reference for the diff's optimality). */
function lcsLength(a: string[], b: string[]): number {
  const memo = new Map<string, number>();
  const go = (i: number, j: number): number => {
    if (i === a.length || j === b.length) return 0;
    const k = `${i},${j}`;
    const m = memo.get(k);
    if (m !== undefined) return m;
    const v = a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1));
    memo.set(k, v);
    return v;
  };
  return go(0, 0);
}

describe('diffLines', () => {
  test('random inputs: both sides are reproduced exactly and the common part is a longest common subsequence', () => {
    const r = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const pick = () => Array.from({ length: Math.floor(r() * 12) }, () => 'abcde'[Math.floor(r() * 5)]);
      const a = pick();
      const b = pick();
      const d = diffLines(a.join('\n'), b.join('\n'));
      const ja = a.join('\n').split('\n');
      const jb = b.join('\n').split('\n');
      expect(d.filter((l) => l.op !== '+').map((l) => l.text)).toEqual(ja);
      expect(d.filter((l) => l.op !== '-').map((l) => l.text)).toEqual(jb);
      expect(d.filter((l) => l.op === ' ').length).toBe(lcsLength(ja, jb));
      // line numbers count up on each side
      expect(d.filter((l) => l.a !== null).map((l) => l.a)).toEqual(ja.map((_, i) => i + 1));
      expect(d.filter((l) => l.b !== null).map((l) => l.b)).toEqual(jb.map((_, i) => i + 1));
    }
  });

  test('an inserted YAML row shows as one added line', () => {
    const base = 'backbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, SPPF, [1024, 5]]\nhead:';
    const mine = 'backbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, DAttention, [1024]]\n  - [-1, 1, SPPF, [1024, 5]]\nhead:';
    const d = diffLines(base, mine);
    expect(d.filter((l) => l.op !== ' ')).toEqual([{ op: '+', text: '  - [-1, 1, DAttention, [1024]]', a: null, b: 3 }]);
  });

  test('past the size limit: everything removed then added', () => {
    const d = diffLines('a\nb', 'a\nc', 1);
    expect(d.map((l) => l.op).join('')).toBe('--++');
  });
});

describe('paretoFront', () => {
  test('random points: equals the brute-force set of non-dominated points, for all four directions', () => {
    const r = rng(11);
    for (let trial = 0; trial < 100; trial++) {
      const pts = Array.from({ length: 1 + Math.floor(r() * 25) }, () => ({ x: Math.round(r() * 10), y: Math.round(r() * 10) }));
      for (const [mx, my] of [
        [true, true],
        [false, true],
        [true, false],
        [false, false],
      ] as const) {
        const front = paretoFront(pts, mx, my);
        const brute = pts
          .map((p, i) => ({ p, i }))
          .filter(({ p }) =>
            pts.every((q) => !((mx ? q.x >= p.x : q.x <= p.x) && (my ? q.y >= p.y : q.y <= p.y) && (q.x !== p.x || q.y !== p.y))),
          )
          .map(({ i }) => i);
        expect([...front].sort((a, b) => a - b)).toEqual(brute);
        const xs = front.map((i) => pts[i].x);
        expect(xs).toEqual([...xs].sort((a, b) => a - b));
      }
    }
  });

  test('dominates and non-finite points', () => {
    expect(dominates({ x: 2, y: 2 }, { x: 1, y: 2 }, true, true)).toBe(true);
    expect(dominates({ x: 2, y: 2 }, { x: 2, y: 2 }, true, true)).toBe(false);
    expect(dominates({ x: 1, y: 2 }, { x: 2, y: 2 }, false, true)).toBe(true);
    expect(
      paretoFront(
        [
          { x: Number.NaN, y: 1 },
          { x: 1, y: 1 },
        ],
        true,
        true,
      ),
    ).toEqual([1]);
  });
});

describe('formatting', () => {
  test('values, mean ± std and deltas as printed', () => {
    expect(formatValue('map50_95', 0.61234)).toBe('0.612');
    expect(formatValue('params', 3157200)).toBe('3.157');
    expect(formatValue('fps', 91.44)).toBe('91.4');
    expect(formatValue('fps', null)).toBe('—');
    expect(formatMeanStd('map50', 0.5, 0.01234)).toBe('0.500 ± 0.012');
    expect(formatMeanStd('map50', 0.5, null)).toBe('0.500');
    expect(formatMeanStd('map50', null, null)).toBe('—');
    expect(formatDelta('map50', -0.0123)).toBe('−0.012');
    expect(formatDelta('gflops', 0.2)).toBe('+0.200');
  });

  test('variant keys round-trip, positions may hold "@" and braces', () => {
    for (const [m, p] of [
      [null, null],
      ['DAttention', 'neck'],
      ['X', '{after: [4, 6]}'],
      ['X', 'a@b'],
      ['X', null],
    ] as const) {
      expect(parseVariantKey(variantKey(m, p))).toEqual({ module: m, position: p });
    }
    expect(parseVariantKey('nope')).toBeNull();
    expect(parseVariantKey('@neck')).toBeNull();
  });

  test('CSV fields: quoting of commas, quotes and newlines round-trips through a parser', () => {
    const rows = [{ a: 'plain', b: 'with,comma', c: 'say "hi"', d: 'two\nlines', e: null, f: 0.125, g: -3 }];
    const text = toCsv(['a', 'b', 'c', 'd', 'e', 'f', 'g'], rows);
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
      ['plain', 'with,comma', 'say "hi"', 'two\nlines', '', '0.125', '-3'],
    ]);
    expect(csvField(Number.NaN)).toBe('');
  });

  test('CSV: text cells that a spreadsheet would run as a formula are neutralised, negative numbers stay numbers', () => {
    const text = toCsv(
      ['m', 'x'],
      [
        { m: '=cmd|calc', x: -0.25 },
        { m: '@SUM(A1)', x: -3 },
        { m: '+1', x: 0 },
        { m: '-2', x: 1 },
      ],
    );
    expect(parseCsv(text).slice(1)).toEqual([
      ["'=cmd|calc", '-0.25'],
      ["'@SUM(A1)", '-3'],
      ["'+1", '0'],
      ["'-2", '1'],
    ]);
  });

  test('LaTeX escaping of every special character', () => {
    expect(latexEscape('a_b&c%d$e#f{g}h~i^j\\k')).toBe(
      'a\\_b\\&c\\%d\\$e\\#f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j\\textbackslash{}k',
    );
  });
});
