/**
 * `pnpm worker --queue redis://...`: runs the trials of any sweep from the BullMQ queue on this
 * machine. Each job runs in a forked worker process (`worker.ts`, the same code path as the local
 * pool's), and everything it reports goes back through the job: its progress (the start, every epoch,
 * the last batch) and its result. A worker never opens the database.
 *
 * Data: synthetic sets are regenerated from their seed here (same fingerprint); an Ultralytics set is
 * read from the experiment's path, or from `--data-root` (this machine's copy); the fingerprint is
 * checked before training and a mismatch fails the trial with both fingerprints.
 * Checkpoints: `--checkpoints <dir>` (a shared folder) lets a trial that a lost worker left resume on
 * any worker from its last epoch; without it they live in this machine's temp folder, and a trial
 * taken over from another machine restarts from scratch (the sweep records the restart).
 * Stopping: SIGINT/SIGTERM, or the sweep's stop key for a trial: the running trial stops after its
 * current batch with `last` saved and is reported interrupted.
 */
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { DataChoice } from './experiment.js';
import type { FromWorker, ToWorker, TrialJob } from './protocol.js';
import {
  connectionOptions,
  LOCK_SECONDS,
  parseRedisUrl,
  QUEUE_NAME,
  type QueueJobData,
  type QueueProgress,
  type QueueResult,
  stopKey,
} from './queue.js';

export interface QueueWorkerOptions {
  /** redis://host:port[/db] */
  queue: string;
  backend?: string;
  threads?: number;
  /** Trials run at once by this worker (default 1). */
  concurrency?: number;
  /** Run one trial, then exit (also exits when the queue has nothing waiting). */
  once?: boolean;
  /** This machine's copy of the data set: a folder replacing the experiment's data set folder, or FROM=TO. */
  dataRoot?: string;
  /** Shared checkpoint folder. */
  checkpoints?: string;
  /** --once: seconds with nothing waiting before exiting (default 15). */
  idleSeconds?: number;
  log?: (line: string) => void;
  /** The worker entry (default: worker.js beside this file). */
  workerScript?: string;
}

/** The data as this machine sees it: `--data-root` maps an Ultralytics data set's path to the local copy. */
export function mapData(data: DataChoice, dataRoot?: string): DataChoice {
  if (data.kind !== 'ultralytics' || !dataRoot) return data;
  const eq = dataRoot.indexOf('=');
  if (eq > 0) {
    const from = path.resolve(dataRoot.slice(0, eq));
    const to = path.resolve(dataRoot.slice(eq + 1));
    const rel = path.relative(from, data.path);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return data;
    return { kind: 'ultralytics', path: path.join(to, rel) };
  }
  // A folder: it holds this machine's copy of the folder of the data.yaml.
  return { kind: 'ultralytics', path: path.join(path.resolve(dataRoot), path.basename(data.path)) };
}

const hostPid = () => `${os.hostname()}:${process.pid}`;

export async function runQueueWorker(o: QueueWorkerOptions): Promise<number> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const target = parseRedisUrl(o.queue);
  const connection = connectionOptions(target);
  const workerScript = o.workerScript ?? new URL('./worker.js', import.meta.url).pathname;
  const checkpointsBase = o.checkpoints ? path.resolve(o.checkpoints) : path.join(os.tmpdir(), 'ablate-worker-checkpoints');
  const running = new Map<string, { child?: ChildProcess; stopFile: string }>();
  let stopping = false;
  let handled = 0;
  const me = hostPid();
  /** For the sweep's stop keys. */
  const client = new Redis(connection);
  client.on('error', () => {}); // reconnects on its own

  const stopRun = (r: { child?: ChildProcess; stopFile: string }) => {
    try {
      fs.writeFileSync(r.stopFile, 'stop\n');
    } catch {
      // the abort message still reaches it
    }
    if (r.child?.connected) r.child.send({ type: 'abort' } satisfies ToWorker);
  };

  const processor = async (job: Job<QueueJobData, QueueResult>): Promise<QueueResult> => {
    const d = job.data;
    const t = d.trial;
    const label = `trial ${t.id} ${t.variant} seed ${t.seed}`;
    if (stopping || (await client.exists(stopKey(t.id)))) {
      return { outcome: 'interrupted', reason: 'interrupted before it started (the sweep or the worker was stopped)' };
    }
    const runId = `${me}:${Date.now()}`;
    const checkpointDir = path.join(checkpointsBase, t.id);
    // A checkpoint counts only when this job ran before (a lost worker) or the sweep queued an interrupted
    // trial (Ctrl-C, a stopped worker): never a stale one of a trial started afresh.
    const earlier = job.progress && typeof job.progress === 'object' && 'runId' in job.progress;
    const resume = (earlier || job.attemptsStarted > 1 || d.resume === true) && fs.existsSync(path.join(checkpointDir, 'last.safetensors'));
    if (!resume) fs.rmSync(checkpointDir, { recursive: true, force: true });
    fs.mkdirSync(checkpointDir, { recursive: true });
    const stopFile = path.join(os.tmpdir(), `ablate-stop-${process.pid}-${t.id}`);
    fs.rmSync(stopFile, { force: true });
    const progress: QueueProgress = { runId, runner: me, resumed: resume, epochs: [] };
    let pending: Promise<unknown> = job.updateProgress({ ...progress });
    const push = () => {
      const snapshot = structuredClone(progress);
      pending = pending.then(() => job.updateProgress(snapshot)).catch(() => {});
      return pending;
    };
    let lastBatchPush = 0;
    log(
      `${label}: ${resume ? 'resuming from its checkpoint' : earlier ? 'starting from scratch (taken over; no checkpoint here)' : 'starting'}`,
    );
    const trialJob: TrialJob = {
      trial: t,
      data: mapData(d.data, o.dataRoot),
      backend: o.backend ?? d.backend,
      threads: o.threads ?? d.threads,
      checkpointDir,
      resume,
      mode: 'all',
      stopFile,
      worker: me,
    };
    const entry: { child?: ChildProcess; stopFile: string } = { stopFile };
    running.set(t.id, entry);
    const watchStop = setInterval(() => {
      client
        .exists(stopKey(t.id))
        .then((n: number) => {
          if (n) stopRun(entry);
        })
        .catch(() => {});
    }, 1000);
    try {
      return await new Promise<QueueResult>((resolve, reject) => {
        let settled = false;
        let tail = '';
        const child = fork(workerScript, [], {
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          env: { ...process.env, ABLATE_SWEEP_WORKER: '1' },
          execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
        });
        entry.child = child;
        if (stopping) stopRun(entry);
        const keep = (b: Buffer) => {
          tail = (tail + b.toString()).slice(-4000);
        };
        child.stdout?.on('data', keep);
        child.stderr?.on('data', keep);
        const send = (m: ToWorker) => {
          if (child.connected) child.send(m);
        };
        const end = (f: () => void) => {
          if (settled) return;
          settled = true;
          f();
        };
        child.on('message', (m: FromWorker) => {
          switch (m.type) {
            case 'ready':
              send({ type: 'run', job: trialJob });
              break;
            case 'started':
              progress.started = { ...m.start, batches: m.batches };
              void push();
              break;
            case 'batch': {
              progress.batch = { epoch: m.epoch, epochs: m.epochs, batch: m.batch, batches: m.batches, loss: m.loss };
              const now = Date.now();
              if (now - lastBatchPush > 1000) {
                lastBatchPush = now;
                void push();
              }
              break;
            }
            case 'epoch':
              progress.epochs = [...progress.epochs.filter((e) => e.epoch !== m.report.epoch), m.report];
              // Training goes on once the epoch is in Redis (the sweep stores it from there).
              void push().then(() => send({ type: 'ack', seq: m.seq }));
              break;
            case 'done':
              log(`${label}: ok (mAP50 ${m.finish.map50?.toFixed(3)}, ${m.finish.fps?.toFixed(1)} FPS)`);
              end(() => resolve({ outcome: 'ok', finish: m.finish, progress: structuredClone(progress) }));
              break;
            case 'failed':
              log(`${label}: FAILED: ${m.error}`);
              end(() => reject(new Error(m.error)));
              break;
            case 'interrupted':
              log(`${label}: interrupted`);
              end(() => resolve({ outcome: 'interrupted', reason: m.reason, progress: structuredClone(progress) }));
              break;
            default:
              break;
          }
        });
        child.on('exit', (code, signal) => {
          end(() => {
            if (stopping) resolve({ outcome: 'interrupted', reason: 'interrupted (the worker was stopped)' });
            else
              reject(
                new Error(
                  `the worker process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})${tail.trim() ? `: ${tail.trim().split('\n').slice(-5).join(' | ')}` : ''}`,
                ),
              );
          });
        });
      }).finally(async () => {
        await pending;
      });
    } finally {
      clearInterval(watchStop);
      running.delete(t.id);
      fs.rmSync(stopFile, { force: true });
    }
  };

  const worker = new Worker<QueueJobData, QueueResult>(QUEUE_NAME, processor, {
    connection,
    concurrency: o.concurrency ?? 1,
    lockDuration: LOCK_SECONDS * 1000,
    stalledInterval: Math.max(1000, (LOCK_SECONDS * 1000) / 2),
    // A job is given to another worker after each stall (a worker killed); only after many is it failed.
    maxStalledCount: 10,
    autorun: false,
  });
  worker.on('error', (e) => log(`worker: ${e.message} (retrying)`));
  log(
    `worker ${me}: queue ${QUEUE_NAME} on ${target.host}:${target.port}/${target.db}, ${o.concurrency ?? 1} trial(s) at a time` +
      `${o.backend ? `, backend ${o.backend}` : ''}${o.threads ? `, ${o.threads} thread(s)` : ''}, checkpoints in ${checkpointsBase}${o.once ? ', one trial' : ''}`,
  );

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  const finish = async (code: number) => {
    clearInterval(idleTimer);
    await worker.close();
    await queue?.close();
    client.disconnect();
    resolveDone(code);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      for (const r of running.values()) r.child?.kill('SIGKILL');
      return;
    }
    stopping = true;
    log(`${sig}: stopping after the current batch of ${running.size} running trial(s)`);
    for (const r of running.values()) stopRun(r);
    void finish(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  worker.on('completed', () => {
    handled++;
    if (o.once && !stopping) void finish(0);
  });
  worker.on('failed', (job) => {
    if (!job) return;
    handled++;
    if (o.once && !stopping) void finish(0);
  });
  // --once (a SLURM array task): exits when the queue has had nothing waiting for a while.
  let queue: Queue | undefined;
  let idleSince = Date.now();
  let idleTimer: NodeJS.Timeout | undefined;
  if (o.once) {
    queue = new Queue(QUEUE_NAME, { connection });
    idleTimer = setInterval(() => {
      if (running.size || handled) {
        idleSince = Date.now();
        return;
      }
      queue
        ?.getJobCounts('waiting', 'delayed', 'prioritized')
        .then((c) => {
          const n = Object.values(c).reduce((a, b) => a + b, 0);
          if (n > 0) idleSince = Date.now();
          else if (Date.now() - idleSince > (o.idleSeconds ?? 15) * 1000) {
            log('nothing waiting in the queue: exiting');
            void finish(0);
          }
        })
        .catch(() => {});
    }, 1000);
  }
  void worker.run().catch((e: Error) => log(`worker: ${e.message}`));
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}
