/**
 * Average precision and P/R/F1 as Ultralytics 8.0.229 computes them (ultralytics/utils/metrics.py:
 * `compute_ap`, `smooth`, `ap_per_class`), in float64 like numpy.
 *
 * Status: exact port of the semantics (numpy's np.interp, np.trapz, linspace and pairwise sums are
 * mirrored in ./numeric.ts). Confidences are taken as float32 (Ultralytics holds them in torch float32).
 * Deviations: `np.argsort(-conf)` (unstable quicksort) is a stable sort here, so predictions with exactly
 * equal confidence keep their input order; the box filter sums its window left to right where numpy's
 * convolve uses BLAS dot (last-bit differences only). No plotting.
 */
import { f32, linspace, npInterp, roundHalfEven, trapz } from './numeric.js';

const EPS = 1e-16;
const X101 = linspace(0, 1, 101);

/**
 * `compute_ap(recall, precision)`: sentinels (0, 1) in front and (1, 0) at the end, the precision envelope
 * (running max from the right), then 101-point interpolation (np.interp) integrated with np.trapz.
 */
export function computeAp(recall: ArrayLike<number>, precision: ArrayLike<number>): { ap: number; mpre: Float64Array; mrec: Float64Array } {
  if (recall.length !== precision.length) {
    throw new Error(`computeAp: recall has ${recall.length} points but precision has ${precision.length}`);
  }
  const n = recall.length;
  const mrec = new Float64Array(n + 2);
  const mpre = new Float64Array(n + 2);
  mrec[0] = 0;
  mpre[0] = 1;
  for (let i = 0; i < n; i++) {
    mrec[i + 1] = recall[i];
    mpre[i + 1] = precision[i];
  }
  mrec[n + 1] = 1;
  mpre[n + 1] = 0;
  // np.flip(np.maximum.accumulate(np.flip(mpre))): running max from the right.
  for (let i = n; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  const ap = trapz(npInterp(X101, mrec, mpre), X101);
  return { ap, mpre, mrec };
}

/** `smooth(y, f)`: box filter with nf = round(len*f*2)//2 + 1 taps, edges padded with the end values. */
export function smooth(y: ArrayLike<number>, f = 0.05): Float64Array {
  const n = y.length;
  if (n === 0) return new Float64Array(0);
  // Python's round() is half-to-even.
  const nf = Math.floor(roundHalfEven(n * f * 2) / 2) + 1;
  const half = Math.floor(nf / 2);
  const yp = new Float64Array(n + 2 * half);
  for (let i = 0; i < half; i++) {
    yp[i] = 1 * y[0];
    yp[half + n + i] = 1 * y[n - 1];
  }
  for (let i = 0; i < n; i++) yp[half + i] = y[i];
  const w = 1 / nf;
  const outLen = yp.length - nf + 1;
  const out = new Float64Array(Math.max(outLen, 0));
  for (let i = 0; i < outLen; i++) {
    let s = 0;
    for (let k = 0; k < nf; k++) s += yp[i + k] * w;
    out[i] = s;
  }
  return out;
}

/** First index of the maximum (np.argmax). */
function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

export interface ApPerClassResult {
  /** Classes present in the GT, ascending (`unique_classes`). */
  classes: number[];
  /** GT count per class (`nt`). */
  nt: number[];
  /** Prediction count per class. */
  nPred: number[];
  /** Per class, at the max-F1 confidence: TP and FP counts (np.round, as Ultralytics reports them). */
  tp: number[];
  fp: number[];
  /** Per class precision, recall and F1 at the index of the max of the smoothed mean F1. */
  p: number[];
  r: number[];
  f1: number[];
  /** ap[class][threshold]. */
  ap: number[][];
  /** Curves on the 1000-point confidence grid `x`, one row per class. */
  pCurve: Float64Array[];
  rCurve: Float64Array[];
  f1Curve: Float64Array[];
  x: Float64Array;
  /**
   * The PR curve Ultralytics plots (`prec_values`): per class, the precision envelope of IoU 0.5
   * interpolated at recall `x`; null for a class without predictions (Ultralytics leaves it out).
   */
  prCurve: (Float64Array | null)[];
  /** Index into `x` where P/R/F1 are read, and its confidence. */
  maxF1Index: number;
  maxF1Conf: number;
}

/**
 * `ap_per_class(tp, conf, pred_cls, target_cls)`: tp[nPred][nThresholds] (booleans or 0/1), conf and
 * pred_cls per prediction, target_cls per GT box (all images together).
 */
export function apPerClass(
  tp: readonly (readonly (boolean | number)[])[],
  conf: ArrayLike<number>,
  predCls: ArrayLike<number>,
  targetCls: ArrayLike<number>,
): ApPerClassResult {
  const nP = tp.length;
  if (conf.length !== nP || predCls.length !== nP) {
    throw new Error(`apPerClass: tp has ${nP} rows, conf ${conf.length}, predCls ${predCls.length}; they must be equal`);
  }
  const nT = nP > 0 ? tp[0].length : 0;
  tp.forEach((row, i) => {
    if (row.length !== nT) throw new Error(`apPerClass: tp row ${i} has ${row.length} thresholds; row 0 has ${nT}`);
  });
  const conf32 = Array.from(conf, (c) => f32(c));
  // i = np.argsort(-conf) (stable here): descending confidence.
  const order = Array.from({ length: nP }, (_, i) => i).sort((a, b) => conf32[b] - conf32[a] || a - b);
  const sConf = order.map((i) => conf32[i]);
  const sCls = order.map((i) => f32(predCls[i]));
  const sTp = order.map((i) => tp[i].map((v) => (v ? 1 : 0)));

  // np.unique(target_cls, return_counts=True)
  const counts = new Map<number, number>();
  for (let i = 0; i < targetCls.length; i++) {
    const c = f32(targetCls[i]);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const classes = [...counts.keys()].sort((a, b) => a - b);
  const nt = classes.map((c) => counts.get(c) as number);
  const nc = classes.length;

  const x = linspace(0, 1, 1000);
  const negX = x.map((v) => -v);
  const ap: number[][] = classes.map(() => new Array(Math.max(nT, 0)).fill(0));
  const pCurve: Float64Array[] = classes.map(() => new Float64Array(1000));
  const rCurve: Float64Array[] = classes.map(() => new Float64Array(1000));
  const nPred: number[] = [];
  const prCurve: (Float64Array | null)[] = classes.map(() => null);

  classes.forEach((c, ci) => {
    const idx: number[] = [];
    for (let k = 0; k < nP; k++) if (sCls[k] === c) idx.push(k);
    const nL = nt[ci];
    const np_ = idx.length;
    nPred.push(np_);
    if (np_ === 0 || nL === 0) return;
    const negConf = Float64Array.from(idx, (k) => -sConf[k]);
    // recall[k][j], precision[k][j] from cumulative TP / FP counts.
    const recall: Float64Array[] = [];
    const precision: Float64Array[] = [];
    for (let j = 0; j < nT; j++) {
      recall.push(new Float64Array(np_));
      precision.push(new Float64Array(np_));
    }
    const tpc = new Array(nT).fill(0);
    const fpc = new Array(nT).fill(0);
    idx.forEach((k, m) => {
      for (let j = 0; j < nT; j++) {
        tpc[j] += sTp[k][j];
        fpc[j] += 1 - sTp[k][j];
        recall[j][m] = tpc[j] / (nL + EPS);
        precision[j][m] = tpc[j] / (tpc[j] + fpc[j]);
      }
    });
    if (nT > 0) {
      rCurve[ci] = npInterp(negX, negConf, recall[0], 0);
      pCurve[ci] = npInterp(negX, negConf, precision[0], 1);
    }
    for (let j = 0; j < nT; j++) {
      const r = computeAp(recall[j], precision[j]);
      ap[ci][j] = r.ap;
      if (j === 0) prCurve[ci] = npInterp(x, r.mrec, r.mpre);
    }
  });

  const f1Curve = classes.map((_, ci) => {
    const out = new Float64Array(1000);
    for (let k = 0; k < 1000; k++) {
      const p = pCurve[ci][k];
      const r = rCurve[ci][k];
      out[k] = (2 * p * r) / (p + r + EPS);
    }
    return out;
  });
  // f1_curve.mean(0): sequential over classes, then / nc (NaN when there is no class, as numpy).
  const meanF1 = new Float64Array(1000);
  for (let k = 0; k < 1000; k++) {
    let s = 0;
    for (let ci = 0; ci < nc; ci++) s += f1Curve[ci][k];
    meanF1[k] = s / nc;
  }
  const i = argmax(smooth(meanF1, 0.1));
  const p = classes.map((_, ci) => pCurve[ci][i]);
  const r = classes.map((_, ci) => rCurve[ci][i]);
  const f1 = classes.map((_, ci) => f1Curve[ci][i]);
  const tpOut = r.map((rv, ci) => roundHalfEven(rv * nt[ci]));
  const fpOut = tpOut.map((t, ci) => roundHalfEven(t / (p[ci] + EPS) - t));
  return {
    classes,
    nt,
    nPred,
    tp: tpOut,
    fp: fpOut,
    p,
    r,
    f1,
    ap,
    pCurve,
    rCurve,
    f1Curve,
    x,
    prCurve,
    maxF1Index: i,
    maxF1Conf: x[i],
  };
}
