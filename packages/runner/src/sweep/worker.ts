/**
 * Worker process entry (forked by the sweep process): receives one `run` job, runs the trial and
 * reports over IPC, then exits. SIGINT/SIGTERM (a Ctrl-C reaches the whole process group) and an
 * `abort` message stop training after the current batch with `last` saved; a lost parent (kill -9)
 * ends the worker at the next batch, and the next sweep run repairs and resumes the trial.
 */
import type { FromWorker, ToWorker } from './protocol.js';
import { runTrial } from './trial-run.js';

if (!process.send) {
  console.error('sweep worker: must be started by the sweep process (node child_process.fork)');
  process.exit(2);
}

const controller = new AbortController();
const acks = new Map<number, () => void>();
let finished = false;
let lastSend: Promise<void> = Promise.resolve();
const send = (m: FromWorker) => {
  if (!process.connected) return;
  lastSend = new Promise<void>((resolve) => {
    process.send?.(m, undefined, {}, () => resolve());
  });
};
const abort = () => {
  if (!controller.signal.aborted) controller.abort();
};
process.on('SIGINT', abort);
process.on('SIGTERM', abort);
process.on('disconnect', () => process.exit(finished ? 0 : 1));

process.on('message', (m: ToWorker) => {
  if (m.type === 'abort') abort();
  else if (m.type === 'ack') {
    acks.get(m.seq)?.();
    acks.delete(m.seq);
  } else if (m.type === 'run') {
    runTrial(m.job, send, (seq) => new Promise<void>((resolve) => acks.set(seq, resolve)), controller.signal, abort)
      .catch((e: Error) => send({ type: 'failed', id: m.job.trial.id, error: e.message }))
      .finally(async () => {
        finished = true;
        await lastSend;
        process.exit(0);
      });
  }
});
send({ type: 'ready' });
