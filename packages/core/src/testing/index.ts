/**
 * Test helpers for module and plugin authors (`@ablate/core/testing`, a separate entry point so the
 * main one stays lean): seeded data, float64 copies of state dicts, a plugin context, the YOLOv8
 * feature-map shape matrix, a forward+backward run through a plugin, and gradient checks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { loadParityCase, type ParityAdapter, type ParityReport, runParityCase } from '../golden.js';
import type { Module } from '../nn/module.js';
import type { BuildContext, ModuleSpec } from '../plugin.js';
import { Generator } from '../rng.js';

export { ALL_TEST_BACKENDS, inCI, nodeUnavailable, type TestBackend, testBackends } from './backends.js';

/** initBackend without the log line (it also registers the gradients tfjs-core lacks under Node). */
export async function useBackend(name: 'cpu' | 'wasm' | 'node'): Promise<void> {
  await initBackend(name, { log: false });
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Uniform random values in [lo, hi), rounded to float32 (so tfjs sees the same numbers). */
export function randArray(n: number, gen: Generator, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(gen.uniform(lo, hi));
  return out;
}

export interface T64 {
  shape: number[];
  data: Float64Array;
}

/** The module's state dict (PyTorch names and layouts) as float64 arrays. */
export function stateDict64(m: Module): Record<string, T64> {
  const out: Record<string, T64> = {};
  const sd = m.stateDict();
  for (const [k, t] of sd) {
    out[k] = { shape: [...t.shape], data: Float64Array.from(t.dataSync() as Float32Array) };
    t.dispose();
  }
  return out;
}

/** Overwrites every parameter with seeded uniform values in [-a, a] (a bias-free, zero-init-free draw). */
export function randomizeParams(m: Module, gen: Generator, a = 0.5): void {
  const sd = new Map<string, tf.Tensor>();
  for (const [name, p] of m.namedTensors())
    sd.set(name, tf.tensor(Float32Array.from(randArray(size(p.torchShape), gen, -a, a)), p.torchShape));
  m.loadStateDict(sd);
  for (const t of sd.values()) t.dispose();
}

/** A plugin context for a single input of c1 channels at the given width multiple. */
export function makeCtx(c1: number, width = 0.25, maxChannels = 1024): BuildContext {
  return {
    inputChannels: [c1],
    nc: 80,
    width,
    maxChannels,
    scaleChannels: (c: number) => Math.ceil((Math.min(c, maxChannels) * width) / 8) * 8,
    repeats: 1,
    where: 'test.yaml backbone[3]',
    layerIndex: 3,
  };
}

/** Feature-map shapes a YOLOv8 produces (NHWC without channels): square, non-square, tiny, odd. */
export const MAP_SHAPES: [number, number, number][] = [
  [2, 16, 16],
  [1, 12, 20],
  [2, 2, 2],
  [3, 5, 7],
];

export interface GradCheck {
  shape: number[];
  finite: boolean;
  /** Per parameter: max |grad|. */
  paramGrads: Record<string, number>;
  inputGradMax: number;
}

/** Builds through the plugin spec, runs forward + backward on a seeded NHWC input, and reports. */
export function runThroughPlugin(spec: ModuleSpec, args: unknown[], shape: [number, number, number], c: number, seed = 1): GradCheck {
  const ctx = makeCtx(c);
  const resolved = spec.channels(args, ctx);
  const m = spec.build(resolved.args, ctx) as Module & { forward(x: tf.Tensor): tf.Tensor };
  try {
    const gen = new Generator(seed);
    randomizeParams(m, gen, 0.3);
    const xs = [...shape, c];
    const x0 = tf.tensor(Float32Array.from(randArray(size(xs), gen)), xs);
    const x = tf.variable(x0, true);
    x0.dispose();
    const params = m.namedParameters().filter(([, p]) => p.trainable);
    let outShape: number[] = [];
    let finite = true;
    const paramGrads: Record<string, number> = {};
    let inputGradMax = 0;
    tf.tidy(() => {
      const cot = tf.tensor(Float32Array.from(randArray(size(xs), gen)), xs);
      const { value, grads } = tf.variableGrads(() => {
        const y = m.forward(x);
        outShape = [...y.shape];
        finite = finite && Boolean(tf.all(tf.isFinite(y)).dataSync()[0]);
        return tf.sum(tf.mul(y, cot)) as tf.Scalar;
      }, [x, ...params.map(([, p]) => p.variable)]);
      finite = finite && Number.isFinite(value.dataSync()[0]);
      const gx = grads[x.name];
      finite = finite && Boolean(tf.all(tf.isFinite(gx)).dataSync()[0]);
      inputGradMax = tf.max(tf.abs(gx)).dataSync()[0];
      for (const [name, p] of params) {
        const g = grads[p.variable.name];
        if (!g) {
          paramGrads[name] = 0;
          continue;
        }
        finite = finite && Boolean(tf.all(tf.isFinite(g)).dataSync()[0]);
        paramGrads[name] = tf.max(tf.abs(g)).dataSync()[0];
      }
    });
    x.dispose();
    return { shape: outShape, finite, paramGrads, inputGradMax };
  } finally {
    m.dispose();
  }
}

/** Paths of the golden cases (JSON sidecars) in the repo's fixtures folder that `matches` accepts. */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function goldenCasePaths(dir: string, matches: (json: any) => boolean): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .map((f) => path.join(dir, f))
    .filter((p) => matches(JSON.parse(fs.readFileSync(p, 'utf8'))));
}

/**
 * Directional-derivative check: d/dt L(theta + t*dir) at t = 0 by float64 central differences of the
 * naive reference `loss64`, versus the tfjs gradient dotted with dir.
 */
export function centralDiff(loss64: (t: number) => number, eps = 1e-5): number {
  return (loss64(eps) - loss64(-eps)) / (2 * eps);
}

/** Max |a - b| and that divided by max |b| (floored at 1e-12). */
export function maxAbsRel(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; rel: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let abs = 0;
  let ref = 1e-12;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return { abs, rel: abs / ref };
}

/** Runs one golden case through an adapter, with the live tensor count before and after (leak check). */
export function runGoldenCase(file: string, adapter: ParityAdapter): { report: ParityReport; tensorsBefore: number; tensorsAfter: number } {
  const c = loadParityCase(file);
  const tensorsBefore = tf.memory().numTensors;
  const report = runParityCase(c, adapter);
  return { report, tensorsBefore, tensorsAfter: tf.memory().numTensors };
}

/**
 * The autodiff side of a directional-derivative check: sum over x and every parameter of
 * grad . direction, with parameter gradients taken in PyTorch layout (as the directions are).
 */
export function directionalFromGrads(
  grads: tf.NamedTensorMap,
  x: tf.Variable,
  dirX: ArrayLike<number>,
  params: [string, { variable: tf.Variable; toTorchPerm?: number[] }][],
  dirP: Record<string, ArrayLike<number>>,
): number {
  let ad = 0;
  const gx = grads[x.name].dataSync();
  for (let i = 0; i < gx.length; i++) ad += gx[i] * dirX[i];
  for (const [name, p] of params) {
    const g = tf.tidy(() => tf.transpose(grads[p.variable.name], p.toTorchPerm ?? [...Array(p.variable.rank).keys()]).dataSync());
    const d = dirP[name];
    for (let i = 0; i < g.length; i++) ad += g[i] * d[i];
  }
  return ad;
}
