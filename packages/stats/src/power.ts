/**
 * What a sweep can detect: the smallest difference a two-sided t-test at level alpha finds with the
 * wanted power, from the observed seed std and the seeds at hand; and the seeds needed for a given
 * difference. Same definitions as statsmodels' TTestIndPower (two independent groups; effect size
 * d = delta / sigma, noncentrality d * sqrt(n1 n2 / (n1 + n2)), df = n1 + n2 - 2) and TTestPower
 * (paired: one sample of differences; noncentrality d * sqrt(n), df = n - 1).
 */
import { nctTwoSidedTail, studentQuantile } from './dists.js';

export type Design = 'two-sample' | 'paired';

export interface PowerOptions {
  alpha?: number;
  power?: number;
}

/** Power of the two-sided test for standardized effect `d` with group sizes n1 (and n2 for two-sample). */
export function tTestPower(d: number, design: Design, n1: number, n2 = n1, alpha = 0.05): number {
  const df = design === 'paired' ? n1 - 1 : n1 + n2 - 2;
  if (df < 1) return Number.NaN;
  const nc = design === 'paired' ? d * Math.sqrt(n1) : d * Math.sqrt((n1 * n2) / (n1 + n2));
  return nctTwoSidedTail(studentQuantile(1 - alpha / 2, df), df, nc);
}

/**
 * Smallest standardized effect d (delta / sigma) detectable with `power`; null when the design has no
 * degrees of freedom (fewer than 2 seeds per group, or per pair).
 */
export function detectableEffectSize(design: Design, n1: number, n2 = n1, opts: PowerOptions = {}): number | null {
  const alpha = opts.alpha ?? 0.05;
  const power = opts.power ?? 0.8;
  const df = design === 'paired' ? n1 - 1 : n1 + n2 - 2;
  if (df < 1) return null;
  let lo = 0;
  let hi = 1;
  while (tTestPower(hi, design, n1, n2, alpha) < power) {
    hi *= 2;
    if (hi > 1e6) return null;
  }
  for (let i = 0; i < 60 && hi - lo > 1e-10 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tTestPower(mid, design, n1, n2, alpha) < power) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Smallest delta (in the metric's units) detectable with the seeds at hand: d * sigma. */
export function detectableDelta(sigma: number, design: Design, n1: number, n2 = n1, opts: PowerOptions = {}): number | null {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) return null;
  const d = detectableEffectSize(design, n1, n2, opts);
  return d === null ? null : d * sigma;
}

/** Largest seed count `seedsNeeded` searches before it answers null. */
export const MAX_SEEDS = 10_000;

/**
 * Seeds per variant (equal groups for two-sample; pairs for paired) for the test to find `delta` with
 * `power`, given the seed std `sigma`: the smallest integer n >= 2, i.e. statsmodels' solve_power(nobs)
 * rounded up. 2 when sigma is 0 and delta is not; null when delta is 0 or more than MAX_SEEDS are needed.
 */
export function seedsNeeded(delta: number, sigma: number, design: Design, opts: PowerOptions = {}): number | null {
  const alpha = opts.alpha ?? 0.05;
  const power = opts.power ?? 0.8;
  if (!Number.isFinite(delta) || !Number.isFinite(sigma) || sigma < 0) return null;
  if (delta === 0) return null;
  if (sigma === 0) return 2;
  const d = Math.abs(delta) / sigma;
  const ok = (n: number) => tTestPower(d, design, n, n, alpha) >= power;
  if (ok(2)) return 2;
  let hi = 4;
  while (!ok(hi)) {
    hi *= 2;
    if (hi > MAX_SEEDS) return null;
  }
  let lo = hi / 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
