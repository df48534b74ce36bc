/**
 * The one database writer of a sweep. Whatever runs the trials (the local process pool, queue
 * workers on other machines), only the sweep process writes SQLite, through this class: the sweep and
 * its trials are registered, what needs work is chosen, and every report of a trial is stored as it
 * arrives (so the dashboard is live).
 *
 * One trial, one runner: before a trial runs it is claimed (`claim`: status check and lease in one
 * transaction, see Tracker.claimTrial); the writer renews its leases every third of the lease time
 * while the trials run, so a second sweep on the same database skips them, and takes over a lease
 * whose sweep died without a word once it expires.
 */
import * as os from 'node:os';
import { type ClaimResult, pidAlive, Tracker, type TrialFinish, type TrialRow } from '@ablate/tracker';
import type { Experiment } from './experiment.js';
import { fmt } from './progress.js';
import type { FromWorker } from './protocol.js';
import type { TrialSpec } from './trials.js';

/** How a run of a trial ended; `trained`: training done, its FPS still to be measured. */
export type TrialOutcome = 'ok' | 'failed' | 'interrupted' | 'trained';

export interface Prepared {
  /** The trials that need work, in plan order. */
  todo: TrialSpec[];
  /** Trials that count as finished already (ok, failed and not retried, running elsewhere). */
  done: number;
  rows: Map<string, TrialRow>;
}

/** Lease time of a claimed trial (ms); ABLATE_LEASE_MS overrides it (tests). */
export const LEASE_MS = Number(process.env.ABLATE_LEASE_MS) || 60_000;

export class SweepWriter {
  readonly tracker: Tracker;
  /** This sweep's lease owner id: host, pid and a random part (two sweeps in one process differ). */
  readonly owner = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  /** Trials this sweep holds a lease on. */
  private readonly held = new Set<string>();
  private heartbeat?: NodeJS.Timeout;

  constructor(
    dbFile: string,
    readonly leaseMs = LEASE_MS,
  ) {
    this.tracker = new Tracker(dbFile);
  }

  /** Claims a trial for this sweep (see Tracker.claimTrial); `runner`: where it will run. */
  claim(t: TrialSpec, runner: string): ClaimResult {
    const c = this.tracker.claimTrial(t.id, this.owner, this.leaseMs, { runner });
    if (c.claimed) {
      this.held.add(t.id);
      this.heartbeat ??= setInterval(() => this.renew(), Math.max(50, this.leaseMs / 3));
      this.heartbeat.unref();
    }
    return c;
  }

  /** Why a claim was refused, for the log. */
  static refusal(reason: 'ok' | 'failed' | 'leased'): string {
    return reason === 'ok'
      ? 'finished by another sweep meanwhile'
      : reason === 'failed'
        ? 'failed in another sweep meanwhile'
        : 'running in another sweep (its lease is live)';
  }

  private renew(): void {
    if (!this.held.size) return;
    try {
      for (const id of this.tracker.renewLeases([...this.held], this.owner, this.leaseMs)) this.held.delete(id);
    } catch {
      // a busy database: the next beat renews (leases last three beats)
    }
  }

  private release(id: string): void {
    this.held.delete(id);
  }

  /**
   * Repairs trials left running by dead processes, stores the sweep and its trials, and chooses what
   * runs: `ok` is skipped; `failed` is skipped unless `retryFailed` (then reset); a trial running in
   * another live process is skipped; the rest (new, interrupted) runs.
   */
  prepare(exp: Experiment, trials: TrialSpec[], retryFailed: boolean, err: (line: string) => void): Prepared {
    const { tracker } = this;
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
            pretrained: t.config.pretrained ?? null,
          },
          t.ordinal,
        ),
      );
    }

    const todo: TrialSpec[] = [];
    let done = 0;
    for (const t of trials) {
      const r = rows.get(t.id) as TrialRow;
      const tag = `trial ${t.id} ${t.variant} seed ${t.seed}`;
      if (r.status === 'ok') {
        err(`${tag}: already done (mAP50 ${fmt(r.map50)}, mAP50-95 ${fmt(r.map50_95)}, ${fmt(r.fps, 1)} FPS): skipped`);
        done++;
      } else if (r.status === 'failed' && !retryFailed) {
        err(`${tag}: failed before (${r.error}): skipped; --retry-failed runs it again`);
        done++;
      } else if (r.status === 'running' && r.pid !== null && r.pid !== process.pid && pidAlive(r.pid)) {
        err(`${tag}: running in another process (pid ${r.pid}): skipped`);
        done++;
      } else if (r.status === 'running' && r.lease_owner && r.lease_owner !== this.owner && (r.lease_expires ?? 0) > Date.now()) {
        err(`${tag}: running in another sweep (lease of ${r.lease_owner}): skipped`);
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
    return { todo, done, rows };
  }

  getTrial(id: string): TrialRow | undefined {
    return this.tracker.getTrial(id);
  }

  /** A run of the trial begins: a fresh start forgets the epochs of an earlier attempt. */
  begin(t: TrialSpec, fresh: boolean): void {
    if (fresh) this.tracker.clearEpochs(t.id);
    this.tracker.markRunning(t.id, { pid: process.pid, modelYaml: t.modelYaml });
  }

  /**
   * Stores one report of a trial's run. Returns the outcome when the report ends the run.
   * `benchOf`: for a `benched` report, the stored training results it completes.
   */
  record(t: TrialSpec, m: FromWorker, benchOf?: TrialFinish): { outcome?: TrialOutcome; finish?: TrialFinish } {
    const { tracker } = this;
    switch (m.type) {
      case 'started':
        tracker.markRunning(t.id, { ...m.start, pid: process.pid });
        return {};
      case 'epoch': {
        const { valLoss, ...rest } = m.report;
        tracker.recordEpoch(t.id, {
          ...rest,
          epoch: m.report.epoch - 1,
          valBoxLoss: valLoss?.[0] ?? null,
          valClsLoss: valLoss?.[1] ?? null,
          valDflLoss: valLoss?.[2] ?? null,
        });
        return {};
      }
      case 'done':
        this.release(t.id);
        tracker.finishTrial(t.id, m.finish);
        return { outcome: 'ok', finish: m.finish };
      case 'trained':
        return { outcome: 'trained', finish: m.finish };
      case 'benched': {
        const f: TrialFinish = {
          ...benchOf,
          fps: m.fps,
          latencyP50Ms: m.p50Ms,
          latencyP90Ms: m.p90Ms,
          fpsFused: m.fused,
          fpsNms: m.nms,
        };
        this.release(t.id);
        tracker.finishTrial(t.id, f);
        return { outcome: 'ok', finish: f };
      }
      case 'failed':
        this.release(t.id);
        tracker.failTrial(t.id, m.error);
        return { outcome: 'failed' };
      case 'interrupted':
        this.release(t.id);
        tracker.interruptTrial(t.id, m.reason);
        return { outcome: 'interrupted' };
      default:
        return {};
    }
  }

  fail(id: string, error: string): void {
    this.release(id);
    this.tracker.failTrial(id, error);
  }

  interrupt(id: string, reason: string): void {
    this.release(id);
    this.tracker.interruptTrial(id, reason);
  }

  trialsOfSweep(sweep: string): TrialRow[] {
    return this.tracker.trialsOfSweep(sweep);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.tracker.close();
  }
}
