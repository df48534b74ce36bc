#!/usr/bin/env node
/**
 * `gpu-check [--backend tensorflow|webgpu] [--budget 480] [--quick]` (`pnpm gpu-check`, `node bundle/ablate.mjs
 * gpu-check`): one command that says whether this machine trains ablate's models on its GPU and how fast.
 * Checks, in order: the backend and its device (tensorflow: the GPUs TensorFlow created devices for; webgpu:
 * the adapter, a software one refused unless asked for by name), golden on that backend, a YOLOv8n training
 * step at batch 16 / 640 px, batch-1 FPS at 640, each attention module forward+backward at P3/P4/P5 of 640 px,
 * a 3-epoch smoke training. One table at the end; every check that could not run says why. Exit 0 when all
 * passed, 1 otherwise. The budget (seconds, default 480) stops what has not finished; `--quick` shrinks every
 * size for a software adapter (lavapipe) in a test.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { runStep, STEP_IDS, type StepId, type StepInput, type StepRow } from '../gpu-check/steps.js';
import { childCommand } from '../self.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const ROWS_TAG = 'GPU_CHECK_ROWS ';
const GPU_BACKENDS = ['tensorflow', 'webgpu'] as const;
type GpuBackend = (typeof GPU_BACKENDS)[number];

/** The GPUs TensorFlow created devices for, from its log (TF_CPP_MIN_LOG_LEVEL=0): `name: NVIDIA H200, ...`. */
export function tfGpuDevices(log: string): string[] {
  const out: string[] = [];
  for (const m of log.matchAll(/Created device \S*device:GPU:(\d+) with (\d+) MB memory\)?:?\s*->\s*device: \d+, name: ([^,\n]+)/g)) {
    out.push(`GPU:${m[1]} ${m[3].trim()} (${m[2]} MB)`);
  }
  return out;
}

interface ChildResult {
  rows: StepRow[];
  stderr: string;
  seconds: number;
}

/** Runs one step in a child (`gpu-check --step <id>`), killed when `budgetMs` is spent. */
function stepChild(id: StepId, input: StepInput, env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  const self = childCommand('gpu-check', fileURLToPath(import.meta.url));
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [self.script, ...self.args, '--step', id, '--input', JSON.stringify(input)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      // Its own process group: the budget stops the step and what it started (sweep workers, bench children).
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-200_000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, input.budgetMs);
    const done = (why?: string) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith(ROWS_TAG));
      let rows: StepRow[] = line ? (JSON.parse(line.slice(ROWS_TAG.length)) as StepRow[]) : [];
      if (!line || why) {
        const last =
          err
            .split('\n')
            .filter((l) => l.trim() && !/artificially reduced/.test(l))
            .at(-1) ?? '';
        const reason = timedOut ? `stopped: the time budget (${(input.budgetMs / 1000).toFixed(0)} s left) ran out` : (why ?? last);
        rows = rows.length ? rows : [{ check: id, status: 'FAIL', result: reason.slice(0, 300) }];
      }
      resolve({ rows: rows.map((r) => ({ ...r, seconds: r.seconds ?? seconds })), stderr: err, seconds });
    };
    child.on('error', (e) => done(`could not start a child process: ${e.message}`));
    // Ctrl-C stops the detached group too, then gpu-check.
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
      process.exit(130);
    };
    process.once('SIGINT', stop);
    child.on('close', (code, signal) => {
      process.off('SIGINT', stop);
      if (code === 0 && !timedOut) return done();
      done(timedOut ? 'timeout' : signal ? `killed by ${signal}` : undefined);
    });
  });
}

function table(rows: StepRow[]): string {
  const cells = [
    ['check', 'status', 'seconds', 'result'],
    ...rows.map((r) => [r.check, r.status, r.seconds === undefined ? '-' : r.seconds.toFixed(1), r.result]),
  ];
  const w = [0, 1, 2].map((i) => Math.max(...cells.map((c) => c[i].length)));
  return cells.map((c) => `${c[0].padEnd(w[0])}  ${c[1].padEnd(w[1])}  ${c[2].padStart(w[2])}  ${c[3]}`).join('\n');
}

/** Picks the GPU backend: the first of `candidates` whose backend step passes with a real GPU behind it. */
async function pickBackend(candidates: GpuBackend[], explicit: boolean, input: Omit<StepInput, 'backend'>, rows: StepRow[]) {
  for (const b of candidates) {
    // TensorFlow logs the devices it creates only at log level 0.
    const r = await stepChild('backend', { ...input, backend: b }, b === 'tensorflow' ? { TF_CPP_MIN_LOG_LEVEL: '0' } : {});
    const row = { ...r.rows[0], check: `backend ${b}` };
    if (row.status === 'ok' && b === 'tensorflow') {
      const gpus = tfGpuDevices(r.stderr);
      if (gpus.length) row.result += `; ${gpus.join(', ')}`;
      else {
        row.status = 'FAIL';
        const cuda = r.stderr.match(/Cannot dlopen some GPU libraries[^\n]*|Could not load dynamic library[^\n]*/)?.[0];
        row.result = `TensorFlow loaded but created no GPU device: it would run on the CPU${cuda ? ` (${cuda.trim().slice(0, 200)})` : ' (a CPU-only TensorFlow, or no CUDA driver; see the README, GPUs)'}`;
      }
    }
    if (row.status === 'ok' && b === 'webgpu' && / SOFTWARE adapter/.test(row.result) && !explicit) {
      row.status = 'FAIL';
      row.result += ' - not a GPU (pass --backend webgpu to check it anyway)';
    }
    rows.push(row);
    if (row.status === 'ok') return b;
  }
  return null;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('gpu-check')
    .description('Check that ablate trains on this GPU: backend, golden, YOLOv8n step and FPS at 640, attention modules, smoke training')
    .option('-b, --backend <name>', `the GPU backend (${GPU_BACKENDS.join(', ')}; default: the first that has a GPU)`)
    .option(
      '--budget <seconds>',
      'time budget; checks not finished by then are stopped and reported',
      (v) => {
        const n = Number(v);
        if (!(n > 0)) throw new InvalidArgumentError('--budget must be a positive number of seconds');
        return n;
      },
      480,
    )
    .option('--quick', 'small sizes (for a software adapter such as lavapipe, in a test)')
    .option('--step <id>', '(internal) run one step in this process')
    .option('--input <json>', '(internal) the step input')
    .parse(process.argv);
  const o = program.opts<{ backend?: string; budget: number; quick?: boolean; step?: string; input?: string }>();

  if (o.step) {
    if (!(STEP_IDS as readonly string[]).includes(o.step)) throw new Error(`unknown step "${o.step}"; known: ${STEP_IDS.join(', ')}`);
    const rows = await runStep(o.step as StepId, JSON.parse(o.input ?? '{}') as StepInput);
    console.log(`${ROWS_TAG}${JSON.stringify(rows)}`);
    process.exit(0);
  }
  if (o.backend && !(GPU_BACKENDS as readonly string[]).includes(o.backend)) {
    throw new Error(`--backend: "${o.backend}" is not a GPU backend; known: ${GPU_BACKENDS.join(', ')}`);
  }
  const deadline = Date.now() + o.budget * 1000;
  const left = () => deadline - Date.now();
  const base = { quick: Boolean(o.quick), repoRoot, budgetMs: 0 };
  console.log(
    `# ablate gpu-check (node ${process.version}, ${process.platform}-${process.arch}; budget ${o.budget} s${o.quick ? ', --quick sizes' : ''})`,
  );
  const rows: StepRow[] = [];
  const candidates = o.backend ? [o.backend as GpuBackend] : [...GPU_BACKENDS];
  const backend = await pickBackend(candidates, Boolean(o.backend), { ...base, budgetMs: Math.min(left(), 120_000) }, rows);
  for (const r of rows) console.log(`${r.status.padEnd(7)} ${r.check}: ${r.result}`);
  for (const id of STEP_IDS.slice(1)) {
    if (!backend) {
      rows.push({ check: id, status: 'not run', result: 'no GPU backend (see the backend rows above)' });
      continue;
    }
    if (left() < 5_000) {
      rows.push({ check: id, status: 'not run', result: `the time budget (${o.budget} s) is spent` });
      continue;
    }
    const r = await stepChild(id, { ...base, backend, budgetMs: left() });
    for (const row of r.rows) console.log(`${row.status.padEnd(7)} ${row.check}: ${row.result}`);
    rows.push(...r.rows);
  }
  console.log(`\n${table(rows)}`);
  const bad = rows.filter((r) => r.status !== 'ok' && !(r.check.startsWith('backend ') && backend && r.check !== `backend ${backend}`));
  console.log(bad.length ? `\ngpu-check: ${bad.length} check(s) failed or did not run` : '\ngpu-check: all checks passed');
  process.exit(bad.length ? 1 : 0);
}

main().catch((e: Error) => {
  console.error(`gpu-check: ${e.message}`);
  process.exit(2);
});
