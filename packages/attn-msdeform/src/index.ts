/**
 * @ablate/attn-msdeform: MSDeformAttn (Deformable DETR, arXiv 2010.04159) for TensorFlow.js: the official
 * multi-level module, its sampling core, a single-map wrapper for YOLOv8 with its registry plugin, and the
 * golden-parity adapters.
 */

export {
  goldenAdapter,
  goldenAdapterCore,
  goldenAdapterModule,
  goldenMatches,
  goldenMatchesCore,
  goldenMatchesModule,
  MSDeformAttnCoreFn,
} from './golden.js';
export {
  defaultHeads,
  MSDeformAttn,
  MSDeformAttn2d,
  type MSDeformAttn2dOptions,
  type MSDeformAttnOptions,
  msDeformAttnCore,
  type SpatialShapes,
  sinePositionEmbedding,
  sinePositionEmbeddingData,
} from './msdeform.js';
export { flops, msDeformAttnSpec, plugin, resolveArgs } from './plugin.js';
