/**
 * @ablate/stats: seed statistics of ablation tables. Pure TypeScript (no tfjs); the t, chi-squared and
 * normal distributions come from stdlib (https://github.com/stdlib-js/stdlib).
 *
 * References: Welch (1947) "The generalization of 'Student's' problem when several different population
 * variances are involved", Biometrika 34; Holm (1979) "A simple sequentially rejective multiple test
 * procedure", Scand. J. Statist. 6; the exact sign-flip (Fisher-Pitman) permutation test of paired
 * differences. Numbers equal scipy 1.17.1 / statsmodels 0.15.0 (fixtures/golden/stats).
 * Status: no deviations known.
 */
export * from './analyze.js';
export { checkFinite, describe, mean, type Summary, variance } from './describe.js';
export { nctTwoSidedTail, studentCdf, studentQuantile, twoSidedP } from './dists.js';
export * from './formats.js';
export * from './golden.js';
export * from './power.js';
export * from './tests.js';
