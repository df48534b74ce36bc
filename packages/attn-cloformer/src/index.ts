export {
  AttnMap,
  AUTO_POOLED_SIDE,
  ceilAvgPool,
  EfficientAttention,
  type EfficientAttentionOptions,
  effectiveWindow,
} from './efficient-attention.js';
export { goldenAdapter, goldenMatches } from './golden.js';
export { checkChannelArg, defaultHeads, efficientAttentionSpec, flops, plugin } from './plugin.js';
