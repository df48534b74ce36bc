/**
 * Shape and FLOPs pass over a built model, without running tensors: each layer's output shape (for
 * the strides and the summary) and its FLOPs counted as Ultralytics does (thop: 2 x MACs of the
 * Conv2d layers only; BatchNorm, activations, pooling and upsampling not counted; Detect in train
 * mode, so the DFL conv is not counted).
 *
 * Plugin modules: the spec's `flops(module, inputShapes)` when it has one, else the module's Conv2d
 * descendants at the input's spatial size; their output keeps the input's spatial size (attention
 * modules are shape preserving).
 */
import { type Module, Sequential, Upsample } from '@ablate/core';
import { type Profile, profileModule } from './modules.js';

function profileOne(m: Module, inShapes: number[][], c2: number): Profile {
  if (m instanceof Upsample) {
    const [b, h, w, c] = inShapes[0];
    return { out: [b, h * m.scaleFactor[0], w * m.scaleFactor[1], c], flops: 0 };
  }
  return profileModule(m, inShapes, c2);
}

/** Output shape and FLOPs of one layer of `model.model` (a repeated layer is a Sequential of copies). */
export function profileLayer(m: Module, inShapes: number[][], c2: number): Profile {
  if (m instanceof Sequential && !(m as unknown as { profile?: unknown }).profile) {
    let cur = inShapes;
    let flops = 0;
    let out = inShapes[0];
    for (const [, child] of m.namedChildren()) {
      const p = profileOne(child, cur, c2);
      flops += p.flops;
      out = p.out;
      cur = [p.out];
    }
    return { out, flops };
  }
  return profileOne(m, inShapes, c2);
}
