/**
 * Shared types of @ablate/data: samples, sources, data sets, batches (the issue-5 design contract).
 */

/** One box: class id and normalised centre-x, centre-y, width, height in [0, 1] (Ultralytics' xywhn). */
export interface Label {
  cls: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** An image as decoded from disk: HWC RGB uint8, with its labels. `image` may be shared with a cache: do not mutate it. */
export interface RawSample {
  image: Uint8Array;
  width: number;
  height: number;
  labels: Label[];
  path: string;
}

export interface SampleSource {
  readonly length: number;
  get(i: number): Promise<RawSample>;
  /** The labels of item i without decoding its image (sources that read labels separately provide it). */
  labelsOf?(i: number): Label[];
}

/** A corrupt image (no `line`) or label line that was skipped while loading. */
export interface SkippedItem {
  file: string;
  line?: number;
  reason: string;
}

export interface DetectionDataset {
  names: string[];
  nc: number;
  train: SampleSource;
  val: SampleSource;
  /** corrupt images / label lines found while loading (reported, counted, skipped) */
  skipped: SkippedItem[];
  /** e.g. "synthetic shapes v1: 3 classes, 256 train / 64 val, 128 px, seed 0" */
  description: string;
  /** stable hash of the data identity (options, or file list + sizes + mtimes); goes into trial ids */
  fingerprint: string;
}

/** Augmentation gains, with Ultralytics' names and defaults (DEFAULT_AUGMENT). */
export interface AugmentConfig {
  hsv_h: number;
  hsv_s: number;
  hsv_v: number;
  degrees: number;
  translate: number;
  scale: number;
  shear: number;
  perspective: number;
  flipud: number;
  fliplr: number;
  mosaic: number;
}

/** Ultralytics 8.0.229 default.yaml values. */
/** The augmentation keys, in Ultralytics' order. */
export const AUGMENT_KEYS = [
  'hsv_h',
  'hsv_s',
  'hsv_v',
  'degrees',
  'translate',
  'scale',
  'shear',
  'perspective',
  'flipud',
  'fliplr',
  'mosaic',
] as const;

export const DEFAULT_AUGMENT: AugmentConfig = Object.freeze({
  hsv_h: 0.015,
  hsv_s: 0.7,
  hsv_v: 0.4,
  degrees: 0,
  translate: 0.1,
  scale: 0.5,
  shear: 0,
  perspective: 0,
  flipud: 0,
  fliplr: 0.5,
  mosaic: 1,
});

export interface Batch {
  /** NHWC, values 0..1, letterboxed/augmented to imgsz x imgsz */
  images: Float32Array;
  shape: [number, number, number, 3];
  /** normalised xywh of the batch images (what DetectionLoss takes) */
  targets: { batchIdx: number[]; cls: number[]; bboxes: number[][] };
  paths: string[];
  /**
   * Per image: original [h, w], and the letterbox gain and [left, top] pad in pixels so that
   * original = (letterboxed - pad) / ratio. For augmented (train) images this describes the plain
   * letterbox of the source image, not the random augmentation.
   */
  shapes: { orig: [number, number]; ratio: number; pad: [number, number] }[];
}

export interface LoaderOptions {
  batch: number;
  imgsz: number;
  shuffle: boolean;
  seed: number;
  /** null = validation: letterbox only */
  augment: AugmentConfig | null;
  /** batches prepared ahead of the consumer (default 2) */
  prefetch?: number;
}
