/**
 * @ablate/attn-dat: DAttention (DAT, arXiv 2201.00520) for TensorFlow.js, with its YOLOv8 registry plugin
 * and golden-parity adapter.
 */
export { DAttention, type DAttentionOptions, defaultHeads } from './dat.js';
export { goldenAdapter, goldenMatches, optionsFromCase } from './golden.js';
export { dattentionSpec, flops, plugin, resolveOptions } from './plugin.js';
