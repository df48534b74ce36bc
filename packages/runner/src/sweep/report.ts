/**
 * What the sweep prints: the final summary table (per variant: mean ± std over seeds of mAP50-95 with
 * its difference from the baseline, interval, Holm p and marker (@ablate/stats), mAP50, P, R and FPS), the dry-run table, and the training-time
 * estimate (seconds per GFLOP per image, from this database's finished trials when there are any, else
 * a constant measured on the project's 2-core machine).
 */
import { type Analysis, analyze, formatP, marker, noiseLine } from '@ablate/stats';

export interface ResultRow {
  variant: string;
  seed: number;
  status: string;
  map50: number | null;
  map50_95: number | null;
  precision: number | null;
  recall: number | null;
  fps: number | null;
  error?: string | null;
}

export function table(head: string[], rows: string[][], alignLeft = 1): string {
  const cells = [head, ...rows];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < alignLeft ? (c ?? '').padEnd(w[i]) : (c ?? '').padStart(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function meanStd(xs: number[]): { mean: number; std: number; n: number } {
  const n = xs.length;
  if (!n) return { mean: Number.NaN, std: Number.NaN, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

const pm = (xs: number[], digits: number) => {
  if (!xs.length) return '-';
  const { mean, std, n } = meanStd(xs);
  return n > 1 ? `${mean.toFixed(digits)} ± ${std.toFixed(digits)}` : mean.toFixed(digits);
};
const signed = (x: number, digits: number) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

type MetricKey = 'map50' | 'map50_95' | 'precision' | 'recall' | 'fps';

/** Rows grouped by variant in first-appearance order, with their ok values per metric and seeds. */
function groupRows(rows: ResultRow[]) {
  const order: string[] = [];
  const by = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (!by.has(r.variant)) {
      by.set(r.variant, []);
      order.push(r.variant);
    }
    by.get(r.variant)?.push(r);
  }
  const okRows = (v: string, k: MetricKey) =>
    (by.get(v) ?? []).filter((r) => r.status === 'ok' && typeof r[k] === 'number' && Number.isFinite(r[k]));
  const vals = (v: string, k: MetricKey) => okRows(v, k).map((r) => r[k] as number);
  const seeds = (v: string, k: MetricKey) => okRows(v, k).map((r) => r.seed);
  return { order, by, vals, seeds };
}

/** mAP50-95 of every variant against the baseline, through @ablate/stats (auto test, Holm over the sweep). */
export function summaryAnalysis(rows: ResultRow[], sweep = 'sweep'): Analysis {
  const { order, vals, seeds } = groupRows(rows);
  const k: MetricKey = 'map50_95';
  return analyze({
    sweep,
    metric: 'mAP50-95',
    baseline: order.includes('baseline') ? { values: vals('baseline', k), seeds: seeds('baseline', k) } : null,
    variants: order.filter((v) => v !== 'baseline').map((v) => ({ module: v, position: null, values: vals(v, k), seeds: seeds(v, k) })),
  });
}

/**
 * The summary table, variants in first-appearance order: mean ± std (n) of mAP50-95 with its Δ from the
 * baseline, the Δ's 95% interval, p after Holm and a marker (▲/▼ significant), then mean ± std of
 * mAP50, P, R, FPS and Δ FPS. Std is the sample std (n - 1) over ok seeds. Under the table, a line that
 * says which differences are within seed noise.
 */
export function summaryTable(rows: ResultRow[], sweep = 'sweep'): string {
  const { order, by, vals } = groupRows(rows);
  const a = summaryAnalysis(rows, sweep);
  const base = order.includes('baseline') ? 'baseline' : undefined;
  const bf = base ? meanStd(vals(base, 'fps')).mean : Number.NaN;
  const body = order.map((v) => {
    const all = by.get(v) ?? [];
    const nOk = all.filter((r) => r.status === 'ok').length;
    const status = nOk === all.length ? `${nOk}` : `${nOk}/${all.length} ok`;
    const va = a.variants.find((x) => x.module === v);
    const c = va?.comparison ?? null;
    const m = vals(v, 'map50_95');
    const main = m.length ? `${pm(m, 3)} (${m.length})` : '-';
    const delta = c ? signed(c.delta, 3) : '';
    const ci = c?.deltaCi95 ? `[${signed(c.deltaCi95[0], 3)}, ${signed(c.deltaCi95[1], 3)}]` : '';
    const p = c ? (c.pHolm === null ? (va && va.summary.n < 2 ? '1 seed' : 'n/a') : formatP(c.pHolm)) : '';
    const mark = va && c ? marker(a, va) || (c.pHolm === null ? '' : '~') : '';
    const mf = meanStd(vals(v, 'fps')).mean;
    const dfps = v === base || !Number.isFinite(mf) || !Number.isFinite(bf) || bf === 0 ? '' : `${signed((100 * (mf - bf)) / bf, 0)}%`;
    return [
      v,
      status,
      main,
      delta,
      ci,
      p,
      mark,
      pm(vals(v, 'map50'), 3),
      pm(vals(v, 'precision'), 3),
      pm(vals(v, 'recall'), 3),
      pm(vals(v, 'fps'), 1),
      dfps,
    ];
  });
  const t = table(['variant', 'seeds', 'mAP50-95 (n)', 'Δ mAP50-95', 'Δ 95% CI', 'p (Holm)', '', 'mAP50', 'P', 'R', 'FPS', 'Δ FPS'], body);
  const notes = [noiseLine(a, { value: (x) => x.toFixed(3) }), '▲/▼ significant (Holm, alpha 0.05); ~ within seed noise.'];
  for (const v of a.variants) if (v.comparison?.note && v.summary.n > 1) notes.push(`${v.module}: ${v.comparison.note}.`);
  return `${t}\n${notes.join('\n')}`;
}

/**
 * Seconds of training per (GFLOP at the run size x image), one wasm thread, yolov8n at 128 px on the
 * project's 2-core machine: ~0.05 s per training image at 0.35 GFLOPs.
 */
export const DEFAULT_SECONDS_PER_GFLOP_IMAGE = 0.144;
/** A validation image costs about this fraction of a training image (forward only, plus NMS). */
export const VAL_COST = 0.35;

export interface EstimateInput {
  gflops: number;
  epochs: number;
  trainImages: number;
  valImages: number;
  benchRuns: number;
  benchWarmup: number;
}

/** Estimated wall time of one trial in seconds. */
export function estimateSeconds(t: EstimateInput, secondsPerGflopImage = DEFAULT_SECONDS_PER_GFLOP_IMAGE): number {
  const train = t.epochs * (t.trainImages + VAL_COST * t.valImages) * t.gflops * secondsPerGflopImage;
  const bench = (t.benchRuns + t.benchWarmup) * VAL_COST * t.gflops * secondsPerGflopImage;
  return train + bench + 3; // process start, data, model build
}

/** Calibrates seconds per GFLOP-image from finished trials ({train_seconds, epochs, gflops, images}); median. */
export function calibrate(
  history: { trainSeconds: number; epochs: number; gflops: number; trainImages: number; valImages: number }[],
): number | undefined {
  const ks = history
    .filter((h) => h.trainSeconds > 0 && h.epochs > 0 && h.gflops > 0 && h.trainImages > 0)
    .map((h) => h.trainSeconds / (h.epochs * (h.trainImages + VAL_COST * h.valImages) * h.gflops))
    .sort((a, b) => a - b);
  return ks.length ? ks[Math.floor(ks.length / 2)] : undefined;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
