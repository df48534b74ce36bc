/**
 * The trial artefacts as the API serves them: the JSON that @ablate/train's `writeArtefacts` writes
 * (format `ablate-artefacts-v1`, the contract between trainer and dashboard), with the module pictures
 * served per image. The dashboard reads the files only; it never imports the trainer.
 */

export interface NamedCurve {
  cls: number;
  name: string;
  values: number[];
}

/** A point on a module's input map: x, y as fractions (0..1) of the (letterboxed) image, and its weight. */
export type WeightedPoint = [number, number, number];

export interface HeadPicture {
  label: string;
  points?: WeightedPoint[];
  map?: { size: [number, number]; values: number[] };
}

export interface ModuleInspection {
  kind: 'sampling-points' | 'attention-maps' | 'query-weights';
  mapSize: [number, number];
  note: string;
  queries?: { x: number; y: number; heads: HeadPicture[] }[];
  maps?: { label: string; size: [number, number]; values: number[] }[];
}

export interface EnergyMap {
  size: [number, number];
  values: number[];
}

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

export interface ArtefactsData {
  format: string;
  epoch: number;
  fitness: number;
  imgsz: number;
  names: string[];
  metrics: { precision: number; recall: number; map50: number; map50_95: number; processed: boolean };
  pr: { x: number[]; classes: (NamedCurve & { ap50: number; nGt: number; curve: boolean })[]; all: number[]; map50: number } | null;
  confidence: {
    x: number[];
    p: NamedCurve[];
    r: NamedCurve[];
    f1: NamedCurve[];
    all: { p: number[]; r: number[]; f1: number[] };
    bestF1: { conf: number; f1: number };
  } | null;
  confusion: { conf: number; iou: number; labels: string[]; matrix: number[][] };
  labels: { images: number; boxes: number; classCounts: number[]; xy: number[][]; wh: number[][]; truncated: boolean };
  images: ArtefactImage[];
  /** Without the per-image pictures (GET .../pictures/:n has them). */
  modules: { layer: number; module: string; pictures: boolean }[];
  seconds: number;
}

/** GET /api/trials/:id/artefacts */
export interface TrialArtefacts {
  trialId: string;
  /** null when the trial has none; `missing` says why. */
  artefacts: ArtefactsData | null;
  /** What is missing, in words (no artefacts recorded, folder gone, an image file gone, ...). */
  missing: string[];
}

/** GET /api/trials/:id/artefacts/pictures/:n: per inserted module, image n's energy maps and picture. */
export interface ImagePictures {
  trialId: string;
  index: number;
  modules: {
    layer: number;
    module: string;
    energyBefore: EnergyMap;
    energyAfter: EnergyMap;
    picture: ModuleInspection | null;
    pictureError?: string;
  }[];
}
