/**
 * DetectionModel: a YOLOv8 built from a model YAML, as Ultralytics' `DetectionModel(cfg, nc)`.
 *
 * The module tree reproduces Ultralytics' names, so the state dict reads `model.<i>.<...>` in
 * PyTorch names and layouts and Ultralytics checkpoints (converted to safetensors) load directly.
 * After building, as Ultralytics does:
 *  - strides come from a stride probe at 256 x 256 (here a shape-only pass, no tensors);
 *  - Detect's biases are initialised (`bias_init`);
 *  - every BatchNorm2d gets eps 1e-3 and momentum 0.03 (`initialize_weights`);
 *  - running_var is 0.9: Ultralytics' probe forward on zeros runs in train mode while momentum is
 *    still 0.1, so running_var = 0.9 * 1 + 0.1 * 0. Set directly here (exact for models whose
 *    modules give zeros on zeros; a plugin module with non-zero output on a zero input would have
 *    moved the statistics of later BatchNorms a little in Ultralytics).
 * Activations are NHWC: `forward(x [B, H, W, C])`; train mode returns Detect's raw maps per level
 * `[B, H/s, W/s, 64 + nc]`; eval mode `{ inference [B, 4 + nc, A], raw }`.
 */

import * as fs from 'node:fs';
import {
  BatchNorm2d,
  type LoadResult,
  loadModuleSafetensors,
  Module,
  ModuleList,
  type SafetensorsFile,
  Sequential,
  type StateDict,
  stateDictToSafetensors,
} from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry } from './builtins.js';
import { Detect, type DetectOutput, setModuleFlops } from './modules.js';
import { type NmsOptions, type NmsRow, nonMaxSuppression, PREDICT_NMS, VAL_NMS } from './nms.js';
import { type LayerPlan, type ModelPlan, type ParseOptions, parseModel, scaleChannels } from './parse.js';
import { profileLayer } from './profile.js';
import type { ModuleRegistry } from './registry.js';
import type { ModelYaml } from './yaml.js';

export interface BuildOptions extends ParseOptions {
  /** Module registry (built-ins plus plugins). Default: built-ins only. */
  registry?: ModuleRegistry;
}

export interface WeightsReport {
  /** Names loaded (name and shape matched). */
  loaded: string[];
  /** Names of the source not loaded, with the reason. */
  skipped: { name: string; reason: string }[];
  /** Names of the model the source did not provide (they keep their values). */
  missing: string[];
}

/** One entry of `model.model` (Ultralytics' m.i, m.f, m.type, m.np). */
export interface ModelLayer {
  module: Module;
  plan: LayerPlan;
}

type LayerOut = tf.Tensor | tf.Tensor[] | DetectOutput;

export class DetectionModel extends Module {
  readonly model: ModuleList;
  readonly plan: ModelPlan;
  readonly layers: ModelLayer[];
  /** Layer indices whose outputs later layers read (Ultralytics' `save`). */
  readonly save: number[];
  /** Strides of the Detect levels. */
  readonly stride: number[];
  /** Output stride of every layer (Detect: one per level), from the 256 x 256 probe. */
  readonly layerStrides: (number | number[])[];
  readonly nc: number;
  readonly ch: number;
  readonly detect: Detect;

  constructor(plan: ModelPlan, modules: Module[]) {
    super();
    this.plan = plan;
    this.nc = plan.nc;
    this.ch = plan.ch;
    this.save = plan.save;
    this.model = this.addModule('model', new ModuleList(modules));
    this.layers = modules.map((module, i) => ({ module, plan: plan.layers[i] }));
    const last = modules[modules.length - 1];
    if (!(last instanceof Detect)) {
      throw new Error(
        `${plan.source}: the last layer must be Detect (a detection model), got ${plan.layers[plan.layers.length - 1]?.module}`,
      );
    }
    this.detect = last;
    // Stride probe (shapes only): 256 x 256 like Ultralytics.
    const s = 256;
    const shapes = this.profileShapes([1, s, s, plan.ch]);
    this.layerStrides = shapes.map((o, i) =>
      this.layers[i].module instanceof Detect ? Detect.levelShapes(o.out).map((t) => s / t[1]) : s / o.out[1],
    );
    this.stride = this.layerStrides[this.layerStrides.length - 1] as number[];
    this.detect.stride = [...this.stride];
  }

  override get typeName(): string {
    return 'DetectionModel';
  }

  /** Per layer: output shape and FLOPs for an NHWC input shape (no tensors run). */
  profileShapes(inputShape: number[]): { out: number[]; flops: number }[] {
    const outs: number[][] = [];
    const res: { out: number[]; flops: number }[] = [];
    for (const { module, plan } of this.layers) {
      const ins = plan.inputs.map((j) => (j < 0 ? inputShape : outs[j]));
      if (ins.some((t) => t === undefined)) throw new Error(`${plan.where}: input shape unknown`);
      const p = profileLayer(module, ins, plan.c2);
      res.push(p);
      outs.push(module instanceof Detect ? [] : p.out);
    }
    return res;
  }

  /**
   * Runs every layer; returns each layer's output (index i = `model.model[i]`). Outputs are tracked by
   * the caller's scope (wrap in tf.tidy).
   */
  forwardLayers(x: tf.Tensor): LayerOut[] {
    if (x.rank !== 4 || x.shape[3] !== this.ch) {
      throw new Error(`DetectionModel: expected an NHWC image batch [B, H, W, ${this.ch}], got shape [${x.shape}]`);
    }
    const y: LayerOut[] = [];
    let cur: LayerOut = x;
    for (const { module, plan } of this.layers) {
      const pick = (j: number): tf.Tensor => (j < 0 ? x : (y[j] as tf.Tensor));
      let input: tf.Tensor | tf.Tensor[];
      if (Array.isArray(plan.from)) input = plan.inputs.map(pick);
      else input = plan.from === -1 ? (cur as tf.Tensor) : pick(plan.inputs[0]);
      cur = (module as unknown as { forward(i: tf.Tensor | tf.Tensor[]): LayerOut }).forward(input);
      y.push(cur);
    }
    return y;
  }

  /** Train mode: raw maps per level (NHWC). Eval mode: `{ inference, raw }`. */
  forward(x: tf.Tensor): tf.Tensor4D[] | DetectOutput {
    return tf.tidy(() => {
      const y = this.forwardLayers(x);
      return y[y.length - 1] as unknown as tf.TensorContainer;
    }) as unknown as tf.Tensor4D[] | DetectOutput;
  }

  /** Eval-mode prediction: `[B, 4 + nc, A]` (xywh pixels, sigmoid scores). Switches to eval mode. */
  predict(x: tf.Tensor): tf.Tensor3D {
    this.eval();
    return tf.tidy(() => (this.forward(x) as DetectOutput).inference);
  }

  /**
   * Detections per image: eval-mode forward, then Ultralytics' NMS. `mode` 'predict' uses conf 0.25,
   * iou 0.7 (best class per box); 'val' conf 0.001, iou 0.7, multi-label, max_det 300; or pass options.
   * Rows are [x1, y1, x2, y2, conf, cls] in input pixels. Switches to eval mode.
   */
  detections(x: tf.Tensor, mode: 'predict' | 'val' | NmsOptions = 'predict'): NmsRow[][] {
    const opts = mode === 'predict' ? PREDICT_NMS : mode === 'val' ? VAL_NMS : mode;
    if (typeof opts !== 'object' || opts === null)
      throw new Error(`detections: unknown mode ${JSON.stringify(mode)}; known: predict, val, or NMS options`);
    const p = this.predict(x);
    try {
      return nonMaxSuppression(p.dataSync() as Float32Array, p.shape, opts);
    } finally {
      p.dispose();
    }
  }

  /**
   * Loads weights in PyTorch names and layouts (a state dict, a safetensors file path or bytes, or a
   * parsed file; `prefix` is stripped from the file's names). Non-strict (default): every tensor
   * whose name and shape match is loaded, the rest is reported. Strict: anything missing,
   * unexpected or mismatched throws.
   */
  loadWeights(source: StateDict | string | Uint8Array | SafetensorsFile, opts: { strict?: boolean; prefix?: string } = {}): WeightsReport {
    const strict = opts.strict === true;
    let r: LoadResult;
    if (typeof source === 'string' || source instanceof Uint8Array || isSafetensorsFile(source)) {
      r = loadModuleSafetensors(this, source, { strict, prefix: opts.prefix });
    } else {
      let sd: StateDict = source;
      if (opts.prefix) {
        const p = opts.prefix;
        const entries = source instanceof Map ? [...source.entries()] : Object.entries(source);
        sd = new Map(entries.filter(([k]) => k.startsWith(p)).map(([k, t]) => [k.slice(p.length), t]));
      }
      r = this.loadStateDict(sd, { strict });
    }
    return {
      loaded: r.loaded,
      skipped: [
        ...r.unexpected.map((name) => ({ name, reason: 'not in the model' })),
        ...r.mismatched.map((m) => ({ name: m.name, reason: `shape [${m.got}] but the model has [${m.expected}]` })),
      ],
      missing: r.missing,
    };
  }

  /** The state dict as safetensors bytes (PyTorch names and layouts); written to `file` when given. */
  saveWeights(file?: string, metadata: Record<string, string> = {}): Uint8Array {
    const bytes = stateDictToSafetensors(this, metadata);
    if (file) fs.writeFileSync(file, bytes);
    return bytes;
  }
}

function isSafetensorsFile(v: unknown): v is SafetensorsFile {
  return typeof v === 'object' && v !== null && (v as SafetensorsFile).tensors instanceof Map && 'metadata' in v;
}

/** Builds the modules of a plan. */
function buildLayers(plan: ModelPlan): Module[] {
  return plan.layers.map((lp) => {
    const ctx = {
      inputChannels: lp.inputChannels,
      nc: plan.nc,
      width: plan.width,
      maxChannels: plan.maxChannels,
      scaleChannels: (c: number) => scaleChannels(c, plan.width, plan.maxChannels),
      repeats: lp.repeats,
      where: lp.where,
      layerIndex: lp.index,
    };
    const one = (): Module => {
      try {
        const m = lp.spec.build(lp.args, ctx);
        const f = lp.spec.flops;
        if (f) setModuleFlops(m, (mod, shapes) => f.call(lp.spec, mod, shapes));
        return m;
      } catch (e) {
        const msg = (e as Error).message;
        throw new Error(msg.includes(lp.where) ? msg : `${lp.where}: ${msg}`);
      }
    };
    if (lp.copies <= 1) return one();
    const mods = Array.from({ length: lp.copies }, one);
    for (const m of mods) {
      if (typeof (m as { forward?: unknown }).forward !== 'function') throw new Error(`${lp.where}: repeated modules need forward(x)`);
    }
    return new Sequential(...(mods as (Module & { forward(x: tf.Tensor): tf.Tensor })[]));
  });
}

/**
 * Builds a YOLOv8 detection model from a YAML (text, object, built-in name such as `yolov8n.yaml`,
 * or file path). Initialisation as Ultralytics (see the header); weights drawn from the global
 * seeded generator (`manualSeed`).
 */
export function buildModel(src: string | ModelYaml, opts: BuildOptions = {}): DetectionModel {
  const registry = opts.registry ?? createRegistry();
  const plan = parseModel(src, registry, opts);
  const modules = buildLayers(plan);
  let model: DetectionModel;
  try {
    model = new DetectionModel(plan, modules);
  } catch (e) {
    for (const m of modules) m.dispose();
    throw e;
  }
  tf.tidy(() => model.detect.biasInit());
  for (const [, m] of model.namedModules()) {
    if (m instanceof BatchNorm2d) {
      m.eps = 1e-3;
      m.momentum = 0.03;
      const v = tf.fill([m.numFeatures], 0.9);
      m.runningVar.assign(v);
      v.dispose();
    }
  }
  return model;
}
