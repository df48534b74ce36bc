/**
 * Evaluators of the YOLOv8 reference data (fixtures/golden/yolov8, Ultralytics 8.0.229) for the
 * census, insertion and forward cases. Used by this package's tests and by `pnpm golden` (the
 * runner's yolov8 families). Every function reads shapes, nc and tolerances from the files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareArrays, readSafetensors, type SafeTensor, toTfTensor } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { parse as parseYaml } from 'yaml';
import { createRegistry, standInPlugin } from './builtins.js';
import { type InsertPosition, insertModule } from './insert.js';
import { makeAnchors } from './loss/index.js';
import { buildModel, type DetectionModel } from './model.js';
import type { DetectOutput } from './modules.js';
import { countModules, summary } from './summary.js';
import { loadModelYaml, YOLOV8_YAML } from './yaml.js';

/** One evaluated item. */
export interface GoldenRow {
  name: string;
  pass: boolean;
  /** What `worst` measures. */
  metric: string;
  worst: number;
  tolerance: number;
  /** Mismatch details (first few). */
  note?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
type Json = any;

export const isCensusCase = (j: Json): boolean => j?.case === 'census' && Array.isArray(j.models);
export const isInsertionCase = (j: Json): boolean => j?.case === 'insertion' && typeof j.positions === 'object';
export const isForwardCase = (j: Json): boolean => j?.case === 'forward' && typeof j.file === 'string';

function diffs(got: Record<string, unknown>, want: Record<string, unknown>, prefix: string, out: string[]): void {
  for (const k of Object.keys(want)) {
    if (!(k in got)) continue;
    if (JSON.stringify(got[k]) !== JSON.stringify(want[k])) {
      out.push(`${prefix}${k}: got ${JSON.stringify(got[k])}, want ${JSON.stringify(want[k])}`);
    }
  }
}

function censusModel(e: Json): DetectionModel {
  if (e.custom_scale) {
    const y = loadModelYaml(YOLOV8_YAML).yaml;
    y.scales = { ...y.scales, [e.scale]: e.custom_scale };
    return buildModel(y, { nc: e.nc, scale: e.scale });
  }
  return buildModel(`yolov8${e.scale}.yaml`, { nc: e.nc });
}

/** Census: per model, totals and every layer row exactly; GFLOPs within rel 1e-3. */
export function runCensusGolden(json: Json): GoldenRow[] {
  return (json.models as Json[]).map((e) => {
    const name = `census/yolov8${e.scale}-nc${e.nc}`;
    const m = censusModel(e);
    try {
      const bad: string[] = [];
      const s = summary(m, 640);
      const d = m.detect;
      diffs(
        {
          params: m.numParams(),
          gradients: m.numTrainable(),
          num_layers: m.layers.length,
          num_modules_summary: countModules(m),
          stride: m.stride,
          save: m.save,
        },
        e,
        '',
        bad,
      );
      diffs({ nc: d.nc, reg_max: d.regMax, no: d.no, nl: d.nl, c2_box_branch: d.c2, c3_cls_branch: d.c3 }, e.detect, 'detect.', bad);
      (e.layers as Json[]).forEach((want, i) => {
        const r = s.rows[i];
        if (!r) {
          bad.push(`layer ${i} missing`);
          return;
        }
        diffs(
          {
            index: r.index,
            from: r.from,
            repeats: r.repeats,
            module: r.module,
            args: r.args,
            params: r.params,
            out_channels: r.outChannels,
            out_stride: r.outStride,
          },
          want,
          `layer ${i}.`,
          bad,
        );
      });
      if (s.rows.length !== e.layers.length) bad.push(`${s.rows.length} layers, want ${e.layers.length}`);
      let worst = 0;
      for (const size of ['640', '320']) {
        const want = e.flops[size].gflops_conv;
        worst = Math.max(worst, Math.abs(summary(m, Number(size)).gflops - want) / want);
      }
      const tol = 1e-3;
      return {
        name,
        pass: bad.length === 0 && worst <= tol,
        metric: 'GFLOPs rel (params, counts, rows exact)',
        worst,
        tolerance: tol,
        note: bad.length ? `${bad.length} mismatches: ${bad.slice(0, 3).join('; ')}` : undefined,
      };
    } finally {
      m.dispose();
    }
  });
}

/** The project's position for each insertion.json key. */
export const INSERTION_KEYS: Readonly<Record<string, InsertPosition>> = {
  'after-2': { after: 2 },
  'pre-SPPF': 'pre-SPPF',
  neck: 'neck',
  'after-15-18-21': { after: [15, 18, 21] },
  'pre-head': 'pre-head',
};

/** The four named positions, together: the key `all-four`. */
export const ALL_FOUR: readonly InsertPosition[] = ['residual', 'pre-SPPF', 'neck', 'pre-head'];

/**
 * The position(s) an insertion.json key names, or undefined: a key of INSERTION_KEYS, a project position
 * (`residual`, `pre-SPPF`, `neck`, `pre-head`), `after-N[-M...]`, `all-four`, or several of these joined
 * by `+` (`residual+neck`), which are applied together as one combination.
 */
export function insertionKeyPositions(key: string): InsertPosition | InsertPosition[] | undefined {
  if (key === 'all-four') return [...ALL_FOUR];
  const one = (k: string): InsertPosition | undefined => {
    if (k in INSERTION_KEYS) return INSERTION_KEYS[k];
    if ((ALL_FOUR as readonly string[]).includes(k)) return k as InsertPosition;
    const m = /^after-(\d+(?:-\d+)*)$/.exec(k);
    if (m) {
      const ns = m[1].split('-').map(Number);
      return { after: ns.length === 1 ? ns[0] : ns };
    }
    return undefined;
  };
  if (!key.includes('+')) return one(key);
  const parts = key.split('+').map((k) => (k === 'all-four' ? undefined : one(k)));
  return parts.every((p) => p !== undefined) ? (parts as InsertPosition[]) : undefined;
}

/** Insertion: rewritten YAML (text and parsed), params, layer counts and rows exactly; the WRONG example. */
export function runInsertionGolden(json: Json): GoldenRow[] {
  const registry = createRegistry(standInPlugin);
  const standIn = { name: 'StandIn', args: (p: { channels: number }) => [p.channels] };
  const rows: GoldenRow[] = [];
  for (const [key, e] of Object.entries(json.positions as Record<string, Json>)) {
    const bad: string[] = [];
    const wrong = key.startsWith('WRONG');
    const pos = insertionKeyPositions(key);
    if (!wrong && !pos) {
      rows.push({
        name: `insertion/${key}`,
        pass: false,
        metric: 'mismatches',
        worst: 1,
        tolerance: 0,
        note: `unknown position key "${key}" (known: ${[...Object.keys(INSERTION_KEYS), ...ALL_FOUR, 'after-N[-M...]', 'all-four'].join(', ')}, or several joined by +)`,
      });
      continue;
    }
    let text: string = e.yaml_text;
    if (!wrong) {
      text = insertModule(json.stock.yaml_text, standIn, pos as InsertPosition | InsertPosition[], { registry });
      if (text !== e.yaml_text) bad.push('yaml_text differs');
      const p = parseYaml(text);
      if (JSON.stringify({ backbone: p.backbone, head: p.head }) !== JSON.stringify(e.yaml)) bad.push('parsed yaml differs');
    }
    const m = buildModel(text, { scale: json.scale, nc: json.nc, registry });
    try {
      const s = summary(m);
      diffs(
        {
          params: m.numParams(),
          num_layers: m.layers.length,
          num_modules_summary: countModules(m),
          save: m.save,
          detect_from: m.layers[m.layers.length - 1].plan.from,
          stand_in_indices: m.layers.filter((l) => l.plan.module === 'StandIn').map((l) => l.plan.index),
          stand_in_channels: m.layers.filter((l) => l.plan.module === 'StandIn').map((l) => l.plan.c2),
        },
        e,
        '',
        bad,
      );
      (e.layers as Json[]).forEach((want, i) => {
        const r = s.rows[i];
        diffs(
          { index: r?.index, from: r?.from, repeats: r?.repeats, module: r?.module, args: r?.args, params: r?.params },
          want,
          `layer ${i}.`,
          bad,
        );
      });
    } finally {
      m.dispose();
    }
    rows.push({
      name: `insertion/${key}`,
      pass: bad.length === 0,
      metric: 'mismatches (exact)',
      worst: bad.length,
      tolerance: 0,
      note: bad.length ? bad.slice(0, 3).join('; ') : undefined,
    });
  }
  return rows;
}

/** Options of runForwardGolden (tensors are compared NCHW: our NHWC outputs are transposed). */
export interface ForwardGoldenOptions {
  /** Also compare every `act.<i>` (default true). */
  activations?: boolean;
}

/** Forward: a fixed-weight model in eval mode; activations, raw maps, inference, anchors. */
export async function runForwardGolden(jsonPath: string, opts: ForwardGoldenOptions = {}): Promise<GoldenRow[]> {
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const file = path.join(path.dirname(jsonPath), json.file);
  const st = readSafetensors(fs.readFileSync(file), file);
  const T = (k: string): SafeTensor => {
    const t = st.tensors.get(k);
    if (!t) throw new Error(`${file}: no tensor "${k}"`);
    return t;
  };
  const yamlName = /^(\S+\.yaml)/.exec(json.model)?.[1] ?? 'yolov8.yaml';
  const scale = /scale (\w+)/.exec(json.model)?.[1];
  const model = buildModel(yamlName, { nc: json.nc, scale });
  const rows: GoldenRow[] = [];
  const tol = json.tolerance;
  const add = (key: string, got: ArrayLike<number>, t: { max_abs?: number; rel_l2?: number }) => {
    const want = T(key).data as Float32Array;
    const c = compareArrays(got, want);
    const ratio = (v: number, tl: number | undefined) =>
      tl === undefined ? 0 : tl === 0 ? (v === 0 ? 0 : Number.POSITIVE_INFINITY) : v / tl;
    const rA = ratio(c.maxAbs, t.max_abs);
    const rR = ratio(c.relL2, t.rel_l2);
    const byRel = rR >= rA && t.rel_l2 !== undefined;
    rows.push({
      name: key,
      pass: rA <= 1 && rR <= 1,
      metric: byRel ? 'rel_l2' : 'max_abs',
      worst: byRel ? c.relL2 : c.maxAbs,
      tolerance: (byRel ? t.rel_l2 : t.max_abs) ?? 0,
    });
  };
  try {
    const report = model.loadWeights(st, { prefix: 'param.', strict: true });
    if (report.loaded.length !== json.param_names.length)
      throw new Error(`loaded ${report.loaded.length} of ${json.param_names.length} tensors`);
    if (model.numParams() !== json.num_params) throw new Error(`model has ${model.numParams()} params, file ${json.num_params}`);
    model.eval();
    // Computed and kept in one tidy, then read asynchronously (works on webgpu, which cannot read synchronously).
    const pending: [string, tf.Tensor, { max_abs?: number; rel_l2?: number }][] = [];
    tf.tidy(() => {
      const keep = (key: string, t: tf.Tensor, tl: { max_abs?: number; rel_l2?: number }) => pending.push([key, tf.keep(t), tl]);
      // NCHW -> NHWC
      const x = tf.transpose(toTfTensor(T('input.images')), [0, 2, 3, 1]);
      const ys = model.forwardLayers(x);
      // [B, H, W, C] -> [B, C, H, W]
      const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
      if (opts.activations !== false) {
        for (let i = 0; i < ys.length - 1; i++) keep(`act.${i}`, nchw(ys[i] as tf.Tensor), tol['act.*']);
      }
      const out = ys[ys.length - 1] as DetectOutput;
      for (const [l, r] of out.raw.entries()) keep(`output.raw.${l}`, nchw(r), tol['output.raw.*']);
      keep('output.inference', out.inference, tol['output.inference']);
      const a = makeAnchors(out.raw, model.stride, 0.5);
      keep('anchors.points', a.points, tol['anchors.*']);
      keep('anchors.strides', a.strides, tol['anchors.*']);
      // DFL expectation [B, A, 4] -> [B, 4, A]
      const d = model.detect;
      const b = out.raw[0].shape[0];
      // per level [B, H, W, no] -> [B, H*W, no]; concat -> [B, A, no]; box part [B, A, 64]
      const cat = tf.concat(
        out.raw.map((r) => tf.reshape(r, [b, r.shape[1] * r.shape[2], d.no])),
        1,
      );
      const box = tf.slice(cat, [0, 0, 0], [-1, -1, 4 * d.regMax]);
      keep('debug.dfl_ltrb', tf.transpose(d.dfl.forward(box), [0, 2, 1]), tol['output.raw.*']);
    });
    try {
      for (const [key, t, tl] of pending) {
        add(key, (await t.data()) as Float32Array, tl);
        if (key === 'anchors.strides') add('model.stride', model.stride, tol['anchors.*']);
      }
    } finally {
      for (const [, t] of pending) t.dispose();
    }
  } finally {
    model.dispose();
  }
  return rows;
}
