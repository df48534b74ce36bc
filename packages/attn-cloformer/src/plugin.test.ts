import { MAP_SHAPES, makeCtx, runThroughPlugin, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EfficientAttention } from './efficient-attention.js';
import { defaultHeads, efficientAttentionSpec, flops, plugin } from './plugin.js';

describe('EfficientAttention plugin: YAML args', () => {
  it('registers the canonical name and the alias, shape-preserving', () => {
    expect(plugin.modules.map((s) => s.name)).toEqual(['EfficientAttention']);
    expect(efficientAttentionSpec.aliases).toContain('AttnConv');
    expect(efficientAttentionSpec.shapePreserving).toBe(true);
  });

  it('derives heads and groups from c (CloFormer-XXS head widths), window auto', () => {
    expect([16, 32, 48, 64, 80, 128, 256, 512, 576, 640].map(defaultHeads)).toEqual([4, 4, 4, 4, 5, 8, 16, 32, 36, 40]);
    expect(efficientAttentionSpec.channels([], makeCtx(32))).toEqual({ args: [32, 4, [2, 2], [5], { windowSize: 'auto' }], c2: 32 });
    expect(efficientAttentionSpec.channels([1024], makeCtx(256))).toEqual({
      args: [256, 16, [8, 8], [5], { windowSize: 'auto' }],
      c2: 256,
    });
    expect(efficientAttentionSpec.channels([null, 8, [2, 2, 4], [3, 5], 4], makeCtx(64))).toEqual({
      args: [64, 8, [2, 2, 4], [3, 5], { windowSize: 4 }],
      c2: 64,
    });
    // group_split alone decides num_heads
    expect(efficientAttentionSpec.channels([null, null, [3, 1]], makeCtx(32))).toEqual({
      args: [32, 4, [3, 1], [5], { windowSize: 'auto' }],
      c2: 32,
    });
  });

  it('errors clearly on contradicting or inconsistent args', () => {
    expect(() => efficientAttentionSpec.channels([512], makeCtx(32))).toThrow(
      /YAML channel count 512 \(width-scaled: 128\) contradicts the input's 32 channels/,
    );
    expect(() => efficientAttentionSpec.channels([null, 5], makeCtx(32))).toThrow(/num_heads 5 does not divide the input's 32 channels/);
    expect(() => efficientAttentionSpec.channels([null, 4, [1, 1, 2]], makeCtx(32))).toThrow(/give kernel_sizes/);
    expect(() => efficientAttentionSpec.channels([null, 4, [1, 2]], makeCtx(32))).toThrow(/sum\(group_split\) = 3 must equal num_heads 4/);
    expect(() => efficientAttentionSpec.channels([null, null, null, null, 0], makeCtx(32))).toThrow(
      /window_size .* positive integer or 'auto'/,
    );
  });

  it('builds the module and counts its FLOPs through the plugin', async () => {
    await useBackend('cpu');
    const ctx = makeCtx(64);
    const m = efficientAttentionSpec.build(efficientAttentionSpec.channels([null, null, null, null, 4], ctx).args, ctx);
    expect(m).toBeInstanceOf(EfficientAttention);
    expect(flops(m, [[1, 8, 8, 64]])).toBe((m as EfficientAttention).flops([1, 8, 8, 64]));
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
  describe(`EfficientAttention plugin on YOLOv8 feature maps (${backend})`, () => {
    for (const c of widths) {
      it(`c = ${c}: shapes ${MAP_SHAPES.map((s) => s.join('x')).join(', ')}: output shape, finite, every parameter gets a non-zero gradient, no leaks`, async () => {
        await useBackend(backend);
        for (const shape of MAP_SHAPES) {
          const before = tf.memory().numTensors;
          const r = runThroughPlugin(efficientAttentionSpec, [], shape, c);
          expect(tf.memory().numTensors).toBe(before);
          expect(r.shape).toEqual([...shape, c]);
          expect(r.finite).toBe(true);
          expect(r.inputGradMax).toBeGreaterThan(0);
          for (const [name, g] of Object.entries(r.paramGrads)) expect(g, `${name} on ${shape}`).toBeGreaterThan(0);
        }
      });
    }
  });
}
