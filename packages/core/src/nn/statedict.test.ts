/**
 * Issue "Done when": every `param.*` tensor of the golden YOLOv8n state dict loads into Conv2d and
 * BatchNorm2d modules (built generically from the names and shapes) and saves back bit-exact, in
 * PyTorch's names, layouts and state-dict order.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readSafetensors, type SafeTensor, toTfTensor } from '../safetensors.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Module } from './module.js';

const GOLDEN = new URL('../../../../fixtures/golden/yolov8/', import.meta.url);

/** A bare node of the tree: only children. */
class Node extends Module {
  private readonly kids = new Map<string, Module>();
  child(name: string, make: () => Module): Module {
    let m = this.kids.get(name);
    if (!m) {
      m = this.addModule(name, make());
      this.kids.set(name, m);
    }
    return m;
  }
}

interface Group {
  prefix: string;
  leaves: Map<string, SafeTensor>;
}

/** Builds Conv2d / BatchNorm2d modules from the grouped names and places them in a Node tree. */
function buildTree(names: string[], tensors: Map<string, SafeTensor>): Node {
  const groups = new Map<string, Group>();
  for (const n of names) {
    const cut = n.lastIndexOf('.');
    const prefix = n.slice(0, cut);
    let g = groups.get(prefix);
    if (!g) {
      g = { prefix, leaves: new Map() };
      groups.set(prefix, g);
    }
    g.leaves.set(n.slice(cut + 1), tensors.get(`param.${n}`) as SafeTensor);
  }
  const root = new Node();
  for (const g of groups.values()) {
    const parts = g.prefix.split('.');
    let node: Module = root;
    for (const p of parts.slice(0, -1)) node = (node as Node).child(p, () => new Node());
    const leafName = parts[parts.length - 1] as string;
    const w = g.leaves.get('weight');
    const keys = [...g.leaves.keys()].sort().join(',');
    let make: () => Module;
    if (g.prefix.endsWith('.bn') || parts[parts.length - 1] === 'bn') {
      if (keys !== 'bias,running_mean,running_var,weight' || !w || w.shape.length !== 1) {
        throw new Error(`group "${g.prefix}": a BatchNorm group needs weight, bias, running_mean, running_var; got ${keys}`);
      }
      make = () => new BatchNorm2d(w.shape[0] as number);
    } else if (w && w.shape.length === 4) {
      const b = g.leaves.get('bias');
      if (keys !== 'weight' && !(keys === 'bias,weight' && b?.shape.length === 1)) {
        throw new Error(`group "${g.prefix}": a conv group has weight (and bias); got ${keys}`);
      }
      const [o, i, kh, kw] = w.shape as [number, number, number, number];
      make = () => new Conv2d(i, o, [kh, kw], { bias: b !== undefined });
    } else {
      throw new Error(`group "${g.prefix}" (${keys}) is neither a conv (rank-4 weight) nor a BatchNorm (*.bn.*)`);
    }
    (node as Node).child(leafName, make);
  }
  return root;
}

describe('golden YOLOv8n state dict round trip', () => {
  beforeAll(async () => {
    await initBackend('cpu', { log: false });
  });

  it('loads every param.* into Conv2d/BatchNorm2d modules (strict) and saves it back bit-exact', () => {
    const json = JSON.parse(fs.readFileSync(new URL('forward_n.json', GOLDEN), 'utf8'));
    const file = readSafetensors(new Uint8Array(fs.readFileSync(new URL('forward_n.safetensors', GOLDEN))), 'forward_n');
    const stored = [...file.tensors.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice(6));
    const names: string[] = json.param_names;
    expect(new Set(stored)).toEqual(new Set(names));
    const before = tf.memory().numTensors;

    const root = buildTree(names, file.tensors);
    const sd = new Map<string, tf.Tensor>();
    for (const n of names) sd.set(n, toTfTensor(file.tensors.get(`param.${n}`) as SafeTensor, n));
    const res = root.loadStateDict(sd); // strict
    expect(res.loaded.length).toBe(names.length);
    tf.dispose([...sd.values()]);

    const out = root.stateDict();
    // PyTorch's state-dict order (a module's own tensors, then its children in registration order).
    expect([...out.keys()]).toEqual(names);
    let convs = 0;
    let bns = 0;
    for (const [, m] of root.namedModules()) {
      if (m instanceof Conv2d) convs++;
      if (m instanceof BatchNorm2d) bns++;
    }
    expect(convs).toBeGreaterThan(60);
    expect(bns).toBeGreaterThan(50);
    // Parameters (buffers excluded) as the golden file's model: num_params.
    expect(root.numParams()).toBe(json.num_params);
    let mismatches = 0;
    for (const n of names) {
      const t = out.get(n) as tf.Tensor;
      const want = file.tensors.get(`param.${n}`) as SafeTensor;
      expect(t.shape, n).toEqual(want.shape);
      const got = new Uint32Array(new Float32Array(t.dataSync() as Float32Array).buffer);
      const exp = new Uint32Array(new Float32Array(want.data as Float32Array).buffer);
      expect(got.length).toBe(exp.length);
      for (let i = 0; i < got.length; i++) if (got[i] !== exp[i]) mismatches++;
    }
    expect(mismatches).toBe(0);
    tf.dispose([...out.values()]);
    root.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
