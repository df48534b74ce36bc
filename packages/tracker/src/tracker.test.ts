import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { MIGRATIONS, RESULTS_COLUMNS as VIEW_COLUMNS } from './schema.js';
import { Tracker } from './tracker.js';

const NEWEST = Math.max(...MIGRATIONS.map((m) => m.version));

const tmp = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tracker-')), 'sub', 'ablate.db');

const RESULTS_COLUMNS = [
  'sweep',
  'trial_id',
  'module',
  'position',
  'seed',
  'status',
  'map50',
  'map50_95',
  'precision',
  'recall',
  'fitness',
  'fps',
  'latency_ms',
  'params',
  'gflops',
  'epochs',
  'train_seconds',
  'error',
  // migration 3 (COCO at the best epoch)
  'coco_ap',
  'coco_ap50',
  'coco_ap75',
  'ap_small',
  'ap_medium',
  'ap_large',
  'ar1',
  'ar10',
  'ar100',
  'ar_small',
  'ar_medium',
  'ar_large',
  // migration 5 (pretrained checkpoints)
  'pretrained',
  'pretrained_sha256',
  'transfer',
  'transfer_warning',
];

describe('Tracker', () => {
  test('creates the file, WAL mode, migrations once; results view has the contract columns', () => {
    const file = tmp();
    const t = new Tracker(file);
    expect(t.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(t.schemaVersion()).toBe(NEWEST);
    expect(t.migrate()).toEqual([]);
    const cols = (t.db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name);
    for (const c of RESULTS_COLUMNS) expect(cols).toContain(c);
    t.close();
    const again = new Tracker(file);
    expect(again.schemaVersion()).toBe(NEWEST);
    again.close();
  });

  test('a version-1 database is upgraded in place: migration 2 adds the FPS method columns, stored and in the view', () => {
    const file = tmp();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    db.exec(MIGRATIONS[0].sql);
    db.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(MIGRATIONS[0].name, 'x');
    db.prepare("INSERT INTO trials (id, seed, config_json, status, fps) VALUES ('old', 0, '{}', 'ok', 50)").run();
    db.close();
    const t = new Tracker(file);
    expect(t.schemaVersion()).toBe(NEWEST);
    t.upsertSweep({ name: 's', config: {} });
    t.addTrial('s', { id: 'old', module: null, position: null, seed: 0, config: {} }, 0);
    t.addTrial('s', { id: 'new', module: null, position: null, seed: 1, config: {} }, 1);
    t.finishTrial('new', { fps: 80, fpsFused: true, fpsNms: false });
    const rows = t.db.prepare('SELECT trial_id, fps, fps_fused, fps_nms FROM results ORDER BY trial_id').all();
    expect(rows).toEqual([
      { trial_id: 'new', fps: 80, fps_fused: 1, fps_nms: 0 },
      { trial_id: 'old', fps: 50, fps_fused: null, fps_nms: null },
    ]);
    t.close();
  });

  test('the results view is recreated from RESULTS_COLUMNS when its stored definition differs, else left alone', () => {
    const file = tmp();
    const t = new Tracker(file);
    const cols = () => (t.db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name);
    expect(cols()).toEqual(VIEW_COLUMNS.map(([name]) => name));
    // A database whose view is an older definition (e.g. migration 1's alone) gets the current one on open.
    t.db.exec('DROP VIEW results; CREATE VIEW results AS SELECT t.id AS trial_id FROM trials t');
    t.close();
    const again = new Tracker(file);
    const viewSql = () => (again.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'results'").get() as { sql: string }).sql;
    expect((again.db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name)).toEqual(
      VIEW_COLUMNS.map(([name]) => name),
    );
    const before = viewSql();
    again.migrate();
    expect(viewSql()).toBe(before);
    again.close();
  });

  test('a trial goes pending -> running -> ok with epochs; the baseline has NULL module and position', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's1', config: { a: 1 } });
    const base = t.addTrial('s1', { id: 'b0', module: null, position: null, seed: 0, config: {} }, 0);
    expect(base.status).toBe('pending');
    t.addTrial('s1', { id: 'd0', module: 'DAttention', position: 'neck', moduleArgs: [], seed: 0, config: {} }, 1);
    t.markRunning('b0', { backend: 'wasm', threads: 1, params: 3157200, gflops: 0.35 });
    for (let e = 0; e < 3; e++) t.recordEpoch('b0', { epoch: e, boxLoss: 1 / (e + 1), map50: 0.1 * e, seconds: 2 });
    t.recordEpoch('b0', { epoch: 2, boxLoss: 0.3, map50: 0.25, seconds: 2 }); // a resumed epoch replaces its row
    t.finishTrial('b0', {
      bestEpoch: 2,
      map50: 0.25,
      map50_95: 0.1,
      precision: 0.5,
      recall: 0.4,
      fitness: 0.115,
      fps: 40,
      latencyP50Ms: 25,
      trainSeconds: 6,
    });
    const rows = t.db.prepare('SELECT * FROM results WHERE sweep = ? ORDER BY trial_id').all('s1') as Record<string, unknown>[];
    expect(rows.map((r) => [r.trial_id, r.status, r.module, r.position])).toEqual([
      ['b0', 'ok', null, null],
      ['d0', 'pending', 'DAttention', 'neck'],
    ]);
    expect(rows[0]).toMatchObject({ map50: 0.25, epochs: 3, fps: 40, latency_ms: 25, params: 3157200, error: null });
    expect(t.epochsOf('b0').map((e) => e.map50)).toEqual([0, 0.1, 0.25]);
    t.close();
  });

  test('COCO numbers of the best epoch: trials columns, results view, per-class table; -1 stored as NULL; cleared on a fresh start', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    t.addTrial('s', { id: 'x', module: null, position: null, seed: 0, config: {} }, 0);
    t.markRunning('x');
    const stats = {
      AP: 0.3,
      AP50: 0.6,
      AP75: 0.25,
      APs: 0.1,
      APm: 0.35,
      APl: -1,
      AR1: 0.2,
      AR10: 0.4,
      AR100: 0.45,
      ARs: 0.15,
      ARm: 0.5,
      ARl: -1,
    };
    const perClass = [
      { cls: 0, name: 'circle', ap: 0.4, nGt: 7 },
      { cls: 1, name: 'square', ap: -1, nGt: 0 },
    ];
    t.finishTrial('x', { map50: 0.5, coco: { stats, perClass } });
    const row = t.db.prepare('SELECT * FROM results WHERE trial_id = ?').get('x') as Record<string, unknown>;
    expect(row).toMatchObject({
      map50: 0.5,
      coco_ap: 0.3,
      coco_ap50: 0.6,
      coco_ap75: 0.25,
      ap_small: 0.1,
      ap_medium: 0.35,
      ap_large: null,
    });
    expect(row).toMatchObject({ ar1: 0.2, ar10: 0.4, ar100: 0.45, ar_small: 0.15, ar_medium: 0.5, ar_large: null });
    const c = t.cocoOf('x');
    expect(c?.stats.APl).toBeNull();
    expect(c?.stats.AR100).toBe(0.45);
    expect(c?.perClass).toEqual([
      { class_id: 0, name: 'circle', ap: 0.4, n_gt: 7 },
      { class_id: 1, name: 'square', ap: null, n_gt: 0 },
    ]);
    // finishing again replaces the rows; a fresh start clears them
    t.finishTrial('x', { map50: 0.5, coco: { stats, perClass: perClass.slice(0, 1) } });
    expect(t.cocoOf('x')?.perClass).toHaveLength(1);
    t.clearEpochs('x');
    expect(t.cocoOf('x')).toBeNull();
    expect((t.db.prepare('SELECT ar100 FROM results WHERE trial_id = ?').get('x') as { ar100: unknown }).ar100).toBeNull();
    t.close();
  });

  test('a version-1 database gains the COCO columns and table, keeping its rows', () => {
    const file = tmp();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const m1 = MIGRATIONS.find((m) => m.version === 1) as (typeof MIGRATIONS)[number];
    db.exec(m1.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(m1.name, 'then');
    db.prepare("INSERT INTO sweeps (name, config_json) VALUES ('old', '{}')").run();
    db.prepare("INSERT INTO trials (id, seed, config_json, status, map50) VALUES ('o', 0, '{}', 'ok', 0.7)").run();
    db.prepare("INSERT INTO sweep_trials VALUES ('old', 'o', 0)").run();
    db.close();
    const t = new Tracker(file);
    expect(t.schemaVersion()).toBe(NEWEST);
    expect(t.db.prepare('SELECT map50, ap_small, ar100 FROM results').get()).toEqual({ map50: 0.7, ap_small: null, ar100: null });
    expect(t.cocoOf('o')).toBeNull();
    t.close();
  });

  test('validation losses per epoch (migration 5): stored and read back; a version-4 database gains NULL columns, keeping its epochs', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    t.addTrial('s', { id: 'v', module: null, position: null, seed: 0, config: {} }, 0);
    t.recordEpoch('v', { epoch: 0, boxLoss: 2, valBoxLoss: 1.5, valClsLoss: 3.25, valDflLoss: 1.125 });
    t.recordEpoch('v', { epoch: 1, boxLoss: 1.8 });
    expect(t.epochsOf('v').map((e) => [e.valBoxLoss, e.valClsLoss, e.valDflLoss])).toEqual([
      [1.5, 3.25, 1.125],
      [null, null, null],
    ]);
    t.close();

    const file = tmp();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 4)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 'then');
    }
    db.prepare("INSERT INTO trials (id, seed, config_json, status) VALUES ('o', 0, '{}', 'ok')").run();
    db.prepare("INSERT INTO epochs (trial_id, epoch, box_loss) VALUES ('o', 0, 0.5)").run();
    db.close();
    const up = new Tracker(file);
    expect(up.schemaVersion()).toBe(NEWEST);
    expect(up.epochsOf('o').map((e) => [e.boxLoss, e.valBoxLoss])).toEqual([[0.5, null]]);
    up.close();
  });

  test('an identical trial in a second sweep is shared, not duplicated', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 'a', config: {} });
    t.upsertSweep({ name: 'b', config: {} });
    t.addTrial('a', { id: 'x', module: null, position: null, seed: 0, config: {} }, 0);
    t.markRunning('x');
    t.finishTrial('x', { map50: 0.5 });
    const row = t.addTrial('b', { id: 'x', module: null, position: null, seed: 0, config: {} }, 0);
    expect(row.status).toBe('ok');
    expect((t.db.prepare('SELECT COUNT(*) AS n FROM trials').get() as { n: number }).n).toBe(1);
    expect((t.db.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }).n).toBe(2);
    t.close();
  });

  test('failed and interrupted trials keep their reason; repairStale fixes running trials of dead processes', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    for (const id of ['f', 'i', 'dead', 'alive']) t.addTrial('s', { id, module: 'M', position: 'neck', seed: 0, config: {} }, 0);
    t.markRunning('f');
    t.failTrial('f', 'loss is NaN at epoch 3');
    t.markRunning('i');
    t.interruptTrial('i', 'Ctrl-C');
    t.markRunning('dead', { pid: 999999 });
    t.markRunning('alive', { pid: process.pid });
    expect(t.repairStale()).toEqual(['dead']);
    const st = Object.fromEntries(
      (t.db.prepare('SELECT id, status, error FROM trials').all() as { id: string; status: string; error: string }[]).map((r) => [
        r.id,
        [r.status, r.error],
      ]),
    );
    expect(st).toEqual({
      f: ['failed', 'loss is NaN at epoch 3'],
      i: ['interrupted', 'Ctrl-C'],
      dead: ['interrupted', 'the process running it ended unexpectedly'],
      alive: ['running', null],
    });
    t.resetTrial('f');
    expect(t.getTrial('f')?.status).toBe('pending');
    t.close();
  });

  test('claimTrial: status check and lease in one transaction; a live lease refuses, an expired one is taken over; ends release it', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    for (const id of ['a', 'b']) t.addTrial('s', { id, module: null, position: null, seed: 0, config: {} }, 0);
    const c1 = t.claimTrial('a', 'one', 1000, { now: 10_000, runner: 'local' });
    expect(c1.claimed).toBe(true);
    expect(c1.row).toMatchObject({ status: 'running', lease_owner: 'one', lease_expires: 11_000, runs: 1, runner: 'local' });
    // Another owner while the lease lives: refused; its own owner again: fine (no second run counted as new owner).
    expect(t.claimTrial('a', 'two', 1000, { now: 10_500 })).toMatchObject({ claimed: false, reason: 'leased' });
    // Heartbeat: the lease moves on; a lease someone else holds is reported lost.
    expect(t.renewLeases(['a', 'b'], 'one', 1000, 10_900)).toEqual(['b']);
    expect(t.claimTrial('a', 'two', 1000, { now: 11_500 })).toMatchObject({ claimed: false, reason: 'leased' });
    // Expired (the owner died without a word): taken over.
    const c2 = t.claimTrial('a', 'two', 1000, { now: 12_000 });
    expect(c2).toMatchObject({ claimed: true, row: { lease_owner: 'two', runs: 2 } });
    t.finishTrial('a', { map50: 0.5 });
    expect(t.getTrial('a')).toMatchObject({ status: 'ok', lease_owner: null, lease_expires: null });
    expect(t.claimTrial('a', 'three', 1000)).toMatchObject({ claimed: false, reason: 'ok' });
    t.claimTrial('b', 'one', 1000);
    t.failTrial('b', 'boom');
    expect(t.claimTrial('b', 'two', 1000)).toMatchObject({ claimed: false, reason: 'failed' });
    expect(t.claimTrial('b', 'two', 1000, { retryFailed: true }).claimed).toBe(true);
    t.noteRerun('b', true, 'host:1');
    expect(t.getTrial('b')).toMatchObject({ runs: 3, restarts: 1, runner: 'host:1' });
    t.interruptTrial('b', 'stop');
    expect(t.getTrial('b')).toMatchObject({ status: 'interrupted', lease_owner: null });
    t.close();
  });

  test('read-only opening refuses writes and missing files; a newer schema is refused', () => {
    const file = tmp();
    const w = new Tracker(file);
    w.upsertSweep({ name: 's', config: {} });
    w.close();
    const r = new Tracker(file, { readonly: true });
    expect(() => r.upsertSweep({ name: 't', config: {} })).toThrow(/readonly/);
    r.close();
    expect(() => new Tracker(path.join(path.dirname(file), 'none.db'), { readonly: true })).toThrow(/does not exist/);
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations VALUES (99, ?, ?)').run('future', 'x');
    db.close();
    expect(() => new Tracker(file)).toThrow(new RegExp(`schema version 99, newer than this program knows \\(${NEWEST}\\)`));
  });

  test("clearEpochs forgets a fresh start's epochs; unlinkOtherTrials keeps the trials; finishedCosts lists ok trials", () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    for (const id of ['a', 'b', 'c']) t.addTrial('s', { id, module: 'M', position: 'neck', seed: 0, config: {} }, 0);
    t.markRunning('a');
    t.recordEpoch('a', { epoch: 0, map50: 0.1 });
    t.recordEpoch('a', { epoch: 1, map50: 0.2 });
    t.clearEpochs('a');
    expect(t.epochsOf('a')).toEqual([]);
    expect(t.getTrial('a')?.epochs_done).toBe(0);
    t.markRunning('b');
    t.finishTrial('b', { trainSeconds: 12 });
    expect(t.finishedCosts().map((r) => r.train_seconds)).toEqual([12]);
    expect(t.unlinkOtherTrials('s', ['a'])).toBe(2);
    expect(t.trialsOfSweep('s').map((r) => r.id)).toEqual(['a']);
    expect((t.db.prepare('SELECT COUNT(*) AS n FROM trials').get() as { n: number }).n).toBe(3);
    expect(t.unlinkOtherTrials('s', [])).toBe(1);
    t.close();
  });

  test('kill -9 in the middle of a stream of writes leaves a consistent database', async () => {
    const file = tmp();
    new Tracker(file).close();
    // The child runs plain JS: transpile the two sources next to node_modules so imports resolve.
    const ts = (await import('typescript')).default;
    const out = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'node_modules', '.cache', `kill-test-${process.pid}`);
    fs.mkdirSync(out, { recursive: true });
    for (const f of ['tracker.ts', 'schema.ts']) {
      const code = fs.readFileSync(new URL(`./${f}`, import.meta.url), 'utf8');
      const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      fs.writeFileSync(path.join(out, f.replace('.ts', '.js')), js);
    }
    const src = path.join(out, 'tracker.js');
    // A child process writes trials+epochs in a loop; we SIGKILL it mid-stream.
    const script = `
      const { Tracker } = await import(${JSON.stringify(src)});
      const t = new Tracker(${JSON.stringify(file)});
      t.upsertSweep({ name: 'k', config: {} });
      for (let i = 0; ; i++) {
        t.addTrial('k', { id: 't' + i, module: 'M', position: 'neck', seed: i, config: { i } }, i);
        t.markRunning('t' + i);
        for (let e = 0; e < 5; e++) t.recordEpoch('t' + i, { epoch: e, map50: e / 10 });
        t.finishTrial('t' + i, { map50: 0.4 });
        if (i === 20) process.stdout.write('go\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('exit', () => reject(new Error(`child exited early: ${err}`)));
    });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const t = new Tracker(file);
    expect(t.db.pragma('integrity_check', { simple: true })).toBe('ok');
    const trials = t.db.prepare('SELECT id, status, epochs_done FROM trials').all() as {
      id: string;
      status: string;
      epochs_done: number;
    }[];
    expect(trials.length).toBeGreaterThan(20);
    // Every finished trial has all its epochs; an epoch count always matches the epochs table.
    for (const r of trials) {
      const n = (t.db.prepare('SELECT COUNT(*) AS n FROM epochs WHERE trial_id = ?').get(r.id) as { n: number }).n;
      expect(n).toBe(r.epochs_done);
      if (r.status === 'ok') expect(n).toBe(5);
    }
    expect(t.repairStale().length).toBeLessThanOrEqual(1);
    expect((t.db.prepare(`SELECT COUNT(*) AS n FROM trials WHERE status = 'running'`).get() as { n: number }).n).toBe(0);
    t.close();
    fs.rmSync(out, { recursive: true, force: true });
  });
});

describe('trial artefacts (migration 4)', () => {
  test('stored with the result, relative to the database folder; a fresh start removes them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracker-art-'));
    const file = path.join(dir, 'r.db');
    const t = new Tracker(file);
    try {
      t.upsertSweep({ name: 's', config: {} });
      t.addTrial('s', { id: 'a', module: null, position: null, seed: 0, config: {} }, 0);
      expect(t.getArtefacts('a')).toBeNull();
      const ref = {
        dir: path.join(dir, 'checkpoints', 'a', 'artefacts'),
        epoch: 1,
        images: 8,
        modules: [{ layer: 9, module: 'DAttention', picture: true }],
        bytes: 10,
      };
      t.finishTrial('a', { map50: 0.5, artefacts: ref });
      expect(t.getArtefacts('a')).toEqual({ ...ref, dir: path.join('checkpoints', 'a', 'artefacts') });
      t.clearEpochs('a');
      expect(t.getArtefacts('a')).toBeNull();
    } finally {
      t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('migration 5: the pretrained checkpoint and its transfer report per trial, validation losses per epoch', () => {
    const t = new Tracker(tmp());
    t.upsertSweep({ name: 's', config: {} });
    t.addTrial(
      's',
      {
        id: 'p',
        module: 'DAttention',
        position: 'neck',
        seed: 0,
        config: {},
        pretrained: { file: 'best.safetensors', sha256: 'ab'.repeat(32) },
      },
      0,
    );
    t.addTrial('s', { id: 'q', module: 'DAttention', position: 'neck', seed: 0, config: {} }, 1);
    const report = {
      transferred: 262,
      total: 298,
      parameters: 3000000,
      expected: 298,
      notTransferred: [{ name: 'model.22.cv3.0.2.weight', reason: 'shape [80,64,1,1] but the model has [3,64,1,1]' }],
      initialised: ['model.13.conv.weight'],
      summary: 'transferred 262 of 298 tensors (3,000,000 parameters)',
      warning: 'fewer tensors than expected: 262 transferred, the base model has 298',
    };
    t.markRunning('p', { transfer: report });
    t.markRunning('q', {});
    expect(t.transferOf('p')).toEqual(report);
    expect(t.transferOf('q')).toBeNull();
    const rows = t.db
      .prepare('SELECT trial_id, pretrained, pretrained_sha256, transfer, transfer_warning FROM results ORDER BY trial_id')
      .all();
    expect(rows).toEqual([
      {
        trial_id: 'p',
        pretrained: 'best.safetensors',
        pretrained_sha256: 'ab'.repeat(32),
        transfer: report.summary,
        transfer_warning: report.warning,
      },
      { trial_id: 'q', pretrained: null, pretrained_sha256: null, transfer: null, transfer_warning: null },
    ]);
    t.recordEpoch('p', { epoch: 0, boxLoss: 1, valBoxLoss: 2.5, valClsLoss: 3.5, valDflLoss: 1.25 });
    expect(t.epochsOf('p')[0]).toMatchObject({ valBoxLoss: 2.5, valClsLoss: 3.5, valDflLoss: 1.25 });
    t.close();
  });
});
