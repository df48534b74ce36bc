/**
 * The sweep: experiment file -> validated experiment -> data -> trials -> worker processes -> SQLite.
 *
 * This process is the one database writer (`Tracker`); every trial runs in a forked worker process
 * (`worker.ts`), so a crash of a trial (out of memory in wasm, a native abort) only ends that trial.
 * Semantics:
 *  - a trial that is `ok` is skipped (and said so); `failed` is skipped unless `retryFailed`;
 *    `interrupted` resumes from its `last` checkpoint; trials left `running` by a dead process (kill -9)
 *    are repaired to `interrupted` first (`tracker.repairStale()`);
 *  - a failing trial is stored as `failed` with its error and the sweep goes on; exit code 1 at the end
 *    when any trial of the sweep is failed;
 *  - SIGINT/SIGTERM: no new trials; running ones stop after their current batch, save `last` and become
 *    `interrupted`; exit code 130. A second signal kills the workers at once (still `interrupted`).
 *  - `dryRun`: lists the trials with params, GFLOPs and an estimated time; trains nothing and writes nothing.
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKEND_NAMES, type BackendName, initBackend, manualSeed } from '@ablate/core';
import { type DetectionDataset, ensureSyntheticCache } from '@ablate/data';
import { pidAlive, Tracker, type TrialFinish, type TrialRow } from '@ablate/tracker';
import { buildModel, createRegistry, summary } from '@ablate/yolov8';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { type Experiment, ExperimentError, formatProblems, loadExperiment } from './experiment.js';
import { BarProgress, fmt, PlainProgress, type Progress } from './progress.js';
import type { FromWorker, ToWorker, TrialJob } from './protocol.js';
import {
  calibrate,
  DEFAULT_SECONDS_PER_GFLOP_IMAGE,
  estimateSeconds,
  formatDuration,
  type ResultRow,
  summaryTable,
  table,
} from './report.js';
import { loadData } from './trial-run.js';
import { expandTrials, type TrialSpec } from './trials.js';

export const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

export interface SweepOptions {
  /** Experiment file (relative to cwd). */
  file: string;
  cwd?: string;
  dryRun?: boolean;
  workers?: number;
  db?: string;
  backend?: string;
  epochs?: number;
  threads?: number;
  retryFailed?: boolean;
  /** Progress bars (default: stderr is a TTY). */
  tty?: boolean;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** The worker entry (default: worker.js beside this file). */
  workerScript?: string;
  /** Seconds to wait for workers to stop after a signal before killing them (default 120). */
  stopTimeout?: number;
}

interface Outcome {
  status: 'ok' | 'failed' | 'interrupted' | 'trained';
}

/** Training results of a trial whose FPS is still to be measured (parallel workers). */
interface Trained {
  trial: TrialSpec;
  finish: TrialFinish;
}

export async function runSweep(o: SweepOptions): Promise<number> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = o.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const cwd = o.cwd ?? process.cwd();
  const registry = createRegistry(...ATTENTION_PLUGINS);

  // 1. The experiment file, and the CLI overrides.
  let exp: Experiment;
  try {
    exp = loadExperiment(o.file, { registry, cwd });
  } catch (e) {
    err(e instanceof ExperimentError ? e.message : `${o.file}: ${(e as Error).message}`);
    return EXIT.invalid;
  }
  const usage = (msg: string) => {
    err(msg);
    return EXIT.invalid;
  };
  const backend = (o.backend ?? exp.backend) as BackendName;
  if (!BACKEND_NAMES.includes(backend)) return usage(`--backend "${o.backend}": unknown backend; known: ${BACKEND_NAMES.join(', ')}`);
  for (const [k, v] of [
    ['--workers', o.workers],
    ['--epochs', o.epochs],
    ['--threads', o.threads],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) return usage(`${k} must be a positive integer; got ${v}`);
  }
  const workers = o.workers ?? exp.workers;
  // One wasm thread per trial by default: parallel trials scale better than threads, and threaded wasm
  // slows down badly (spinning) when the cores are busy with other work.
  const threads = o.threads ?? exp.threads;
  if (workers * threads > os.cpus().length) {
    err(`note: ${workers} worker(s) x ${threads} thread(s) is more than the ${os.cpus().length} CPU cores: trials will compete for them`);
  }
  const showPath = (p: string) => {
    const r = path.relative(cwd, p);
    return r && !r.startsWith('..') ? r : p;
  };
  const dbFile = o.db ? path.resolve(cwd, o.db) : exp.db;

  // 2. Backend (resolves `auto` to what the workers will use) and data.
  let backendName: string;
  try {
    backendName = (await initBackend(backend, { threads: 1, log: false })).name;
  } catch (e) {
    return usage(`backend ${backend}: ${(e as Error).message}`);
  }
  let data: DetectionDataset;
  try {
    if (exp.data.kind === 'synthetic') {
      const t0 = Date.now();
      const { dir, generated } = await ensureSyntheticCache(exp.data.options);
      if (generated)
        err(
          `data: generated the synthetic set into ${showPath(dir)} in ${formatDuration((Date.now() - t0) / 1000)} (later runs read it from there)`,
        );
    }
    data = await loadData(exp.data);
  } catch (e) {
    err(
      formatProblems(exp.shownFile, [
        { line: exp.lineOf(['data']), key: 'data', message: `the data set could not be loaded: ${(e as Error).message}` },
      ]),
    );
    return EXIT.invalid;
  }
  err(
    `data: ${data.description} (${data.train.length} train / ${data.val.length} val images, ${data.nc} classes: ${data.names.join(', ')})`,
  );
  if (data.skipped.length) {
    const shown = data.skipped.slice(0, 20).map((s) => `  ${s.file}${s.line !== undefined ? `:${s.line}` : ''}: ${s.reason}`);
    err(
      `data: ${data.skipped.length} corrupt item${data.skipped.length > 1 ? 's' : ''} skipped:\n${shown.join('\n')}${data.skipped.length > 20 ? `\n  ... and ${data.skipped.length - 20} more` : ''}`,
    );
  }

  // 3. Trials.
  let trials: TrialSpec[];
  try {
    trials = expandTrials(exp, {
      registry,
      backend: backendName,
      epochs: o.epochs,
      data: {
        kind: exp.data.kind,
        source: exp.data.kind === 'synthetic' ? exp.data.options : exp.data.path,
        fingerprint: data.fingerprint,
        description: data.description,
        nc: data.nc,
        names: data.names,
      },
    });
  } catch (e) {
    err(e instanceof ExperimentError ? e.message : (e as Error).message);
    return EXIT.invalid;
  }
  const variants = new Set(trials.map((t) => t.variant)).size;
  err(
    `sweep ${exp.name}: ${trials.length} trials (${variants} variant${variants > 1 ? 's' : ''} x ${exp.seeds.length} seed${exp.seeds.length > 1 ? 's' : ''}), ` +
      `${trials[0]?.config.train.epochs} epochs at ${exp.train.imgsz} px, backend ${backendName} (${threads} thread${threads > 1 ? 's' : ''} per trial), ` +
      `${workers} worker${workers > 1 ? 's' : ''}, database ${showPath(dbFile)}`,
  );

  if (o.dryRun) return dryRun(exp, trials, data, dbFile, workers, out);

  // 4. The database.
  const tracker = new Tracker(dbFile);
  try {
    const repaired = tracker.repairStale();
    if (repaired.length)
      err(
        `repaired ${repaired.length} trial${repaired.length > 1 ? 's' : ''} left running by a process that ended (${repaired.join(', ')}): they resume`,
      );
    tracker.upsertSweep({ name: exp.name, description: exp.description ?? undefined, experimentFile: exp.file, config: exp.raw });
    const ids = trials.map((t) => t.id);
    const unlinked = tracker.unlinkOtherTrials(exp.name, ids);
    if (unlinked)
      err(
        `${unlinked} trial${unlinked > 1 ? 's' : ''} of an earlier version of this sweep no longer match the file: unlinked from it (kept in the trials table)`,
      );
    const rows = new Map<string, TrialRow>();
    for (const t of trials) {
      rows.set(
        t.id,
        tracker.addTrial(
          exp.name,
          {
            id: t.id,
            module: t.module,
            position: t.position,
            moduleArgs: t.moduleArgs ?? undefined,
            seed: t.seed,
            config: t.config,
            modelYaml: t.modelYaml,
            epochsPlanned: t.config.train.epochs,
            imgsz: t.config.train.imgsz,
          },
          t.ordinal,
        ),
      );
    }

    // 5. What runs.
    const todo: TrialSpec[] = [];
    let done = 0;
    for (const t of trials) {
      const r = rows.get(t.id) as TrialRow;
      const tag = `trial ${t.id} ${t.variant} seed ${t.seed}`;
      if (r.status === 'ok') {
        err(`${tag}: already done (mAP50 ${fmt(r.map50)}, mAP50-95 ${fmt(r.map50_95)}, ${fmt(r.fps, 1)} FPS): skipped`);
        done++;
      } else if (r.status === 'failed' && !o.retryFailed) {
        err(`${tag}: failed before (${r.error}): skipped; --retry-failed runs it again`);
        done++;
      } else if (r.status === 'running' && r.pid !== null && r.pid !== process.pid && pidAlive(r.pid)) {
        err(`${tag}: running in another process (pid ${r.pid}): skipped`);
        done++;
      } else {
        if (r.status === 'failed') tracker.resetTrial(t.id);
        todo.push(t);
      }
    }
    if (!todo.length) {
      const nOk = trials.filter((t) => rows.get(t.id)?.status === 'ok').length;
      err(
        nOk === trials.length
          ? `nothing to train: all ${trials.length} trials of ${exp.name} are already done`
          : `nothing to train: ${nOk} of ${trials.length} trials of ${exp.name} are done, the others failed (--retry-failed runs them again) or run elsewhere`,
      );
    }

    // 6. Run.
    const progress: Progress = (o.tty ?? process.stderr.isTTY) ? new BarProgress() : new PlainProgress(err);
    progress.plan(trials.length, done);
    let stopping = false;
    let forced = false;
    /** Running workers and the stop file each checks between batches. */
    const children = new Map<ChildProcess, string>();
    const onSignal = (sig: NodeJS.Signals) => {
      if (!stopping) {
        stopping = true;
        progress.log(
          `${sig}: stopping; the running trial${children.size > 1 ? 's stop after their current batch and save' : ' stops after its current batch and saves'} a checkpoint (${sig} again to kill at once)`,
        );
        for (const [c, stopFile] of children) {
          try {
            fs.writeFileSync(stopFile, `${sig}\n`);
          } catch {
            // the abort message below still reaches it when its event loop turns
          }
          sendTo(c, { type: 'abort' });
        }
      } else if (!forced) {
        forced = true;
        progress.log(`${sig}: killing the workers`);
        for (const c of children.keys()) c.kill('SIGKILL');
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const outcomes: Outcome[] = [];
    const trained: Trained[] = [];
    const queue = [...todo];
    const workerScript = o.workerScript ?? new URL('./worker.js', import.meta.url).pathname;
    try {
      await Promise.all(
        Array.from({ length: Math.min(workers, queue.length) }, async (_, slot) => {
          while (!stopping && queue.length) {
            const t = queue.shift() as TrialSpec;
            outcomes.push(
              await runOne(t, slot, {
                tracker,
                exp,
                threads,
                backend,
                dbFile,
                workerScript,
                progress,
                children,
                isStopping: () => stopping,
                stopTimeout: o.stopTimeout ?? 120,
                mode: workers > 1 ? 'train' : 'all',
                trained,
              }),
            );
          }
        }),
      );
      // Parallel workers: the FPS of each trained trial is measured now, one at a time, with no
      // training running, so that the numbers are comparable.
      if (trained.length && !stopping) {
        progress.log(`measuring FPS of ${trained.length} trial${trained.length > 1 ? 's' : ''} one at a time (no training running)`);
      }
      for (const tr of trained) {
        if (stopping) {
          tracker.interruptTrial(tr.trial.id, 'interrupted before its FPS benchmark (a re-run measures it)');
          continue;
        }
        outcomes.push(
          await runOne(tr.trial, 0, {
            tracker,
            exp,
            threads,
            backend,
            dbFile,
            workerScript,
            progress,
            children,
            isStopping: () => stopping,
            stopTimeout: o.stopTimeout ?? 120,
            mode: 'bench',
            trained,
            finish: tr.finish,
          }),
        );
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      progress.stop();
    }

    // 7. Summary.
    const variantOf = new Map(trials.map((t) => [t.id, t.variant]));
    const final = tracker.trialsOfSweep(exp.name);
    const resultRows: ResultRow[] = final.map((r) => ({ ...r, variant: variantOf.get(r.id) ?? r.id }));
    out('');
    out(`${exp.name}: mean ± std over seeds (ok trials only); Δ = difference from the baseline`);
    out(summaryTable(resultRows));
    const count = (s: string) => final.filter((r) => r.status === s).length;
    const failed = final.filter((r) => r.status === 'failed');
    for (const f of failed) out(`failed: ${f.id} ${variantOf.get(f.id)} seed ${f.seed}: ${f.error}`);
    out(
      `${count('ok')} ok, ${failed.length} failed, ${count('interrupted')} interrupted, ${count('pending') + count('running')} pending; ` +
        `results in ${showPath(dbFile)} (SELECT * FROM results WHERE sweep = '${exp.name}')`,
    );
    if (stopping) return EXIT.interrupted;
    return failed.length ? EXIT.failed : EXIT.ok;
  } finally {
    tracker.close();
  }
}

function sendTo(c: ChildProcess, m: ToWorker): void {
  if (c.connected) {
    try {
      c.send(m);
    } catch {
      // the worker is gone: its exit handler records the outcome
    }
  }
}

interface RunContext {
  tracker: Tracker;
  exp: Experiment;
  threads: number;
  backend: string;
  dbFile: string;
  workerScript: string;
  progress: Progress;
  children: Map<ChildProcess, string>;
  isStopping(): boolean;
  stopTimeout: number;
  mode: TrialJob['mode'];
  /** Where `train` mode puts its results. */
  trained: Trained[];
  /** `bench` mode: the stored training results. */
  finish?: TrialFinish;
}

/** Runs one trial in a worker process and stores everything it reports. */
function runOne(t: TrialSpec, slot: number, ctx: RunContext): Promise<Outcome> {
  const { tracker, progress } = ctx;
  const checkpointDir = path.join(path.dirname(ctx.dbFile), 'checkpoints', t.id);
  const row = tracker.getTrial(t.id) as TrialRow;
  const resume = row.status === 'interrupted' && fs.existsSync(path.join(checkpointDir, 'last.safetensors'));
  const label = `${t.variant} seed ${t.seed}`;
  if (ctx.mode !== 'bench') {
    if (!resume) {
      // A fresh start: no stale checkpoint or epochs of an earlier attempt.
      fs.rmSync(checkpointDir, { recursive: true, force: true });
      tracker.clearEpochs(t.id);
    }
    progress.log(`trial ${t.id} ${label}: ${resume ? `resuming after epoch ${row.epochs_done}` : 'starting'}`);
    tracker.markRunning(t.id, { pid: process.pid, modelYaml: t.modelYaml });
  }
  const stopFile = path.join(checkpointDir, 'STOP');
  fs.mkdirSync(checkpointDir, { recursive: true });
  fs.rmSync(stopFile, { force: true });
  const job: TrialJob = {
    trial: t,
    data: ctx.exp.data,
    backend: ctx.backend,
    threads: ctx.threads,
    checkpointDir,
    resume,
    mode: ctx.mode,
    stopFile,
  };
  const okLine = (f: TrialFinish) =>
    `trial ${t.id} ${label}: ok  mAP50 ${fmt(f.map50)} mAP50-95 ${fmt(f.map50_95)} P ${fmt(f.precision)} R ${fmt(f.recall)}  ` +
    `${fmt(f.fps, 1)} FPS (p50 ${fmt(f.latencyP50Ms, 1)} ms)  trained in ${formatDuration(f.trainSeconds ?? Number.NaN)}`;

  return new Promise<Outcome>((resolve) => {
    let outcome: Outcome | undefined;
    let tail = '';
    const keep = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
    };
    const child = fork(ctx.workerScript, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ABLATE_SWEEP_WORKER: '1' },
      execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
    });
    ctx.children.set(child, stopFile);
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let killTimer: NodeJS.Timeout | undefined;
    const settle = (o: Outcome) => {
      if (outcome) return;
      outcome = o;
      progress.trialEnded(slot, o.status === 'ok' || o.status === 'failed');
    };
    child.on('message', (m: FromWorker) => {
      try {
        switch (m.type) {
          case 'ready':
            if (ctx.isStopping()) {
              tracker.interruptTrial(t.id, 'interrupted before it started');
              settle({ status: 'interrupted' });
              child.kill('SIGKILL');
            } else sendTo(child, { type: 'run', job });
            break;
          case 'started':
            tracker.markRunning(t.id, { ...m.start, pid: process.pid });
            progress.trialStarted(slot, label, t.config.train.epochs, m.batches);
            break;
          case 'batch':
            progress.batch(slot, m.epoch, m.batch, m.batches, m.loss);
            break;
          case 'epoch':
            tracker.recordEpoch(t.id, { ...m.report, epoch: m.report.epoch - 1 });
            sendTo(child, { type: 'ack', seq: m.seq });
            if (!m.replayed) progress.epoch(slot, label, m.report, m.epochs);
            break;
          case 'done': {
            tracker.finishTrial(t.id, m.finish);
            progress.log(okLine(m.finish));
            settle({ status: 'ok' });
            break;
          }
          case 'trained':
            ctx.trained.push({ trial: t, finish: m.finish });
            progress.log(
              `trial ${t.id} ${label}: trained (mAP50 ${fmt(m.finish.map50)}, mAP50-95 ${fmt(m.finish.map50_95)}); its FPS is measured when no trial trains`,
            );
            settle({ status: 'trained' });
            break;
          case 'benched': {
            const f: TrialFinish = {
              ...ctx.finish,
              fps: m.fps,
              latencyP50Ms: m.p50Ms,
              latencyP90Ms: m.p90Ms,
              fpsFused: m.fused,
              fpsNms: m.nms,
            };
            tracker.finishTrial(t.id, f);
            progress.log(okLine(f));
            settle({ status: 'ok' });
            break;
          }
          case 'failed':
            tracker.failTrial(t.id, m.error);
            progress.log(`trial ${t.id} ${label}: FAILED: ${m.error}`);
            settle({ status: 'failed' });
            break;
          case 'interrupted':
            tracker.interruptTrial(t.id, m.reason);
            progress.log(`trial ${t.id} ${label}: interrupted (a re-run resumes it)`);
            settle({ status: 'interrupted' });
            break;
        }
      } catch (e) {
        progress.log(`trial ${t.id}: could not store a report: ${(e as Error).message}`);
      }
    });
    const watchStop = setInterval(() => {
      if (ctx.isStopping() && !killTimer) {
        killTimer = setTimeout(() => child.kill('SIGKILL'), ctx.stopTimeout * 1000);
      }
    }, 200);
    child.on('exit', (code, signal) => {
      clearInterval(watchStop);
      if (killTimer) clearTimeout(killTimer);
      ctx.children.delete(child);
      fs.rmSync(stopFile, { force: true });
      if (!outcome) {
        if (ctx.isStopping()) {
          tracker.interruptTrial(t.id, 'interrupted (the worker was stopped)');
          settle({ status: 'interrupted' });
        } else {
          const why = `the worker process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})${tail.trim() ? `: ${tail.trim().split('\n').slice(-5).join(' | ')}` : ''}`;
          tracker.failTrial(t.id, why);
          progress.log(`trial ${t.id} ${label}: FAILED: ${why}`);
          settle({ status: 'failed' });
        }
      }
      resolve(outcome as Outcome);
    });
  });
}

/** --dry-run: the trials with params, GFLOPs and estimated time; builds models, trains nothing, writes nothing. */
async function dryRun(
  exp: Experiment,
  trials: TrialSpec[],
  data: DetectionDataset,
  dbFile: string,
  workers: number,
  out: (l: string) => void,
): Promise<number> {
  const registry = createRegistry(...ATTENTION_PLUGINS);
  const sizes = new Map<string, { params: number; gflops: number; gflops640: number }>();
  let statusOf = (_id: string): string => 'new';
  let k = DEFAULT_SECONDS_PER_GFLOP_IMAGE;
  let calibrated = false;
  if (fs.existsSync(dbFile)) {
    const tr = new Tracker(dbFile, { readonly: true });
    try {
      const hist = tr.finishedCosts().map((h) => {
        const p = h.provenance_json ? (JSON.parse(h.provenance_json) as { data?: { train?: number; val?: number } }) : {};
        return {
          trainSeconds: h.train_seconds ?? 0,
          epochs: h.epochs_done,
          gflops: h.gflops ?? 0,
          trainImages: p.data?.train ?? 0,
          valImages: p.data?.val ?? 0,
        };
      });
      const c = calibrate(hist);
      if (c) {
        k = c;
        calibrated = true;
      }
      const statuses = new Map(trials.map((t) => [t.id, tr.getTrial(t.id)?.status ?? 'new']));
      statusOf = (id) => statuses.get(id) ?? 'new';
    } finally {
      tr.close();
    }
  }
  const rows: string[][] = [];
  let total = 0;
  for (const t of trials) {
    let s = sizes.get(t.modelYaml);
    if (!s) {
      manualSeed(0);
      const model = buildModel(t.modelYaml, { nc: t.config.model.nc, registry });
      try {
        const a = summary(model, t.config.train.imgsz);
        s = { params: a.parameters, gflops: a.gflops, gflops640: summary(model, 640).gflops };
      } finally {
        model.dispose();
      }
      sizes.set(t.modelYaml, s);
    }
    const st = statusOf(t.id);
    const est =
      st === 'ok'
        ? 0
        : estimateSeconds(
            {
              gflops: s.gflops,
              epochs: t.config.train.epochs,
              trainImages: data.train.length,
              valImages: data.val.length,
              benchRuns: t.config.bench.runs,
              benchWarmup: t.config.bench.warmup,
            },
            k,
          );
    total += est;
    rows.push([
      String(t.ordinal + 1),
      t.id,
      t.variant,
      String(t.seed),
      st,
      s.params.toLocaleString('en-US'),
      s.gflops640.toFixed(2),
      s.gflops.toFixed(3),
      st === 'ok' ? 'done' : formatDuration(est),
    ]);
  }
  out(table(['#', 'trial', 'variant', 'seed', 'status', 'params', 'GFLOPs@640', `GFLOPs@${exp.train.imgsz}`, 'est. time'], rows, 5));
  out(
    `estimated total: ${formatDuration(total / Math.max(1, workers))} with ${workers} worker${workers > 1 ? 's' : ''} ` +
      `(${calibrated ? `calibrated on this database's finished trials: ${k.toFixed(3)}` : `${k} (a default measured on a 2-core machine)`} s per GFLOP-image). Dry run: nothing was trained or written.`,
  );
  return EXIT.ok;
}
