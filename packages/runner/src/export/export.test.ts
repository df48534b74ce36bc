// `pnpm export`: a trial's YAML (nc set, module row kept) and best weights under PyTorch/Ultralytics
// names load back into ablate strictly (every tensor, equal values); prefixes, the YAML-only format and
// the errors (unknown trial, no weights) are checked.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, loadSafetensorsFile, manualSeed } from '@ablate/core';
import { Tracker } from '@ablate/tracker';
import { buildModel, createRegistry, insertModule } from '@ablate/yolov8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { checkpointDirOf, exportTrial } from './export.js';

const registry = createRegistry(...ATTENTION_PLUGINS);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-export-'));
const db = path.join(tmp, 'results', 'x.db');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const yaml = insertModule('yolov8n.yaml', { name: 'DAttention', args: [] }, 'neck', { registry });

beforeAll(async () => {
  await initBackend('cpu', { log: false });
  const t = new Tracker(db);
  t.upsertSweep({ name: 's', config: {} });
  t.addTrial(
    's',
    { id: 'abc123def456', module: 'DAttention', position: 'neck', seed: 0, config: { model: { nc: 2 } }, modelYaml: yaml },
    0,
  );
  t.addTrial('s', { id: 'abd000000000', module: null, position: null, seed: 0, config: { model: { nc: 2 } }, modelYaml: 'nc: 80\n' }, 1);
  t.close();
  manualSeed(3);
  const m = buildModel(yaml, { nc: 2, registry });
  fs.mkdirSync(checkpointDirOf(db, 'abc123def456'), { recursive: true });
  m.saveWeights(path.join(checkpointDirOf(db, 'abc123def456'), 'best.safetensors'), { epoch: '2', fitness: '0.5' });
  m.dispose();
});

describe('pnpm export', () => {
  it('YAML + weights under Ultralytics names; they load back into ablate strictly, values equal', () => {
    const out = path.join(tmp, 'out');
    const r = exportTrial({ db, trial: 'abc1', out });
    expect(r.trial).toBe('abc123def456');
    expect(r.files).toEqual([path.join(out, 'abc123def456.yaml'), path.join(out, 'abc123def456.safetensors')]);
    const text = fs.readFileSync(r.files[0], 'utf8');
    expect(text).toMatch(/^# ablate trial abc123def456: DAttention at neck, seed 0, nc 2/);
    const doc = parseYaml(text) as { nc: number; head: unknown[][] };
    expect(doc.nc).toBe(2);
    expect(doc.head.some((row) => row[2] === 'DAttention')).toBe(true);
    const st = loadSafetensorsFile(r.files[1]);
    expect(st.metadata).toMatchObject({
      format: 'pt',
      'ablate.trial': 'abc123def456',
      'ablate.variant': 'DAttention@neck',
      'ablate.epoch': '2',
    });
    expect([...st.tensors.keys()].every((k) => /^model\.\d+\./.test(k))).toBe(true);
    expect(r.tensors).toBe(st.tensors.size);
    const m = buildModel(text, { registry });
    try {
      expect(m.nc).toBe(2);
      const w = m.loadWeights(r.files[1], { strict: true });
      expect(w.loaded.length).toBe(st.tensors.size);
      const name = 'model.23.cv3.0.2.bias';
      const sd = m.stateDict();
      expect(Array.from(sd.get(name)?.dataSync() ?? [])).toEqual(Array.from(st.tensors.get(name)?.data as Float32Array));
      for (const t of sd.values()) t.dispose();
    } finally {
      m.dispose();
    }
  });

  it('--format yaml writes the YAML alone; errors name the trial and what is missing', () => {
    const out = path.join(tmp, 'yaml-only');
    expect(exportTrial({ db, trial: 'abc123def456', out, format: 'yaml' }).files).toEqual([path.join(out, 'abc123def456.yaml')]);
    expect(() => exportTrial({ db, trial: 'ab', out })).toThrow(/trial "ab" is ambiguous: abc123def456, abd000000000/);
    expect(() => exportTrial({ db, trial: 'zzz', out })).toThrow(
      /no trial "zzz" in .*x\.db; recent trials: .*abc123def456 \(DAttention@neck\)/,
    );
    expect(() => exportTrial({ db, trial: 'abd', out })).toThrow(
      /trial abd000000000 \(pending\) has no best weights: .*best\.safetensors does not exist/,
    );
    expect(() => exportTrial({ db: path.join(tmp, 'none.db'), trial: 'x', out })).toThrow(/the results database .*none\.db does not exist/);
  });
});
