/**
 * The experiment file's keys: one table per section (key -> zod schema, what is expected for
 * messages, default). Training keys and defaults are Ultralytics 8.0.229's default.yaml.
 */
import { AUGMENT_KEYS } from '@ablate/data';
import { z } from 'zod';

export { AUGMENT_KEYS };

// Field tables: key -> zod schema, what is expected (for messages), default.
export interface Field {
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
  module: {
    schema: z.array(z.unknown()),
    expect: 'a list of module names or {name, args} entries ([] for a seed-noise study of the baseline alone)',
  },
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
  pretrained: {
    schema: z.unknown(),
    expect:
      "a checkpoint of the base model (a trial's best.safetensors, or an Ultralytics .pt such as yolov8n.pt), none, or a list of them as a sweep factor ([none, best.safetensors])",
  },
  db: d(str('a path to the SQLite results file'), 'results/ablate.db'),
};

export const MODULE_ENTRY_FIELDS: Record<string, Field> = {
  name: str('a module name'),
  args: {
    schema: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown()), z.null()]),
    expect: 'a list of YAML args (as in a model YAML row) or a mapping of named args',
  },
};

/** Which section a key belongs to, for "did you mean" on keys written at the wrong level. */
export function sectionOf(k: string): string | undefined {
  if (k in TRAIN_FIELDS) return 'train';
  if (k in SWEEP_FIELDS) return 'sweep';
  if (k === 'seed') return 'seeds (a list)';
  if (k in BENCH_FIELDS) return 'bench';
  if (k in VAL_FIELDS) return 'val';
  return undefined;
}
