// Pretrained weights across insertion: a baseline state dict moved through the insertion's index map
// fills every base tensor of the variant (exact counts), leaves only the inserted modules initialised, and
// with identity stand-ins the variant computes exactly what the baseline computes; a head with another nc is
// reported tensor by tensor, never silently.
import { initBackend, manualSeed } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, StandIn, standInPlugin } from './builtins.js';
import { insertModuleMapped } from './insert.js';
import { buildModel } from './model.js';
import type { DetectOutput } from './modules.js';
import { transferWeights } from './transfer.js';

const registry = createRegistry(standInPlugin);
const standIn = { name: 'StandIn', args: (p: { channels: number }) => [p.channels] };

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

describe('transferWeights', () => {
  it('all four positions at once: every base tensor transferred, only the stand-ins initialised, output reproduced', () => {
    manualSeed(1);
    const base = buildModel('yolov8n.yaml', { nc: 3, registry });
    const sd = base.stateDict();
    const { yaml, indexMap } = insertModuleMapped('yolov8n.yaml', standIn, ['residual', 'pre-SPPF', 'neck', 'pre-head'], { registry });
    // stock 0..22 -> pre-SPPF moves SPPF and after by 1, neck by 2 after 12, pre-head puts Detect at 27
    expect(indexMap).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 27]);
    manualSeed(2);
    const m = buildModel(yaml, { nc: 3, registry });
    try {
      const r = transferWeights(m, sd, indexMap);
      expect(r.total).toBe(sd.size);
      expect(r.transferred).toBe(sd.size);
      expect(r.notTransferred).toEqual([]);
      let elems = 0;
      for (const t of sd.values()) elems += t.size;
      expect(r.parameters).toBe(elems);
      expect(r.summary).toBe(`transferred ${sd.size} of ${sd.size} tensors (${elems.toLocaleString('en-US')} parameters)`);
      // what stays initialised: the stand-ins only (layers 9, 14, 24-26 and the one inside C2f 8's Bottleneck)
      expect(r.initialised.every((n) => /^model\.(9|14|24|25|26)\.conv\.|^model\.8\.m\.0\.attn\./.test(n))).toBe(true);
      expect(r.initialised.length).toBe(6 * 2);
      for (const [, mod] of m.namedModules()) {
        if (!(mod instanceof StandIn)) continue;
        const c = mod.conv.inChannels;
        tf.tidy(() => {
          mod.conv.weight.assign(tf.reshape(tf.eye(c), [1, 1, c, c]));
          mod.conv.bias?.assign(tf.zeros([c]));
        });
      }
      base.eval();
      m.eval();
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 3);
      const a = tf.tidy(() => (base.forward(x) as DetectOutput).inference.dataSync());
      const b = tf.tidy(() => (m.forward(x) as DetectOutput).inference.dataSync());
      x.dispose();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-3);
    } finally {
      m.dispose();
      base.dispose();
      for (const t of sd.values()) t.dispose();
    }
  });

  it('a head with another nc: the class convs are reported with their shapes; the rest transferred', () => {
    const base = buildModel('yolov8n.yaml', { nc: 80, registry });
    const sd = base.stateDict();
    const { yaml, indexMap } = insertModuleMapped('yolov8n.yaml', standIn, 'neck', { registry });
    const m = buildModel(yaml, { nc: 3, registry });
    try {
      const r = transferWeights(m, sd, indexMap);
      // Detect's class branch cv3 is c3 = max(c2, min(nc, 100)) wide: 80 channels in the checkpoint, 64 here
      // (yolov8n P3), so all of cv3 (3 levels x (2 Conv-BN x 5 tensors + last conv weight, bias) = 36) differs.
      expect(r.notTransferred).toHaveLength(36);
      expect(r.notTransferred.every((n) => /^model\.22\.cv3\./.test(n.name) && /shape/.test(n.reason))).toBe(true);
      expect(r.transferred).toBe(sd.size - 36);
      expect(r.summary).toMatch(new RegExp(`^transferred ${sd.size - 36} of ${sd.size} tensors .*; not transferred: model\\.22\\.cv3`));
    } finally {
      m.dispose();
      base.dispose();
      for (const t of sd.values()) t.dispose();
    }
  });
});
