/**
 * The experiment file: a YAML document that describes one ablation sweep (model, data, training,
 * validation and speed settings, seeds, and the factors module x position). Parsed with the `yaml`
 * package's document API (so every node knows its line) and validated with zod plus semantic checks
 * (module names against the registry, positions, files that must exist). Every problem is reported as
 * one paragraph naming the file, the line, the key and what was expected; nothing runs until the file
 * is valid (`ExperimentError`, the CLI exits 2).
 *
 * Keys (all but `name` optional; training keys and defaults are Ultralytics 8.0.229's default.yaml):
 *   name, description, model (yolov8n.yaml or a path), data ({synthetic: {...}} or a path to a data.yaml),
 *   train {epochs, batch, imgsz, optimizer, lr0, lrf, momentum, weight_decay, warmup_epochs, warmup_momentum,
 *   warmup_bias_lr, nbs, cos_lr, close_mosaic, patience, box, cls, dfl, hsv_h, hsv_s, hsv_v, degrees,
 *   translate, scale, shear, perspective, flipud, fliplr, mosaic}, val {conf, iou, batch, max_det},
 *   bench {imgsz, batch (1), warmup, runs}, backend, threads (per trial, default 1), workers (trials in
 *   parallel, default 1), seeds, baseline,
 *   sweep {module: [Name | {name, args}], position: [residual | pre-SPPF | neck | pre-head | {after: N | [N...]}
 *   | {residual: N | [N...]}]}, db, pretrained (a checkpoint of the base model, `none`, or a list of them: a sweep
 *   factor; every variant starts from it through the insertion's index map).
 * Relative paths (model, data, db) are resolved against the experiment file's folder first, then the
 * current directory (`db`: the current directory).
 *
 * The parts: experiment-fields.ts (the key tables), yaml-source.ts (the document, lines, problems,
 * checkMap), experiment-sections.ts (model, data, sweep factors); this file puts them together.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendName } from '@ablate/core';
import type { TrainSettings } from '@ablate/train';
import type { InsertPosition, ModuleRegistry } from '@ablate/yolov8';
import { AUGMENT_KEYS, BENCH_FIELDS, type SWEEP_BACKENDS, TOP_FIELDS, TRAIN_FIELDS, VAL_FIELDS } from './experiment-fields.js';
import { parseData, parseFactors, parseModel, parsePretrainedKey } from './experiment-sections.js';
import { ExperimentError, readYamlSource, show } from './yaml-source.js';

export {
  AUGMENT_KEYS,
  BENCH_FIELDS,
  NAMED_POSITIONS,
  OPTIMIZERS,
  POSITION_FORMS,
  SWEEP_BACKENDS,
  SWEEP_FIELDS,
  SYNTHETIC_FIELDS,
  TOP_FIELDS,
  TRAIN_FIELDS,
  VAL_FIELDS,
} from './experiment-fields.js';
export { parsePosition, parsePretrainedKey } from './experiment-sections.js';
export { ExperimentError, formatProblems, type Problem } from './yaml-source.js';

// ---------------------------------------------------------------------------------------------
// Resolved experiment

export interface ModuleChoice {
  /** Canonical registry name. */
  name: string;
  /** As written (alias or canonical). */
  written: string;
  /** YAML args for the row: a list, or a mapping (passed as `[mapping]`). */
  args: unknown[] | Record<string, unknown> | null;
}

export interface PositionChoice {
  /** One position, or several applied together in one rewrite. */
  position: InsertPosition | InsertPosition[];
  /**
   * Short name stored in the database: `residual`, `pre-SPPF`, `after:9`, `after:[4,6]`, `residual:[2]`;
   * a combination joins its positions' names with `+` (`residual+neck`).
   */
  label: string;
}

/** A pretrained checkpoint (null: from scratch). */
export type PretrainedChoice = {
  /** As written in the experiment (or on the command line). */
  written: string;
  /** Absolute path. */
  file: string;
  /** File name (stored with the trial; the path is not part of its identity). */
  name: string;
  /** sha256 of the file's bytes (hex): part of the trial id. */
  sha256: string;
} | null;

export type DataChoice = { kind: 'synthetic'; options: Record<string, unknown> } | { kind: 'ultralytics'; path: string };

/** The `train` block after defaults: the trainer's settings less the seed (which comes from `seeds`). */
export type TrainChoice = Omit<TrainSettings, 'seed'>;

export interface Experiment {
  /** Absolute path of the experiment file (or `<text>`). */
  file: string;
  /** The file as the user wrote it (relative to the current directory), for messages. */
  shownFile: string;
  name: string;
  description: string | null;
  model: { written: string; source: string; text: string };
  data: DataChoice;
  train: TrainChoice;
  val: { conf: number; iou: number; batch: number; maxDet: number };
  bench: { imgsz: number; warmup: number; runs: number };
  backend: (typeof SWEEP_BACKENDS)[number];
  threads: number;
  workers: number;
  seeds: number[];
  baseline: boolean;
  modules: ModuleChoice[];
  positions: PositionChoice[];
  /** The `pretrained` factor: [null] (from scratch) unless the file says otherwise. */
  pretrained: PretrainedChoice[];
  /** Absolute path of the results database. */
  db: string;
  /** The file's content as plain data (stored with the sweep). */
  raw: Record<string, unknown>;
  /** 1-based line of the node at a key path (e.g. ['sweep', 'module', 1]), for later messages. */
  lineOf(keyPath: (string | number)[]): number | undefined;
}

export interface LoadOptions {
  registry: ModuleRegistry;
  /** Where relative paths are also looked up (default process.cwd()). */
  cwd?: string;
}

export function loadExperiment(file: string, opts: LoadOptions): Experiment {
  const cwd = opts.cwd ?? process.cwd();
  const abs = path.resolve(cwd, file);
  const rel = path.relative(cwd, abs);
  const shown = rel && !rel.startsWith('..') ? rel : abs;
  if (!fs.existsSync(abs)) {
    throw new ExperimentError(shown, [{ message: `the experiment file does not exist (looked for ${abs}).` }]);
  }
  return parseExperiment(fs.readFileSync(abs, 'utf8'), { ...opts, file: abs, shownAs: shown, cwd });
}

export function parseExperiment(text: string, opts: LoadOptions & { file?: string; shownAs?: string }): Experiment {
  const file = opts.file ?? '<text>';
  const shown = opts.shownAs ?? file;
  const cwd = opts.cwd ?? process.cwd();
  const baseDir = opts.file ? path.dirname(opts.file) : cwd;
  const src = readYamlSource(text, shown);
  const { raw, problems, lineOf, checkMap, fail } = src;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail([{ line: 1, message: `an experiment file must be a YAML mapping with at least a \`name\` key; got ${show(raw)}.` }]);
  }

  const top = checkMap(raw, TOP_FIELDS, [], 'a mapping', ['name']) ?? {};
  const rawObj = raw as Record<string, unknown>;

  // train / val / bench
  const train = checkMap(rawObj.train ?? {}, TRAIN_FIELDS, ['train'], TOP_FIELDS.train.expect) ?? {};
  if (typeof train.imgsz === 'number' && train.imgsz % 32 !== 0) {
    problems.push({
      line: lineOf(['train', 'imgsz']),
      key: 'train.imgsz',
      message: `expected ${TRAIN_FIELDS.imgsz.expect}; got ${train.imgsz}.`,
    });
  }
  const val = checkMap(rawObj.val ?? {}, VAL_FIELDS, ['val'], TOP_FIELDS.val.expect) ?? {};
  const bench = checkMap(rawObj.bench ?? {}, BENCH_FIELDS, ['bench'], TOP_FIELDS.bench.expect) ?? {};
  if (typeof bench.imgsz === 'number' && bench.imgsz % 32 !== 0) {
    problems.push({
      line: lineOf(['bench', 'imgsz']),
      key: 'bench.imgsz',
      message: `expected ${BENCH_FIELDS.imgsz.expect}; got ${bench.imgsz}.`,
    });
  }

  const model = parseModel(src, top.model, { baseDir, cwd });
  const data = parseData(src, rawObj.data, { baseDir, cwd });
  const { modules, positions } = parseFactors(src, rawObj.sweep, opts.registry);
  const pretrained = parsePretrainedKey(src, rawObj.pretrained, { baseDir, cwd });
  if (top.baseline === false && !modules.length && !problems.length) {
    problems.push({
      line: lineOf(['baseline']),
      key: 'baseline',
      message: 'nothing to run: baseline is false and there is no sweep {module, position}.',
    });
  }
  if (problems.length) fail(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));

  const trainOut = train as Record<string, unknown>;
  const augment = Object.fromEntries(AUGMENT_KEYS.map((k) => [k, trainOut[k] as number])) as unknown as TrainChoice['augment'];
  const trainChoice = Object.fromEntries(Object.entries(trainOut).filter(([k]) => !(AUGMENT_KEYS as readonly string[]).includes(k)));
  const imgsz = trainOut.imgsz as number;
  const valBatch = (val.batch as number | undefined) ?? 2 * (trainOut.batch as number);
  return {
    file,
    shownFile: shown,
    name: top.name as string,
    description: (top.description as string | undefined) ?? null,
    model: model as Experiment['model'],
    data: data as DataChoice,
    train: { ...(trainChoice as Omit<TrainChoice, 'augment'>), augment },
    val: { conf: val.conf as number, iou: val.iou as number, batch: valBatch, maxDet: val.max_det as number },
    bench: { imgsz: (bench.imgsz as number | undefined) ?? imgsz, warmup: bench.warmup as number, runs: bench.runs as number },
    backend: top.backend as Experiment['backend'],
    threads: top.threads as number,
    workers: top.workers as number,
    seeds: [...new Set(top.seeds as number[])],
    baseline: top.baseline as boolean,
    modules,
    positions,
    pretrained,
    db: path.resolve(cwd, top.db as string),
    raw: rawObj,
    lineOf,
  };
}

export type { BackendName };
