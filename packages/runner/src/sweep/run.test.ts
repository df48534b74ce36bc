// The sweep orchestrator with scripted workers (a small .mjs speaking the worker protocol instead of
// training): failed and crashed trials are stored with their error while the sweep goes on (exit 1),
// re-runs skip them unless --retry-failed, parallel workers, --dry-run writes nothing, overrides.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tracker } from '@ablate/tracker';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, runSweep } from './run.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-run-'));
process.env.ABLATE_CACHE_DIR = path.join(tmp, 'cache');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * A fake worker: reports `started`, then one epoch per planned epoch (waiting for each ack), then the
 * outcome the variant asks for in FAKE_PLAN (a JSON map variant -> 'ok' | 'fail' | 'crash'). Records
 * its start/end times in FAKE_LOG to check parallelism.
 */
const FAKE = `
const plan = JSON.parse(process.env.FAKE_PLAN || '{}');
const log = process.env.FAKE_LOG;
const fs = await import('node:fs');
const acks = new Map();
process.on('message', async (m) => {
  if (m.type === 'ack') { acks.get(m.seq)?.(); return; }
  if (m.type !== 'run') return;
  const t = m.job.trial;
  const what = plan[t.variant] ?? 'ok';
  const rec = (ev) => log && fs.appendFileSync(log, JSON.stringify({ ev, id: t.id, t: Date.now(), mode: m.job.mode, resume: m.job.resume, threads: m.job.threads }) + '\\n');
  rec('start');
  if (m.job.mode === 'bench') {
    await new Promise((r) => setTimeout(r, 50));
    rec('end');
    process.send({ type: 'benched', id: t.id, fps: 200, p50Ms: 5, p90Ms: 6 });
    setTimeout(() => process.exit(0), 20);
    return;
  }
  process.send({ type: 'started', id: t.id, batches: 1, skipped: [], start: { pid: process.pid, backend: 'fake', threads: m.job.threads, params: 123, gflops: 0.5, gflops640: 50 } });
  for (let e = 1; e <= t.config.train.epochs; e++) {
    await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => { acks.set(e, r); process.send({ type: 'epoch', id: t.id, seq: e, epochs: t.config.train.epochs,
      report: { epoch: e, boxLoss: 1, clsLoss: 1, dflLoss: 1, lr: 0.01, precision: 0.5, recall: 0.5, map50: 0.1 * e, map50_95: 0.05 * e, fitness: 0.06 * e, seconds: 0.1 } }); });
  }
  rec('end');
  if (what === 'crash') process.exit(3);
  if (m.job.mode === 'train' && what === 'ok') {
    process.send({ type: 'trained', id: t.id, epochsDone: t.config.train.epochs, finish: { bestEpoch: t.config.train.epochs - 1, precision: 0.5, recall: 0.5,
      map50: 0.1 * t.config.train.epochs, map50_95: 0.05 * t.config.train.epochs, fitness: 0.3, trainSeconds: 1 } });
    setTimeout(() => process.exit(0), 20);
    return;
  }
  if (what === 'fail') process.send({ type: 'failed', id: t.id, error: 'NonFiniteLossError: loss is NaN at epoch 1, batch 1' });
  else process.send({ type: 'done', id: t.id, epochsDone: t.config.train.epochs, finish: { bestEpoch: t.config.train.epochs - 1, precision: 0.5, recall: 0.5,
    map50: 0.1 * t.config.train.epochs, map50_95: 0.05 * t.config.train.epochs, fitness: 0.3, fps: 100, latencyP50Ms: 10, latencyP90Ms: 12, trainSeconds: 1 } });
  setTimeout(() => process.exit(0), 20);
});
process.send({ type: 'ready' });
`;
const fake = path.join(tmp, 'fake-worker.mjs');
fs.writeFileSync(fake, FAKE);

const EXP = `name: fake
data: { synthetic: { classes: 2, train: 4, val: 2, imgsz: 32 } }
train: { epochs: 2, imgsz: 32, batch: 2 }
backend: cpu
seeds: [0, 1]
sweep:
  module: [DAttention, FocusedLinearAttention]
  position: [neck]
db: fake.db
`;
const expFile = path.join(tmp, 'fake.yaml');
fs.writeFileSync(expFile, EXP);

async function run(extra: Partial<Parameters<typeof runSweep>[0]> = {}, plan: Record<string, string> = {}, logFile?: string) {
  const out: string[] = [];
  const err: string[] = [];
  process.env.FAKE_PLAN = JSON.stringify(plan);
  if (logFile) process.env.FAKE_LOG = logFile;
  else delete process.env.FAKE_LOG;
  const code = await runSweep({
    file: 'fake.yaml',
    cwd: tmp,
    workerScript: fake,
    tty: false,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    ...extra,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function rows(db: string) {
  const t = new Tracker(db);
  try {
    return {
      results: t.db.prepare(`SELECT * FROM results WHERE sweep = 'fake' ORDER BY trial_id`).all() as Record<string, unknown>[],
      epochs: t.db.prepare('SELECT trial_id, epoch, map50 FROM epochs ORDER BY trial_id, epoch').all() as {
        trial_id: string;
        epoch: number;
        map50: number;
      }[],
    };
  } finally {
    t.close();
  }
}

describe('runSweep', () => {
  it('--dry-run lists trials with params, GFLOPs and time, and writes nothing', async () => {
    const r = await run({ dryRun: true });
    expect(r.code).toBe(EXIT.ok);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^#\s+trial\s+variant\s+seed\s+status\s+params\s+GFLOPs@640\s+GFLOPs@32\s+est\. time$/);
    expect(lines.filter((l) => /^\d+\s+[0-9a-f]{12}\s/.test(l))).toHaveLength(6);
    expect(r.out).toMatch(/^1\s+[0-9a-f]{12}\s+baseline\s+0\s+new\s+3,011,238\s+8\.08\s/m);
    expect(r.out).toMatch(/DAttention@neck\s+1\s+new/);
    expect(r.out).toMatch(/estimated total: .* Dry run: nothing was trained or written\./);
    expect(fs.existsSync(path.join(tmp, 'fake.db'))).toBe(false);
  });

  it('failed and crashed trials are stored with their error, the sweep goes on, exit 1; re-runs skip them unless --retry-failed', async () => {
    const db = path.join(tmp, 'f.db');
    const plan = { 'DAttention@neck': 'fail', 'FocusedLinearAttention@neck': 'crash' };
    const r = await run({ db }, plan);
    expect(r.code).toBe(EXIT.failed);
    const { results, epochs } = rows(db);
    expect(results).toHaveLength(6);
    const by = (m: string | null) => results.filter((x) => x.module === m);
    for (const x of by(null)) expect(x).toMatchObject({ status: 'ok', fps: 100, params: 123, epochs: 2, best_epoch: 1, error: null });
    for (const x of by('DAttention'))
      expect(x).toMatchObject({ status: 'failed', error: 'NonFiniteLossError: loss is NaN at epoch 1, batch 1' });
    for (const x of by('FocusedLinearAttention')) {
      expect(x.status).toBe('failed');
      expect(x.error).toMatch(/the worker process ended without a result \(exit code 3\)/);
    }
    // Epochs are stored 0-based, one row per epoch of every trial.
    expect(epochs).toHaveLength(12);
    expect(epochs.filter((e) => e.epoch === 1).every((e) => Math.abs(e.map50 - 0.2) < 1e-12)).toBe(true);
    expect(r.out).toMatch(/2 ok, 4 failed, 0 interrupted, 0 pending/);
    expect(r.out).toMatch(/^baseline\s+2\s+0\.100 ± 0\.000 \(2\)\s+0\.200 ± 0\.000/m);
    expect(r.out).toMatch(/^DAttention@neck\s+0\/2 ok/m);

    // Again: the failed ones are skipped and said so; exit stays 1.
    const again = await run({ db }, {});
    expect(again.code).toBe(EXIT.failed);
    expect(again.err.match(/failed before \(/g)).toHaveLength(4);
    expect(again.err).toMatch(/--retry-failed runs it again/);
    expect(again.err).toMatch(/nothing to train: 2 of 6 trials of fake are done/);

    // --retry-failed: they run again (from scratch) and now succeed.
    const log = path.join(tmp, 'retry.log');
    const retry = await run({ db, retryFailed: true }, {}, log);
    expect(retry.code).toBe(EXIT.ok);
    const started = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.ev === 'start');
    expect(started).toHaveLength(4);
    expect(started.every((s) => s.resume === false && s.mode === 'all')).toBe(true);
    const after = rows(db);
    expect(after.results.every((x) => x.status === 'ok' && x.error === null)).toBe(true);
    expect(after.epochs).toHaveLength(12);
  });

  it('--workers 2 runs trials in parallel; --epochs and --threads override (new ids for new epochs)', async () => {
    const db = path.join(tmp, 'w.db');
    const log = path.join(tmp, 'w.log');
    const r = await run({ db, workers: 2, epochs: 3, threads: 1 }, {}, log);
    expect(r.code).toBe(EXIT.ok);
    const events = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const starts = events.filter((e) => e.ev === 'start' && e.mode === 'train');
    expect(starts).toHaveLength(6);
    expect(starts.every((s) => s.threads === 1)).toBe(true);
    // Two at a time: the second trial starts before the first one ends (one at a time it could not).
    const endOf = (id: string) => events.find((e) => e.ev === 'end' && e.mode === 'train' && e.id === id)?.t as number;
    expect(starts[1].t).toBeLessThan(endOf(starts[0].id));
    expect(starts[0].t).toBeLessThan(endOf(starts[1].id));
    // FPS is measured after all training, one trial at a time.
    const benches = events.filter((e) => e.mode === 'bench');
    expect(benches.filter((e) => e.ev === 'start')).toHaveLength(6);
    const lastTrainEnd = Math.max(...events.filter((e) => e.mode === 'train' && e.ev === 'end').map((e) => e.t));
    expect(Math.min(...benches.map((e) => e.t))).toBeGreaterThanOrEqual(lastTrainEnd);
    for (let i = 0; i + 1 < benches.length; i += 2) {
      expect(benches[i].ev).toBe('start');
      expect(benches[i + 1]).toMatchObject({ ev: 'end', id: benches[i].id });
    }
    expect(r.err).toMatch(/measuring FPS of 6 trials one at a time/);
    const { results } = rows(db);
    expect(
      results.every(
        (x) =>
          x.status === 'ok' && x.epochs === 3 && x.epochs_planned === 3 && x.fps === 200 && Math.abs((x.map50 as number) - 0.3) < 1e-12,
      ),
    ).toBe(true);
    // The file's own epochs (2) make other trials; the 3-epoch ones are unlinked from the sweep, not deleted.
    const back = await run({ db });
    expect(back.code).toBe(EXIT.ok);
    expect(back.err).toMatch(/6 trials of an earlier version of this sweep no longer match the file: unlinked/);
    const t = new Tracker(db);
    try {
      expect((t.db.prepare('SELECT COUNT(*) AS n FROM trials').get() as { n: number }).n).toBe(12);
      expect((t.db.prepare(`SELECT COUNT(*) AS n FROM results WHERE sweep = 'fake'`).get() as { n: number }).n).toBe(6);
    } finally {
      t.close();
    }
  });

  it('two sweeps on one database: every trial is claimed and trained once (status check and lease in one transaction)', async () => {
    const db = path.join(tmp, 'two.db');
    const log = path.join(tmp, 'two.log');
    const first = run({ db }, {}, log);
    // The second plans while the first runs: it sees trials pending that the first will finish or hold.
    await new Promise((r) => setTimeout(r, 300));
    const second = run({ db }, {}, log);
    const [a, b] = await Promise.all([first, second]);
    expect(a.code).toBe(EXIT.ok);
    expect(b.code).toBe(EXIT.ok);
    const starts = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.ev === 'start');
    expect(starts).toHaveLength(6);
    expect(new Set(starts.map((s) => s.id)).size).toBe(6);
    expect(`${a.err}\n${b.err}`).toMatch(/running in another sweep|finished by another sweep meanwhile/);
    const { results, epochs } = rows(db);
    expect(results).toHaveLength(6);
    for (const x of results) expect(x).toMatchObject({ status: 'ok', runs: 1, restarts: 0, runner: 'local', fps: 100 });
    expect(epochs).toHaveLength(12);
  });

  it('invalid options and files exit 2 before anything runs', async () => {
    expect((await run({ workers: 0 })).code).toBe(EXIT.invalid);
    const bad = await run({ backend: 'gpu' });
    expect(bad.code).toBe(EXIT.invalid);
    expect(bad.err).toMatch(/unknown backend; known: auto, tensorflow, webgpu, node, wasm, cpu/);
    const missing = await run({ file: 'nope.yaml' });
    expect(missing.code).toBe(EXIT.invalid);
    expect(missing.err).toMatch(/does not exist/);
  });
});
