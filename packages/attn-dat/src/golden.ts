/**
 * Golden-parity adapter for DAttention: builds the module from a case's `constructor.resolved` (the
 * official DAttentionBaseline arguments), runs it on the stored NCHW input and returns the NCHW output.
 */

import type { Module, ParityAdapter, ParityCase } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { DAttention, type DAttentionOptions } from './dat.js';

/** True when a case JSON is for the official DAttentionBaseline (decided from `reference`, never the file name). */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function goldenMatches(json: any): boolean {
  const ref = json?.reference;
  if (!ref) return false;
  const repo = String(ref.repo ?? '');
  return /LeapLabTHU\/DAT(\b|$)/i.test(repo) && String(ref.path ?? '').endsWith('dat_blocks.py') && ref.class === 'DAttentionBaseline';
}

/** DAttention options (and channel count) from the official constructor arguments of a case. */
// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
export function optionsFromCase(json: any): { channels: number; opts: DAttentionOptions } {
  const r = json?.constructor?.resolved;
  if (!r || typeof r !== 'object') throw new Error(`DAttention golden: case ${json?.case} has no constructor.resolved`);
  const nHeads = Number(r.n_heads);
  const nHeadChannels = Number(r.n_head_channels);
  const opts: DAttentionOptions = {
    nHeads,
    nHeadChannels,
    nGroups: r.n_groups,
    attnDrop: r.attn_drop,
    projDrop: r.proj_drop,
    stride: r.stride,
    offsetRangeFactor: r.offset_range_factor,
    usePe: r.use_pe,
    dwcPe: r.dwc_pe,
    noOff: r.no_off,
    fixedPe: r.fixed_pe,
    ksize: r.ksize,
    logCpb: r.log_cpb,
  };
  return { channels: nHeads * nHeadChannels, opts };
}

export const goldenAdapter: ParityAdapter = {
  build(c: ParityCase): Module {
    const { channels, opts } = optionsFromCase(c.json);
    return new DAttention(channels, opts);
  },
  forward(module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor> {
    if (!(module instanceof DAttention)) throw new Error('DAttention golden: the adapter got another module');
    const x = inputs.x;
    if (!x) throw new Error(`DAttention golden: case ${c.name} has no input "x"; inputs: ${Object.keys(inputs).join(', ')}`);
    const outName = Object.keys(c.json.outputs ?? { y: 0 })[0];
    // [B, C, H, W] -> [B, H, W, C] -> module -> [B, C, H, W]
    const y = module.forward(tf.transpose(x, [0, 2, 3, 1]));
    return { [outName]: tf.transpose(y, [0, 3, 1, 2]) };
  },
};
