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
 *   | {residual: N | [N...]}]}, db.
 * Relative paths (model, data, db) are resolved against the experiment file's folder first, then the
 * current directory (`db`: the current directory).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendName } from '@ablate/core';
import { AUGMENT_KEYS } from '@ablate/data';
import type { TrainSettings } from '@ablate/train';
import { BUILTIN_YAMLS, guessModelScale, type InsertPosition, loadModelYaml, type ModuleRegistry, pinModelScale } from '@ablate/yolov8';
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { z } from 'zod';
import { closest } from './suggest.js';

// ---------------------------------------------------------------------------------------------
// Field tables: key -> zod schema, what is expected (for messages), default.

interface Field {
  schema: z.ZodType;
  expect: string;
  default?: unknown;
}

const num = (expect: string, min = 0, max = Number.POSITIVE_INFINITY): Field => ({
  schema: z
    .number()
    .min(min)
    .max(max)
    .refine((v) => Number.isFinite(v)),
  expect,
});
const int = (expect: string, min = 0, max = Number.MAX_SAFE_INTEGER): Field => ({ schema: z.int().min(min).max(max), expect });
const bool = (expect = 'true or false'): Field => ({ schema: z.boolean(), expect });
const str = (expect = 'a string'): Field => ({ schema: z.string().min(1), expect });
const d = (f: Field, def: unknown): Field => ({ ...f, default: def });

export const OPTIMIZERS = ['auto', 'SGD', 'Adam', 'AdamW'] as const;
export const SWEEP_BACKENDS = ['auto', 'wasm', 'cpu', 'node', 'tensorflow', 'webgpu'] as const;
export const NAMED_POSITIONS = ['residual', 'pre-SPPF', 'neck', 'pre-head'] as const;
export const POSITION_FORMS = [...NAMED_POSITIONS, '{after: N}', '{after: [N, ...]}', '{residual: N | [N, ...]}'];

/** Training keys, with Ultralytics' names and 8.0.229 defaults (default.yaml). */
export const TRAIN_FIELDS: Record<string, Field> = {
  epochs: d(int('a positive integer', 1), 100),
  batch: d(int('a positive integer', 1), 16),
  imgsz: d(int('a positive multiple of 32 (pixels)', 32), 640),
  optimizer: d({ schema: z.enum(OPTIMIZERS), expect: `one of ${OPTIMIZERS.join(', ')}` }, 'auto'),
  lr0: d(num('a number > 0', Number.MIN_VALUE), 0.01),
  lrf: d(num('a number in [0, 1]', 0, 1), 0.01),
  momentum: d(num('a number in [0, 1)', 0, 1), 0.937),
  weight_decay: d(num('a number >= 0'), 0.0005),
  warmup_epochs: d(num('a number >= 0'), 3.0),
  warmup_momentum: d(num('a number in [0, 1)', 0, 1), 0.8),
  warmup_bias_lr: d(num('a number >= 0'), 0.1),
  nbs: d(int('a positive integer (nominal batch size)', 1), 64),
  cos_lr: d(bool(), false),
  close_mosaic: d(int('an integer >= 0 (epochs)'), 10),
  patience: d(int('an integer >= 0 (epochs without improvement; 0 = never stop early)'), 50),
  box: d(num('a number >= 0 (box loss gain)'), 7.5),
  cls: d(num('a number >= 0 (class loss gain)'), 0.5),
  dfl: d(num('a number >= 0 (DFL loss gain)'), 1.5),
  hsv_h: d(num('a number in [0, 1]', 0, 1), 0.015),
  hsv_s: d(num('a number in [0, 1]', 0, 1), 0.7),
  hsv_v: d(num('a number in [0, 1]', 0, 1), 0.4),
  degrees: d(num('a number in [0, 180] (degrees)', 0, 180), 0),
  translate: d(num('a number in [0, 1]', 0, 1), 0.1),
  scale: d(num('a number >= 0', 0), 0.5),
  shear: d(num('a number in [0, 180] (degrees)', 0, 180), 0),
  perspective: d(num('a number in [0, 0.001]', 0, 0.001), 0),
  flipud: d(num('a probability in [0, 1]', 0, 1), 0),
  fliplr: d(num('a probability in [0, 1]', 0, 1), 0.5),
  mosaic: d(num('a probability in [0, 1]', 0, 1), 1.0),
};
export { AUGMENT_KEYS };

export const VAL_FIELDS: Record<string, Field> = {
  conf: d(num('a confidence threshold in [0, 1]', 0, 1), 0.001),
  iou: d(num('an IoU threshold in [0, 1]', 0, 1), 0.7),
  batch: int('a positive integer (default: twice the training batch)', 1),
  max_det: d(int('a positive integer', 1), 300),
};

export const BENCH_FIELDS: Record<string, Field> = {
  imgsz: int('a positive multiple of 32 (pixels; default: train.imgsz)', 32),
  batch: { schema: z.literal(1), expect: '1 (the benchmark measures batch-1 latency)' },
  warmup: d(int('an integer >= 0'), 10),
  runs: d(int('a positive integer (timed runs; 50 or more for stable numbers)', 1), 50),
};

const range = (expect: string, min: number, max: number): Field => ({
  schema: z.tuple([z.number().min(min).max(max), z.number().min(min).max(max)]).refine(([a, b]) => a <= b),
  expect,
});

/** Options of @ablate/data's syntheticDataset (its names and defaults). */
export const SYNTHETIC_FIELDS: Record<string, Field> = {
  classes: int('an integer in 1..6 (number of shape classes; default 3)', 1, 6),
  train: int('a positive integer (training images; default 256)', 1),
  val: int('a positive integer (validation images; default 64)', 1),
  imgsz: int('an image side in pixels >= 32 (default 128)', 32),
  seed: int('an integer >= 0 (default 0)'),
  objects: range('[min, max] shapes per image, integers >= 0 (default [1, 4])', 0, 1000),
  size: range('[min, max] shape diameter as a fraction of the image side, in (0, 1] (default [0.14, 0.42])', 0, 1),
  distractors: range('[min, max] clutter items per image (default [0, 3])', 0, 1000),
  maxOcclusion: num('a fraction in [0, 1] (largest hidden part of a labelled shape; default 0.5)', 0, 1),
  minBox: num('a number of pixels >= 1 (smallest visible box side; default 8)', 1),
  noise: num('a number >= 0 (std of the pixel noise in grey levels; default 6)'),
  texture: num('a number >= 0 (background texture amplitude in grey levels; default 28)'),
  minContrast: num('a number >= 0 (smallest RGB distance of a shape to its surroundings; default 70)'),
};

export const SWEEP_FIELDS: Record<string, Field> = {
  module: { schema: z.array(z.unknown()).min(1), expect: 'a non-empty list of module names or {name, args} entries' },
  position: { schema: z.array(z.unknown()).min(1), expect: `a non-empty list of positions (${POSITION_FORMS.join(', ')})` },
};

export const TOP_FIELDS: Record<string, Field> = {
  name: {
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
    expect: 'a name of letters, digits, ".", "_" or "-" (it names the sweep in the database)',
  },
  description: str('a string'),
  model: d(str('a model YAML: a built-in name such as yolov8n.yaml, or a path'), 'yolov8n.yaml'),
  data: { schema: z.unknown(), expect: 'a path to an Ultralytics data.yaml, or {synthetic: {classes, train, val, imgsz, seed}}' },
  train: { schema: z.record(z.string(), z.unknown()), expect: 'a mapping of training settings' },
  val: { schema: z.record(z.string(), z.unknown()), expect: 'a mapping {conf, iou, batch, max_det}' },
  bench: { schema: z.record(z.string(), z.unknown()), expect: 'a mapping {imgsz, batch, warmup, runs}' },
  backend: d({ schema: z.enum(SWEEP_BACKENDS), expect: `one of ${SWEEP_BACKENDS.join(', ')}` }, 'auto'),
  threads: d(int('a positive integer (wasm threads per trial; default 1)', 1), 1),
  workers: d(int('a positive integer (trials run in parallel, each in its own process; default 1)', 1), 1),
  seeds: d({ schema: z.array(z.int().min(0)).min(1), expect: 'a non-empty list of integers >= 0, e.g. [0, 1, 2]' }, [0]),
  baseline: d(bool('true or false (whether to train the model without a module)'), true),
  sweep: { schema: z.record(z.string(), z.unknown()), expect: 'a mapping {module: [...], position: [...]}' },
  db: d(str('a path to the SQLite results file'), 'results/ablate.db'),
};

const MODULE_ENTRY_FIELDS: Record<string, Field> = {
  name: str('a module name'),
  args: {
    schema: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown()), z.null()]),
    expect: 'a list of YAML args (as in a model YAML row) or a mapping of named args',
  },
};

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
  position: InsertPosition;
  /** Short name stored in the database: `residual`, `pre-SPPF`, `after:9`, `after:[4,6]`, `residual:[2]`. */
  label: string;
}

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
  /** Absolute path of the results database. */
  db: string;
  /** The file's content as plain data (stored with the sweep). */
  raw: Record<string, unknown>;
  /** 1-based line of the node at a key path (e.g. ['sweep', 'module', 1]), for later messages. */
  lineOf(keyPath: (string | number)[]): number | undefined;
}

export interface Problem {
  line?: number;
  key?: string;
  message: string;
}

/** An invalid experiment file: one paragraph per problem, each naming file, line and key. */
export class ExperimentError extends Error {
  readonly problems: Problem[];
  readonly file: string;
  constructor(file: string, problems: Problem[]) {
    super(formatProblems(file, problems));
    this.name = 'ExperimentError';
    this.file = file;
    this.problems = problems;
  }
}

export function formatProblems(file: string, problems: Problem[]): string {
  const paras = problems.map((p) => {
    const where = [file, p.line !== undefined ? `line ${p.line}` : undefined, p.key ? `key ${p.key}` : undefined]
      .filter(Boolean)
      .join(', ');
    return `${where}: ${p.message}`;
  });
  const tail = problems.length > 1 ? `(${problems.length} problems; nothing was run.)` : '';
  return paras.length === 1 ? `${paras[0]} Nothing was run.` : `${paras.join('\n\n')}\n\n${tail}`;
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

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string "${v}"`;
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (typeof v === 'object') return `a mapping ${JSON.stringify(v)}`;
  return `${typeof v === 'number' ? 'the number' : `the ${typeof v}`} ${String(v)}`;
};

const keyName = (p: (string | number)[]) => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');

export function parseExperiment(text: string, opts: LoadOptions & { file?: string; shownAs?: string }): Experiment {
  const file = opts.file ?? '<text>';
  const shown = opts.shownAs ?? file;
  const cwd = opts.cwd ?? process.cwd();
  const baseDir = opts.file ? path.dirname(opts.file) : cwd;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  const fail = (problems: Problem[]): never => {
    throw new ExperimentError(shown, problems);
  };
  if (doc.errors.length) {
    fail(
      // The first syntax error only: the ones after it are usually its consequences.
      doc.errors.slice(0, 1).map((e) => {
        const pos = e.linePos?.[0];
        const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return {
          line: pos?.line,
          message: `not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${first}. ${
            /unique/i.test(first)
              ? 'A key is written twice: remove or rename one.'
              : 'Fix the syntax (indentation, a missing ":" or closing bracket, a tab) and run again.'
          }`,
        };
      }),
    );
  }
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lc.linePos(offset).line);
  const nodeAt = (keyPath: (string | number)[]): Node | undefined => {
    if (!keyPath.length) return doc.contents as Node | undefined;
    return doc.getIn(keyPath, true) as Node | undefined;
  };
  /** Line of a path; for a missing key, the line of its nearest existing parent. */
  const lineOf = (keyPath: (string | number)[]): number | undefined => {
    for (let n = keyPath.length; n >= 0; n--) {
      const node = nodeAt(keyPath.slice(0, n));
      if (node?.range) {
        // A key's own line is better than its value's (a block mapping value starts on the next line).
        if (n > 0 && typeof keyPath[n - 1] === 'string') {
          const parent = nodeAt(keyPath.slice(0, n - 1));
          if (isMap(parent)) {
            const pair = (parent as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === keyPath[n - 1]);
            const kr = pair && isScalar(pair.key) ? pair.key.range : undefined;
            if (kr) return lineAt(kr[0]);
          }
        }
        return lineAt(node.range[0]);
      }
    }
    return 1;
  };
  const keyLine = (mapPath: (string | number)[], key: string): number | undefined => {
    const parent = nodeAt(mapPath);
    if (isMap(parent)) {
      const pair = (parent as YAMLMap).items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return lineAt(pair.key.range[0]);
    }
    return lineOf(mapPath);
  };

  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail([{ line: 1, message: `an experiment file must be a YAML mapping with at least a \`name\` key; got ${show(raw)}.` }]);
  }
  const problems: Problem[] = [];

  /** Validates one mapping against a field table; returns the values with defaults filled. */
  const checkMap = (
    value: unknown,
    fields: Record<string, Field>,
    at: (string | number)[],
    what: string,
    required: string[] = [],
  ): Record<string, unknown> | undefined => {
    const where = at.length ? keyName(at) : 'the top level';
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ line: lineOf(at), key: keyName(at), message: `expected ${what}; got ${show(value)}.` });
      return undefined;
    }
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const known = Object.keys(fields);
    for (const k of Object.keys(obj)) {
      if (!(k in fields)) {
        const guess = closest(k, known);
        // A key that belongs to another section (e.g. `epochs` at the top level instead of under train).
        const elsewhere = !guess && at.length === 0 ? sectionOf(k) : undefined;
        problems.push({
          line: keyLine(at, k),
          key: keyName([...at, k]),
          message:
            `unknown key \`${k}\` in ${where}` +
            (guess ? `; did you mean \`${guess}\`?` : elsewhere ? `; it belongs under \`${elsewhere}:\`.` : '.') +
            ` Known keys of ${where}: ${known.join(', ')}.`,
        });
      }
    }
    for (const [k, f] of Object.entries(fields)) {
      const v = obj[k];
      if (v === undefined || v === null) {
        if (required.includes(k)) {
          problems.push({
            line: lineOf(at),
            key: keyName([...at, k]),
            message: `the key \`${k}\` is missing in ${where}: expected ${f.expect}.`,
          });
        } else if (f.default !== undefined) out[k] = structuredClone(f.default);
        continue;
      }
      const r = f.schema.safeParse(v);
      if (!r.success) {
        problems.push({ line: lineOf([...at, k]), key: keyName([...at, k]), message: `expected ${f.expect}; got ${show(v)}.` });
        continue;
      }
      out[k] = r.data;
    }
    return out;
  };

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

  // model
  let model: Experiment['model'] | undefined;
  if (typeof top.model === 'string') {
    const written = top.model;
    const found = [path.resolve(baseDir, written), path.resolve(cwd, written)].find((p) => fs.existsSync(p) && fs.statSync(p).isFile());
    try {
      if (found) {
        const t = fs.readFileSync(found, 'utf8');
        loadModelYaml(t); // validates the top-level structure
        model = { written, source: found, text: t };
      } else {
        const loaded = loadModelYaml(written);
        model = { written, source: loaded.source, text: loaded.text ?? '' };
      }
      const scale = guessModelScale(written);
      model.text = pinModelScale(model.text, scale);
    } catch (e) {
      const builtins = Object.keys(BUILTIN_YAMLS)
        .flatMap((k) => ['n', 's', 'm', 'l', 'x'].map((s) => k.replace(/(\d+)/, `$1${s}`)))
        .join(', ');
      problems.push({
        line: lineOf(['model']),
        key: 'model',
        message: found
          ? `the model file ${found} is not a valid model YAML: ${(e as Error).message}.`
          : `"${written}" is neither a built-in model (${builtins}) nor an existing file (looked in ${baseDir} and ${cwd}).`,
      });
    }
  }

  // data
  let data: DataChoice | undefined;
  const rawData = rawObj.data ?? { synthetic: {} };
  if (typeof rawData === 'string') {
    const candidates = [path.resolve(baseDir, rawData), path.resolve(cwd, rawData)];
    const found = candidates.find((p) => fs.existsSync(p));
    if (!found) {
      problems.push({
        line: lineOf(['data']),
        key: 'data',
        message: `the data set "${rawData}" does not exist (looked for ${[...new Set(candidates)].join(' and ')}); expected ${TOP_FIELDS.data.expect}.`,
      });
    } else {
      const yamlFile = fs.statSync(found).isDirectory() ? path.join(found, 'data.yaml') : found;
      if (!fs.existsSync(yamlFile)) {
        problems.push({
          line: lineOf(['data']),
          key: 'data',
          message: `${found} is a folder without a data.yaml; expected ${TOP_FIELDS.data.expect}.`,
        });
      } else data = { kind: 'ultralytics', path: yamlFile };
    }
  } else if (rawData !== null && typeof rawData === 'object' && !Array.isArray(rawData)) {
    const keys = Object.keys(rawData);
    if (keys.length !== 1 || keys[0] !== 'synthetic') {
      const bad = keys.find((k) => k !== 'synthetic') ?? '';
      const guess = closest(bad, ['synthetic']);
      problems.push({
        line: bad ? keyLine(['data'], bad) : lineOf(['data']),
        key: bad ? `data.${bad}` : 'data',
        message: bad
          ? `unknown key \`${bad}\` in data${guess ? '; did you mean `synthetic`?' : '.'} Expected ${TOP_FIELDS.data.expect}.`
          : `expected ${TOP_FIELDS.data.expect}; got an empty mapping.`,
      });
    } else {
      const syn = (rawData as Record<string, unknown>).synthetic ?? {};
      const o = checkMap(
        syn,
        SYNTHETIC_FIELDS,
        ['data', 'synthetic'],
        `a mapping of synthetic-data options {${Object.keys(SYNTHETIC_FIELDS).join(', ')}}`,
      );
      if (o) data = { kind: 'synthetic', options: o };
    }
  } else {
    problems.push({ line: lineOf(['data']), key: 'data', message: `expected ${TOP_FIELDS.data.expect}; got ${show(rawData)}.` });
  }

  // sweep
  const modules: ModuleChoice[] = [];
  const positions: PositionChoice[] = [];
  if (rawObj.sweep !== undefined && rawObj.sweep !== null) {
    const sw = checkMap(rawObj.sweep, SWEEP_FIELDS, ['sweep'], TOP_FIELDS.sweep.expect);
    if (sw) {
      if (Array.isArray(sw.module) && !Array.isArray(sw.position)) {
        problems.push({
          line: lineOf(['sweep']),
          key: 'sweep.position',
          message: `the key \`position\` is missing in sweep: expected ${SWEEP_FIELDS.position.expect}.`,
        });
      }
      if (Array.isArray(sw.position) && !Array.isArray(sw.module)) {
        problems.push({
          line: lineOf(['sweep']),
          key: 'sweep.module',
          message: `the key \`module\` is missing in sweep: expected ${SWEEP_FIELDS.module.expect}.`,
        });
      }
      (Array.isArray(sw.module) ? sw.module : []).forEach((m, i) => {
        const at = ['sweep', 'module', i];
        let name: unknown = m;
        let args: ModuleChoice['args'] = null;
        if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
          const e = checkMap(m, MODULE_ENTRY_FIELDS, at, 'a module entry {name, args}', ['name']);
          if (!e || typeof e.name !== 'string') return;
          name = e.name;
          args = (e.args as ModuleChoice['args']) ?? null;
        }
        if (typeof name !== 'string' || !name) {
          problems.push({ line: lineOf(at), key: keyName(at), message: `expected a module name or {name, args}; got ${show(m)}.` });
          return;
        }
        const canonical = opts.registry.canonicalName(name);
        if (!canonical) {
          const known = opts.registry.names();
          const guess = closest(name, opts.registry.allNames());
          problems.push({
            line: lineOf(typeof m === 'string' ? at : [...at, 'name']),
            key: keyName(at),
            message: `unknown module "${name}"${guess ? `; did you mean "${guess}"?` : '.'} Known modules (YOLOv8 built-ins and attention plugins): ${known.join(', ')}.`,
          });
          return;
        }
        modules.push({ name: canonical, written: name, args });
      });
      (Array.isArray(sw.position) ? sw.position : []).forEach((p, i) => {
        const at = ['sweep', 'position', i];
        const r = parsePosition(p);
        if ('error' in r) {
          problems.push({ line: lineOf(at), key: keyName(at), message: r.error });
          return;
        }
        if (positions.some((q) => q.label === r.label)) {
          problems.push({ line: lineOf(at), key: keyName(at), message: `position ${r.label} is listed twice.` });
          return;
        }
        positions.push(r);
      });
      const seen = new Set<string>();
      modules.forEach((m, i) => {
        const k = `${m.name} ${JSON.stringify(m.args)}`;
        if (seen.has(k))
          problems.push({
            line: lineOf(['sweep', 'module', i]),
            key: `sweep.module[${i}]`,
            message: `module ${m.name} with these args is listed twice.`,
          });
        seen.add(k);
      });
    }
  }
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
    db: path.resolve(cwd, top.db as string),
    raw: rawObj,
    lineOf,
  };
}

/** Which section a key belongs to, for "did you mean" on keys written at the wrong level. */
function sectionOf(k: string): string | undefined {
  if (k in TRAIN_FIELDS) return 'train';
  if (k in SWEEP_FIELDS) return 'sweep';
  if (k === 'seed') return 'seeds (a list)';
  if (k in BENCH_FIELDS) return 'bench';
  if (k in VAL_FIELDS) return 'val';
  return undefined;
}

/** Parses one position entry. */
export function parsePosition(p: unknown): PositionChoice | { error: string } {
  const known = `Known positions: ${POSITION_FORMS.join(', ')}.`;
  if (typeof p === 'string') {
    if ((NAMED_POSITIONS as readonly string[]).includes(p)) return { position: p as InsertPosition, label: p };
    const guess = closest(p, NAMED_POSITIONS);
    return { error: `unknown position "${p}"${guess ? `; did you mean "${guess}"?` : '.'} ${known}` };
  }
  if (p !== null && typeof p === 'object' && !Array.isArray(p)) {
    const keys = Object.keys(p);
    const k = keys[0];
    if (keys.length === 1 && (k === 'after' || k === 'residual')) {
      const v = (p as Record<string, unknown>)[k];
      const okInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
      if (okInt(v)) return { position: { [k]: v } as InsertPosition, label: `${k}:${v}` };
      if (Array.isArray(v) && v.length && v.every(okInt)) {
        return { position: { [k]: v } as InsertPosition, label: `${k}:[${(v as number[]).join(',')}]` };
      }
      return { error: `{${k}: ...} expects a layer index >= 0 or a non-empty list of them; got ${show(v)}. ${known}` };
    }
    const bad = keys.find((x) => x !== 'after' && x !== 'residual');
    const guess = bad ? closest(bad, ['after', 'residual']) : undefined;
    return {
      error: `unknown position ${JSON.stringify(p)}${guess ? `; did you mean \`${guess}\`?` : '.'} ${known}`,
    };
  }
  return { error: `expected a position; got ${show(p)}. ${known}` };
}

export type { BackendName };
