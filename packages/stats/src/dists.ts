/**
 * The distributions the tests need, from stdlib (https://github.com/stdlib-js/stdlib): Student's t CDF and
 * quantile, the normal CDF and quantile, and the chi-squared quantile. The power of a t-test needs the
 * noncentral t distribution, which stdlib lacks; `nctTail` integrates it from these (see there).
 *
 * Status: the noncentral t tail is a numerical integral (Simpson's rule over the chi-squared scale),
 * equal to statsmodels' (scipy's nct) power within fixtures/golden/stats/power_ttest.json's tolerance.
 */
import chisqPdf from '@stdlib/stats-base-dists-chisquare-pdf';
import chisqQuantile from '@stdlib/stats-base-dists-chisquare-quantile';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** P(T <= x) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function studentCdf(x: number, df: number): number {
  return tCdf(x, df);
}

/** The p-quantile of Student's t with `df` degrees of freedom. */
export function studentQuantile(p: number, df: number): number {
  return tQuantile(p, df);
}

/** Two-sided p-value of a t statistic: 2 * P(T >= |t|), computed from the lower tail to keep precision. */
export function twoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * tCdf(-Math.abs(t), df));
}

export function stdNormalCdf(x: number): number {
  return normalCdf(x, 0, 1);
}

export function stdNormalQuantile(p: number): number {
  return normalQuantile(p, 0, 1);
}

/** Simpson intervals over the range of the chi scale S = sqrt(V / df). */
const INTERVALS = 600;
const scaleRules = new Map<number, { s: Float64Array; w: Float64Array }>();

/**
 * Nodes and weights of Simpson's rule for E[g(S)], S = sqrt(V / df), V ~ chi-squared(df): the density of S
 * is 2 df s f_V(df s^2), smooth on [0, s_max] for every df >= 1 (s_max: the 1 - 1e-13 quantile).
 */
function scaleRule(df: number): { s: Float64Array; w: Float64Array } {
  let rule = scaleRules.get(df);
  if (!rule) {
    const sMax = Math.sqrt(chisqQuantile(1 - 1e-13, df) / df);
    const h = sMax / INTERVALS;
    const s = new Float64Array(INTERVALS + 1);
    const w = new Float64Array(INTERVALS + 1);
    for (let i = 0; i <= INTERVALS; i++) {
      const x = i * h;
      s[i] = x;
      // At s = 0 the density is sqrt(2 / pi) for df = 1 (the half-normal's), 0 above.
      const dens = x === 0 ? (df === 1 ? Math.sqrt(2 / Math.PI) : 0) : 2 * df * x * chisqPdf(df * x * x, df);
      const simpson = i === 0 || i === INTERVALS ? 1 : i % 2 === 1 ? 4 : 2;
      w[i] = ((simpson * h) / 3) * dens;
    }
    if (scaleRules.size > 256) scaleRules.clear();
    rule = { s, w };
    scaleRules.set(df, rule);
  }
  return rule;
}

/**
 * P(|T'| > c) for T' noncentral t with `df` degrees of freedom and noncentrality `nc`: the power of a
 * two-sided t-test with critical value c. T' = (Z + nc) / S with Z standard normal and S = sqrt(V / df),
 * V chi-squared(df), independent; so P(T' > c) = E[Phi(nc - c S)] and P(T' < -c) = E[Phi(-c S - nc)],
 * expectations over S by Simpson's rule.
 */
export function nctTwoSidedTail(c: number, df: number, nc: number): number {
  const { s, w } = scaleRule(df);
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    if (w[i] === 0) continue;
    const cs = c * s[i];
    sum += w[i] * (stdNormalCdf(nc - cs) + stdNormalCdf(-cs - nc));
  }
  return sum;
}
