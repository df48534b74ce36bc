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
import type { HeadPicture, ModuleInspection, WeightedPoint } from './picture.js';

export type { HeadPicture, ModuleInspection, WeightedPoint };

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
  /** A map over positions has at most this many cells (larger maps are sum-pooled; default 256, see `poolMap`). */
  maxMapCells?: number;
  /** At most this many query-independent maps (default 16). */
  maxMaps?: number;
}

export const DEFAULT_MAX_MAP_CELLS = 256;
export const DEFAULT_MAX_MAPS = 16;

/**
 * A row-major H x W map reduced to at most `maxCells` cells by summing k x k blocks (k the smallest
 * integer that fits; ceil mode: the last row/column of blocks may be partial), so weights that sum to 1
 * still do. Values rounded to 6 decimals. Unchanged (but rounded) when it already fits.
 */
export function poolMap(
  values: ArrayLike<number>,
  h: number,
  w: number,
  maxCells = DEFAULT_MAX_MAP_CELLS,
): { size: [number, number]; values: number[] } {
  if (values.length !== h * w) throw new Error(`poolMap: ${values.length} values for a ${h}x${w} map`);
  if (!(maxCells >= 1)) throw new Error(`poolMap: maxCells must be >= 1, got ${maxCells}`);
  let k = 1;
  while (Math.ceil(h / k) * Math.ceil(w / k) > maxCells) k++;
  const hp = Math.ceil(h / k);
  const wp = Math.ceil(w / k);
  const out = new Float64Array(hp * wp);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[Math.floor(i / k) * wp + Math.floor(j / k)] += values[i * w + j];
  return { size: [hp, wp], values: Array.from(out, (v) => Math.round(v * 1e6) / 1e6) };
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
