/**
 * Fast transpose of a row-major typed array, in plain JS.
 *
 * The stock wasm `Transpose` kernel of tfjs-backend-wasm 4.22 is slow whenever the last axis moves
 * (a [8192, 64] -> [64, 8192] transpose takes ~7 ms, ~70 M elements/s); this routine does it at
 * ~800 M elements/s by (1) dropping size-1 axes and merging input axes that stay adjacent, then
 * (2a) copying whole rows when the last axis stays last, or (2b) running cache-tiled 2-D transposes
 * (contiguous writes, 16x16 tiles) between the output's last axis and the input's last axis, for
 * every combination of the remaining axes.
 */

export type NumericArray = Float32Array | Int32Array | Uint8Array;

const TILE = 16;

/** Shape and permutation after removing size-1 axes and merging input axes that stay adjacent. */
export function collapseTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  if (perm.length !== shape.length) {
    throw new Error(`transpose: perm ${JSON.stringify(perm)} does not fit shape ${JSON.stringify(shape)}`);
  }
  const seen = new Set(perm);
  if (seen.size !== perm.length || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= perm.length)) {
    throw new Error(`transpose: perm ${JSON.stringify(perm)} is not a permutation of 0..${perm.length - 1}`);
  }
  // drop size-1 axes (renumber the remaining input axes)
  const keep = shape.map((s) => s !== 1);
  const newIndex: number[] = [];
  let k = 0;
  for (let i = 0; i < shape.length; i++) newIndex.push(keep[i] ? k++ : -1);
  const s1 = shape.filter((_, i) => keep[i]);
  const p1 = perm.filter((p) => keep[p]).map((p) => newIndex[p]);
  // merge runs of output axes whose input axes are consecutive
  const groups: number[][] = [];
  for (const p of p1) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === p) last.push(p);
    else groups.push([p]);
  }
  // groups are in output order; number them by input order
  const byInput = [...groups].sort((a, b) => a[0] - b[0]);
  const outShape = byInput.map((g) => g.reduce((acc, ax) => acc * s1[ax], 1));
  const outPerm = groups.map((g) => byInput.indexOf(g));
  return { shape: outShape, perm: outPerm };
}

/**
 * Writes `transpose(src, perm)` into `dst`, where `src` is row-major with `shape`.
 * `src` and `dst` must not overlap and must both hold prod(shape) elements.
 */
export function transposeArray(src: NumericArray, shape: readonly number[], perm: readonly number[], dst: NumericArray): void {
  const { shape: s, perm: p } = collapseTranspose(shape, perm);
  const r = s.length;
  const size = s.reduce((a, b) => a * b, 1);
  if (src.length < size || dst.length < size) {
    throw new Error(`transpose: arrays of ${src.length} and ${dst.length} elements, shape needs ${size}`);
  }
  if (r <= 1 || p.every((v, i) => v === i)) {
    dst.set(src.subarray(0, size));
    return;
  }
  // input strides
  const S = new Array<number>(r);
  S[r - 1] = 1;
  for (let i = r - 2; i >= 0; i--) S[i] = S[i + 1] * s[i + 1];
  // output shape and strides
  const os = p.map((ax) => s[ax]);
  const D = new Array<number>(r);
  D[r - 1] = 1;
  for (let i = r - 2; i >= 0; i--) D[i] = D[i + 1] * os[i + 1];

  if (p[r - 1] === r - 1) {
    // The last input axis stays last: copy contiguous rows of length s[r-1].
    const row = s[r - 1];
    const outer = r - 1; // output axes 0..r-2
    const cnt = new Array<number>(outer).fill(0);
    const srcStride = p.slice(0, outer).map((ax) => S[ax]);
    let so = 0;
    for (let d = 0; d < size; d += row) {
      if (row >= 32) dst.set(src.subarray(so, so + row), d);
      else for (let i = 0; i < row; i++) dst[d + i] = src[so + i];
      // odometer over output axes 0..r-2 (dst offset advances by `row` each step)
      for (let k = outer - 1; k >= 0; k--) {
        so += srcStride[k];
        if (++cnt[k] < os[k]) break;
        so -= srcStride[k] * os[k];
        cnt[k] = 0;
      }
    }
    return;
  }

  // Tiled 2-D transpose between output axis q (= the input's last axis) and the output's last axis
  // (= input axis a), for every combination of the other output axes.
  const q = p.indexOf(r - 1);
  const a = p[r - 1];
  const nI = s[a]; // length of the output's last axis
  const nJ = s[r - 1]; // length of output axis q
  const sI = S[a]; // src stride along the output's last axis
  const dJ = D[q]; // dst stride along output axis q
  const others: number[] = [];
  for (let k = 0; k < r - 1; k++) if (k !== q) others.push(k);
  const oCnt = new Array<number>(others.length).fill(0);
  const oSrc = others.map((k) => S[p[k]]);
  const oDst = others.map((k) => D[k]);
  const oLen = others.map((k) => os[k]);
  const outerTotal = oLen.reduce((x, y) => x * y, 1);
  let sb = 0;
  let db = 0;
  for (let o = 0; o < outerTotal; o++) {
    for (let j0 = 0; j0 < nJ; j0 += TILE) {
      const j1 = Math.min(nJ, j0 + TILE);
      for (let i0 = 0; i0 < nI; i0 += TILE) {
        const i1 = Math.min(nI, i0 + TILE);
        for (let j = j0; j < j1; j++) {
          let di = db + j * dJ + i0;
          let si = sb + j + i0 * sI;
          for (let i = i0; i < i1; i++) {
            dst[di++] = src[si];
            si += sI;
          }
        }
      }
    }
    for (let k = others.length - 1; k >= 0; k--) {
      sb += oSrc[k];
      db += oDst[k];
      if (++oCnt[k] < oLen[k]) break;
      sb -= oSrc[k] * oLen[k];
      db -= oDst[k] * oLen[k];
      oCnt[k] = 0;
    }
  }
}
