/**
 * What the sweep and the queue workers share: the Redis URL, the BullMQ queue's name and options,
 * the job id of a trial, the stop key, and the shapes of a job's data, progress and result.
 *
 * BullMQ (https://docs.bullmq.io) does the queueing: a job per trial whose job id is the trial id
 * (adding it twice is a no-op), locks renewed by the worker running it, stalled jobs (a worker killed,
 * a machine lost) moved back to the waiting list for another worker. The sweep stays the one database
 * writer: a worker reports through the job's progress (the trial's start, every epoch, the last batch)
 * and its result (the final numbers, and every epoch again); the sweep polls the jobs of its trials.
 */
import type { TrialFinish, TrialStart } from '@ablate/tracker';
import type { DataChoice } from './experiment.js';
import type { EpochMsg } from './protocol.js';
import type { TrialSpec } from './trials.js';

export const QUEUE_NAME = 'ablate-trials';

/** Seconds a worker's lock on its job lasts without renewal; a stalled job moves on after about this long. */
export const LOCK_SECONDS = Number(process.env.ABLATE_QUEUE_LOCK_SECONDS) || 30;

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

/** `redis://[user:password@]host[:port][/db]` -> ioredis options; a clear error otherwise. */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue "${url}": expected a Redis URL such as redis://localhost:6379 or redis://host:6379/2`);
  }
  if (u.protocol !== 'redis:') throw new Error(`--queue "${url}": expected a redis:// URL (got ${u.protocol}//)`);
  const dbPart = u.pathname.replace(/^\//, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!Number.isInteger(db) || db < 0) throw new Error(`--queue "${url}": the database number "${dbPart}" is not an integer >= 0`);
  const port = u.port ? Number(u.port) : 6379;
  return {
    host: u.hostname || 'localhost',
    port,
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** ioredis options for BullMQ: commands wait through a Redis restart instead of failing. */
export function connectionOptions(t: RedisTarget) {
  return {
    ...t,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
}

/**
 * The BullMQ job id of a trial: the trial id itself. BullMQ refuses ids that read as integers; a
 * trial id of 12 decimal digits (about 1 in 300) gets a `t` in front.
 */
export function jobIdOf(trialId: string): string {
  return `${Number.parseInt(trialId, 10)}` === trialId ? `t${trialId}` : trialId;
}

/** Key that asks the worker running a trial to stop after its current batch (Ctrl-C on the sweep). */
export const stopKey = (trialId: string) => `ablate:${QUEUE_NAME}:stop:${trialId}`;

/** A job's data: everything a worker needs to run the trial (no paths of the sweep's machine but the data set's). */
export interface QueueJobData {
  sweep: string;
  trial: TrialSpec;
  data: DataChoice;
  /** Backend as the sweep asks for (a worker's --backend overrides it). */
  backend: string;
  threads: number;
  /**
   * The trial was interrupted (Ctrl-C on the sweep, a stopped worker): a worker that has its `last`
   * checkpoint (shared --checkpoints folder, or its own) resumes from it, as the local pool does.
   */
  resume?: boolean;
}

/** A run of a trial on a worker: its progress, replaced as a whole on every update. */
export interface QueueProgress {
  /** One per attempt (worker host:pid:time): a new one means the trial (re)started on a worker. */
  runId: string;
  /** Where: host:pid of the worker process. */
  runner: string;
  /** Continued from a checkpoint (shared --checkpoints folder or this worker's own). */
  resumed: boolean;
  started?: TrialStart & { batches: number };
  /** Every epoch reported so far by this run (1-based epochs), in order. */
  epochs: EpochMsg[];
  batch?: { epoch: number; epochs: number; batch: number; batches: number; loss: [number, number, number] };
}

/** A job's result: how the run ended. `failed` trials are BullMQ failures (failedReason) instead. */
export type QueueResult =
  | { outcome: 'ok'; finish: TrialFinish; progress: QueueProgress }
  | { outcome: 'interrupted'; reason: string; progress?: QueueProgress };
