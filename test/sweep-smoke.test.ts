// `pnpm sweep experiments/smoke.yaml` end to end (the built CLI as a child process, a temp database and
// a temp data cache): a full run and a re-run that trains nothing; kill -9 in the middle of a trial, then
// the same command completes without duplicates and without touching earlier results; SIGINT leaves the
// running trial `interrupted` (exit 130) and the same command resumes it.
// (a) runs on wasm (`--backend wasm`, 92 s idle), the backend of every machine without native TensorFlow;
// (b) and (e) on the experiment's `backend: auto` (node where set up, as in CI: 16 s a sweep) with 5 epochs,
// so that the kill and the interrupt land with several epochs still to go however loaded the machine is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { pidAlive, query, smoke, sweep, sweepDone, tempDir, until } from './sweep-helpers.js';

const tmp = tempDir('ablate-sweep-smoke-');
const env = { ABLATE_CACHE_DIR: path.join(tmp, 'cache') };
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface ResultRow {
  trial_id: string;
  module: string | null;
  position: string | null;
  seed: number;
  status: string;
  map50: number | null;
  map50_95: number | null;
  fps: number | null;
  latency_ms: number | null;
  params: number | null;
  gflops: number | null;
  epochs: number;
  train_seconds: number | null;
  error: string | null;
  finished_at: string | null;
  coco_ap: number | null;
  ap_small: number | null;
  ap_medium: number | null;
  ap_large: number | null;
  ar100: number | null;
}

const results = (db: string) => query<ResultRow>(db, `SELECT * FROM results WHERE sweep = 'smoke' ORDER BY trial_id`);
const epochRows = (db: string) => query<{ trial_id: string; epoch: number }>(db, 'SELECT * FROM epochs ORDER BY trial_id, epoch');

function expectComplete(db: string, epochs = 2) {
  const rows = results(db);
  expect(rows).toHaveLength(2);
  const base = rows.find((r) => r.module === null) as ResultRow;
  const dat = rows.find((r) => r.module === 'DAttention') as ResultRow;
  expect(base.position).toBeNull();
  expect(dat.position).toBe('pre-SPPF');
  for (const r of rows) {
    expect(r.status, `${r.trial_id}: ${r.error}`).toBe('ok');
    expect(r.fps).toBeGreaterThan(0);
    expect(r.latency_ms).toBeGreaterThan(0);
    expect(r.epochs).toBe(epochs);
    expect(r.params).toBeGreaterThan(2_900_000);
    expect(r.gflops).toBeGreaterThan(0);
    expect(r.train_seconds).toBeGreaterThan(0);
    expect(r.map50).not.toBeNull();
    expect(r.error).toBeNull();
    // COCO evaluation of the best epoch: the 160 px validation images have small, medium and large objects,
    // so pycocotools gives a number (not -1 / NULL) for every area range.
    for (const k of ['coco_ap', 'ap_small', 'ap_medium', 'ap_large', 'ar100'] as const) {
      expect(r[k], `${r.trial_id} ${k}`).not.toBeNull();
      expect(r[k]).toBeGreaterThanOrEqual(0);
      expect(r[k]).toBeLessThanOrEqual(1);
    }
  }
  // Per-class AP rows of the best epoch, one per class of the 2-class set.
  const perClass = query<{ trial_id: string; class_id: number; n_gt: number }>(
    db,
    'SELECT * FROM coco_class_ap ORDER BY trial_id, class_id',
  );
  expect(perClass.map((p) => `${p.trial_id}:${p.class_id}`)).toEqual(rows.flatMap((r) => [`${r.trial_id}:0`, `${r.trial_id}:1`]).sort());
  for (const p of perClass) expect(p.n_gt).toBeGreaterThan(0);
  console.log(
    `smoke COCO: ${rows.map((r) => `${r.module ?? 'baseline'} AP ${r.coco_ap} APs ${r.ap_small} APm ${r.ap_medium} APl ${r.ap_large} AR100 ${r.ar100}`).join('; ')}`,
  );
  expect(dat.params).toBeGreaterThan(base.params as number);
  // One epoch row per trial and epoch, no duplicates.
  const ep = epochRows(db);
  expect(ep.map((e) => `${e.trial_id}:${e.epoch}`).sort()).toEqual(
    rows.flatMap((r) => Array.from({ length: epochs }, (_, e) => `${r.trial_id}:${e}`)).sort(),
  );
  return rows;
}

describe('pnpm sweep experiments/smoke.yaml', () => {
  test('(a) a full run stores every trial; running again trains nothing and says so', async () => {
    const db = path.join(tmp, 'a.db');
    const r = await sweepDone([smoke, '--backend', 'wasm', '--db', db], env);
    expect(r.code, r.stderr).toBe(0);
    const rows = expectComplete(db);
    expect(r.stdout).toMatch(/variant\s+seeds\s+mAP50-95 \(n\)\s+Δ mAP50-95\s+Δ 95% CI\s+p \(Holm\)\s+mAP50\s+P\s+R\s+FPS\s+Δ FPS/);
    expect(r.stdout).toMatch(/Not testable: DAttention@pre-SPPF \(1 seed: no test possible\)/);
    expect(r.stdout).toMatch(/^baseline\s+1\s/m);
    expect(r.stdout).toMatch(/^DAttention@pre-SPPF\s+1\s/m);
    // Provenance and the stored model YAML.
    const t = query<{ provenance_json: string; model_yaml: string; config_json: string }>(
      db,
      'SELECT * FROM trials WHERE module IS NOT NULL',
    )[0];
    const prov = JSON.parse(t.provenance_json);
    expect(prov.seed).toBe(0);
    expect(prov.backend.name).toBe('wasm');
    expect(prov.cpu.model.length).toBeGreaterThan(0);
    expect(Object.keys(prov.packages)).toContain('@ablate/runner');
    expect(prov.git).toHaveProperty('dirty');
    expect(t.model_yaml).toMatch(/DAttention/);
    expect(JSON.parse(t.config_json).train.epochs).toBe(2);

    const again = await sweepDone([smoke, '--backend', 'wasm', '--db', db], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/nothing to train: all 2 trials of smoke are already done/);
    expect(again.stderr.match(/already done \(mAP50/g)).toHaveLength(2);
    expect(again.stderr).not.toMatch(/: starting/);
    expect(results(db)).toEqual(rows);
  });

  test('(b) kill -9 in the middle of a trial, then the same command completes; nothing duplicated, earlier results untouched', async () => {
    const db = path.join(tmp, 'b.db');
    const args = [smoke, '--epochs', '5', '--db', db];
    const run = sweep(args, env);
    // The second trial has finished its first epoch: the first trial is done, the second has 4 epochs to go.
    await run.waitFor(/DAttention@pre-SPPF seed 0 {2}epoch 1\/5/);
    run.proc.kill('SIGKILL');
    await run.exited;
    const before = results(db);
    const first = before.find((r) => r.module === null) as ResultRow;
    const second = before.find((r) => r.module !== null) as ResultRow;
    expect(first.status).toBe('ok');
    expect(second.status).toBe('running');
    const firstEpochs = query(db, 'SELECT * FROM epochs WHERE trial_id = ?', first.trial_id);
    // The orphaned worker notices its parent is gone and ends.
    const worker = JSON.parse(
      query<{ provenance_json: string }>(db, 'SELECT provenance_json FROM trials WHERE id = ?', second.trial_id)[0].provenance_json,
    ).workerPid as number;
    expect(await until(() => !pidAlive(worker), 30_000)).toBe(true);

    const r = await sweepDone(args, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`repaired 1 trial left running by a process that ended \\(${second.trial_id}\\)`));
    expect(r.stderr).toMatch(new RegExp(`trial ${first.trial_id} baseline seed 0: already done`));
    expect(r.stderr).toMatch(new RegExp(`trial ${second.trial_id} DAttention@pre-SPPF seed 0: resuming after epoch [1-4]\\b`));
    const after = expectComplete(db, 5);
    expect(after.find((x) => x.trial_id === first.trial_id)).toEqual(first);
    expect(query(db, 'SELECT * FROM epochs WHERE trial_id = ?', first.trial_id)).toEqual(firstEpochs);
    expect(query(db, 'SELECT COUNT(*) AS n FROM trials')[0].n).toBe(2);
  });

  test('(e) Ctrl-C (SIGINT): the running trial becomes interrupted, exit 130; the same command resumes and completes', async () => {
    const db = path.join(tmp, 'e.db');
    const args = [smoke, '--epochs', '5', '--db', db];
    const run = sweep(args, env);
    await run.waitFor(/baseline seed 0 {2}epoch 1\/5/);
    run.proc.kill('SIGINT');
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(130);
    expect(run.stderr()).toMatch(/SIGINT: stopping/);
    const rows = results(db);
    const base = rows.find((r) => r.module === null) as ResultRow;
    const dat = rows.find((r) => r.module !== null) as ResultRow;
    // Stopped after the current batch: the epochs finished are kept (at least 1 and fewer than 5), the
    // trial resumes after the last of them.
    expect(base.status).toBe('interrupted');
    expect(base.epochs).toBeGreaterThanOrEqual(1);
    expect(base.epochs).toBeLessThan(5);
    expect(dat.status).toBe('pending');
    expect(query(db, `SELECT COUNT(*) AS n FROM trials WHERE status = 'running'`)[0].n).toBe(0);

    const r = await sweepDone(args, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`baseline seed 0: resuming after epoch ${base.epochs}\\b`));
    expectComplete(db, 5);
  });
});
