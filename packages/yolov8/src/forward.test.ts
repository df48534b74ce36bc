// Forward parity with Ultralytics 8.0.229 (fixtures/golden/yolov8/forward_n.*): a fixed-weight yolov8n in eval
// mode, every layer's activation, the raw Detect maps, the decoded inference, anchors; on cpu and wasm.
// Plus weights: save -> bit-exact PyTorch names/layouts; non-strict loading into changed architectures.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend, readSafetensors, type SafeTensor, toTfTensor } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRegistry, standInPlugin } from './builtins.js';
import { runForwardGolden } from './golden.js';
import { insertModule } from './insert.js';
import { buildModel } from './model.js';
import type { DetectOutput } from './modules.js';

const jsonPath = fileURLToPath(new URL('../../../fixtures/golden/yolov8/forward_n.json', import.meta.url));
const stPath = fileURLToPath(new URL('../../../fixtures/golden/yolov8/forward_n.safetensors', import.meta.url));
const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));

for (const backend of testBackends()) {
  describe(`forward_n on ${backend}`, () => {
    it('every activation, raw map, inference, anchors within the file tolerances; no leak', async () => {
      await initBackend(backend, { log: false });
      const before = tf.memory().numTensors;
      const rows = await runForwardGolden(jsonPath);
      expect(tf.memory().numTensors).toBe(before);
      const failed = rows.filter((r) => !r.pass);
      const worst = (p: string) => Math.max(...rows.filter((r) => r.name.startsWith(p)).map((r) => r.worst));
      console.log(
        `[${backend}] worst act rel_l2 ${worst('act.').toExponential(2)}, raw ${worst('output.raw').toExponential(2)}, inference ${worst('output.inference').toExponential(2)}, dfl ${worst('debug.dfl').toExponential(2)}`,
      );
      expect(failed).toEqual([]);
      expect(rows.length).toBe(json.layers.length - 1 + 3 + 1 + 3 + 1);
    });
  });
}

describe('weights', () => {
  it('save gives back the PyTorch state dict bit-exactly', async () => {
    await initBackend('cpu', { log: false });
    const st = readSafetensors(fs.readFileSync(stPath));
    const m = buildModel('yolov8n.yaml', { nc: json.nc });
    try {
      const r = m.loadWeights(stPath, { prefix: 'param.' });
      expect(r.loaded.length).toBe(json.param_names.length);
      expect(r.missing).toEqual([]);
      expect(r.skipped.filter((s) => s.name.startsWith('model.'))).toEqual([]);
      const saved = readSafetensors(m.saveWeights());
      expect([...saved.tensors.keys()].sort()).toEqual([...json.param_names].sort());
      for (const name of json.param_names as string[]) {
        const a = saved.tensors.get(name) as SafeTensor;
        const b = st.tensors.get(`param.${name}`) as SafeTensor;
        expect(a.shape, name).toEqual(b.shape);
        const bytes = (t: SafeTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        expect(bytes(a).equals(bytes(b)), name).toBe(true);
      }
    } finally {
      m.dispose();
    }
  });

  it('loading into a changed architecture transfers what matches and reports the rest', async () => {
    await initBackend('cpu', { log: false });
    const registry = createRegistry(standInPlugin);
    const st = readSafetensors(fs.readFileSync(stPath));
    // nc 80: every class-branch last conv differs in shape
    const m80 = buildModel('yolov8n.yaml', { nc: 80 });
    // residual stand-in: same names plus model.8.m.0.attn.*
    const res = buildModel(insertModule('yolov8n.yaml', { name: 'StandIn', args: (p) => [p.channels] }, 'residual', { registry }), {
      nc: json.nc,
      scale: 'n',
      registry,
    });
    try {
      // the class branch is wider for nc 80 (c3 = max(ch0, min(nc, 100)) = 80, not 64): its shapes differ
      const shapes = new Map(m80.namedTensors().map(([n, p]) => [n, p.torchShape]));
      const differ = (json.param_names as string[])
        .filter((n) => JSON.stringify(shapes.get(n)) !== JSON.stringify(st.tensors.get(`param.${n}`)?.shape))
        .sort();
      expect(differ.length).toBeGreaterThan(0);
      expect(differ.every((n) => n.startsWith('model.22.cv3.'))).toBe(true);
      const r = m80.loadWeights(st, { prefix: 'param.' });
      const mismatched = r.skipped.map((s) => s.name).sort();
      expect(mismatched).toEqual(differ);
      expect(r.skipped.find((s) => s.name === 'model.22.cv3.0.2.weight')?.reason).toBe('shape [3,64,1,1] but the model has [80,80,1,1]');
      expect(r.loaded.length).toBe(json.param_names.length - differ.length);
      expect(r.missing).toEqual([]);
      const r2 = res.loadWeights(st, { prefix: 'param.' });
      expect(r2.skipped).toEqual([]);
      expect(r2.loaded.length).toBe(json.param_names.length);
      expect(r2.missing).toEqual(['model.8.m.0.attn.conv.weight', 'model.8.m.0.attn.conv.bias']);
      // loaded tensors are the file's (one spot check in PyTorch layout)
      const w = res.stateDict();
      const want = toTfTensor(st.tensors.get('param.model.21.cv2.conv.weight') as never);
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(w.get('model.21.cv2.conv.weight') as tf.Tensor, want))).dataSync()[0])).toBe(0);
      want.dispose();
      for (const t of w.values()) t.dispose();
      expect(() => m80.loadWeights(st, { prefix: 'param.', strict: true })).toThrow('shape of model.22.cv3.0.0.conv.weight');
    } finally {
      m80.dispose();
      res.dispose();
    }
  });

  it('predict returns [B, 4 + nc, A] and train mode returns the raw maps NHWC', async () => {
    await initBackend('cpu', { log: false });
    const m = buildModel('yolov8n.yaml', { nc: 3 });
    const before = tf.memory().numTensors;
    try {
      const x = tf.zeros([2, 64, 64, 3]);
      const p = m.predict(x);
      expect(p.shape).toEqual([2, 7, 64 + 16 + 4]);
      p.dispose();
      m.train();
      const raw = m.forward(x) as tf.Tensor[];
      expect(raw.map((t) => t.shape)).toEqual([
        [2, 8, 8, 67],
        [2, 4, 4, 67],
        [2, 2, 2, 67],
      ]);
      for (const t of raw) t.dispose();
      m.eval();
      const o = m.forward(x) as DetectOutput;
      expect(o.inference.shape).toEqual([2, 7, 84]);
      tf.dispose([o.inference, ...o.raw]);
      // predict / val modes: NMS rows [x1, y1, x2, y2, conf, cls] per image
      const val = m.detections(x, 'val');
      expect(val.length).toBe(2);
      for (const img of val) for (const r of img) expect(r.length === 6 && r[4] > 0.001 && r[5] >= 0 && r[5] < 3).toBe(true);
      const pred = m.detections(x, { confThres: 0, iouThres: 0.7, maxDet: 5 });
      expect(pred.map((d) => d.length)).toEqual([5, 5]);
      expect(() => m.detections(x, 'train' as never)).toThrow('unknown mode "train"; known: predict, val');
      x.dispose();
    } finally {
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    }
  });
});
