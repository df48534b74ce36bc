import { createRegistry, parseModel } from '@ablate/yolov8';
import { describe, expect, it } from 'vitest';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { ExperimentError, parseExperiment } from './experiment.js';
import { canonicalJson, expandTrials, trialId, yamlArgs } from './trials.js';

const registry = createRegistry(...ATTENTION_PLUGINS);
const data = { kind: 'synthetic' as const, source: {}, fingerprint: 'synthetic-abc', description: 'test set', nc: 2, names: ['a', 'b'] };

const TEXT = `name: t
data: { synthetic: { classes: 2 } }
train: { epochs: 3, imgsz: 64 }
seeds: [0, 1]
sweep:
  module: [DAttention, { name: FocusedLinearAttention, args: [null, 4] }]
  position: [pre-SPPF, neck, { after: 4 }]
`;
const exp = (text = TEXT) => parseExperiment(text, { registry, file: '/x/t.yaml', shownAs: 't.yaml' });
const expand = (text = TEXT, extra: { epochs?: number; backend?: string } = {}) =>
  expandTrials(exp(text), { registry, data, backend: extra.backend ?? 'wasm', epochs: extra.epochs });

/** Layer rows of a YAML as [from, module] (backbone then head). */
function rows(yaml: string): [unknown, string][] {
  const plan = parseModel(yaml, registry, { nc: 2 });
  return plan.layers.map((l) => [l.from, l.module]);
}

describe('trial expansion', () => {
  it('a seed-noise study (sweep.module: [] or no sweep key) is the baseline over the seeds', () => {
    for (const text of [
      'name: noise\ndata: { synthetic: { classes: 2 } }\nseeds: [0, 1, 2]\nsweep:\n  module: []\n',
      'name: noise\ndata: { synthetic: { classes: 2 } }\nseeds: [0, 1, 2]\n',
    ]) {
      const t = expand(text);
      expect(t.map((x) => [x.variant, x.seed])).toEqual([
        ['baseline', 0],
        ['baseline', 1],
        ['baseline', 2],
      ]);
    }
    expect(() => exp('name: noise\ndata: { synthetic: { classes: 2 } }\nbaseline: false\nsweep:\n  module: []\n')).toThrow(
      /nothing to run: baseline is false/,
    );
  });
  it('baseline + modules x positions, seeds outermost, unique stable ids', () => {
    const t = expand();
    expect(t).toHaveLength(2 * (1 + 2 * 3));
    expect(t.map((x) => `${x.seed} ${x.variant}`).slice(0, 7)).toEqual([
      '0 baseline',
      '0 DAttention@pre-SPPF',
      '0 DAttention@neck',
      '0 DAttention@after:4',
      '0 FocusedLinearAttention@pre-SPPF',
      '0 FocusedLinearAttention@neck',
      '0 FocusedLinearAttention@after:4',
    ]);
    expect(t.map((x) => x.ordinal)).toEqual(t.map((_, i) => i));
    expect(new Set(t.map((x) => x.id)).size).toBe(t.length);
    for (const x of t) expect(x.id).toMatch(/^[0-9a-f]{12}$/);
    expect(expand().map((x) => x.id)).toEqual(t.map((x) => x.id));
    const b = t[0];
    expect([b.module, b.position, b.moduleArgs]).toEqual([null, null, null]);
    expect(t[4].moduleArgs).toEqual([null, 4]);
    expect(t[7].config.train.seed).toBe(1);
    expect(t[0].config.train.seed).toBe(0);
  });

  it('ids follow the resolved configuration', () => {
    const base = expand();
    const more = expand(TEXT, { epochs: 5 });
    expect(more[0].config.train.epochs).toBe(5);
    expect(more.map((x) => x.id).filter((id) => base.some((b) => b.id === id))).toEqual([]);
    expect(expand(TEXT, { backend: 'cpu' })[0].id).not.toBe(base[0].id);
    // A comment or a changed description does not change the ids; a changed setting does.
    expect(expand(`# comment\n${TEXT.replace('name: t', 'name: t\ndescription: other')}`)[0].id).toBe(base[0].id);
    expect(expand(TEXT.replace('epochs: 3', 'epochs: 3, lr0: 0.02'))[0].id).not.toBe(base[0].id);
    // Baseline is shared by sweeps of other names.
    expect(expand(TEXT.replace('name: t', 'name: other'))[0].id).toBe(base[0].id);
    // Comments inside the model YAML do not count, the rows do.
    const cfg = base[0].config;
    expect(trialId({ ...cfg, model: { ...cfg.model, yaml: `${cfg.model.yaml}\n# note\n` } })).toBe(base[0].id);
    expect(trialId({ ...cfg, model: { ...cfg.model, nc: 3 } })).not.toBe(base[0].id);
    // Where the data lies does not count, its fingerprint does.
    expect(trialId({ ...cfg, data: { ...cfg.data, source: '/elsewhere' } })).toBe(base[0].id);
    expect(trialId({ ...cfg, data: { ...cfg.data, fingerprint: 'x' } })).not.toBe(base[0].id);
  });

  it('the model YAML holds the module where the position says', () => {
    const t = expand();
    const baseRows = rows(t[0].modelYaml);
    const sppf = baseRows.findIndex((r) => r[1] === 'SPPF');
    const pre = rows(t[1].modelYaml);
    expect(pre).toHaveLength(baseRows.length + 1);
    expect(pre[sppf][1]).toBe('DAttention');
    expect(pre[sppf + 1][1]).toBe('SPPF');
    const after4 = rows(t[3].modelYaml);
    expect(after4[5][1]).toBe('DAttention');
    expect(after4[5][0]).toBe(-1);
    expect(after4[4][1]).toBe('C2f');
    // The stored YAML is self-contained: scale pinned; it parses with the data's nc.
    expect(t[1].modelYaml.startsWith('scale: n')).toBe(true);
    expect(t[4].modelYaml).toMatch(/FocusedLinearAttention, \[None, 4\]/);
  });

  it('combined positions: one variant named by the positions joined with +, all modules in one model', () => {
    const t = expand(
      TEXT.replace('position: [pre-SPPF, neck, { after: 4 }]', 'position: [[residual, neck]]').replace('seeds: [0, 1]', 'seeds: [0]'),
    );
    const dat = t.filter((x) => x.module === 'DAttention');
    expect(dat.map((x) => [x.variant, x.position])).toEqual([['DAttention@residual+neck', 'residual+neck']]);
    const plan = parseModel(dat[0].modelYaml, registry, { nc: 2 });
    expect(plan.layers.filter((l) => l.module === 'DAttention').map((l) => l.index)).toEqual([13]);
    expect(dat[0].modelYaml).toContain('{attn: DAttention, args: []}');
  });

  it('combinations that cannot be built are experiment errors naming the line', () => {
    const bad = TEXT.replace('{ after: 4 }', '{ after: 99 }');
    let err: unknown;
    try {
      expand(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExperimentError);
    expect((err as Error).message).toContain('t.yaml, line 7, key sweep.position[2]');
    expect((err as Error).message).toContain('no layer 99');
    const badArgs = TEXT.replace('args: [null, 4]', 'args: [null, 3]');
    expect(() => expand(badArgs)).toThrow(/line 6, key sweep.module\[1\]/);
  });

  it('helpers', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }], e: undefined })).toBe('{"a":[{"c":null,"d":2}],"b":1}');
    expect(yamlArgs(null)).toEqual([]);
    expect(yamlArgs([1, 2])).toEqual([1, 2]);
    expect(yamlArgs({ n_heads: 4 })).toEqual([{ n_heads: 4 }]);
  });
});
