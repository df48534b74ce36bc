import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import { backendInfo, initBackend } from './index.js';

test('initBackend registers the stock gradients, chooses the backend and logs one line', async () => {
  const lines: string[] = [];
  const info = await initBackend('wasm', { log: (l) => lines.push(l) });
  expect(info).toMatchObject({ name: 'wasm', tfBackend: 'wasm', threads: 1 });
  expect(tf.getBackend()).toBe('wasm');
  expect(lines).toEqual([`ablate: backend wasm (${info.simd ? 'SIMD' : 'no SIMD'}, 1 thread)`]);
  expect(backendInfo()).toBe(info);
  // Stock gradients (tfjs-core's Node bundle has none) and an end-to-end gradient on the chosen backend.
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x, x)))(tf.tensor([1, -2, 3]));
  expect(Array.from(g.dataSync())).toEqual([2, -4, 6]);
  const cpu = await initBackend('cpu', { log: false });
  expect(cpu.name).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');
});

test('unknown backends are named with the alternatives', async () => {
  await expect(initBackend('metal' as never)).rejects.toThrow('Unknown backend "metal"; known: auto, tensorflow, webgpu, node, wasm, cpu');
});
