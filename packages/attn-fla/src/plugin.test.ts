import { MAP_SHAPES, makeCtx, runThroughPlugin, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FocusedLinearAttention } from './focused-linear-attention.js';
import { defaultHeads, flops, focusedLinearAttentionSpec, plugin } from './plugin.js';

const DEFAULTS = { numHeads: 8, windowSize: [20, 20], focusingFactor: 3, kernelSize: 5, normalization: 'sum' };

describe('FocusedLinearAttention plugin: YAML args', () => {
  it('registers the canonical name and the alias, shape-preserving', () => {
    expect(plugin.modules.map((s) => s.name)).toEqual(['FocusedLinearAttention']);
    expect(focusedLinearAttentionSpec.aliases).toContain('FLA');
    expect(focusedLinearAttentionSpec.shapePreserving).toBe(true);
  });

  it('resolves [] and the tutorial form [256] (after SPPF in yolov8n) with the tutorial defaults', () => {
    expect(focusedLinearAttentionSpec.channels([], makeCtx(32))).toEqual({ args: [32, DEFAULTS], c2: 32 });
    expect(focusedLinearAttentionSpec.channels([256], makeCtx(256))).toEqual({ args: [256, DEFAULTS], c2: 256 });
    expect(focusedLinearAttentionSpec.channels([1024], makeCtx(256))).toEqual({ args: [256, DEFAULTS], c2: 256 });
    expect(focusedLinearAttentionSpec.channels([null, 4, 7, 2, 3, 'mean'], makeCtx(64))).toEqual({
      args: [64, { numHeads: 4, windowSize: [7, 7], focusingFactor: 2, kernelSize: 3, normalization: 'mean' }],
      c2: 64,
    });
    expect(focusedLinearAttentionSpec.channels([null, null, [10, 20]], makeCtx(64)).args[1]).toMatchObject({ windowSize: [10, 20] });
    expect([8, 12, 20, 6, 7].map(defaultHeads)).toEqual([8, 4, 4, 2, 1]);
  });

  it('errors clearly on contradicting or bad args', () => {
    expect(() => focusedLinearAttentionSpec.channels([256], makeCtx(512, 0.5))).toThrow(
      /YAML channel count 256 \(width-scaled: 128\) contradicts the input's 512 channels/,
    );
    expect(() => focusedLinearAttentionSpec.channels([null, 3], makeCtx(32))).toThrow(
      /num_heads 3 does not divide the input's 32 channels/,
    );
    expect(() => focusedLinearAttentionSpec.channels([null, null, null, null, null, 'softmax'], makeCtx(32))).toThrow(
      /unknown normalization "softmax"; known: sum, mean/,
    );
    expect(() => focusedLinearAttentionSpec.channels([null, null, [0, 4]], makeCtx(32))).toThrow(
      /window_size\[0\] must be a positive integer/,
    );
  });

  it('builds the module and counts its FLOPs through the plugin', async () => {
    await useBackend('cpu');
    const ctx = makeCtx(64);
    const m = focusedLinearAttentionSpec.build(focusedLinearAttentionSpec.channels([], ctx).args, ctx);
    expect(m).toBeInstanceOf(FocusedLinearAttention);
    expect((m as FocusedLinearAttention).positionalEncoding.shape).toEqual([1, 400, 64]);
    expect(flops(m, [[1, 20, 20, 64]])).toBe((m as FocusedLinearAttention).flops([1, 20, 20, 64]));
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
  describe(`FocusedLinearAttention plugin on YOLOv8 feature maps (${backend})`, () => {
    for (const c of widths) {
      it(`c = ${c}: shapes ${MAP_SHAPES.map((s) => s.join('x')).join(', ')}: output shape, finite, every parameter gets a non-zero gradient, no leaks`, async () => {
        await useBackend(backend);
        for (const shape of MAP_SHAPES) {
          const before = tf.memory().numTensors;
          // window 4x4 (16 encoding rows): the 16x16 and 12x20 maps repeat the encoding, the others slice it
          for (const args of [[], [null, null, 4, null, null, 'mean']]) {
            const r = runThroughPlugin(focusedLinearAttentionSpec, args, shape, c);
            expect(r.shape).toEqual([...shape, c]);
            expect(r.finite).toBe(true);
            expect(r.inputGradMax).toBeGreaterThan(0);
            for (const [name, g] of Object.entries(r.paramGrads)) expect(g, `${name} on ${shape}`).toBeGreaterThan(0);
          }
          expect(tf.memory().numTensors).toBe(before);
        }
      });
    }
  });
}
