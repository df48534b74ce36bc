/**
 * Planning: experiment file + CLI overrides -> a validated experiment, the backend the workers will
 * use, the data set (generated into its cache when synthetic, fingerprinted) and the list of trials.
 * Nothing here touches the database: `--dry-run` and every scheduler start from the same plan.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKEND_NAMES, type BackendName, initBackend } from '@ablate/core';
import { type DetectionDataset, ensureSyntheticCache } from '@ablate/data';
import { createRegistry, type ModuleRegistry } from '@ablate/yolov8';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { type Experiment, ExperimentError, formatProblems, loadExperiment, type Problem, parsePretrainedKey } from './experiment.js';
import { formatDuration } from './report.js';
import { loadData } from './trial-run.js';
import { expandTrials, type TrialSpec } from './trials.js';

export const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

/** The options planning reads (a subset of SweepOptions). */
export interface PlanOptions {
  file: string;
  cwd?: string;
  workers?: number;
  db?: string;
  backend?: string;
  epochs?: number;
  threads?: number;
  /** `--pretrained <file>` (or `none`): replaces the file's `pretrained` (one checkpoint for every trial). */
  pretrained?: string;
}

export interface SweepPlan {
  exp: Experiment;
  registry: ModuleRegistry;
  /** Backend as asked for (file or --backend): what workers initialise. */
  backend: BackendName;
  /** What `backend` resolves to here (`auto` -> wasm, ...): part of the trial ids. */
  backendName: string;
  workers: number;
  threads: number;
  dbFile: string;
  data: DetectionDataset;
  trials: TrialSpec[];
  /** A path as the user would write it (relative to cwd when inside it). */
  showPath(p: string): string;
}

/** Plans the sweep; on bad input reports it through `err` and returns the exit code instead. */
export async function planSweep(o: PlanOptions, err: (line: string) => void): Promise<SweepPlan | number> {
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
  if (o.pretrained !== undefined) {
    const problems: Problem[] = [];
    const choices = parsePretrainedKey({ problems, lineOf: () => undefined }, o.pretrained, { baseDir: cwd, cwd }, '--pretrained');
    if (problems.length) return usage(problems.map((p) => `--pretrained: ${p.message}`).join('\n'));
    exp = { ...exp, pretrained: choices };
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
  return { exp, registry, backend, backendName, workers, threads, dbFile, data, trials, showPath };
}
