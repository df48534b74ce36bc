// The `pretrained:` experiment key and `--pretrained`: one checkpoint for every trial or a sweep factor
// ([none, file]); the trial id holds the checkpoint's sha256 (not its name or path), trials carry the
// insertion's index map; missing, unreadable and foreign files are errors naming the key and the file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSafetensors } from '@ablate/core';
import { createRegistry } from '@ablate/yolov8';
import { afterAll, describe, expect, it } from 'vitest';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { ExperimentError, parseExperiment } from './experiment.js';
import { planSweep } from './plan.js';
import { expandTrials } from './trials.js';

const registry = createRegistry(...ATTENTION_PLUGINS);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-pretrained-'));
process.env.ABLATE_CACHE_DIR = path.join(tmp, 'cache');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const data = { kind: 'synthetic' as const, source: {}, fingerprint: 'synthetic-abc', description: 'test set', nc: 2, names: ['a', 'b'] };

/** A small checkpoint with YOLOv8 names (the content only matters for its hash here). */
function checkpoint(name: string, value: number): string {
  const f = path.join(tmp, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, writeSafetensors(new Map([['model.0.conv.weight', { dtype: 'F32', shape: [1], data: new Float32Array([value]) }]])));
  return f;
}
const a = checkpoint('a/best.safetensors', 1);
const b = checkpoint('b/best.safetensors', 2);
// the same bytes as a, under another name: same trial ids
checkpoint('renamed.safetensors', 1);

const text = (pretrained: string) => `name: p
data: { synthetic: { classes: 2 } }
train: { epochs: 1, imgsz: 64 }
${pretrained}
sweep:
  module: [DAttention]
  position: [neck]
`;
const parse = (t: string) => parseExperiment(t, { registry, cwd: tmp, file: path.join(tmp, 'p.yaml'), shownAs: 'p.yaml' });
const expand = (t: string) => expandTrials(parse(t), { registry, data, backend: 'wasm' });

function errorOf(t: string): string {
  try {
    parse(t);
  } catch (e) {
    expect(e).toBeInstanceOf(ExperimentError);
    return (e as Error).message;
  }
  throw new Error('expected the experiment to be rejected');
}

describe('pretrained: key', () => {
  it('absent: every trial from scratch, ids as before (no pretrained entry in the config)', () => {
    const t = expand(text(''));
    expect(t.map((x) => x.variant)).toEqual(['baseline', 'DAttention@neck']);
    expect(t.every((x) => x.config.pretrained === undefined && x.pretrained === undefined)).toBe(true);
    expect(expand(text('pretrained: none')).map((x) => x.id)).toEqual(t.map((x) => x.id));
  });

  it('one checkpoint: every variant starts from it; the id holds its sha256, not its name or folder', () => {
    const scratch = expand(text(''));
    const t = expand(text('pretrained: a/best.safetensors'));
    expect(t.map((x) => x.variant)).toEqual(['baseline', 'DAttention@neck']);
    expect(t[0].config.pretrained).toEqual({ file: 'best.safetensors', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(t[0].pretrained).toEqual({ path: a, baseYaml: expect.stringContaining('backbone') });
    // the variant moves base layer i to indexMap[i]: the neck module is the new layer 13
    expect(t[1].pretrained?.indexMap).toEqual([...Array(13).keys(), ...Array.from({ length: 10 }, (_, i) => 14 + i)]);
    expect(t.map((x) => x.id)).not.toEqual(scratch.map((x) => x.id));
    expect(expand(text('pretrained: renamed.safetensors')).map((x) => x.id)).toEqual(t.map((x) => x.id));
    expect(expand(text('pretrained: b/best.safetensors')).map((x) => x.id)).not.toEqual(t.map((x) => x.id));
  });

  it('a list is a sweep factor: each variant once per checkpoint and none, named apart', () => {
    const t = expand(text('pretrained: [none, a/best.safetensors, b/best.safetensors]'));
    expect(t.map((x) => x.variant)).toEqual([
      'baseline',
      `baseline pretrained:best.safetensors@${t[1].config.pretrained?.sha256.slice(0, 8)}`,
      `baseline pretrained:best.safetensors@${t[2].config.pretrained?.sha256.slice(0, 8)}`,
      'DAttention@neck',
      `DAttention@neck pretrained:best.safetensors@${t[4].config.pretrained?.sha256.slice(0, 8)}`,
      `DAttention@neck pretrained:best.safetensors@${t[5].config.pretrained?.sha256.slice(0, 8)}`,
    ]);
    expect(new Set(t.map((x) => x.id)).size).toBe(6);
    expect(expand(text('pretrained: [none, renamed.safetensors]')).map((x) => x.variant)).toEqual([
      'baseline',
      'baseline pretrained:renamed.safetensors',
      'DAttention@neck',
      'DAttention@neck pretrained:renamed.safetensors',
    ]);
  });

  it('bad values: errors naming the key, the line and the file', () => {
    expect(errorOf(text('pretrained: nope.safetensors'))).toMatch(
      /p\.yaml, line 4, key pretrained: the checkpoint file "nope\.safetensors" does not exist \(looked for .*nope\.safetensors\)/,
    );
    expect(errorOf(text('pretrained: [none, a/best.safetensors, missing.pt]'))).toMatch(
      /key pretrained\[2\]: the checkpoint file "missing\.pt" does not exist/,
    );
    fs.writeFileSync(path.join(tmp, 'junk.safetensors'), 'not a checkpoint');
    expect(errorOf(text('pretrained: junk.safetensors'))).toMatch(
      /key pretrained: the checkpoint file "junk\.safetensors" is unusable: .*junk\.safetensors is not a readable safetensors checkpoint/,
    );
    expect(errorOf(text('pretrained: [a/best.safetensors, renamed.safetensors]'))).toMatch(/is listed twice \(same sha256/);
    expect(errorOf(text('pretrained: []'))).toMatch(/key pretrained: expected a checkpoint of the base model .*; got an empty list/);
    expect(errorOf(text('pretrained: 3'))).toMatch(/key pretrained: expected a checkpoint .*; got the number 3/);
  });

  it('--pretrained replaces the key; a missing file is a usage error naming the option and the file', async () => {
    const file = path.join(tmp, 'p.yaml');
    fs.writeFileSync(file, text('pretrained: [none, a/best.safetensors]'));
    const err: string[] = [];
    const plan = await planSweep({ file, cwd: tmp, pretrained: 'b/best.safetensors' }, (l) => err.push(l));
    if (typeof plan === 'number') throw new Error(err.join('\n'));
    expect(plan.trials.map((x) => [x.variant, x.pretrained?.path])).toEqual([
      ['baseline', b],
      ['DAttention@neck', b],
    ]);
    const bad: string[] = [];
    expect(await planSweep({ file, cwd: tmp, pretrained: 'gone.pt' }, (l) => bad.push(l))).toBe(2);
    expect(bad.join('\n')).toMatch(/--pretrained: the checkpoint file "gone\.pt" does not exist/);
  }, 120_000);
});
