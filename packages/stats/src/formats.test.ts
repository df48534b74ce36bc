import { describe, expect, it } from 'vitest';
import { analyze } from './analyze.js';
import { csvCell, type JsonVariant, toCsv, toJson, toLatex, toMarkdown } from './formats.js';

const seeds = [0, 1, 2];
const input = {
  sweep: 'dat-positions',
  metric: 'map50',
  baseline: { values: [0.5, 0.51, 0.49], seeds },
  variants: [
    { module: 'DAttention', position: 'neck', values: [0.6, 0.62, 0.59], seeds },
    { module: 'DAttention', position: 'pre-head', values: [0.505, 0.49, 0.5], seeds },
    { module: '=HYPERLINK("x")', position: 'neck', values: [0.3], seeds: [0] },
  ],
};
const a = analyze(input);

describe('CSV', () => {
  it('neutralises text cells that start like a formula', () => {
    for (const s of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) expect(csvCell(s).replace(/^"|"$/g, '').startsWith("'")).toBe(true);
    expect(csvCell('DAttention')).toBe('DAttention');
  });
  it('keeps negative numbers numbers', () => {
    expect(csvCell(-0.0123)).toBe('-0.0123');
    expect(csvCell(Number.NaN)).toBe('');
    const csv = toCsv(a);
    const row = csv.split('\r\n').find((l) => l.startsWith('DAttention,pre-head')) as string;
    expect(row.split(',')[7]).toMatch(/^-0\.00/);
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`);
    expect(csv).not.toMatch(/NaN/);
  });
});

describe('JSON contract', () => {
  it('baseline without test fields, variants with all of them', () => {
    const j = toJson(a);
    expect(j).toMatchObject({ sweep: 'dat-positions', metric: 'map50', test: 'paired' });
    expect(Object.keys(j.variants[0]).sort()).toEqual(['ci95', 'mean', 'module', 'n', 'position', 'std']);
    expect(j.variants[0]).toMatchObject({ module: null, position: null, n: 3 });
    for (const k of ['module', 'position', 'n', 'mean', 'std', 'ci95', 'delta', 'delta_ci95', 'p', 'p_holm', 'significant']) {
      expect(j.variants[1]).toHaveProperty(k);
    }
    expect((j.variants[1] as JsonVariant).significant).toBe(true);
    expect(j.variants[3]).toMatchObject({ n: 1, std: null, p: null, significant: false });
    expect(JSON.stringify(j)).not.toMatch(/NaN/);
  });
});

describe('LaTeX', () => {
  const tex = toLatex(a);
  it('booktabs, mean ± std, dagger on the significant cell only, footnote naming test and correction', () => {
    expect(tex).toMatch(/\\toprule[\s\S]*\\midrule[\s\S]*\\bottomrule/);
    expect(tex).toMatch(/0\.6033 \\pm 0\.0153\}\^\{\\dagger\}\$/);
    expect(tex).toMatch(/\$0\.4983 \\pm 0\.0076\$/);
    expect(tex).toMatch(/paired t-test by seed \(two-sided\), Holm-corrected over the 2 variants/);
  });
  it('bold only where the best beats the runner-up significantly', () => {
    expect(tex).toMatch(/\\mathbf\{0\.6033 \\pm 0\.0153\}/);
    const close = analyze({ ...input, variants: [input.variants[1]] });
    const t2 = toLatex(close);
    expect(t2).not.toMatch(/mathbf/);
    expect(t2).toMatch(/No entry is in bold/);
  });
  it('escapes names', () => {
    expect(tex).toContain('=HYPERLINK("x")');
    expect(toLatex(analyze({ ...input, variants: [{ ...input.variants[0], module: 'A_B&C' }] }))).toContain('A\\_B\\&C');
  });
});

describe('Markdown', () => {
  it('one row per variant, marker, the noise line', () => {
    const md = toMarkdown(a);
    expect(md).toMatch(/\| DAttention@neck \| 3 \| 0\.6033 ± 0\.0153 \|.*\| paired \|.*▲ \|/);
    expect(md).toMatch(/Within seed noise: DAttention@pre-head\. Significant: DAttention@neck ▲/);
    expect(md).toMatch(/1 seed: no test possible/);
    expect(md).not.toMatch(/NaN/);
  });
});
