// fuseModel (Ultralytics' model.fuse(): BatchNorm folded into the convs) against the unfused model: the
// golden yolov8n weights and input (fixtures/golden/yolov8/forward_n, real BatchNorm statistics) in eval
// mode; the raw Detect maps and the decoded inference agree within the file's float32 tolerances (its
// `tolerance`, ~15x PyTorch's own float32-vs-float64 deviation; the file also records PyTorch's fused-vs-
// unfused difference) on cpu and wasm; undo restores the unfused path; train mode ignores the folded
// copies; no leaks.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend, readSafetensors, toTfTensor } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildModel } from './model.js';
import { Conv, type DetectOutput, fuseModel } from './modules.js';

const jsonPath = fileURLToPath(new URL('../../../fixtures/golden/yolov8/forward_n.json', import.meta.url));
const stPath = fileURLToPath(new URL('../../../fixtures/golden/yolov8/forward_n.safetensors', import.meta.url));
const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));

/** max |a - b| and ||a - b|| / ||b|| (the golden file's two measures). */
function errs(a: tf.Tensor, b: tf.Tensor): { maxAbs: number; relL2: number } {
  const x = a.dataSync();
  const y = b.dataSync();
  let maxAbs = 0;
  let d2 = 0;
  let n2 = 0;
  for (let i = 0; i < y.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    maxAbs = Math.max(maxAbs, d);
    d2 += d * d;
    n2 += y[i] * y[i];
  }
  return { maxAbs, relL2: Math.sqrt(d2 / n2) };
}
const maxErr = (a: tf.Tensor, b: tf.Tensor) => errs(a, b).maxAbs;
const tolRaw = json.tolerance['output.raw.*'] as { max_abs: number; rel_l2: number };
const tolInf = json.tolerance['output.inference'] as { max_abs: number; rel_l2: number };

for (const backend of testBackends()) {
  describe(`fuseModel on ${backend}`, () => {
    it('fused and unfused eval outputs agree; undo restores; train mode unaffected; no leak', async () => {
      await initBackend(backend, { log: false });
      const m = buildModel('yolov8n.yaml', { nc: json.nc });
      m.loadWeights(stPath, { prefix: 'param.' });
      m.eval();
      const st = readSafetensors(fs.readFileSync(stPath));
      const nchw = toTfTensor(st.tensors.get('input.images') as never);
      const x = tf.transpose(nchw, [0, 2, 3, 1]); // [B, C, H, W] -> [B, H, W, C]
      nchw.dispose();
      const before = tf.memory().numTensors;
      const ref = m.forward(x) as DetectOutput;
      const { fused, undo } = fuseModel(m);
      const convs = m.namedModules().filter(([, c]) => c instanceof Conv).length;
      expect(fused).toBe(convs);
      expect(fused).toBeGreaterThan(50);
      const got = m.forward(x) as DetectOutput;
      const inf = errs(got.inference, ref.inference);
      const raw = got.raw.map((r, i) => errs(r, ref.raw[i]));
      console.log(
        `[fuse ${backend}] ${fused} Conv blocks fused; fused vs unfused: inference max_abs ${inf.maxAbs.toExponential(2)} rel_l2 ${inf.relL2.toExponential(2)}; raw max_abs ${raw
          .map((e) => e.maxAbs.toExponential(2))
          .join(
            ' / ',
          )} rel_l2 ${raw.map((e) => e.relL2.toExponential(2)).join(' / ')} (PyTorch's own: ${JSON.stringify(json.tolerance_guidance.max_abs_diff_fused_vs_unfused)})`,
      );
      expect(inf.maxAbs).toBeLessThan(tolInf.max_abs);
      expect(inf.relL2).toBeLessThan(tolInf.rel_l2);
      for (const e of raw) {
        expect(e.maxAbs).toBeLessThan(tolRaw.max_abs);
        expect(e.relL2).toBeLessThan(tolRaw.rel_l2);
      }
      undo();
      const again = m.forward(x) as DetectOutput;
      expect(maxErr(again.inference, ref.inference)).toBe(0);
      tf.dispose([ref.inference, ...ref.raw, got.inference, ...got.raw, again.inference, ...again.raw]);
      expect(tf.memory().numTensors).toBe(before);
      // train mode runs the BatchNorm path even while fused
      const f2 = fuseModel(m);
      m.train();
      const conv = m.namedModules().find(([, c]) => c instanceof Conv)?.[1] as Conv;
      expect(conv.isFused).toBe(true);
      const tr = tf.tidy(() => (m.forward(x) as tf.Tensor[]).map((t) => tf.sum(t)));
      f2.undo();
      const tr2 = tf.tidy(() => (m.forward(x) as tf.Tensor[]).map((t) => tf.sum(t)));
      tr.forEach((t, i) => {
        expect(t.dataSync()[0]).toBe(tr2[i].dataSync()[0]);
      });
      tf.dispose([...tr, ...tr2, x]);
      m.dispose();
    });
  });
}
