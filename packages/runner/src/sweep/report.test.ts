import { describe, expect, it } from 'vitest';
import { calibrate, estimateSeconds, formatDuration, meanStd, type ResultRow, summaryTable, table, VAL_COST } from './report.js';

/** Naive float64 sample std. */
function naiveStd(xs: number[]): number {
  let m = 0;
  for (const x of xs) m += x;
  m /= xs.length;
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

const row = (variant: string, seed: number, map50_95: number, map50: number, fps: number, status = 'ok'): ResultRow => ({
  variant,
  seed,
  status,
  map50,
  map50_95,
  precision: map50 + 0.1,
  recall: map50 - 0.1,
  fps,
});

describe('report', () => {
  it('meanStd matches a naive computation', () => {
    const xs = [0.31, 0.35, 0.29, 0.4];
    const r = meanStd(xs);
    expect(r.mean).toBeCloseTo((0.31 + 0.35 + 0.29 + 0.4) / 4, 12);
    expect(r.std).toBeCloseTo(naiveStd(xs), 12);
    expect(meanStd([0.5])).toEqual({ mean: 0.5, std: 0, n: 1 });
    expect(Number.isNaN(meanStd([]).mean)).toBe(true);
  });

  it('summary table: mean ± std over seeds, deltas from the baseline, failed trials left out', () => {
    const rows = [
      row('baseline', 0, 0.3, 0.6, 100),
      row('baseline', 1, 0.4, 0.7, 110),
      row('DAttention@neck', 0, 0.35, 0.62, 80),
      row('DAttention@neck', 1, 0.45, 0.74, 90),
      row('FLA@neck', 0, 0.5, 0.8, 50),
      row('FLA@neck', 1, 0, 0, 0, 'failed'),
    ];
    const t = summaryTable(rows);
    const lines = t.split('\n');
    expect(lines[0]).toMatch(/^variant\s+seeds\s+mAP50-95 \(n\)\s+Δ mAP50-95\s+Δ 95% CI\s+p \(Holm\)\s+mAP50\s+P\s+R\s+FPS\s+Δ FPS$/);
    const base = lines.find((l) => l.startsWith('baseline')) as string;
    expect(base).toContain(`0.350 ± ${naiveStd([0.3, 0.4]).toFixed(3)} (2)`);
    expect(base).toContain('105.0 ± 7.1');
    const dat = lines.find((l) => l.startsWith('DAttention@neck')) as string;
    // Δ mAP50-95 = 0.40 - 0.35; Δ FPS = (85 - 105) / 105 = -19%
    expect(dat).toMatch(/\+0\.050\s+\[[-+]\d\.\d{3}, [-+]\d\.\d{3}\]\s+\S+\s+~/);
    expect(dat).toMatch(/-19%$/);
    const fla = lines.find((l) => l.startsWith('FLA@neck')) as string;
    expect(fla).toContain('1/2 ok');
    expect(fla).toMatch(/0\.500 \(1\)\s+\+0\.150\s+1 seed/);
    expect(fla).toMatch(/-52%$/);
    // The line under the table says what is within seed noise.
    expect(t).toMatch(/Every difference is within seed noise|Within seed noise: DAttention@neck/);
    expect(t).toMatch(/Not testable: FLA@neck \(1 seed: no test possible\)/);
    expect(t).not.toMatch(/NaN/);
  });

  it('summary marks a significant difference', () => {
    const rows: ResultRow[] = [0, 1, 2].flatMap((s) => [
      row('baseline', s, [0.3, 0.31, 0.29][s], 0.6, 100),
      row('A2@neck', s, [0.4, 0.42, 0.39][s], 0.7, 90),
    ]);
    const t = summaryTable(rows, 'demo');
    expect(t.split('\n').find((l) => l.startsWith('A2@neck'))).toMatch(/▲/);
    expect(t).toMatch(/Significant: A2@neck ▲ \(paired t-test by seed/);
  });

  it('table alignment', () => {
    expect(table(['a', 'bb'], [['xyz', '1']])).toBe('a    bb\n---  --\nxyz   1');
  });

  it('estimates and calibration', () => {
    const e = { gflops: 0.35, epochs: 10, trainImages: 100, valImages: 20, benchRuns: 50, benchWarmup: 10 };
    const k = 0.1;
    expect(estimateSeconds(e, k)).toBeCloseTo(10 * (100 + VAL_COST * 20) * 0.35 * k + 60 * VAL_COST * 0.35 * k + 3, 9);
    // A history made with k = 0.2 calibrates to 0.2 (median).
    const h = (k: number) => ({ trainSeconds: 5 * (64 + VAL_COST * 16) * 0.5 * k, epochs: 5, gflops: 0.5, trainImages: 64, valImages: 16 });
    expect(calibrate([h(0.1), h(0.2), h(0.3)])).toBeCloseTo(0.2, 12);
    expect(calibrate([])).toBeUndefined();
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(600)).toBe('10.0 min');
    expect(formatDuration(7200)).toBe('2.0 h');
  });
});
