/**
 * Two-sample tests of a variant against the baseline, two-sided:
 * - Welch's t-test (unequal variances; Welch-Satterthwaite df), as scipy.stats.ttest_ind(equal_var=False);
 * - the paired t-test of per-seed differences, as scipy.stats.ttest_rel;
 * - the exact sign-flip permutation test of the paired differences (all 2^n sign patterns);
 * and Holm's step-down correction, as statsmodels.stats.multitest.multipletests(method='holm').
 * A test that cannot be computed returns `{ reason }` instead of NaN.
 */
import { mean, variance } from './describe.js';
import { studentQuantile, twoSidedP } from './dists.js';

export interface TTestResult {
  t: number;
  df: number;
  p: number;
  /** 95% interval of the mean difference (variant - baseline). */
  deltaCi95: [number, number];
}

/** Why a test has no result (n = 1, no variance, ...), in words for a table's footnote. */
export interface NoTest {
  reason: string;
}

export const isNoTest = (r: TTestResult | NoTest): r is NoTest => 'reason' in r;

function interval(delta: number, se: number, df: number, level: number): [number, number] {
  const h = studentQuantile(1 - (1 - level) / 2, df) * se;
  return [delta - h, delta + h];
}

/** Welch's t-test of mean(x) - mean(y). */
export function welchTest(x: readonly number[], y: readonly number[], level = 0.95): TTestResult | NoTest {
  if (x.length < 2 || y.length < 2) {
    return { reason: `${Math.min(x.length, y.length)} seed${Math.min(x.length, y.length) === 1 ? '' : 's'}: no test possible` };
  }
  const a = variance(x) / x.length;
  const b = variance(y) / y.length;
  const se = Math.sqrt(a + b);
  const delta = mean(x) - mean(y);
  if (!(se > 0)) return { reason: 'no seed variance in either group: the t-test is undefined' };
  const df = (a + b) ** 2 / (a ** 2 / (x.length - 1) + b ** 2 / (y.length - 1));
  const t = delta / se;
  return { t, df, p: twoSidedP(t, df), deltaCi95: interval(delta, se, df, level) };
}

/** Paired t-test of x[i] - y[i] (the same seed at the same index). */
export function pairedTest(x: readonly number[], y: readonly number[], level = 0.95): TTestResult | NoTest {
  if (x.length !== y.length) throw new Error(`pairedTest: ${x.length} vs ${y.length} values; pairs need equal lengths`);
  if (x.length < 2) return { reason: `${x.length} seed${x.length === 1 ? '' : 's'}: no test possible` };
  const d = x.map((v, i) => v - y[i]);
  const md = mean(d);
  const se = Math.sqrt(variance(d) / d.length);
  if (!(se > 0)) return { reason: 'every seed has the same difference: the paired t-test is undefined' };
  const df = d.length - 1;
  const t = md / se;
  return { t, df, p: twoSidedP(t, df), deltaCi95: interval(md, se, df, level) };
}

/** Largest seed count for which the exact sign-flip test enumerates its 2^n patterns. */
export const SIGN_FLIP_MAX_N = 20;

/**
 * Exact two-sided sign-flip permutation test of paired differences: the share of the 2^n sign patterns
 * whose |mean| is at least the observed |mean| (the observed pattern included, so p >= 2^(1-n)).
 */
export function signFlipTest(x: readonly number[], y: readonly number[]): number | NoTest {
  if (x.length !== y.length) throw new Error(`signFlipTest: ${x.length} vs ${y.length} values; pairs need equal lengths`);
  const n = x.length;
  if (n < 1) return { reason: 'no paired seeds' };
  if (n > SIGN_FLIP_MAX_N) return { reason: `${n} seeds: more than ${SIGN_FLIP_MAX_N}, the exact test is not enumerated` };
  const d = x.map((v, i) => v - y[i]);
  const obs = Math.abs(d.reduce((s, v) => s + v, 0));
  // Sums equal to the observed one up to rounding count as ties.
  const eps = 1e-12 * d.reduce((s, v) => s + Math.abs(v), 0);
  const total = 2 ** n;
  let hits = 0;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask & (1 << i) ? -d[i] : d[i];
    if (Math.abs(s) >= obs - eps) hits++;
  }
  return hits / total;
}

/**
 * Holm's step-down adjusted p-values, in the input order: sorted ascending, p_(i) * (m - i) (i from 0),
 * made non-decreasing, capped at 1. null entries are not part of the family and stay null.
 */
export function holm(ps: readonly (number | null)[]): (number | null)[] {
  const idx = ps.map((p, i) => [p, i] as const).filter((e): e is readonly [number, number] => e[0] !== null);
  idx.sort((a, b) => a[0] - b[0]);
  const m = idx.length;
  const out: (number | null)[] = ps.map(() => null);
  let running = 0;
  idx.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}
