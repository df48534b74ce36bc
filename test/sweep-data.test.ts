// `pnpm sweep` end to end, continued: bad experiment files are rejected with one clear paragraph and a
// non-zero exit before anything trains; an Ultralytics-format data set written here (png images, label
// files, one corrupt label line, one unreadable image) trains, and the skipped items are reported.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { query, smoke, sweepDone, tempDir, writeUltralyticsSet } from './sweep-helpers.js';

const tmp = tempDir('ablate-sweep-data-');
const env = { ABLATE_CACHE_DIR: path.join(tmp, 'cache') };
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SMOKE = fs.readFileSync(smoke, 'utf8');

/** Writes a variant of smoke.yaml and returns its path. */
function variant(name: string, edit: (s: string) => string): string {
  const file = path.join(tmp, `${name}.yaml`);
  const text = edit(SMOKE);
  expect(text, `${name}: the edit changed nothing`).not.toBe(SMOKE);
  fs.writeFileSync(file, text);
  return file;
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('pnpm sweep: invalid experiment files', () => {
  const cases: { name: string; edit: (s: string) => string; needle: string; key: string; expect: RegExp }[] = [
    {
      name: 'unknown-module',
      edit: (s) => s.replace('module: [DAttention]', 'module: [DAttn]'),
      needle: 'module: [DAttn]',
      key: 'sweep.module[0]',
      expect:
        /unknown module "DAttn".*Known modules .*DAttention, MSDeformAttn, DoubleAttention, EfficientAttention, FocusedLinearAttention/,
    },
    {
      name: 'unknown-position',
      edit: (s) => s.replace('position: [pre-SPPF]', 'position: [before-head]'),
      needle: 'position: [before-head]',
      key: 'sweep.position[0]',
      expect: /unknown position "before-head".*Known positions: residual, pre-SPPF, neck, pre-head/,
    },
    {
      name: 'misspelt-key',
      edit: (s) => s.replace('  epochs: 2', '  epoch: 2'),
      needle: '  epoch: 2',
      key: 'train.epoch',
      expect: /unknown key `epoch` in train; did you mean `epochs`\?/,
    },
    {
      name: 'wrong-type',
      edit: (s) => s.replace('  batch: 4', '  batch: eight'),
      needle: '  batch: eight',
      key: 'train.batch',
      expect: /expected a positive integer; got the string "eight"/,
    },
    {
      name: 'yaml-syntax',
      edit: (s) => s.replace('  batch: 4', '  batch: [4'),
      needle: '  batch: [4',
      key: '',
      expect: /not valid YAML \(line \d+, column \d+\)/,
    },
    {
      name: 'missing-data',
      edit: (s) => s.replace(/data:\n {2}synthetic: .*\n/, 'data: datasets/nowhere/data.yaml\n'),
      needle: 'data: datasets/nowhere',
      key: 'data',
      expect: /the data set "datasets\/nowhere\/data.yaml" does not exist/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const file = variant(c.name, c.edit);
      const db = path.join(tmp, `${c.name}.db`);
      const r = await sweepDone([file, '--db', db], env);
      expect(r.code).toBe(2);
      const msg = r.stderr.trim();
      // One paragraph naming the file, the line and the key, and what was expected.
      expect(msg.split('\n'), msg).toHaveLength(1);
      expect(msg).toMatch(c.expect);
      expect(msg).toContain(file);
      if (c.name !== 'yaml-syntax') expect(msg).toContain(`line ${lineOf(fs.readFileSync(file, 'utf8'), c.needle)}, key ${c.key}:`);
      else expect(msg).toMatch(/line \d+: not valid YAML/);
      expect(msg).toMatch(/Nothing was run\.$/);
      // Nothing trained, nothing written.
      expect(fs.existsSync(db)).toBe(false);
      expect(r.stdout).toBe('');
    });
  }
});

describe('pnpm sweep: an Ultralytics-format data set', () => {
  test('(d) png images and label files with one corrupt label line and one unreadable image: trains, skipped items reported', async () => {
    const ds = path.join(tmp, 'shapes');
    writeUltralyticsSet(ds, 8, 4, 64);
    // A label line with a class id outside names, and an image that cannot be decoded.
    fs.appendFileSync(path.join(ds, 'labels/train/train_3.txt'), '7 0.5 0.5 0.2 0.2\n');
    fs.writeFileSync(path.join(ds, 'images/train/broken.png'), Buffer.from('this is not a png'));
    const file = path.join(tmp, 'ultra.yaml');
    fs.writeFileSync(
      file,
      SMOKE.replace(/data:\n {2}synthetic: .*\n/, 'data: shapes/data.yaml\n')
        .replace('name: smoke', 'name: ultra')
        .replace('  epochs: 2', '  epochs: 1')
        .replace(/sweep:\n.*\n.*\n/, ''),
    );
    const db = path.join(tmp, 'ultra.db');
    const r = await sweepDone([file, '--db', db], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/data: 2 corrupt items skipped:/);
    expect(r.stderr).toContain(`${path.join(ds, 'labels/train/train_3.txt')}:`);
    expect(r.stderr).toMatch(/train_3\.txt:\d+: .*class/);
    expect(r.stderr).toMatch(/broken\.png: unreadable image/);
    expect(r.stderr).toMatch(/8 train \/ 4 val images, 2 classes: red, blue/);
    const rows = query<{ status: string; module: string | null; fps: number; epochs: number }>(
      db,
      `SELECT * FROM results WHERE sweep = 'ultra'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', module: null, epochs: 1 });
    expect(rows[0].fps).toBeGreaterThan(0);
    const prov = JSON.parse(query<{ provenance_json: string }>(db, 'SELECT provenance_json FROM trials')[0].provenance_json);
    expect(prov.data.skipped).toBe(2);
  });
});
