/**
 * YOLOv8 registry plugin for MSDeformAttn on one feature map (`MSDeformAttn2d`).
 *
 * YAML: `[from, repeats, MSDeformAttn, [c?, n_levels?, n_heads?, n_points?]]` (aliases `MSDeformAttn2d`,
 * `MSDeformableAttention`): the positional order of the official constructor
 * `MSDeformAttn(d_model, n_levels, n_heads, n_points)`, every value optional (omitted, `null`, `None`:
 * default). A YAML mapping may follow (or replace) the positional values:
 * `{n_heads: 4, n_points: 8, pos_embed: false}` (camelCase keys also accepted).
 *  - `c` (d_model): a channel count. The input decides the channels; `c` is only checked: it must equal
 *    the input channels as written or after Conv-style width scaling, else an error.
 *  - `n_levels`: must be 1 (one map is attended; anything else is an error).
 *  - `n_heads`: default 8 when 8 divides c (the official default), else the largest of 4, 2, 1 dividing c.
 *  - `n_points`: default 4 (official).
 *  - `pos_embed`: default true: the query gets the encoder's sine position embedding (as Deformable
 *    DETR's encoder layer, `with_pos_embed(src, pos)`); false: query = the map's tokens.
 * Resolved constructor args: `[c, MSDeformAttn2dOptions]`; output channels c.
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
  WeightedPoint,
} from '@ablate/core';
import { checkChannelArg as checkChannel, queryGrid, yamlBool, yamlInt, yamlIsMapping, yamlIsNone } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import { defaultHeads, MSDeformAttn2d, type MSDeformAttn2dOptions } from './msdeform.js';

const NAME = 'MSDeformAttn';

const isNone = yamlIsNone;
const isMapping = yamlIsMapping;
const toBool = (v: unknown, what: string, where: string) => yamlBool(NAME, v, what, where);
const toPosInt = (v: unknown, what: string, where: string) => yamlInt(NAME, v, what, where);
const checkChannelArg = (v: unknown, ctx: ChannelContext) => checkChannel(NAME, v, ctx);
const POSITIONAL = ['n_levels', 'n_heads', 'n_points'] as const;
const KEYS = [...POSITIONAL, 'pos_embed'] as const;
type Key = (typeof KEYS)[number];
const CAMEL: Record<string, Key> = { nLevels: 'n_levels', nHeads: 'n_heads', nPoints: 'n_points', posEmbed: 'pos_embed' };

/** Turns YAML args (including the leading c) into MSDeformAttn2d options for c channels. */
export function resolveArgs(c: number, args: readonly unknown[], where: string): MSDeformAttn2dOptions {
  const vals: Partial<Record<Key, unknown>> = {};
  let rest = args.slice(1);
  const last = rest[rest.length - 1];
  if (isMapping(last)) {
    rest = rest.slice(0, -1);
    for (const [k0, v] of Object.entries(last)) {
      const k = (CAMEL[k0] ?? k0) as Key;
      if (!KEYS.includes(k)) throw new Error(`${NAME} at ${where}: unknown option "${k0}"; known: ${KEYS.join(', ')}`);
      vals[k] = v;
    }
  }
  if (rest.length > POSITIONAL.length) {
    throw new Error(`${NAME} at ${where}: at most 4 positional args [c, ${POSITIONAL.join(', ')}], got ${rest.length + 1}`);
  }
  rest.forEach((v, i) => {
    if (isMapping(v)) throw new Error(`${NAME} at ${where}: an options mapping may only be the last arg`);
    if (!isNone(v)) {
      if (POSITIONAL[i] in vals) throw new Error(`${NAME} at ${where}: ${POSITIONAL[i]} given twice (positional and in the mapping)`);
      vals[POSITIONAL[i]] = v;
    }
  });
  if (!isNone(vals.n_levels) && toPosInt(vals.n_levels, 'n_levels', where) !== 1) {
    throw new Error(
      `${NAME} at ${where}: n_levels must be 1 (the YOLOv8 module attends one feature map), got ${JSON.stringify(vals.n_levels)}`,
    );
  }
  const nHeads = isNone(vals.n_heads) ? defaultHeads(c) : toPosInt(vals.n_heads, 'n_heads', where);
  if (c % nHeads !== 0) throw new Error(`${NAME} at ${where}: n_heads ${nHeads} does not divide the ${c} input channels (d_model)`);
  const nPoints = isNone(vals.n_points) ? 4 : toPosInt(vals.n_points, 'n_points', where);
  const posEmbed = isNone(vals.pos_embed) ? true : toBool(vals.pos_embed, 'pos_embed', where);
  if (posEmbed && c % 4 !== 0) {
    throw new Error(`${NAME} at ${where}: the sine position embedding needs channels divisible by 4, got ${c}; set pos_embed: false`);
  }
  return { nHeads, nPoints, posEmbed };
}

function resolve(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number } {
  if (ctx.inputChannels.length !== 1) {
    throw new Error(`${NAME} at ${ctx.where}: takes one input, got ${ctx.inputChannels.length} (from must be a single layer)`);
  }
  const c1 = ctx.inputChannels[0];
  const all = isMapping(args[0]) ? [null, ...args] : args;
  checkChannelArg(all[0], ctx);
  return { args: [c1, resolveArgs(c1, all, ctx.where)], c2: c1 };
}

/** FLOPs (2 x MACs of the linears and the weighted sum, batch included) on the NHWC input shape. */
export function flops(module: Module, inputShapes: number[][]): number {
  if (!(module instanceof MSDeformAttn2d)) throw new Error(`${NAME}.flops: expected an MSDeformAttn2d module, got ${module.typeName}`);
  return module.flops(inputShapes[0]);
}

/**
 * MSDeformAttn's picture: for each query position (a sub-grid of the map), per head, its sampling points
 * (the query's reference point, the pixel centre, plus the learned offsets `sampling_offsets(query)`,
 * in pixels of the map) with their attention weights (softmax over the head's points). Unlike DAttention's
 * points, these differ per query. Points are fractions of the map (align_corners false: 0 and 1 are its
 * outer edges); points outside the map read zeros (grid_sample zero padding) and are drawn where they fall.
 */
export function inspect(module: Module, x: tf.Tensor, opts: InspectOptions): ModuleInspection {
  if (!(module instanceof MSDeformAttn2d)) throw new Error(`${NAME}.inspect: expected an MSDeformAttn2d module, got ${module.typeName}`);
  const [B, H, W] = x.shape as number[];
  if (B !== 1) throw new Error(`${NAME}.inspect: expects one image [1, H, W, C], got shape [${x.shape}]`);
  const s = module.samplingPoints(x);
  const loc = s.locations.dataSync(); // [1, H*W, heads, points, 2] (x, y)
  const wts = s.weights.dataSync(); // [1, H*W, heads, points]
  s.locations.dispose();
  s.weights.dispose();
  const M = module.nHeads;
  const P = module.nPoints;
  const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  const queries = queryGrid(H, W, opts.maxQueries).map(([qy, qx]) => {
    const q = qy * W + qx;
    const heads: HeadPicture[] = [];
    for (let m = 0; m < M; m++) {
      const pts: WeightedPoint[] = [];
      for (let p = 0; p < P; p++) {
        const o = (q * M + m) * P + p;
        pts.push([r4(loc[o * 2]), r4(loc[o * 2 + 1]), r6(wts[o])]);
      }
      pts.sort((a, b) => b[2] - a[2]);
      heads.push({ label: `head ${m}`, points: pts.slice(0, opts.maxPoints) });
    }
    return { x: (qx + 0.5) / W, y: (qy + 0.5) / H, heads };
  });
  return {
    kind: 'sampling-points',
    mapSize: [H, W],
    note: `${M} heads x ${P} points per query (pixel-centre reference point + offsets learned from the query); weight = the head's softmax over its points`,
    queries,
  };
}

export const msDeformAttnSpec: ModuleSpec = {
  name: NAME,
  aliases: ['MSDeformAttn2d', 'MSDeformableAttention'],
  description: 'Deformable DETR multi-scale deformable attention on one map (arXiv 2010.04159), c -> c',
  shapePreserving: true,
  channels: resolve,
  build(args: readonly unknown[], ctx: BuildContext): Module {
    const [c, opts] = args as [number, MSDeformAttn2dOptions | undefined];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1) {
      throw new Error(`${NAME} at ${ctx.where}: build expects the resolved args [channels, options], got ${JSON.stringify(args)}`);
    }
    return new MSDeformAttn2d(c, opts ?? {});
  },
  flops,
  inspect,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-msdeform', modules: [msDeformAttnSpec] };
