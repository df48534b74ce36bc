// The webgpu backend through Dawn (own file, own process). Needs a WebGPU adapter: on a machine without
// a GPU, the software Vulkan of .ci/lavapipe.sh (CI sets ABLATE_REQUIRE_WEBGPU=1, so a missing adapter
// fails there instead of skipping). Without an adapter and without that variable, the tests are skipped
// and the reason printed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import {
  convGeom,
  randomArray,
  refConv2d,
  refConv2dFilterGrad,
  refConv2dInputGrad,
  relErr,
  sizeOf,
} from '../kernels/test-utils/reference.js';
import { variableGradsAsync } from '../ops/async-grads.js';
import { initBackend } from './index.js';
import { assertSyncReadable, describeAdapter, formatAdapter, vulkanLoaderPresent } from './webgpu.js';

let unavailable = '';
try {
  await initBackend('webgpu', { log: false });
} catch (e) {
  unavailable = (e as Error).message;
  if (process.env.ABLATE_REQUIRE_WEBGPU === '1') throw e;
  console.warn(`\n*** webgpu tests SKIPPED: ${unavailable}\n*** (run .ci/lavapipe.sh for a software Vulkan driver; CI requires it)\n`);
}

test.runIf(process.platform === 'linux')('the Vulkan loader is found through LD_LIBRARY_PATH (auto skips webgpu without one)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-vk-'));
  try {
    fs.writeFileSync(path.join(dir, 'libvulkan.so.1'), '');
    expect(vulkanLoaderPresent({ LD_LIBRARY_PATH: `/nonexistent:${dir}` })).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('adapters are described as software or hardware', () => {
  const lvp = describeAdapter({
    info: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true },
  });
  expect(lvp.software).toBe(true);
  expect(formatAdapter(lvp)).toBe('mesa software (llvmpipe: Mesa 25.0.7), software');
  const nv = describeAdapter({ info: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' } });
  expect(nv.software).toBe(false);
  expect(formatAdapter(nv)).toBe('nvidia hopper (NVIDIA H200), hardware');
});

test.skipIf(unavailable !== '')('webgpu: adapter reported, conv2d forward and gradients match the float64 reference', async () => {
  expect(tf.getBackend()).toBe('webgpu');
  const info = await initBackend('webgpu', { log: false });
  expect(info.adapter?.vendor.length).toBeGreaterThan(0);
  const xShape: [number, number, number, number] = [2, 9, 7, 8];
  const wShape: [number, number, number, number] = [3, 3, 8, 16];
  for (const s of [1, 2]) {
    const g = convGeom(xShape, wShape, s, 'same');
    const xv = randomArray(sizeOf(xShape), 1);
    const wv = randomArray(sizeOf(wShape), 2);
    const dyv = randomArray(g.N * g.Ho * g.Wo * 16, 3);
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => tf.variable(tf.tensor4d(xv, xShape)));
    const w = tf.tidy(() => tf.variable(tf.tensor4d(wv, wShape)));
    const dy = tf.tensor4d(dyv, [g.N, g.Ho, g.Wo, 16]);
    const f = () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const y = f();
    // an async loss (a read in the middle) through variableGradsAsync
    let out: tf.Tensor | null = null;
    const { value, grads } = await variableGradsAsync(async () => {
      out = f();
      await out.data();
      return tf.tidy(() => tf.sum(tf.mul(out as tf.Tensor, dy)) as tf.Scalar);
    }, [x, w]);
    tf.dispose(out as unknown as tf.Tensor); // f owns its intermediates
    expect(relErr(await y.data(), refConv2d(g, xv, wv))).toBeLessThan(1e-5);
    expect(relErr(await grads[x.name].data(), refConv2dInputGrad(g, wv, dyv))).toBeLessThan(1e-5);
    expect(relErr(await grads[w.name].data(), refConv2dFilterGrad(g, xv, dyv))).toBeLessThan(1e-5);
    tf.dispose([x, w, dy, y, value, grads[x.name], grads[w.name]]);
    expect(tf.memory().numTensors).toBe(before);
  }
  expect(() => assertSyncReadable('this test')).toThrow('this test reads tensors synchronously');
});

test.skipIf(unavailable !== '')('webgpu: rank-5 tile, broadcastTo and pad (replaced kernels) match the cpu backend', async () => {
  const shape = [2, 1, 3, 2, 2];
  const v = Array.from(randomArray(24, 7));
  const ops = (x: tf.Tensor) => [
    tf.tile(x, [1, 2, 1, 3, 1]),
    tf.broadcastTo(x, [2, 4, 3, 2, 2]),
    tf.pad(
      x,
      [
        [0, 0],
        [1, 2],
        [0, 0],
        [1, 0],
        [0, 1],
      ],
      0.5,
    ),
    tf.pad(x, [
      [1, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]),
  ];
  const got = await Promise.all(tf.tidy(() => ops(tf.tensor(v, shape))).map(async (t) => [t.shape, Array.from(await t.data())]));
  await tf.setBackend('cpu');
  const want = tf.tidy(() => ops(tf.tensor(v, shape))).map((t) => [t.shape, Array.from(t.dataSync())]);
  await tf.setBackend('webgpu');
  expect(got).toEqual(want);
});
