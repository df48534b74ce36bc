/**
 * Parity harness for reference cases in the format of `fixtures/golden/attention/` (see its README):
 * `<case>.json` (description, constructor, inputs, outputs, tolerances) beside `<case>.safetensors`
 * with `param.*`, `input.*`, `output.*`, `cotangent.*`, `grad.input.*`, `grad.param.*`.
 *
 * `runParityCase(case, adapter)` builds the module through the adapter, loads `param.*` (PyTorch names
 * and layouts), runs the forward in eval mode on the stored inputs, forms
 * L = sum_o sum(output_o * cotangent_o), takes gradients with respect to the differentiable inputs and
 * every parameter, and compares each tensor with the stored one under the case's per-tensor tolerance
 * (`max_abs` and `rel_l2`; tensors listed in `mathematically_zero` by `max_abs` only).
 * Every shape and tolerance is read from the files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';
import { readSafetensors, type SafeTensor, toTfTensor } from './safetensors.js';

export interface ParityCase {
  name: string;
  /** Path of the JSON sidecar. */
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
  json: any;
  /** Every stored tensor, as read. */
  tensors: Map<string, SafeTensor>;
}

export interface ParityAdapter {
  /** Builds the module described by `c.json.constructor` (weights are loaded by the harness). */
  build(c: ParityCase): Module;
  /**
   * Runs the module on inputs in PyTorch layout (keyed by input name, as `input.<name>`) and returns the
   * outputs in PyTorch layout keyed by output name (as `output.<name>`).
   */
  forward(module: Module, inputs: Record<string, tf.Tensor>, c: ParityCase): Record<string, tf.Tensor>;
}

export interface TensorComparison {
  key: string;
  maxAbs: number;
  relL2: number;
  /** max |stored| */
  maxAbsRef: number;
  tolMaxAbs: number;
  /** null: compared by max_abs only (mathematically zero). */
  tolRelL2: number | null;
  pass: boolean;
  /** Worst of maxAbs/tolMaxAbs and relL2/tolRelL2 (<= 1 passes). */
  ratio: number;
}

export interface ParityReport {
  case: string;
  pass: boolean;
  rows: TensorComparison[];
  /** The row with the largest error-to-tolerance ratio. */
  worst: TensorComparison;
}

/** Reads a case: the JSON sidecar and the safetensors file it names (`json.file`). */
export function loadParityCase(jsonPath: string): ParityCase {
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const file = path.join(path.dirname(jsonPath), json.file ?? `${path.basename(jsonPath, '.json')}.safetensors`);
  const { tensors } = readSafetensors(fs.readFileSync(file), file);
  return { name: json.case ?? path.basename(jsonPath, '.json'), path: jsonPath, json, tensors };
}

/** Max |a - b|, ||a - b|| / ||b|| and max |b| in float64. */
export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>): { maxAbs: number; relL2: number; maxAbsRef: number } {
  if (got.length !== want.length) throw new Error(`compareArrays: lengths differ (${got.length} vs ${want.length})`);
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  let maxAbsRef = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i] - want[i];
    const ad = Math.abs(d);
    if (!(ad <= maxAbs)) maxAbs = Number.isNaN(ad) ? Number.POSITIVE_INFINITY : ad;
    num += d * d;
    den += want[i] * want[i];
    maxAbsRef = Math.max(maxAbsRef, Math.abs(want[i]));
  }
  const relL2 = den > 0 ? Math.sqrt(num) / Math.sqrt(den) : Math.sqrt(num);
  return { maxAbs, relL2: Number.isNaN(relL2) ? Number.POSITIVE_INFINITY : relL2, maxAbsRef };
}

function tolerances(c: ParityCase, key: string): { maxAbs: number; relL2: number | null } {
  const tol = c.json.tolerance ?? {};
  const per = tol.per_tensor?.[key];
  const zero: string[] = tol.mathematically_zero ?? [];
  const group = key.startsWith('output.') ? tol.forward : tol.backward;
  const maxAbs = per?.max_abs ?? group?.max_abs;
  if (maxAbs === undefined) throw new Error(`${c.name}: no tolerance for ${key} in ${c.path}`);
  const relL2 = zero.includes(key) ? null : per && 'rel_l2' in per ? per.rel_l2 : (group?.rel_l2 ?? null);
  return { maxAbs, relL2 };
}

function compareKey(c: ParityCase, key: string, shape: readonly number[], got: ArrayLike<number>): TensorComparison {
  const want = c.tensors.get(key);
  if (!want) throw new Error(`${c.name}: the case has no tensor "${key}"`);
  if (shape.length !== want.shape.length || shape.some((d, i) => d !== want.shape[i])) {
    throw new Error(`${c.name}: ${key} has shape [${shape}], stored [${want.shape}]`);
  }
  const cmp = compareArrays(got, want.data as Float32Array);
  const tol = tolerances(c, key);
  const r1 = cmp.maxAbs / tol.maxAbs;
  const r2 = tol.relL2 === null ? 0 : cmp.relL2 / tol.relL2;
  const ratio = Math.max(r1, r2);
  return { key, ...cmp, tolMaxAbs: tol.maxAbs, tolRelL2: tol.relL2, pass: ratio <= 1, ratio };
}

export interface ParityOptions {
  /** Compare gradients too (default true). */
  gradients?: boolean;
}

/** The tensors a case compares, computed and kept (the caller reads and disposes them). */
function computeParityTensors(c: ParityCase, module: Module, adapter: ParityAdapter, withGrads: boolean): [string, tf.Tensor][] {
  module.eval();
  const sd = new Map<string, tf.Tensor>();
  for (const [k, t] of c.tensors) if (k.startsWith('param.')) sd.set(k.slice(6), toTfTensor(t, k));
  module.loadStateDict(sd);
  for (const t of sd.values()) t.dispose();

  const inputSpec: Record<string, { differentiable?: boolean }> = c.json.inputs ?? {};
  const inputs: Record<string, tf.Tensor> = {};
  const inputVars: Record<string, tf.Variable> = {};
  for (const [k, t] of c.tensors) {
    if (!k.startsWith('input.')) continue;
    const name = k.slice(6);
    const tt = toTfTensor(t, k);
    if (withGrads && inputSpec[name]?.differentiable && tt.dtype === 'float32') {
      inputVars[name] = tf.variable(tt, true);
      tt.dispose();
      inputs[name] = inputVars[name];
    } else inputs[name] = tt;
  }
  const out: [string, tf.Tensor][] = [];
  const outputKeys = [...c.tensors.keys()].filter((k) => k.startsWith('output.'));
  try {
    tf.tidy(() => {
      const outs = adapter.forward(module, inputs, c);
      for (const k of outputKeys) {
        const o = outs[k.slice(7)];
        if (!o) throw new Error(`${c.name}: the adapter returned no output "${k.slice(7)}"`);
        out.push([k, tf.keep(o)]);
      }
    });
    if (withGrads) {
      const params = module.namedParameters().filter(([, p]) => p.trainable);
      const varList = [...Object.values(inputVars), ...params.map(([, p]) => p.variable)];
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const outs = adapter.forward(module, inputs, c);
          let loss: tf.Scalar = tf.scalar(0);
          for (const k of outputKeys) {
            const name = k.slice(7);
            const cot = c.tensors.get(`cotangent.${name}`);
            if (!cot) continue;
            loss = tf.add(loss, tf.sum(tf.mul(outs[name], toTfTensor(cot)))) as tf.Scalar;
          }
          return loss;
        }, varList);
        for (const [name, v] of Object.entries(inputVars)) {
          const key = `grad.input.${name}`;
          if (c.tensors.has(key)) out.push([key, tf.keep(grads[v.name] ?? tf.zerosLike(v))]);
        }
        for (const [name, p] of params) {
          const key = `grad.param.${name}`;
          if (!c.tensors.has(key)) continue;
          const g = grads[p.variable.name] ?? tf.zerosLike(p.variable);
          out.push([key, tf.keep(p.toTorchPerm ? tf.transpose(g, p.toTorchPerm) : g)]);
        }
      });
      const missing = [...c.tensors.keys()].filter((k) => k.startsWith('grad.') && !out.some(([key]) => key === k));
      if (missing.length) throw new Error(`${c.name}: stored gradients not produced by the module: ${missing.join(', ')}`);
    }
    return out;
  } catch (e) {
    for (const [, t] of out) t.dispose();
    throw e;
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
  }
}

function report(c: ParityCase, rows: TensorComparison[]): ParityReport {
  const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return { case: c.name, pass: rows.every((r) => r.pass), rows, worst };
}

/**
 * Runs one case through an adapter; tensors it makes are disposed before it returns. Reads with
 * `dataSync()`: on the webgpu backend use runParityCaseAsync.
 */
export function runParityCase(c: ParityCase, adapter: ParityAdapter, opts: ParityOptions = {}): ParityReport {
  const module = adapter.build(c);
  try {
    const got = computeParityTensors(c, module, adapter, opts.gradients !== false);
    try {
      return report(
        c,
        got.map(([k, t]) => compareKey(c, k, t.shape, t.dataSync() as Float32Array)),
      );
    } finally {
      for (const [, t] of got) t.dispose();
    }
  } finally {
    module.dispose();
  }
}

/** runParityCase with asynchronous reads (`await data()`): works on every backend, webgpu included. */
export async function runParityCaseAsync(c: ParityCase, adapter: ParityAdapter, opts: ParityOptions = {}): Promise<ParityReport> {
  const module = adapter.build(c);
  try {
    const got = computeParityTensors(c, module, adapter, opts.gradients !== false);
    try {
      const rows: TensorComparison[] = [];
      for (const [k, t] of got) rows.push(compareKey(c, k, t.shape, (await t.data()) as Float32Array));
      return report(c, rows);
    } finally {
      for (const [, t] of got) t.dispose();
    }
  } finally {
    module.dispose();
  }
}

/** Formats a report as one line per tensor (for test failures and verbose output). */
export function formatParityReport(r: ParityReport): string {
  const lines = r.rows.map(
    (x) =>
      `${x.pass ? 'ok  ' : 'FAIL'} ${x.key.padEnd(44)} max_abs ${x.maxAbs.toExponential(2)} (tol ${x.tolMaxAbs.toExponential(0)})  rel_l2 ${x.relL2.toExponential(2)} (tol ${x.tolRelL2 === null ? '-' : x.tolRelL2.toExponential(0)})`,
  );
  return `${r.case}: ${r.pass ? 'PASS' : 'FAIL'}\n${lines.join('\n')}`;
}
