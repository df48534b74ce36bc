/**
 * YOLOv8 registry plugin for FocusedLinearAttention. "The tutorial" below is the YOLOv8 blog tutorial
 * «爆改YOLOv8|利用全新的聚焦式线性注意力模块Focused Linear Attention 改进yolov8(v1)», http://www.chinasem.cn/article/1116077.
 *
 * YAML: `[from, repeats, FocusedLinearAttention, [c?, num_heads?, window_size?, focusing_factor?, kernel_size?, normalization?]]`
 * (alias `FLA`). Every arg is optional (`null`/`None` = default):
 *  - `c`: leading channel count, as the tutorial writes it (`[256]` after SPPF in yolov8n). The input decides
 *    the channels; `c` is only checked: it must equal the input channels as written or after Conv-style
 *    width scaling, else an error.
 *  - `num_heads`: default 8 (the tutorial's; every YOLOv8 width is a multiple of 8), or the largest of 4, 2, 1
 *    dividing c for other widths.
 *  - `window_size`: int or [h, w], default [20, 20] (the tutorial's: P5 of a 640 px input); sizes the
 *    positional encoding (h*w rows, repeated for larger maps, sliced for smaller ones).
 *  - `focusing_factor` default 3, `kernel_size` default 5 (official).
 *  - `normalization`: 'sum' (first release / tutorial, default) or 'mean' (official HEAD).
 * Resolved constructor args: `[c, {numHeads, windowSize, focusingFactor, kernelSize, normalization}]`.
 */
import type { BuildContext, ChannelContext, Module, ModulePlugin, ModuleSpec } from '@ablate/core';
import { checkChannelArg, yamlInt, yamlIsNone } from '@ablate/core';
import {
  FLA_NORMALIZATIONS,
  type FlaNormalization,
  FocusedLinearAttention,
  type FocusedLinearAttentionOptions,
} from './focused-linear-attention.js';

const NAME = 'FocusedLinearAttention';

const isNone = yamlIsNone;
const posInt = (v: unknown, what: string, where: string) => yamlInt(NAME, v, what, where);

export { checkChannelArg };

/** Heads for c channels: 8 (the tutorial's) when 8 divides c, else the largest of 4, 2, 1 dividing c. */
export function defaultHeads(c: number): number {
  for (const h of [8, 4, 2, 1]) if (c % h === 0) return h;
  return 1;
}

function resolve(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number } {
  const where = ctx.where;
  if (ctx.inputChannels.length !== 1) throw new Error(`${NAME} at ${where}: takes one input, got ${ctx.inputChannels.length}`);
  if (args.length > 6) {
    throw new Error(
      `${NAME} at ${where}: at most 6 args [c, num_heads, window_size, focusing_factor, kernel_size, normalization], got ${JSON.stringify(args)}`,
    );
  }
  const c1 = ctx.inputChannels[0];
  checkChannelArg(NAME, args[0], ctx);
  const numHeads = isNone(args[1]) ? defaultHeads(c1) : posInt(args[1], 'num_heads (2nd arg)', where);
  if (c1 % numHeads !== 0) throw new Error(`${NAME} at ${where}: num_heads ${numHeads} does not divide the input's ${c1} channels`);
  let windowSize: [number, number] = [20, 20];
  const ws = args[2];
  if (!isNone(ws)) {
    if (Array.isArray(ws) && ws.length === 2) windowSize = [posInt(ws[0], 'window_size[0]', where), posInt(ws[1], 'window_size[1]', where)];
    else {
      const s = posInt(ws, 'window_size (3rd arg: int or [h, w])', where);
      windowSize = [s, s];
    }
  }
  const f = isNone(args[3]) ? 3 : args[3];
  if (typeof f !== 'number' || !(f > 0))
    throw new Error(`${NAME} at ${where}: focusing_factor (4th arg) must be a positive number, got ${JSON.stringify(f)}`);
  const kernelSize = isNone(args[4]) ? 5 : posInt(args[4], 'kernel_size (5th arg)', where);
  const normalization = (isNone(args[5]) ? 'sum' : args[5]) as FlaNormalization;
  if (!FLA_NORMALIZATIONS.includes(normalization)) {
    throw new Error(`${NAME} at ${where}: unknown normalization ${JSON.stringify(args[5])}; known: ${FLA_NORMALIZATIONS.join(', ')}`);
  }
  const opts: FocusedLinearAttentionOptions = { numHeads, windowSize, focusingFactor: f, kernelSize, normalization };
  return { args: [c1, opts], c2: c1 };
}

/** FLOPs (2 x MACs of linears, matmuls and the dwc, batch included) on the module's NHWC input shape. */
export function flops(module: Module, inputShapes: number[][]): number {
  if (!(module instanceof FocusedLinearAttention))
    throw new Error(`${NAME}.flops: expected a FocusedLinearAttention module, got ${module.typeName}`);
  return module.flops(inputShapes[0]);
}

export const focusedLinearAttentionSpec: ModuleSpec = {
  name: NAME,
  aliases: ['FLA'],
  description: 'FLatten Transformer focused linear attention, arXiv 2308.00442',
  shapePreserving: true,
  channels: resolve,
  build(args: readonly unknown[], ctx: BuildContext): Module {
    // Accepts the resolved args [c, options] from channels().
    if (args.length !== 2 || typeof args[0] !== 'number' || typeof args[1] !== 'object' || args[1] === null) {
      throw new Error(`${NAME} at ${ctx.where}: build expects the resolved args [c, options], got ${JSON.stringify(args)}`);
    }
    if (args[0] !== ctx.inputChannels[0])
      throw new Error(`${NAME} at ${ctx.where}: dim ${args[0]} differs from the input's ${ctx.inputChannels[0]} channels`);
    return new FocusedLinearAttention(args[0], args[1] as FocusedLinearAttentionOptions);
  },
  flops,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-fla', modules: [focusedLinearAttentionSpec] };
