// Insertion positions against fixtures/golden/yolov8/insertion.json: the rewritten YAML (text and parsed),
// parameters, layer counts and per-layer rows exactly; the WRONG (unshifted) example reproduces its wrong
// count; the residual position with the 1x1-conv stand-in; wiring checked by an identity stand-in.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createRegistry, StandIn, standInPlugin } from './builtins.js';
import { type InsertPosition, insertModule } from './insert.js';
import { buildModel, type DetectionModel } from './model.js';
import type { DetectOutput } from './modules.js';
import { parseModel } from './parse.js';
import { countModules, summary } from './summary.js';
import { loadModelYaml, YOLOV8_YAML } from './yaml.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const golden = JSON.parse(fs.readFileSync(new URL('insertion.json', dir), 'utf8'));
const registry = createRegistry(standInPlugin);
const standIn = { name: 'StandIn', args: (p: { channels: number }) => [p.channels] };

const POSITIONS: Record<string, InsertPosition> = {
  'after-2': { after: 2 },
  'pre-SPPF': 'pre-SPPF',
  neck: 'neck',
  'after-15-18-21': { after: [15, 18, 21] },
  'pre-head': 'pre-head',
};

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

// biome-ignore lint/suspicious/noExplicitAny: reference JSON
type Entry = any;

function checkModel(m: DetectionModel, e: Entry, label: string): void {
  expect(m.numParams(), label).toBe(e.params);
  expect(m.layers.length, label).toBe(e.num_layers);
  expect(countModules(m), label).toBe(e.num_modules_summary);
  expect(m.save, label).toEqual(e.save);
  expect(m.layers[m.layers.length - 1].plan.from, label).toEqual(e.detect_from);
  const standIns = m.layers.filter((l) => l.plan.module === 'StandIn');
  expect(
    standIns.map((l) => l.plan.index),
    label,
  ).toEqual(e.stand_in_indices);
  expect(
    standIns.map((l) => l.plan.c2),
    label,
  ).toEqual(e.stand_in_channels);
  expect(standIns.reduce((s, l) => s + l.module.numParams(), 0)).toBe(e.stand_in_params);
  const rows = summary(m).rows;
  for (const [i, want] of (e.layers as Entry[]).entries()) {
    const r = rows[i];
    expect(
      { index: r.index, from: r.from, repeats: r.repeats, module: r.module, args: r.args, params: r.params },
      `${label} layer ${i}`,
    ).toEqual(want);
  }
}

/** Sets every StandIn to the identity (weight I, bias 0). */
function makeIdentity(m: DetectionModel): void {
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof StandIn) {
      const c = mod.conv.inChannels;
      const w = tf.tidy(() => tf.reshape(tf.eye(c), [1, 1, c, c]));
      mod.conv.weight.assign(w);
      w.dispose();
      const b = tf.zeros([c]);
      mod.conv.bias?.assign(b);
      b.dispose();
    }
  }
}

/** Copies the stock model's weights into the model with inserted layers (stock layer i -> its new index). */
function copyStock(stock: DetectionModel, m: DetectionModel): void {
  const newIdx = m.layers.filter((l) => l.plan.module !== 'StandIn').map((l) => l.plan.index);
  const sd = stock.stateDict();
  const moved = new Map<string, tf.Tensor>();
  for (const [k, t] of sd) {
    const [, i, ...rest] = k.split('.');
    moved.set(['model', String(newIdx[Number(i)]), ...rest].join('.'), t);
  }
  const r = m.loadWeights(moved);
  for (const t of sd.values()) t.dispose();
  expect(r.skipped).toEqual([]);
  expect(r.missing.every((n) => /\.attn\.|^model\.\d+\.conv\.(weight|bias)$/.test(n))).toBe(true);
}

function evalOut(m: DetectionModel, x: tf.Tensor): Float32Array {
  m.eval();
  return tf.tidy(() => (m.forward(x) as DetectOutput).inference.dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}

describe('insertion', () => {
  const stockText: string = golden.stock.yaml_text;
  let stock: DetectionModel;
  let x: tf.Tensor;
  let stockOut: Float32Array;

  beforeAll(() => {
    stock = buildModel(stockText, { scale: golden.scale, nc: golden.nc, registry });
    x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 7);
    stockOut = evalOut(stock, x);
  });

  it('stock yaml text builds the stock model', () => {
    expect(stock.numParams()).toBe(golden.stock.params);
    expect(stock.layers.length).toBe(golden.stock.num_layers);
    expect(countModules(stock)).toBe(golden.stock.num_modules_summary);
  });

  for (const [key, pos] of Object.entries(POSITIONS)) {
    it(`${key}: YAML text, parsed form, params, layers, rows, wiring`, () => {
      const e = golden.positions[key];
      const before = tf.memory().numTensors;
      const text = insertModule(stockText, standIn, pos, { registry });
      expect(text).toBe(e.yaml_text);
      const parsed = parseYaml(text);
      expect({ backbone: parsed.backbone, head: parsed.head }).toEqual(e.yaml);
      // The object form writes an equivalent document.
      const fromObj = insertModule(loadModelYaml(stockText).yaml, standIn, pos, { registry });
      const p2 = parseYaml(fromObj);
      expect({ backbone: p2.backbone, head: p2.head }).toEqual(e.yaml);
      const m = buildModel(text, { scale: golden.scale, nc: golden.nc, registry });
      try {
        checkModel(m, e, key);
        // train-mode head shapes at 64x64 (NCHW in the file, NHWC here)
        m.train();
        const shapes = tf.tidy(() => (m.forward(x) as tf.Tensor[]).map((t) => t.shape));
        expect(shapes).toEqual(e.head_output_shapes_64x64_train.map((s: number[]) => [s[0], s[2], s[3], s[1]]));
        // identity stand-ins + the stock weights reproduce the stock output
        copyStock(stock, m);
        makeIdentity(m);
        const d = maxAbsDiff(evalOut(m, x), stockOut);
        expect(d < 1e-3).toBe(e.identity_standin_reproduces_stock_output);
      } finally {
        m.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('WRONG-after-2-unshifted: the unshifted YAML builds with the wrong parameter count', () => {
    const e = golden.positions['WRONG-after-2-unshifted'];
    const m = buildModel(e.yaml_text, { scale: golden.scale, nc: golden.nc, registry });
    try {
      checkModel(m, e, 'WRONG');
      expect(m.numParams()).not.toBe(golden.positions['after-2'].params);
    } finally {
      m.dispose();
    }
    // and the tool's rewrite differs from it exactly in the shifted refs
    expect(insertModule(stockText, standIn, { after: 2 }, { registry })).not.toBe(e.yaml_text);
  });

  it('residual: the stand-in inside every Bottleneck of the deepest backbone C2f (3,173,712 params)', () => {
    const before = tf.memory().numTensors;
    const text = insertModule(stockText, standIn, 'residual', { registry });
    expect(text).toBe(
      stockText.replace('- [-1, 3, C2f, [1024, True]]  # 8', '- [-1, 3, C2f, [1024, True, {attn: StandIn, args: [512]}]]  # 8'),
    );
    const m = buildModel(text, { scale: 'n', nc: 80, registry });
    try {
      expect(m.numParams()).toBe(3173712);
      expect(m.layers.length).toBe(23);
      const names = m.namedParameters().map(([n]) => n);
      expect(names).toContain('model.8.m.0.attn.conv.weight');
      const w = m.namedParameters().find(([n]) => n === 'model.8.m.0.attn.conv.weight')?.[1];
      expect(w?.torchShape).toEqual([128, 128, 1, 1]);
      expect(summary(m).rows[8].args).toEqual([256, 256, 1, true, { attn: 'StandIn', args: [512] }]);
      copyStock(stock, m);
      makeIdentity(m);
      expect(maxAbsDiff(evalOut(m, x), stockOut)).toBeLessThan(1e-3);
    } finally {
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('residual on several C2f layers puts the module in every Bottleneck', () => {
    const text = insertModule(YOLOV8_YAML, standIn, { residual: [4, 6] }, { registry });
    const m = buildModel(text, { scale: 'n', nc: 80, registry });
    try {
      const attn = m.namedModules().filter(([n]) => n.endsWith('.attn'));
      // yolov8n: layers 4 and 6 have 2 Bottlenecks each (widths 32 and 64)
      expect(attn.map(([n]) => n)).toEqual(['model.4.m.0.attn', 'model.4.m.1.attn', 'model.6.m.0.attn', 'model.6.m.1.attn']);
      expect(m.numParams()).toBe(3157200 + 2 * (32 * 32 + 32) + 2 * (64 * 64 + 64));
    } finally {
      m.dispose();
    }
  });

  it('keeps the comments of the stock file and renumbers index comments', () => {
    const text = insertModule(YOLOV8_YAML, standIn, 'pre-SPPF', { registry });
    expect(text).toContain('  - [-1, 3, C2f, [1024, True]]\n  - [-1, 1, StandIn, [1024]]  # 9\n  - [-1, 1, SPPF, [1024, 5]]  # 10\n');
    expect(text).toContain('  - [[-1, 10], 1, Concat, [1]]  # cat head P5');
    expect(text).toContain('  - [-1, 3, C2f, [512]]  # 13\n');
    expect(text).toContain('# YOLOv8.0n head');
  });

  it('errors: unknown position, unknown module, bad layer, residual on a non-C2f', () => {
    expect(() => insertModule(stockText, standIn, 'middle' as InsertPosition, { registry })).toThrow(
      'Unknown insertion position "middle"; known: residual, pre-SPPF, neck, pre-head, {after: N}, {after: [N, ...]}, {residual: [N, ...]}',
    );
    expect(() => insertModule(stockText, { name: 'DAT2' }, 'neck', { registry })).toThrow('Unknown module "DAT2"; known: Conv,');
    expect(() => insertModule(stockText, standIn, { after: 23 }, { registry })).toThrow('no layer 23 (0..22)');
    expect(() => insertModule(stockText, standIn, { residual: [9] }, { registry })).toThrow(
      'layer 9 is SPPF, which has no residual branch; modules that do: Bottleneck, C2f',
    );
  });

  it('a saved rewrite reads back by path, with the scale guessed from the file name as Ultralytics does', () => {
    const text = insertModule('yolov8s.yaml', standIn, 'neck', { registry });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-y8-')), 'yolov8s-neck.yaml');
    fs.writeFileSync(file, text);
    const plan = parseModel(file, registry);
    expect(plan.scale).toBe('s');
    expect(plan.source).toBe(file);
    const l = plan.layers[13];
    expect([l.module, l.args, l.c2]).toEqual(['StandIn', [256, 256], 256]);
    expect(plan.layers.length).toBe(24);
    fs.rmSync(path.dirname(file), { recursive: true });
    expect(() => parseModel('/nonexistent/yolov9q.yaml', registry)).toThrow(
      'is neither a file nor a built-in model; built-in: yolov8.yaml, yolov8n.yaml',
    );
  });

  it('cleans up', () => {
    stock.dispose();
    x.dispose();
  });
});
