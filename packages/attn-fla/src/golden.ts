/**
 * Golden-parity adapter for the `fla_*` cases of `fixtures/golden/attention/`: the blog variant of the
 * first release (commit e743f01, NCHW maps, `normalization: 'sum'`) and the official HEAD class (commit
 * abdb115, (B_, N, C) windows, `normalization: 'mean'`). The version is read from `reference.commit`.
 */

import type { Module, ParityAdapter, ParityCase } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { type FlaNormalization, FocusedLinearAttention } from './focused-linear-attention.js';

/** Commits of LeapLabTHU/FLatten-Transformer and the normalisation each one uses. */
export const FLA_COMMITS: Readonly<Record<string, FlaNormalization>> = {
  e743f01153f9a89050aa848524a8fe9ec313ef80: 'sum',
  abdb115f5406c0e1b6864aad7fe998a3f424ae76: 'mean',
};

/** Normalisation of the official version at `commit` (full or abbreviated hash). */
export function normalizationOfCommit(commit: string): FlaNormalization {
  const c = String(commit).toLowerCase();
  for (const [full, norm] of Object.entries(FLA_COMMITS)) {
    if (c.length >= 7 && full.startsWith(c)) return norm;
  }
  throw new Error(
    `FocusedLinearAttention: unknown FLatten-Transformer commit "${commit}"; known: ${Object.keys(FLA_COMMITS)
      .map((k) => k.slice(0, 7))
      .join(', ')}`,
  );
}

/** True when a case JSON describes FLatten's FocusedLinearAttention (decided from `reference`, not the file name). */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function goldenMatches(json: any): boolean {
  const ref = json?.reference;
  if (!ref) return false;
  return /^FocusedLinearAttention\b/.test(String(ref.class ?? '')) && /flatten_[a-z0-9_]*\.py$/.test(String(ref.path ?? ''));
}

const KNOWN_ARGS = ['dim', 'window_size', 'num_heads', 'qkv_bias', 'qk_scale', 'attn_drop', 'proj_drop', 'focusing_factor', 'kernel_size'];

export const goldenAdapter: ParityAdapter = {
  build(c: ParityCase): Module {
    const k = c.json.constructor ?? {};
    for (const key of Object.keys(k)) {
      if (!KNOWN_ARGS.includes(key))
        throw new Error(`${c.name}: unknown FocusedLinearAttention constructor argument "${key}"; known: ${KNOWN_ARGS.join(', ')}`);
    }
    return new FocusedLinearAttention(k.dim, {
      windowSize: k.window_size,
      numHeads: k.num_heads,
      qkvBias: k.qkv_bias ?? true,
      focusingFactor: k.focusing_factor ?? 3,
      kernelSize: k.kernel_size ?? 5,
      attnDrop: k.attn_drop ?? 0,
      projDrop: k.proj_drop ?? 0,
      normalization: normalizationOfCommit(c.json.reference.commit),
    });
  },
  forward(module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor> {
    const m = module as FocusedLinearAttention;
    const x = inputs.x;
    if (!x) throw new Error(`${c.name}: missing input "x"; got ${Object.keys(inputs).join(', ')}`);
    if (x.rank === 4) {
      // blog variant: NCHW map -> NHWC -> module -> NCHW
      return { y: tf.transpose(m.forward(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]) };
    }
    if (x.rank === 3) {
      // official: (B_, N, C) windows; the dwc map is sqrt(N) x sqrt(N), as official
      const n = x.shape[1] as number;
      const side = Math.round(Math.sqrt(n));
      if (side * side !== n) throw new Error(`${c.name}: token input with N = ${n} is not a square window`);
      return { y: m.forwardTokens(x, side, side) };
    }
    throw new Error(`${c.name}: input x must be NCHW (rank 4) or (B_, N, C) (rank 3), got [${x.shape}]`);
  },
};
