import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { maxRelErr, noLeak, randArray, toF64, toTensor } from '../nn/layers/test-utils/reference.js';
import { Generator } from '../rng.js';
import { testBackends } from '../testing/index.js';
import { type BatchNormAct, batchNormTrain } from './batchnorm.js';

/** Autodiff reference: the composed ops. */
function composed(x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number, act: BatchNormAct): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const z = tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
  return act === 'silu' ? tf.mul(z, tf.sigmoid(z)) : z;
}

/** Float64 forward: y, mean, biased var. */
function naive(x: Float64Array, shape: number[], g: Float64Array, b: Float64Array, eps: number, act: BatchNormAct) {
  const c = shape[3];
  const m = x.length / c;
  const mean = new Float64Array(c);
  const vr = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / m;
  for (let i = 0; i < x.length; i++) vr[i % c] += (x[i] - mean[i % c]) ** 2 / m;
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const ch = i % c;
    const z = ((x[i] - mean[ch]) / Math.sqrt(vr[ch] + eps)) * g[ch] + b[ch];
    y[i] = act === 'silu' ? z / (1 + Math.exp(-z)) : z;
  }
  return { y, mean, vr };
}

/** tf.grads as float64 arrays (tensors disposed). */
function grads64(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]): Float64Array[] {
  const gs = tf.tidy(() => tf.grads(f)(xs));
  const out = gs.map(toF64);
  tf.dispose(gs);
  return out;
}

const worst: Record<string, number> = {};

describe.each(testBackends())('batchNormTrain on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { log: false });
  });
  afterAll(() => {
    console.log(
      `[batchNormTrain ${backend}] worst rel err vs autodiff: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toExponential(2)}`)
        .join(', ')}`,
    );
    for (const k of Object.keys(worst)) delete worst[k];
  });

  it('runs fewer kernels (forward + backward) than autodiff of the composed ops', async () => {
    const x = tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D;
    const g = tf.ones([8]) as tf.Tensor1D;
    const b = tf.zeros([8]) as tf.Tensor1D;
    const count = async (f: (...t: tf.Tensor[]) => tf.Tensor) => {
      const info = await tf.profile(() => {
        tf.dispose(tf.grads(f)([x, g, b]));
      });
      return info.kernels.length;
    };
    const fused = await count((xx, gg, bb) =>
      tf.sum(batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-3, 'silu').y),
    );
    const comp = await count((xx, gg, bb) => tf.sum(composed(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-3, 'silu')));
    console.log(
      `[batchNormTrain ${backend}] kernels per BN+SiLU forward+backward (incl. the sum loss): fused ${fused}, composed autodiff ${comp}`,
    );
    expect(fused).toBeLessThan(comp);
    tf.dispose([x, g, b]);
  });

  for (const act of ['none', 'silu'] as const) {
    for (const shape of [
      [2, 5, 3, 4],
      [3, 7, 6, 5],
      [1, 1, 1, 3],
    ]) {
      it(`act=${act} shape=[${shape}]: forward vs float64, gradients vs autodiff`, () => {
        const gen = new Generator(shape.reduce((a, v) => a * 31 + v, act === 'silu' ? 7 : 3));
        const n = shape.reduce((a, v) => a * v, 1);
        const c = shape[3];
        const eps = 1e-3;
        // Offset and scale per element so that the statistics are not trivial.
        const xd = randArray(n, gen, -2, 3);
        const gd = randArray(c, gen, 0.5, 1.5);
        const bd = randArray(c, gen, -0.5, 0.5);
        const rd = randArray(n, gen, -1, 1);
        const x = toTensor(xd, shape) as tf.Tensor4D;
        const g = toTensor(gd, [c]) as tf.Tensor1D;
        const b = toTensor(bd, [c]) as tf.Tensor1D;
        const r = toTensor(rd, shape);
        const ref = naive(xd, shape, gd, bd, eps, act);

        noLeak(() => {
          const out = batchNormTrain(x, g, b, eps, act);
          expect(out.count).toBe(shape[0] * shape[1] * shape[2]);
          expect(out.y.shape).toEqual(shape);
          expect(maxRelErr(toF64(out.y), ref.y)).toBeLessThan(2e-6);
          expect(maxRelErr(toF64(out.mean), ref.mean)).toBeLessThan(1e-6);
          if (out.count > 1) expect(maxRelErr(toF64(out.variance), ref.vr)).toBeLessThan(1e-5);
          else expect(Array.from(out.variance.dataSync())).toEqual(new Array(c).fill(0));
          tf.dispose([out.y, out.mean, out.variance]);
        });

        const fused = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
          const o = batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, eps, act);
          return tf.sum(tf.mul(o.y, r));
        };
        const comp = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(composed(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, eps, act), r));
        const gf = noLeak(() => grads64(fused, [x, g, b]));
        const gc = grads64(comp, [x, g, b]);
        const names = ['dx', 'dgamma', 'dbeta'];
        for (let i = 0; i < 3; i++) {
          const err = maxRelErr(gf[i] as Float64Array, gc[i] as Float64Array, 1e-6);
          worst[names[i] as string] = Math.max(worst[names[i] as string] ?? 0, err);
          expect(err, `${names[i]} rel err ${err}`).toBeLessThan(1e-5);
        }
        // The statistics carry no gradient: adding them to the loss changes nothing.
        const gs = grads64(
          (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
            const o = batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, eps, act);
            return tf.add(tf.sum(tf.mul(o.y, r)), tf.add(tf.sum(o.mean), tf.sum(o.variance)));
          },
          [x, g, b],
        );
        for (let i = 0; i < 3; i++) expect(maxRelErr(gs[i], gf[i], 1e-6)).toBeLessThan(1e-6);
        tf.dispose([x, g, b, r]);
      });
    }
  }

  it('is leak-free inside tf.tidy and under variableGrads', () => {
    const gen = new Generator(11);
    const x = toTensor(randArray(2 * 4 * 4 * 3, gen), [2, 4, 4, 3]) as tf.Tensor4D;
    const g = tf.variable(tf.ones([3])) as tf.Variable<tf.Rank.R1>;
    const b = tf.variable(tf.zeros([3])) as tf.Variable<tf.Rank.R1>;
    noLeak(() => {
      tf.tidy(() => {
        batchNormTrain(x, g, b, 1e-5, 'silu');
      });
      const { value, grads } = tf.variableGrads(() => tf.sum(batchNormTrain(x, g, b, 1e-5, 'silu').y), [g, b]);
      expect(Object.keys(grads).length).toBe(2);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, g, b]);
  });

  it('rejects bad input with a clear message', () => {
    const x = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
    const g = tf.ones([4]) as tf.Tensor1D;
    const b = tf.zeros([3]) as tf.Tensor1D;
    expect(() => batchNormTrain(x, g, b, 1e-5, 'none')).toThrow(/gamma \[4\] and beta \[3\] must both be \[3\]/);
    expect(() => batchNormTrain(x, b, b, 1e-5, 'relu' as BatchNormAct)).toThrow(/unknown activation "relu"; known: none, silu/);
    expect(() => batchNormTrain(tf.zeros([2, 3]) as unknown as tf.Tensor4D, b, b, 1e-5)).toThrow(/rank 4/);
    tf.dispose([x, g, b]);
  });
});
