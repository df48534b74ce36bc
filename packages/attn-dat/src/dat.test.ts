import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatParityReport, Generator, initBackend, loadParityCase, type Module, manualSeed, runParityCase } from '@ablate/core';
import { goldenCasePaths, makeCtx, maxAbsRel, testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DAttention, type DAttentionOptions, defaultHeads, flops, goldenAdapter, goldenMatches, plugin } from './index.js';

const GOLDEN = fileURLToPath(new URL('../../../fixtures/golden/attention/', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Naive float64 reference of the official forward (NHWC arrays, PyTorch-layout weights), written
// from the semantics in fixtures/golden/attention/README.md, with this package's generalisation rules.

type Arr = { data: Float64Array; shape: number[] };

function stateArrays(m: Module): Map<string, Arr> {
  const out = new Map<string, Arr>();
  for (const [k, t] of m.stateDict()) {
    out.set(k, { data: Float64Array.from(t.dataSync() as Float32Array), shape: t.shape });
    t.dispose();
  }
  return out;
}

/** erf in float64: Taylor series for |x| < 3, continued fraction of erfc beyond. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 80; n++) {
      term *= (-ax * ax) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

function naiveDat(x: Float64Array, [B, H, W, C]: number[], sd: Map<string, Arr>, m: DAttention): Float64Array {
  const p = (k: string) => {
    const a = sd.get(k);
    if (!a) throw new Error(`naive: missing ${k}`);
    return a.data;
  };
  const conv1x1 = (inp: Float64Array, n: number, w: Float64Array, b: Float64Array | null, cin: number, cout: number) => {
    const out = new Float64Array(n * cout);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < cout; o++) {
        let s = b ? b[o] : 0;
        for (let c = 0; c < cin; c++) s += w[o * cin + c] * inp[i * cin + c];
        out[i * cout + o] = s;
      }
    }
    return out;
  };
  const g = m.nGroups;
  const cg = C / g;
  const heads = m.nHeads;
  const hc = m.nHeadChannels;
  const k = m.ksize;
  const s = m.stride;
  const pad = k !== s ? Math.floor(k / 2) : 0;
  const [Hk, Wk] = m.keySize(H, W);
  const ns = Hk * Wk;
  const q = conv1x1(x, B * H * W, p('proj_q.weight'), p('proj_q.bias'), C, C);
  const xs = new Float64Array(B * ns * C);
  const w0 = p('conv_offset.0.weight');
  const b0 = p('conv_offset.0.bias');
  const lnw = p('conv_offset.1.norm.weight');
  const lnb = p('conv_offset.1.norm.bias');
  const w3 = p('conv_offset.3.weight');
  for (let b = 0; b < B; b++) {
    for (let gi = 0; gi < g; gi++) {
      for (let i = 0; i < Hk; i++) {
        for (let j = 0; j < Wk; j++) {
          const a = new Float64Array(cg);
          for (let c = 0; c < cg; c++) {
            let acc = b0[c];
            for (let u = 0; u < k; u++) {
              for (let v = 0; v < k; v++) {
                const yy = i * s - pad + u;
                const xx = j * s - pad + v;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += w0[(c * k + u) * k + v] * q[((b * H + yy) * W + xx) * C + gi * cg + c];
              }
            }
            a[c] = acc;
          }
          let mean = 0;
          for (let c = 0; c < cg; c++) mean += a[c] / cg;
          let vr = 0;
          for (let c = 0; c < cg; c++) vr += (a[c] - mean) ** 2 / cg;
          const off = [0, 0];
          for (let c = 0; c < cg; c++) {
            const ln = ((a[c] - mean) / Math.sqrt(vr + 1e-5)) * lnw[c] + lnb[c];
            const ge = 0.5 * ln * (1 + erf(ln / Math.SQRT2));
            off[0] += w3[c] * ge;
            off[1] += w3[cg + c] * ge;
          }
          const dy = Math.max(Hk - 1, 1);
          const dx = Math.max(Wk - 1, 1);
          if (m.offsetRangeFactor >= 0) {
            off[0] = (Math.tanh(off[0]) / dy) * m.offsetRangeFactor;
            off[1] = (Math.tanh(off[1]) / dx) * m.offsetRangeFactor;
          }
          let py = off[0] + ((i + 0.5) / dy) * 2 - 1;
          let px = off[1] + ((j + 0.5) / dx) * 2 - 1;
          if (m.offsetRangeFactor < 0) {
            py = Math.min(1, Math.max(-1, py));
            px = Math.min(1, Math.max(-1, px));
          }
          const fy = ((py + 1) / 2) * (H - 1);
          const fx = ((px + 1) / 2) * (W - 1);
          const y0 = Math.floor(fy);
          const x0 = Math.floor(fx);
          for (let c = 0; c < cg; c++) {
            let val = 0;
            for (const [yy, wy] of [
              [y0, y0 + 1 - fy],
              [y0 + 1, fy - y0],
            ]) {
              for (const [xx, wx] of [
                [x0, x0 + 1 - fx],
                [x0 + 1, fx - x0],
              ]) {
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                val += wy * wx * x[((b * H + yy) * W + xx) * C + gi * cg + c];
              }
            }
            xs[(b * ns + i * Wk + j) * C + gi * cg + c] = val;
          }
        }
      }
    }
  }
  const kk = conv1x1(xs, B * ns, p('proj_k.weight'), p('proj_k.bias'), C, C);
  const vv = conv1x1(xs, B * ns, p('proj_v.weight'), p('proj_v.bias'), C, C);
  const out = new Float64Array(B * H * W * C);
  const scale = hc ** -0.5;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let mq = 0; mq < H * W; mq++) {
        const lg = new Float64Array(ns);
        let mx = -Infinity;
        for (let n = 0; n < ns; n++) {
          let d = 0;
          for (let e = 0; e < hc; e++) d += q[(b * H * W + mq) * C + h * hc + e] * kk[(b * ns + n) * C + h * hc + e];
          lg[n] = d * scale;
          mx = Math.max(mx, lg[n]);
        }
        let z = 0;
        for (let n = 0; n < ns; n++) z += Math.exp(lg[n] - mx);
        for (let e = 0; e < hc; e++) {
          let acc = 0;
          for (let n = 0; n < ns; n++) acc += (Math.exp(lg[n] - mx) / z) * vv[(b * ns + n) * C + h * hc + e];
          out[(b * H * W + mq) * C + h * hc + e] = acc;
        }
      }
    }
  }
  if (m.rpe_table) {
    const wr = p('rpe_table.weight');
    const br = p('rpe_table.bias');
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          for (let c = 0; c < C; c++) {
            let acc = br[c];
            for (let u = 0; u < 3; u++) {
              for (let v = 0; v < 3; v++) {
                const yy = i - 1 + u;
                const xx = j - 1 + v;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += wr[(c * 3 + u) * 3 + v] * q[((b * H + yy) * W + xx) * C + c];
              }
            }
            out[((b * H + i) * W + j) * C + c] += acc;
          }
        }
      }
    }
  }
  return conv1x1(out, B * H * W, p('proj_out.weight'), p('proj_out.bias'), C, C);
}

function randInput(shape: number[], seed: number): tf.Tensor4D {
  const gen = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = gen.normal();
  return tf.tensor4d(v, shape as [number, number, number, number]);
}

/** Scales every parameter up a little so offsets are large and sampling leaves the grid (generic regime). */
function randomiseParams(m: Module, seed: number, std = 0.3): void {
  const gen = new Generator(seed);
  for (const [, p] of m.namedParameters()) {
    const v = new Float32Array(p.size);
    for (let i = 0; i < v.length; i++) v[i] = gen.normal(0, std);
    p.variable.assign(tf.tensor(v, p.shape));
  }
}

for (const backend of testBackends()) {
  describe(`DAttention golden parity (${backend})`, () => {
    const cases = goldenCasePaths(GOLDEN, goldenMatches);
    it('finds the dat cases by their JSON', () => {
      expect(cases.length).toBeGreaterThanOrEqual(3);
    });
    for (const file of cases) {
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

        // Sampling positions against the stored debug.pos / debug.reference ((B, g, Hk, Wk, 2), (y, x)).
        const m = goldenAdapter.build(c) as DAttention;
        const sd = new Map<string, tf.Tensor>();
        for (const [k, t] of c.tensors) if (k.startsWith('param.')) sd.set(k.slice(6), tf.tensor(t.data as Float32Array, t.shape));
        m.loadStateDict(sd);
        for (const t of sd.values()) t.dispose();
        const xs = c.tensors.get('input.x');
        if (!xs) throw new Error('no input.x');
        const x = tf.tidy(() => tf.transpose(tf.tensor(xs.data as Float32Array, xs.shape), [0, 2, 3, 1]));
        const { y, pos, reference } = m.forwardWithPos(x);
        const posRef = c.tensors.get('debug.pos');
        const refRef = c.tensors.get('debug.reference');
        if (posRef) expect(maxAbsRel(pos.dataSync(), posRef.data as Float32Array).abs).toBeLessThan(1e-5);
        if (refRef) expect(maxAbsRel(reference.dataSync(), refRef.data as Float32Array).abs).toBeLessThan(1e-6);
        tf.dispose([x, y, pos, reference]);
        m.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}

describe('DAttention vs a naive float64 reference (cpu)', () => {
  const configs: { name: string; shape: number[]; opts: DAttentionOptions }[] = [
    { name: 'blog defaults, odd map', shape: [2, 5, 7, 16], opts: {} },
    { name: 'groups 2, orf 2, stride 2, k5', shape: [1, 7, 6, 16], opts: { nGroups: 2, offsetRangeFactor: 2, stride: 2, ksize: 5 } },
    { name: 'Hk = 1 (1xN offset map), orf 3', shape: [2, 1, 6, 8], opts: { offsetRangeFactor: 3, ksize: 3 } },
    { name: 'Hk = Wk = 1 (stride 2 on 2x2)', shape: [1, 2, 2, 8], opts: { stride: 2, ksize: 5 } },
    { name: 'ksize == stride on a map smaller than ksize (pad rule)', shape: [2, 3, 5, 8], opts: { stride: 4, ksize: 4 } },
    { name: 'use_pe false, 12 channels (4 heads)', shape: [1, 4, 4, 12], opts: { usePe: false } },
  ];
  for (const cfg of configs) {
    it(cfg.name, async () => {
      await initBackend('cpu', { log: false });
      manualSeed(7);
      const m = new DAttention(cfg.shape[3], cfg.opts);
      randomiseParams(m, 11);
      const x = randInput(cfg.shape, 5);
      const before = tf.memory().numTensors;
      const y = m.forward(x);
      expect(y.shape).toEqual(cfg.shape);
      const want = naiveDat(Float64Array.from(x.dataSync() as Float32Array), cfg.shape, stateArrays(m), m);
      const err = maxAbsRel(y.dataSync(), want);
      console.log(`naive ${cfg.name}: max_abs ${err.abs.toExponential(2)}, rel ${err.rel.toExponential(2)}`);
      expect(err.rel).toBeLessThan(2e-5);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      m.dispose();
    });
  }

  it('reference points: official formula for Hk >= 2, map centre for Hk = 1', () => {
    const r = DAttention.referencePoints(4, 1);
    const v = r.dataSync();
    r.dispose();
    for (let i = 0; i < 4; i++) {
      expect(v[i * 2]).toBeCloseTo(((i + 0.5) / 3) * 2 - 1, 6);
      expect(v[i * 2 + 1]).toBeCloseTo(0, 6); // Wk = 1: (0 + 0.5) / max(0, 1) * 2 - 1 = 0
    }
  });
});

describe('DAttention options and errors', () => {
  it('heads: 8 when 8 divides c, else the largest of 4, 2, 1', () => {
    expect([32, 64, 48, 20, 6, 7].map(defaultHeads)).toEqual([8, 8, 8, 4, 2, 1]);
  });
  it('rejects bad configurations with the alternatives', () => {
    expect(() => new DAttention(32, { nHeads: 5 })).toThrow(/heads dividing 32: 1, 2, 4, 8, 16, 32/);
    expect(() => new DAttention(32, { nGroups: 3 })).toThrow(/must divide nHeads/);
    expect(() => new DAttention(32, { fixedPe: true })).toThrow(/depthwise-conv position encoding/);
    expect(() => new DAttention(32, { noOff: true })).toThrow(/noOff/);
  });
  it('rejects an input with other channels', async () => {
    await initBackend('cpu', { log: false });
    manualSeed(0);
    const m = new DAttention(16);
    const x = tf.zeros([1, 4, 4, 8]);
    expect(() => m.forward(x)).toThrow(/8 channels, the module was built for 16/);
    x.dispose();
    m.dispose();
  });
});

describe('DAttention plugin', () => {
  const spec = plugin.modules[0];
  it('names and channel resolution', () => {
    expect(spec.name).toBe('DAttention');
    expect(spec.aliases).toEqual(['DAttentionBaseline', 'DAT']);
    expect(spec.shapePreserving).toBe(true);
    expect(spec.channels([], makeCtx(64))).toEqual({ args: [64, { nHeads: 8, nHeadChannels: 8 }], c2: 64 });
    // [1024] at scale n is 256 after width scaling; the raw value equal to the input is accepted too
    expect(spec.channels([1024], makeCtx(256)).c2).toBe(256);
    expect(spec.channels([256], makeCtx(256)).c2).toBe(256);
    expect(() => spec.channels([512], makeCtx(256))).toThrow(/contradicts the input's 256 channels/);
    // positional (blog order) and mapping forms
    const pos = spec.channels([1024, null, 4, null, 2, 0, 0, 2, 2, true, true, false, false, 5], makeCtx(256)).args[1];
    expect(pos).toEqual({
      nHeads: 4,
      nHeadChannels: 64,
      nGroups: 2,
      attnDrop: 0,
      projDrop: 0,
      stride: 2,
      offsetRangeFactor: 2,
      usePe: true,
      dwcPe: true,
      noOff: false,
      fixedPe: false,
      ksize: 5,
    });
    const map = spec.channels([{ stride: 2, ksize: 5, offsetRangeFactor: 2 }], makeCtx(32)).args[1];
    expect(map).toEqual({ nHeads: 8, nHeadChannels: 4, stride: 2, ksize: 5, offsetRangeFactor: 2 });
    expect(() => spec.channels([32, { strides: 2 }], makeCtx(32))).toThrow(/unknown option "strides"; known: kv_size/);
    expect(() => spec.channels([32, null, 3], makeCtx(32))).toThrow(/n_heads 3 does not divide/);
    expect(() => spec.channels([32, { no_off: true }], makeCtx(32))).toThrow(/noOff = true is not supported/);
  });

  // c = 256 runs on wasm only: tfjs-backend-cpu's Conv2DBackpropFilter (a naive loop) needs ~40 s for the
  // 1x1 projections of one [2, 16, 16, 256] step.
  for (const backend of testBackends(['wasm', 'cpu', 'node'])) {
    for (const c of backend === 'wasm' ? [32, 64, 256] : [32, 64]) {
      it(`forward + backward on every YOLOv8 map shape, c = ${c} (${backend})`, async () => {
        await initBackend(backend, { log: false });
        manualSeed(c);
        const { args } = spec.channels([], makeCtx(c));
        const m = spec.build(args, makeCtx(c)) as DAttention;
        for (const shape of [
          [2, 16, 16, c],
          [1, 12, 20, c],
          [2, 2, 2, c],
          [3, 5, 7, c],
        ]) {
          const x = randInput(shape, shape[1] * 100 + shape[2]);
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
            const d = g.dataSync();
            const maxG = Array.from(d as Float32Array).reduce((a, b) => Math.max(a, Math.abs(b)), 0);
            expect(d.every(Number.isFinite), `${names[i]} gradient not finite`).toBe(true);
            // proj_k.bias is mathematically zero (a bias on k shifts every logit of a query equally)
            if (names[i] === 'proj_k.bias') expect(maxG).toBeLessThan(1e-4);
            else expect(maxG, `${names[i]} gradient is zero at ${shape}`).toBeGreaterThan(0);
          });
          tf.dispose([value, ...Object.values(grads)]);
          expect(tf.memory().numTensors).toBe(before);
          x.dispose();
        }
        m.dispose();
      });
    }
  }

  it('flops = the convs (via Conv2d.flops) + 2 x (q k^T + attn v) MACs', async () => {
    await initBackend('cpu', { log: false });
    manualSeed(0);
    const m = new DAttention(64, { stride: 2, ksize: 5 });
    const shape = [2, 12, 10, 64];
    const [B, H, W, C] = shape;
    const [Hk, Wk] = m.keySize(H, W);
    expect([Hk, Wk]).toEqual([6, 5]);
    const keys = [B, 1, Hk * Wk, C];
    const want =
      m.proj_q.flops(shape) +
      m.conv_offset.dw.flops(shape) +
      m.conv_offset.out.flops([B, Hk, Wk, C]) +
      m.proj_k.flops(keys) +
      m.proj_v.flops(keys) +
      (m.rpe_table?.flops(shape) ?? 0) +
      m.proj_out.flops(shape) +
      2 * 2 * B * H * W * Hk * Wk * C;
    expect(flops(m, [shape])).toBe(want);
    expect(spec.flops?.(m, [shape])).toBe(want);
    m.dispose();
  });
});
