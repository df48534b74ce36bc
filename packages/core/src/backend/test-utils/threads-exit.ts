// Child-process fixture for wasm-threads.test.ts: initialises wasm with 2 threads, runs a conv and
// its gradients, prints one JSON line and returns WITHOUT process.exit(): the process must then exit
// by itself (the pthread workers are unref'd by afterReady()).

import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../index.js';

const info = await initBackend('wasm', { threads: 2, log: false });
const x = tf.randomNormal([2, 16, 16, 8]);
const w = tf.randomNormal([3, 3, 8, 16]);
const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, w]);
const ok = Number.isFinite(tf.sum(dx).dataSync()[0]) && Number.isFinite(tf.sum(dw).dataSync()[0]);
console.log(JSON.stringify({ threads: info.threads, wasmThreads: getThreadsCount(), ok }));
