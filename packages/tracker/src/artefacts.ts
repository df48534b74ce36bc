/**
 * The on-disk format of a trial's diagnostic artefacts (issue 12): `artefacts/artefacts.json` beside the
 * trial's checkpoints, referenced from the `trial_artefacts` table (migration 4). @ablate/train writes it,
 * the dashboard reads it; the tracker owns what is stored, so the format lives here (entry point
 * `@ablate/tracker/artefacts`, free of runtime imports, so the dashboard's browser code may name it too).
 * The module pictures are @ablate/core's `ModuleInspection` (the plugin interface's JSON).
 * Change a field's meaning: bump ARTEFACTS_FORMAT (readers refuse other formats and say so).
 */
import type { ModuleInspection } from '@ablate/core/picture';

export type { HeadPicture, ModuleInspection, WeightedPoint } from '@ablate/core/picture';

export const ARTEFACTS_FORMAT = 'ablate-artefacts-v1';
/** The folder inside the trial's checkpoint folder, and the JSON file in it. */
export const ARTEFACTS_DIR = 'artefacts';
export const ARTEFACTS_FILE = 'artefacts.json';

/** One class's curve (cls -1: all classes). */
export interface ArtefactCurve {
  cls: number;
  name: string;
  values: number[];
}

/** A row-major map over the module's input map (mean |activation| over channels). */
export interface EnergyMap {
  size: [number, number];
  values: number[];
}

/** Per inserted plugin module and stored image: the energy before/after it and its own picture. */
export interface ModuleImageArtefact {
  energyBefore: EnergyMap;
  energyAfter: EnergyMap;
  picture: ModuleInspection | null;
  /** Why there is no picture (the spec has no `inspect`, or it failed). */
  pictureError?: string;
}

export interface ModuleArtefact {
  /** Layer index in the model. */
  layer: number;
  module: string;
  /** Per stored image (same order as `images`). */
  images: ModuleImageArtefact[];
}

/** One stored validation image: the letterboxed PNG `file` (relative to the artefacts folder) and its boxes. */
export interface ArtefactImage {
  index: number;
  file: string;
  source: string;
  /** [H, W] of the letterboxed image; boxes are in its pixels. */
  size: [number, number];
  /** [cls, x1, y1, x2, y2] */
  gt: number[][];
  /** [x1, y1, x2, y2, conf, cls] */
  pred: number[][];
}

/** `artefacts.json`. */
export interface Artefacts {
  format: typeof ARTEFACTS_FORMAT;
  /** 1-based epoch of the best weights, and their fitness. */
  epoch: number;
  fitness: number;
  imgsz: number;
  names: string[];
  /** The metrics of this pass (equal to the best epoch's validation). */
  metrics: { precision: number; recall: number; map50: number; map50_95: number; processed: boolean };
  /** null when the validation set has no labels. */
  pr: { x: number[]; classes: (ArtefactCurve & { ap50: number; nGt: number; curve: boolean })[]; all: number[]; map50: number } | null;
  confidence: {
    x: number[];
    p: ArtefactCurve[];
    r: ArtefactCurve[];
    f1: ArtefactCurve[];
    /** plot_mc_curve's "all classes" curves (mean over classes, smoothed 0.05). */
    all: { p: number[]; r: number[]; f1: number[] };
    /** Confidence where P and R are read (ap_per_class: argmax of the F1 mean smoothed 0.1) and the F1 there. */
    bestF1: { conf: number; f1: number };
  } | null;
  confusion: { conf: number; iou: number; labels: string[]; matrix: number[][] };
  labels: {
    images: number;
    boxes: number;
    classCounts: number[];
    /** Histogram bins x bins counts over normalised centre (x, y) and (width, height); row = y / height. */
    xy: number[][];
    wh: number[][];
    /** True when only the first images were counted (a bound on the work). */
    truncated: boolean;
  };
  images: ArtefactImage[];
  modules: ModuleArtefact[];
  seconds: number;
}
