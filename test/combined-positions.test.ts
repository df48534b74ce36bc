// Issue 13: an experiment with `position: [[residual, neck]]` (two positions applied together in one
// variant) plans, trains and stores its trial under the position name `residual+neck` (the built
// `pnpm sweep` CLI, a temp database, 1 epoch at 64 px on a tiny synthetic set).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { query, sweepDone, tempDir } from './sweep-helpers.js';

const tmp = tempDir('ablate-combined-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('position: [[residual, neck]] trains and is stored as residual+neck', async () => {
  const file = path.join(tmp, 'combined.yaml');
  fs.writeFileSync(
    file,
    `name: combined
model: yolov8n.yaml
data:
  synthetic: { classes: 2, train: 8, val: 4, imgsz: 64, seed: 0 }
train: { epochs: 1, batch: 4, imgsz: 64, warmup_epochs: 0, close_mosaic: 0 }
bench: { imgsz: 64, warmup: 1, runs: 5 }
backend: wasm
baseline: false
sweep:
  module: [DAttention]
  position: [[residual, neck]]
`,
  );
  const db = path.join(tmp, 'c.db');
  const r = await sweepDone([file, '--db', db], { ABLATE_CACHE_DIR: path.join(tmp, 'cache') });
  expect(r.code, r.stderr).toBe(0);
  const rows = query<{ module: string; position: string; status: string; params: number; error: string | null }>(
    db,
    "SELECT module, position, status, params, error FROM results WHERE sweep = 'combined'",
  );
  expect(rows.map((x) => [x.module, x.position, x.status, x.error])).toEqual([['DAttention', 'residual+neck', 'ok', null]]);
  const t = query<{ model_yaml: string }>(db, 'SELECT model_yaml FROM trials')[0];
  // both modules are in the trained model: inside C2f 8 and as the new layer 13 after the head's first C2f
  expect(t.model_yaml).toContain('{attn: DAttention, args: []}');
  expect(t.model_yaml).toMatch(/- \[-1, 1, DAttention, \[\]\] {2}# 13/);
  expect(r.stdout).toMatch(/^DAttention@residual\+neck\s+1\s/m);
});
