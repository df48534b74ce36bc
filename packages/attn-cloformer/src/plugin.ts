/**
 * YOLOv8 registry plugin for CloFormer's EfficientAttention.
 *
 * YAML: `[from, repeats, EfficientAttention, [c?, num_heads?, group_split?, kernel_sizes?, window_size?]]`
 * (alias `AttnConv`). Every arg is optional (`null`/`None` = default):
 *  - `c`: leading channel count. The input decides the channels; `c` is only checked: it must equal the
 *    input channels as written or after Conv-style width scaling, else an error.
 *  - `num_heads`: default c/16 for c >= 64 divisible by 16 (head width 16, as CloFormer-XXS's stages 2-4),
 *    else 4 (CloFormer-XXS's 32-channel stage: 4 heads of 8), else the largest of 2, 1 dividing c. With
 *    `group_split` given and `num_heads` omitted, num_heads = sum(group_split).
 *  - `group_split`: default [floor(h/2), h - floor(h/2)] (one AttnConv group, one global group).
 *  - `kernel_sizes`: default [5] when there is one local group; required otherwise.
 *  - `window_size`: int (official fixed pooling window, ceil-mode on non-divisible maps) or 'auto'
 *    (default: window = ceil(max(H, W) / 7) per input, so the pooled grid is at most 7 x 7 as in every
 *    CloFormer stage at 224 px).
 * Resolved constructor args: `[c, num_heads, group_split, kernel_sizes, {windowSize}]`.
 */
import type { BuildContext, ChannelContext, InspectOptions, Module, ModuleInspection, ModulePlugin, ModuleSpec } from '@ablate/core';
import { checkChannelArg, DEFAULT_MAX_MAP_CELLS, poolMap, queryGrid, yamlIsNone } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import { EfficientAttention } from './efficient-attention.js';

const NAME = 'EfficientAttention';

const isNone = yamlIsNone;

export { checkChannelArg };

/** Default heads for c channels (see the header). */
export function defaultHeads(c: number): number {
  if (c >= 64 && c % 16 === 0) return c / 16;
  for (const h of [4, 2, 1]) if (c % h === 0) return h;
  return 1;
}

function intList(v: unknown, what: string, where: string, min: number): number[] {
  if (!Array.isArray(v) || v.some((e) => typeof e !== 'number' || !Number.isInteger(e) || e < min)) {
    throw new Error(`${NAME} at ${where}: ${what} must be a list of integers >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

function resolve(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number } {
  const where = ctx.where;
  if (ctx.inputChannels.length !== 1) throw new Error(`${NAME} at ${where}: takes one input, got ${ctx.inputChannels.length}`);
  if (args.length > 5) {
    throw new Error(
      `${NAME} at ${where}: at most 5 args [c, num_heads, group_split, kernel_sizes, window_size], got ${JSON.stringify(args)}`,
    );
  }
  const c1 = ctx.inputChannels[0];
  checkChannelArg(NAME, args[0], ctx);
  const split = isNone(args[2]) ? null : intList(args[2], 'group_split (3rd arg)', where, 0);
  let heads: number;
  if (!isNone(args[1])) {
    const h = args[1];
    if (typeof h !== 'number' || !Number.isInteger(h) || h < 1)
      throw new Error(`${NAME} at ${where}: num_heads (2nd arg) must be a positive integer, got ${JSON.stringify(h)}`);
    heads = h;
  } else heads = split ? split.reduce((a, b) => a + b, 0) : defaultHeads(c1);
  if (heads < 1 || c1 % heads !== 0) throw new Error(`${NAME} at ${where}: num_heads ${heads} does not divide the input's ${c1} channels`);
  const local = Math.floor(heads / 2);
  const groupSplit = split ?? [local, heads - local];
  if (groupSplit.reduce((a, b) => a + b, 0) !== heads) {
    throw new Error(`${NAME} at ${where}: sum(group_split) = ${groupSplit.reduce((a, b) => a + b, 0)} must equal num_heads ${heads}`);
  }
  let kernelSizes: number[];
  if (isNone(args[3])) {
    if (groupSplit.length !== 2)
      throw new Error(
        `${NAME} at ${where}: group_split ${JSON.stringify(groupSplit)} has ${groupSplit.length - 1} local groups: give kernel_sizes (4th arg)`,
      );
    kernelSizes = [5];
  } else kernelSizes = intList(args[3], 'kernel_sizes (4th arg)', where, 1);
  if (kernelSizes.length + 1 !== groupSplit.length) {
    throw new Error(
      `${NAME} at ${where}: need len(kernel_sizes) + 1 == len(group_split), got ${JSON.stringify(kernelSizes)} and ${JSON.stringify(groupSplit)}`,
    );
  }
  let windowSize: number | 'auto' = 'auto';
  if (!isNone(args[4])) {
    const w = args[4];
    if (w !== 'auto' && (typeof w !== 'number' || !Number.isInteger(w) || w < 1)) {
      throw new Error(`${NAME} at ${where}: window_size (5th arg) must be a positive integer or 'auto', got ${JSON.stringify(w)}`);
    }
    windowSize = w as number | 'auto';
  }
  return { args: [c1, heads, groupSplit, kernelSizes, { windowSize }], c2: c1 };
}

/** FLOPs (2 x MACs of convs and matmuls, batch included) on the module's NHWC input shape. */
export function flops(module: Module, inputShapes: number[][]): number {
  if (!(module instanceof EfficientAttention))
    throw new Error(`${NAME}.flops: expected an EfficientAttention module, got ${module.typeName}`);
  return module.flops(inputShapes[0]);
}

/**
 * EfficientAttention's picture: for each query position (a sub-grid of the map), per head, a map over
 * positions that sums to 1 (`EfficientAttention.queryPictures`): the global heads' attention weights
 * (softmax over the pooled tokens, spread over the pixels each token averages); the AttnConv heads, which
 * form no attention weights, each position's share of the |contribution| to the query's output (inside the
 * depthwise kernel's window). Maps larger than `maxMapCells` are sum-pooled.
 */
export function inspect(module: Module, x: tf.Tensor, opts: InspectOptions): ModuleInspection {
  if (!(module instanceof EfficientAttention))
    throw new Error(`${NAME}.inspect: expected an EfficientAttention module, got ${module.typeName}`);
  const [B, H, W] = x.shape as number[];
  if (B !== 1) throw new Error(`${NAME}.inspect: expects one image [1, H, W, C], got shape [${x.shape}]`);
  const grid = queryGrid(H, W, opts.maxQueries);
  const pics = module.queryPictures(
    x,
    grid.map(([qy, qx]) => qy * W + qx),
  );
  const cells = opts.maxMapCells ?? DEFAULT_MAX_MAP_CELLS;
  const queries = grid.map(([qy, qx], i) => ({
    x: (qx + 0.5) / W,
    y: (qy + 0.5) / H,
    heads: pics[i].map((p) => ({ label: p.label, map: poolMap(p.values, H, W, cells) })),
  }));
  const local = module.localGroups.reduce((a, g) => a + g.heads, 0);
  return {
    kind: 'query-weights',
    mapSize: [H, W],
    note: `${module.globalHeads} global head(s): attention weights over the pooled keys, per pixel; ${local} AttnConv head(s): no weights exist, each position's share of |gate x kernel x value| (its contribution to the query); each map sums to 1`,
    queries,
  };
}

export const efficientAttentionSpec: ModuleSpec = {
  name: NAME,
  aliases: ['AttnConv'],
  description: 'CloFormer AttnConv + pooled global attention, arXiv 2303.17803',
  shapePreserving: true,
  channels: resolve,
  build(args: readonly unknown[], ctx: BuildContext): Module {
    // Accepts the resolved args [c, num_heads, group_split, kernel_sizes, options] from channels().
    if (
      args.length !== 5 ||
      typeof args[0] !== 'number' ||
      typeof args[1] !== 'number' ||
      !Array.isArray(args[2]) ||
      !Array.isArray(args[3])
    ) {
      throw new Error(
        `${NAME} at ${ctx.where}: build expects the resolved args [c, num_heads, group_split, kernel_sizes, options], got ${JSON.stringify(args)}`,
      );
    }
    if (args[0] !== ctx.inputChannels[0])
      throw new Error(`${NAME} at ${ctx.where}: dim ${args[0]} differs from the input's ${ctx.inputChannels[0]} channels`);
    const opts = (args[4] ?? {}) as { windowSize?: number | 'auto' };
    return new EfficientAttention(args[0], args[1], args[2] as number[], args[3] as number[], { windowSize: opts.windowSize ?? 'auto' });
  },
  flops,
  inspect,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-cloformer', modules: [efficientAttentionSpec] };
