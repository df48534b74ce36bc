/**
 * numpy-faithful numeric helpers used by the metrics (plain float64 JS):
 * `linspace` (numpy's `arange * step + start`, exact endpoint), `npSum`/`npMean` (numpy's pairwise
 * summation, so means of many per-class values round like numpy's), `npInterp` (numpy's `np.interp`:
 * last index j with xp[j] <= x, exact hits return fp[j], outside uses left/right), `trapz`,
 * `roundHalfEven` (np.round), `f32` (Math.fround, to mirror values that Ultralytics holds in torch float32).
 */

/** Rounds to the nearest float32 (torch float32 values, seen from float64). */
export const f32: (x: number) => number = Math.fround;

/** `np.linspace(start, stop, num)` (endpoint included), bit-exact with numpy 1.24 for scalar bounds. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  if (!Number.isInteger(num) || num < 0) throw new Error(`linspace: num must be a non-negative integer, got ${num}`);
  const y = new Float64Array(num);
  const div = num - 1;
  const delta = stop - start;
  if (div > 0) {
    const step = delta / div;
    if (step === 0) {
      for (let i = 0; i < num; i++) y[i] = (i / div) * delta + start;
    } else {
      for (let i = 0; i < num; i++) y[i] = i * step + start;
    }
    y[num - 1] = stop;
  } else if (num === 1) {
    y[0] = start;
  }
  return y;
}

function pairwise(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i];
    return res;
  }
  if (n <= 128) {
    const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let k = 0; k < 8; k++) r[k] += a[lo + i + k];
    }
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, lo, n2) + pairwise(a, lo + n2, n - n2);
}

/** `np.sum` of a contiguous float64 vector (identity 0 + numpy's pairwise summation). */
export function npSum(a: ArrayLike<number>): number {
  return 0 + pairwise(a, 0, a.length);
}

/** `np.mean` of a vector (NaN for an empty one, as numpy). */
export function npMean(a: ArrayLike<number>): number {
  return npSum(a) / a.length;
}

/** Index of the last element of the sorted `xp` that is <= key; -1 below xp[0]; xp.length above the end. */
function searchRight(xp: ArrayLike<number>, key: number): number {
  const n = xp.length;
  if (key > xp[n - 1]) return n;
  if (key < xp[0]) return -1;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    if (key >= xp[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * `np.interp(x, xp, fp, left, right)`: xp must be non-decreasing (ties allowed: a query equal to a tied
 * value returns fp of the last tie, as numpy). left/right default to fp[0] / fp[last].
 */
export function npInterp(x: ArrayLike<number>, xp: ArrayLike<number>, fp: ArrayLike<number>, left?: number, right?: number): Float64Array {
  const n = xp.length;
  if (n === 0) throw new Error('npInterp: xp is empty (numpy raises "array of sample points is empty")');
  if (fp.length !== n) throw new Error(`npInterp: xp has ${n} points but fp has ${fp.length}`);
  const lval = left ?? fp[0];
  const rval = right ?? fp[n - 1];
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xv = x[i];
    if (Number.isNaN(xv)) {
      out[i] = xv;
      continue;
    }
    const j = searchRight(xp, xv);
    if (j === -1) out[i] = lval;
    else if (j === n) out[i] = rval;
    else if (j === n - 1) out[i] = fp[j];
    else if (xp[j] === xv) out[i] = fp[j];
    else {
      const slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
      let res = slope * (xv - xp[j]) + fp[j];
      if (Number.isNaN(res)) {
        res = slope * (xv - xp[j + 1]) + fp[j + 1];
        if (Number.isNaN(res) && fp[j] === fp[j + 1]) res = fp[j];
      }
      out[i] = res;
    }
  }
  return out;
}

/** `np.trapz(y, x)` = sum(diff(x) * (y[1:] + y[:-1]) / 2) with numpy's summation. */
export function trapz(y: ArrayLike<number>, x: ArrayLike<number>): number {
  if (y.length !== x.length) throw new Error(`trapz: y has ${y.length} points but x has ${x.length}`);
  const n = y.length;
  if (n < 2) return 0;
  const terms = new Float64Array(n - 1);
  for (let i = 0; i < n - 1; i++) terms[i] = ((x[i + 1] - x[i]) * (y[i + 1] + y[i])) / 2.0;
  return npSum(terms);
}

/** `np.round` (round half to even). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // Math.round rounds .5 up; numpy rounds halves to the even neighbour.
  if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Stable ascending argsort by key. */
export function argsortStable(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  idx.sort((a, b) => keys[a] - keys[b] || a - b);
  return idx;
}
