/**
 * The local scheduler: a pool of `workers` slots on this machine, each running one trial at a time in
 * a forked worker process (`worker.ts`), so a crash of a trial (out of memory in wasm, a native abort)
 * only ends that trial. With more than one slot, trials train in parallel and their FPS is measured
 * afterwards, one at a time with no training running, so the numbers are comparable.
 * Stopping: a stop file (checked between batches) and an `abort` message; after `stopTimeout` seconds,
 * or on a second signal, the worker is killed (the trial is still `interrupted`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrialFinish } from '@ablate/tracker';
import { childCommand } from '../self.js';
import type { FromWorker, ToWorker, TrialJob } from './protocol.js';
import { handleReport, type Scheduler, type SchedulerContext, trialLabel } from './scheduler.js';
import type { TrialSpec } from './trials.js';
import { SweepWriter, type TrialOutcome } from './writer.js';

/** Training results of a trial whose FPS is still to be measured (parallel workers). */
interface Trained {
  trial: TrialSpec;
  finish: TrialFinish;
}

export class LocalPool implements Scheduler {
  stopping = false;
  private forced = false;
  /** Running workers and the stop file each checks between batches. */
  private readonly children = new Map<ChildProcess, string>();
  private readonly trained: Trained[] = [];
  private readonly worker: { script: string; args: string[] };

  constructor(
    private readonly ctx: SchedulerContext,
    workerScript?: string,
  ) {
    this.worker = workerScript
      ? { script: workerScript, args: [] }
      : childCommand('sweep-worker', fileURLToPath(new URL('./worker.js', import.meta.url)));
  }

  stop(sig: NodeJS.Signals): void {
    const { progress } = this.ctx;
    if (!this.stopping) {
      this.stopping = true;
      progress.log(
        `${sig}: stopping; the running trial${this.children.size > 1 ? 's stop after their current batch and save' : ' stops after its current batch and saves'} a checkpoint (${sig} again to kill at once)`,
      );
      for (const [c, stopFile] of this.children) {
        try {
          fs.writeFileSync(stopFile, `${sig}\n`);
        } catch {
          // the abort message below still reaches it when its event loop turns
        }
        sendTo(c, { type: 'abort' });
      }
    } else if (!this.forced) {
      this.forced = true;
      progress.log(`${sig}: killing the workers`);
      for (const c of this.children.keys()) c.kill('SIGKILL');
    }
  }

  async run(todo: TrialSpec[]): Promise<void> {
    const { ctx } = this;
    const queue = [...todo];
    const mode: TrialJob['mode'] = ctx.workers > 1 ? 'train' : 'all';
    await Promise.all(
      Array.from({ length: Math.min(ctx.workers, queue.length) }, async (_, slot) => {
        while (!this.stopping && queue.length) {
          await this.runOne(queue.shift() as TrialSpec, slot, mode);
        }
      }),
    );
    // Parallel workers: the FPS of each trained trial is measured now, one at a time, with no
    // training running, so that the numbers are comparable.
    if (this.trained.length && !this.stopping) {
      ctx.progress.log(
        `measuring FPS of ${this.trained.length} trial${this.trained.length > 1 ? 's' : ''} one at a time (no training running)`,
      );
    }
    for (const tr of this.trained) {
      if (this.stopping) {
        ctx.writer.interrupt(tr.trial.id, 'interrupted before its FPS benchmark (a re-run measures it)');
        continue;
      }
      await this.runOne(tr.trial, 0, 'bench', tr.finish);
    }
  }

  /** Runs one trial in a worker process and stores everything it reports. */
  private async runOne(t: TrialSpec, slot: number, mode: TrialJob['mode'], benchOf?: TrialFinish): Promise<TrialOutcome | 'skipped'> {
    const { ctx } = this;
    const { writer, progress } = ctx;
    const checkpointDir = path.join(path.dirname(ctx.dbFile), 'checkpoints', t.id);
    const label = trialLabel(t);
    let resume = false;
    if (mode !== 'bench') {
      // One trial, one runner: another sweep on this database may have finished or started it since it was planned.
      const c = writer.claim(t, 'local');
      if (!c.claimed) {
        progress.log(`trial ${t.id} ${label}: ${SweepWriter.refusal(c.reason)}: skipped`);
        progress.trialEnded(slot, true);
        return 'skipped';
      }
      resume = c.was === 'interrupted' && fs.existsSync(path.join(checkpointDir, 'last.safetensors'));
      const row = c.row;
      // A fresh start: no stale checkpoint or epochs of an earlier attempt.
      if (!resume) fs.rmSync(checkpointDir, { recursive: true, force: true });
      progress.log(`trial ${t.id} ${label}: ${resume ? `resuming after epoch ${row?.epochs_done}` : 'starting'}`);
      writer.begin(t, !resume);
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
      mode,
      stopFile,
    };

    return new Promise<TrialOutcome>((resolve) => {
      let outcome: TrialOutcome | undefined;
      let tail = '';
      const keep = (b: Buffer) => {
        tail = (tail + b.toString()).slice(-4000);
      };
      const child = fork(this.worker.script, this.worker.args, {
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, ABLATE_SWEEP_WORKER: '1' },
        execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
      });
      this.children.set(child, stopFile);
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      let killTimer: NodeJS.Timeout | undefined;
      const settle = (o: TrialOutcome) => {
        if (outcome) return;
        outcome = o;
        progress.trialEnded(slot, o === 'ok' || o === 'failed');
      };
      child.on('message', (m: FromWorker) => {
        try {
          if (m.type === 'ready') {
            if (this.stopping) {
              writer.interrupt(t.id, 'interrupted before it started');
              settle('interrupted');
              child.kill('SIGKILL');
            } else sendTo(child, { type: 'run', job });
            return;
          }
          const r = handleReport(ctx, t, slot, m, benchOf);
          if (m.type === 'epoch') sendTo(child, { type: 'ack', seq: m.seq });
          if (r.outcome === 'trained') this.trained.push({ trial: t, finish: r.finish as TrialFinish });
          if (r.outcome) settle(r.outcome);
        } catch (e) {
          progress.log(`trial ${t.id}: could not store a report: ${(e as Error).message}`);
        }
      });
      const watchStop = setInterval(() => {
        if (this.stopping && !killTimer) {
          killTimer = setTimeout(() => child.kill('SIGKILL'), ctx.stopTimeout * 1000);
        }
      }, 200);
      child.on('exit', (code, signal) => {
        clearInterval(watchStop);
        if (killTimer) clearTimeout(killTimer);
        this.children.delete(child);
        fs.rmSync(stopFile, { force: true });
        if (!outcome) {
          if (this.stopping) {
            writer.interrupt(t.id, 'interrupted (the worker was stopped)');
            settle('interrupted');
          } else {
            const why = `the worker process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})${tail.trim() ? `: ${tail.trim().split('\n').slice(-5).join(' | ')}` : ''}`;
            writer.fail(t.id, why);
            progress.log(`trial ${t.id} ${label}: FAILED: ${why}`);
            settle('failed');
          }
        }
        resolve(outcome as TrialOutcome);
      });
    });
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
