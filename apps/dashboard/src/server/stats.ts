/**
 * Seed statistics of a sweep for the matrix and the exports, through @ablate/stats: one metric's values
 * per variant (ok trials, with their seeds) analysed against the baseline with the chosen test.
 */
import { type Analysis, type AnalysisInput, analyze, TEST_CHOICES, type TestChoice } from '@ablate/stats';
import { formatValue, METRICS, type MetricKey } from '../common/metrics.js';

export interface ResultRowLike {
  module: string | null;
  position: string | null;
  seed: number;
  status: string;
  [metric: string]: unknown;
}

export function statsInput(sweep: string, rows: ResultRowLike[], metric: MetricKey): AnalysisInput {
  const baseline = { values: [] as number[], seeds: [] as number[] };
  let hasBaseline = false;
  const byKey = new Map<string, { module: string; position: string | null; values: number[]; seeds: number[] }>();
  for (const r of rows) {
    if (r.module === null) hasBaseline = true;
    const v = r[metric];
    if (r.status !== 'ok' || typeof v !== 'number' || !Number.isFinite(v)) continue;
    let target = baseline;
    if (r.module !== null) {
      const k = `${r.module}\u0000${r.position ?? ''}`;
      let e = byKey.get(k);
      if (!e) {
        e = { module: r.module, position: r.position, values: [], seeds: [] };
        byKey.set(k, e);
      }
      target = e;
    }
    if (target.seeds.includes(r.seed)) continue;
    target.values.push(v);
    target.seeds.push(r.seed);
  }
  return {
    sweep,
    metric,
    higherIsBetter: METRICS[metric].higherIsBetter,
    baseline: hasBaseline ? baseline : null,
    variants: [...byKey.values()],
  };
}

export function testParam(v: string | undefined): TestChoice | { error: string } {
  if (v === undefined || v === '') return 'auto';
  if (!TEST_CHOICES.includes(v as TestChoice)) return { error: `Unknown test "${v}"; known: ${TEST_CHOICES.join(', ')}` };
  return v as TestChoice;
}

export function sweepStats(sweep: string, rows: ResultRowLike[], metric: MetricKey, test: TestChoice): Analysis {
  return analyze({ ...statsInput(sweep, rows, metric), test });
}

/** Formats a metric value as the dashboard shows it (params in millions, ...). */
export const valueFormat = (metric: MetricKey) => (v: number) => formatValue(metric, v);
