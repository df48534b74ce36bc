/**
 * Exponential moving average of a model's state, as Ultralytics 8.0.229's `ModelEMA`
 * (ultralytics/utils/torch_utils.py): after every optimizer step, `updates += 1`,
 * `d = decay * (1 - exp(-updates / tau))` and every floating-point state-dict entry (parameters **and**
 * buffers such as BatchNorm running statistics) becomes `ema = d * ema + (1 - d) * model`.
 * Defaults decay 0.9999, tau 2000. The EMA is held as one flat variable over all entries (./flat.ts: an
 * update is a few kernels, not three per entry) in the model's internal layout; `swap` exchanges model and
 * EMA values so validation can run the model with EMA weights.
 * Status: exact semantics.
 */
import type { Module, Parameter } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { FlatLayout } from './flat.js';

export function emaDecay(updates: number, decay = 0.9999, tau = 2000): number {
  return decay * (1 - Math.exp(-updates / tau));
}

export class ModelEMA {
  readonly decay: number;
  readonly tau: number;
  updates: number;
  private readonly entries: { name: string; param: Parameter }[];
  private readonly layout: FlatLayout;
  /** [total]: every entry's EMA value, flattened and concatenated in entry order. */
  private readonly flat: tf.Variable;

  constructor(model: Module, opts: { decay?: number; tau?: number; updates?: number } = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.tau = opts.tau ?? 2000;
    this.updates = opts.updates ?? 0;
    this.entries = model
      .namedTensors()
      .filter(([, p]) => p.variable.dtype === 'float32')
      .map(([name, param]) => ({ name, param }));
    this.layout = new FlatLayout(this.entries.map((e) => e.param.variable.shape));
    const init = this.modelFlat();
    this.flat = tf.variable(init, false);
    init.dispose();
  }

  /** The model's current values of the entries, flat. */
  private modelFlat(): tf.Tensor1D {
    return this.layout.flatten(this.entries.map((e) => e.param.variable));
  }

  /** The EMA values, one tensor per entry (new tensors). */
  private values(): tf.Tensor[] {
    return this.layout.unflatten(this.flat);
  }

  /** d for the next update count. */
  currentDecay(): number {
    return emaDecay(this.updates, this.decay, this.tau);
  }

  /** One EMA update from the model's current values. */
  update(): void {
    this.updates += 1;
    const d = emaDecay(this.updates, this.decay, this.tau);
    tf.tidy(() => {
      this.flat.assign(tf.add(tf.mul(this.flat, d), tf.mul(this.modelFlat(), 1 - d)));
    });
  }

  /** Exchanges the model's values with the EMA's (call again to swap back). */
  swap(): void {
    tf.tidy(() => {
      const cur = this.modelFlat();
      const ema = this.values();
      this.entries.forEach((e, i) => {
        e.param.variable.assign(ema[i]);
      });
      this.flat.assign(cur);
    });
  }

  /** Runs `fn` with the EMA values in the model, then restores the model's own values (also on error). */
  async withEma<T>(fn: () => Promise<T> | T): Promise<T> {
    this.swap();
    try {
      return await fn();
    } finally {
      this.swap();
    }
  }

  /** EMA state in PyTorch names and layouts (new tensors; the caller disposes). */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    const vals = this.values();
    this.entries.forEach((e, i) => {
      const perm = e.param.toTorchPerm;
      out.set(e.name, perm ? tf.transpose(vals[i], perm) : vals[i]);
      if (perm) vals[i].dispose();
    });
    return out;
  }

  /** Loads an EMA state dict (PyTorch names and layouts). Every entry must be present with its shape. */
  loadStateDict(get: (name: string) => tf.Tensor | undefined): void {
    const missing = this.entries.filter((e) => get(e.name) === undefined).map((e) => e.name);
    if (missing.length)
      throw new Error(
        `EMA state is missing ${missing.length} tensors: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
      );
    for (const e of this.entries) {
      const t = get(e.name) as tf.Tensor;
      const want = e.param.torchShape;
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new Error(`EMA state "${e.name}" has shape [${t.shape}], expected [${want}]`);
      }
    }
    tf.tidy(() => {
      this.flat.assign(this.layout.flatten(this.entries.map((e) => e.param.fromTorchLayout(get(e.name) as tf.Tensor))));
    });
  }

  dispose(): void {
    this.flat.dispose();
  }
}
