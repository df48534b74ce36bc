/**
 * Diagnostic artefacts of a trained trial at its best epoch, as Ultralytics 8.0.229 plots them after
 * training (ultralytics/utils/metrics.py `ap_per_class(plot=True)`, `plot_pr_curve`, `plot_mc_curve`,
 * `ConfusionMatrix.plot`; ultralytics/utils/plotting.py `plot_labels`, `plot_images`), written as data
 * (JSON + PNG) for the dashboard to draw:
 *  - the PR curve per class and for all classes at IoU 0.5 (the precision envelope at 1000 recall points,
 *    Ultralytics' `prec_values`), with AP50 per class;
 *  - P, R and F1 against confidence (1000 points) per class, the "all classes" curve smoothed as
 *    `plot_mc_curve` does (box filter 0.05), and the confidence where P/R are read (max of the F1 mean
 *    smoothed with 0.1, as `ap_per_class`);
 *  - the confusion matrix at conf 0.25 / IoU 0.45 with the background row/column (@ablate/metrics);
 *  - label statistics of the training set (class counts, centre x/y and width/height histograms);
 *  - the first 16 validation images (file order) as the model saw them (letterboxed PNG) with their ground
 *    truth and predictions (val NMS: conf 0.001, so the dashboard's slider can filter);
 *  - per inserted plugin module and image: the feature-map energy (mean |activation| over channels)
 *    before and after it, and the module's own picture when its spec implements `inspect`.
 * Everything comes from `best.safetensors` in the checkpoint folder; `artefacts/artefacts.json` records
 * the epoch and fitness it was made from, and a second call with the same best weights returns it
 * unchanged (a re-run does not redo it).
 * Status: the curves are computed even when no prediction is correct (Ultralytics then skips
 * `ap_per_class` and plots nothing; here every AP is 0). Ultralytics draws the validation batches at
 * their rectangular letterbox; here at imgsz x imgsz, as validation runs (see ./validate.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModuleInspection } from '@ablate/core';
import { loadSafetensorsFile, toTfTensor } from '@ablate/core';
import { DataLoader, type DetectionDataset, encodePng, type Label, type SampleSource } from '@ablate/data';
import { apPerClass, DetectionMetrics, smooth } from '@ablate/metrics';
import type { DetectionModel } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import { BEST } from './checkpoint.js';
import type { ValSettings } from './settings.js';
import { type BatchSource, type ValImage, validateBatches } from './validate.js';

export const ARTEFACTS_FORMAT = 'ablate-artefacts-v1';
export const ARTEFACTS_DIR = 'artefacts';
export const ARTEFACTS_FILE = 'artefacts.json';
/** Validation images kept (the first N by file order). */
export const ARTEFACT_IMAGES = 16;
/** Predictions kept per image (highest confidence first; validation's max_det is 300). */
const MAX_PREDICTIONS = 300;
const HIST_BINS = 20;
/** Training images whose labels are counted (a bound on the work for large data sets). */
const MAX_LABEL_IMAGES = 50_000;

export interface ArtefactCurve {
  cls: number;
  name: string;
  values: number[];
}

export interface ModuleArtefact {
  /** Layer index in the model. */
  layer: number;
  module: string;
  /** Per stored image (same order as `images`): energy maps and the module's picture. */
  images: {
    energyBefore: { size: [number, number]; values: number[] };
    energyAfter: { size: [number, number]; values: number[] };
    picture: ModuleInspection | null;
    /** Why there is no picture (the spec has no `inspect`, or it failed). */
    pictureError?: string;
  }[];
}

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
    /** HIST_BINS x HIST_BINS counts over normalised centre (x, y) and (width, height); row = y / height. */
    xy: number[][];
    wh: number[][];
    /** Counted images (at most MAX_LABEL_IMAGES). */
    truncated: boolean;
  };
  images: {
    index: number;
    file: string;
    source: string;
    size: [number, number];
    gt: number[][];
    pred: number[][];
  }[];
  modules: ModuleArtefact[];
  seconds: number;
}

export interface ArtefactOptions {
  checkpointDir: string;
  imgsz: number;
  val: ValSettings & { batch: number };
  /** Query positions per picture (default 36, a 6 x 6 sub-grid) and points per query and head (default 16). */
  maxQueries?: number;
  maxPoints?: number;
  /** Replaces the validation loader built from `data` (tests). */
  loader?: BatchSource;
  log?(line: string): void;
}

const r4 = (v: number) => (Number.isFinite(v) ? Math.round(v * 1e4) / 1e4 : 0);
const r6 = (v: number) => (Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : 0);

/** Loads `best.safetensors` into the model; returns its epoch and fitness. */
export function loadBest(model: DetectionModel, dir: string): { epoch: number; fitness: number } {
  const file = path.join(dir, BEST);
  if (!fs.existsSync(file)) throw new Error(`${file}: no best weights (the trial completed no epoch)`);
  const st = loadSafetensorsFile(file);
  const sd = new Map<string, tf.Tensor>();
  try {
    for (const [k, t] of st.tensors) sd.set(k, toTfTensor(t, k));
    model.loadStateDict(sd, { strict: true });
  } finally {
    for (const t of sd.values()) t.dispose();
  }
  return { epoch: Number(st.metadata.epoch), fitness: Number(st.metadata.fitness) };
}

/** The stored artefacts of a checkpoint folder, or null (none, unreadable or another format). */
export function readArtefacts(checkpointDir: string): Artefacts | null {
  const file = path.join(checkpointDir, ARTEFACTS_DIR, ARTEFACTS_FILE);
  try {
    const a = JSON.parse(fs.readFileSync(file, 'utf8')) as Artefacts;
    return a.format === ARTEFACTS_FORMAT ? a : null;
  } catch {
    return null;
  }
}

function hist2d(pairs: [number, number][]): number[][] {
  const h = Array.from({ length: HIST_BINS }, () => new Array(HIST_BINS).fill(0));
  const bin = (v: number) => Math.min(HIST_BINS - 1, Math.max(0, Math.floor(v * HIST_BINS)));
  for (const [a, b] of pairs) h[bin(b)][bin(a)] += 1;
  return h;
}

/** plot_labels' statistics: class counts, centre and size histograms (normalised xywh). */
export async function labelStats(src: SampleSource, nc: number): Promise<Artefacts['labels']> {
  const n = Math.min(src.length, MAX_LABEL_IMAGES);
  const classCounts = new Array(nc).fill(0);
  const xy: [number, number][] = [];
  const wh: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const labels: Label[] = src.labelsOf ? src.labelsOf(i) : (await src.get(i)).labels;
    for (const l of labels) {
      if (l.cls >= 0 && l.cls < nc) classCounts[l.cls] += 1;
      xy.push([l.x, l.y]);
      wh.push([l.w, l.h]);
    }
  }
  return { images: n, boxes: xy.length, classCounts, xy: hist2d(xy), wh: hist2d(wh), truncated: n < src.length };
}

function meanMap(t: tf.Tensor): { size: [number, number]; values: number[] } {
  // [1, H, W, C] -> [H, W]: mean |activation| over channels
  const [, H, W] = t.shape as number[];
  const m = tf.tidy(() => tf.mean(tf.abs(t), -1));
  const v = Array.from(m.dataSync(), r6);
  m.dispose();
  return { size: [H, W], values: v };
}

/** Layers built by a plugin (not the YOLOv8 built-ins): the inserted modules. */
function pluginLayers(model: DetectionModel) {
  return model.layers.filter((l) => l.plan.pluginId !== '@ablate/yolov8');
}

/** Energy maps and pictures of every plugin module of the model, for one image [1, H, W, 3]. */
function modulePictures(model: DetectionModel, x: tf.Tensor, maxQueries: number, maxPoints: number): ModuleArtefact['images'][number][] {
  const targets = pluginLayers(model);
  if (targets.length === 0) return [];
  const out: ModuleArtefact['images'][number][] = [];
  tf.tidy(() => {
    const ys = model.forwardLayers(x);
    for (const l of targets) {
      const ins = l.plan.inputs.map((j) => (j < 0 ? x : (ys[j] as tf.Tensor)));
      const input = ins[0];
      const outT = ys[l.plan.index] as tf.Tensor;
      const entry: ModuleArtefact['images'][number] = {
        energyBefore: meanMap(input),
        energyAfter: meanMap(outT),
        picture: null,
      };
      const spec = l.plan.spec;
      if (spec.inspect && ins.length === 1) {
        try {
          entry.picture = spec.inspect(l.module, input, { maxQueries, maxPoints });
        } catch (e) {
          entry.pictureError = `${spec.name}.inspect failed: ${(e as Error).message}`;
        }
      } else entry.pictureError = `${spec.name} draws no picture of its own (its plugin does not implement inspect)`;
      out.push(entry);
    }
  });
  return out;
}

/**
 * Writes the artefacts of the best weights of `opts.checkpointDir` into its `artefacts/` folder (see the
 * file header) and returns them. Loads the best weights into `model` (it keeps them). When the folder
 * already holds artefacts of the same best epoch and fitness, returns those without recomputing.
 */
export async function writeArtefacts(model: DetectionModel, data: DetectionDataset, opts: ArtefactOptions): Promise<Artefacts> {
  const t0 = performance.now();
  const best = loadBest(model, opts.checkpointDir);
  const have = readArtefacts(opts.checkpointDir);
  if (have && have.epoch === best.epoch && have.fitness === best.fitness) return have;
  const dir = path.join(opts.checkpointDir, ARTEFACTS_DIR);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const nc = model.nc;
  const names = data.names.length === nc ? [...data.names] : Array.from({ length: nc }, (_, i) => String(i));
  const maxQueries = opts.maxQueries ?? 36;
  const maxPoints = opts.maxPoints ?? 16;

  const metrics = new DetectionMetrics(nc, names, { conf: opts.val.conf });
  const images: Artefacts['images'] = [];
  const pictures: ModuleArtefact['images'][number][][] = [];
  const loader =
    opts.loader ?? new DataLoader(data.val, { batch: opts.val.batch, imgsz: opts.imgsz, shuffle: false, seed: 0, augment: null });
  const onImage = async (im: ValImage) => {
    if (im.index >= ARTEFACT_IMAGES) return;
    const [H, W] = im.size;
    const rgb = new Uint8Array(H * W * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, Math.round(im.pixels[i] * 255)));
    const file = `val-${String(im.index).padStart(2, '0')}.png`;
    fs.writeFileSync(path.join(tmp, file), await encodePng({ data: rgb, width: W, height: H }));
    images.push({
      index: im.index,
      file,
      source: path.basename(im.path),
      size: [H, W],
      gt: im.labels.map((l) => [l[0], ...l.slice(1).map((v) => r4(v))]),
      pred: im.detections.slice(0, MAX_PREDICTIONS).map((d) => [...d.slice(0, 4).map(r4), r6(d[4]), d[5]]),
    });
    const x = tf.tensor4d(im.pixels, [1, H, W, 3]);
    try {
      pictures.push(modulePictures(model, x, maxQueries, maxPoints));
    } finally {
      x.dispose();
    }
  };
  const res = await validateBatches(model, loader, {
    conf: opts.val.conf,
    iou: opts.val.iou,
    maxDet: opts.val.maxDet,
    nc,
    names,
    imgsz: opts.imgsz,
    metrics,
    onImage,
  });

  const st = metrics.stats();
  let pr: Artefacts['pr'] = null;
  let confidence: Artefacts['confidence'] = null;
  if (st.targetCls.length > 0) {
    const ap = apPerClass(st.correct, st.conf, st.predCls, st.targetCls);
    const x = Array.from(ap.x, r4);
    const curves = ap.classes.map((c, i) => ({ cls: c, name: names[c], nGt: ap.nt[i], ap50: ap.ap[i][0] ?? 0, pr: ap.prCurve[i] }));
    const present = curves.filter((c) => c.pr !== null);
    const all = x.map((_, k) => (present.length ? present.reduce((s, c) => s + (c.pr as Float64Array)[k], 0) / present.length : 0));
    pr = {
      x,
      classes: curves.map((c) => ({
        cls: c.cls,
        name: c.name,
        nGt: c.nGt,
        ap50: c.ap50,
        curve: c.pr !== null,
        values: c.pr ? Array.from(c.pr, r4) : [],
      })),
      all: all.map(r4),
      map50: curves.length ? curves.reduce((s, c) => s + c.ap50, 0) / curves.length : 0,
    };
    const per = (rows: Float64Array[]) => ap.classes.map((c, i) => ({ cls: c, name: names[c], values: Array.from(rows[i], r4) }));
    const meanSmooth = (rows: Float64Array[]) => {
      const m = new Float64Array(1000);
      for (let k = 0; k < 1000; k++) m[k] = rows.reduce((s, r) => s + r[k], 0) / Math.max(rows.length, 1);
      return Array.from(smooth(m, 0.05), r4);
    };
    confidence = {
      x,
      p: per(ap.pCurve),
      r: per(ap.rCurve),
      f1: per(ap.f1Curve),
      all: { p: meanSmooth(ap.pCurve), r: meanSmooth(ap.rCurve), f1: meanSmooth(ap.f1Curve) },
      bestF1: {
        conf: ap.maxF1Conf,
        f1: ap.f1.length ? ap.f1.reduce((a, b) => a + b, 0) / ap.f1.length : 0,
      },
    };
  }
  const cm = metrics.confusionMatrix;
  const modules: ModuleArtefact[] = pluginLayers(model).map((l, k) => ({
    layer: l.plan.index,
    module: l.plan.module,
    images: pictures.map((p) => p[k]),
  }));

  const art: Artefacts = {
    format: ARTEFACTS_FORMAT,
    epoch: best.epoch,
    fitness: best.fitness,
    imgsz: opts.imgsz,
    names,
    metrics: { precision: res.precision, recall: res.recall, map50: res.map50, map50_95: res.map50_95, processed: res.processed },
    pr,
    confidence,
    confusion: { conf: cm.conf, iou: cm.iouThres, labels: [...names, 'background'], matrix: cm.matrix.map((r) => [...r]) },
    labels: await labelStats(data.train, nc),
    images: images.sort((a, b) => a.index - b.index),
    modules,
    seconds: 0,
  };
  art.seconds = (performance.now() - t0) / 1000;
  fs.writeFileSync(path.join(tmp, ARTEFACTS_FILE), JSON.stringify(art));
  // Swap in the complete folder (a crash leaves either the old folder or the new one, never half of one).
  const old = `${dir}.old-${process.pid}`;
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
  opts.log?.(`artefacts of epoch ${best.epoch} written to ${dir} in ${art.seconds.toFixed(1)} s`);
  return art;
}
