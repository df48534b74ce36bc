export {
  FLA_NORMALIZATIONS,
  type FlaNormalization,
  FocusedLinearAttention,
  type FocusedLinearAttentionOptions,
} from './focused-linear-attention.js';
export { FLA_COMMITS, goldenAdapter, goldenMatches, normalizationOfCommit } from './golden.js';
export { checkChannelArg, defaultHeads, flops, focusedLinearAttentionSpec, plugin } from './plugin.js';
