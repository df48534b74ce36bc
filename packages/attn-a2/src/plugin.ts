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
import type {
  BuildContext,
  ChannelContext,
  HeadPicture,
  InspectOptions,
  Module,
  ModuleInspection,
  ModulePlugin,
  ModuleSpec,
} from '@ablate/core';
import { checkChannelArg, DEFAULT_MAX_MAP_CELLS, DEFAULT_MAX_MAPS, poolMap, queryGrid, yamlBool, yamlInt, yamlIsNone } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
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

/**
 * DoubleAttention's picture:
 *  - `maps`: the gather step's c_n attention maps (softmax over positions: map n is where descriptor n
 *    pools its features from), the `maxMaps` most used by the distribute step first (usage = the mean over
 *    positions of the distribute softmax, the share of the output the descriptor makes);
 *  - `queries`: per query position, the effective weights over positions that the two steps compose to:
 *    z_i = sum_n v_in G_n = sum_j (sum_n v_in b_nj) a_j, so w_ij = sum_n v_in b_nj (non-negative, sums to 1).
 * Maps larger than `maxMapCells` are sum-pooled (`poolMap`), so they still sum to 1.
 */
export function inspect(module: Module, x: tf.Tensor, opts: InspectOptions): ModuleInspection {
  if (!(module instanceof DoubleAttention)) throw new Error(`${NAME}.inspect: expected a DoubleAttention module, got ${module.typeName}`);
  const [B, H, W] = x.shape as number[];
  if (B !== 1) throw new Error(`${NAME}.inspect: expects one image [1, H, W, C], got shape [${x.shape}]`);
  const cells = opts.maxMapCells ?? DEFAULT_MAX_MAP_CELLS;
  const r = module.attentionOf(x);
  const maps = r.maps.dataSync(); // [1, c_n, H*W]
  const vecs = r.vecs.dataSync(); // [1, H*W, c_n]
  r.maps.dispose();
  r.vecs.dispose();
  const n = H * W;
  const cN = module.cN;
  const usage = new Float64Array(cN);
  for (let i = 0; i < n; i++) for (let k = 0; k < cN; k++) usage[k] += vecs[i * cN + k] / n;
  const order = Array.from({ length: cN }, (_, k) => k).sort((a, b) => usage[b] - usage[a]);
  const shown = order.slice(0, opts.maxMaps ?? DEFAULT_MAX_MAPS).map((k) => ({
    label: `map ${k} (${(100 * usage[k]).toFixed(1)}% of the distribution)`,
    ...poolMap(maps.subarray(k * n, (k + 1) * n), H, W, cells),
  }));
  const queries = queryGrid(H, W, opts.maxQueries).map(([qy, qx]) => {
    const q = qy * W + qx;
    const eff = new Float64Array(n);
    for (let k = 0; k < cN; k++) {
      const v = vecs[q * cN + k];
      const row = k * n;
      for (let j = 0; j < n; j++) eff[j] += v * maps[row + j];
    }
    const head: HeadPicture = {
      label: "effective weights (gather maps mixed by the query's distribution)",
      map: poolMap(eff, H, W, cells),
    };
    return { x: (qx + 0.5) / W, y: (qy + 0.5) / H, heads: [head] };
  });
  return {
    kind: 'attention-maps',
    mapSize: [H, W],
    note: `${cN} gather maps (softmax over positions), ${shown.length} most used shown; per query: the effective weights over positions sum_n v_n b_n (sum to 1)`,
    maps: shown,
    queries,
  };
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
  inspect,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-a2', modules: [doubleAttentionSpec] };
