/**
 * Optimizers as Ultralytics 8.0.229 builds them (`BaseTrainer.build_optimizer`) with PyTorch's update
 * rules (torch.optim.SGD with Nesterov momentum, Adam, AdamW), written with tf ops on the model's
 * variables (tfjs's own optimizers use other formulas: no Nesterov with weight decay, Adam's epsilon
 * placement, no decoupled decay).
 *
 * Param groups, Ultralytics' order: 0 = biases (any parameter whose dotted name contains "bias"; no
 * decay), 1 = other weights (decay), 2 = weights of normalisation layers (no decay). `optimizer: 'auto'`:
 * AdamW with lr round(0.002 * 5 / (4 + nc), 6) and momentum (beta1) 0.9 when the run has at most 10000
 * iterations (`ceil(len(train) / max(batch, nbs)) * epochs`), else SGD lr 0.01 momentum 0.9; and
 * warmup_bias_lr becomes 0.
 * Update rules (per parameter p with gradient g, group lr, weight decay wd):
 *   SGD:   g' = g + wd*p; buf = mom*buf + g'; p -= lr * (g' + mom*buf)            (nesterov, dampening 0)
 *   Adam:  g' = g + wd*p; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)                      (eps 1e-8)
 *   AdamW: p *= 1 - lr*wd, then Adam's step with g' = g.
 * Gradients are clipped to a global L2 norm (torch.nn.utils.clip_grad_norm_: coef = min(max_norm /
 * (norm + 1e-6), 1)) without leaving the backend (no sync).
 * Status: exact rules; float32 rounding differs from PyTorch's fused kernels in the last bits.
 */
import { BatchNorm2d, LayerNorm, type Module, type Parameter } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { FlatLayout } from './flat.js';

export type OptimizerName = 'SGD' | 'Adam' | 'AdamW';
export const OPTIMIZER_NAMES: readonly (OptimizerName | 'auto')[] = ['auto', 'SGD', 'Adam', 'AdamW'];

/** torch.nn classes whose names contain "Norm" (Ultralytics' `bn` tuple), matched by type name. */
const TORCH_NORM_NAMES =
  /^(BatchNorm[123]d|LazyBatchNorm[123]d|SyncBatchNorm|LayerNorm|GroupNorm|InstanceNorm[123]d|LazyInstanceNorm[123]d|LocalResponseNorm|CrossMapLRN2d|RMSNorm)$/;

export function isNormModule(m: Module): boolean {
  return m instanceof BatchNorm2d || m instanceof LayerNorm || TORCH_NORM_NAMES.test(m.typeName);
}

export interface NamedParam {
  name: string;
  param: Parameter;
}

/** The three Ultralytics param groups of a model's trainable parameters: [biases, weights (decay), norm weights]. */
export function paramGroups(model: Module): [NamedParam[], NamedParam[], NamedParam[]] {
  const g: [NamedParam[], NamedParam[], NamedParam[]] = [[], [], []];
  for (const [mname, m] of model.namedModules()) {
    for (const [pname, p] of m.ownTensors().params) {
      if (!p.trainable) continue;
      const name = mname ? `${mname}.${pname}` : pname;
      if (name.includes('bias')) g[0].push({ name, param: p });
      else if (isNormModule(m)) g[2].push({ name, param: p });
      else g[1].push({ name, param: p });
    }
  }
  return g;
}

export interface OptimizerChoice {
  name: OptimizerName;
  lr: number;
  momentum: number;
  /** warmup_bias_lr to use (0 when `auto` chose). */
  warmupBiasLr: number;
  /** Set when `auto` chose: the reason, for logs. */
  auto?: string;
}

/**
 * Ultralytics' optimizer choice. `iterations` = ceil(nTrain / max(batch, nbs)) * epochs.
 * Explicit names keep lr0 / momentum / warmup_bias_lr.
 */
export function chooseOptimizer(
  name: OptimizerName | 'auto',
  s: { lr0: number; momentum: number; warmup_bias_lr: number },
  nc: number,
  iterations: number,
): OptimizerChoice {
  if (name === 'auto') {
    const sgd = iterations > 10000;
    const choice: OptimizerChoice = sgd
      ? { name: 'SGD', lr: 0.01, momentum: 0.9, warmupBiasLr: 0 }
      : { name: 'AdamW', lr: lrFit(nc), momentum: 0.9, warmupBiasLr: 0 };
    choice.auto = `optimizer 'auto' chose ${choice.name}(lr=${choice.lr}, momentum=${choice.momentum}) for ${iterations} iterations and nc=${nc}`;
    return choice;
  }
  if (!OPTIMIZER_NAMES.includes(name)) throw new Error(`Unknown optimizer "${name}"; known: ${OPTIMIZER_NAMES.join(', ')}`);
  return { name, lr: s.lr0, momentum: s.momentum, warmupBiasLr: s.warmup_bias_lr };
}

/** Ultralytics' AdamW lr fit: round(0.002 * 5 / (4 + nc), 6). */
export function lrFit(nc: number): number {
  return Math.round((0.002 * 5 * 1e6) / (4 + nc)) / 1e6;
}

export interface GroupState {
  params: NamedParam[];
  lr: number;
  initialLr: number;
  weightDecay: number;
  /** SGD momentum (Adam: beta1 is fixed at construction). */
  momentum: number;
}

export interface OptimizerOptions {
  name: OptimizerName;
  lr: number;
  momentum: number;
  /** Decay of group 1 (weights); groups 0 and 2 have none. */
  weightDecay: number;
  /** Adam beta2 (0.999) and eps (1e-8). */
  beta2?: number;
  eps?: number;
}

/** Gradients by variable name (tf.variableGrads' output). */
export type Grads = Record<string, tf.Tensor>;

/**
 * The gradients of one step as one flat vector per param group (./flat.ts), zeros where a parameter has
 * no gradient; `present[j][i]` says whether parameter i of group j had one.
 */
export interface FlatGrads {
  grads: tf.Tensor1D[];
  present: boolean[][];
}

interface GroupFlat {
  layout: FlatLayout;
  /** Flat state vectors (SGD [momentum_buffer], Adam [exp_avg, exp_avg_sq]), created at the group's first step. */
  slots: tf.Variable[] | null;
  /** Per parameter: has it had a gradient yet (PyTorch creates its state then)? */
  created: boolean[];
}

/**
 * One of SGD / Adam / AdamW over Ultralytics' three param groups. The state of each group is one flat
 * vector per state key (non-trainable variables; `dispose()` frees them), and each step updates a
 * whole group with one pass of element-wise kernels over its flat vectors (./flat.ts).
 */
export class Optimizer {
  readonly name: OptimizerName;
  readonly groups: GroupState[];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Steps taken (Adam's `step` state, equal for every parameter). */
  stepCount = 0;
  private readonly flat: GroupFlat[];

  constructor(groups: [NamedParam[], NamedParam[], NamedParam[]], opts: OptimizerOptions) {
    if (!['SGD', 'Adam', 'AdamW'].includes(opts.name)) {
      throw new Error(`Unknown optimizer "${opts.name}"; known: SGD, Adam, AdamW`);
    }
    this.name = opts.name;
    this.beta1 = opts.momentum;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.groups = groups.map((params, j) => ({
      params,
      lr: opts.lr,
      initialLr: opts.lr,
      weightDecay: j === 1 ? opts.weightDecay : 0,
      momentum: opts.momentum,
    }));
    this.flat = this.groups.map((g) => ({
      layout: new FlatLayout(g.params.map((p) => p.param.variable.shape)),
      slots: null,
      created: g.params.map(() => false),
    }));
  }

  /** State keys per parameter, PyTorch's names. */
  get stateKeys(): string[] {
    return this.name === 'SGD' ? ['momentum_buffer'] : ['exp_avg', 'exp_avg_sq'];
  }

  /** Sets each group's lr, and the SGD momentum when given. */
  setHyper(lr: readonly number[], momentum?: number): void {
    this.groups.forEach((g, j) => {
      g.lr = lr[j];
      if (momentum !== undefined) g.momentum = momentum;
    });
  }

  private slots(j: number): tf.Variable[] {
    const f = this.flat[j];
    if (!f.slots) {
      const n = f.layout.total;
      f.slots = this.stateKeys.map(() => tf.tidy(() => tf.variable(tf.zeros([n]), false)));
    }
    return f.slots;
  }

  /** Gradients by variable name -> one flat vector per group (new tensors; `grads` are not disposed). */
  flattenGrads(grads: Grads): FlatGrads {
    const present = this.groups.map((g) => g.params.map((p) => grads[p.param.variable.name] !== undefined));
    const flat = tf.tidy(() =>
      this.groups.map((g, j) =>
        this.flat[j].layout.flatten(
          g.params.map((p, i) => (present[j][i] ? grads[p.param.variable.name] : tf.zerosLike(p.param.variable))),
        ),
      ),
    );
    return { grads: flat, present };
  }

  /**
   * Applies one update with `grads` (by variable name; parameters without a gradient are skipped, as
   * PyTorch skips `p.grad is None`). Does not dispose the gradients.
   */
  step(grads: Grads): void {
    const fg = this.flattenGrads(grads);
    try {
      this.stepFlat(fg);
    } finally {
      tf.dispose(fg.grads);
    }
  }

  /** `step` on flat gradients (flattenGrads' output; not disposed). */
  stepFlat(fg: FlatGrads): void {
    this.stepCount += 1;
    const t = this.stepCount;
    const b1 = this.beta1;
    const b2 = this.beta2;
    this.groups.forEach((g, j) => {
      const present = fg.present[j];
      if (g.params.length === 0 || !present.some(Boolean)) return;
      const f = this.flat[j];
      const slots = this.slots(j);
      present.forEach((p, i) => {
        if (p) f.created[i] = true;
      });
      const lr = g.lr;
      const wd = g.weightDecay;
      const grad = fg.grads[j];
      const vars = g.params.map((p) => p.param.variable);
      tf.tidy(() => {
        const v = f.layout.flatten(vars); // [total]: the group's current values
        // Parameters without a gradient keep their value and state (torch skips them).
        const mask = present.every(Boolean) ? null : f.layout.mask(present);
        const keep = (next: tf.Tensor, old: tf.Tensor) => (mask ? tf.where(mask, next, old) : next);
        let next: tf.Tensor;
        if (this.name === 'SGD') {
          const mom = g.momentum;
          const d = wd !== 0 ? tf.add(grad, tf.mul(v, wd)) : grad;
          const buf = tf.add(tf.mul(slots[0], mom), d);
          slots[0].assign(keep(buf, slots[0]));
          const upd = mom !== 0 ? tf.add(d, tf.mul(buf, mom)) : buf;
          next = tf.sub(v, tf.mul(upd, lr));
        } else {
          let pv: tf.Tensor = v;
          let gr: tf.Tensor = grad;
          if (wd !== 0) {
            if (this.name === 'AdamW') pv = tf.mul(v, 1 - lr * wd);
            else gr = tf.add(grad, tf.mul(v, wd));
          }
          const m = tf.add(tf.mul(slots[0], b1), tf.mul(gr, 1 - b1));
          const s2 = tf.add(tf.mul(slots[1], b2), tf.mul(tf.square(gr), 1 - b2));
          slots[0].assign(keep(m, slots[0]));
          slots[1].assign(keep(s2, slots[1]));
          const stepSize = lr / (1 - b1 ** t);
          const bc2Sqrt = Math.sqrt(1 - b2 ** t);
          const denom = tf.add(tf.div(tf.sqrt(s2), bc2Sqrt), this.eps);
          next = tf.sub(pv, tf.mul(tf.div(m, denom), stepSize));
        }
        // [total] -> each parameter's shape
        const parts = f.layout.unflatten(next);
        vars.forEach((x, i) => {
          if (present[i]) x.assign(parts[i]);
        });
      });
    });
  }

  /** Parameter names (group order) for checkpoints. */
  paramNames(): string[] {
    return this.groups.flatMap((g) => g.params.map((p) => p.name));
  }

  /** State tensors in PyTorch layout: `<param name>.<state key>` -> new tensor (caller disposes). */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    this.groups.forEach((g, j) => {
      const f = this.flat[j];
      const slots = f.slots;
      if (!slots) return;
      this.stateKeys.forEach((k, si) => {
        const parts = f.layout.unflatten(slots[si]);
        g.params.forEach((p, i) => {
          const perm = p.param.toTorchPerm;
          if (f.created[i]) out.set(`${p.name}.${k}`, perm ? tf.transpose(parts[i], perm) : parts[i]);
          if (!f.created[i] || perm) parts[i].dispose();
        });
      });
    });
    return out;
  }

  /** Hyper-parameters and counters as JSON-able data (for checkpoint metadata). */
  hyperState(): {
    name: OptimizerName;
    stepCount: number;
    groups: { lr: number; initialLr: number; weightDecay: number; momentum: number }[];
  } {
    return {
      name: this.name,
      stepCount: this.stepCount,
      groups: this.groups.map((g) => ({ lr: g.lr, initialLr: g.initialLr, weightDecay: g.weightDecay, momentum: g.momentum })),
    };
  }

  /**
   * Restores state written by `stateTensors` / `hyperState`. `get(name)` returns a PyTorch-layout tensor or
   * undefined (state not created yet for that parameter). Throws on a mismatch of optimizer or shapes.
   */
  loadState(hyper: ReturnType<Optimizer['hyperState']>, get: (name: string) => tf.Tensor | undefined): void {
    if (hyper.name !== this.name) throw new Error(`checkpoint optimizer is ${hyper.name}, this run uses ${this.name}`);
    if (hyper.groups.length !== this.groups.length)
      throw new Error(`checkpoint has ${hyper.groups.length} param groups, expected ${this.groups.length}`);
    this.stepCount = hyper.stepCount;
    hyper.groups.forEach((h, j) => {
      Object.assign(this.groups[j], { lr: h.lr, initialLr: h.initialLr, weightDecay: h.weightDecay, momentum: h.momentum });
    });
    this.groups.forEach((g, j) => {
      const f = this.flat[j];
      // Per state key: the tensors of each parameter, in internal layout (null where none was saved).
      const loaded: (tf.Tensor | null)[][] = this.stateKeys.map(() => g.params.map(() => null));
      try {
        g.params.forEach((p, i) => {
          const ts = this.stateKeys.map((k) => get(`${p.name}.${k}`));
          if (ts.every((x) => x === undefined)) return;
          if (ts.some((x) => x === undefined)) throw new Error(`checkpoint optimizer state of "${p.name}" is incomplete`);
          ts.forEach((x, si) => {
            const want = p.param.torchShape;
            const tt = x as tf.Tensor;
            if (tt.shape.length !== want.length || tt.shape.some((d, k) => d !== want[k])) {
              throw new Error(`checkpoint optimizer state "${p.name}.${this.stateKeys[si]}" has shape [${tt.shape}], expected [${want}]`);
            }
            loaded[si][i] = p.param.fromTorchLayout(tt);
          });
        });
        if (!loaded[0].some((x) => x !== null)) return;
        const slots = this.slots(j);
        loaded.forEach((ts, si) => {
          const cur = f.layout.unflatten(slots[si]);
          const flat = f.layout.flatten(ts.map((x, i) => x ?? cur[i]));
          slots[si].assign(flat);
          tf.dispose([...cur, flat]);
        });
        loaded[0].forEach((x, i) => {
          f.created[i] = x !== null;
        });
      } finally {
        for (const ts of loaded) for (const x of ts) x?.dispose();
      }
    });
  }

  dispose(): void {
    for (const f of this.flat) {
      if (f.slots) for (const v of f.slots) v.dispose();
      f.slots = null;
      f.created.fill(false);
    }
  }
}

/**
 * torch.nn.utils.clip_grad_norm_ over all gradients: returns clipped gradients (new tensors; the inputs
 * are not disposed) and the total norm as a scalar tensor. No download.
 */
export function clipGradNorm(grads: Grads, maxNorm: number): { grads: Grads; totalNorm: tf.Scalar } {
  const names = Object.keys(grads);
  return tf.tidy(() => {
    const sq = names.map((n) => tf.sum(tf.square(grads[n])));
    const total = tf.sqrt(sq.length === 1 ? sq[0] : tf.addN(sq)) as tf.Scalar;
    const coef = tf.minimum(tf.div(maxNorm, tf.add(total, 1e-6)), 1);
    const out: Grads = {};
    for (const n of names) out[n] = tf.mul(grads[n], coef);
    return { grads: out, totalNorm: total };
  }) as { grads: Grads; totalNorm: tf.Scalar };
}

/**
 * clipGradNorm on flat gradients (Optimizer.flattenGrads' output): a few kernels per group instead of
 * three per parameter. Returns new clipped flat gradients (the inputs are not disposed) and the norm.
 */
export function clipFlatGradNorm(fg: FlatGrads, maxNorm: number): { grads: FlatGrads; totalNorm: tf.Scalar } {
  const r = tf.tidy(() => {
    const sq = fg.grads.map((g) => tf.sum(tf.square(g)));
    const total = tf.sqrt(sq.length === 1 ? sq[0] : tf.addN(sq)) as tf.Scalar;
    const coef = tf.minimum(tf.div(maxNorm, tf.add(total, 1e-6)), 1);
    return { grads: fg.grads.map((g) => tf.mul(g, coef) as tf.Tensor1D), totalNorm: total };
  });
  return { grads: { grads: r.grads, present: fg.present }, totalNorm: r.totalNorm };
}
