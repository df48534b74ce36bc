/**
 * YOLOv8 validation-metric cases (`fixtures/golden/yolov8/README.md`, case 5): `metrics` (one data set)
 * and `metrics_edge` (several named scenarios). Each data set is run through `DetectionMetrics` of
 * `@ablate/metrics` and every reported number is compared by absolute error with the file's
 * `tolerance.abs`; the per-prediction `correct` matrices, class lists and counts must match exactly.
 * One line per data set: `metrics` or `metrics_edge/<scenario>`.
 */
import { compareMetricsScenario, type MetricsScenario } from '@ablate/metrics';
import type { CaseLine, GoldenContext, GoldenFamily, GoldenFile } from '../types.js';

function tolerance(f: GoldenFile): number {
  const tol = f.json?.tolerance?.abs;
  if (typeof tol !== 'number' || !(tol >= 0)) throw new Error(`${f.path}: no numeric tolerance.abs in the tolerance block`);
  return tol;
}

function evaluateScenario(name: string, s: MetricsScenario, tol: number, ctx: GoldenContext): CaseLine {
  const c = compareMetricsScenario(s);
  const pass = c.exactFailures.length === 0 && c.worst <= tol;
  if (ctx.verbose || !pass) {
    for (const msg of c.exactFailures.slice(0, 20)) ctx.log(`  FAIL ${name}: ${msg}`);
    if (c.exactFailures.length > 20) ctx.log(`  FAIL ${name}: ... ${c.exactFailures.length - 20} more exact mismatches`);
    ctx.log(`  ${c.worst <= tol ? 'ok  ' : 'FAIL'} ${name}: worst abs err ${c.worst.toExponential(2)} at ${c.worstAt} (tol ${tol})`);
  }
  const nPred = s.images.reduce((n, im) => n + im.preds.length, 0);
  const exact = c.exactFailures.length
    ? `${c.exactFailures.length} exact mismatches, first: ${c.exactFailures[0]}`
    : 'correct matrix exact';
  return {
    name,
    status: pass ? 'PASS' : 'FAIL',
    worst: c.worst,
    tolerance: tol,
    metric: c.worst > 0 ? `abs (worst at ${c.worstAt})` : 'abs (all exact)',
    note: `${c.numbers} numbers, ${s.images.length} images, ${nPred} predictions, ${exact}`,
  };
}

const isDataSet = (s: unknown): s is MetricsScenario => {
  const d = s as Partial<MetricsScenario> | undefined;
  return Boolean(d && typeof d.nc === 'number' && Array.isArray(d.images) && d.results && typeof d.results === 'object');
};

export const yolov8MetricsFamily: GoldenFamily = {
  id: 'yolov8/metrics',
  matches: (f) => f.json?.case === 'metrics' && isDataSet(f.json),
  async evaluate(f, ctx) {
    return [evaluateScenario(String(f.json.case), f.json as MetricsScenario, tolerance(f), ctx)];
  },
};

export const yolov8MetricsEdgeFamily: GoldenFamily = {
  id: 'yolov8/metrics_edge',
  matches: (f) => f.json?.case === 'metrics_edge' && f.json?.scenarios && typeof f.json.scenarios === 'object',
  async evaluate(f, ctx) {
    const tol = tolerance(f);
    const out: CaseLine[] = [];
    for (const [name, s] of Object.entries(f.json.scenarios as Record<string, unknown>)) {
      const full = `${f.json.case}/${name}`;
      if (!isDataSet(s)) {
        out.push({ name: full, status: 'FAIL', note: 'scenario lacks nc / images / results' });
        continue;
      }
      out.push(evaluateScenario(full, s, tol, ctx));
    }
    if (out.length === 0) throw new Error(`${f.path}: no scenarios`);
    return out;
  },
};
