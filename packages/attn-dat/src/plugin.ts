/**
 * YOLOv8 registry plugin for DAttention (DAT).
 *
 * YAML: `[from, repeats, DAttention, [c?, kv_size?, n_heads?, n_head_channels?, n_groups?, attn_drop?,
 * proj_drop?, stride?, offset_range_factor?, use_pe?, dwc_pe?, no_off?, fixed_pe?, ksize?, log_cpb?]]`
 * (aliases `DAttentionBaseline`, `DAT`): the positional order of the blog/official constructor, every value
 * optional (omitted, `null` or `None`: default). A YAML mapping may be given instead of, or after, the
 * positional values: `{n_heads: 4, stride: 2, ksize: 5, offset_range_factor: 2, n_groups: 2, use_pe: false}`
 * (camelCase keys also accepted).
 *  - `c` (the blog's first argument, its `q_size`): a channel count. The input decides the channels; `c`
 *    is only checked: it must equal the input channels as written or after Conv-style width scaling
 *    (`ceil(min(c, max_channels) * width / 8) * 8`), else an error.
 *  - `kv_size`: unused (as in the official code with dwc_pe).
 *  - `n_heads`: default 8 when 8 divides c (the blog's value), else the largest of 4, 2, 1 dividing c.
 *  - `n_head_channels`: ignored as in the blog (which overwrites it): c / n_heads.
 *  - defaults as the blog: n_groups 1, drop 0, stride 1, offset_range_factor -1, use_pe and dwc_pe true,
 *    ksize 9.
 * Resolved constructor args: `[c, DAttentionOptions]`; output channels c.
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
import { checkChannelArg as checkChannel, queryGrid, yamlBool, yamlInt, yamlIsMapping, yamlIsNone, yamlNumber } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import { DAttention, type DAttentionOptions, defaultHeads } from './dat.js';

const NAME = 'DAttention';

const isNone = yamlIsNone;
const isMapping = yamlIsMapping;
const toBool = (v: unknown, what: string, where: string) => yamlBool(NAME, v, what, where);
const toInt = (v: unknown, what: string, where: string, min: number) => yamlInt(NAME, v, what, where, min);
const toNum = (v: unknown, what: string, where: string) => yamlNumber(NAME, v, what, where);
const checkChannelArg = (v: unknown, ctx: ChannelContext) => checkChannel(NAME, v, ctx);

/** Positional YAML order (after c), as the official/blog constructor. */
const POSITIONAL = [
  'kv_size',
  'n_heads',
  'n_head_channels',
  'n_groups',
  'attn_drop',
  'proj_drop',
  'stride',
  'offset_range_factor',
  'use_pe',
  'dwc_pe',
  'no_off',
  'fixed_pe',
  'ksize',
  'log_cpb',
] as const;
type Key = (typeof POSITIONAL)[number];

const CAMEL: Record<string, Key> = {
  kvSize: 'kv_size',
  nHeads: 'n_heads',
  nHeadChannels: 'n_head_channels',
  nGroups: 'n_groups',
  attnDrop: 'attn_drop',
  projDrop: 'proj_drop',
  offsetRangeFactor: 'offset_range_factor',
  usePe: 'use_pe',
  dwcPe: 'dwc_pe',
  noOff: 'no_off',
  fixedPe: 'fixed_pe',
  logCpb: 'log_cpb',
};

/** Turns YAML args into DAttention options for c channels (throws on anything unknown or invalid). */
export function resolveOptions(c: number, args: readonly unknown[], where: string): DAttentionOptions {
  const vals: Partial<Record<Key, unknown>> = {};
  let rest = args.slice(1);
  const last = rest[rest.length - 1];
  if (isMapping(last)) {
    rest = rest.slice(0, -1);
    for (const [k0, v] of Object.entries(last)) {
      const k = (CAMEL[k0] ?? k0) as Key;
      if (!POSITIONAL.includes(k)) {
        throw new Error(`${NAME} at ${where}: unknown option "${k0}"; known: ${POSITIONAL.join(', ')}`);
      }
      vals[k] = v;
    }
  }
  if (rest.length > POSITIONAL.length) {
    throw new Error(
      `${NAME} at ${where}: at most ${POSITIONAL.length + 1} positional args [c, ${POSITIONAL.join(', ')}], got ${rest.length + 1}`,
    );
  }
  rest.forEach((v, i) => {
    if (isMapping(v)) throw new Error(`${NAME} at ${where}: an options mapping may only be the last arg`);
    if (!isNone(v)) {
      if (POSITIONAL[i] in vals) throw new Error(`${NAME} at ${where}: ${POSITIONAL[i]} given twice (positional and in the mapping)`);
      vals[POSITIONAL[i]] = v;
    }
  });
  const o: DAttentionOptions = {};
  const get = <T>(k: Key, conv: (v: unknown, what: string) => T): T | undefined => (isNone(vals[k]) ? undefined : conv(vals[k], k));
  o.nHeads = get('n_heads', (v, w) => toInt(v, w, where, 1)) ?? defaultHeads(c);
  if (c % o.nHeads !== 0) {
    throw new Error(`${NAME} at ${where}: n_heads ${o.nHeads} does not divide the ${c} input channels`);
  }
  o.nHeadChannels = c / o.nHeads;
  o.nGroups = get('n_groups', (v, w) => toInt(v, w, where, 1));
  o.attnDrop = get('attn_drop', (v, w) => toNum(v, w, where));
  o.projDrop = get('proj_drop', (v, w) => toNum(v, w, where));
  o.stride = get('stride', (v, w) => toInt(v, w, where, 1));
  o.offsetRangeFactor = get('offset_range_factor', (v, w) => toNum(v, w, where));
  o.usePe = get('use_pe', (v, w) => toBool(v, w, where));
  o.dwcPe = get('dwc_pe', (v, w) => toBool(v, w, where));
  o.noOff = get('no_off', (v, w) => toBool(v, w, where));
  o.fixedPe = get('fixed_pe', (v, w) => toBool(v, w, where));
  o.ksize = get('ksize', (v, w) => toInt(v, w, where, 1));
  o.logCpb = get('log_cpb', (v, w) => toBool(v, w, where));
  for (const k of Object.keys(o) as (keyof DAttentionOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function resolve(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number } {
  if (ctx.inputChannels.length !== 1) {
    throw new Error(`${NAME} at ${ctx.where}: takes one input, got ${ctx.inputChannels.length} (from must be a single layer)`);
  }
  const c1 = ctx.inputChannels[0];
  if (!isMapping(args[0])) checkChannelArg(args[0], ctx);
  const opts = resolveOptions(c1, isMapping(args[0]) ? [null, ...args] : args, ctx.where);
  try {
    DAttention.validate(c1, opts); // the constructor's checks, without allocating weights
  } catch (e) {
    throw new Error(`${NAME} at ${ctx.where}: ${(e as Error).message}`);
  }
  return { args: [c1, opts], c2: c1 };
}

/** FLOPs (2 x MACs of convs and matmuls, batch included) of a DAttention on its NHWC input shape. */
export function flops(module: Module, inputShapes: number[][]): number {
  if (!(module instanceof DAttention)) throw new Error(`${NAME}.flops: expected a DAttention module, got ${module.typeName}`);
  return module.flops(inputShapes[0]);
}

/**
 * DAttention's picture: the deformed sampling points (reference points + learned offsets, one set per
 * offset group, shared by every query) drawn for a query position with that query's softmax weight per
 * head (the head reads the points of its channel group). Points are in fractions of the input map
 * (align_corners=True: normalised -1 is the first pixel centre, +1 the last).
 */
export function inspect(module: Module, x: tf.Tensor, opts: InspectOptions): ModuleInspection {
  if (!(module instanceof DAttention)) throw new Error(`${NAME}.inspect: expected a DAttention module, got ${module.typeName}`);
  const [B, H, W] = x.shape as number[];
  if (B !== 1) throw new Error(`${NAME}.inspect: expects one image [1, H, W, C], got shape [${x.shape}]`);
  const r = module.forwardWithPos(x, { attention: true });
  const attnT = r.attn as tf.Tensor;
  const [, g, Hk, Wk] = r.pos.shape as number[];
  const pos = r.pos.dataSync(); // [1, g, Hk, Wk, 2] (y, x) in [-1, 1]
  const attn = attnT.dataSync(); // [1, heads, H*W, Ns]
  r.y.dispose();
  r.pos.dispose();
  r.reference.dispose();
  attnT.dispose();
  const ns = Hk * Wk;
  const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  const heads = module.nHeads;
  const frac = (v: number, n: number) => (((v + 1) / 2) * (n - 1) + 0.5) / n; // normalised -> fraction of the map
  const groupOfHead = (h: number) => Math.floor((h * module.nHeadChannels) / (module.channels / g));
  const queries = queryGrid(H, W, opts.maxQueries).map(([qy, qx]) => {
    const q = qy * W + qx;
    const hs: HeadPicture[] = [];
    for (let h = 0; h < heads; h++) {
      const gi = groupOfHead(h);
      const pts: WeightedPoint[] = [];
      for (let n = 0; n < ns; n++) {
        const o = (gi * ns + n) * 2;
        pts.push([r4(frac(pos[o + 1], W)), r4(frac(pos[o], H)), r6(attn[(h * H * W + q) * ns + n])]);
      }
      pts.sort((a, b) => b[2] - a[2]);
      hs.push({ label: `head ${h} (group ${gi})`, points: pts.slice(0, opts.maxPoints) });
    }
    return { x: (qx + 0.5) / W, y: (qy + 0.5) / H, heads: hs };
  });
  return {
    kind: 'sampling-points',
    mapSize: [H, W],
    note: `${g} offset group(s), ${Hk}x${Wk} sampled keys each (reference points + learned offsets); weight = the query's softmax attention per head`,
    queries,
  };
}

export const dattentionSpec: ModuleSpec = {
  name: NAME,
  aliases: ['DAttentionBaseline', 'DAT'],
  description: 'DAT deformable attention (Vision Transformer with Deformable Attention, arXiv 2201.00520), c -> c',
  shapePreserving: true,
  channels: resolve,
  build(args: readonly unknown[], ctx: BuildContext): Module {
    const [c, opts] = args as [number, DAttentionOptions | undefined];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1) {
      throw new Error(`${NAME} at ${ctx.where}: build expects the resolved args [channels, options], got ${JSON.stringify(args)}`);
    }
    return new DAttention(c, opts ?? {});
  },
  flops,
  inspect,
};

export const plugin: ModulePlugin = { id: '@ablate/attn-dat', modules: [dattentionSpec] };
