export { DoubleAttention, type DoubleAttentionOptions } from './double-attention.js';
export { goldenAdapter, goldenMatches } from './golden.js';
export { checkChannelArg, doubleAttentionSpec, flops, plugin } from './plugin.js';
