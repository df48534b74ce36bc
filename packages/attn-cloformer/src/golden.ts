/**
 * Golden-parity adapter for the `cloformer_*` cases of `fixtures/golden/attention/` (official CloFormer
 * `EfficientAttention`, NCHW). Used by the `@ablate/core` harness (`runParityCase`) and `pnpm golden`.
 */

import type { Module, ParityAdapter, ParityCase } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { EfficientAttention } from './efficient-attention.js';

/** True when a case JSON describes CloFormer's EfficientAttention (decided from `reference`, not the file name). */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function goldenMatches(json: any): boolean {
  const ref = json?.reference;
  if (!ref) return false;
  const isClass = /^EfficientAttention\b/.test(String(ref.class ?? ''));
  const isCloFormer = /cloformer/i.test(String(ref.repo ?? '')) || String(ref.path ?? '').endsWith('classification/models/blocks.py');
  return isClass && isCloFormer;
}

const KNOWN_ARGS = ['dim', 'num_heads', 'group_split', 'kernel_sizes', 'window_size', 'attn_drop', 'proj_drop', 'qkv_bias'];

export const goldenAdapter: ParityAdapter = {
  build(c: ParityCase): Module {
    const k = c.json.constructor ?? {};
    for (const key of Object.keys(k)) {
      if (!KNOWN_ARGS.includes(key))
        throw new Error(`${c.name}: unknown EfficientAttention constructor argument "${key}"; known: ${KNOWN_ARGS.join(', ')}`);
    }
    return new EfficientAttention(k.dim, k.num_heads, k.group_split, k.kernel_sizes, {
      windowSize: k.window_size ?? 7,
      attnDrop: k.attn_drop ?? 0,
      projDrop: k.proj_drop ?? 0,
      qkvBias: k.qkv_bias ?? true,
    });
  },
  forward(module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor> {
    const x = inputs.x;
    if (!x) throw new Error(`${c.name}: missing input "x"; got ${Object.keys(inputs).join(', ')}`);
    // NCHW -> NHWC -> module -> NCHW
    const y = (module as EfficientAttention).forward(tf.transpose(x, [0, 2, 3, 1]));
    return { y: tf.transpose(y, [0, 3, 1, 2]) };
  },
};
