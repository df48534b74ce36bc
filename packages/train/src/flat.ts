/**
 * Flat views of many tensors: the optimizer, the gradient clipping and the EMA update each run a handful
 * of kernels over one concatenated float32 vector instead of the same kernels once per parameter (a
 * YOLOv8n step has 183 parameters and 298 EMA entries; per-tensor updates dispatched ~4,200 small kernels
 * per step, the flat ones ~20 plus one reshape per tensor to concatenate and split).
 * The element-wise maths on the flat vector is the per-tensor maths, element by element (bit-identical).
 */
import * as tf from '@tensorflow/tfjs-core';

export class FlatLayout {
  readonly shapes: number[][];
  readonly sizes: number[];
  readonly total: number;

  constructor(shapes: readonly (readonly number[])[]) {
    this.shapes = shapes.map((s) => [...s]);
    this.sizes = this.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    this.total = this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Offset of tensor `i` in the flat vector. */
  offset(i: number): number {
    let o = 0;
    for (let k = 0; k < i; k++) o += this.sizes[k];
    return o;
  }

  /** One [total] vector: the tensors flattened and concatenated in order. A new tensor. */
  flatten(ts: readonly tf.Tensor[]): tf.Tensor1D {
    if (ts.length !== this.sizes.length) throw new Error(`FlatLayout.flatten: expected ${this.sizes.length} tensors, got ${ts.length}`);
    return tf.tidy(() => {
      // [...shape] -> [size] each, then concatenated: [total]
      const parts = ts.map((t, i) => (t.rank === 1 ? t : tf.reshape(t, [this.sizes[i]])));
      if (parts.length === 0) return tf.zeros([0]) as tf.Tensor1D;
      return (parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts, 0)) as tf.Tensor1D;
    });
  }

  /** The tensors of a flat [total] vector, in their shapes. New tensors. */
  unflatten(flat: tf.Tensor): tf.Tensor[] {
    if (flat.size !== this.total) throw new Error(`FlatLayout.unflatten: expected ${this.total} values, got ${flat.size}`);
    if (this.sizes.length === 0) return [];
    return tf.tidy(() => {
      // [total] -> [size_i] each -> [...shape_i]
      const parts = this.sizes.length === 1 ? [flat] : tf.split(flat, this.sizes, 0);
      return parts.map((p, i) => (this.shapes[i].length === 1 ? p : tf.reshape(p, this.shapes[i])));
    });
  }

  /** A [total] bool vector, true over the tensors whose `on[i]` is true. */
  mask(on: readonly boolean[]): tf.Tensor1D {
    const m = new Uint8Array(this.total);
    let o = 0;
    on.forEach((v, i) => {
      if (v) m.fill(1, o, o + this.sizes[i]);
      o += this.sizes[i];
    });
    return tf.tensor1d(m, 'bool');
  }
}
