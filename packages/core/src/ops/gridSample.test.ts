/**
 * gridSample against a naive float64 reference loop (values, input gradient, grid gradient) on random
 * and hand-picked grids (outside the map, exactly on the border, at integer pixels), on grids taken
 * from the golden DAT and MSDeformAttn cases, against central finite differences, and against
 * PyTorch's stored outputs and gradients of Deformable-DETR's `ms_deform_attn_core_pytorch`, which is
 * built on `F.grid_sample` (align_corners=False, zeros). Runs on cpu and wasm.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readSafetensors, type SafeTensor } from '../safetensors.js';
import { testBackends } from '../testing/index.js';
import { type GridSampleImplementation, type GridSampleOptions, type GridSamplePaddingMode, gridSample } from './gridSample.js';

/** Both implementations are checked on every backend ('auto' picks 'js' on cpu and wasm). */
const IMPLS: GridSampleImplementation[] = ['js', 'ops'];

const goldenDir = new URL('../../../../fixtures/golden/attention/', import.meta.url);
const loadCase = (name: string) => {
  const file = readSafetensors(fs.readFileSync(new URL(`${name}.safetensors`, goldenDir)), name);
  // biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
  const json: any = JSON.parse(fs.readFileSync(new URL(`${name}.json`, goldenDir), 'utf8'));
  const get = (key: string): SafeTensor => {
    const t = file.tensors.get(key);
    if (!t) throw new Error(`${name}: no tensor "${key}"`);
    return t;
  };
  return { json, get };
};

/** Deterministic uniform [0, 1) (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(n: number, lo: number, hi: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

interface Ref {
  out: Float64Array;
  outMag: Float64Array;
  dInput: Float64Array;
  dInputMag: Float64Array;
  dGrid: Float64Array;
  dGridMag: Float64Array;
}

const f32 = Math.fround;

/**
 * Naive PyTorch grid_sample (bilinear) forward and vjp, NHWC, float64 except the coordinate
 * unnormalisation, which is done in float32 as PyTorch's float32 op does it (so both sides agree on
 * floor() for points that land on integers). `*Mag` = sum of |terms| of each result, the scale
 * for float32 rounding error.
 */
function naive(
  input: ArrayLike<number>,
  [N, H, W, C]: number[],
  grid: ArrayLike<number>,
  [Ho, Wo]: number[],
  cot: ArrayLike<number>,
  padding: GridSamplePaddingMode,
  align: boolean,
): Ref {
  const P = N * Ho * Wo;
  const r: Ref = {
    out: new Float64Array(P * C),
    outMag: new Float64Array(P * C),
    dInput: new Float64Array(N * H * W * C),
    dInputMag: new Float64Array(N * H * W * C),
    dGrid: new Float64Array(P * 2),
    dGridMag: new Float64Array(P * 2),
  };
  const axis = (c: number, size: number) => {
    let pix = align ? f32(f32(f32(c + 1) * 0.5) * (size - 1)) : f32(f32(f32(f32(c + 1) * size) - 1) * 0.5);
    let mult = align ? (size - 1) / 2 : size / 2;
    if (padding === 'border') {
      if (!(pix > 0 && pix < size - 1)) mult = 0;
      pix = Math.min(Math.max(pix, 0), size - 1);
    }
    const i0 = Math.floor(pix);
    // weights and d(weight)/d(pix) of the lower / upper neighbour
    return { i: [i0, i0 + 1], w: [i0 + 1 - pix, pix - i0], dw: [-1, 1], mult };
  };
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Ho * Wo; q++) {
      const p = n * Ho * Wo + q;
      const ax = axis(grid[2 * p], W);
      const ay = axis(grid[2 * p + 1], H);
      let gx = 0;
      let gy = 0;
      let gxMag = 0;
      let gyMag = 0;
      for (let b = 0; b < 2; b++) {
        for (let a = 0; a < 2; a++) {
          const xi = ax.i[a];
          const yi = ay.i[b];
          if (xi < 0 || xi >= W || yi < 0 || yi >= H) continue;
          const w = ax.w[a] * ay.w[b];
          for (let c = 0; c < C; c++) {
            const src = ((n * H + yi) * W + xi) * C + c;
            const v = input[src];
            const g = cot[p * C + c];
            r.out[p * C + c] += w * v;
            r.outMag[p * C + c] += Math.abs(w * v);
            r.dInput[src] += w * g;
            r.dInputMag[src] += Math.abs(w * g);
            const tx = v * g * ax.dw[a] * ay.w[b] * ax.mult;
            const ty = v * g * ay.dw[b] * ax.w[a] * ay.mult;
            gx += tx;
            gy += ty;
            gxMag += Math.abs(tx);
            gyMag += Math.abs(ty);
          }
        }
      }
      r.dGrid[2 * p] = gx;
      r.dGrid[2 * p + 1] = gy;
      r.dGridMag[2 * p] = gxMag;
      r.dGridMag[2 * p + 1] = gyMag;
    }
  }
  return r;
}

const RTOL = 1e-5;

/**
 * Worst |got - ref| / (sum of |terms|) over the tensor; elements whose terms are all zero must be
 * exactly zero. Returns the worst ratio (Infinity on a nonzero where zero is required).
 */
function worstRel(got: ArrayLike<number>, ref: Float64Array, mag: Float64Array): number {
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    const r = mag[i] === 0 ? (err === 0 ? 0 : Number.POSITIVE_INFINITY) : err / mag[i];
    if (!(r <= worst)) worst = r; // also catches NaN
  }
  return worst;
}

interface Worst {
  out: number;
  dInput: number;
  dGrid: number;
}

/** Runs gridSample + its vjp (each implementation) and compares everything with the naive loop. */
function compareWithNaive(
  inputData: Float32Array,
  inShape: [number, number, number, number],
  gridData: Float32Array,
  gridHW: [number, number],
  settings: { paddingMode: GridSamplePaddingMode; alignCorners: boolean },
  seed: number,
): Worst {
  const [N, , , C] = inShape;
  const [Ho, Wo] = gridHW;
  const cot = uniform(N * Ho * Wo * C, -1, 1, prng(seed));
  const ref = naive(inputData, inShape, gridData, gridHW, cot, settings.paddingMode, settings.alignCorners);
  const worst: Worst = { out: 0, dInput: 0, dGrid: 0 };
  for (const implementation of IMPLS) {
    const w = runOne(inputData, inShape, gridData, gridHW, cot, { ...settings, implementation }, ref);
    worst.out = Math.max(worst.out, w.out);
    worst.dInput = Math.max(worst.dInput, w.dInput);
    worst.dGrid = Math.max(worst.dGrid, w.dGrid);
  }
  return worst;
}

/** One implementation: values and both gradients, with a leak check. */
function runOne(
  inputData: Float32Array,
  inShape: [number, number, number, number],
  gridData: Float32Array,
  [Ho, Wo]: [number, number],
  cot: Float32Array,
  opts: GridSampleOptions,
  ref: Ref,
): Worst {
  const [N, , , C] = inShape;
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(inputData, inShape);
  const g = tf.tensor4d(gridData, [N, Ho, Wo, 2]);
  const dy = tf.tensor4d(cot, [N, Ho, Wo, C]);
  const out = gridSample(x, g, opts);
  const [dx, dg] = tf.grads((a: tf.Tensor, b: tf.Tensor) => gridSample(a as tf.Tensor4D, b as tf.Tensor4D, opts))([x, g], dy);
  expect(out.shape).toEqual([N, Ho, Wo, C]);
  expect(dx.shape).toEqual(inShape);
  expect(dg.shape).toEqual([N, Ho, Wo, 2]);
  const got = { out: out.dataSync(), dx: dx.dataSync(), dg: dg.dataSync() };
  tf.dispose([x, g, dy, out, dx, dg]);
  expect(tf.memory().numTensors).toBe(before);
  return {
    out: worstRel(got.out, ref.out, ref.outMag),
    dInput: worstRel(got.dx, ref.dInput, ref.dInputMag),
    dGrid: worstRel(got.dg, ref.dGrid, ref.dGridMag),
  };
}

function expectWithin(w: Worst, label: string): void {
  // One line per comparison with the measured worst relative errors.
  console.log(
    `${label}: worst rel err out ${w.out.toExponential(2)}, dInput ${w.dInput.toExponential(2)}, dGrid ${w.dGrid.toExponential(2)}`,
  );
  expect(w.out).toBeLessThanOrEqual(RTOL);
  expect(w.dInput).toBeLessThanOrEqual(RTOL);
  expect(w.dGrid).toBeLessThanOrEqual(RTOL);
}

const SETTINGS: { paddingMode: GridSamplePaddingMode; alignCorners: boolean }[] = [
  { paddingMode: 'zeros', alignCorners: false },
  { paddingMode: 'zeros', alignCorners: true },
  { paddingMode: 'border', alignCorners: false },
  { paddingMode: 'border', alignCorners: true },
];

/**
 * Coordinates that hit every special case for maps of size 4 and 5: exactly -1 / +1, integer pixels
 * and pixel edges under both conventions (x = (2k+1)/4 - 1, x = k/2 - 1), just inside and just
 * outside [-1, 1], the first out-of-map corner (x = +-1.25 with W = 4, alignCorners false), far outside.
 */
const SPECIAL = [
  -40, -1.5, -1.25, -1.0000001, -1, -0.99999994, -0.75, -0.6, -0.5, -0.25, 0, 0.1, 0.25, 0.5, 0.75, 0.99999994, 1, 1.0000001, 1.25, 1.5, 40,
];

for (const backend of testBackends()) {
  describe(`gridSample on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend, { log: false });
    });

    test('random grids (odd sizes, N > 1, C > 1, points outside) match the naive loop', () => {
      for (const [si, s] of SETTINGS.entries()) {
        const rand = prng(100 + si);
        const inShape: [number, number, number, number] = [2, 5, 7, 3];
        const input = uniform(2 * 5 * 7 * 3, -1, 1, rand);
        const grid = uniform(2 * 4 * 6 * 2, -1.3, 1.3, rand);
        expectWithin(compareWithNaive(input, inShape, grid, [4, 6], s, 200 + si), `${backend} random ${JSON.stringify(s)}`);
      }
    });

    test('border, integer-pixel and far-outside points match the naive loop (maps 5x4 and 4x5)', () => {
      for (const [si, s] of SETTINGS.entries()) {
        for (const [H, W] of [
          [5, 4],
          [4, 5],
        ]) {
          const rand = prng(300 + si);
          const K = SPECIAL.length;
          // every (x, y) pair of SPECIAL, batch 2 with the y values reversed in the second image
          const grid = new Float32Array(2 * K * K * 2);
          for (let n = 0; n < 2; n++) {
            for (let i = 0; i < K; i++) {
              for (let j = 0; j < K; j++) {
                const o = ((n * K + i) * K + j) * 2;
                grid[o] = SPECIAL[j];
                grid[o + 1] = SPECIAL[n === 0 ? i : K - 1 - i];
              }
            }
          }
          const inShape: [number, number, number, number] = [2, H, W, 2];
          const input = uniform(2 * H * W * 2, -1, 1, rand);
          expectWithin(compareWithNaive(input, inShape, grid, [K, K], s, 400 + si), `${backend} special ${H}x${W} ${JSON.stringify(s)}`);
        }
      }
    });

    test('a 1x1 map and a 1-pixel-high map match the naive loop', () => {
      for (const [si, s] of SETTINGS.entries()) {
        for (const [H, W] of [
          [1, 1],
          [1, 6],
        ]) {
          const rand = prng(500 + si);
          const inShape: [number, number, number, number] = [1, H, W, 3];
          const input = uniform(H * W * 3, -1, 1, rand);
          const grid = uniform(3 * 3 * 2, -1.5, 1.5, rand);
          grid.set([1, -1, -1, 1, 0, 0], 0);
          expectWithin(compareWithNaive(input, inShape, grid, [3, 3], s, 600 + si), `${backend} ${H}x${W} ${JSON.stringify(s)}`);
        }
      }
    });

    test('DAT sampling grids (golden debug.pos, (y, x) -> (x, y)) on the golden x match the naive loop', () => {
      for (const name of ['dat_c32_s1_k9_orfm1_b2_12x12', 'dat_c32_s1_k9_orf2_b2_12x12', 'dat_c32_s2_k5_orfm1_b2_12x12']) {
        const c = loadCase(name);
        expect(c.json.grid_sample).toMatch(/align_corners=True/);
        const xs = c.get('input.x');
        const pos = c.get('debug.pos'); // (B, groups, Hk, Wk, 2) normalised (y, x)
        const [B, G, Hk, Wk] = pos.shape;
        expect(G).toBe(1);
        const [, Cx, H, W] = xs.shape;
        const nhwc = tf.tidy(() =>
          tf.transpose(tf.tensor4d(xs.data as Float32Array, xs.shape as [number, number, number, number]), [0, 2, 3, 1]),
        ); // NCHW -> NHWC
        const input = nhwc.dataSync() as Float32Array;
        nhwc.dispose();
        const p = pos.data as Float32Array;
        const grid = new Float32Array(B * Hk * Wk * 2);
        for (let i = 0; i < B * Hk * Wk; i++) {
          grid[2 * i] = p[2 * i + 1]; // x
          grid[2 * i + 1] = p[2 * i]; // y
        }
        const onBorder = Array.from(grid).filter((v) => Math.abs(v) === 1).length;
        const s = { paddingMode: 'zeros' as const, alignCorners: true };
        expectWithin(compareWithNaive(input, [B, H, W, Cx], grid, [Hk, Wk], s, 700), `${backend} ${name} (${onBorder} coords exactly +-1)`);
      }
    });

    test('MSDeformAttn sampling grids (golden debug.sampling_locations, per level and head) match the naive loop', () => {
      const c = loadCase('msdeformattn_d32_l3_h4_p4_b2_8x8-4x4-2x2');
      expect(c.json.grid_sample).toMatch(/align_corners=False/);
      const value = c.get('debug.value'); // (N, S, M, D)
      const loc = c.get('debug.sampling_locations'); // (N, Lq, M, L, P, 2), (x, y) in [0, 1]
      const shapes = c.json.case_details.spatial_shapes as [number, number][];
      const [N, S, M, D] = value.shape;
      const [, Lq, , L, Pn] = loc.shape;
      expect(L).toBe(shapes.length);
      let start = 0;
      for (const [l, [H, W]] of shapes.entries()) {
        const [img, gr] = tf.tidy(() => {
          const v = tf.tensor4d(value.data as Float32Array, [N, S, M, D]);
          const lv = tf.slice(v, [0, start, 0, 0], [N, H * W, M, D]); // level l: [N, H*W, M, D]
          const im = tf.reshape(tf.transpose(tf.reshape(lv, [N, H, W, M, D]), [0, 3, 1, 2, 4]), [N * M, H, W, D]); // [N, H, W, M, D] -> [N*M, H, W, D]
          const lc = tf.tensor(loc.data as Float32Array, loc.shape);
          const ll = tf.reshape(tf.slice(lc, [0, 0, 0, l, 0, 0], [N, Lq, M, 1, Pn, 2]), [N, Lq, M, Pn, 2]); // level l
          const g = tf.reshape(tf.transpose(ll, [0, 2, 1, 3, 4]), [N * M, Lq, Pn, 2]); // [N, Lq, M, P, 2] -> [N*M, Lq, P, 2]
          return [im, tf.sub(tf.mul(g, 2), 1)]; // grid_sample(2 * loc - 1)
        });
        const input = img.dataSync() as Float32Array;
        const grid = gr.dataSync() as Float32Array;
        tf.dispose([img, gr]);
        start += H * W;
        const s = { paddingMode: 'zeros' as const, alignCorners: false };
        expectWithin(
          compareWithNaive(input, [N * M, H, W, D], grid, [Lq, Pn], s, 800 + l),
          `${backend} msdeformattn level ${l} (${H}x${W})`,
        );
      }
    });

    test("Deformable-DETR's ms_deform_attn_core_pytorch built on gridSample reproduces PyTorch's output and gradients", () => {
      const c = loadCase('msdeform_core_n2_m4_d8_l3_p4_lq20_8x8-4x4-2x2');
      const shapes = c.json.case_details.spatial_shapes as [number, number][];
      const tol = c.json.tolerance.per_tensor as Record<string, { max_abs: number; rel_l2: number }>;
      const t = (k: string) => {
        const s = c.get(k);
        return tf.tensor(s.data as Float32Array, s.shape);
      };
      const before = tf.memory().numTensors;
      const value = t('input.value'); // (N, S, M, D)
      const locs = t('input.sampling_locations'); // (N, Lq, M, L, P, 2)
      const attn = t('input.attention_weights'); // (N, Lq, M, L, P)
      const cot = t('cotangent.output'); // (N, Lq, M*D)
      const [N, S, M, D] = value.shape;
      const [, Lq, , L, Pn] = locs.shape;
      expect(L).toBe(shapes.length);
      for (const implementation of IMPLS) {
        const core = (v: tf.Tensor, sl: tf.Tensor, aw: tf.Tensor): tf.Tensor => {
          let acc: tf.Tensor | null = null;
          let start = 0;
          for (const [l, [H, W]] of shapes.entries()) {
            const lv = tf.slice(v, [0, start, 0, 0], [N, H * W, M, D]); // [N, H*W, M, D]
            start += H * W;
            const img = tf.reshape(tf.transpose(tf.reshape(lv, [N, H, W, M, D]), [0, 3, 1, 2, 4]), [N * M, H, W, D]); // -> [N*M, H, W, D]
            const ll = tf.reshape(tf.slice(sl, [0, 0, 0, l, 0, 0], [N, Lq, M, 1, Pn, 2]), [N, Lq, M, Pn, 2]);
            const grid = tf.sub(tf.mul(tf.reshape(tf.transpose(ll, [0, 2, 1, 3, 4]), [N * M, Lq, Pn, 2]), 2), 1); // -> [N*M, Lq, P, 2]
            const sampled = gridSample(img as tf.Tensor4D, grid as tf.Tensor4D, {
              alignCorners: false,
              paddingMode: 'zeros',
              implementation,
            }); // [N*M, Lq, P, D]
            const al = tf.reshape(tf.slice(aw, [0, 0, 0, l, 0], [N, Lq, M, 1, Pn]), [N, Lq, M, Pn]);
            const a = tf.reshape(tf.transpose(al, [0, 2, 1, 3]), [N * M, Lq, Pn, 1]); // [N, Lq, M, P] -> [N*M, Lq, P, 1]
            const term = tf.sum(tf.mul(sampled, a), 2); // [N*M, Lq, D]
            acc = acc ? tf.add(acc, term) : term;
          }
          // [N*M, Lq, D] -> [N, M, Lq, D] -> [N, Lq, M, D] -> [N, Lq, M*D]
          return tf.reshape(tf.transpose(tf.reshape(acc as tf.Tensor, [N, M, Lq, D]), [0, 2, 1, 3]), [N, Lq, M * D]);
        };
        const out = tf.tidy(() => core(value, locs, attn));
        const grads = tf.grads((v: tf.Tensor, sl: tf.Tensor, aw: tf.Tensor) => core(v, sl, aw))([value, locs, attn], cot);
        const results: [string, tf.Tensor][] = [
          ['output.output', out],
          ['grad.input.value', grads[0]],
          ['grad.input.sampling_locations', grads[1]],
          ['grad.input.attention_weights', grads[2]],
        ];
        for (const [key, got] of results) {
          const ref = c.get(key);
          expect(got.shape).toEqual(ref.shape);
          const g = got.dataSync();
          const r = ref.data as Float32Array;
          let maxAbs = 0;
          let num = 0;
          let den = 0;
          for (let i = 0; i < r.length; i++) {
            const e = Math.abs(g[i] - r[i]);
            if (!(e <= maxAbs)) maxAbs = e;
            num += e * e;
            den += r[i] * r[i];
          }
          const relL2 = Math.sqrt(num / den);
          console.log(
            `${backend} ${implementation} msdeform_core ${key}: max_abs ${maxAbs.toExponential(2)} (tol ${tol[key].max_abs}), rel_l2 ${relL2.toExponential(2)} (tol ${tol[key].rel_l2})`,
          );
          expect(maxAbs).toBeLessThanOrEqual(tol[key].max_abs);
          expect(relL2).toBeLessThanOrEqual(tol[key].rel_l2);
        }
        tf.dispose([out, ...grads]);
      }
      tf.dispose([value, locs, attn, cot]);
      expect(tf.memory().numTensors).toBe(before);
      expect(S).toBe(shapes.reduce((a, [h, w]) => a + h * w, 0));
    });

    test('the vjp matches central finite differences of the float64 forward', () => {
      for (const [si, s] of SETTINGS.entries()) {
        const rand = prng(900 + si);
        const [N, H, W, C, Ho, Wo] = [2, 3, 4, 2, 2, 3];
        const input = uniform(N * H * W * C, -1, 1, rand);
        // points strictly inside cells (no kink within the step) and some outside the map
        const grid = uniform(N * Ho * Wo * 2, -1.4, 1.4, rand);
        const cot = uniform(N * Ho * Wo * C, -1, 1, prng(1000 + si));
        const L = (inp: ArrayLike<number>, grd: ArrayLike<number>): number => {
          const o = naiveForward64(inp, [N, H, W, C], grd, [Ho, Wo], s.paddingMode, s.alignCorners);
          let acc = 0;
          for (let i = 0; i < o.length; i++) acc += o[i] * cot[i];
          return acc;
        };
        const eps = 1e-6;
        for (const implementation of IMPLS) {
          const before = tf.memory().numTensors;
          const grads = tf.tidy(() =>
            tf.grads((a: tf.Tensor, b: tf.Tensor) => gridSample(a as tf.Tensor4D, b as tf.Tensor4D, { ...s, implementation }))(
              [tf.tensor4d(input, [N, H, W, C]), tf.tensor4d(grid, [N, Ho, Wo, 2])],
              tf.tensor4d(cot, [N, Ho, Wo, C]),
            ),
          );
          const [dx, dg] = grads.map((t) => Float64Array.from(t.dataSync()));
          tf.dispose(grads);
          expect(tf.memory().numTensors).toBe(before);
          let worst = 0;
          let worstScale = 0;
          const check = (which: 'input' | 'grid', got: Float64Array) => {
            const base = Float64Array.from(which === 'input' ? input : grid);
            for (let i = 0; i < base.length; i++) {
              const plus = Float64Array.from(base);
              const minus = Float64Array.from(base);
              plus[i] += eps;
              minus[i] -= eps;
              const fd = which === 'input' ? (L(plus, grid) - L(minus, grid)) / (2 * eps) : (L(input, plus) - L(input, minus)) / (2 * eps);
              const err = Math.abs(fd - got[i]);
              worst = Math.max(worst, err);
              worstScale = Math.max(worstScale, Math.abs(fd));
            }
          };
          check('input', dx);
          check('grid', dg);
          console.log(
            `${backend} ${implementation} finite differences ${JSON.stringify(s)}: worst abs err ${worst.toExponential(2)} (max |fd| ${worstScale.toFixed(3)})`,
          );
          expect(worstScale).toBeGreaterThan(0.1);
          expect(worst).toBeLessThanOrEqual(1e-5 * Math.max(1, worstScale));
        }
      }
    });

    test('unsupported modes, padding modes and bad shapes throw with the alternatives', () => {
      const before = tf.memory().numTensors;
      const x = tf.zeros([1, 3, 3, 2]) as tf.Tensor4D;
      const g = tf.zeros([1, 2, 2, 2]) as tf.Tensor4D;
      expect(() => gridSample(x, g, { mode: 'nearest' } as unknown as GridSampleOptions)).toThrow(
        'gridSample: unsupported mode "nearest"; supported: bilinear',
      );
      expect(() => gridSample(x, g, { mode: 'bicubic' } as unknown as GridSampleOptions)).toThrow(/supported: bilinear/);
      expect(() => gridSample(x, g, { paddingMode: 'reflection' } as unknown as GridSampleOptions)).toThrow(
        'gridSample: unsupported paddingMode "reflection"; supported: zeros, border',
      );
      const g2 = tf.zeros([2, 2, 2, 2]) as tf.Tensor4D;
      expect(() => gridSample(x, g2)).toThrow(/batch sizes differ/);
      const g3 = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
      expect(() => gridSample(x, g3)).toThrow(/grid must be \[N, Ho, Wo, 2\]/);
      const x3 = tf.zeros([3, 3, 2]) as unknown as tf.Tensor4D;
      expect(() => gridSample(x3, g)).toThrow(/input must be rank 4/);
      const xi = tf.zeros([1, 3, 3, 2], 'int32') as tf.Tensor4D;
      expect(() => gridSample(xi, g)).toThrow(/must be float32/);
      tf.dispose([x, g, g2, g3, x3, xi]);
      expect(tf.memory().numTensors).toBe(before);
    });

    test('non-finite grid values give NaN output rows, finite points are unaffected', () => {
      for (const implementation of IMPLS) {
        for (const paddingMode of ['zeros', 'border'] as const) {
          const before = tf.memory().numTensors;
          const rand = prng(1200);
          const input = uniform(1 * 3 * 4 * 2, -1, 1, rand);
          const gridData = Float32Array.from([Number.NaN, 0, 0.2, Number.NaN, 0.3, -0.4, Number.POSITIVE_INFINITY, 0.1]);
          const x = tf.tensor4d(input, [1, 3, 4, 2]);
          const g = tf.tensor4d(gridData, [1, 1, 4, 2]);
          const out = gridSample(x, g, { paddingMode, implementation });
          const o = out.dataSync();
          const ref = naive(input, [1, 3, 4, 2], gridData.subarray(4, 6), [1, 1], new Float32Array(2), paddingMode, false);
          const label = `${implementation} ${paddingMode}`;
          expect(Array.from(o.subarray(0, 4)).every(Number.isNaN), label).toBe(true); // NaN in x, NaN in y
          expect(worstRel(o.subarray(4, 6), ref.out, ref.outMag), label).toBeLessThanOrEqual(RTOL);
          // x = +Inf: NaN with 'zeros'; clipped to the right border with 'border'
          expect(Array.from(o.subarray(6, 8)).every(Number.isNaN), label).toBe(paddingMode === 'zeros');
          tf.dispose([x, g, out]);
          expect(tf.memory().numTensors).toBe(before);
        }
      }
    });

    test('default options are PyTorch defaults (zeros, alignCorners false)', () => {
      const before = tf.memory().numTensors;
      const rand = prng(1100);
      const input = uniform(1 * 4 * 5 * 2, -1, 1, rand);
      const grid = uniform(1 * 3 * 3 * 2, -1.3, 1.3, rand);
      const x = tf.tensor4d(input, [1, 4, 5, 2]);
      const g = tf.tensor4d(grid, [1, 3, 3, 2]);
      const a = gridSample(x, g);
      const b = gridSample(x, g, { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false });
      const ref = naive(input, [1, 4, 5, 2], grid, [3, 3], new Float32Array(18), 'zeros', false);
      expect(worstRel(a.dataSync(), ref.out, ref.outMag)).toBeLessThanOrEqual(RTOL);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      tf.dispose([x, g, a, b]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

/** Forward only, fully float64 (no float32 rounding of coordinates), for finite differences. */
function naiveForward64(
  input: ArrayLike<number>,
  [N, H, W, C]: number[],
  grid: ArrayLike<number>,
  [Ho, Wo]: number[],
  padding: GridSamplePaddingMode,
  align: boolean,
): Float64Array {
  const out = new Float64Array(N * Ho * Wo * C);
  const pixel = (c: number, size: number) => {
    const pix = align ? ((c + 1) / 2) * (size - 1) : ((c + 1) * size - 1) / 2;
    return padding === 'border' ? Math.min(Math.max(pix, 0), size - 1) : pix;
  };
  for (let p = 0; p < N * Ho * Wo; p++) {
    const n = Math.floor(p / (Ho * Wo));
    const px = pixel(grid[2 * p], W);
    const py = pixel(grid[2 * p + 1], H);
    const x0 = Math.floor(px);
    const y0 = Math.floor(py);
    for (const [xi, wx] of [
      [x0, x0 + 1 - px],
      [x0 + 1, px - x0],
    ]) {
      for (const [yi, wy] of [
        [y0, y0 + 1 - py],
        [y0 + 1, py - y0],
      ]) {
        if (xi < 0 || xi >= W || yi < 0 || yi >= H) continue;
        for (let c = 0; c < C; c++) out[p * C + c] += wx * wy * input[((n * H + yi) * W + xi) * C + c];
      }
    }
  }
  return out;
}
