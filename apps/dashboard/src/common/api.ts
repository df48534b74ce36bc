/** The JSON the dashboard server returns (types shared with the browser app). */

import type { TransferRecord } from '@ablate/tracker';
import type { CurveKey, StatKey } from './metrics.js';

export interface ApiError {
  error: string;
  statusCode: number;
}

export interface StatusCounts {
  ok: number;
  failed: number;
  running: number;
  interrupted: number;
  pending: number;
  total: number;
}

/** Mean, sample std (null for one value), min, max and count over the `ok` trials of a variant. */
export interface Stat {
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  n: number;
}

export interface VariantStats {
  key: string;
  label: string;
  module: string | null;
  position: string | null;
  counts: StatusCounts;
  stats: Record<StatKey, Stat>;
}

export interface SweepListItem {
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  /** First trial start and last trial finish (null when none started / finished). */
  startedAt: string | null;
  finishedAt: string | null;
  counts: StatusCounts;
  /** The non-baseline variant with the highest mean mAP50-95 over its ok trials. */
  best: { key: string; label: string; map50_95: number; n: number; delta: number | null } | null;
  baselineMap50_95: number | null;
}

export interface SweepDetail {
  name: string;
  description: string | null;
  experimentFile: string | null;
  config: unknown;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts: StatusCounts;
  modules: string[];
  positions: (string | null)[];
  baseline: VariantStats | null;
  variants: VariantStats[];
  stamp: string;
}

/** Per epoch across a variant's trials: mean, min and max of each curve. */
export interface CurveSeries {
  key: string;
  label: string;
  epochs: number[];
  /** trials contributing at each epoch */
  n: number[];
  mean: Record<CurveKey, (number | null)[]>;
  min: Record<CurveKey, (number | null)[]>;
  max: Record<CurveKey, (number | null)[]>;
}

export interface SweepCurves {
  sweep: string;
  variants: CurveSeries[];
}

export interface TrialListItem {
  id: string;
  module: string | null;
  position: string | null;
  seed: number;
  status: string;
  error: string | null;
  map50_95: number | null;
  map50: number | null;
  precision: number | null;
  recall: number | null;
  fps: number | null;
  params: number | null;
  gflops: number | null;
  epochs: number;
  epochs_planned: number | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface EpochRow {
  epoch: number;
  box_loss: number | null;
  cls_loss: number | null;
  dfl_loss: number | null;
  lr: number | null;
  precision: number | null;
  recall: number | null;
  map50: number | null;
  map50_95: number | null;
  fitness: number | null;
  seconds: number | null;
  /** Validation losses (NULL for epochs stored before migration 5). */
  val_box_loss: number | null;
  val_cls_loss: number | null;
  val_dfl_loss: number | null;
}

export interface TrialDetail {
  trial: Record<string, unknown> & { id: string; module: string | null; position: string | null; status: string; error: string | null };
  config: unknown;
  summary: unknown;
  provenance: unknown;
  moduleArgs: unknown;
  modelYaml: string | null;
  sweeps: string[];
  /** The sweep used for the baseline comparison (the `sweep` query parameter, or the trial's first sweep). */
  sweep: string | null;
  baseline: { id: string; seed: number; modelYaml: string | null } | null;
  epochs: EpochRow[];
  baselineCurves: CurveSeries | null;
  /**
   * pycocotools' numbers at the best epoch (boxes in original pixels, areas = box areas): the 12 stats by
   * results column (null: no ground truth in that range), AP @[.50:.95] per class; null when not evaluated.
   */
  coco: {
    stats: Record<string, number | null>;
    perClass: { class_id: number; name: string | null; ap: number | null; n_gt: number }[];
  } | null;
  /**
   * The checkpoint the trial started from and what of it was transferred into the variant (migration 5);
   * null when trained from scratch.
   */
  pretrained: {
    file: string;
    sha256: string | null;
    /** null until the trial has started. */
    transfer: TransferRecord | null;
  } | null;
  stamp: string;
}

export interface CompareItem {
  kind: 'variant' | 'trial';
  key: string;
  label: string;
  sweep: string | null;
  /** variant: aggregated; trial: n = 1, std null. */
  stats: Record<StatKey, Stat>;
  status?: string;
  curves: CurveSeries;
}

export interface CompareResult {
  items: CompareItem[];
}

export interface Stamp {
  stamp: string;
}

/** One variant's comparison with the baseline (GET /api/sweeps/:name/stats; @ablate/stats' Comparison). */
export interface CellComparison {
  delta: number;
  test: 'paired' | 'welch' | null;
  p: number | null;
  pHolm: number | null;
  deltaCi95: [number, number] | null;
  significant: boolean;
  signFlipP: number | null;
  detectableDelta: number | null;
  note: string | null;
}

/** n, mean, sample std and the 95% t-interval of the mean over seeds (@ablate/stats' Summary; null where undefined). */
export interface SeedSummary {
  n: number;
  mean: number | null;
  std: number | null;
  ci95: [number, number] | null;
}

/** GET /api/sweeps/:name/stats?metric=&test= */
export interface SweepStatsAnswer {
  analysis: {
    test: 'auto' | 'paired' | 'welch';
    alpha: number;
    power: number;
    baseline: { summary: SeedSummary } | null;
    variants: { module: string; position: string | null; summary: SeedSummary; comparison: CellComparison | null }[];
    noiseFloor: { std: number; n: number; detectableDelta: number | null } | null;
    messages: string[];
  };
  /** The baseline's value per seed (ok trials). */
  baselineValues: { seed: number; value: number }[];
  /** Every variant's values by seed (ok trials; the baseline first, module null). */
  seedValues: { module: string | null; position: string | null; seeds: number[]; values: number[] }[];
}
