// Threaded wasm (own file = own process: the wasm module can be initialised only once per process).
// initBackend('wasm', {threads: 2}) must give 2 XNNPACK threads and correct results, and a process
// that used it must exit by itself.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, test } from 'vitest';
import {
  convGeom,
  memoryMark,
  randomArray,
  refConv2d,
  refConv2dFilterGrad,
  refConv2dInputGrad,
  relErr,
  sizeOf,
} from '../kernels/test-utils/reference.js';
import { initBackend } from './index.js';

beforeAll(async () => {
  const info = await initBackend('wasm', { threads: 2, log: false });
  expect(info.threads).toBe(2);
});

test('the wasm backend runs 2 threads with SIMD', () => {
  expect(tf.getBackend()).toBe('wasm');
  expect(getThreadsCount()).toBe(2);
  expect(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(true);
});

test('conv forward and gradients are right with 2 threads', () => {
  const xShape: [number, number, number, number] = [4, 17, 15, 24];
  const wShape: [number, number, number, number] = [3, 3, 24, 32];
  for (const s of [1, 2]) {
    const g = convGeom(xShape, wShape, s, 'same');
    const xv = randomArray(sizeOf(xShape), 1);
    const wv = randomArray(sizeOf(wShape), 2);
    const dyv = randomArray(g.N * g.Ho * g.Wo * 32, 3);
    const before = memoryMark();
    const [y, dx, dw] = tf.tidy(() => {
      const x = tf.tensor4d(xv, xShape);
      const w = tf.tensor4d(wv, wShape);
      const dy = tf.tensor4d(dyv, [g.N, g.Ho, g.Wo, 32]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'same');
      const gr = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([x, w]);
      return [f(x, w).dataSync(), gr[0].dataSync(), gr[1].dataSync()];
    });
    expect(memoryMark()).toEqual(before);
    expect(relErr(y, refConv2d(g, xv, wv))).toBeLessThan(1e-5);
    expect(relErr(dx, refConv2dInputGrad(g, wv, dyv))).toBeLessThan(1e-5);
    expect(relErr(dw, refConv2dFilterGrad(g, xv, dyv))).toBeLessThan(1e-5);
  }
});

test('a process using 2 wasm threads exits by itself', () => {
  // run test-utils/threads-exit.ts with vite-node (vitest's TS runner) in a child process
  const req = createRequire(import.meta.url);
  const viteNode = path.join(
    path.dirname(createRequire(req.resolve('vitest/package.json')).resolve('vite-node/package.json')),
    'vite-node.mjs',
  );
  const fixture = fileURLToPath(new URL('./test-utils/threads-exit.ts', import.meta.url));
  const r = spawnSync(process.execPath, [viteNode, fixture], { encoding: 'utf8', timeout: 120_000 });
  expect(r.error, String(r.error)).toBeUndefined(); // a timeout (process kept alive) shows here
  expect(r.status, r.stderr).toBe(0);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  expect(JSON.parse(line)).toEqual({ threads: 2, wasmThreads: 2, ok: true });
});
