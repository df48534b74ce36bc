/**
 * What the sweep prints: the final summary table (per variant: mean ± std over seeds of mAP50-95,
 * mAP50, P, R and FPS, and the difference from the baseline), the dry-run table, and the training-time
 * estimate (seconds per GFLOP per image, from this database's finished trials when there are any, else
 * a constant measured on the project's 2-core machine).
 */

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

/** The summary table, variants in first-appearance order. Std is the sample std (n - 1) over seeds. */
export function summaryTable(rows: ResultRow[]): string {
  const order: string[] = [];
  const by = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (!by.has(r.variant)) {
      by.set(r.variant, []);
      order.push(r.variant);
    }
    by.get(r.variant)?.push(r);
  }
  const ok = (v: string) => (by.get(v) ?? []).filter((r) => r.status === 'ok');
  const vals = (v: string, k: 'map50' | 'map50_95' | 'precision' | 'recall' | 'fps') =>
    ok(v)
      .map((r) => r[k])
      .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const base = by.has('baseline') ? 'baseline' : undefined;
  const bMean = (k: 'map50' | 'map50_95' | 'fps') => (base ? meanStd(vals(base, k)).mean : Number.NaN);
  const body = order.map((v) => {
    const all = by.get(v) ?? [];
    const n = ok(v).length;
    const status = n === all.length ? `${n}` : `${n}/${all.length} ok`;
    const delta = (k: 'map50' | 'map50_95', digits: number) => {
      const m = meanStd(vals(v, k)).mean;
      const b = bMean(k);
      return v === base || !Number.isFinite(m) || !Number.isFinite(b) ? '' : signed(m - b, digits);
    };
    const mf = meanStd(vals(v, 'fps')).mean;
    const bf = bMean('fps');
    const dfps = v === base || !Number.isFinite(mf) || !Number.isFinite(bf) || bf === 0 ? '' : `${signed((100 * (mf - bf)) / bf, 0)}%`;
    return [
      v,
      status,
      pm(vals(v, 'map50_95'), 3),
      pm(vals(v, 'map50'), 3),
      pm(vals(v, 'precision'), 3),
      pm(vals(v, 'recall'), 3),
      pm(vals(v, 'fps'), 1),
      delta('map50_95', 3),
      delta('map50', 3),
      dfps,
    ];
  });
  return table(['variant', 'seeds', 'mAP50-95', 'mAP50', 'P', 'R', 'FPS', 'Δ mAP50-95', 'Δ mAP50', 'Δ FPS'], body);
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
