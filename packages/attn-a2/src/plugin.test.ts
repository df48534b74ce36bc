import { MAP_SHAPES, makeCtx, runThroughPlugin, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DoubleAttention } from './double-attention.js';
import { doubleAttentionSpec, flops, plugin } from './plugin.js';

describe('DoubleAttention plugin: YAML args', () => {
  it('registers the canonical name and the alias, shape-preserving', () => {
    expect(plugin.modules.map((s) => s.name)).toEqual(['DoubleAttention']);
    expect(doubleAttentionSpec.aliases).toContain('DoubleAttentionLayer');
    expect(doubleAttentionSpec.shapePreserving).toBe(true);
  });

  it('resolves [] and the tutorial form [128, 1] to c -> c with c_m = c_n = c, reconstruct on', () => {
    expect(doubleAttentionSpec.channels([], makeCtx(32))).toEqual({ args: [32, 32, 32, true], c2: 32 });
    // the tutorial: `DoubleAttentionLayer, [128, 1]` after a C2f [128]: 32 channels in yolov8n (width 0.25)
    expect(doubleAttentionSpec.channels([128, 1], makeCtx(32))).toEqual({ args: [32, 32, 32, true], c2: 32 });
    // the channel count as the input has it (unscaled) is accepted too
    expect(doubleAttentionSpec.channels([32], makeCtx(32))).toEqual({ args: [32, 32, 32, true], c2: 32 });
    expect(doubleAttentionSpec.channels([null, true, 16, 8], makeCtx(64))).toEqual({ args: [64, 16, 8, true], c2: 64 });
    // without reconstruct the output has c_m channels
    expect(doubleAttentionSpec.channels([null, false, 16, 8], makeCtx(64))).toEqual({ args: [64, 16, 8, false], c2: 16 });
  });

  it('errors clearly on a contradicting channel count and bad args', () => {
    expect(() => doubleAttentionSpec.channels([512], makeCtx(32))).toThrow(
      /DoubleAttention at test.yaml backbone\[3\]: YAML channel count 512 \(width-scaled: 128\) contradicts the input's 32 channels/,
    );
    expect(() => doubleAttentionSpec.channels([null, 'yes'], makeCtx(32))).toThrow(/reconstruct .* must be a boolean/);
    expect(() => doubleAttentionSpec.channels([null, true, 0], makeCtx(32))).toThrow(/c_m .* must be a positive integer/);
    expect(() => doubleAttentionSpec.channels([1, 2, 3, 4, 5], makeCtx(32))).toThrow(/at most 4 args/);
  });

  it('builds the module and counts its FLOPs', async () => {
    await useBackend('cpu');
    const ctx = makeCtx(64);
    const m = doubleAttentionSpec.build(doubleAttentionSpec.channels([], ctx).args, ctx);
    expect(m).toBeInstanceOf(DoubleAttention);
    const n = 1 * 20 * 20;
    expect(flops(m, [[1, 20, 20, 64]])).toBe(2 * (n * 64 * 192 + n * 64 * 64 + 2 * n * 64 * 64));
    m.dispose();
  });
});

// The full matrix on wasm (the training backend); the pure-JS cpu backend takes over a minute at c = 256,
// so it runs c = 32 and 64.
const MATRIX = [
  ['wasm', [32, 64, 256]],
  ['cpu', [32, 64]],
] as const;

for (const [backend, widths] of MATRIX) {
  describe(`DoubleAttention plugin on YOLOv8 feature maps (${backend})`, () => {
    for (const c of widths) {
      it(`c = ${c}: shapes ${MAP_SHAPES.map((s) => s.join('x')).join(', ')}: output shape, finite, every parameter gets a gradient, no leaks`, async () => {
        await useBackend(backend);
        for (const shape of MAP_SHAPES) {
          const before = tf.memory().numTensors;
          const r = runThroughPlugin(doubleAttentionSpec, [], shape, c);
          expect(tf.memory().numTensors).toBe(before);
          expect(r.shape).toEqual([...shape, c]);
          expect(r.finite).toBe(true);
          expect(r.inputGradMax).toBeGreaterThan(0);
          for (const [name, g] of Object.entries(r.paramGrads)) {
            if (name === 'convB.bias') {
              // mathematically zero: a bias on the logits of a softmax over positions cancels out
              expect(g, name).toBeLessThan(1e-3);
            } else expect(g, `${name} on ${shape}`).toBeGreaterThan(0);
          }
        }
      });
    }
  });
}
