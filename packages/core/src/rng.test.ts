import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, test } from 'vitest';
import { initBackend } from './backend/index.js';
import { Generator, kaimingUniform, manualSeed, randNormal, truncNormal } from './rng.js';

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

test('same seed gives the same stream; different seeds differ', () => {
  const a = new Generator(42);
  const b = new Generator(42);
  const c = new Generator(43);
  const sa = Array.from({ length: 100 }, () => a.nextU32());
  expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(sa);
  expect(Array.from({ length: 100 }, () => c.nextU32())).not.toEqual(sa);
  expect(new Generator(2 ** 33).nextU32()).not.toBe(new Generator(0).nextU32());
});

test('uniform and normal have the right moments', () => {
  const g = new Generator(7);
  const n = 200_000;
  let su = 0;
  let sn = 0;
  let sn2 = 0;
  for (let i = 0; i < n; i++) {
    const u = g.random();
    expect(u >= 0 && u < 1).toBe(true);
    su += u;
    const z = g.normal();
    sn += z;
    sn2 += z * z;
  }
  expect(Math.abs(su / n - 0.5)).toBeLessThan(0.005);
  expect(Math.abs(sn / n)).toBeLessThan(0.01);
  expect(Math.abs(sn2 / n - 1)).toBeLessThan(0.02);
});

test('initialisers: same global seed -> same weights; bounds hold; no leaks', () => {
  const before = tf.memory().numTensors;
  manualSeed(3);
  const w1 = kaimingUniform([3, 3, 8, 16], 72);
  const n1 = randNormal([50], 1, 0.2);
  manualSeed(3);
  const w2 = kaimingUniform([3, 3, 8, 16], 72);
  const n2 = randNormal([50], 1, 0.2);
  expect(Array.from(w1.dataSync())).toEqual(Array.from(w2.dataSync()));
  expect(Array.from(n1.dataSync())).toEqual(Array.from(n2.dataSync()));
  const bound = 1 / Math.sqrt(72);
  expect(Math.max(...Array.from(w1.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
  const t = truncNormal([1000], 1, -0.5, 0.5);
  expect(Math.max(...Array.from(t.dataSync(), Math.abs))).toBeLessThanOrEqual(0.5);
  for (const x of [w1, w2, n1, n2, t]) x.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

test('shuffle is a seeded permutation', () => {
  const a = new Generator(1).shuffle([...Array(20).keys()]);
  expect([...a].sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
  expect(new Generator(1).shuffle([...Array(20).keys()])).toEqual(a);
});
