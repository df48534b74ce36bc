/**
 * The module-plugin interface shared by the YOLOv8 assembler (which reads it) and the attention
 * packages (which implement it). It lives in core so that neither side imports the other: the
 * runner hands plugins to the YOLOv8 registry.
 *
 * A YAML row `[from, repeats, name, args]` is resolved in two steps:
 *  1. `channels(args, ctx)`: from the YAML args and the input channels, the constructor args and the
 *     output channels (this replaces the hard-coded module sets of Ultralytics' parse_model);
 *  2. `build(args, ctx)`: the module, given the resolved args.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';

/** What a module spec may know while inferring channels. */
export interface ChannelContext {
  /** Output channels of every layer named by `from`, in order (one entry for a single input). */
  inputChannels: number[];
  /** Number of classes of the model. */
  nc: number;
  /** The scale's width multiple and max channels. */
  width: number;
  maxChannels: number;
  /** parse_model's channel scaling: ceil(min(c, maxChannels) * width / 8) * 8. */
  scaleChannels(c: number): number;
  /** Depth after scaling (repeats as parse_model computes them). */
  repeats: number;
  /** Where this row stands, for error messages: e.g. `yolov8n.yaml backbone[8]`. */
  where: string;
}

export interface BuildContext extends ChannelContext {
  /** Index of the layer in the model (or -1 when built inside another module). */
  layerIndex: number;
}

/** A module that maps one NHWC tensor to one NHWC tensor, as every insertable module does. */
export interface TensorModule extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}

export interface ModuleSpec {
  /** The canonical name: YAML name = registry key = the `module` column in the database. */
  name: string;
  /** Other names accepted in YAML (names used in Ultralytics forks). */
  aliases?: readonly string[];
  /** One line for listings and docs. */
  description?: string;
  /**
   * True when the module maps c channels to c channels given `[]` args (or only optional ones), so
   * it can be inserted anywhere, including inside a residual branch.
   */
  shapePreserving?: boolean;
  /** Channel inference: the args the constructor gets, and the output channels. */
  channels(args: readonly unknown[], ctx: ChannelContext): { args: unknown[]; c2: number };
  /** Builds the module from the resolved args. Multi-input modules take an array in `forward`. */
  build(args: readonly unknown[], ctx: BuildContext): Module;
  /**
   * FLOPs of one forward pass (2 x MACs of convolutions and matmuls, as Ultralytics counts), for
   * inputs of the given NHWC shapes. Omitted: the summary counts the module's Conv2d children only.
   */
  flops?(module: Module, inputShapes: number[][]): number;
  /**
   * The module's own picture for one input `x` [1, H, W, C] (its input in the model): what it samples or
   * attends to. Omitted: the module has no picture beyond the generic feature-map energy.
   */
  inspect?(module: Module, x: tf.Tensor, opts: InspectOptions): ModuleInspection;
}

export interface InspectOptions {
  /** At most this many query positions (a regular sub-grid of the map when it has more). */
  maxQueries: number;
  /** Per query and head, at most this many points (the largest weights). */
  maxPoints: number;
}

/** A point on the module's input map: x, y as fractions of the map's width/height (0..1), and its weight. */
export type WeightedPoint = [x: number, y: number, weight: number];

/** What one head shows for one query: sampled points and/or a map over positions. */
export interface HeadPicture {
  label: string;
  points?: WeightedPoint[];
  /** Row-major [size[0] x size[1]] values over the map (attention weights or contributions). */
  map?: { size: [number, number]; values: number[] };
}

/**
 * A module's picture of itself (JSON, drawn by the dashboard over the input image; the map covers the
 * letterboxed image). `queries`: per query position the heads' pictures (DAttention's sampling points,
 * MSDeformAttn's, linear attention's per-query weights); `maps`: query-independent maps (A2's gather maps).
 */
export interface ModuleInspection {
  kind: 'sampling-points' | 'attention-maps' | 'query-weights';
  /** [H, W] of the module's input map. */
  mapSize: [number, number];
  /** One line on what is drawn (units, what the weight means). */
  note: string;
  queries?: { x: number; y: number; heads: HeadPicture[] }[];
  maps?: { label: string; size: [number, number]; values: number[] }[];
}

/** Query positions (row, col) of a regular sub-grid of an H x W map with at most `max` cells. */
export function queryGrid(h: number, w: number, max: number): [number, number][] {
  const side = Math.max(1, Math.floor(Math.sqrt(max)));
  const rows = Math.min(h, side);
  const cols = Math.min(w, Math.max(1, Math.floor(max / rows)));
  const out: [number, number][] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out.push([Math.floor(((i + 0.5) * h) / rows), Math.floor(((j + 0.5) * w) / cols)]);
  }
  return out;
}

export interface ModulePlugin {
  /** The package that provides the modules, e.g. `@ablate/attn-dat`. */
  id: string;
  modules: readonly ModuleSpec[];
}
