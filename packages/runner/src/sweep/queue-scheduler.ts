/**
 * The queue scheduler: the trials of the sweep become BullMQ jobs (job id = trial id, see queue.ts)
 * that `pnpm worker` processes on any machine run; this process stays the one database writer and
 * polls its trials' jobs, storing each start, epoch and result as it appears (the dashboard is live).
 *
 * Re-attaching: a job already in the queue (an earlier sweep process was killed) is followed, not
 * added again; a job that finished meanwhile is collected. A job that finished as interrupted is added
 * again (it resumes); a failed one is collected as failed unless `--retry-failed`.
 * A new run of a trial (BullMQ gave a stalled job to another worker) is seen by its run id: epochs of
 * a run from scratch replace the earlier ones (never duplicated: one row per trial and epoch), and the
 * trial counts the restart (`runs`, `restarts`).
 * Redis unreachable (restarted): the commands wait and the poll goes on when it is back.
 * Stopping (SIGINT/SIGTERM): waiting jobs are removed (their trials become interrupted); running ones
 * get their stop key, and their workers stop after the current batch; a second signal stops waiting.
 */
import { type Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  connectionOptions,
  jobIdOf,
  parseRedisUrl,
  QUEUE_NAME,
  type QueueJobData,
  type QueueProgress,
  type QueueResult,
  type RedisTarget,
  stopKey,
} from './queue.js';
import { handleReport, type Scheduler, type SchedulerContext, trialLabel } from './scheduler.js';
import type { TrialSpec } from './trials.js';
import { SweepWriter } from './writer.js';

interface Tracked {
  t: TrialSpec;
  slot: number;
  /** The run (worker attempt) whose reports were stored last. */
  runId?: string;
  startedStored: boolean;
  epochs: Set<number>;
}

export interface QueueSchedulerOptions {
  /** redis://host:port[/db] */
  url: string;
  retryFailed: boolean;
  /** Poll period (ms, default 500). */
  pollMs?: number;
  /** Called once the jobs are in the queue, with how many (for the SLURM script). */
  onEnqueued?: (n: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class QueueScheduler implements Scheduler {
  stopping = false;
  private forced = false;
  private stopDeadline = Number.POSITIVE_INFINITY;
  private readonly target: RedisTarget;
  private queue?: Queue<QueueJobData, QueueResult>;
  private client?: Redis;
  private readonly outstanding = new Map<string, Tracked>();

  constructor(
    private readonly ctx: SchedulerContext,
    private readonly o: QueueSchedulerOptions,
  ) {
    this.target = parseRedisUrl(o.url);
  }

  private get where(): string {
    return `${this.target.host}:${this.target.port}/${this.target.db}`;
  }

  stop(sig: NodeJS.Signals): void {
    const { progress } = this.ctx;
    if (!this.stopping) {
      this.stopping = true;
      this.stopDeadline = Date.now() + this.ctx.stopTimeout * 1000;
      progress.log(
        `${sig}: stopping; waiting trials leave the queue, running ones stop after their current batch on their workers (${sig} again to stop waiting for them)`,
      );
      void this.askStop().catch((e: Error) => progress.log(`queue: could not ask the workers to stop: ${e.message}`));
    } else if (!this.forced) {
      this.forced = true;
      progress.log(`${sig}: not waiting for the workers; their trials are stored as interrupted`);
    }
  }

  private async askStop(): Promise<void> {
    const { queue, client } = this;
    if (!queue || !client) return;
    for (const tr of [...this.outstanding.values()]) {
      await client.set(stopKey(tr.t.id), '1', 'EX', 86_400);
      const job = await queue.getJob(jobIdOf(tr.t.id));
      const state = job ? await job.getState() : 'unknown';
      if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
        try {
          await job.remove();
        } catch {
          continue; // a worker took it meanwhile: it sees the stop key
        }
        this.ctx.writer.interrupt(tr.t.id, 'interrupted before it started (the sweep was stopped)');
        this.ctx.progress.trialEnded(tr.slot, false);
        this.outstanding.delete(tr.t.id);
      }
    }
  }

  async run(todo: TrialSpec[]): Promise<void> {
    const { ctx } = this;
    const { writer, progress } = ctx;
    const queue = new Queue<QueueJobData, QueueResult>(QUEUE_NAME, { connection: connectionOptions(this.target) });
    this.queue = queue;
    queue.on('error', () => {}); // reconnects on its own; the poll reports an outage
    const client = new Redis(connectionOptions(this.target));
    client.on('error', () => {});
    this.client = client;
    try {
      let added = 0;
      let attached = 0;
      for (const [slot, t] of todo.entries()) {
        if (this.stopping) break;
        const c = writer.claim(t, 'queue');
        if (!c.claimed) {
          progress.log(`trial ${t.id} ${trialLabel(t)}: ${SweepWriter.refusal(c.reason)}: skipped`);
          progress.trialEnded(slot, true);
          continue;
        }
        await client.del(stopKey(t.id));
        const tr: Tracked = { t, slot, startedStored: false, epochs: new Set() };
        let job = await queue.getJob(jobIdOf(t.id));
        const state = job ? await job.getState() : 'unknown';
        // Finished between the two reads: read the job again for its return value (see poll()).
        if (job && (state === 'completed' || state === 'failed')) job = await queue.getJob(jobIdOf(t.id));
        if (job && state === 'completed' && job.returnvalue?.outcome === 'ok') {
          progress.log(`trial ${t.id} ${trialLabel(t)}: finished in the queue while no sweep was watching: collected`);
          this.collect(tr, job, state);
          continue;
        }
        if (job && state === 'failed' && !this.o.retryFailed) {
          this.collect(tr, job, state);
          continue;
        }
        if (job && (state === 'completed' || state === 'failed' || state === 'unknown')) {
          await job.remove();
          job = undefined;
        }
        if (job) {
          attached++;
          progress.log(`trial ${t.id} ${trialLabel(t)}: already in the queue (${state}): following it`);
        } else {
          await this.enqueue(t, c.was === 'interrupted');
          added++;
          if (c.was === 'interrupted')
            progress.log(`trial ${t.id} ${trialLabel(t)}: queued again (it resumes from a shared checkpoint when a worker has one)`);
        }
        this.outstanding.set(t.id, tr);
      }
      if (this.outstanding.size) {
        progress.log(
          `queue ${QUEUE_NAME} on ${this.where}: ${added} trial(s) added${attached ? `, ${attached} already there` : ''}; ` +
            `start workers on any machine: pnpm worker --queue ${this.o.url}`,
        );
      }
      this.o.onEnqueued?.(added + attached);
      let outage = false;
      while (this.outstanding.size && !this.forced && Date.now() < this.stopDeadline) {
        try {
          for (const tr of [...this.outstanding.values()]) await this.poll(tr);
          if (outage) progress.log(`queue: ${this.where} is reachable again`);
          outage = false;
        } catch (e) {
          if (!outage) progress.log(`queue: ${this.where} unreachable (${(e as Error).message}); retrying`);
          outage = true;
        }
        await sleep(this.o.pollMs ?? 500);
      }
      for (const tr of this.outstanding.values()) {
        writer.interrupt(tr.t.id, 'interrupted (the sweep was stopped before its worker reported)');
        progress.trialEnded(tr.slot, false);
      }
      this.outstanding.clear();
    } finally {
      await queue.close().catch(() => {});
      client.disconnect();
    }
  }

  private async enqueue(t: TrialSpec, resume: boolean): Promise<void> {
    const data: QueueJobData = {
      sweep: this.ctx.exp.name,
      trial: t,
      data: this.ctx.exp.data,
      backend: this.ctx.backend,
      threads: this.ctx.threads,
      resume,
    };
    // Same job id twice is a no-op in BullMQ; jobs are kept until the sweep has stored their result.
    await this.queue?.add('trial', data, { jobId: jobIdOf(t.id), removeOnComplete: false, removeOnFail: false, attempts: 1 });
  }

  private async poll(tr: Tracked): Promise<void> {
    const queue = this.queue as Queue<QueueJobData, QueueResult>;
    const job = await queue.getJob(jobIdOf(tr.t.id));
    if (!job) {
      // Gone (Redis restarted without its data): queued again.
      this.ctx.progress.log(`trial ${tr.t.id} ${trialLabel(tr.t)}: its job is no longer in the queue: added again`);
      await this.enqueue(tr.t, true);
      return;
    }
    const state = await job.getState();
    const p = job.progress as QueueProgress | number | undefined;
    if (p && typeof p === 'object' && p.runId) this.apply(tr, p);
    if (state === 'completed' || state === 'failed') {
      // `job` was read before getState(): a job that completed in between has a stale copy without its
      // return value (the trial was then stored as interrupted although its worker reported it ok; seen
      // with 3 workers in scripts/queue-overhead.sh). A finished job no longer changes: read it again.
      const done = await queue.getJob(jobIdOf(tr.t.id));
      if (done) this.collect(tr, done, state);
    }
  }

  /** Stores what a run reported that is not stored yet. */
  private apply(tr: Tracked, p: QueueProgress): void {
    const { writer, progress } = this.ctx;
    const { t, slot } = tr;
    if (p.runId !== tr.runId) {
      const first = tr.runId === undefined;
      tr.runId = p.runId;
      tr.startedStored = false;
      tr.epochs = new Set();
      if (!first) {
        writer.tracker.noteRerun(t.id, !p.resumed, p.runner);
        progress.log(
          `trial ${t.id} ${trialLabel(t)}: ${p.resumed ? 'resumed from its checkpoint' : 'restarted from scratch (no shared checkpoint)'} on ${p.runner}: its earlier worker was lost`,
        );
      } else progress.log(`trial ${t.id} ${trialLabel(t)}: ${p.resumed ? 'resuming' : 'running'} on ${p.runner}`);
      // A run from scratch: the epochs of earlier runs go (its own come again below).
      writer.begin(t, !p.resumed);
      writer.tracker.setRunner(t.id, p.runner);
    }
    if (p.started && !tr.startedStored) {
      handleReport(this.ctx, t, slot, { type: 'started', id: t.id, start: p.started, skipped: [], batches: p.started.batches });
      tr.startedStored = true;
    }
    for (const e of p.epochs) {
      if (tr.epochs.has(e.epoch)) continue;
      handleReport(this.ctx, t, slot, { type: 'epoch', id: t.id, seq: 0, report: e, epochs: t.config.train.epochs });
      tr.epochs.add(e.epoch);
    }
    if (p.batch && tr.startedStored) progress.batch(slot, p.batch.epoch, p.batch.batch, p.batch.batches, p.batch.loss);
  }

  /** Stores a finished job's outcome and takes the job out of the queue. */
  private collect(tr: Tracked, job: Job<QueueJobData, QueueResult>, state: 'completed' | 'failed'): void {
    const { progress } = this.ctx;
    const { t, slot } = tr;
    const rv = job.returnvalue;
    if (state === 'completed' && rv?.progress) this.apply(tr, rv.progress);
    let finished = true;
    if (state === 'failed') {
      handleReport(this.ctx, t, slot, { type: 'failed', id: t.id, error: job.failedReason || 'failed on its worker (no reason given)' });
    } else if (rv?.outcome === 'ok') {
      handleReport(this.ctx, t, slot, { type: 'done', id: t.id, finish: rv.finish, epochsDone: rv.progress.epochs.length });
    } else {
      handleReport(this.ctx, t, slot, { type: 'interrupted', id: t.id, reason: rv?.reason ?? 'interrupted on its worker' });
      finished = false;
    }
    progress.trialEnded(slot, finished);
    this.outstanding.delete(t.id);
    void job.remove().catch(() => {});
  }
}
