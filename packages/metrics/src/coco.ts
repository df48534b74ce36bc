/**
 * COCO-style box evaluation as pycocotools 2.0.11 computes it: `COCOeval(cocoGt, cocoDt, 'bbox')` with
 * default parameters, then `evaluate()`, `accumulate()`, `summarize()` (pycocotools/cocoeval.py,
 * pycocotools/coco.py `loadRes`, common/maskApi.c `bbIou`; https://github.com/cocodataset/cocoapi,
 * PythonAPI, and the ppwwyyxx/cocoapi fork that 2.0.x wheels are built from).
 *
 * Parameters: IoU thresholds np.linspace(.5, .95, 10), 101 recall points np.linspace(0, 1, 101),
 * maxDets 1 / 10 / 100, area ranges all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large [96^2, 1e10].
 *
 * What is copied: per image and category, detections sorted by descending score (stable for ties) and
 * cut to the top 100; IoU in float64 (`bbIou`: a crowd ground truth divides by the detection's area);
 * greedy matching per IoU threshold (threshold min(t, 1 - 1e-10); a later ground truth of equal IoU
 * wins; matched non-crowd ground truth is skipped; crowd ground truth may absorb several detections;
 * once matched to a regular ground truth, the search stops at the first ignored one); ignored ground
 * truth (iscrowd, or `area` outside the range) is sorted last; a detection matched to it is ignored, an
 * unmatched detection whose w*h is outside the range is ignored; accumulation over images in sorted id
 * order with each image's detections cut to maxDet, a stable sort by score, cumulative TP/FP,
 * precision tp / (tp + fp + eps) made monotone, sampled at the recall points with searchsorted (left,
 * 0 past the last recall reached); recall is the last recall reached; -1 where a category has no
 * non-ignored ground truth in the range (left out of the means); the means are numpy's pairwise sums.
 * Ground truth `area` is taken from the annotation (never recomputed from the box); a detection's area
 * is w * h (as `loadRes` sets it).
 *
 * Status: exact port of the semantics above, checked against pycocotools on fixtures/golden/coco.
 * Deviation: a ground truth whose `id` is 0 is treated like any other (pycocotools would count a
 * detection matched to it as unmatched, since it stores the id as the match flag; COCO ids start at 1).
 */
import { linspace, npMean } from './numeric.js';

/** [x, y, width, height] in pixels of the original image. */
export type CocoBox = readonly [number, number, number, number] | readonly number[];

export interface CocoImage {
  id: number;
  width?: number;
  height?: number;
}

export interface CocoAnnotation {
  id?: number;
  image_id: number;
  category_id: number;
  bbox: CocoBox;
  /** COCO's area (for a segmented object the mask area; for a box-only label, the box area). */
  area: number;
  iscrowd?: number | boolean;
}

export interface CocoDetection {
  image_id: number;
  category_id: number;
  bbox: CocoBox;
  score: number;
}

export interface CocoEvalInput {
  images: readonly CocoImage[];
  annotations: readonly CocoAnnotation[];
  categories: readonly { id: number; name?: string }[];
  detections: readonly CocoDetection[];
}

/** The 12 numbers of `COCOeval.summarize()`, -1 where there is no ground truth in that range. */
export interface CocoStats {
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR1: number;
  AR10: number;
  AR100: number;
  ARs: number;
  ARm: number;
  ARl: number;
}

export const COCO_STAT_NAMES: readonly (keyof CocoStats)[] = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
];

export interface CocoEvalResult {
  stats: CocoStats;
  /** AP@[.50:.95] per category id (area all, 100 detections); -1 for a category without ground truth. */
  perCategoryAp: Map<number, number>;
  /** Sorted category ids (the K axis of precision / recall). */
  catIds: number[];
  /** precision[t][r][k][a][m] flattened C-order, as `eval['precision']` (T=10, R=101, K, A=4, M=3). */
  precision: Float64Array;
  /** recall[t][k][a][m] flattened C-order, as `eval['recall']`. */
  recall: Float64Array;
}

export const COCO_IOU_THRESHOLDS: Float64Array = linspace(0.5, 0.95, 10);
export const COCO_RECALL_THRESHOLDS: Float64Array = linspace(0, 1, 101);
export const COCO_MAX_DETS: readonly number[] = [1, 10, 100];
export const COCO_AREA_RANGES: readonly (readonly [string, number, number])[] = [
  ['all', 0, 1e10],
  ['small', 0, 32 ** 2],
  ['medium', 32 ** 2, 96 ** 2],
  ['large', 96 ** 2, 1e10],
];

/** np.spacing(1). */
const EPS = 2.220446049250313e-16;

/** `bbIou` of maskApi.c for one pair, in float64. */
function bbIou(d: CocoBox, g: CocoBox, crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  const u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

interface Gt {
  bbox: CocoBox;
  area: number;
  crowd: boolean;
}
interface Dt {
  bbox: CocoBox;
  area: number;
  score: number;
}

/** One `evaluateImg` result (image, category, area range) at maxDet 100. */
interface ImgEval {
  /** Scores of the detections, descending (stable), at most 100. */
  scores: number[];
  /** [T][D]: matched to a ground truth. */
  matched: Uint8Array[];
  /** [T][D]: ignored. */
  ignored: Uint8Array[];
  /** Ground truth not ignored in this range. */
  npig: number;
}

function checkBox(b: CocoBox | undefined, where: string): void {
  if (b?.length !== 4 || b.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new Error(`coco: ${where}: bbox must be [x, y, width, height] (4 finite numbers), got ${JSON.stringify(b)}`);
  }
}

/** `stable argsort` of keys ascending (numpy's mergesort). */
function argsortStable(keys: readonly number[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
}

/** `evaluateImg(imgId, catId, aRng, maxDet=100)` given the detections already sorted and cut, and the IoUs [D][G]. */
function evaluateImg(gt: readonly Gt[], dt: readonly Dt[], ious: readonly Float64Array[], lo: number, hi: number): ImgEval {
  const gIgnore = gt.map((g) => (g.crowd || g.area < lo || g.area > hi ? 1 : 0));
  const gtind = argsortStable(gIgnore);
  const G = gt.length;
  const D = dt.length;
  const T = COCO_IOU_THRESHOLDS.length;
  const gtIg = gtind.map((i) => gIgnore[i]);
  const crowd = gtind.map((i) => gt[i].crowd);
  const matched: Uint8Array[] = [];
  const ignored: Uint8Array[] = [];
  const outside = dt.map((d) => d.area < lo || d.area > hi);
  for (let t = 0; t < T; t++) {
    const gtm = new Uint8Array(G);
    const dtm = new Uint8Array(D);
    const dtIg = new Uint8Array(D);
    if (G > 0 && D > 0) {
      for (let di = 0; di < D; di++) {
        let iou = Math.min(COCO_IOU_THRESHOLDS[t], 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < G; gi++) {
          if (gtm[gi] && !crowd[gi]) continue;
          if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
          const v = ious[di][gtind[gi]];
          if (v < iou) continue;
          iou = v;
          m = gi;
        }
        if (m === -1) continue;
        dtIg[di] = gtIg[m];
        dtm[di] = 1;
        gtm[m] = 1;
      }
    }
    for (let di = 0; di < D; di++) if (!dtm[di] && outside[di]) dtIg[di] = 1;
    matched.push(dtm);
    ignored.push(dtIg);
  }
  return { scores: dt.map((d) => d.score), matched, ignored, npig: gtIg.filter((v) => v === 0).length };
}

/** Validates the input and groups it per (image, category) in pycocotools' orders. */
function prepare(input: CocoEvalInput) {
  const imgIds = [
    ...new Set(
      input.images.map((im, i) => {
        if (typeof im?.id !== 'number') throw new Error(`coco: images[${i}]: id must be a number, got ${JSON.stringify(im?.id)}`);
        return im.id;
      }),
    ),
  ].sort((a, b) => a - b);
  const catIds = [
    ...new Set(
      input.categories.map((c, i) => {
        if (typeof c?.id !== 'number') throw new Error(`coco: categories[${i}]: id must be a number, got ${JSON.stringify(c?.id)}`);
        return c.id;
      }),
    ),
  ].sort((a, b) => a - b);
  const imgSet = new Set(imgIds);
  const catSet = new Set(catIds);
  const key = (img: number, cat: number) => `${img}:${cat}`;
  const gts = new Map<string, Gt[]>();
  const dts = new Map<string, Dt[]>();
  input.annotations.forEach((a, i) => {
    checkBox(a?.bbox, `annotations[${i}]`);
    if (typeof a.area !== 'number' || !Number.isFinite(a.area))
      throw new Error(`coco: annotations[${i}]: area must be a number, got ${JSON.stringify(a.area)}`);
    if (!imgSet.has(a.image_id) || !catSet.has(a.category_id)) return;
    const k = key(a.image_id, a.category_id);
    const list = gts.get(k) ?? [];
    list.push({ bbox: a.bbox, area: a.area, crowd: Boolean(a.iscrowd) });
    gts.set(k, list);
  });
  input.detections.forEach((d, i) => {
    checkBox(d?.bbox, `detections[${i}]`);
    if (typeof d.score !== 'number' || Number.isNaN(d.score))
      throw new Error(`coco: detections[${i}]: score must be a number, got ${JSON.stringify(d.score)}`);
    if (!imgSet.has(d.image_id)) {
      throw new Error(`coco: detections[${i}]: image_id ${d.image_id} is not among the images (pycocotools' loadRes refuses it too)`);
    }
    if (!catSet.has(d.category_id)) return;
    const k = key(d.image_id, d.category_id);
    const list = dts.get(k) ?? [];
    list.push({ bbox: d.bbox, area: d.bbox[2] * d.bbox[3], score: d.score });
    dts.set(k, list);
  });
  return { imgIds, catIds, gts, dts, key };
}

/** Runs evaluate + accumulate + summarize. */
export function cocoEvaluate(input: CocoEvalInput): CocoEvalResult {
  const { imgIds, catIds, gts, dts, key } = prepare(input);
  const T = COCO_IOU_THRESHOLDS.length;
  const R = COCO_RECALL_THRESHOLDS.length;
  const K = catIds.length;
  const A = COCO_AREA_RANGES.length;
  const M = COCO_MAX_DETS.length;
  const maxDetLast = COCO_MAX_DETS[M - 1];
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);

  for (let k = 0; k < K; k++) {
    // evaluate(): per image, the detections sorted and cut once, and their IoUs with the ground truth.
    const perImg: { gt: Gt[]; dt: Dt[]; ious: Float64Array[] }[] = [];
    for (const img of imgIds) {
      const gt = gts.get(key(img, catIds[k])) ?? [];
      const all = dts.get(key(img, catIds[k])) ?? [];
      if (gt.length === 0 && all.length === 0) continue; // evaluateImg returns None
      const order = argsortStable(all.map((d) => -d.score)).slice(0, maxDetLast);
      const dt = order.map((i) => all[i]);
      // [D][G], ground truth in annotation order
      const ious = dt.map((d) => Float64Array.from(gt, (g) => bbIou(d.bbox, g.bbox, g.crowd)));
      perImg.push({ gt, dt, ious });
    }
    if (perImg.length === 0) continue;
    for (let a = 0; a < A; a++) {
      const [, lo, hi] = COCO_AREA_RANGES[a];
      const E = perImg.map((p) => evaluateImg(p.gt, p.dt, p.ious, lo, hi));
      const npig = E.reduce((n, e) => n + e.npig, 0);
      if (npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const maxDet = COCO_MAX_DETS[m];
        // concatenate each image's first maxDet detections, then a stable sort by descending score
        const src: [number, number][] = [];
        const scores: number[] = [];
        E.forEach((e, ei) => {
          const n = Math.min(maxDet, e.scores.length);
          for (let d = 0; d < n; d++) {
            src.push([ei, d]);
            scores.push(-e.scores[d]);
          }
        });
        const inds = argsortStable(scores);
        const nd = inds.length;
        for (let t = 0; t < T; t++) {
          const rc = new Float64Array(nd);
          const pr = new Float64Array(nd);
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < nd; j++) {
            const [ei, d] = src[inds[j]];
            const e = E[ei];
            if (!e.ignored[t][d]) {
              if (e.matched[t][d]) tp += 1;
              else fp += 1;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + EPS);
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0;
          for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
          // searchsorted(rc, recThrs, 'left'): first index with rc[i] >= thr; precision 0 past the end
          let pi = 0;
          for (let r = 0; r < R; r++) {
            const thr = COCO_RECALL_THRESHOLDS[r];
            while (pi < nd && rc[pi] < thr) pi++;
            precision[(((t * R + r) * K + k) * A + a) * M + m] = pi < nd ? pr[pi] : 0;
          }
        }
      }
    }
  }

  const meanValid = (vals: number[]) => {
    const v = vals.filter((x) => x > -1);
    return v.length ? npMean(v) : -1;
  };
  const tIndex = (thr: number) => {
    const i = COCO_IOU_THRESHOLDS.indexOf(thr);
    return i < 0 ? [] : [i];
  };
  const allT = [...Array(T).keys()];
  const ap = (ts: number[], a: number, m: number, ks: number[] = [...Array(K).keys()]) => {
    const v: number[] = [];
    for (const t of ts) for (let r = 0; r < R; r++) for (const k of ks) v.push(precision[(((t * R + r) * K + k) * A + a) * M + m]);
    return meanValid(v);
  };
  const ar = (a: number, m: number) => {
    const v: number[] = [];
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) v.push(recall[((t * K + k) * A + a) * M + m]);
    return meanValid(v);
  };
  const m100 = M - 1;
  const stats: CocoStats = {
    AP: ap(allT, 0, m100),
    AP50: ap(tIndex(0.5), 0, m100),
    AP75: ap(tIndex(0.75), 0, m100),
    APs: ap(allT, 1, m100),
    APm: ap(allT, 2, m100),
    APl: ap(allT, 3, m100),
    AR1: ar(0, 0),
    AR10: ar(0, 1),
    AR100: ar(0, m100),
    ARs: ar(1, m100),
    ARm: ar(2, m100),
    ARl: ar(3, m100),
  };
  const perCategoryAp = new Map<number, number>();
  catIds.forEach((c, k) => {
    perCategoryAp.set(c, ap(allT, 0, m100, [k]));
  });
  return { stats, perCategoryAp, catIds, precision, recall };
}
