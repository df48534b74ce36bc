// DepthwiseConv2dNativeBackpropInput / ...BackpropFilter (wasm, custom) against naive float64 loops:
// depth multipliers 1 and 2, strides 1 and 2, 'same' / 'valid' / explicit (asymmetric) padding,
// kernel sizes 1..5, odd spatial sizes; plus the autodiff path of tf.depthwiseConv2d.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import {
  convGeom,
  memoryMark,
  randomArray,
  refDepthwiseFilterGrad,
  refDepthwiseInputGrad,
  relErr,
  runKernelValues,
  sizeOf,
} from './test-utils/reference.js';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
const ASYM: Pad = [
  [0, 0],
  [0, 2],
  [1, 0],
  [0, 0],
];
const SHAPES: [number, number, number, number][] = [
  [2, 7, 9, 3],
  [1, 8, 8, 4],
  [3, 5, 6, 2],
  [2, 9, 7, 5],
];
interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  m: number;
  s: number;
  pad: Pad;
}
const cases: Case[] = [];
let si = 0;
for (const k of [1, 2, 3, 4, 5])
  for (const s of [1, 2])
    for (const m of [1, 2])
      for (const pad of ['same', 'valid', ASYM] as Pad[]) {
        const x = SHAPES[si++ % SHAPES.length];
        const pname = Array.isArray(pad) ? 'explicit[[0,2],[1,0]]' : pad;
        cases.push({ name: `x[${x}] k${k} mult${m} s${s} ${pname}`, x, k, m, s, pad });
      }

const TOL = 1e-5;
const worst = { input: 0, filter: 0, autodiff: 0 };

beforeAll(async () => {
  await initBackend('wasm', { log: false });
});
afterAll(() => {
  console.log(`depthwise worst relErr: ${JSON.stringify(worst)}`);
});

function setup(c: Case) {
  const w = [c.k, c.k, c.x[3], c.m] as [number, number, number, number];
  const g = convGeom(c.x, w, c.s, c.pad, true);
  const dyShape = [g.N, g.Ho, g.Wo, c.x[3] * c.m];
  return { w, g, dyShape };
}

describe('wasm DepthwiseConv2dNativeBackpropFilter', () => {
  test.each(cases)('$name', (c) => {
    const { w, g, dyShape } = setup(c);
    const x = randomArray(sizeOf(c.x), 11);
    const dy = randomArray(sizeOf(dyShape), 12);
    const before = memoryMark();
    const got = runKernelValues(
      'DepthwiseConv2dNativeBackpropFilter',
      { x: { data: x, shape: c.x }, dy: { data: dy, shape: dyShape } },
      { strides: c.s, pad: c.pad, dilations: 1, filterShape: w },
    );
    expect(memoryMark()).toEqual(before);
    expect(got.shape).toEqual(w);
    const e = relErr(got.values, refDepthwiseFilterGrad(g, x, dy));
    worst.filter = Math.max(worst.filter, e);
    expect(e).toBeLessThan(TOL);
  });
});

describe('wasm DepthwiseConv2dNativeBackpropInput', () => {
  test.each(cases)('$name', (c) => {
    const { w, g, dyShape } = setup(c);
    const wv = randomArray(sizeOf(w), 13);
    const dy = randomArray(sizeOf(dyShape), 12);
    const before = memoryMark();
    const got = runKernelValues(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: { data: dy, shape: dyShape }, filter: { data: wv, shape: w } },
      { strides: c.s, pad: c.pad, dilations: 1, inputShape: c.x },
    );
    expect(memoryMark()).toEqual(before);
    expect(got.shape).toEqual(c.x);
    const e = relErr(got.values, refDepthwiseInputGrad(g, wv, dy));
    worst.input = Math.max(worst.input, e);
    expect(e).toBeLessThan(TOL);
  });
});

describe('tf.depthwiseConv2d autodiff on wasm', () => {
  test.each(cases.filter((_, i) => i % 7 === 0))('$name', (c) => {
    const { w, g, dyShape } = setup(c);
    const xv = randomArray(sizeOf(c.x), 14);
    const wv = randomArray(sizeOf(w), 15);
    const dyv = randomArray(sizeOf(dyShape), 16);
    const before = memoryMark();
    const [dx, dw] = tf.tidy(() => {
      const dy = tf.tensor(dyv, dyShape);
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same'), dy));
      const gr = tf.grads(f)([tf.tensor4d(xv, c.x), tf.tensor4d(wv, w)]);
      return [gr[0].dataSync(), gr[1].dataSync()];
    });
    expect(memoryMark()).toEqual(before);
    const e = Math.max(relErr(dx, refDepthwiseInputGrad(g, wv, dyv)), relErr(dw, refDepthwiseFilterGrad(g, xv, dyv)));
    worst.autodiff = Math.max(worst.autodiff, e);
    expect(e).toBeLessThan(TOL);
  });
});

test('dilation > 1 is rejected with a clear error', () => {
  expect(() =>
    runKernelValues(
      'DepthwiseConv2dNativeBackpropFilter',
      { x: { data: randomArray(2 * 8 * 8 * 3, 1), shape: [2, 8, 8, 3] }, dy: { data: randomArray(2 * 8 * 8 * 3, 2), shape: [2, 8, 8, 3] } },
      { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 3, 1] },
    ),
  ).toThrow(/dilations .* not supported/);
});
