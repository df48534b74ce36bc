/**
 * Golden-parity adapter for the `doubleattn_*` cases of `fixtures/golden/attention/` (official
 * `DoubleAttentionLayer`, NCHW). Used by the `@ablate/core` harness (`runParityCase`) and `pnpm golden`.
 */

import type { Module, ParityAdapter, ParityCase } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { DoubleAttention } from './double-attention.js';

/** True when a case JSON describes the official DoubleAttentionLayer (decided from `reference`, not the file name). */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function goldenMatches(json: any): boolean {
  const ref = json?.reference;
  if (!ref) return false;
  const cls = String(ref.class ?? '');
  const file = String(ref.path ?? '');
  return /^DoubleAttentionLayer\b/.test(cls) || file.endsWith('double_attention_layer.py');
}

export const goldenAdapter: ParityAdapter = {
  build(c: ParityCase): Module {
    const k = c.json.constructor ?? {};
    for (const key of Object.keys(k)) {
      if (!['in_channels', 'c_m', 'c_n', 'reconstruct'].includes(key)) {
        throw new Error(`${c.name}: unknown DoubleAttentionLayer constructor argument "${key}"; known: in_channels, c_m, c_n, reconstruct`);
      }
    }
    return new DoubleAttention(k.in_channels, k.c_m, k.c_n, { reconstruct: Boolean(k.reconstruct) });
  },
  forward(module: Module, inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const x = inputs.x;
    if (!x) throw new Error(`DoubleAttention golden adapter: missing input "x"; got ${Object.keys(inputs).join(', ')}`);
    // NCHW -> NHWC -> module -> NCHW
    const y = (module as DoubleAttention).forward(tf.transpose(x, [0, 2, 3, 1]));
    return { y: tf.transpose(y, [0, 3, 1, 2]) };
  },
};
