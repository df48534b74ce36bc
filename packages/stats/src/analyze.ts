/**
 * One metric of one sweep, analysed: every variant described over its seeds and compared with the
 * baseline (delta, the chosen t-test with its delta interval, the sign-flip test where seeds pair, Holm's
 * correction over the sweep's variants as one family, the detectable effect). Every number that cannot
 * be computed is null with a note saying why: a table built from this never shows NaN.
 */
import { checkFinite, describe, type Summary, variance } from './describe.js';
import { type Design, detectableDelta } from './power.js';
import { holm, isNoTest, type NoTest, pairedTest, signFlipTest, type TTestResult, welchTest } from './tests.js';

export type TestChoice = 'auto' | 'paired' | 'welch';
export type TestKind = 'paired' | 'welch';
export const TEST_CHOICES: readonly TestChoice[] = ['auto', 'paired', 'welch'];

export const TEST_NAMES: Record<TestKind, string> = {
  paired: 'paired t-test by seed',
  welch: "Welch's t-test",
};

export interface SeedValues {
  /** One metric value per seed. */
  values: number[];
  /** The seed of each value (same order); without seeds a variant cannot be paired. */
  seeds?: number[];
}

export interface VariantInput extends SeedValues {
  module: string;
  position: string | null;
}

export interface AnalysisInput {
  sweep: string;
  metric: string;
  /** Which direction is better (for best-in-bold and colours); default true. */
  higherIsBetter?: boolean;
  baseline: SeedValues | null;
  variants: VariantInput[];
  /** auto (default): paired when the variant's seeds are the baseline's, else Welch. */
  test?: TestChoice;
  /** Family-wise level after Holm's correction; default 0.05. */
  alpha?: number;
  /** Power for the detectable effect; default 0.8. */
  power?: number;
}

export interface Comparison {
  /** mean(variant) - mean(baseline). */
  delta: number;
  /** The test the p-values come from; null when none could run. */
  test: TestKind | null;
  t: number | null;
  df: number | null;
  p: number | null;
  deltaCi95: [number, number] | null;
  /** Holm-adjusted p over the sweep's variants tested against the baseline (one family per metric). */
  pHolm: number | null;
  significant: boolean;
  /** Both t-tests as computed (paired is null when the seeds do not pair). */
  welch: TTestResult | NoTest;
  paired: TTestResult | NoTest | null;
  /** Exact sign-flip permutation p of the paired differences; null when the seeds do not pair. */
  signFlipP: number | null;
  /** Smallest |delta| the used test detects with the given power at alpha (two-sided), at these seeds. */
  detectableDelta: number | null;
  /** Why the test is what it is, or why there is none (e.g. seeds differ, n = 1). */
  note: string | null;
}

export interface VariantAnalysis {
  module: string;
  position: string | null;
  seeds: number[] | null;
  summary: Summary;
  /** null when there is no baseline or no value. */
  comparison: Comparison | null;
}

export interface NoiseFloor {
  /** Seed std of the baseline. */
  std: number;
  n: number;
  /** Smallest delta between two variants of n seeds each that a two-sample t-test detects. */
  detectableDelta: number | null;
}

export interface Analysis {
  sweep: string;
  metric: string;
  higherIsBetter: boolean;
  test: TestChoice;
  alpha: number;
  power: number;
  correction: 'holm';
  baseline: { seeds: number[] | null; summary: Summary } | null;
  variants: VariantAnalysis[];
  /** null when the baseline has fewer than 2 values. */
  noiseFloor: NoiseFloor | null;
  /** The best row and whether it beats the runner-up significantly (for bold in LaTeX). */
  best: BestRow | null;
  /** Sweep-level remarks (no baseline, n = 1 everywhere, ...). */
  messages: string[];
}

export const variantKey = (v: { module: string | null; position: string | null }): string =>
  v.module === null ? 'baseline' : v.position ? `${v.module}@${v.position}` : v.module;

function checkSeeds(s: SeedValues, what: string): void {
  checkFinite(s.values, what);
  if (s.seeds) {
    if (s.seeds.length !== s.values.length) {
      throw new Error(`${what}: ${s.seeds.length} seeds for ${s.values.length} values; expected one seed per value`);
    }
    if (new Set(s.seeds).size !== s.seeds.length) throw new Error(`${what}: a seed appears twice (${s.seeds.join(', ')})`);
  }
}

/** Values of x and y aligned by seed, or null when the two seed sets differ (or seeds are unknown). */
export function pairBySeed(x: SeedValues, y: SeedValues): { x: number[]; y: number[] } | null {
  if (!x.seeds || !y.seeds || x.seeds.length !== y.seeds.length) return null;
  const at = new Map(y.seeds.map((s, i) => [s, y.values[i]]));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < x.seeds.length; i++) {
    const v = at.get(x.seeds[i]);
    if (v === undefined) return null;
    xs.push(x.values[i]);
    ys.push(v);
  }
  return { x: xs, y: ys };
}

const seedList = (s: number[] | undefined) => (s ? `{${[...s].sort((a, b) => a - b).join(', ')}}` : 'unknown');

/**
 * Compares two seed samples (x - y) with the chosen test, without Holm (pHolm = p, significant = p < alpha).
 * Used per variant by `analyze` (which then adjusts) and for best vs runner-up.
 */
export function compare(x: SeedValues, y: SeedValues, choice: TestChoice, alpha = 0.05, power = 0.8): Comparison {
  const sx = describe(x.values);
  const sy = describe(y.values);
  const delta = (sx.mean ?? 0) - (sy.mean ?? 0);
  const pairs = pairBySeed(x, y);
  const welch = welchTest(x.values, y.values);
  const paired = pairs ? pairedTest(pairs.x, pairs.y) : null;
  const sf = pairs ? signFlipTest(pairs.x, pairs.y) : null;
  const notes: string[] = [];
  let used: TestKind | null = null;
  let r: TTestResult | NoTest = welch;
  if (choice !== 'welch' && paired && !isNoTest(paired)) {
    used = 'paired';
    r = paired;
  } else {
    if ((choice === 'paired' || choice === 'auto') && x.values.length >= 2 && y.values.length >= 2) {
      if (!pairs) {
        notes.push(`seeds ${seedList(x.seeds)} differ from the baseline's ${seedList(y.seeds)}: not paired, ${TEST_NAMES.welch} used`);
      } else if (paired && isNoTest(paired)) {
        notes.push(`${paired.reason}; ${TEST_NAMES.welch} used`);
      }
    }
    if (!isNoTest(welch)) used = 'welch';
    r = welch;
  }
  if (isNoTest(r)) notes.push(r.reason);
  const res = isNoTest(r) ? null : r;
  let detectable: number | null = null;
  if (used) {
    let sigma: number;
    let design: Design;
    let n1: number;
    let n2: number;
    if (used === 'paired' && pairs) {
      design = 'paired';
      sigma = Math.sqrt(variance(pairs.x.map((v, i) => v - pairs.y[i])));
      n1 = n2 = pairs.x.length;
    } else {
      design = 'two-sample';
      sigma = Math.sqrt(((sx.std ?? 0) ** 2 + (sy.std ?? 0) ** 2) / 2);
      n1 = sx.n;
      n2 = sy.n;
    }
    detectable = detectableDelta(sigma, design, n1, n2, { alpha, power });
  }
  return {
    delta,
    test: used,
    t: res ? res.t : null,
    df: res ? res.df : null,
    p: res ? res.p : null,
    deltaCi95: res ? res.deltaCi95 : null,
    pHolm: res ? res.p : null,
    significant: res ? res.p < alpha : false,
    welch,
    paired,
    signFlipP: typeof sf === 'number' ? sf : null,
    detectableDelta: detectable,
    note: notes.length ? notes.join('; ') : null,
  };
}

export function analyze(input: AnalysisInput): Analysis {
  const choice = input.test ?? 'auto';
  if (!TEST_CHOICES.includes(choice)) {
    throw new Error(`test "${String(choice)}" is not known; expected one of ${TEST_CHOICES.join(', ')}`);
  }
  const alpha = input.alpha ?? 0.05;
  const power = input.power ?? 0.8;
  const messages: string[] = [];
  const base = input.baseline && input.baseline.values.length > 0 ? input.baseline : null;
  if (base) checkSeeds(base, `${input.sweep} ${input.metric} baseline`);
  const variants: VariantAnalysis[] = input.variants.map((v) => {
    checkSeeds(v, `${input.sweep} ${input.metric} ${variantKey(v)}`);
    const summary = describe(v.values);
    const comparison = base && v.values.length > 0 ? compare(v, base, choice, alpha, power) : null;
    return { module: v.module, position: v.position, seeds: v.seeds ?? null, summary, comparison };
  });
  if (!base) {
    messages.push(
      input.baseline
        ? `${input.sweep}: the baseline has no ${input.metric} value, so no difference or test`
        : `${input.sweep}: no baseline, so no difference or test`,
    );
  }
  // Holm over the variants that were tested: one family per metric and sweep.
  const adj = holm(variants.map((v) => v.comparison?.p ?? null));
  variants.forEach((v, i) => {
    if (!v.comparison) return;
    v.comparison.pHolm = adj[i];
    v.comparison.significant = adj[i] !== null && adj[i] < alpha;
  });
  const all = [...(base ? [base.values.length] : []), ...input.variants.map((v) => v.values.length)];
  if (all.length > 0 && all.every((n) => n <= 1)) messages.push('1 seed per variant: no test possible; run more seeds');
  const bs = base ? describe(base.values) : null;
  const noiseFloor =
    bs && bs.std !== null
      ? { std: bs.std, n: bs.n, detectableDelta: detectableDelta(bs.std, 'two-sample', bs.n, bs.n, { alpha, power }) }
      : null;
  const a: Analysis = {
    sweep: input.sweep,
    metric: input.metric,
    higherIsBetter: input.higherIsBetter ?? true,
    test: choice,
    alpha,
    power,
    correction: 'holm',
    baseline: base && bs ? { seeds: base.seeds ?? null, summary: bs } : null,
    variants,
    noiseFloor,
    best: null,
    messages,
  };
  a.best = bestRow(input, a);
  return a;
}

/** The best row (baseline included) and whether it is significantly better than the runner-up. */
export interface BestRow {
  /** Index into analysis.variants, or -1 for the baseline. */
  index: number;
  runnerUp: number | null;
  /** The best is significantly better than the runner-up (one uncorrected test at alpha). */
  significant: boolean;
  comparison: Comparison | null;
}

/** Finds the best mean and tests it against the runner-up with the analysis' test choice. */
function bestRow(input: AnalysisInput, a: Analysis): BestRow | null {
  const rows: { index: number; s: SeedValues; mean: number }[] = [];
  if (a.baseline && input.baseline && a.baseline.summary.mean !== null) {
    rows.push({ index: -1, s: input.baseline, mean: a.baseline.summary.mean });
  }
  a.variants.forEach((v, i) => {
    if (v.summary.mean !== null) rows.push({ index: i, s: input.variants[i], mean: v.summary.mean });
  });
  if (rows.length === 0) return null;
  rows.sort((p, q) => (a.higherIsBetter ? q.mean - p.mean : p.mean - q.mean));
  if (rows.length === 1) return { index: rows[0].index, runnerUp: null, significant: false, comparison: null };
  const c = compare(rows[0].s, rows[1].s, a.test, a.alpha, a.power);
  const better = a.higherIsBetter ? c.delta > 0 : c.delta < 0;
  return { index: rows[0].index, runnerUp: rows[1].index, significant: c.significant && better, comparison: c };
}
