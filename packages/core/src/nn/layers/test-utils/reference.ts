/**
 * Test helpers: seeded random data, float64 reference helpers, error measures and a leak check.
 * Not part of the build (tsconfig.build.json excludes test-utils).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Generator } from '../../../rng.js';

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Uniform random Float64Array in [lo, hi), values rounded to float32 so tfjs sees the same numbers. */
export function randArray(n: number, gen: Generator, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(gen.uniform(lo, hi));
  return out;
}

export function toTensor(data: Float64Array | number[], shape: number[]): tf.Tensor {
  return tf.tensor(Float32Array.from(data), shape, 'float32');
}

export function toF64(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync() as Float32Array);
}

/** max |a-b| / max(max |b|, floor): relative to the reference's scale. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`maxRelErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0;
  let den = floor;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

export function maxAbsErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsErr: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs fn and returns its result; throws if the number of live tensors changed. */
export function noLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const r = fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`tensor leak: ${before} tensors before, ${after} after`);
  return r;
}

/**
 * Central finite differences (float64) of L(x) = sum(f(x) * r) with respect to x: the reference
 * for d/dx of sum(tfjs_f(x) * r).
 */
export function fdGrad(f: (x: Float64Array) => Float64Array, x: Float64Array, r: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  const xp = Float64Array.from(x);
  const dot = (y: Float64Array) => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    xp[i] = x[i] + h;
    const a = dot(f(xp));
    xp[i] = x[i] - h;
    const b = dot(f(xp));
    xp[i] = x[i];
    g[i] = (a - b) / (2 * h);
  }
  return g;
}

/** Gradient of sum(f(x) * r) w.r.t. x computed by tfjs (float32), as float64. */
export function tfGrad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, r: tf.Tensor): Float64Array {
  const g = tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx), r)))(x));
  const out = toF64(g);
  g.dispose();
  return out;
}

/** The float64 erf (Abramowitz-Stegun 7.1.26 is too coarse for a reference; this is a series/CF). */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Continued fraction for erfc (Lentz), accurate for x >= 3
    const tiny = 1e-300;
    let f = tiny;
    let C = f;
    let D = 0;
    // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
    for (let i = 0; i < 300; i++) {
      const a = i === 0 ? 1 : i / 2;
      const b = ax;
      D = b + a * D;
      if (D === 0) D = tiny;
      C = b + a / C;
      if (C === 0) C = tiny;
      D = 1 / D;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - (Math.exp(-ax * ax) / Math.sqrt(Math.PI)) * f;
  }
  return x < 0 ? -r : r;
}
