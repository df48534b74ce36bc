/**
 * MSDeformAttn: multi-scale deformable attention of Deformable DETR, and a single-map wrapper for YOLOv8.
 *
 * Paper: Zhu, Su, Lu, Li, Wang, Dai, "Deformable DETR: Deformable Transformers for End-to-End Object
 * Detection", ICLR 2021, arXiv 2010.04159.
 * Reference implementation: fundamentalvision/Deformable-DETR @ 11169a6,
 * `models/ops/modules/ms_deform_attn.py`, class `MSDeformAttn`; the sampling core is the pure-PyTorch
 * `ms_deform_attn_core_pytorch` of `models/ops/functions/ms_deform_attn_func.py` (the CUDA op
 * `MSDeformAttnFunction` computes the same).
 *
 * Status: `MSDeformAttn` and `msDeformAttnCore` follow the official maths, names and layouts (golden parity).
 * Deviations: `im2col_step` (a CUDA batching detail) does not exist; the head dim need not be a power of 2
 * (the official warning is about its CUDA kernel only). `MSDeformAttn2d` is this package's single-level
 * wrapper for NHWC maps (no official counterpart): tokens = the map flattened row-major, reference points =
 * pixel centres (encoder `get_reference_points` with valid ratios 1), query = tokens + the encoder's sine
 * position embedding (`PositionEmbeddingSine(C/2, normalize=True)`, optional), n_levels 1, output reshaped
 * back to the map; its parameters have the names of an `MSDeformAttn(C, 1, heads, points)`.
 */

import { defaultGenerator, gridSample, Linear, Module, randUniform } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

/** Level sizes [H_l, W_l]. */
export type SpatialShapes = readonly (readonly [number, number])[];

/**
 * The sampling core (`ms_deform_attn_core_pytorch`): for every query, head, level and point, bilinear
 * sampling (grid_sample, zeros padding, align_corners false: pixel = loc * size - 0.5) of that head's
 * value map, weighted by `attentionWeights` (used as given) and summed.
 *
 * @param value [N, S, M, D]: the level tokens (row-major, levels concatenated), M heads of D channels
 * @param spatialShapes [[H_0, W_0], ...] (sum H_l W_l = S)
 * @param samplingLocations [N, Lq, M, L, P, 2], normalised (x, y) in [0, 1] of each level
 * @param attentionWeights [N, Lq, M, L, P]
 * @returns [N, Lq, M*D] (channel = m * D + d)
 */
export function msDeformAttnCore(
  value: tf.Tensor,
  spatialShapes: SpatialShapes,
  samplingLocations: tf.Tensor,
  attentionWeights: tf.Tensor,
): tf.Tensor3D {
  if (value.rank !== 4) throw new Error(`msDeformAttnCore: value must be [N, S, M, D], got shape [${value.shape}]`);
  const [N, S, M, D] = value.shape;
  const L = spatialShapes.length;
  const total = spatialShapes.reduce((a, [h, w]) => a + h * w, 0);
  if (total !== S) {
    throw new Error(`msDeformAttnCore: spatial shapes ${JSON.stringify(spatialShapes)} cover ${total} tokens, value has ${S}`);
  }
  const ls = samplingLocations.shape;
  if (ls.length !== 6 || ls[0] !== N || ls[2] !== M || ls[3] !== L || ls[5] !== 2) {
    throw new Error(`msDeformAttnCore: sampling_locations must be [N=${N}, Lq, M=${M}, L=${L}, P, 2], got [${ls}]`);
  }
  const [, Lq, , , P] = ls;
  const ws = attentionWeights.shape;
  if (ws.length !== 5 || ws[0] !== N || ws[1] !== Lq || ws[2] !== M || ws[3] !== L || ws[4] !== P) {
    throw new Error(`msDeformAttnCore: attention_weights must be [${[N, Lq, M, L, P]}], got [${ws}]`);
  }
  return tf.tidy(() => {
    // [N, Lq, M, L, P, 2] -> [N, Lq, M, L, P*2] (kept at rank <= 5 for every backend)
    const loc = tf.reshape(samplingLocations, [N, Lq, M, L, P * 2]);
    const samples: tf.Tensor[] = [];
    let start = 0;
    for (let l = 0; l < L; l++) {
      const [h, w] = spatialShapes[l];
      // [N, S, M, D] -> [N, h*w, M, D] -> [N, M, h*w, D] -> [N*M, h, w, D]
      const vl = tf.reshape(tf.transpose(tf.slice(value, [0, start, 0, 0], [N, h * w, M, D]), [0, 2, 1, 3]), [N * M, h, w, D]);
      start += h * w;
      // [N, Lq, M, 1, P*2] -> [N, Lq, M, P*2] -> [N, M, Lq, P*2] -> [N*M, Lq, P, 2]
      const ll = tf.reshape(
        tf.transpose(tf.reshape(tf.slice(loc, [0, 0, 0, l, 0], [N, Lq, M, 1, P * 2]), [N, Lq, M, P * 2]), [0, 2, 1, 3]),
        [N * M, Lq, P, 2],
      );
      const grid = tf.sub(tf.mul(ll, 2), 1) as tf.Tensor4D;
      samples.push(gridSample(vl as tf.Tensor4D, grid, { paddingMode: 'zeros', alignCorners: false })); // [N*M, Lq, P, D]
    }
    // L x [N*M, Lq, P, D] -> [N*M, Lq, L*P, D] -> [N*M*Lq, L*P, D]
    const sampled = tf.reshape(L === 1 ? samples[0] : tf.concat(samples, 2), [N * M * Lq, L * P, D]);
    // [N, Lq, M, L, P] -> [N, Lq, M, L*P] -> [N, M, Lq, L*P] -> [N*M*Lq, 1, L*P]
    const wts = tf.reshape(tf.transpose(tf.reshape(attentionWeights, [N, Lq, M, L * P]), [0, 2, 1, 3]), [N * M * Lq, 1, L * P]);
    const out = tf.matMul(wts, sampled); // [N*M*Lq, 1, D]
    // [N*M*Lq, 1, D] -> [N, M, Lq, D] -> [N, Lq, M, D] -> [N, Lq, M*D]
    return tf.reshape(tf.transpose(tf.reshape(out, [N, M, Lq, D]), [0, 2, 1, 3]), [N, Lq, M * D]) as tf.Tensor3D;
  });
}

export interface MSDeformAttnOptions {
  /** Hidden size (default 256). */
  dModel?: number;
  /** Feature levels (default 4). */
  nLevels?: number;
  /** Heads (default 8); must divide dModel. */
  nHeads?: number;
  /** Sampling points per head and level (default 4). */
  nPoints?: number;
}

/** Heads for d channels: 8 (the official default) when 8 divides d, else the largest of 4, 2, 1 dividing d. */
export function defaultHeads(channels: number): number {
  for (const h of [8, 4, 2, 1]) if (channels % h === 0) return h;
  return 1;
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (n % i === 0) out.push(i);
  return out;
}

/** Parameters and the shared forward of MSDeformAttn and MSDeformAttn2d (official names). */
abstract class MSDeformAttnBase extends Module {
  readonly dModel: number;
  readonly nLevels: number;
  readonly nHeads: number;
  readonly nPoints: number;
  readonly sampling_offsets: Linear;
  readonly attention_weights: Linear;
  readonly value_proj: Linear;
  readonly output_proj: Linear;

  constructor(dModel: number, nLevels: number, nHeads: number, nPoints: number, who: string) {
    super();
    for (const [n, v] of [
      ['dModel', dModel],
      ['nLevels', nLevels],
      ['nHeads', nHeads],
      ['nPoints', nPoints],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${n} must be a positive integer, got ${v}`);
    }
    if (dModel % nHeads !== 0) {
      throw new Error(
        `${who}: dModel (${dModel}) must be divisible by nHeads (${nHeads}); heads dividing ${dModel}: ${divisors(dModel).join(', ')}`,
      );
    }
    this.dModel = dModel;
    this.nLevels = nLevels;
    this.nHeads = nHeads;
    this.nPoints = nPoints;
    const mlp = nHeads * nLevels * nPoints;
    this.sampling_offsets = this.addModule('sampling_offsets', new Linear(dModel, mlp * 2));
    this.attention_weights = this.addModule('attention_weights', new Linear(dModel, mlp));
    this.value_proj = this.addModule('value_proj', new Linear(dModel, dModel));
    this.output_proj = this.addModule('output_proj', new Linear(dModel, dModel));
    this.resetParameters();
  }

  /**
   * The official `_reset_parameters`: sampling_offsets weight 0 and bias = per-head directions on the
   * unit square scaled by (point + 1); attention_weights 0; value/output_proj xavier-uniform weights
   * (drawn from the global generator), zero biases.
   */
  resetParameters(): void {
    const M = this.nHeads;
    const L = this.nLevels;
    const P = this.nPoints;
    const bias = new Float32Array(M * L * P * 2);
    for (let m = 0; m < M; m++) {
      const th = m * ((2 * Math.PI) / M);
      // official computes cos/sin in float32
      const c = Math.fround(Math.cos(Math.fround(th)));
      const s = Math.fround(Math.sin(Math.fround(th)));
      const mx = Math.max(Math.abs(c), Math.abs(s));
      for (let l = 0; l < L; l++) {
        for (let p = 0; p < P; p++) {
          const i = ((m * L + l) * P + p) * 2;
          bias[i] = (c / mx) * (p + 1);
          bias[i + 1] = (s / mx) * (p + 1);
        }
      }
    }
    const set = (v: tf.Variable, t: tf.Tensor) => {
      v.assign(t);
      t.dispose();
    };
    const named = new Map(this.namedParameters());
    const get = (n: string) => {
      const p = named.get(n);
      if (!p) throw new Error(`MSDeformAttn: parameter ${n} not found`);
      return p.variable;
    };
    set(get('sampling_offsets.weight'), tf.zeros(get('sampling_offsets.weight').shape));
    set(get('sampling_offsets.bias'), tf.tensor1d(bias));
    set(get('attention_weights.weight'), tf.zeros(get('attention_weights.weight').shape));
    set(get('attention_weights.bias'), tf.zeros(get('attention_weights.bias').shape));
    const d = this.dModel;
    const bound = Math.sqrt(6 / (d + d));
    for (const n of ['value_proj', 'output_proj']) {
      const w = get(`${n}.weight`);
      // xavier_uniform_ on the (out, in) PyTorch weight; drawn in PyTorch order, then put in internal layout
      const drawn = randUniform([d, d], -bound, bound, defaultGenerator());
      const p = named.get(`${n}.weight`);
      if (!p) throw new Error(`MSDeformAttn: parameter ${n}.weight not found`);
      const internal = p.fromTorchLayout(drawn);
      drawn.dispose();
      set(w, internal);
      set(get(`${n}.bias`), tf.zeros([d]));
    }
  }

  /**
   * The official forward.
   * @param query [N, Lq, C]
   * @param referencePoints [N or 1, Lq, L, 2] (x, y) in [0, 1], or [N or 1, Lq, L, 4] boxes (cx, cy, w, h)
   * @param inputFlatten [N, S, C]
   * @param spatialShapes [[H_l, W_l], ...]
   * @param paddingMask optional [N, S] bool (true = padding: value set to 0)
   */
  protected attend(
    query: tf.Tensor,
    referencePoints: tf.Tensor,
    inputFlatten: tf.Tensor,
    spatialShapes: SpatialShapes,
    paddingMask?: tf.Tensor,
  ): tf.Tensor3D {
    const who = this.typeName;
    if (query.rank !== 3 || inputFlatten.rank !== 3) {
      throw new Error(`${who}: query and input_flatten must be [N, L, C], got [${query.shape}] and [${inputFlatten.shape}]`);
    }
    const [N, Lq, C] = query.shape;
    const [N2, S, C2] = inputFlatten.shape;
    if (N2 !== N || C !== this.dModel || C2 !== this.dModel) {
      throw new Error(`${who}: query [${query.shape}] and input_flatten [${inputFlatten.shape}] must share N and have C = ${this.dModel}`);
    }
    const M = this.nHeads;
    const L = this.nLevels;
    const D = C / M;
    if (spatialShapes.length !== L) throw new Error(`${who}: ${spatialShapes.length} spatial shapes given, the module has nLevels = ${L}`);
    const total = spatialShapes.reduce((a, [h, w]) => a + h * w, 0);
    if (total !== S)
      throw new Error(`${who}: spatial shapes ${JSON.stringify(spatialShapes)} cover ${total} tokens, input_flatten has ${S}`);
    const rs = referencePoints.shape;
    if (rs.length !== 4 || (rs[0] !== N && rs[0] !== 1) || rs[1] !== Lq || rs[2] !== L || (rs[3] !== 2 && rs[3] !== 4)) {
      throw new Error(`${who}: reference_points must be [N, Lq=${Lq}, L=${L}, 2 or 4], got [${rs}]`);
    }
    return tf.tidy(() => {
      let value = this.value_proj.forward(inputFlatten); // [N, S, C]
      // mask [N, S] -> [N, S, 1], broadcast over channels
      if (paddingMask) value = tf.where(tf.cast(tf.reshape(paddingMask, [N, S, 1]), 'bool'), tf.zerosLike(value), value);
      const v4 = tf.reshape(value, [N, S, M, D]); // [N, S, C] -> [N, S, M, D]
      const { locations, weights } = this.sampling(query, referencePoints, spatialShapes);
      const out = msDeformAttnCore(v4, spatialShapes, locations, weights);
      return this.output_proj.forward(out) as tf.Tensor3D;
    });
  }

  /**
   * Where each query samples and with which weight: the sampling locations [N, Lq, M, L, P, 2] (normalised
   * (x, y) of each level, align_corners false: 0 and 1 are the map's outer edges) and the attention weights
   * [N, Lq, M, L, P] (softmax over levels and points together). Shapes are checked by the caller.
   */
  protected sampling(
    query: tf.Tensor,
    referencePoints: tf.Tensor,
    spatialShapes: SpatialShapes,
  ): { locations: tf.Tensor; weights: tf.Tensor } {
    const [N, Lq] = query.shape;
    const M = this.nHeads;
    const L = this.nLevels;
    const P = this.nPoints;
    const rs = referencePoints.shape;
    return tf.tidy(() => {
      // [N, Lq, M*L*P*2] -> [N, Lq, M, L, P*2]
      const off = tf.reshape(this.sampling_offsets.forward(query), [N, Lq, M, L, P * 2]);
      // [N, Lq, M*L*P] -> [N, Lq, M, L*P], softmax over levels and points together
      const aw = tf.softmax(tf.reshape(this.attention_weights.forward(query), [N, Lq, M, L * P]), -1);
      const Nr = rs[0];
      let loc: tf.Tensor;
      if (rs[3] === 2) {
        // offsets are pixels of each level: divide x by W_l and y by H_l
        const norm = new Float32Array(L * P * 2);
        for (let l = 0; l < L; l++) {
          for (let p = 0; p < P; p++) {
            norm[(l * P + p) * 2] = spatialShapes[l][1];
            norm[(l * P + p) * 2 + 1] = spatialShapes[l][0];
          }
        }
        // [Nr, Lq, L, 2] -> [Nr, Lq, L, P*2] (tile repeats (x, y) per point) -> [Nr, Lq, 1, L, P*2]
        const ref = tf.reshape(tf.tile(referencePoints, [1, 1, 1, P]), [Nr, Lq, 1, L, P * 2]);
        loc = tf.add(ref, tf.div(off, tf.tensor(norm, [L, P * 2])));
      } else {
        // boxes: loc = (cx, cy) + off / P * (w, h) * 0.5
        const ctr = tf.slice(referencePoints, [0, 0, 0, 0], [Nr, Lq, L, 2]);
        const wh = tf.slice(referencePoints, [0, 0, 0, 2], [Nr, Lq, L, 2]);
        // [Nr, Lq, L, 2] -> [Nr, Lq, 1, L, P*2]
        const ctrT = tf.reshape(tf.tile(ctr, [1, 1, 1, P]), [Nr, Lq, 1, L, P * 2]);
        const whT = tf.reshape(tf.tile(wh, [1, 1, 1, P]), [Nr, Lq, 1, L, P * 2]);
        loc = tf.add(ctrT, tf.mul(tf.mul(tf.div(off, P), whT), 0.5));
      }
      // [N, Lq, M, L, P*2] -> [N, Lq, M, L, P, 2]; [N, Lq, M, L*P] -> [N, Lq, M, L, P]
      return { locations: tf.reshape(loc, [N, Lq, M, L, P, 2]), weights: tf.reshape(aw, [N, Lq, M, L, P]) };
    });
  }

  /** FLOPs (2 x MACs of the linears and the weighted sum; bilinear interpolation not counted). */
  protected tokenFlops(n: number, lq: number, s: number): number {
    const C = this.dModel;
    const mlp = this.nHeads * this.nLevels * this.nPoints;
    let macs = 0;
    macs += s * C * C; // value_proj
    macs += lq * C * mlp * 3; // sampling_offsets (2 per point) + attention_weights
    macs += lq * this.nLevels * this.nPoints * C; // weighted sum over levels x points, all heads
    macs += lq * C * C; // output_proj
    return 2 * n * macs;
  }
}

/** The official MSDeformAttn (multi-level, token inputs). */
export class MSDeformAttn extends MSDeformAttnBase {
  constructor(opts: MSDeformAttnOptions = {}) {
    super(opts.dModel ?? 256, opts.nLevels ?? 4, opts.nHeads ?? 8, opts.nPoints ?? 4, 'MSDeformAttn');
  }

  override get typeName(): string {
    return 'MSDeformAttn';
  }

  /**
   * @param query [N, Lq, C]
   * @param referencePoints [N, Lq, L, 2] normalised (x, y), or [N, Lq, L, 4] reference boxes
   * @param inputFlatten [N, S, C]
   * @param spatialShapes [[H_l, W_l], ...]
   * @param _levelStartIndex unused (the official CUDA op reads it; the levels are split by spatialShapes)
   * @param paddingMask [N, S] (true: padding)
   * @returns [N, Lq, C]
   */
  forward(
    query: tf.Tensor,
    referencePoints: tf.Tensor,
    inputFlatten: tf.Tensor,
    spatialShapes: SpatialShapes,
    _levelStartIndex?: readonly number[],
    paddingMask?: tf.Tensor,
  ): tf.Tensor3D {
    return this.attend(query, referencePoints, inputFlatten, spatialShapes, paddingMask);
  }

  /** FLOPs of one forward for query length lq and S input tokens (batch n). */
  flops(n: number, lq: number, s: number): number {
    return this.tokenFlops(n, lq, s);
  }
}

export interface MSDeformAttn2dOptions {
  /** Heads (default `defaultHeads(channels)`: 8 when 8 divides channels). */
  nHeads?: number;
  /** Sampling points (default 4). */
  nPoints?: number;
  /** Add the encoder's sine position embedding to the query (default true, as the Deformable DETR encoder). */
  posEmbed?: boolean;
}

/**
 * The sine position embedding of Deformable DETR's backbone joiner (`PositionEmbeddingSine(C/2,
 * temperature 10000, normalize=True, scale 2 pi)` without mask), NHWC [1, H, W, C]: channels
 * [0, C/2) encode y, [C/2, C) encode x; within each half, channel 2j = sin(e / T^(2j/(C/2))),
 * 2j+1 = cos(same), with e = (i + 0.5) / (H + 1e-6) * 2 pi.
 */
export function sinePositionEmbedding(h: number, w: number, channels: number, temperature = 10000): tf.Tensor4D {
  return tf.tensor4d(sinePositionEmbeddingData(h, w, channels, temperature), [1, h, w, channels]);
}

/** The values of `sinePositionEmbedding` as a plain [H, W, C] row-major array. */
export function sinePositionEmbeddingData(h: number, w: number, channels: number, temperature = 10000): Float32Array {
  if (channels % 4 !== 0) throw new Error(`sinePositionEmbedding: channels must be divisible by 4, got ${channels}`);
  const npf = channels / 2;
  const v = new Float32Array(h * w * channels);
  const scale = 2 * Math.PI;
  const eps = 1e-6;
  const dimT = new Float64Array(npf);
  for (let j = 0; j < npf; j++) dimT[j] = temperature ** ((2 * Math.floor(j / 2)) / npf);
  for (let i = 0; i < h; i++) {
    const ye = ((i + 1 - 0.5) / (h + eps)) * scale;
    for (let x = 0; x < w; x++) {
      const xe = ((x + 1 - 0.5) / (w + eps)) * scale;
      const base = (i * w + x) * channels;
      for (let j = 0; j < npf; j++) {
        v[base + j] = j % 2 === 0 ? Math.sin(ye / dimT[j]) : Math.cos(ye / dimT[j]);
        v[base + npf + j] = j % 2 === 0 ? Math.sin(xe / dimT[j]) : Math.cos(xe / dimT[j]);
      }
    }
  }
  return v;
}

/**
 * MSDeformAttn on one NHWC map (c -> c), for insertion into YOLOv8: the map's tokens are both the value
 * source and the query (plus the sine position embedding unless `posEmbed: false`), reference points are
 * the pixel centres ((w + 0.5) / W, (h + 0.5) / H), one level. Parameter names are those of
 * `MSDeformAttn(dModel = c, nLevels = 1, nHeads, nPoints)`, so its state dicts load directly.
 */
export class MSDeformAttn2d extends MSDeformAttnBase {
  readonly posEmbed: boolean;
  /** Plain-JS constants per map size (no tensors are held between calls). */
  private cache = new Map<string, { ref: Float32Array; pos: Float32Array | null }>();

  constructor(channels: number, opts: MSDeformAttn2dOptions = {}) {
    super(channels, 1, opts.nHeads ?? defaultHeads(channels), opts.nPoints ?? 4, 'MSDeformAttn2d');
    this.posEmbed = opts.posEmbed ?? true;
    if (this.posEmbed && channels % 4 !== 0) {
      throw new Error(`MSDeformAttn2d: the sine position embedding needs channels divisible by 4, got ${channels}; pass posEmbed: false`);
    }
  }

  override get typeName(): string {
    return 'MSDeformAttn2d';
  }

  /** Pixel-centre reference points (x, y) per token and the position embedding [H*W, C], as plain arrays. */
  private constants(h: number, w: number): { ref: Float32Array; pos: Float32Array | null } {
    const key = `${h}x${w}`;
    let c = this.cache.get(key);
    if (!c) {
      const ref = new Float32Array(h * w * 2);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          ref[(i * w + j) * 2] = (j + 0.5) / w;
          ref[(i * w + j) * 2 + 1] = (i + 0.5) / h;
        }
      }
      let pos: Float32Array | null = null;
      if (this.posEmbed) {
        pos = sinePositionEmbeddingData(h, w, this.dModel);
      }
      c = { ref, pos };
      if (this.cache.size > 16) this.cache.clear();
      this.cache.set(key, c);
    }
    return c;
  }

  /** The query tokens (map tokens + position embedding) and reference points of an NHWC map. */
  private queryOf(x: tf.Tensor): { tokens: tf.Tensor3D; query: tf.Tensor3D; ref: tf.Tensor4D } {
    if (x.rank !== 4) throw new Error(`MSDeformAttn2d: expected an NHWC tensor of rank 4, got shape [${x.shape}]`);
    const [B, H, W, C] = x.shape;
    if (C !== this.dModel) throw new Error(`MSDeformAttn2d: input has ${C} channels, the module was built for ${this.dModel}`);
    const consts = this.constants(H, W);
    const tokens = tf.reshape(x, [B, H * W, C]) as tf.Tensor3D; // [B, H, W, C] -> [B, H*W, C]
    const query = (consts.pos ? tf.add(tokens, tf.tensor3d(consts.pos, [1, H * W, C])) : tokens) as tf.Tensor3D;
    const ref = tf.tensor4d(consts.ref, [1, H * W, 1, 2]); // [1, Lq, n_levels = 1, (x, y)]
    return { tokens, query, ref };
  }

  /** [B, H, W, C] -> [B, H, W, C]. */
  forward(x: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      const { tokens, query, ref } = this.queryOf(x);
      const out = this.attend(query, ref, tokens, [[H, W]]);
      return tf.reshape(out, [B, H, W, C]) as tf.Tensor4D; // [B, H*W, C] -> [B, H, W, C]
    });
  }

  /**
   * What every position of the map samples (the forward's own locations and weights, for pictures):
   * locations [B, H*W, heads, points, 2] as (x, y) fractions of the map (0 and 1 its outer edges) and
   * weights [B, H*W, heads, points] (softmax over the points).
   */
  samplingPoints(x: tf.Tensor): { locations: tf.Tensor; weights: tf.Tensor } {
    return tf.tidy(() => {
      const [B, H, W] = x.shape;
      const { query, ref } = this.queryOf(x);
      const { locations, weights } = this.sampling(query, ref, [[H, W]]);
      const M = this.nHeads;
      const P = this.nPoints;
      // one level: [B, Lq, M, 1, P, 2] -> [B, Lq, M, P, 2]; [B, Lq, M, 1, P] -> [B, Lq, M, P]
      return { locations: tf.reshape(locations, [B, H * W, M, P, 2]), weights: tf.reshape(weights, [B, H * W, M, P]) };
    });
  }

  call(x: tf.Tensor): tf.Tensor {
    return this.forward(x);
  }

  /** FLOPs of one forward on an NHWC input shape. */
  flops(inputShape: number[]): number {
    const [B, H, W] = inputShape;
    return this.tokenFlops(B, H * W, H * W);
  }

  override dispose(): void {
    this.cache.clear();
    super.dispose();
  }
}
