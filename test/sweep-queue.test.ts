// `pnpm sweep experiments/smoke.yaml --queue redis://...` with `pnpm worker` processes, end to end on a
// real redis-server (random loopback port, temp folder, append-only file): all trials ok with the same
// trial ids as the local plan; a worker killed (-9) mid-trial -> another worker completes it, nothing
// duplicated; Redis restarted mid-sweep -> completes; the sweep killed and started again -> re-attaches
// and completes; a worker with other data -> that trial fails naming both fingerprints; Ctrl-C on the
// sweep -> its workers stop after their batch, trials interrupted, exit 130, the same command resumes
// them and completes (and writes the SLURM script).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { type RedisServer, startRedis } from './redis-helpers.js';
import { query, type Run, smoke, spawnCli, sweep, sweepDone, tempDir, workerCli, writeUltralyticsSet } from './sweep-helpers.js';

const tmp = tempDir('ablate-sweep-queue-');
// Workers give up a silent job after 4 s (instead of 30): a killed worker's trial moves on quickly.
const env = { ABLATE_CACHE_DIR: path.join(tmp, 'cache'), ABLATE_QUEUE_LOCK_SECONDS: '4', ABLATE_LEASE_MS: '6000' };
// The smoke experiment trains on `backend: auto` (node where set up, as in CI: a few seconds a trial; a
// minute of CPU on wasm). Kills and interrupts come after epoch 1 of 4, so that several epochs are still to
// go however loaded the machine is. Generous limits, no timed assertions.
const TEST_MS = 1_200_000;
const WAIT_MS = 900_000;
const started: Run[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  // Workers with their trial processes (own process groups); sweeps alone.
  for (const r of started.splice(0)) r.killGroup('SIGKILL');
  for (const s of servers.splice(0)) await s.stop();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const redis = async (name: string) => {
  const s = await startRedis(path.join(tmp, name));
  servers.push(s);
  return s;
};
const worker = (url: string, extra: string[] = []) => {
  const w = spawnCli(workerCli, ['--queue', url, ...extra], env, true);
  started.push(w);
  return w;
};
const queued = (args: string[]) => {
  const s = sweep(args, env);
  started.push(s);
  return s;
};

interface Row {
  trial_id: string;
  status: string;
  epochs: number;
  runs: number;
  restarts: number;
  runner: string | null;
  fps: number | null;
  error: string | null;
}
const results = (db: string) => query<Row>(db, `SELECT * FROM results WHERE sweep = 'smoke' ORDER BY trial_id`);
const epochKeys = (db: string) => query<{ k: string }>(db, `SELECT trial_id || ':' || epoch AS k FROM epochs ORDER BY k`).map((r) => r.k);

function expectAllOk(db: string, ids: string[], epochs = 2) {
  const rows = results(db);
  expect(rows.map((r) => r.trial_id)).toEqual([...ids].sort());
  for (const r of rows) {
    expect(r.status, `${r.trial_id}: ${r.error}`).toBe('ok');
    expect(r.epochs).toBe(epochs);
    expect(r.fps).toBeGreaterThan(0);
    expect(r.runner).toMatch(/^[^:]+:\d+$/);
  }
  // One epoch row per trial and epoch: nothing duplicated.
  expect(epochKeys(db)).toEqual(rows.flatMap((r) => Array.from({ length: epochs }, (_, e) => `${r.trial_id}:${e}`)).sort());
  return rows;
}

/** The trial ids of the local plan (`--dry-run`: the same planning as a local run), computed once. */
const localIdsCache = new Map<string, string[]>();
async function localIds(extra: string[] = []): Promise<string[]> {
  const key = extra.join(' ');
  if (!localIdsCache.has(key)) {
    const dry = await sweepDone([smoke, ...extra, '--dry-run', '--db', path.join(tmp, 'dry.db')], env);
    expect(dry.code, dry.stderr).toBe(0);
    localIdsCache.set(
      key,
      [...dry.stdout.matchAll(/^\d+\s+([0-9a-f]{12})\s/gm)].map((m) => m[1]),
    );
  }
  return localIdsCache.get(key) as string[];
}

describe('pnpm sweep --queue with pnpm worker processes (real redis-server)', () => {
  test(
    '(a) kill -9 of a worker mid-trial: another worker completes it; then Redis restarted mid-sweep: the sweep completes',
    async () => {
      const r = await redis('a');
      const db = path.join(tmp, 'b.db');
      const s = queued([smoke, '--epochs', '4', '--db', db, '--queue', r.url]);
      await s.waitFor(/trial\(s\) added/, WAIT_MS);
      // Each worker its own checkpoint folder (none shared): the trial restarts from scratch elsewhere.
      const a = worker(r.url, ['--checkpoints', path.join(tmp, 'ck-a')]);
      await s.waitFor(/seed 0 {2}epoch 1\/4/, WAIT_MS);
      // The machine is lost: the worker and the trial process it forked.
      a.killGroup('SIGKILL');
      // Two at a time: it takes the waiting trial and, once its lock expired, the killed worker's one.
      const b = worker(r.url, ['--checkpoints', path.join(tmp, 'ck-b'), '--concurrency', '2']);
      await s.waitFor(/restarted from scratch \(no shared checkpoint\)/, WAIT_MS);
      // Redis goes down and comes back on the same port with its append-only file.
      await servers[0].stop();
      servers.length = 0;
      await new Promise((res) => setTimeout(res, 1500));
      servers.push(await startRedis(path.join(tmp, 'a'), r.port));
      const { code } = await s.exited;
      expect(code, `${s.stderr()}\nworker:\n${b.stderr()}`).toBe(0);
      const rows = expectAllOk(db, await localIds(['--epochs', '4']), 4);
      expect(rows.map((x) => x.restarts).sort()).toEqual([0, 1]);
      expect(rows.find((x) => x.restarts === 1)?.runs).toBe(2);
    },
    TEST_MS,
  );

  test(
    '(b) the sweep killed mid-trial, started again: it re-attaches to the queue and collects what finished',
    async () => {
      const r = await redis('b');
      const db = path.join(tmp, 'c.db');
      const args = [smoke, '--epochs', '4', '--db', db, '--queue', r.url];
      const s = queued(args);
      await s.waitFor(/trial\(s\) added/, WAIT_MS);
      worker(r.url);
      await s.waitFor(/seed 0 {2}epoch 1\/4/, WAIT_MS);
      s.proc.kill('SIGKILL');
      await s.exited;
      const again = queued(args);
      const { code } = await again.exited;
      expect(code, again.stderr()).toBe(0);
      // Every trial of a queued sweep is claimed (running) while it waits in the queue.
      expect(again.stderr()).toMatch(/repaired 2 trials left running by a process that ended/);
      expect(again.stderr()).toMatch(
        /already in the queue \((active|waiting)\): following it|finished in the queue while no sweep was watching/,
      );
      const rows = expectAllOk(db, await localIds(['--epochs', '4']), 4);
      for (const x of rows) expect(x.restarts).toBe(0);
    },
    TEST_MS,
  );

  test(
    '(c) a worker whose data differ: the trial fails naming both fingerprints, the sweep exits 1',
    async () => {
      const r = await redis('c');
      const data = writeUltralyticsSet(path.join(tmp, 'set'), 4, 2, 64);
      const other = path.join(tmp, 'other');
      fs.cpSync(path.dirname(data), other, { recursive: true });
      const lbl = path.join(other, 'labels', 'train', fs.readdirSync(path.join(other, 'labels', 'train'))[0]);
      fs.writeFileSync(lbl, '0 0.5 0.5 0.2 0.2\n');
      const exp = path.join(tmp, 'd.yaml');
      fs.writeFileSync(
        exp,
        fs
          .readFileSync(smoke, 'utf8')
          .replace(/^data:\n {2}synthetic:.*$/m, `data: ${data}`)
          .replace(/^sweep:\n(?: {2}.*\n)+/m, '')
          .replace(/^name: smoke$/m, 'name: wrongdata'),
      );
      const db = path.join(tmp, 'd.db');
      const s = queued([exp, '--db', db, '--queue', r.url]);
      await s.waitFor(/trial\(s\) added/, WAIT_MS);
      worker(r.url, ['--data-root', other]);
      const { code } = await s.exited;
      expect(code, s.stderr()).toBe(1);
      const rows = query<Row>(db, `SELECT * FROM results WHERE sweep = 'wrongdata'`);
      expect(rows).toHaveLength(1);
      expect(rows[0].status).toBe('failed');
      expect(rows[0].error).toMatch(
        /^the data set on worker \S+ \(.*\) has fingerprint [\w-]+, but the sweep planned the trial with fingerprint [\w-]+: give this worker the same data \(--data-root/,
      );
    },
    TEST_MS,
  );

  test(
    '(d) Ctrl-C on the sweep: its workers stop after their current batch, the trials are interrupted, exit 130; the same command resumes and completes',
    async () => {
      const r = await redis('d');
      const db = path.join(tmp, 'e.db');
      // 4 epochs: the interrupt comes after epoch 1 with three epochs still to go, so no trial can finish first.
      const args = [smoke, '--db', db, '--queue', r.url, '--epochs', '4'];
      const slurm = path.join(tmp, 'workers.sh');
      const s = queued([...args, '--slurm-script', slurm]);
      await s.waitFor(/trial\(s\) added/, WAIT_MS);
      // One checkpoint folder for both workers (a shared folder): the re-run resumes on either.
      const ck = ['--checkpoints', path.join(tmp, 'ck-e')];
      const w1 = worker(r.url, ck);
      const w2 = worker(r.url, ck);
      await s.waitFor(/seed 0 {2}epoch 1\/4/, WAIT_MS);
      const t0 = Date.now();
      s.proc.kill('SIGINT');
      const { code } = await s.exited;
      console.log(`(d) SIGINT -> sweep exit: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(code, s.stderr()).toBe(130);
      expect(fs.readFileSync(slurm, 'utf8')).toMatch(new RegExp(`#SBATCH --array=1-2\\n[^]*pnpm worker --queue ${r.url} --once`));
      expect(s.stderr()).toMatch(/SIGINT: stopping; waiting trials leave the queue, running ones stop after their current batch/);
      const stopped = results(db);
      expect(stopped).toHaveLength(2);
      for (const x of stopped) expect(x.status, `${x.trial_id}: ${x.error}`).toBe('interrupted');
      // The workers stopped their trials (not killed) and stay up for the next sweep.
      expect(`${w1.stderr()}${w2.stderr()}`).toMatch(/: interrupted/);
      for (const w of [w1, w2]) expect(w.proc.exitCode, w.stderr()).toBeNull();
      // The trial that finished epoch 1 saved `last`: the same command resumes it.
      const again = queued(args);
      const done = await again.exited;
      expect(done.code, again.stderr()).toBe(0);
      expect(again.stderr()).toMatch(/resuming on \S+/);
      const rows = expectAllOk(
        db,
        stopped.map((x) => x.trial_id),
        4,
      );
      for (const x of rows) expect(x).toMatchObject({ runs: 2, restarts: 0 });
      // Again: nothing to do, nothing queued.
      const idle = await sweepDone(args, env);
      expect(idle.code).toBe(0);
      expect(idle.stderr).toMatch(/nothing to train: all 2 trials of smoke are already done/);
    },
    TEST_MS,
  );
});
