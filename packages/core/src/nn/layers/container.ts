/**
 * Containers: Sequential (children named '0', '1', ..., applied in order) and ModuleList (an indexed
 * list of children, no forward), as torch.nn. Status: complete.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer, Module } from '../module.js';

/** A module with one tensor in and one out. */
export type ForwardModule = Module & { forward(x: tf.Tensor): tf.Tensor };

export class Sequential extends Layer {
  private readonly items: ForwardModule[] = [];

  constructor(...modules: ForwardModule[]) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: ForwardModule): this {
    if (!(m instanceof Module) || typeof (m as { forward?: unknown }).forward !== 'function') {
      throw new Error(`Sequential: item ${this.items.length} is not a module with forward(x)`);
    }
    this.addModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  get(i: number): ForwardModule {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (!m) throw new Error(`Sequential: index ${i} out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<ForwardModule> {
    return this.items[Symbol.iterator]();
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let y = x;
      for (const m of this.items) y = m.forward(y);
      return y;
    });
  }
}

export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: M): this {
    if (!(m instanceof Module)) throw new Error(`ModuleList: item ${this.items.length} is not a Module`);
    this.addModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  get(i: number): M {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (!m) throw new Error(`ModuleList: index ${i} out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  map<T>(fn: (m: M, i: number) => T): T[] {
    return this.items.map(fn);
  }
}
