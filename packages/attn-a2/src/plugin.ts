/**
 * YOLOv8 registry plugin for DoubleAttention. "The tutorial" below is the YOLOv8 blog tutorial
 * «YOLOv8改进 | 注意力机制 | 添加双重注意力机制 DoubleAttention【附代码+小白必备】» (CSDN; no link in our copy).
 *
 * YAML: `[from, repeats, DoubleAttention, [c?, reconstruct?, c_m?, c_n?]]` (alias `DoubleAttentionLayer`).
 *  - `c`: optional leading channel count, as the DoubleAttention tutorial writes it (`[128, 1]` after a `C2f [128]`). The input
 *    decides the channels; `c` is only checked: it must equal the input channels either as written or after
 *    Conv-style width scaling (`ceil(min(c, max_channels) * width / 8) * 8`), else an error. `null`/`None`
 *    or omitted: not checked.
 *  - `reconstruct`: default true (c -> c). The tutorial's second value `1` reads as true.
 *  - `c_m`, `c_n`: default c (the tutorial passes the layer's channel count as the first size argument).
 * Resolved constructor args: `[in_channels, c_m, c_n, reconstruct]`; output channels: in_channels when
 * reconstruct, else c_m.
 */
import type { BuildContext, ChannelContext, Module, ModulePlugin, ModuleSpec } from '@ablate/core';
import { checkChannelArg, yamlBool, yamlInt, yamlIsNone } from '@ablate/core';
import { DoubleAttention } from './double-attention.js';

const NAME = 'DoubleAttention';

const isNone = yamlIsNone;
const toBool = (v: unknown, what: string, where: string) => yamlBool(NAME, v, what, where);
const toPosInt = (v: unknown, what: string, where: string) => yamlInt(NAME, v, what, where);

export { checkChannelArg };

/** FLOPs (2 x MACs of convs and matmuls, batch included) of a DoubleAttention on its NHWC input shape. */
export function flops(module: Module, inputShapes: number[][]): number {
  if (!(module instanceof DoubleAttention)) throw new Error(`${NAME}.flops: expected a DoubleAttention module, got ${module.typeName}`);
  return module.flops(inputShapes[0]);
}

function resolve(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number } {
  if (ctx.inputChannels.length !== 1) {
    throw new Error(`${NAME} at ${ctx.where}: takes one input, got ${ctx.inputChannels.length} (from must be a single layer)`);
  }
  if (args.length > 4) {
    throw new Error(`${NAME} at ${ctx.where}: at most 4 args [c, reconstruct, c_m, c_n], got ${JSON.stringify(args)}`);
  }
  const c1 = ctx.inputChannels[0];
  checkChannelArg(NAME, args[0], ctx);
  const reconstruct = isNone(args[1]) ? true : toBool(args[1], 'reconstruct (2nd arg)', ctx.where);
  const cM = isNone(args[2]) ? c1 : toPosInt(args[2], 'c_m (3rd arg)', ctx.where);
  const cN = isNone(args[3]) ? c1 : toPosInt(args[3], 'c_n (4th arg)', ctx.where);
  return { args: [c1, cM, cN, reconstruct], c2: reconstruct ? c1 : cM };
}

export const doubleAttentionSpec: ModuleSpec = {
  name: NAME,
  aliases: ['DoubleAttentionLayer'],
  description: 'A2-Nets double attention (gather + distribute), arXiv 1810.11579',
  shapePreserving: true,
  channels: resolve,
  build(args: readonly unknown[], ctx: BuildContext): Module {
    // Accepts the resolved args [in_channels, c_m, c_n, reconstruct] from channels().
    if (args.length !== 4 || typeof args[3] !== 'boolean') {
      throw new Error(
        `${NAME} at ${ctx.where}: build expects the resolved args [in_channels, c_m, c_n, reconstruct], got ${JSON.stringify(args)}`,
      );
    }
    const [c1, cM, cN, reconstruct] = args as [number, number, number, boolean];
    if (c1 !== ctx.inputChannels[0]) {
      throw new Error(`${NAME} at ${ctx.where}: in_channels ${c1} differs from the input's ${ctx.inputChannels[0]} channels`);
    }
    return new DoubleAttention(c1, cM, cN, { reconstruct });
  },
  flops,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-a2', modules: [doubleAttentionSpec] };
