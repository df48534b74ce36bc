import { expect, describe as group, it } from 'vitest';
import { analyze, compare } from './analyze.js';
import { describe } from './describe.js';
import { detectableDelta, seedsNeeded, tTestPower } from './power.js';
import { holm, pairedTest, signFlipTest, welchTest } from './tests.js';

const noNaN = (o: unknown) => JSON.stringify(o, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? `BAD:${v}` : v));

group('describe', () => {
  it('n = 1: mean only, std and interval null', () => {
    expect(describe([0.5])).toEqual({ n: 1, mean: 0.5, std: null, ci95: null });
  });
  it('n = 0: everything null', () => {
    expect(describe([])).toEqual({ n: 0, mean: null, std: null, ci95: null });
  });
  it('zero variance: std 0, degenerate interval', () => {
    expect(describe([0.3, 0.3, 0.3])).toEqual({ n: 3, mean: 0.3, std: 0, ci95: [0.3, 0.3] });
  });
});

group('tests', () => {
  it('Welch and paired refuse n = 1 and zero variance with a reason, not NaN', () => {
    expect(welchTest([1], [1, 2])).toEqual({ reason: '1 seed: no test possible' });
    expect(welchTest([1, 1], [2, 2])).toMatchObject({ reason: expect.stringMatching(/no seed variance/) });
    expect(pairedTest([1, 2, 3], [0, 1, 2])).toMatchObject({ reason: expect.stringMatching(/same difference/) });
  });
  it('sign-flip counts the observed pattern: 3 seeds cannot go below 0.25', () => {
    expect(signFlipTest([1, 2, 3], [0, 0, 0])).toBe(0.25);
    expect(signFlipTest([0, 0], [0, 0])).toBe(1);
  });
  it('Holm skips nulls and keeps order', () => {
    expect(holm([0.01, null, 0.04, 0.03])).toEqual([0.03, null, 0.06, 0.06]);
  });
});

group('power', () => {
  it('power at the detectable effect is the asked power; seeds needed is the smallest such n', () => {
    const d = detectableDelta(1, 'two-sample', 3, 3) as number;
    expect(tTestPower(d, 'two-sample', 3, 3)).toBeCloseTo(0.8, 6);
    const n = seedsNeeded(0.01, 0.017, 'two-sample') as number;
    expect(tTestPower(0.01 / 0.017, 'two-sample', n, n)).toBeGreaterThanOrEqual(0.8);
    expect(tTestPower(0.01 / 0.017, 'two-sample', n - 1, n - 1)).toBeLessThan(0.8);
  });
  it('no degrees of freedom, zero delta: null', () => {
    expect(detectableDelta(0.01, 'two-sample', 1, 1)).toBeNull();
    expect(seedsNeeded(0, 0.01, 'paired')).toBeNull();
  });
});

const seeds = [0, 1, 2];
const sweep = {
  sweep: 's',
  metric: 'map50',
  baseline: { values: [0.5, 0.51, 0.49], seeds },
  variants: [
    { module: 'Big', position: 'neck', values: [0.6, 0.62, 0.59], seeds },
    { module: 'Noise', position: 'neck', values: [0.505, 0.49, 0.5], seeds },
  ],
};

group('analyze', () => {
  it('auto uses the paired test when seeds match; Holm over the family; the big effect is significant', () => {
    const a = analyze(sweep);
    const [big, noise] = a.variants;
    expect(big.comparison?.test).toBe('paired');
    expect(big.comparison?.significant).toBe(true);
    expect(noise.comparison?.significant).toBe(false);
    const ps = a.variants.map((v) => v.comparison?.p as number);
    expect(a.variants.map((v) => v.comparison?.pHolm)).toEqual(holm(ps));
    expect(a.noiseFloor?.detectableDelta).toBeGreaterThan(0);
    expect(a.best?.index).toBe(0);
    expect(a.best?.significant).toBe(true);
  });
  it('welch when asked; the Δ interval is the Welch one', () => {
    const a = analyze({ ...sweep, test: 'welch' });
    const w = welchTest(sweep.variants[0].values, sweep.baseline.values);
    expect(a.variants[0].comparison?.test).toBe('welch');
    expect(a.variants[0].comparison?.deltaCi95).toEqual('deltaCi95' in w ? w.deltaCi95 : null);
  });
  it('different seed sets: Welch, and the note says so', () => {
    const a = analyze({
      ...sweep,
      test: 'paired',
      variants: [{ module: 'M', position: 'neck', values: [0.6, 0.62, 0.59], seeds: [0, 1, 5] }],
    });
    const c = a.variants[0].comparison;
    expect(c?.test).toBe('welch');
    expect(c?.signFlipP).toBeNull();
    expect(c?.note).toMatch(/seeds \{0, 1, 5\} differ from the baseline's \{0, 1, 2\}: not paired, Welch's t-test used/);
  });
  it('n = 1 everywhere: no test, a message, no NaN', () => {
    const a = analyze({
      sweep: 's',
      metric: 'map50',
      baseline: { values: [0.5], seeds: [0] },
      variants: [{ module: 'M', position: 'neck', values: [0.6], seeds: [0] }],
    });
    expect(a.variants[0].comparison).toMatchObject({ test: null, p: null, pHolm: null, significant: false });
    expect(a.variants[0].comparison?.note).toMatch(/1 seed: no test possible/);
    expect(a.messages.join()).toMatch(/1 seed per variant/);
    expect(noNaN(a)).not.toMatch(/BAD/);
  });
  it('zero variance in both groups: no test, a reason, no NaN', () => {
    const a = analyze({
      sweep: 's',
      metric: 'params',
      baseline: { values: [3, 3, 3], seeds },
      variants: [{ module: 'M', position: 'neck', values: [4, 4, 4], seeds }],
    });
    expect(a.variants[0].comparison?.p).toBeNull();
    expect(a.variants[0].comparison?.note).toMatch(/undefined/);
    expect(noNaN(a)).not.toMatch(/BAD/);
  });
  it('no baseline: summaries only, a message', () => {
    const a = analyze({ ...sweep, baseline: null });
    expect(a.variants.every((v) => v.comparison === null)).toBe(true);
    expect(a.messages).toEqual(['s: no baseline, so no difference or test']);
  });
  it('baseline only (a seed-noise study): the noise floor', () => {
    const a = analyze({ ...sweep, variants: [] });
    expect(a.noiseFloor?.std).toBeCloseTo(0.01, 12);
    expect(a.noiseFloor?.n).toBe(3);
  });
  it('bad input names what is wrong', () => {
    expect(() => analyze({ ...sweep, test: 'anova' as 'auto' })).toThrow(/test "anova" is not known; expected one of auto, paired, welch/);
    expect(() => analyze({ ...sweep, baseline: { values: [0.5, Number.NaN], seeds: [0, 1] } })).toThrow(/s map50 baseline: value 1 is NaN/);
    expect(() => analyze({ ...sweep, baseline: { values: [0.5, 0.4], seeds: [0] } })).toThrow(/1 seeds for 2 values/);
  });
  it('compare pairs by seed, not by position in the list', () => {
    const c = compare({ values: [2, 1, 3], seeds: [1, 0, 2] }, { values: [0, 1, 2], seeds: [0, 1, 2] }, 'auto');
    // differences by seed: 1-0, 2-1, 3-2 -> all 1: the paired test is undefined, Welch used instead
    expect(c.paired).toMatchObject({ reason: expect.any(String) });
    expect(c.test).toBe('welch');
    expect(c.signFlipP).toBe(0.25);
  });
});
