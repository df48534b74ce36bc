/**
 * Reads one metric of one sweep from a results database (the `results` view of @ablate/tracker, ok
 * trials only) into the input of `@ablate/stats`' `analyze`: the baseline (module NULL) and one entry
 * per (module, position), each value with its seed.
 */
import type { AnalysisInput } from '@ablate/stats';
import { Tracker } from '@ablate/tracker';

/** Columns of `results` that are not metrics. */
const NOT_METRICS = new Set([
  'sweep',
  'trial_id',
  'module',
  'position',
  'module_args',
  'seed',
  'status',
  'error',
  'started_at',
  'finished_at',
  'backend',
  'threads',
  'imgsz',
  'epochs',
  'epochs_planned',
  'best_epoch',
]);

/** Metrics where lower is better. */
export const LOWER_IS_BETTER = new Set(['latency_ms', 'latency_p90_ms', 'params', 'gflops', 'gflops_640', 'train_seconds']);

export interface SweepMetric {
  input: AnalysisInput;
  /** Trials of the sweep that are not `ok` (left out). */
  notOk: number;
  /** ok trials without a value of the metric (left out). */
  missing: number;
}

/** The numeric metric columns of the database's `results` view. */
export function metricColumns(t: Tracker): string[] {
  const cols = t.db.prepare('SELECT name FROM pragma_table_info(?)').all('results') as { name: string }[];
  return cols.map((c) => c.name).filter((c) => !NOT_METRICS.has(c));
}

export function sweepNames(t: Tracker): string[] {
  return (t.db.prepare('SELECT name FROM sweeps ORDER BY name').all() as { name: string }[]).map((r) => r.name);
}

/** Opens `file` read-only; throws a clear error when it does not exist. */
export function openResults(file: string): Tracker {
  return new Tracker(file, { readonly: true });
}

interface Row {
  module: string | null;
  position: string | null;
  seed: number;
  status: string;
  value: number | null;
}

/** Loads `metric` of `sweep`; throws naming the known sweeps / metrics when either does not exist. */
export function loadSweepMetric(t: Tracker, sweep: string, metric: string): SweepMetric {
  const sweeps = sweepNames(t);
  if (!sweeps.includes(sweep)) {
    throw new Error(`sweep "${sweep}" is not in ${t.file}; known: ${sweeps.length ? sweeps.join(', ') : '(none)'}`);
  }
  const metrics = metricColumns(t);
  if (!metrics.includes(metric)) throw new Error(`metric "${metric}" is not a column of results; known: ${metrics.join(', ')}`);
  // metric is one of the view's own column names (checked above), so it can be quoted into the SQL.
  const rows = t.db
    .prepare(
      `SELECT r.module, r.position, r.seed, r.status, r."${metric}" AS value FROM results r
       JOIN sweep_trials st ON st.sweep = r.sweep AND st.trial_id = r.trial_id WHERE r.sweep = ? ORDER BY st.ordinal`,
    )
    .all(sweep) as Row[];
  let notOk = 0;
  let missing = 0;
  const baseline = { values: [] as number[], seeds: [] as number[] };
  const byVariant = new Map<string, { module: string; position: string | null; values: number[]; seeds: number[] }>();
  for (const r of rows) {
    if (r.status !== 'ok') {
      notOk++;
      continue;
    }
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) {
      missing++;
      continue;
    }
    let target = baseline;
    if (r.module !== null) {
      const key = `${r.module}\u0000${r.position ?? ''}`;
      let v = byVariant.get(key);
      if (!v) {
        v = { module: r.module, position: r.position, values: [], seeds: [] };
        byVariant.set(key, v);
      }
      target = v;
    }
    // A seed twice (same variant, different module_args) keeps the first: pairing needs one value per seed.
    if (target.seeds.includes(r.seed)) continue;
    target.values.push(r.value);
    target.seeds.push(r.seed);
  }
  const hasBaseline = rows.some((r) => r.module === null);
  return {
    input: {
      sweep,
      metric,
      higherIsBetter: !LOWER_IS_BETTER.has(metric),
      baseline: hasBaseline ? baseline : null,
      variants: [...byVariant.values()],
    },
    notOk,
    missing,
  };
}
