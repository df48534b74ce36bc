/**
 * Pixel operations on HWC RGB uint8 buffers, written to match OpenCV's semantics where Ultralytics
 * uses OpenCV: bilinear resize (cv2.INTER_LINEAR, half-pixel centres), area resize (cv2.INTER_AREA,
 * used by Ultralytics when shrinking validation images), affine/perspective warps with bilinear
 * sampling and a constant 114 border (cv2.warpAffine / cv2.warpPerspective), flips, and the 8-bit
 * RGB <-> HSV conversion (hue in [0, 180)).
 *
 * Status: float arithmetic with round-to-nearest instead of OpenCV's fixed-point weights, so pixel
 * values may differ from OpenCV by 1 level.
 */

/** An RGB image: HWC uint8, `data.length === width * height * 3`. */
export interface Image {
  data: Uint8Array;
  width: number;
  height: number;
}

export const PAD_VALUE = 114;

function checkImage(img: Image, what: string): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new Error(`${what}: image buffer has ${img.data.length} bytes, expected width*height*3 = ${img.width}*${img.height}*3`);
  }
}

/** Column/row taps of cv2.INTER_LINEAR: source index and weight of the right/lower neighbour. */
function linearTaps(src: number, dst: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const scale = src / dst;
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const f = new Float32Array(dst);
  for (let d = 0; d < dst; d++) {
    const s = (d + 0.5) * scale - 0.5;
    let x = Math.floor(s);
    let fx = s - x;
    if (x < 0) {
      x = 0;
      fx = 0;
    }
    if (x >= src - 1) {
      x = src - 1;
      fx = 0;
    }
    i0[d] = x;
    i1[d] = Math.min(x + 1, src - 1);
    f[d] = fx;
  }
  return { i0, i1, f };
}

/** Bilinear resize (cv2.INTER_LINEAR). */
export function resizeBilinear(img: Image, width: number, height: number): Image {
  checkImage(img, 'resizeBilinear');
  if (width === img.width && height === img.height) return { data: img.data.slice(), width, height };
  const cx = linearTaps(img.width, width);
  const cy = linearTaps(img.height, height);
  const src = img.data;
  const out = new Uint8Array(width * height * 3);
  const sw3 = img.width * 3;
  for (let y = 0; y < height; y++) {
    const r0 = cy.i0[y] * sw3;
    const r1 = cy.i1[y] * sw3;
    const fy = cy.f[y];
    let o = y * width * 3;
    for (let x = 0; x < width; x++) {
      const a = cx.i0[x] * 3;
      const b = cx.i1[x] * 3;
      const fx = cx.f[x];
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + a + c] + (src[r0 + b + c] - src[r0 + a + c]) * fx;
        const bot = src[r1 + a + c] + (src[r1 + b + c] - src[r1 + a + c]) * fx;
        out[o++] = Math.round(top + (bot - top) * fy);
      }
    }
  }
  return { data: out, width, height };
}

/** Per output index, the source indices and weights of a box filter (cv2.INTER_AREA when shrinking). */
function areaTaps(src: number, dst: number): { start: Int32Array; idx: Int32Array; w: Float32Array } {
  const scale = src / dst;
  const start = new Int32Array(dst + 1);
  const idx: number[] = [];
  const w: number[] = [];
  for (let d = 0; d < dst; d++) {
    start[d] = idx.length;
    const a = d * scale;
    const b = Math.min((d + 1) * scale, src);
    for (let s = Math.floor(a); s < b; s++) {
      const lo = Math.max(a, s);
      const hi = Math.min(b, s + 1);
      if (hi - lo > 1e-9) {
        idx.push(s);
        w.push((hi - lo) / (b - a));
      }
    }
  }
  start[dst] = idx.length;
  return { start, idx: Int32Array.from(idx), w: Float32Array.from(w) };
}

/** Area-averaging resize for shrinking (cv2.INTER_AREA); falls back to bilinear when enlarging. */
export function resizeArea(img: Image, width: number, height: number): Image {
  checkImage(img, 'resizeArea');
  if (width > img.width || height > img.height) return resizeBilinear(img, width, height);
  if (width === img.width && height === img.height) return { data: img.data.slice(), width, height };
  const tx = areaTaps(img.width, width);
  const ty = areaTaps(img.height, height);
  const src = img.data;
  // horizontal pass: [H, W, 3] -> [H, width, 3] in float
  const tmp = new Float32Array(img.height * width * 3);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * 3;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = tx.start[x]; k < tx.start[x + 1]; k++) {
        const p = row + tx.idx[k] * 3;
        const wk = tx.w[k];
        r += src[p] * wk;
        g += src[p + 1] * wk;
        b += src[p + 2] * wk;
      }
      const o = (y * width + x) * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  // vertical pass: [H, width, 3] -> [height, width, 3]
  const out = new Uint8Array(height * width * 3);
  const rowLen = width * 3;
  for (let y = 0; y < height; y++) {
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = 0;
      for (let k = ty.start[y]; k < ty.start[y + 1]; k++) acc += tmp[ty.idx[k] * rowLen + i] * ty.w[k];
      out[o + i] = Math.min(255, Math.round(acc));
    }
  }
  return { data: out, width, height };
}

export interface LetterboxResult {
  image: Image;
  /** scale from the source image to the letterboxed one */
  ratio: number;
  /** [left, top] padding in pixels of the letterboxed image */
  pad: [number, number];
  /** size of the resized (unpadded) content */
  resized: [number, number];
}

/**
 * Ultralytics' LetterBox (center=True, auto=False): scale so the longer side fits `size` (never
 * enlarging when `scaleup` is false), round the new size, pad with 114 grey, centred, using
 * top = round(dh - 0.1), left = round(dw - 0.1). `interp` picks the resize kernel.
 */
export function letterbox(img: Image, size: number, opts: { scaleup?: boolean; interp?: 'linear' | 'area' } = {}): LetterboxResult {
  checkImage(img, 'letterbox');
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`letterbox: size must be a positive integer, got ${size}`);
  let r = Math.min(size / img.height, size / img.width);
  if (opts.scaleup === false) r = Math.min(r, 1);
  const nw = Math.min(size, Math.max(1, Math.round(img.width * r)));
  const nh = Math.min(size, Math.max(1, Math.round(img.height * r)));
  const resized =
    nw === img.width && nh === img.height ? img : opts.interp === 'area' ? resizeArea(img, nw, nh) : resizeBilinear(img, nw, nh);
  const left = Math.max(0, Math.round((size - nw) / 2 - 0.1));
  const top = Math.max(0, Math.round((size - nh) / 2 - 0.1));
  const out = new Uint8Array(size * size * 3).fill(PAD_VALUE);
  for (let y = 0; y < nh; y++) {
    out.set(resized.data.subarray(y * nw * 3, (y + 1) * nw * 3), ((y + top) * size + left) * 3);
  }
  return { image: { data: out, width: size, height: size }, ratio: r, pad: [left, top], resized: [nw, nh] };
}

/** Inverts a 3x3 matrix (row-major). Throws on a singular matrix. */
export function invert3(m: ArrayLike<number>): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = Array.from(m);
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error(`invert3: singular matrix (det ${det})`);
  const inv = new Float64Array([
    A,
    -(b * i - c * h),
    b * f - c * e,
    B,
    a * i - c * g,
    -(a * f - c * d),
    C,
    -(a * h - b * g),
    a * e - b * d,
  ]);
  for (let k = 0; k < 9; k++) inv[k] /= det;
  return inv;
}

/**
 * cv2.warpPerspective / cv2.warpAffine with INTER_LINEAR and BORDER_CONSTANT 114: `m` (row-major 3x3)
 * maps source pixel coordinates to output ones; each output pixel samples the source at m^-1 (x, y).
 * With `perspective` false the last row of m is taken as [0, 0, 1].
 */
export function warp(img: Image, m: ArrayLike<number>, width: number, height: number, perspective: boolean): Image {
  checkImage(img, 'warp');
  const mm = Float64Array.from(m);
  if (!perspective) {
    mm[6] = 0;
    mm[7] = 0;
    mm[8] = 1;
  }
  const inv = invert3(mm);
  const src = img.data;
  const sw = img.width;
  const sh = img.height;
  const out = new Uint8Array(width * height * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    // source coordinate of (x, y) is (inv0 x + inv1 y + inv2, inv3 x + inv4 y + inv5) / (inv6 x + inv7 y + inv8)
    const bx = inv[1] * y + inv[2];
    const by = inv[4] * y + inv[5];
    const bw = inv[7] * y + inv[8];
    for (let x = 0; x < width; x++) {
      let sx = inv[0] * x + bx;
      let sy = inv[3] * x + by;
      if (perspective) {
        const wz = inv[6] * x + bw;
        const iw = wz !== 0 ? 1 / wz : 0;
        sx *= iw;
        sy *= iw;
      }
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh) {
        const p00 = (y0 * sw + x0) * 3;
        const p10 = p00 + sw * 3;
        for (let c = 0; c < 3; c++) {
          const t = src[p00 + c] + (src[p00 + 3 + c] - src[p00 + c]) * fx;
          const b = src[p10 + c] + (src[p10 + 3 + c] - src[p10 + c]) * fx;
          out[o++] = Math.round(t + (b - t) * fy);
        }
      } else if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh || !Number.isFinite(sx) || !Number.isFinite(sy)) {
        out[o++] = PAD_VALUE;
        out[o++] = PAD_VALUE;
        out[o++] = PAD_VALUE;
      } else {
        // at the border: neighbours outside the image take the border value
        const in00 = x0 >= 0 && y0 >= 0;
        const in01 = x0 + 1 < sw && y0 >= 0;
        const in10 = x0 >= 0 && y0 + 1 < sh;
        const in11 = x0 + 1 < sw && y0 + 1 < sh;
        const p00 = (y0 * sw + x0) * 3;
        for (let c = 0; c < 3; c++) {
          const v00 = in00 ? src[p00 + c] : PAD_VALUE;
          const v01 = in01 ? src[p00 + 3 + c] : PAD_VALUE;
          const v10 = in10 ? src[p00 + sw * 3 + c] : PAD_VALUE;
          const v11 = in11 ? src[p00 + sw * 3 + 3 + c] : PAD_VALUE;
          const t = v00 + (v01 - v00) * fx;
          const b = v10 + (v11 - v10) * fx;
          out[o++] = Math.round(t + (b - t) * fy);
        }
      }
    }
  }
  return { data: out, width, height };
}

/** Mirrors left-right in place. */
export function flipHorizontal(img: Image): void {
  const { data, width, height } = img;
  for (let y = 0; y < height; y++) {
    let a = y * width * 3;
    let b = a + (width - 1) * 3;
    while (a < b) {
      for (let c = 0; c < 3; c++) {
        const t = data[a + c];
        data[a + c] = data[b + c];
        data[b + c] = t;
      }
      a += 3;
      b -= 3;
    }
  }
}

/** Mirrors top-bottom in place. */
export function flipVertical(img: Image): void {
  const { data, width, height } = img;
  const row = width * 3;
  const tmp = new Uint8Array(row);
  for (let y = 0; y < height >> 1; y++) {
    const a = y * row;
    const b = (height - 1 - y) * row;
    tmp.set(data.subarray(a, a + row));
    data.copyWithin(a, b, b + row);
    data.set(tmp, b);
  }
}

/** OpenCV's 8-bit RGB -> HSV of one pixel: H in [0, 180), S and V in [0, 255]. */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b);
  const d = v - Math.min(r, g, b);
  const s = v === 0 ? 0 : Math.round((d * 255) / v);
  let h = 0;
  if (d !== 0) {
    if (v === r) h = (60 * (g - b)) / d;
    else if (v === g) h = 120 + (60 * (b - r)) / d;
    else h = 240 + (60 * (r - g)) / d;
    if (h < 0) h += 360;
  }
  let hh = Math.round(h / 2);
  if (hh >= 180) hh -= 180;
  return [hh, s, v];
}

/** OpenCV's 8-bit HSV -> RGB of one pixel (H in [0, 180)). */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const hf = ((h * 2) % 360) / 60;
  const sf = s / 255;
  const vf = v / 255;
  const i = Math.floor(hf);
  const f = hf - i;
  const p = vf * (1 - sf);
  const q = vf * (1 - sf * f);
  const t = vf * (1 - sf * (1 - f));
  let r: number;
  let g: number;
  let b: number;
  switch (i) {
    case 0:
      [r, g, b] = [vf, t, p];
      break;
    case 1:
      [r, g, b] = [q, vf, p];
      break;
    case 2:
      [r, g, b] = [p, vf, t];
      break;
    case 3:
      [r, g, b] = [p, q, vf];
      break;
    case 4:
      [r, g, b] = [t, p, vf];
      break;
    default:
      [r, g, b] = [vf, p, q];
  }
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/**
 * Ultralytics' RandomHSV given its three gains r = 1 + U(-1, 1) * [hgain, sgain, vgain]: per-channel
 * lookup tables hue' = (h * r0) % 180, sat' = clip(s * r1), val' = clip(v * r2) (truncated to uint8),
 * applied in HSV space, in place.
 */
export function applyHsvGains(img: Image, r0: number, r1: number, r2: number): void {
  const lutH = new Uint8Array(256);
  const lutS = new Uint8Array(256);
  const lutV = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    lutH[x] = Math.trunc((x * r0) % 180);
    lutS[x] = Math.trunc(Math.min(255, Math.max(0, x * r1)));
    lutV[x] = Math.trunc(Math.min(255, Math.max(0, x * r2)));
  }
  // rgbToHsv -> LUTs -> hsvToRgb, inlined (no per-pixel allocation); same arithmetic as those two
  const d = img.data;
  for (let p = 0; p < d.length; p += 3) {
    const r = d[p];
    const g = d[p + 1];
    const b = d[p + 2];
    const v = Math.max(r, g, b);
    const mn = Math.min(r, g, b);
    const diff = v - mn;
    let h = 0;
    if (diff !== 0) {
      if (v === r) h = (60 * (g - b)) / diff;
      else if (v === g) h = 120 + (60 * (b - r)) / diff;
      else h = 240 + (60 * (r - g)) / diff;
      if (h < 0) h += 360;
    }
    let hi = Math.round(h / 2);
    if (hi >= 180) hi -= 180;
    const si = v === 0 ? 0 : Math.round((diff * 255) / v);
    // back to RGB
    const hf = ((lutH[hi] * 2) % 360) / 60;
    const sf = lutS[si] / 255;
    const vf = lutV[v] / 255;
    const sector = Math.floor(hf);
    const f = hf - sector;
    const pp = Math.round(vf * (1 - sf) * 255);
    const q = Math.round(vf * (1 - sf * f) * 255);
    const t = Math.round(vf * (1 - sf * (1 - f)) * 255);
    const vv = Math.round(vf * 255);
    switch (sector) {
      case 0:
        d[p] = vv;
        d[p + 1] = t;
        d[p + 2] = pp;
        break;
      case 1:
        d[p] = q;
        d[p + 1] = vv;
        d[p + 2] = pp;
        break;
      case 2:
        d[p] = pp;
        d[p + 1] = vv;
        d[p + 2] = t;
        break;
      case 3:
        d[p] = pp;
        d[p + 1] = q;
        d[p + 2] = vv;
        break;
      case 4:
        d[p] = t;
        d[p + 1] = pp;
        d[p + 2] = vv;
        break;
      default:
        d[p] = vv;
        d[p + 1] = pp;
        d[p + 2] = q;
    }
  }
}
