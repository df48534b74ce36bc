/**
 * A module tree in the manner of PyTorch's `nn.Module`.
 *
 * Parameters and buffers are `tf.Variable`s held in the layout that is fastest for tfjs (NHWC
 * activations, HWIO conv weights, (in, out) linear weights). Each one remembers the permutation that
 * maps it to PyTorch's layout, so `stateDict()` / `loadStateDict()` speak PyTorch names
 * (`model.0.conv.weight`) and PyTorch layouts (OIHW) at the boundary, and PyTorch checkpoints load
 * directly.
 *
 * State-dict order is PyTorch's: a module's own parameters (registration order), then its own
 * buffers, then its children in registration order, recursively.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface TensorOptions {
  /**
   * Permutation that turns the internal tensor into PyTorch's layout:
   * `torch = transpose(internal, toTorch)`. Omitted: the layouts are the same.
   */
  toTorch?: number[];
  /** Trainable (receives gradients). Default true for parameters; buffers are never trainable. */
  trainable?: boolean;
}

function invertPerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

/** A named tensor of a module: a parameter (counted by numParams) or a buffer (running stats). */
export class Parameter {
  readonly variable: tf.Variable;
  readonly kind: 'parameter' | 'buffer';
  readonly trainable: boolean;
  readonly toTorchPerm: number[] | undefined;

  constructor(value: tf.Tensor, kind: 'parameter' | 'buffer', opts: TensorOptions = {}) {
    this.kind = kind;
    this.trainable = kind === 'parameter' && opts.trainable !== false;
    this.toTorchPerm = opts.toTorch && !opts.toTorch.every((p, i) => p === i) ? opts.toTorch : undefined;
    if (this.toTorchPerm && this.toTorchPerm.length !== value.rank) {
      throw new Error(`Parameter: toTorch permutation ${JSON.stringify(opts.toTorch)} does not fit rank ${value.rank}`);
    }
    this.variable = tf.variable(value, this.trainable);
  }

  get shape(): number[] {
    return this.variable.shape;
  }

  get size(): number {
    return this.variable.size;
  }

  /** Shape in PyTorch's layout. */
  get torchShape(): number[] {
    const s = this.variable.shape;
    return this.toTorchPerm ? this.toTorchPerm.map((p) => s[p]) : [...s];
  }

  /** A new tensor in PyTorch's layout (the caller disposes it). */
  toTorch(): tf.Tensor {
    return this.toTorchPerm ? tf.transpose(this.variable, this.toTorchPerm) : tf.clone(this.variable);
  }

  /** Converts a tensor in PyTorch's layout to the internal layout (new tensor). */
  fromTorchLayout(t: tf.Tensor): tf.Tensor {
    return this.toTorchPerm ? tf.transpose(t, invertPerm(this.toTorchPerm)) : tf.clone(t);
  }

  /** Assigns a value given in PyTorch's layout. Throws when the shape does not match. */
  assignFromTorch(t: tf.Tensor, name = '(unnamed)'): void {
    const want = this.torchShape;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new Error(`loadStateDict: "${name}" has shape [${t.shape}], expected [${want}] (PyTorch layout)`);
    }
    const v = tf.tidy(() => tf.cast(this.fromTorchLayout(t), this.variable.dtype));
    this.variable.assign(v);
    v.dispose();
  }

  dispose(): void {
    this.variable.dispose();
  }
}

export interface LoadResult {
  /** Names the module has but the state dict lacks. */
  missing: string[];
  /** Names the state dict has but the module lacks. */
  unexpected: string[];
  /** Names present in both with different shapes (PyTorch layout). */
  mismatched: { name: string; expected: number[]; got: number[] }[];
  /** Names loaded. */
  loaded: string[];
}

export interface LoadOptions {
  /** Throw when anything is missing, unexpected or mismatched (default true). */
  strict?: boolean;
}

export type StateDict = Record<string, tf.Tensor> | Map<string, tf.Tensor>;

function entriesOf(sd: StateDict): [string, tf.Tensor][] {
  return sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
}

export abstract class Module {
  /** Train mode (BatchNorm uses batch statistics and updates running ones; Dropout is active). */
  training = true;
  private readonly _params = new Map<string, Parameter>();
  private readonly _buffers = new Map<string, Parameter>();
  private readonly _children = new Map<string, Module>();

  /** Class name as PyTorch would print it (used by summaries). */
  get typeName(): string {
    return this.constructor.name;
  }

  protected addParameter(name: string, value: tf.Tensor, opts: TensorOptions = {}): tf.Variable {
    this.checkFree(name);
    const p = new Parameter(value, 'parameter', opts);
    value.dispose();
    this._params.set(name, p);
    return p.variable;
  }

  protected addBuffer(name: string, value: tf.Tensor, opts: Omit<TensorOptions, 'trainable'> = {}): tf.Variable {
    this.checkFree(name);
    const p = new Parameter(value, 'buffer', opts);
    value.dispose();
    this._buffers.set(name, p);
    return p.variable;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.checkFree(name);
    this._children.set(name, m);
    return m;
  }

  private checkFree(name: string): void {
    if (this._params.has(name) || this._buffers.has(name) || this._children.has(name)) {
      throw new Error(`${this.typeName}: "${name}" is already registered`);
    }
    if (name.includes('.') || name === '') throw new Error(`${this.typeName}: invalid name "${name}"`);
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this._children.entries()];
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this._children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Own parameters and buffers (not descendants'). */
  ownTensors(): { params: [string, Parameter][]; buffers: [string, Parameter][] } {
    return { params: [...this._params.entries()], buffers: [...this._buffers.entries()] };
  }

  /** Every parameter and buffer with its dotted PyTorch name, in PyTorch's state-dict order. */
  namedTensors(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const join = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [n, p] of this._params) out.push([join(n), p]);
    for (const [n, b] of this._buffers) out.push([join(n), b]);
    for (const [n, c] of this._children) out.push(...c.namedTensors(join(n)));
    return out;
  }

  namedParameters(prefix = ''): [string, Parameter][] {
    return this.namedTensors(prefix).filter(([, p]) => p.kind === 'parameter');
  }

  namedBuffers(prefix = ''): [string, Parameter][] {
    return this.namedTensors(prefix).filter(([, p]) => p.kind === 'buffer');
  }

  /** The trainable variables (what an optimizer updates). */
  trainableVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter(([, p]) => p.trainable)
      .map(([, p]) => p.variable);
  }

  /** Number of parameter elements (buffers excluded), as `sum(p.numel() for p in m.parameters())`. */
  numParams(): number {
    return this.namedParameters().reduce((a, [, p]) => a + p.size, 0);
  }

  /** Number of trainable parameter elements (Ultralytics' "gradients"). */
  numTrainable(): number {
    return this.namedParameters().reduce((a, [, p]) => a + (p.trainable ? p.size : 0), 0);
  }

  /** A new state dict in PyTorch names and layouts; the caller disposes the tensors. */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, p] of this.namedTensors()) out.set(n, p.toTorch());
    return out;
  }

  /**
   * Loads tensors given in PyTorch names and layouts. With `strict` (default), anything missing,
   * unexpected or of the wrong shape throws before any tensor is assigned, naming every problem.
   * Without it, every tensor whose name and shape match is loaded and the rest is reported.
   */
  loadStateDict(sd: StateDict, opts: LoadOptions = {}): LoadResult {
    const strict = opts.strict !== false;
    const mine = new Map(this.namedTensors());
    const given = new Map(entriesOf(sd));
    const res: LoadResult = { missing: [], unexpected: [], mismatched: [], loaded: [] };
    for (const name of mine.keys()) if (!given.has(name)) res.missing.push(name);
    const toLoad: [string, Parameter, tf.Tensor][] = [];
    for (const [name, t] of given) {
      const p = mine.get(name);
      if (!p) {
        res.unexpected.push(name);
        continue;
      }
      const want = p.torchShape;
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        res.mismatched.push({ name, expected: want, got: [...t.shape] });
        continue;
      }
      toLoad.push([name, p, t]);
    }
    if (strict && (res.missing.length || res.unexpected.length || res.mismatched.length)) {
      const lines: string[] = [];
      if (res.missing.length) lines.push(`missing: ${res.missing.join(', ')}`);
      if (res.unexpected.length) lines.push(`unexpected: ${res.unexpected.join(', ')}`);
      for (const m of res.mismatched) lines.push(`shape of ${m.name}: got [${m.got}], expected [${m.expected}]`);
      throw new Error(`loadStateDict(${this.typeName}) failed:\n  ${lines.join('\n  ')}`);
    }
    for (const [name, p, t] of toLoad) {
      p.assignFromTorch(t, name);
      res.loaded.push(name);
    }
    return res;
  }

  /** Sets train mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Disposes every parameter and buffer of the tree. */
  dispose(): void {
    for (const [, p] of this.namedTensors()) p.dispose();
  }
}

/** A module with one tensor in and one out (most layers). */
export abstract class Layer extends Module {
  abstract forward(x: tf.Tensor): tf.Tensor;
  /** Alias of forward, so a Layer can be used as a function. */
  call(x: tf.Tensor): tf.Tensor {
    return this.forward(x);
  }
}
