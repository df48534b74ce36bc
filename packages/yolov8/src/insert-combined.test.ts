// Combined insertion positions (several positions applied together in one rewrite) against
// fixtures/golden/yolov8/insertion_combined.json, and that file against a second, independent computation:
//  - wiring: the layer list and every `from` (as absolute indices) built directly from the single-position
//    rules of insertion.json's README (consumers of p read the module after p; pre-SPPF: only SPPF reads the
//    new layer; pre-head: only Detect reads the branches), not by composing rewrites as insertModule does;
//  - parameters: stock params + the single-position additions recorded in insertion.json (plus 16,512 for
//    `residual`, the README's number), since shape-preserving stand-ins add independently;
//  - behaviour: identity stand-ins with the stock weights copied to the new indices reproduce the stock output.
import * as fs from 'node:fs';
import { initBackend } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createRegistry, StandIn, standInPlugin } from './builtins.js';
import { insertionKeyPositions, runInsertionGolden } from './golden.js';
import { type InsertPosition, insertModule, positionsName } from './insert.js';
import { buildModel, type DetectionModel } from './model.js';
import type { DetectOutput } from './modules.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const single = JSON.parse(fs.readFileSync(new URL('insertion.json', dir), 'utf8'));
const combined = JSON.parse(fs.readFileSync(new URL('insertion_combined.json', dir), 'utf8'));
const registry = createRegistry(standInPlugin);
const standIn = { name: 'StandIn', args: (p: { channels: number }) => [p.channels] };

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

type Item = { kind: 'old'; old: number } | { kind: 'new'; reads: number; role: 'after' | 'pre-SPPF' | 'pre-head' };

/** Parameters each single position adds, from insertion.json (and the README's residual number). */
const ADDED: Record<string, number> = {
  residual: 16512,
  'pre-SPPF': single.positions['pre-SPPF'].params_added,
  neck: single.positions.neck.params_added,
  'pre-head': single.positions['pre-head'].params_added,
  'after-2': single.positions['after-2'].params_added,
};

/** The final layer list and absolute `from`s, straight from the rules (stock yolov8n: SPPF 9, head C2f 12, Detect 22). */
function expectedWiring(parts: string[]): { modules: string[]; froms: number[][] } {
  const stock = parseYaml(single.stock.yaml_text);
  const rows: [number | number[], number, string, unknown[]][] = [...stock.backbone, ...stock.head];
  const absFrom = (j: number) => (Array.isArray(rows[j][0]) ? rows[j][0] : [rows[j][0]]).map((r) => (r < 0 ? j + r : r));
  const detect = rows.length - 1;
  const sppf = rows.findIndex((r) => r[2] === 'SPPF');
  const after = new Set<number>();
  if (parts.includes('neck')) after.add(12);
  for (const p of parts) for (const m of p.matchAll(/^after-(\d+)$/g)) after.add(Number(m[1]));
  const items: Item[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (i === sppf && parts.includes('pre-SPPF')) items.push({ kind: 'new', reads: absFrom(i)[0], role: 'pre-SPPF' });
    if (i === detect && parts.includes('pre-head')) for (const r of absFrom(i)) items.push({ kind: 'new', reads: r, role: 'pre-head' });
    items.push({ kind: 'old', old: i });
    if (after.has(i)) items.push({ kind: 'new', reads: i, role: 'after' });
  }
  const at = (pred: (x: Item) => boolean) => items.findIndex(pred);
  const idx = (old: number) => at((x) => x.kind === 'old' && x.old === old);
  /** Where a consumer (old layer j, or a new item) reads old layer r. */
  const target = (r: number, consumer: number | 'new'): number => {
    if (consumer === sppf && parts.includes('pre-SPPF')) return at((x) => x.kind === 'new' && x.role === 'pre-SPPF');
    if (consumer === detect && parts.includes('pre-head')) return at((x) => x.kind === 'new' && x.role === 'pre-head' && x.reads === r);
    if (consumer !== 'new' && after.has(r)) return at((x) => x.kind === 'new' && x.role === 'after' && x.reads === r);
    return idx(r);
  };
  return {
    modules: items.map((x) => (x.kind === 'old' ? rows[x.old][2] : 'StandIn')),
    froms: items.map((x) => (x.kind === 'old' ? absFrom(x.old).map((r) => target(r, x.old)) : [target(x.reads, 'new')])),
  };
}

function absoluteFroms(yamlText: string): { modules: string[]; froms: number[][] } {
  const y = parseYaml(yamlText);
  const rows: [number | number[], number, string][] = [...y.backbone, ...y.head];
  return {
    modules: rows.map((r) => r[2]),
    froms: rows.map((r, j) => (Array.isArray(r[0]) ? r[0] : [r[0]]).map((x) => (x < 0 ? j + x : x))),
  };
}

function evalOut(m: DetectionModel, x: tf.Tensor): Float32Array {
  m.eval();
  return tf.tidy(() => (m.forward(x) as DetectOutput).inference.dataSync() as Float32Array);
}

describe('combined insertion positions', () => {
  const keys = Object.keys(combined.positions);

  it('the fixture holds combinations (all-four among them)', () => {
    expect(keys).toContain('all-four');
    expect(keys.filter((k) => k.includes('+')).length).toBeGreaterThanOrEqual(3);
  });

  for (const key of keys) {
    it(`${key}: rewrite equals the fixture, and the fixture equals the independent computation`, () => {
      const e = combined.positions[key];
      const pos = insertionKeyPositions(key) as InsertPosition[];
      const text = insertModule(single.stock.yaml_text, standIn, pos, { registry });
      expect(text).toBe(e.yaml_text);
      const parts = key === 'all-four' ? ['residual', 'pre-SPPF', 'neck', 'pre-head'] : key.split('+');
      expect(positionsName(pos)).toBe(parts.join('+').replace('after-2', 'after: 2'));
      // independent wiring
      expect(absoluteFroms(e.yaml_text)).toEqual(expectedWiring(parts));
      // independent parameter count
      expect(e.params).toBe(single.stock.params + parts.reduce((s, p) => s + ADDED[p], 0));
      // residual: the module inside layer 8's Bottleneck, at its hidden width
      expect(e.yaml_text.includes('{attn: StandIn, args: [512]}')).toBe(parts.includes('residual'));
      const m = buildModel(text, { scale: single.scale, nc: single.nc, registry });
      const stock = buildModel(single.stock.yaml_text, { scale: single.scale, nc: single.nc, registry });
      try {
        expect(m.numParams()).toBe(e.params);
        // identity stand-ins + the stock weights at their new indices reproduce the stock output
        const newIdx = m.layers.filter((l) => l.plan.module !== 'StandIn').map((l) => l.plan.index);
        const sd = stock.stateDict();
        const moved = new Map<string, tf.Tensor>();
        for (const [k, t] of sd) {
          const [, i, ...rest] = k.split('.');
          moved.set(['model', String(newIdx[Number(i)]), ...rest].join('.'), t);
        }
        const r = m.loadWeights(moved);
        expect(r.skipped).toEqual([]);
        for (const [, mod] of m.namedModules()) {
          if (!(mod instanceof StandIn)) continue;
          const c = mod.conv.inChannels;
          tf.tidy(() => {
            mod.conv.weight.assign(tf.reshape(tf.eye(c), [1, 1, c, c]));
            mod.conv.bias?.assign(tf.zeros([c]));
          });
        }
        const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 11);
        const a = evalOut(stock, x);
        const b = evalOut(m, x);
        x.dispose();
        for (const t of sd.values()) t.dispose();
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        expect(worst).toBeLessThan(1e-3);
      } finally {
        m.dispose();
        stock.dispose();
      }
    });
  }

  it('the golden evaluator reads `+` keys and `all-four` as combinations: every combined case passes', () => {
    const rows = runInsertionGolden(combined);
    expect(rows.map((r) => [r.name, r.pass, r.note])).toEqual(keys.map((k) => [`insertion/${k}`, true, undefined]));
    expect(insertionKeyPositions('residual+nowhere')).toBeUndefined();
    expect(insertionKeyPositions('after-15-18-21+neck')).toEqual([{ after: [15, 18, 21] }, 'neck']);
  });

  it('several positions: order-free where roles do not overlap; a position twice is an error', () => {
    const ab = insertModule(single.stock.yaml_text, standIn, ['neck', 'pre-SPPF'], { registry });
    const ba = insertModule(single.stock.yaml_text, standIn, ['pre-SPPF', 'neck'], { registry });
    expect(ab).toBe(ba);
    expect(() => insertModule(single.stock.yaml_text, standIn, ['neck', 'neck'], { registry })).toThrow('position neck is listed twice');
    expect(() => insertModule(single.stock.yaml_text, standIn, [], { registry })).toThrow('an empty list of positions');
    // layer numbers of {after: N} refer to the stock YAML even after earlier insertions
    const t = insertModule(single.stock.yaml_text, standIn, ['pre-SPPF', { after: 12 }], { registry });
    expect(t).toBe(combined.positions['pre-SPPF+neck'].yaml_text);
  });
});
