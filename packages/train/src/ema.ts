/**
 * Exponential moving average of a model's state, as Ultralytics 8.0.229's `ModelEMA`
 * (ultralytics/utils/torch_utils.py): after every optimizer step, `updates += 1`,
 * `d = decay * (1 - exp(-updates / tau))` and every floating-point state-dict entry (parameters **and**
 * buffers such as BatchNorm running statistics) becomes `ema = d * ema + (1 - d) * model`.
 * Defaults decay 0.9999, tau 2000. The EMA is held as variables in the model's internal layout; `swap`
 * exchanges model and EMA values (no copy) so validation can run the model with EMA weights.
 * Status: exact semantics.
 */
import type { Module, Parameter } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

export function emaDecay(updates: number, decay = 0.9999, tau = 2000): number {
  return decay * (1 - Math.exp(-updates / tau));
}

export class ModelEMA {
  readonly decay: number;
  readonly tau: number;
  updates: number;
  private readonly entries: { name: string; param: Parameter; ema: tf.Variable }[];

  constructor(model: Module, opts: { decay?: number; tau?: number; updates?: number } = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.tau = opts.tau ?? 2000;
    this.updates = opts.updates ?? 0;
    this.entries = model
      .namedTensors()
      .filter(([, p]) => p.variable.dtype === 'float32')
      .map(([name, param]) => ({ name, param, ema: tf.variable(param.variable, false) }));
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
      for (const e of this.entries) e.ema.assign(tf.add(tf.mul(e.ema, d), tf.mul(e.param.variable, 1 - d)));
    });
  }

  /** Exchanges the model's values with the EMA's (call again to swap back). No data is copied. */
  swap(): void {
    for (const e of this.entries) {
      const cur = tf.clone(e.param.variable);
      e.param.variable.assign(e.ema);
      e.ema.assign(cur);
      cur.dispose();
    }
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
    for (const e of this.entries) {
      out.set(e.name, e.param.toTorchPerm ? tf.transpose(e.ema, e.param.toTorchPerm) : tf.clone(e.ema));
    }
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
      const v = e.param.fromTorchLayout(t);
      e.ema.assign(v);
      v.dispose();
    }
  }

  dispose(): void {
    for (const e of this.entries) e.ema.dispose();
  }
}
