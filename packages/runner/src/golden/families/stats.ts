/**
 * Seed-statistics cases (`fixtures/golden/stats/README.md`): ablation tables (`stats_*.json`, scipy and
 * statsmodels: means, stds, t-intervals, Welch / paired t-tests, sign-flip p, Holm) and the power case
 * (`power_ttest.json`, statsmodels: detectable effect size and seeds needed), through `@ablate/stats`.
 * Means, intervals and statistics by absolute error (`tolerance.abs`), p-values by relative error
 * (`tolerance.p_rel`), flags and counts exactly. One line per file.
 */
import { compareStatsPower, compareStatsTable, isStatsPowerCase, isStatsTableCase, type StatsCaseResult } from '@ablate/stats';
import type { CaseLine, GoldenContext, GoldenFamily, GoldenFile } from '../types.js';

function line(f: GoldenFile, r: StatsCaseResult, ctx: GoldenContext): CaseLine {
  const abs = Number(f.json.tolerance?.abs);
  const pRel = f.json.tolerance?.p_rel === undefined ? null : Number(f.json.tolerance.p_rel);
  if (!(abs >= 0)) throw new Error(`${f.path}: no numeric tolerance.abs in the tolerance block`);
  const pOk = pRel === null || r.worstPRel <= pRel;
  const pass = r.exactFailures.length === 0 && r.worstAbs <= abs && pOk;
  if (ctx.verbose || !pass) {
    for (const m of r.exactFailures.slice(0, 20)) ctx.log(`  FAIL ${f.json.case}: ${m}`);
    ctx.log(`  ${f.json.case}: worst abs ${r.worstAbs.toExponential(2)} at ${r.worstAbsAt} (tol ${abs})`);
    if (pRel !== null) ctx.log(`  ${f.json.case}: worst p rel ${r.worstPRel.toExponential(2)} at ${r.worstPRelAt} (tol ${pRel})`);
  }
  const pNote = pRel === null ? '' : `, p-values rel ${r.worstPRel.toExponential(2)} (tol ${pRel}) at ${r.worstPRelAt}`;
  return {
    name: `stats/${f.json.case}`,
    status: pass ? 'PASS' : 'FAIL',
    worst: r.worstAbs,
    tolerance: abs,
    metric: `abs (worst at ${r.worstAbsAt})`,
    note: `${r.numbers} numbers${pNote}${r.exactFailures.length ? `; ${r.exactFailures.length} exact mismatches, first: ${r.exactFailures[0]}` : ''}`,
  };
}

export const statsFamily: GoldenFamily = {
  id: 'stats',
  matches: (f) => isStatsTableCase(f.json) || isStatsPowerCase(f.json),
  async evaluate(f, ctx) {
    return [line(f, isStatsTableCase(f.json) ? compareStatsTable(f.json) : compareStatsPower(f.json), ctx)];
  },
};
