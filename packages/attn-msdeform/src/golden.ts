/**
 * Golden-parity adapters for the Deformable DETR cases: the `MSDeformAttn` module (inputs query,
 * reference_points, input_flatten, input_spatial_shapes, input_level_start_index) and the sampling core
 * `ms_deform_attn_core_pytorch` (value, value_spatial_shapes, sampling_locations, attention_weights).
 * `goldenAdapter` dispatches on `json.reference.class`.
 */

import { Module, type ParityAdapter, type ParityCase } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import { MSDeformAttn, msDeformAttnCore, type SpatialShapes } from './msdeform.js';

// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
type Json = any;

function isDeformableDetr(json: Json): boolean {
  return /fundamentalvision\/Deformable-DETR(\b|$)/i.test(String(json?.reference?.repo ?? ''));
}

/** True for a case of the official MSDeformAttn module. */
export function goldenMatchesModule(json: Json): boolean {
  const ref = json?.reference;
  return isDeformableDetr(json) && String(ref?.path ?? '').endsWith('modules/ms_deform_attn.py') && ref?.class === 'MSDeformAttn';
}

/** True for a case of the official pure-PyTorch core `ms_deform_attn_core_pytorch`. */
export function goldenMatchesCore(json: Json): boolean {
  const ref = json?.reference;
  return (
    isDeformableDetr(json) &&
    String(ref?.path ?? '').endsWith('functions/ms_deform_attn_func.py') &&
    String(ref?.class ?? '').startsWith('ms_deform_attn_core_pytorch')
  );
}

/** True when a case JSON is for this package (module or core), decided from `reference`, never the file name. */
export function goldenMatches(json: Json): boolean {
  return goldenMatchesModule(json) || goldenMatchesCore(json);
}

/** A parameter-free module standing for the core function in the harness. */
export class MSDeformAttnCoreFn extends Module {
  override get typeName(): string {
    return 'ms_deform_attn_core_pytorch';
  }
}

function shapesOf(t: tf.Tensor | undefined, what: string): SpatialShapes {
  if (t?.rank !== 2 || t.shape[1] !== 2)
    throw new Error(`MSDeformAttn golden: ${what} must be an (L, 2) tensor, got ${t ? `[${t.shape}]` : 'nothing'}`);
  return (t.arraySync() as number[][]).map(([h, w]) => [Number(h), Number(w)] as const);
}

function need(inputs: Record<string, tf.Tensor>, name: string, c: ParityCase): tf.Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`MSDeformAttn golden: case ${c.name} has no input "${name}"; inputs: ${Object.keys(inputs).join(', ')}`);
  return t;
}

/** Adapter for the module cases. */
export const goldenAdapterModule: ParityAdapter = {
  build(c: ParityCase): Module {
    const k = c.json?.constructor ?? {};
    return new MSDeformAttn({ dModel: k.d_model, nLevels: k.n_levels, nHeads: k.n_heads, nPoints: k.n_points });
  },
  forward(module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor> {
    if (!(module instanceof MSDeformAttn)) throw new Error('MSDeformAttn golden: the adapter got another module');
    const outName = Object.keys(c.json.outputs ?? { output: 0 })[0];
    const shapes = shapesOf(need(inputs, 'input_spatial_shapes', c), 'input_spatial_shapes');
    const start = inputs.input_level_start_index ? (inputs.input_level_start_index.arraySync() as number[]) : undefined;
    const out = module.forward(
      need(inputs, 'query', c),
      need(inputs, 'reference_points', c),
      need(inputs, 'input_flatten', c),
      shapes,
      start,
    );
    return { [outName]: out };
  },
};

/** Adapter for the core-function cases. */
export const goldenAdapterCore: ParityAdapter = {
  build(): Module {
    return new MSDeformAttnCoreFn();
  },
  forward(_module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor> {
    const outName = Object.keys(c.json.outputs ?? { output: 0 })[0];
    const shapes = shapesOf(need(inputs, 'value_spatial_shapes', c), 'value_spatial_shapes');
    const out = msDeformAttnCore(
      need(inputs, 'value', c),
      shapes,
      need(inputs, 'sampling_locations', c),
      need(inputs, 'attention_weights', c),
    );
    return { [outName]: out };
  },
};

function pick(c: ParityCase): ParityAdapter {
  if (goldenMatchesModule(c.json)) return goldenAdapterModule;
  if (goldenMatchesCore(c.json)) return goldenAdapterCore;
  throw new Error(
    `MSDeformAttn golden: case ${c.name} is not a Deformable-DETR MSDeformAttn / ms_deform_attn_core_pytorch case (reference.class = ${JSON.stringify(c.json?.reference?.class)})`,
  );
}

/** Adapter for every case `goldenMatches` accepts: dispatches on `json.reference.class`. */
export const goldenAdapter: ParityAdapter = {
  build: (c) => pick(c).build(c),
  forward: (m, inputs, c) => pick(c).forward(m, inputs, c),
};
