import { Generator, initBackend, manualSeed, randUniform } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { SPPF } from './modules.js';
async function run(b: string, shape: number[]) {
  await initBackend(b as any, { log: false });
  manualSeed(5);
  const m = new SPPF(shape[3], shape[3], 5);
  m.train();
  const x = randUniform(shape as any, -1, 1, new Generator(7));
  const r = randUniform([shape[0], shape[1], shape[2], shape[3]] as any, -1, 1, new Generator(9));
  const a = m.cv1.forward(x);
  const tail = (t: tf.Tensor) => { const y = [t]; for (let i = 0; i < 3; i++) y.push(m.m.forward(y[y.length - 1])); return m.cv2.forward(tf.concat(y, 3)); };
  const ga = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tail(t), r)))(a);
  const pool = (t: tf.Tensor) => { const y = [t]; for (let i = 0; i < 3; i++) y.push(m.m.forward(y[y.length - 1])); return tf.concat(y, 3); };
  const pc = pool(a);
  const r2 = randUniform(pc.shape as any, -1, 1, new Generator(11));
  const gp = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t), r2)))(a);
  const gc = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(m.cv1.forward(t), a)))(x);
  return { a: Array.from(a.dataSync()), ga: Array.from(ga.dataSync()), gp: Array.from(gp.dataSync()), gc: Array.from(gc.dataSync()), ties: (() => { const v = a.dataSync(); return new Set(v).size + '/' + v.length; })() };
}
it('sppf', async () => {
  const A = await run('cpu', [2, 4, 4, 256]); const B = await run('node', [2, 4, 4, 256]);
  for (const k of ['a', 'ga', 'gp', 'gc'] as const) { let m = 0; for (let i = 0; i < A[k].length; i++) m = Math.max(m, Math.abs(A[k][i] - B[k][i])); console.log('RES', k, m); }
  console.log('RES ties', A.ties, B.ties);
}, 600000);
