#!/usr/bin/env node
// Scans tfjs-node's convolutions (forward, input and filter gradients) against the wasm backend over the
// channel counts, map sizes, batches, kernels and strides that YOLOv8 n..x and the attention modules use.
// Prints every case whose relative error exceeds 1e-4, then the count. Found TensorFlow 2.21's oneDNN
// Conv2DBackpropInput bug (packages/core/src/kernels/node-kernels.ts). Run after `pnpm build`:
//   node scripts/scan_node_conv.mjs            (about 1.5 min on 2 cores)
// A case that kills the process (SIGFPE inside TensorFlow) is found with TRACE=1 and skipped with
// SKIP='{"n":1,...}' (the case's JSON, several separated by ';').
import { createRequire } from 'node:module';

const require = createRequire(new URL('../packages/core/package.json', import.meta.url));
const tf = await import(require.resolve('@tensorflow/tfjs-core'));
const { initBackend } = await import(new URL('../packages/core/dist/index.js', import.meta.url).href);

function uniform(n, state) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state.s = (state.s * 16807) % 2147483647;
    a[i] = (state.s / 2147483647) * 2 - 1;
  }
  return a;
}

function run(c) {
  const g = { s: 1 };
  const p = Math.floor(c.k / 2);
  const pad = p
    ? [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ]
    : 'valid';
  const x = tf.tensor4d(uniform(c.n * c.h * c.h * c.cin, g), [c.n, c.h, c.h, c.cin]);
  const w = tf.tensor4d(uniform(c.k * c.k * c.cin * c.cout, g), [c.k, c.k, c.cin, c.cout]);
  const y0 = tf.conv2d(x, w, c.s, pad);
  const r = tf.tensor(uniform(y0.size, g), y0.shape);
  const [gx, gw] = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a, b, c.s, pad), r)))([x, w]);
  const out = [y0, gx, gw].map((t) => t.dataSync().slice());
  tf.dispose([x, w, y0, r, gx, gw]);
  return out;
}

const cases = [];
for (const cin of [64, 128, 256, 384, 512, 640, 768, 1024])
  for (const h of [1, 2, 4, 8])
    for (const n of [1, 2, 8])
      for (const [k, s] of [
        [1, 1],
        [3, 1],
        [3, 2],
      ])
        if (!(k === 3 && h === 1)) cases.push({ n, h, cin, cout: Math.min(256, cin), k, s });

const skip = (process.env.SKIP ?? '').split(';').filter(Boolean);
let bad = 0;
for (const c of cases) {
  const key = JSON.stringify(c);
  if (skip.includes(key)) {
    console.log(`SKIPPED (kills the process) ${key}`);
    continue;
  }
  if (process.env.TRACE) console.error(`case ${key}`);
  await initBackend('wasm', { log: false });
  const want = run(c);
  await initBackend('node', { log: false });
  const got = run(c);
  const errs = want.map((u, j) => {
    let m = 0;
    let scale = 0;
    for (let q = 0; q < u.length; q++) {
      m = Math.max(m, Math.abs(u[q] - got[j][q]));
      scale = Math.max(scale, Math.abs(u[q]));
    }
    return m / scale;
  });
  if (errs.some((e) => e > 1e-4)) {
    bad++;
    console.log(`${key} forward ${errs[0].toExponential(1)} dx ${errs[1].toExponential(1)} dw ${errs[2].toExponential(1)}`);
  }
}
console.log(`${cases.length} cases, ${bad} wrong on node`);
process.exit(bad ? 1 : 0);
