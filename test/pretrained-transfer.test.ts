// Issue 13: weights survive insertion, through the built `pnpm sweep` CLI. A baseline yolov8n is trained one
// epoch, then DAttention at the neck for one epoch twice in one sweep, `pretrained: [none, <the baseline's
// best.safetensors>]`: the pretrained trial reports every base tensor transferred (exact counts: yolov8n
// nc=2 has 298 state-dict tensors, all land, shifted past the new layer 13; only the module's own tensors
// keep their initialisation), nothing is reported missing, and both trials store their validation losses.
//
// NOT asserted (issue 13 asks for it; measured, unmet): "the variant's epoch-1 validation loss clearly below
// the same variant's from scratch". Measured on the node backend (32 train / 16 val images at 64 px, batch 8,
// nbs 8, AdamW lr 0.001, no warm-up or mosaic): the baseline's validation loss (box + cls + dfl) first rises
// for ~5 epochs (3.08 -> 4.67) and then falls (0.78 after 24 epochs); DAttention@neck from scratch: 3.04 after
// epoch 1; from that 24-epoch baseline: 10.17. The randomly initialised DAttention replaces the neck's
// feature map, so the transferred layers after it see other inputs than they were trained on. With the
// 1-epoch baseline of this test: 3.043 from scratch, 3.418 pretrained.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { query, sweepDone, tempDir } from './sweep-helpers.js';

const tmp = tempDir('ablate-pretrained-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const common = `model: yolov8n.yaml
data:
  synthetic: { classes: 2, train: 32, val: 16, imgsz: 64, seed: 0 }
bench: { imgsz: 64, warmup: 1, runs: 3 }
backend: node
`;
const train = (epochs: number) =>
  `train: { epochs: ${epochs}, batch: 8, imgsz: 64, warmup_epochs: 0, close_mosaic: 0, mosaic: 0, nbs: 8, optimizer: AdamW, lr0: 0.001 }\n`;

test('pretrained: a baseline checkpoint into DAttention@neck: 298 of 298 tensors transferred, validation losses stored', async () => {
  const db = path.join(tmp, 'p.db');
  const env = { ABLATE_CACHE_DIR: path.join(tmp, 'cache') };
  const baseFile = path.join(tmp, 'base.yaml');
  fs.writeFileSync(baseFile, `name: base\n${common}${train(1)}baseline: true\n`);
  const base = await sweepDone([baseFile, '--db', db, '--no-progress'], env);
  expect(base.code, base.stderr).toBe(0);
  const baseId = query<{ trial_id: string }>(db, "SELECT trial_id FROM results WHERE sweep = 'base'")[0].trial_id;
  const best = path.join(tmp, 'checkpoints', baseId, 'best.safetensors');
  expect(fs.existsSync(best)).toBe(true);

  const varFile = path.join(tmp, 'var.yaml');
  fs.writeFileSync(
    varFile,
    `name: var\n${common}${train(1)}baseline: false\npretrained: [none, ${best}]\nsweep:\n  module: [DAttention]\n  position: [neck]\n`,
  );
  const v = await sweepDone([varFile, '--db', db, '--no-progress'], env);
  expect(v.code, v.stderr).toBe(0);
  expect(v.stderr).toMatch(
    /DAttention@neck pretrained:best\.safetensors seed 0: best\.safetensors: transferred 298 of 298 tensors \([\d,]+ parameters\)\n/,
  );

  const rows = query<{ trial_id: string; pretrained: string | null; transfer: string | null; transfer_warning: string | null }>(
    db,
    "SELECT trial_id, pretrained, transfer, transfer_warning FROM results WHERE sweep = 'var' ORDER BY pretrained IS NOT NULL",
  );
  expect(rows.map((r) => r.pretrained)).toEqual([null, 'best.safetensors']);
  const [scratch, pre] = rows;
  expect(scratch.transfer).toBeNull();
  expect(pre.transfer).toMatch(/^transferred 298 of 298 tensors \([\d,]+ parameters\)$/);
  expect(pre.transfer_warning).toBeNull();
  const report = JSON.parse(
    query<{ transfer_json: string }>(db, 'SELECT transfer_json FROM trials WHERE id = ?', pre.trial_id)[0].transfer_json,
  );
  expect(report).toMatchObject({ transferred: 298, total: 298, expected: 298, notTransferred: [], warning: null });
  // what kept its initialisation: the inserted module (new layer 13) and nothing else
  expect(report.initialised.length).toBeGreaterThan(0);
  expect(report.initialised.filter((n: string) => !n.startsWith('model.13.'))).toEqual([]);

  const valLoss = (id: string) => {
    const e = query<{ b: number; c: number; d: number }>(
      db,
      'SELECT val_box_loss AS b, val_cls_loss AS c, val_dfl_loss AS d FROM epochs WHERE trial_id = ? AND epoch = 0',
      id,
    )[0];
    return e.b + e.c + e.d;
  };
  const fromScratch = valLoss(scratch.trial_id);
  const fromBase = valLoss(pre.trial_id);
  console.log(`epoch-1 validation loss (box + cls + dfl): from scratch ${fromScratch.toFixed(3)}, pretrained ${fromBase.toFixed(3)}`);
  expect(Number.isFinite(fromScratch) && fromScratch > 0).toBe(true);
  expect(Number.isFinite(fromBase) && fromBase > 0).toBe(true);
}, 900_000);
