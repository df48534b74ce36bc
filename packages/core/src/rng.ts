/**
 * Seeded random numbers and initialisers. The same seed gives the same weights on every backend and
 * machine: values are drawn in JavaScript (xoshiro128**, seeded through splitmix32) and only then
 * uploaded as tensors, so no backend RNG is involved.
 *
 * Like PyTorch, layers draw from a global generator at construction: `manualSeed(0)` before building a
 * model makes the model reproducible. Pass a `Generator` explicitly where a private stream is wanted.
 */
import * as tf from '@tensorflow/tfjs-core';

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;
  private seedValue = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  get seed(): number {
    return this.seedValue;
  }

  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new Error(`Generator: seed must be a finite number, got ${seed}`);
    this.seedValue = seed;
    // Mix both 32-bit halves of the seed so large seeds differ.
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    const sm = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spare = null;
    return this;
  }

  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3 >>> 0, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return r;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  random(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** An independent generator derived from this one (for workers, data loaders). */
  fork(): Generator {
    return new Generator(this.nextU32() * 4294967296 + this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let globalGen = new Generator(0);

/** Reseeds the global generator that layers draw their initial weights from. */
export function manualSeed(seed: number): void {
  globalGen = new Generator(seed);
}

/** The global generator. */
export function defaultGenerator(): Generator {
  return globalGen;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Uniform in [low, high), drawn from `gen` (default: the global generator). */
export function randUniform(shape: number[], low: number, high: number, gen: Generator = globalGen): tf.Tensor {
  const v = new Float32Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = gen.uniform(low, high);
  return tf.tensor(v, shape, 'float32');
}

/** Normal(mean, std), drawn from `gen`. */
export function randNormal(shape: number[], mean = 0, std = 1, gen: Generator = globalGen): tf.Tensor {
  const v = new Float32Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = gen.normal(mean, std);
  return tf.tensor(v, shape, 'float32');
}

/** Normal(mean, std) truncated to [a, b] by resampling, as timm's trunc_normal_. */
export function truncNormal(shape: number[], std = 1, a = -2, b = 2, mean = 0, gen: Generator = globalGen): tf.Tensor {
  const v = new Float32Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) {
    let x: number;
    do x = gen.normal(mean, std);
    while (x < a || x > b);
    v[i] = x;
  }
  return tf.tensor(v, shape, 'float32');
}

/**
 * PyTorch's default init of conv and linear weights: kaiming_uniform_(a=sqrt(5)), which is
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)). The bias uses the same bound.
 */
export function kaimingUniform(shape: number[], fanIn: number, gen: Generator = globalGen): tf.Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return randUniform(shape, -bound, bound, gen);
}
