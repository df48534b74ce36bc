// Conv2DBackpropFilter / Conv2DBackpropInput (wasm, custom) against naive float64 loops, over
// strides 1 and 2, 'same' / 'valid' / explicit symmetric and asymmetric / numeric padding, kernel
// sizes 1..5, odd spatial sizes and several channel counts; plus the autodiff path of tf.conv2d.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import {
  convGeom,
  memoryMark,
  randomArray,
  refConv2d,
  refConv2dFilterGrad,
  refConv2dInputGrad,
  relErr,
  runKernelValues,
  sizeOf,
} from './test-utils/reference.js';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
const SYM1: Pad = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];
const ASYM: Pad = [
  [0, 0],
  [0, 2],
  [1, 0],
  [0, 0],
];
const ASYM2: Pad = [
  [0, 0],
  [2, 1],
  [0, 3],
  [0, 0],
];
const SHAPES: { x: [number, number, number, number]; co: number }[] = [
  { x: [2, 7, 9, 3], co: 5 },
  { x: [1, 8, 8, 4], co: 6 },
  { x: [3, 5, 6, 2], co: 3 },
  { x: [2, 9, 7, 6], co: 4 },
  { x: [2, 6, 5, 16], co: 24 },
];

interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  co: number;
  s: number;
  pad: Pad;
}
const cases: Case[] = [];
let si = 0;
for (const k of [1, 2, 3, 4, 5]) {
  for (const s of [1, 2]) {
    for (const pad of ['same', 'valid', SYM1, ASYM, ASYM2, 1] as Pad[]) {
      const sh = SHAPES[si++ % SHAPES.length];
      if (pad === 'valid' && (sh.x[1] < k || sh.x[2] < k)) continue;
      const pname = Array.isArray(pad) ? `explicit${JSON.stringify(pad.slice(1, 3))}` : String(pad);
      cases.push({ name: `x[${sh.x}] k${k} co${sh.co} s${s} ${pname}`, x: sh.x, k, co: sh.co, s, pad });
    }
  }
}
// larger channel counts (1x1 GEMM path with Ci < Co and Ci > Co, phase split with many channels)
cases.push({ name: 'x[2,8,8,32] k1 co48 s1 same', x: [2, 8, 8, 32], k: 1, co: 48, s: 1, pad: 'same' });
cases.push({ name: 'x[2,8,8,48] k1 co32 s1 valid', x: [2, 8, 8, 48], k: 1, co: 32, s: 1, pad: 'valid' });
cases.push({ name: 'x[2,11,9,32] k3 co40 s2 sym1', x: [2, 11, 9, 32], k: 3, co: 40, s: 2, pad: SYM1 });
cases.push({ name: 'x[1,4,4,8] k5 co3 s1 same (kernel > input)', x: [1, 4, 4, 8], k: 5, co: 3, s: 1, pad: 'same' });

const TOL = 1e-5;
const worst = { filter: 0, input: 0, autodiff: 0 };
function track(key: keyof typeof worst, e: number): number {
  worst[key] = Math.max(worst[key], e);
  return e;
}

beforeAll(async () => {
  await initBackend('wasm', { log: false });
});
afterAll(() => {
  console.log(`conv2d worst relErr: ${JSON.stringify(worst)}`);
});

describe('wasm Conv2DBackpropFilter', () => {
  test.each(cases)('$name', (c) => {
    const w = [c.k, c.k, c.x[3], c.co] as [number, number, number, number];
    const g = convGeom(c.x, w, c.s, c.pad);
    const dyShape = [g.N, g.Ho, g.Wo, c.co];
    const x = randomArray(sizeOf(c.x), 1);
    const dy = randomArray(sizeOf(dyShape), 2);
    const before = memoryMark();
    const got = runKernelValues(
      'Conv2DBackpropFilter',
      { x: { data: x, shape: c.x }, dy: { data: dy, shape: dyShape } },
      { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: w },
    );
    expect(memoryMark()).toEqual(before);
    expect(got.shape).toEqual(w);
    expect(track('filter', relErr(got.values, refConv2dFilterGrad(g, x, dy)))).toBeLessThan(TOL);
  });
});

describe('wasm Conv2DBackpropInput', () => {
  test.each(cases)('$name', (c) => {
    const w = [c.k, c.k, c.x[3], c.co] as [number, number, number, number];
    const g = convGeom(c.x, w, c.s, c.pad);
    const dyShape = [g.N, g.Ho, g.Wo, c.co];
    const wv = randomArray(sizeOf(w), 3);
    const dy = randomArray(sizeOf(dyShape), 2);
    const before = memoryMark();
    const got = runKernelValues(
      'Conv2DBackpropInput',
      { dy: { data: dy, shape: dyShape }, filter: { data: wv, shape: w } },
      { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
    );
    expect(memoryMark()).toEqual(before);
    expect(got.shape).toEqual(c.x);
    expect(track('input', relErr(got.values, refConv2dInputGrad(g, wv, dy)))).toBeLessThan(TOL);
  });
});

describe('tf.conv2d autodiff on wasm', () => {
  // The gradient kernels reached through tf.grads (attrs exactly as tfjs-core passes them), and the
  // forward conv against the same naive reference (checks the padding convention of the reference).
  test.each(cases.filter((_, i) => i % 5 === 0))('$name', (c) => {
    const wShape = [c.k, c.k, c.x[3], c.co] as [number, number, number, number];
    const g = convGeom(c.x, wShape, c.s, c.pad);
    const xv = randomArray(sizeOf(c.x), 4);
    const wv = randomArray(sizeOf(wShape), 5);
    const dyv = randomArray(g.N * g.Ho * g.Wo * c.co, 6);
    const before = memoryMark();
    const [y, dx, dw] = tf.tidy(() => {
      const x = tf.tensor4d(xv, c.x);
      const w = tf.tensor4d(wv, wShape);
      const dy = tf.tensor4d(dyv, [g.N, g.Ho, g.Wo, c.co]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same');
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([x, w]);
      return [f(x, w).dataSync(), grads[0].dataSync(), grads[1].dataSync()];
    });
    expect(memoryMark()).toEqual(before);
    expect(relErr(y, refConv2d(g, xv, wv))).toBeLessThan(TOL);
    expect(track('autodiff', relErr(dx, refConv2dInputGrad(g, wv, dyv)))).toBeLessThan(TOL);
    expect(track('autodiff', relErr(dw, refConv2dFilterGrad(g, xv, dyv)))).toBeLessThan(TOL);
  });
});
