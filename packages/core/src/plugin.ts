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
}

export interface ModulePlugin {
  /** The package that provides the modules, e.g. `@ablate/attn-dat`. */
  id: string;
  modules: readonly ModuleSpec[];
}
