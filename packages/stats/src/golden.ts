/**
 * Comparison with the reference cases of `fixtures/golden/stats/` (scipy / statsmodels; README there):
 * every number of `expected` is recomputed here and its error measured, absolute for means, stds,
 * intervals and statistics, relative for p-values; Holm's significance flags must match exactly.
 * Power cases (`kind: "power"`) compare the detectable effect size and the seeds needed.
 */
import { describe } from './describe.js';
import { detectableEffectSize, seedsNeeded, tTestPower } from './power.js';
import { holm, isNoTest, type NoTest, pairedTest, signFlipTest, type TTestResult, welchTest } from './tests.js';

export interface StatsCaseResult {
  /** Numbers compared. */
  numbers: number;
  worstAbs: number;
  worstAbsAt: string;
  worstPRel: number;
  worstPRelAt: string;
  /** Mismatches that must be exact (flags, n, seed counts) and missing results. */
  exactFailures: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
type Json = any;

class Tally {
  r: StatsCaseResult = { numbers: 0, worstAbs: 0, worstAbsAt: '', worstPRel: 0, worstPRelAt: '', exactFailures: [] };
  abs(at: string, got: number | null | undefined, want: number | null | undefined) {
    this.r.numbers++;
    if (want === null || want === undefined) {
      if (got !== null && got !== undefined) this.r.exactFailures.push(`${at}: got ${got}, expected null`);
      return;
    }
    if (got === null || got === undefined || !Number.isFinite(got)) {
      this.r.exactFailures.push(`${at}: got ${got}, expected ${want}`);
      return;
    }
    const e = Math.abs(got - want);
    if (e >= this.r.worstAbs) {
      this.r.worstAbs = e;
      this.r.worstAbsAt = at;
    }
  }
  rel(at: string, got: number | null | undefined, want: number) {
    this.r.numbers++;
    if (got === null || got === undefined || !Number.isFinite(got)) {
      this.r.exactFailures.push(`${at}: got ${got}, expected ${want}`);
      return;
    }
    const e = Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
    if (e >= this.r.worstPRel) {
      this.r.worstPRel = e;
      this.r.worstPRelAt = at;
    }
  }
  exact(at: string, got: unknown, want: unknown) {
    this.r.numbers++;
    if (got !== want) this.r.exactFailures.push(`${at}: got ${String(got)}, expected ${String(want)}`);
  }
}

function testPart(t: Tally, at: string, got: TTestResult | NoTest, want: Json, pHolm: number | null) {
  if (isNoTest(got)) {
    t.r.exactFailures.push(`${at}: no result (${got.reason})`);
    return;
  }
  t.abs(`${at}.t`, got.t, want.t);
  t.abs(`${at}.df`, got.df, want.df);
  t.rel(`${at}.p`, got.p, want.p);
  t.abs(`${at}.delta_ci95[0]`, got.deltaCi95[0], want.delta_ci95[0]);
  t.abs(`${at}.delta_ci95[1]`, got.deltaCi95[1], want.delta_ci95[1]);
  t.rel(`${at}.p_holm`, pHolm, want.p_holm);
  t.exact(`${at}.significant_holm_0.05`, pHolm !== null && pHolm < 0.05, want['significant_holm_0.05']);
}

/** A seed-statistics table case: `values`, `seeds`, `baseline` variant, `expected.variants`/`vs_baseline`. */
export function isStatsTableCase(json: Json): boolean {
  return Boolean(json && typeof json.values === 'object' && Array.isArray(json.seeds) && json.expected?.vs_baseline);
}

export function compareStatsTable(json: Json): StatsCaseResult {
  const t = new Tally();
  const values = json.values as Record<string, number[]>;
  const base = values.baseline;
  if (!base) throw new Error('no "baseline" among values');
  for (const [name, want] of Object.entries(json.expected.variants as Record<string, Json>)) {
    const s = describe(values[name] ?? []);
    t.exact(`${name}.n`, s.n, want.n);
    t.abs(`${name}.mean`, s.mean, want.mean);
    t.abs(`${name}.std`, s.std, want.std);
    t.abs(`${name}.ci95[0]`, s.ci95?.[0], want.ci95?.[0]);
    t.abs(`${name}.ci95[1]`, s.ci95?.[1], want.ci95?.[1]);
  }
  const names = Object.keys(json.expected.vs_baseline);
  const welch = names.map((n) => welchTest(values[n], base));
  const paired = names.map((n) => pairedTest(values[n], base));
  const holmOf = (rs: (TTestResult | NoTest)[]) => holm(rs.map((r) => (isNoTest(r) ? null : r.p)));
  const wh = holmOf(welch);
  const ph = holmOf(paired);
  names.forEach((n, i) => {
    const want = json.expected.vs_baseline[n];
    const s = describe(values[n]);
    const b = describe(base);
    t.abs(`${n}.delta`, (s.mean ?? 0) - (b.mean ?? 0), want.delta);
    testPart(t, `${n}.welch`, welch[i], want.welch, wh[i]);
    testPart(t, `${n}.paired_t`, paired[i], want.paired_t, ph[i]);
    const sf = signFlipTest(values[n], base);
    t.rel(`${n}.sign_flip_p`, typeof sf === 'number' ? sf : null, want.sign_flip_p);
  });
  return t.r;
}

/** A power case: `kind: "power"`, `cases: [{design, n, alpha, power, effect_size, delta?, sigma?, seeds_needed?}]`. */
export function isStatsPowerCase(json: Json): boolean {
  return Boolean(json && json.kind === 'power' && Array.isArray(json.power_cases));
}

export function compareStatsPower(json: Json): StatsCaseResult {
  const t = new Tally();
  const powerTol = Number(json.tolerance?.power_abs);
  for (const c of json.power_cases as Json[]) {
    const at = `${c.design}/n${c.n}/a${c.alpha}/p${c.power}`;
    if (c.power_at_effect !== undefined) {
      // Compared exactly here (flagged when over power_abs): the power function itself, without a solver.
      const got = tTestPower(c.effect_size, c.design, c.n, c.n, c.alpha);
      t.r.numbers++;
      const e = Math.abs(got - c.power_at_effect);
      if (!(e <= powerTol)) t.r.exactFailures.push(`${at}.power_at_effect: got ${got}, expected ${c.power_at_effect} (tol ${powerTol})`);
    }
    if (c.effect_size !== undefined) {
      const d = detectableEffectSize(c.design, c.n, c.n, { alpha: c.alpha, power: c.power });
      t.abs(`${at}.effect_size`, d, c.effect_size);
    }
    if (c.seeds_needed !== undefined) {
      const n = seedsNeeded(c.delta, c.sigma, c.design, { alpha: c.alpha, power: c.power });
      t.exact(`${c.design}/delta${c.delta}/sigma${c.sigma}.seeds_needed`, n, c.seeds_needed);
    }
  }
  return t.r;
}
