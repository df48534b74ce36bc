// benchConvKernels on tiny shapes: the rows, FLOP counts and the aggregate (no timing asserted).

import { initBackend } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import { benchConvKernels } from './kernels.js';

test('benchConvKernels returns one row per kernel and shape plus aggregates', async () => {
  await initBackend('wasm', { log: false });
  const before = tf.memory().numTensors;
  const rows = await benchConvKernels({
    shapes: [
      { x: [2, 8, 8, 4], k: 3, stride: 2, co: 6 },
      { x: [2, 4, 4, 8], k: 1, stride: 1, co: 5 },
    ],
    warmup: 1,
    runs: 2,
  });
  expect(tf.memory().numTensors).toBe(before);
  expect(rows.length).toBe(3 * 2 + 3);
  // 3x3 s2 pad 1 on 8x8 -> 4x4: 2 * 2*4*4*6 * 9*4 MACs
  expect(rows[0]).toMatchObject({ kernel: 'Conv2D', shape: 'x[2,8,8,4] k3 s2 ->6', gflop: (2 * 2 * 16 * 6 * 36) / 1e9 });
  for (const r of rows) {
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(r.gflops).toBeGreaterThan(0);
  }
  const agg = rows.filter((r) => r.shape === 'aggregate');
  expect(agg.map((r) => r.kernel)).toEqual(['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']);
  expect(agg[0].gflop).toBeCloseTo(rows[0].gflop + rows[3].gflop, 12);
  await expect(benchConvKernels({ kernels: ['Conv3D' as 'Conv2D'] })).rejects.toThrow(/unknown kernel "Conv3D"; known/);
});
