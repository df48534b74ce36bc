// Every number of fixtures/golden/yolov8/metrics.json and every scenario of metrics_edge.json
// (Ultralytics 8.0.229), under the tolerance block of each file.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareMetricsScenario, type MetricsScenario } from './golden.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const readJson = (name: string) => JSON.parse(fs.readFileSync(new URL(name, dir), 'utf8'));

describe('metrics.json (40 images, 3 classes)', () => {
  const j = readJson('metrics.json');
  it('matches every correct flag exactly and every number within the tolerance', () => {
    const tol = j.tolerance.abs as number;
    expect(tol).toBeGreaterThan(0);
    const c = compareMetricsScenario(j as MetricsScenario);
    console.log(`metrics: ${c.numbers} numbers, worst abs err ${c.worst.toExponential(2)} at ${c.worstAt} (tol ${tol})`);
    expect(c.exactFailures).toEqual([]);
    expect(c.numbers).toBeGreaterThan(40);
    expect(c.worst).toBeLessThanOrEqual(tol);
    // A few headline numbers, spelled out.
    expect(c.results.processed).toBe(true);
    expect(Math.abs(c.results.map50_95 - j.results.map)).toBeLessThanOrEqual(tol);
    expect(Math.abs(c.results.fitness - (0.1 * j.results.map50 + 0.9 * j.results.map))).toBeLessThanOrEqual(tol);
    expect(c.results.maxF1Index).toBe(j.results.max_f1_index);
    expect(c.results.perClass.map((p) => p.nPred)).toEqual(j.results.per_class.map((p: { n_pred: number }) => p.n_pred));
  });
});

describe('metrics_edge.json', () => {
  const j = readJson('metrics_edge.json');
  const tol = j.tolerance.abs as number;
  for (const [name, s] of Object.entries(j.scenarios as Record<string, MetricsScenario>)) {
    it(`scenario ${name}`, () => {
      const c = compareMetricsScenario(s);
      console.log(`metrics_edge/${name}: ${c.numbers} numbers, worst abs err ${c.worst.toExponential(2)} at ${c.worstAt}`);
      expect(c.exactFailures).toEqual([]);
      expect(c.numbers).toBeGreaterThanOrEqual(6);
      expect(c.worst).toBeLessThanOrEqual(tol);
      expect(c.results.processed).toBe(s.results.processed);
    });
  }
  it('perfect detector gives AP 0.995, not 1', () => {
    const c = compareMetricsScenario(j.scenarios.perfect);
    expect(c.results.map50).toBeCloseTo(0.995, 12);
    expect(c.results.precision).toBe(1);
    expect(c.results.recall).toBe(1);
  });
  it('no true positive: nothing computed, every metric 0, maps empty', () => {
    const c = compareMetricsScenario(j.scenarios.no_true_positive);
    expect(c.results.processed).toBe(false);
    expect([c.results.precision, c.results.recall, c.results.map50, c.results.map50_95, c.results.fitness]).toEqual([0, 0, 0, 0, 0]);
    expect(c.results.maps).toEqual([]);
    expect(c.results.ntPerClass).toEqual([1, 1]);
  });
});
