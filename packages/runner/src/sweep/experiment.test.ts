import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_AUGMENT } from '@ablate/data';
import { DEFAULT_TRAIN, DEFAULT_VAL } from '@ablate/train';
import { createRegistry } from '@ablate/yolov8';
import { afterAll, describe, expect, it } from 'vitest';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { AUGMENT_KEYS, ExperimentError, loadExperiment, parseExperiment, parsePosition, TRAIN_FIELDS, VAL_FIELDS } from './experiment.js';
import { closest, editDistance } from './suggest.js';

const registry = createRegistry(...ATTENTION_PLUGINS);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-exp-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const GOOD = `name: t
model: yolov8n.yaml
data: { synthetic: { classes: 2, train: 8, val: 4, imgsz: 64 } }
train:
  epochs: 3
  imgsz: 64
seeds: [0, 1]
sweep:
  module: [DAttention, { name: DAT, args: { n_heads: 4 } }]
  position: [residual, pre-SPPF, neck, pre-head, { after: 4 }, { residual: [2, 4] }]
`;

function parse(text: string) {
  return parseExperiment(text, { registry, cwd: tmp, file: path.join(tmp, 'exp.yaml'), shownAs: 'exp.yaml' });
}

/** The error of an invalid file (and that it is an ExperimentError). */
function errorOf(text: string): ExperimentError {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ExperimentError);
    return e as ExperimentError;
  }
  throw new Error('expected the experiment to be rejected');
}

describe('experiment file', () => {
  it('parses a valid file and fills Ultralytics defaults', () => {
    const e = parse(GOOD);
    expect(e.name).toBe('t');
    expect(e.train.epochs).toBe(3);
    expect(e.train.imgsz).toBe(64);
    expect(e.train.lr0).toBe(0.01);
    expect(e.train.momentum).toBe(0.937);
    expect(e.train.augment.mosaic).toBe(1);
    expect(e.val).toEqual({ conf: 0.001, iou: 0.7, batch: 32, maxDet: 300 });
    expect(e.bench).toEqual({ imgsz: 64, warmup: 10, runs: 50 });
    expect(e.seeds).toEqual([0, 1]);
    expect(e.baseline).toBe(true);
    expect(e.backend).toBe('auto');
    expect(e.threads).toBe(1);
    expect(e.workers).toBe(1);
    expect(e.db).toBe(path.join(tmp, 'results/ablate.db'));
    expect(e.data).toEqual({ kind: 'synthetic', options: { classes: 2, train: 8, val: 4, imgsz: 64 } });
    expect(e.modules.map((m) => [m.name, m.written, m.args])).toEqual([
      ['DAttention', 'DAttention', null],
      ['DAttention', 'DAT', { n_heads: 4 }],
    ]);
    expect(e.positions.map((p) => p.label)).toEqual(['residual', 'pre-SPPF', 'neck', 'pre-head', 'after:4', 'residual:[2,4]']);
    // The model text is pinned to its scale so it builds on its own.
    expect(e.model.text.startsWith('scale: n')).toBe(true);
    expect(e.lineOf(['train', 'epochs'])).toBe(5);
    expect(e.lineOf(['sweep', 'position', 1])).toBe(10);
  });

  it("has the same training defaults as @ablate/train and Ultralytics' default.yaml", () => {
    for (const [k, f] of Object.entries(TRAIN_FIELDS)) {
      if ((AUGMENT_KEYS as readonly string[]).includes(k)) expect(f.default, k).toBe(DEFAULT_AUGMENT[k as keyof typeof DEFAULT_AUGMENT]);
      else expect(f.default, k).toBe(DEFAULT_TRAIN[k as keyof typeof DEFAULT_TRAIN]);
    }
    const trainKeys = Object.keys(DEFAULT_TRAIN).filter((k) => k !== 'augment' && k !== 'seed');
    expect(Object.keys(TRAIN_FIELDS).sort()).toEqual([...trainKeys, ...Object.keys(DEFAULT_AUGMENT)].sort());
    expect(VAL_FIELDS.conf.default).toBe(DEFAULT_VAL.conf);
    expect(VAL_FIELDS.iou.default).toBe(DEFAULT_VAL.iou);
    expect(VAL_FIELDS.max_det.default).toBe(DEFAULT_VAL.maxDet);
  });

  it('misspelt key: names file, line, key and the likely key', () => {
    const e = errorOf('name: t\ntrain:\n  imgsz: 64\n  epoch: 7\n');
    expect(e.problems).toHaveLength(1);
    expect(e.message).toContain('exp.yaml, line 4, key train.epoch');
    expect(e.message).toContain('unknown key `epoch` in train; did you mean `epochs`?');
    expect(e.message).toContain('Nothing was run.');
    expect(e.message.split('\n')).toHaveLength(1); // one paragraph
  });

  it('key at the wrong level says where it belongs', () => {
    const e = errorOf('name: t\nepochs: 3\n');
    expect(e.message).toContain('line 2, key epochs');
    expect(e.message).toContain('it belongs under `train:`');
  });

  it('wrong type: names the expectation and the value', () => {
    const e = errorOf('name: t\ntrain:\n  epochs: ten\n');
    expect(e.message).toContain('line 3, key train.epochs');
    expect(e.message).toContain('expected a positive integer; got the string "ten"');
    const f = errorOf('name: t\ntrain: { imgsz: 100 }\n');
    expect(f.message).toContain('key train.imgsz: expected a positive multiple of 32');
    const g = errorOf('name: t\nseeds: 3\n');
    expect(g.message).toContain('line 2, key seeds: expected a non-empty list of integers');
    const h = errorOf('name: t\nbaseline: maybe\n');
    expect(h.message).toContain('key baseline: expected true or false');
  });

  it('YAML syntax error: line and column', () => {
    const e = errorOf('name: t\ntrain:\n  epochs: [1, 2\n  batch: 3\n');
    expect(e.message).toMatch(/not valid YAML \(line \d+, column \d+\)/);
    expect(e.message).toContain('exp.yaml, line');
    const dup = errorOf('name: t\nname: u\n');
    expect(dup.message).toContain('line 2');
    expect(dup.message).toContain('not valid YAML');
  });

  it('unknown module lists the known modules (built-ins and plugins) and suggests one', () => {
    const e = errorOf('name: t\nsweep:\n  module: [DAtention]\n  position: [neck]\n');
    expect(e.message).toContain('line 3, key sweep.module[0]');
    expect(e.message).toContain('unknown module "DAtention"; did you mean "DAttention"?');
    for (const n of ['Conv', 'C2f', 'DAttention', 'MSDeformAttn', 'DoubleAttention', 'EfficientAttention', 'FocusedLinearAttention']) {
      expect(e.message).toContain(n);
    }
    const f = errorOf('name: t\nsweep:\n  module: [{ nam: DAttention }]\n  position: [neck]\n');
    expect(f.message).toContain('unknown key `nam`');
  });

  it('unknown position lists the known positions', () => {
    const e = errorOf('name: t\nsweep:\n  module: [DAttention]\n  position:\n    - neck\n    - pre-sppf\n');
    expect(e.message).toContain('line 6, key sweep.position[1]');
    expect(e.message).toContain('unknown position "pre-sppf"; did you mean "pre-SPPF"?');
    expect(e.message).toContain('Known positions: residual, pre-SPPF, neck, pre-head, {after: N}');
    const f = errorOf('name: t\nsweep:\n  module: [DAttention]\n  position: [{ aftr: 3 }]\n');
    expect(f.message).toContain('did you mean `after`?');
    const g = errorOf('name: t\nsweep:\n  module: [DAttention]\n  position: [{ after: x }]\n');
    expect(g.message).toContain('{after: ...} expects a layer index');
    const h = errorOf('name: t\nsweep:\n  module: [DAttention]\n');
    expect(h.message).toContain('key sweep.position');
  });

  it('missing data path and missing model', () => {
    const e = errorOf('name: t\ndata: no/such/data.yaml\n');
    expect(e.message).toContain('line 2, key data: the data set "no/such/data.yaml" does not exist');
    expect(e.message).toContain(path.join(tmp, 'no/such/data.yaml'));
    const m = errorOf('name: t\nmodel: yolov9q.yaml\n');
    expect(m.message).toContain('key model');
    expect(m.message).toContain('neither a built-in model');
    const s = errorOf('name: t\ndata: { synthetic: { clases: 3 } }\n');
    expect(s.message).toContain('unknown key `clases` in data.synthetic; did you mean `classes`?');
    const u = errorOf('name: t\ndata: { synthetik: {} }\n');
    expect(u.message).toContain('did you mean `synthetic`?');
  });

  it('a data.yaml path relative to the experiment file is found', () => {
    fs.mkdirSync(path.join(tmp, 'ds'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'ds', 'data.yaml'), 'path: .\ntrain: images\nval: images\nnames: [a]\n');
    fs.writeFileSync(path.join(tmp, 'exp2.yaml'), 'name: t2\ndata: ds/data.yaml\n');
    const e = loadExperiment(path.join(tmp, 'exp2.yaml'), { registry, cwd: os.tmpdir() });
    expect(e.data).toEqual({ kind: 'ultralytics', path: path.join(tmp, 'ds', 'data.yaml') });
    fs.writeFileSync(path.join(tmp, 'exp3.yaml'), 'name: t3\ndata: ds\n');
    expect(loadExperiment(path.join(tmp, 'exp3.yaml'), { registry }).data).toEqual({
      kind: 'ultralytics',
      path: path.join(tmp, 'ds', 'data.yaml'),
    });
  });

  it('reports several problems, each with its line, in file order', () => {
    const e = errorOf('name: t\ntrain:\n  epochs: 0\n  bach: 8\nbackend: gpu\n');
    expect(e.problems.map((p) => p.line)).toEqual([3, 4, 5]);
    expect(e.message).toContain('key backend: expected one of auto, wasm, cpu, node, tensorflow, webgpu; got the string "gpu"');
    expect(e.message).toContain('3 problems; nothing was run');
  });

  it('a missing file and an empty file are errors', () => {
    expect(() => loadExperiment(path.join(tmp, 'nope.yaml'), { registry })).toThrow(/does not exist/);
    expect(errorOf('').message).toContain('must be a YAML mapping');
    expect(errorOf('description: x\n').message).toContain('the key `name` is missing');
  });

  it('positions', () => {
    expect(parsePosition('neck')).toEqual({ position: 'neck', label: 'neck' });
    expect(parsePosition({ after: [4, 6] })).toEqual({ position: { after: [4, 6] }, label: 'after:[4,6]' });
    expect(parsePosition({ residual: 2 })).toEqual({ position: { residual: 2 }, label: 'residual:2' });
    // a list is a combination applied together; one element is that position
    expect(parsePosition(['neck'])).toEqual({ position: 'neck', label: 'neck' });
    expect(parsePosition(['residual', 'neck'])).toEqual({ position: ['residual', 'neck'], label: 'residual+neck' });
    expect(parsePosition(['pre-SPPF', { after: 2 }])).toEqual({ position: ['pre-SPPF', { after: 2 }], label: 'pre-SPPF+after:2' });
    expect(parsePosition('all-four')).toEqual({
      position: ['residual', 'pre-SPPF', 'neck', 'pre-head'],
      label: 'residual+pre-SPPF+neck+pre-head',
    });
    expect((parsePosition(['neck', 'nek']) as { error: string }).error).toContain(
      'in the combination ["neck","nek"]: unknown position "nek"',
    );
    expect((parsePosition(['neck', 'neck']) as { error: string }).error).toContain('position neck is listed twice');
    expect((parsePosition([]) as { error: string }).error).toContain('an empty list of positions');
    expect((parsePosition([['neck']]) as { error: string }).error).toContain('a combined position lists single positions');
  });

  it('a sweep with combined positions: [[residual, neck]]', () => {
    const e = parse('name: t\nsweep:\n  module: [DAttention]\n  position: [[residual, neck], neck, all-four]\n');
    expect(e.positions.map((p) => p.label)).toEqual(['residual+neck', 'neck', 'residual+pre-SPPF+neck+pre-head']);
  });

  it('suggestions', () => {
    expect(editDistance('epoch', 'epochs')).toBe(1);
    expect(editDistance('lr0', 'rl0')).toBe(1); // transposition
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closest('epoch', ['batch', 'epochs'])).toBe('epochs');
    expect(closest('zzz', ['batch', 'epochs'])).toBeUndefined();
  });
});
