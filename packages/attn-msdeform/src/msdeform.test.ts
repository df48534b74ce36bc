import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatParityReport, Generator, initBackend, loadParityCase, type Module, manualSeed, runParityCase } from '@ablate/core';
import { goldenCasePaths, makeCtx, maxAbsRel, testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  flops,
  goldenAdapter,
  goldenMatches,
  goldenMatchesCore,
  goldenMatchesModule,
  MSDeformAttn,
  MSDeformAttn2d,
  msDeformAttnCore,
  plugin,
  type SpatialShapes,
  sinePositionEmbedding,
} from './index.js';

const GOLDEN = fileURLToPath(new URL('../../../fixtures/golden/attention/', import.meta.url));

function rand(shape: number[], gen: Generator, lo = -1, hi = 1): { t: tf.Tensor; a: Float64Array } {
  const n = shape.reduce((x, y) => x * y, 1);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(gen.uniform(lo, hi));
  return { t: tf.tensor(Float32Array.from(a), shape), a };
}

// ---------------------------------------------------------------------------------------------
// Naive float64 references, written from the official semantics (fixtures README, ms_deform_attn.py).

/** Bilinear sample of level map v (h x w x D, channel stride) at normalised loc, align_corners false, zeros. */
function bilinear(get: (y: number, x: number, d: number) => number, h: number, w: number, lx: number, ly: number, d: number): number {
  const px = lx * w - 0.5;
  const py = ly * h - 0.5;
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  let s = 0;
  for (const [yy, wy] of [
    [y0, y0 + 1 - py],
    [y0 + 1, py - y0],
  ]) {
    for (const [xx, wx] of [
      [x0, x0 + 1 - px],
      [x0 + 1, px - x0],
    ]) {
      if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += wy * wx * get(yy, xx, d);
    }
  }
  return s;
}

/** ms_deform_attn_core_pytorch in loops: value [N,S,M,D], loc [N,Lq,M,L,P,2], w [N,Lq,M,L,P] -> [N,Lq,M*D]. */
function naiveCore(
  value: Float64Array,
  [N, S, M, D]: number[],
  shapes: SpatialShapes,
  loc: Float64Array,
  w: Float64Array,
  Lq: number,
  P: number,
): Float64Array {
  const L = shapes.length;
  const out = new Float64Array(N * Lq * M * D);
  const starts: number[] = [];
  let acc = 0;
  for (const [h, ww] of shapes) {
    starts.push(acc);
    acc += h * ww;
  }
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Lq; q++) {
      for (let m = 0; m < M; m++) {
        for (let l = 0; l < L; l++) {
          const [h, ww] = shapes[l];
          const get = (y: number, x: number, d: number) => value[((n * S + starts[l] + y * ww + x) * M + m) * D + d];
          for (let p = 0; p < P; p++) {
            const base = ((((n * Lq + q) * M + m) * L + l) * P + p) * 2;
            const wt = w[(((n * Lq + q) * M + m) * L + l) * P + p];
            for (let d = 0; d < D; d++) out[((n * Lq + q) * M + m) * D + d] += wt * bilinear(get, h, ww, loc[base], loc[base + 1], d);
          }
        }
      }
    }
  }
  return out;
}

function linear(x: Float64Array, rows: number, w: Float64Array, b: Float64Array, cin: number, cout: number): Float64Array {
  const y = new Float64Array(rows * cout);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < cout; o++) {
      let s = b[o];
      for (let i = 0; i < cin; i++) s += w[o * cin + i] * x[r * cin + i];
      y[r * cout + o] = s;
    }
  }
  return y;
}

function stateArrays(m: Module): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [k, t] of m.stateDict()) {
    out.set(k, Float64Array.from(t.dataSync() as Float32Array));
    t.dispose();
  }
  return out;
}

/** The official MSDeformAttn.forward in loops (reference points [N, Lq, L, 2 | 4], optional padding mask). */
function naiveModule(
  m: MSDeformAttn,
  sd: Map<string, Float64Array>,
  query: Float64Array,
  ref: Float64Array,
  refDim: number,
  input: Float64Array,
  N: number,
  Lq: number,
  shapes: SpatialShapes,
  mask: Uint8Array | null,
): Float64Array {
  const C = m.dModel;
  const M = m.nHeads;
  const L = m.nLevels;
  const P = m.nPoints;
  const D = C / M;
  const S = shapes.reduce((a, [h, w]) => a + h * w, 0);
  const p = (k: string) => sd.get(k) as Float64Array;
  const value = linear(input, N * S, p('value_proj.weight'), p('value_proj.bias'), C, C);
  if (mask) for (let i = 0; i < N * S; i++) if (mask[i]) for (let c = 0; c < C; c++) value[i * C + c] = 0;
  const off = linear(query, N * Lq, p('sampling_offsets.weight'), p('sampling_offsets.bias'), C, M * L * P * 2);
  const logits = linear(query, N * Lq, p('attention_weights.weight'), p('attention_weights.bias'), C, M * L * P);
  const w = new Float64Array(N * Lq * M * L * P);
  for (let r = 0; r < N * Lq * M; r++) {
    let mx = -Infinity;
    for (let j = 0; j < L * P; j++) mx = Math.max(mx, logits[r * L * P + j]);
    let z = 0;
    for (let j = 0; j < L * P; j++) z += Math.exp(logits[r * L * P + j] - mx);
    for (let j = 0; j < L * P; j++) w[r * L * P + j] = Math.exp(logits[r * L * P + j] - mx) / z;
  }
  const loc = new Float64Array(N * Lq * M * L * P * 2);
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Lq; q++) {
      for (let mm = 0; mm < M; mm++) {
        for (let l = 0; l < L; l++) {
          const rb = ((n * Lq + q) * L + l) * refDim;
          for (let pp = 0; pp < P; pp++) {
            const i = ((((n * Lq + q) * M + mm) * L + l) * P + pp) * 2;
            const oi = (n * Lq + q) * M * L * P * 2 + ((mm * L + l) * P + pp) * 2;
            if (refDim === 2) {
              loc[i] = ref[rb] + off[oi] / shapes[l][1];
              loc[i + 1] = ref[rb + 1] + off[oi + 1] / shapes[l][0];
            } else {
              loc[i] = ref[rb] + (off[oi] / P) * ref[rb + 2] * 0.5;
              loc[i + 1] = ref[rb + 1] + (off[oi + 1] / P) * ref[rb + 3] * 0.5;
            }
          }
        }
      }
    }
  }
  const core = naiveCore(value, [N, S, M, D], shapes, loc, w, Lq, P);
  return linear(core, N * Lq, p('output_proj.weight'), p('output_proj.bias'), C, C);
}

function randomiseParams(m: Module, seed: number, std: number): void {
  const gen = new Generator(seed);
  for (const [name, p] of m.namedParameters()) {
    const v = new Float32Array(p.size);
    // offsets in pixels: a larger bias spread sends samples across and outside the maps
    const s = name === 'sampling_offsets.bias' ? 2 : std;
    for (let i = 0; i < v.length; i++) v[i] = gen.normal(0, s);
    p.variable.assign(tf.tensor(v, p.shape));
  }
}

for (const backend of testBackends()) {
  describe(`MSDeformAttn golden parity (${backend})`, () => {
    const files = goldenCasePaths(GOLDEN, goldenMatches);
    it('finds the module and core cases by their JSON', () => {
      const jsons = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
      expect(jsons.filter(goldenMatchesModule).length).toBeGreaterThanOrEqual(1);
      expect(jsons.filter(goldenMatchesCore).length).toBeGreaterThanOrEqual(1);
    });
    for (const file of files) {
      it(path.basename(file, '.json'), async () => {
        await initBackend(backend, { log: false });
        const c = loadParityCase(file);
        const before = tf.memory().numTensors;
        const report = runParityCase(c, goldenAdapter);
        expect(tf.memory().numTensors).toBe(before);
        console.log(
          `[${backend}] ${c.name}: worst ${report.worst.key} ratio ${report.worst.ratio.toFixed(3)} (max_abs ${report.worst.maxAbs.toExponential(2)})`,
        );
        if (!report.pass) console.log(formatParityReport(report));
        expect(report.pass).toBe(true);
      });
    }
  });
}

describe('MSDeformAttn vs naive float64 loops (cpu)', () => {
  const shapes: SpatialShapes = [
    [5, 3],
    [2, 4],
    [1, 1],
  ];
  it('core: random locations in and around the maps', async () => {
    await initBackend('cpu', { log: false });
    const gen = new Generator(3);
    const [N, M, D, L, P, Lq] = [2, 3, 4, 3, 2, 7];
    const S = 15 + 8 + 1;
    const v = rand([N, S, M, D], gen);
    const loc = rand([N, Lq, M, L, P, 2], gen, -0.2, 1.2);
    const w = rand([N, Lq, M, L, P], gen, 0, 1);
    const before = tf.memory().numTensors;
    const out = msDeformAttnCore(v.t, shapes, loc.t, w.t);
    expect(out.shape).toEqual([N, Lq, M * D]);
    const err = maxAbsRel(out.dataSync(), naiveCore(v.a, [N, S, M, D], shapes, loc.a, w.a, Lq, P));
    console.log(`core vs naive: max_abs ${err.abs.toExponential(2)}`);
    expect(err.rel).toBeLessThan(1e-5);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([v.t, loc.t, w.t]);
  });

  for (const refDim of [2, 4]) {
    it(`module: reference ${refDim === 2 ? 'points' : 'boxes'}, with a padding mask`, async () => {
      await initBackend('cpu', { log: false });
      manualSeed(1);
      const m = new MSDeformAttn({ dModel: 12, nLevels: 3, nHeads: 3, nPoints: 2 });
      randomiseParams(m, 5, 0.3);
      const gen = new Generator(9);
      const [N, Lq] = [2, 6];
      const S = 24;
      const q = rand([N, Lq, 12], gen);
      const inp = rand([N, S, 12], gen);
      const ref = rand([N, Lq, 3, refDim], gen, 0, 1);
      const maskArr = new Uint8Array(N * S);
      for (let i = 0; i < maskArr.length; i++) maskArr[i] = gen.random() < 0.2 ? 1 : 0;
      const mask = tf.tensor(maskArr, [N, S], 'bool');
      const before = tf.memory().numTensors;
      const out = m.forward(q.t, ref.t, inp.t, shapes, undefined, mask);
      const want = naiveModule(m, stateArrays(m), q.a, ref.a, refDim, inp.a, N, Lq, shapes, maskArr);
      const err = maxAbsRel(out.dataSync(), want);
      console.log(`module (ref dim ${refDim}) vs naive: max_abs ${err.abs.toExponential(2)}`);
      expect(err.rel).toBeLessThan(1e-5);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([q.t, inp.t, ref.t, mask]);
      m.dispose();
    });
  }

  it('official init: offsets point in M directions scaled by point index, attention uniform', async () => {
    await initBackend('cpu', { log: false });
    manualSeed(0);
    const m = new MSDeformAttn({ dModel: 16, nLevels: 2, nHeads: 4, nPoints: 3 });
    const sd = stateArrays(m);
    const b = sd.get('sampling_offsets.bias') as Float64Array;
    // head 1: theta = pi/2 -> (cos, sin)/max = (~0, 1); point p -> (0, p+1)
    for (let l = 0; l < 2; l++) for (let p = 0; p < 3; p++) expect(b[((1 * 2 + l) * 3 + p) * 2 + 1]).toBeCloseTo(p + 1, 6);
    expect(Math.max(...(sd.get('sampling_offsets.weight') as Float64Array).map(Math.abs))).toBe(0);
    expect(Math.max(...(sd.get('attention_weights.weight') as Float64Array).map(Math.abs))).toBe(0);
    const bound = Math.sqrt(6 / 32);
    const vw = sd.get('value_proj.weight') as Float64Array;
    expect(Math.max(...vw.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...vw.map(Math.abs))).toBeGreaterThan(bound * 0.8);
    m.dispose();
  });
});

describe('MSDeformAttn2d (single map, YOLOv8)', () => {
  it('sine position embedding = PositionEmbeddingSine(C/2, normalize=True) of the official code', async () => {
    await initBackend('cpu', { log: false });
    const [H, W, C] = [3, 5, 8];
    const t = sinePositionEmbedding(H, W, C);
    const got = t.dataSync();
    t.dispose();
    const npf = C / 2;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        // not_mask.cumsum -> i + 1; normalize: (e - 0.5) / (last + 1e-6) * 2 pi
        const ye = ((i + 1 - 0.5) / (H + 1e-6)) * 2 * Math.PI;
        const xe = ((j + 1 - 0.5) / (W + 1e-6)) * 2 * Math.PI;
        const posY: number[] = [];
        const posX: number[] = [];
        for (let k = 0; k < npf / 2; k++) {
          const dt = 10000 ** ((2 * k) / npf); // dim_t[2k] = dim_t[2k+1]
          posY.push(Math.sin(ye / dt), Math.cos(ye / dt));
          posX.push(Math.sin(xe / dt), Math.cos(xe / dt));
        }
        const want = [...posY, ...posX]; // cat((pos_y, pos_x), channel)
        for (let c = 0; c < C; c++) expect(got[(i * W + j) * C + c]).toBeCloseTo(want[c], 6);
      }
    }
  });

  it('equals MSDeformAttn(nLevels 1) on tokens + pos with pixel-centre reference points', async () => {
    await initBackend('cpu', { log: false });
    manualSeed(2);
    const [B, H, W, C] = [2, 3, 5, 16];
    const wrap = new MSDeformAttn2d(C, { nPoints: 3 });
    randomiseParams(wrap, 4, 0.3);
    const full = new MSDeformAttn({ dModel: C, nLevels: 1, nHeads: wrap.nHeads, nPoints: 3 });
    const sd = wrap.stateDict();
    full.loadStateDict(sd);
    for (const t of sd.values()) t.dispose();
    const gen = new Generator(8);
    const x = rand([B, H, W, C], gen);
    const before = tf.memory().numTensors;
    const got = wrap.forward(x.t);
    expect(tf.memory().numTensors).toBe(before + 1);
    const want = tf.tidy(() => {
      const tokens = tf.reshape(x.t, [B, H * W, C]);
      const pos = tf.reshape(sinePositionEmbedding(H, W, C), [1, H * W, C]);
      const r: number[] = [];
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) r.push((j + 0.5) / W, (i + 0.5) / H);
      const ref = tf.tile(tf.tensor4d(r, [1, H * W, 1, 2]), [B, 1, 1, 1]);
      return tf.reshape(full.forward(tf.add(tokens, pos), ref, tokens, [[H, W]]), [B, H, W, C]);
    });
    expect(maxAbsRel(got.dataSync(), want.dataSync()).abs).toBeLessThan(1e-6);
    const noPos = new MSDeformAttn2d(C, { nPoints: 3, posEmbed: false });
    const sd2 = wrap.stateDict();
    noPos.loadStateDict(sd2);
    for (const t of sd2.values()) t.dispose();
    const y2 = noPos.forward(x.t);
    expect(maxAbsRel(y2.dataSync(), want.dataSync()).abs).toBeGreaterThan(1e-4); // the embedding matters
    tf.dispose([got, want, y2, x.t]);
    wrap.dispose();
    full.dispose();
    noPos.dispose();
  });
});

describe('MSDeformAttn plugin', () => {
  const spec = plugin.modules[0];
  it('names and channel resolution', () => {
    expect(spec.name).toBe('MSDeformAttn');
    expect(spec.shapePreserving).toBe(true);
    expect(spec.channels([], makeCtx(64))).toEqual({ args: [64, { nHeads: 8, nPoints: 4, posEmbed: true }], c2: 64 });
    expect(spec.channels([1024], makeCtx(256)).c2).toBe(256);
    expect(spec.channels([256, 1, 4, 8], makeCtx(256)).args[1]).toEqual({ nHeads: 4, nPoints: 8, posEmbed: true });
    expect(spec.channels([256, { pos_embed: false }], makeCtx(256)).args[1]).toEqual({ nHeads: 8, nPoints: 4, posEmbed: false });
    expect(spec.channels([{ nPoints: 2 }], makeCtx(32)).args[1]).toEqual({ nHeads: 8, nPoints: 2, posEmbed: true });
    expect(() => spec.channels([512], makeCtx(256))).toThrow(/contradicts the input's 256 channels/);
    expect(() => spec.channels([256, 4], makeCtx(256))).toThrow(/n_levels must be 1/);
    expect(() => spec.channels([256, 1, 3], makeCtx(256))).toThrow(/n_heads 3 does not divide/);
    expect(() => spec.channels([256, { heads: 3 }], makeCtx(256))).toThrow(
      /unknown option "heads"; known: n_levels, n_heads, n_points, pos_embed/,
    );
  });

  for (const backend of testBackends()) {
    for (const c of [32, 64, 256]) {
      it(`forward + backward on every YOLOv8 map shape, c = ${c} (${backend})`, async () => {
        await initBackend(backend, { log: false });
        manualSeed(c);
        const { args } = spec.channels([], makeCtx(c));
        const m = spec.build(args, makeCtx(c)) as MSDeformAttn2d;
        const gen = new Generator(c);
        for (const shape of [
          [2, 16, 16, c],
          [1, 12, 20, c],
          [2, 2, 2, c],
          [3, 5, 7, c],
        ]) {
          const x = rand(shape, gen).t;
          const before = tf.memory().numTensors;
          const names = m.namedParameters().map(([n]) => n);
          const vars = m.trainableVariables();
          const { value, grads } = tf.variableGrads(() => {
            const y = m.forward(x);
            expect(y.shape).toEqual(shape);
            return tf.mean(tf.square(y)) as tf.Scalar;
          }, vars);
          expect(Number.isFinite(value.dataSync()[0])).toBe(true);
          vars.forEach((v, i) => {
            const g = grads[v.name];
            expect(g, `${names[i]} has no gradient`).toBeDefined();
            const d = Array.from(g.dataSync() as Float32Array);
            expect(d.every(Number.isFinite), `${names[i]} gradient not finite`).toBe(true);
            expect(Math.max(...d.map(Math.abs)), `${names[i]} gradient is zero at ${shape}`).toBeGreaterThan(0);
          });
          tf.dispose([value, ...Object.values(grads)]);
          expect(tf.memory().numTensors).toBe(before);
          x.dispose();
        }
        m.dispose();
      });
    }
  }

  it('flops = the four linears + the weighted sum', async () => {
    await initBackend('cpu', { log: false });
    manualSeed(0);
    const m = new MSDeformAttn2d(64, { nPoints: 4 });
    const [B, H, W, C] = [2, 10, 12, 64];
    const t = B * H * W;
    const want = 2 * (t * C * C * 2 + t * C * (8 * 4 * 2) + t * C * (8 * 4) + t * 4 * C);
    expect(flops(m, [[B, H, W, C]])).toBe(want);
    expect(spec.flops?.(m, [[B, H, W, C]])).toBe(want);
    m.dispose();
  });
});
