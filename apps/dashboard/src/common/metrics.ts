/**
 * The metrics the dashboard shows: their column in the `results` view, label, which direction is
 * better, and how to print them. Shared by the server (SQL, CSV, LaTeX) and the browser app.
 */

export const METRIC_KEYS = [
  'map50_95',
  'map50',
  'precision',
  'recall',
  'fps',
  'params',
  'gflops',
  // COCO evaluation (pycocotools) at the best epoch; tracker migration 3
  'coco_ap',
  'coco_ap50',
  'coco_ap75',
  'ap_small',
  'ap_medium',
  'ap_large',
  'ar100',
] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

/** Further per-trial numbers aggregated per variant (shown in compare and CSV, not in the selector). */
export const EXTRA_KEYS = ['fitness', 'latency_ms', 'gflops_640', 'train_seconds', 'epochs'] as const;
export type ExtraKey = (typeof EXTRA_KEYS)[number];
export type StatKey = MetricKey | ExtraKey;
export const STAT_KEYS: readonly StatKey[] = [...METRIC_KEYS, ...EXTRA_KEYS];

/**
 * `results` columns that databases written before tracker migration 3 lack: the server serves them as
 * NULL there (a temporary view), so an older database still opens read-only.
 */
export const COCO_RESULT_COLUMNS = [
  'coco_ap',
  'coco_ap50',
  'coco_ap75',
  'ap_small',
  'ap_medium',
  'ap_large',
  'ar1',
  'ar10',
  'ar100',
  'ar_small',
  'ar_medium',
  'ar_large',
] as const;

/** The 12 COCO numbers in pycocotools' summarize() order: [results column, label]. */
export const COCO_STATS: readonly (readonly [(typeof COCO_RESULT_COLUMNS)[number], string])[] = [
  ['coco_ap', 'AP @[.50:.95]'],
  ['coco_ap50', 'AP @.50'],
  ['coco_ap75', 'AP @.75'],
  ['ap_small', 'AP small'],
  ['ap_medium', 'AP medium'],
  ['ap_large', 'AP large'],
  ['ar1', 'AR maxDets 1'],
  ['ar10', 'AR maxDets 10'],
  ['ar100', 'AR maxDets 100'],
  ['ar_small', 'AR small'],
  ['ar_medium', 'AR medium'],
  ['ar_large', 'AR large'],
];

export interface MetricInfo {
  key: StatKey;
  label: string;
  /** LaTeX column/caption label. */
  latex: string;
  /** true: larger is better (accuracy, speed); false: smaller is better (size, cost). */
  higherIsBetter: boolean;
  /** Decimals when printed (after `scale`). */
  decimals: number;
  /** Printed value = value / scale (params in millions). */
  scale: number;
  unit: string;
}

export const METRICS: Readonly<Record<StatKey, MetricInfo>> = {
  map50_95: { key: 'map50_95', label: 'mAP50-95', latex: 'mAP$_{50-95}$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  map50: { key: 'map50', label: 'mAP50', latex: 'mAP$_{50}$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  precision: { key: 'precision', label: 'Precision', latex: 'Precision', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  recall: { key: 'recall', label: 'Recall', latex: 'Recall', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  fps: { key: 'fps', label: 'FPS', latex: 'FPS', higherIsBetter: true, decimals: 1, scale: 1, unit: '' },
  params: { key: 'params', label: 'Params (M)', latex: 'Params (M)', higherIsBetter: false, decimals: 3, scale: 1e6, unit: 'M' },
  gflops: { key: 'gflops', label: 'GFLOPs', latex: 'GFLOPs', higherIsBetter: false, decimals: 3, scale: 1, unit: '' },
  coco_ap: { key: 'coco_ap', label: 'COCO AP', latex: 'AP', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  coco_ap50: { key: 'coco_ap50', label: 'COCO AP50', latex: 'AP$_{50}$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  coco_ap75: { key: 'coco_ap75', label: 'COCO AP75', latex: 'AP$_{75}$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  ap_small: { key: 'ap_small', label: 'AP small', latex: 'AP$_S$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  ap_medium: { key: 'ap_medium', label: 'AP medium', latex: 'AP$_M$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  ap_large: { key: 'ap_large', label: 'AP large', latex: 'AP$_L$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  ar100: { key: 'ar100', label: 'AR100', latex: 'AR$_{100}$', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  fitness: { key: 'fitness', label: 'Fitness', latex: 'Fitness', higherIsBetter: true, decimals: 3, scale: 1, unit: '' },
  latency_ms: {
    key: 'latency_ms',
    label: 'Latency p50 (ms)',
    latex: 'Latency (ms)',
    higherIsBetter: false,
    decimals: 2,
    scale: 1,
    unit: 'ms',
  },
  gflops_640: { key: 'gflops_640', label: 'GFLOPs@640', latex: 'GFLOPs@640', higherIsBetter: false, decimals: 2, scale: 1, unit: '' },
  train_seconds: { key: 'train_seconds', label: 'Train (s)', latex: 'Train (s)', higherIsBetter: false, decimals: 1, scale: 1, unit: 's' },
  epochs: { key: 'epochs', label: 'Epochs', latex: 'Epochs', higherIsBetter: true, decimals: 1, scale: 1, unit: '' },
};

/** Per-epoch series drawn as training curves (columns of the `epochs` table). */
export const CURVE_KEYS = ['map50_95', 'box_loss', 'cls_loss', 'dfl_loss'] as const;
export type CurveKey = (typeof CURVE_KEYS)[number];
export const CURVE_LABELS: Readonly<Record<CurveKey, string>> = {
  map50_95: 'mAP50-95',
  box_loss: 'box loss',
  cls_loss: 'cls loss',
  dfl_loss: 'dfl loss',
};

export function isMetricKey(s: unknown): s is MetricKey {
  return typeof s === 'string' && (METRIC_KEYS as readonly string[]).includes(s);
}

/** A value as printed (scaled, fixed decimals); `—` for null. */
export function formatValue(key: StatKey, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const m = METRICS[key];
  return (v / m.scale).toFixed(m.decimals);
}

/** `mean ± std` as printed; std omitted when there is one value (std null). */
export function formatMeanStd(key: StatKey, mean: number | null, std: number | null): string {
  if (mean === null || !Number.isFinite(mean)) return '—';
  return std === null ? formatValue(key, mean) : `${formatValue(key, mean)} ± ${formatValue(key, std)}`;
}

/** A signed difference as printed, e.g. `+0.012`. */
export function formatDelta(key: StatKey, d: number | null): string {
  if (d === null || !Number.isFinite(d)) return '';
  const s = formatValue(key, Math.abs(d));
  return `${d < 0 ? '−' : '+'}${s}`;
}
