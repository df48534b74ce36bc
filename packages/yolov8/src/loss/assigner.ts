/**
 * Task-aligned assigner (TOOD: Task-aligned One-stage Object Detection, arXiv 2108.07755) as used by
 * YOLOv8: Ultralytics 8.0.229 `ultralytics/utils/tal.py` TaskAlignedAssigner.
 *
 * Plain JS (the reference runs it under torch.no_grad), rounding each step to float32 in torch's order so
 * that the positive set matches the reference bit for bit in all but knife-edge cases:
 *  1. candidates: anchors whose centre is strictly inside a GT (min distance to the sides > 1e-9);
 *  2. metric = score(gt class)^alpha * CIoU(gt, pred)^beta, CIoU clamped at 0, only for candidates;
 *  3. per GT the topk candidates by metric are positive;
 *  4. an anchor positive for several GTs goes to the GT with the highest CIoU over all GTs (argmax,
 *     first index on ties), as select_highest_overlaps does;
 *  5. target score = one-hot(class) * align / max_align(gt) * max_CIoU(gt) (max over the GT's positives).
 * Status: one deviation where the reference is undefined. torch.topk orders equal values arbitrarily, so
 * when a GT has fewer than topk candidates with metric > 0, whether its zero-metric candidates become
 * positive is arbitrary there; here they never do (their target score would be 0 anyway, so the loss
 * does not depend on it, only fg_mask).
 */

import { ciouF32 } from './iou.js';

const f = Math.fround;

export interface AssignerOptions {
  /** Number of classes (the background label of the no-GT path is nc). */
  nc: number;
  topk?: number;
  alpha?: number;
  beta?: number;
  eps?: number;
}

export interface AssignerInput {
  batch: number;
  /** Number of anchors A. */
  anchors: number;
  /** Padded GT slots per image M (0 when there are no targets at all). */
  maxBoxes: number;
  /** [B, A, nc] sigmoid class scores. Only entries of anchors inside a GT, at that GT's class, are read. */
  pdScores: Float32Array;
  /** [B, A, 4] predicted boxes, xyxy pixels. Only entries of anchors inside a GT are read. */
  pdBboxes: Float32Array;
  /** [A, 2] anchor centres in pixels. */
  anchorPoints: Float32Array;
  /** [B, M] class of each GT slot. */
  gtLabels: Int32Array;
  /** [B, M, 4] GT boxes, xyxy pixels. */
  gtBboxes: Float32Array;
  /** [B, M] 1 where the slot holds a real box. */
  maskGt: Uint8Array;
  /**
   * Called once for each (image, anchor) before its pdScores/pdBboxes entries are first read, so that a
   * caller can fill them lazily (only anchors inside some GT are ever read).
   */
  ensureAnchor?: (b: number, a: number) => void;
}

export interface AssignerOutput {
  /** [B, A] class of the assigned GT (background anchors: the class of GT slot 0; nc when M = 0). */
  targetLabels: Int32Array;
  /** [B, A, 4] box of the assigned GT, xyxy pixels (background anchors: GT slot 0). */
  targetBboxes: Float32Array;
  /** [B, A, nc] normalised alignment score at the assigned class, 0 elsewhere and on background. */
  targetScores: Float32Array;
  /** [B, A] 1 for positive (foreground) anchors. */
  fgMask: Uint8Array;
  /** [B, A] index of the assigned GT slot (0 on background). */
  targetGtIdx: Int32Array;
  /** Number of foreground anchors. */
  numFg: number;
  /** Sum of targetScores (float64 sum of the float32 entries). */
  targetScoresSum: number;
}

/** float32 x^e with torch's special cases of pow(tensor, scalar). */
function powF32(x: number, e: number): number {
  if (e === 1) return x;
  if (e === 2) return f(x * x);
  if (e === 3) return f(f(x * x) * x);
  if (e === 0.5) return f(Math.sqrt(x));
  return f(x ** e);
}

function checkLen(name: string, arr: ArrayLike<number>, want: number, shape: string): void {
  if (arr.length !== want) throw new Error(`TaskAlignedAssigner: ${name} must have ${want} entries (${shape}), got ${arr.length}`);
}

export class TaskAlignedAssigner {
  readonly nc: number;
  readonly topk: number;
  readonly alpha: number;
  readonly beta: number;
  readonly eps: number;

  constructor({ nc, topk = 13, alpha = 1.0, beta = 6.0, eps = 1e-9 }: AssignerOptions) {
    if (!Number.isInteger(nc) || nc < 1) throw new Error(`TaskAlignedAssigner: nc must be a positive integer, got ${nc}`);
    if (!Number.isInteger(topk) || topk < 1) throw new Error(`TaskAlignedAssigner: topk must be a positive integer, got ${topk}`);
    this.nc = nc;
    this.topk = topk;
    this.alpha = alpha;
    this.beta = beta;
    this.eps = eps;
  }

  assign(inp: AssignerInput): AssignerOutput {
    const { batch: B, anchors: A, maxBoxes: M, pdScores, pdBboxes, anchorPoints, gtLabels, gtBboxes, maskGt, ensureAnchor } = inp;
    const nc = this.nc;
    checkLen('pdScores', pdScores, B * A * nc, '[B, A, nc]');
    checkLen('pdBboxes', pdBboxes, B * A * 4, '[B, A, 4]');
    checkLen('anchorPoints', anchorPoints, A * 2, '[A, 2]');
    checkLen('gtLabels', gtLabels, B * M, '[B, M]');
    checkLen('gtBboxes', gtBboxes, B * M * 4, '[B, M, 4]');
    checkLen('maskGt', maskGt, B * M, '[B, M]');

    const targetLabels = new Int32Array(B * A);
    const targetBboxes = new Float32Array(B * A * 4);
    const targetScores = new Float32Array(B * A * nc);
    const fgMask = new Uint8Array(B * A);
    const targetGtIdx = new Int32Array(B * A);
    if (M === 0) {
      // No GT in the whole batch: the reference returns background labels and zeros.
      targetLabels.fill(nc);
      return { targetLabels, targetBboxes, targetScores, fgMask, targetGtIdx, numFg: 0, targetScoresSum: 0 };
    }

    const epsIn = f(1e-9);
    const epsNorm = f(this.eps);
    const overlaps = new Float32Array(M * A); // [M, A] CIoU (clamped) of candidates, 0 elsewhere
    const align = new Float32Array(M * A); // [M, A] alignment metric of candidates, 0 elsewhere
    const maskPos = new Uint8Array(M * A); // [M, A]
    const posAlign = new Float32Array(M);
    const posOv = new Float32Array(M);
    const seen = new Uint8Array(A);
    const cand: number[] = [];
    let numFg = 0;
    let tsSum = 0;

    for (let b = 0; b < B; b++) {
      overlaps.fill(0);
      align.fill(0);
      maskPos.fill(0);
      seen.fill(0);
      let anyGt = false;
      for (let g = 0; g < M; g++) {
        if (!maskGt[b * M + g]) continue;
        anyGt = true;
        const go = (b * M + g) * 4;
        const gx1 = gtBboxes[go];
        const gy1 = gtBboxes[go + 1];
        const gx2 = gtBboxes[go + 2];
        const gy2 = gtBboxes[go + 3];
        const label = gtLabels[b * M + g];
        if (!(label >= 0 && label < nc)) {
          throw new Error(`TaskAlignedAssigner: GT (image ${b}, slot ${g}) has class ${label}; classes are 0..${nc - 1}`);
        }
        cand.length = 0;
        for (let a = 0; a < A; a++) {
          const ax = anchorPoints[2 * a];
          const ay = anchorPoints[2 * a + 1];
          const d = Math.min(f(ax - gx1), f(ay - gy1), f(gx2 - ax), f(gy2 - ay));
          if (!(d > epsIn)) continue;
          if (ensureAnchor && !seen[a]) {
            seen[a] = 1;
            ensureAnchor(b, a);
          }
          const po = (b * A + a) * 4;
          // bbox_iou(gt, pred): the GT is box 1.
          let ov = ciouF32(gx1, gy1, gx2, gy2, pdBboxes[po], pdBboxes[po + 1], pdBboxes[po + 2], pdBboxes[po + 3]);
          if (ov < 0) ov = 0;
          const s = pdScores[(b * A + a) * nc + label];
          const m = f(powF32(s, this.alpha) * powF32(ov, this.beta));
          overlaps[g * A + a] = ov;
          align[g * A + a] = m;
          if (m > 0) cand.push(a);
        }
        // Top-k by metric (ties: lower anchor index first).
        if (cand.length > this.topk) {
          cand.sort((p, q) => align[g * A + q] - align[g * A + p] || p - q);
          cand.length = this.topk;
        }
        for (const a of cand) maskPos[g * A + a] = 1;
      }
      if (!anyGt) {
        // Background everywhere; targets carry GT slot 0 (padding: zeros, label 0).
        for (let a = 0; a < A; a++) {
          targetLabels[b * A + a] = Math.max(0, gtLabels[b * M]);
          for (let k = 0; k < 4; k++) targetBboxes[(b * A + a) * 4 + k] = gtBboxes[b * M * 4 + k];
        }
        continue;
      }

      // One GT per anchor: the positives claimed by several GTs go to the highest-CIoU GT.
      for (let a = 0; a < A; a++) {
        let count = 0;
        let first = -1;
        for (let g = 0; g < M; g++) {
          if (maskPos[g * A + a]) {
            count++;
            if (first < 0) first = g;
          }
        }
        if (count > 1) {
          let best = 0;
          for (let g = 1; g < M; g++) if (overlaps[g * A + a] > overlaps[best * A + a]) best = g;
          for (let g = 0; g < M; g++) maskPos[g * A + a] = g === best ? 1 : 0;
          first = best;
        }
        const gi = Math.max(first, 0);
        targetGtIdx[b * A + a] = gi;
        if (first >= 0) {
          fgMask[b * A + a] = 1;
          numFg++;
        }
        targetLabels[b * A + a] = Math.max(0, gtLabels[b * M + gi]);
        for (let k = 0; k < 4; k++) targetBboxes[(b * A + a) * 4 + k] = gtBboxes[(b * M + gi) * 4 + k];
      }

      // Normalisation per GT over its (final) positives.
      posAlign.fill(0);
      posOv.fill(0);
      for (let g = 0; g < M; g++) {
        for (let a = 0; a < A; a++) {
          if (!maskPos[g * A + a]) continue;
          if (align[g * A + a] > posAlign[g]) posAlign[g] = align[g * A + a];
          if (overlaps[g * A + a] > posOv[g]) posOv[g] = overlaps[g * A + a];
        }
      }
      for (let a = 0; a < A; a++) {
        if (!fgMask[b * A + a]) continue;
        const g = targetGtIdx[b * A + a];
        const norm = f(f(align[g * A + a] * posOv[g]) / f(posAlign[g] + epsNorm));
        targetScores[(b * A + a) * nc + targetLabels[b * A + a]] = norm;
        tsSum += norm;
      }
    }
    return { targetLabels, targetBboxes, targetScores, fgMask, targetGtIdx, numFg, targetScoresSum: tsSum };
  }
}
