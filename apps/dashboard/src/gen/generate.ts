/**
 * A realistic results database made with the `Tracker` API, for tests, benchmarks and demos: a sweep
 * of baseline + modules x positions x seeds with epochs (mAP rising after warmup, three decaying
 * losses), model YAML with the module inserted, per-layer summary, provenance, and some failed,
 * running and interrupted trials. Deterministic given `seed`.
 */
import { createHash } from 'node:crypto';
import { type EpochInput, Tracker } from '@ablate/tracker';

export interface GenerateOptions {
  sweep?: string;
  description?: string;
  modules?: string[];
  positions?: string[];
  seeds?: number;
  epochs?: number;
  baseline?: boolean;
  /** Variants (module, position) whose trials all fail, e.g. `[['MSDeformAttn', 'pre-head']]`. */
  failVariants?: [string, string][];
  /** Extra single failed trials (in addition to failVariants), chosen at random. */
  failed?: number;
  /** Trials left running (partial epochs), chosen at random. */
  running?: number;
  /** Trials left pending (no epochs). */
  pending?: number;
  /** Trials left interrupted (partial epochs). */
  interrupted?: number;
  seed?: number;
  /** One outer transaction for everything (fast). Default true. */
  oneTransaction?: boolean;
  /**
   * Epoch rows through one prepared INSERT into the tracker's `epochs` table (and `epochs_done` set
   * once per trial) instead of `Tracker.recordEpoch` per row: same rows, ~3x faster, for the scale database.
   */
  bulkEpochs?: boolean;
}

export interface GeneratedDb {
  file: string;
  sweep: string;
  trials: number;
  epochRows: number;
}

export const DEFAULT_MODULES = ['DAttention', 'MSDeformAttn', 'DoubleAttention', 'EfficientAttention', 'FocusedLinearAttention'];
export const DEFAULT_POSITIONS = ['residual', 'pre-SPPF', 'neck', 'pre-head'];

/** mulberry32: a small seeded generator (uniform in [0, 1)). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

const BASE_YAML = `# YOLOv8n, 3 classes
nc: 3
scales:
  n: [0.33, 0.25, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]  # 0-P1/2
  - [-1, 1, Conv, [128, 3, 2]]  # 1-P2/4
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]  # 3-P3/8
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]  # 5-P4/16
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]  # 7-P5/32
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]  # 9
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 6], 1, Concat, [1]]  # cat backbone P4
  - [-1, 3, C2f, [512]]  # 12
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 4], 1, Concat, [1]]  # cat backbone P3
  - [-1, 3, C2f, [256]]  # 15 (P3/8-small)
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]  # cat head P4
  - [-1, 3, C2f, [512]]  # 18 (P4/16-medium)
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]  # cat head P5
  - [-1, 3, C2f, [1024]]  # 21 (P5/32-large)
  - [[15, 18, 21], 1, Detect, [nc]]  # Detect(P3, P4, P5)
`;

/** The baseline model YAML with a line for the module (a stand-in for the real insertion). */
export function variantYaml(module: string | null, position: string | null): string {
  if (module === null) return BASE_YAML;
  const lines = BASE_YAML.split('\n');
  const row = `  - [-1, 1, ${module}, [${position === 'neck' ? 512 : 1024}]]  # inserted: ${position}`;
  const at = position === 'pre-head' ? lines.findIndex((l) => l.includes('Detect')) : lines.findIndex((l) => l.includes('SPPF'));
  if (position === 'residual') {
    return lines
      .map((l) => (l.includes('C2f, [1024, True]') ? l.replace('C2f, [1024, True]', `C2fAttn, [1024, True, ${module}]`) : l))
      .join('\n');
  }
  lines.splice(position === 'pre-SPPF' ? at : at + 1, 0, row);
  return lines.join('\n');
}

/** A per-layer summary shaped as the runner stores it (rows index/from/n/params/module/args, totals). */
function summaryOf(module: string | null, params: number, gflops: number) {
  const names = ['Conv', 'Conv', 'C2f', 'Conv', 'C2f', 'Conv', 'C2f', 'Conv', 'C2f', 'SPPF'];
  const rows = names.map((m, i) => ({
    index: i,
    from: -1 as number | number[],
    n: m === 'C2f' ? 1 + (i % 2) : 1,
    params: Math.round((params / 14) * (0.3 + (i % 4) * 0.3)),
    module: `ultralytics.nn.modules.${m === 'C2f' || m === 'SPPF' ? 'block' : 'conv'}.${m}`,
    args: [16 * 2 ** Math.min(i >> 1, 4), 3, 2] as unknown[],
  }));
  if (module) rows.push({ index: 10, from: -1, n: 1, params: 120000, module, args: [256, { nHeads: 8 }] });
  rows.push({
    index: rows.length,
    from: [15, 18, 21],
    n: 1,
    params: 751507,
    module: 'ultralytics.nn.modules.head.Detect',
    args: [3, [64, 128, 256]],
  });
  return {
    name: 'YOLOv8n',
    layers: 225 + (module ? 12 : 0),
    parameters: params,
    gradients: params,
    gflops,
    imgsz: 128,
    gflops640: gflops * 25,
    rows,
  };
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

export function generateDb(file: string, opts: GenerateOptions = {}): GeneratedDb {
  const sweep = opts.sweep ?? 'attention-positions';
  const modules = opts.modules ?? DEFAULT_MODULES;
  const positions = opts.positions ?? DEFAULT_POSITIONS;
  const seeds = opts.seeds ?? 3;
  const epochs = opts.epochs ?? 30;
  const r = rng(opts.seed ?? 1);
  const tracker = new Tracker(file);
  const config = {
    name: sweep,
    model: 'yolov8n.yaml',
    data: { synthetic: { classes: 3, train: 256, val: 64, imgsz: 128, seed: 0 } },
    train: { epochs, batch: 16, imgsz: 128, optimizer: 'SGD', lr0: 0.01, lrf: 0.01, warmup_epochs: 3, close_mosaic: 5 },
    val: { conf: 0.001, iou: 0.7 },
    bench: { runs: 50, warmup: 5 },
    backend: 'wasm',
    seeds: Array.from({ length: seeds }, (_, i) => i),
    baseline: opts.baseline ?? true,
    modules: modules.map((m) => ({ name: m, args: [] })),
    positions,
  };
  let epochRows = 0;
  type Plan = { module: string | null; position: string | null; seed: number; effect: number; cost: number };
  const plans: Plan[] = [];
  if (opts.baseline ?? true) for (let s = 0; s < seeds; s++) plans.push({ module: null, position: null, seed: s, effect: 0, cost: 0 });
  modules.forEach((m, mi) => {
    positions.forEach((p, pi) => {
      const effect = 0.03 * Math.sin(1.3 * mi + 2.1 * pi + 0.5) - 0.004;
      const cost = 0.05 + 0.04 * ((mi * 7 + pi * 3) % 5);
      for (let s = 0; s < seeds; s++) plans.push({ module: m, position: p, seed: s, effect, cost });
    });
  });
  const failSet = new Set((opts.failVariants ?? []).map(([m, p]) => `${m}@${p}`));
  // Pick the trials left failed / running / pending / interrupted (never the baseline of seed 0).
  const special = new Map<number, 'failed' | 'running' | 'pending' | 'interrupted'>();
  const pick = (n: number, what: 'failed' | 'running' | 'pending' | 'interrupted') => {
    for (let k = 0, guard = 0; k < n && guard < 100 * plans.length; guard++) {
      const i = 1 + Math.floor(r() * (plans.length - 1));
      if (special.has(i) || failSet.has(`${plans[i].module}@${plans[i].position}`)) continue;
      special.set(i, what);
      k++;
    }
  };
  pick(opts.failed ?? 0, 'failed');
  pick(opts.running ?? 0, 'running');
  pick(opts.pending ?? 0, 'pending');
  pick(opts.interrupted ?? 0, 'interrupted');

  const insertEpoch = tracker.db.prepare(
    `INSERT OR REPLACE INTO epochs (trial_id, epoch, box_loss, cls_loss, dfl_loss, lr, precision, recall, map50, map50_95, fitness, seconds)
     VALUES (@id, @epoch, @boxLoss, @clsLoss, @dflLoss, @lr, @precision, @recall, @map50, @map50_95, @fitness, @seconds)`,
  );
  const setDone = tracker.db.prepare('UPDATE trials SET epochs_done = ? WHERE id = ?');
  const record = (id: string, e: Required<Omit<EpochInput, 'valBoxLoss' | 'valClsLoss' | 'valDflLoss'>>) => {
    if (opts.bulkEpochs) insertEpoch.run({ id, ...e });
    else tracker.recordEpoch(id, e);
  };
  const work = () => {
    tracker.upsertSweep({
      name: sweep,
      description: opts.description ?? `${modules.length} modules x ${positions.length} positions x ${seeds} seeds`,
      experimentFile: `experiments/${sweep}.yaml`,
      config,
    });
    plans.forEach((pl, ordinal) => {
      const yaml = variantYaml(pl.module, pl.position);
      const trialConfig = {
        ...config,
        module: pl.module ? { name: pl.module, args: [] } : null,
        position: pl.position,
        seed: pl.seed,
        seeds: undefined,
        modules: undefined,
        positions: undefined,
      };
      const id = hash(JSON.stringify({ yaml, data: config.data, train: config.train, seed: pl.seed }));
      const row = tracker.addTrial(
        sweep,
        {
          id,
          module: pl.module,
          position: pl.position,
          moduleArgs: pl.module ? [] : undefined,
          seed: pl.seed,
          config: trialConfig,
          modelYaml: yaml,
          epochsPlanned: epochs,
          imgsz: 128,
        },
        ordinal,
      );
      // A trial another sweep already ran (same configuration, e.g. the baseline) is shared, not re-run.
      if (row.status !== 'pending') return;
      const what = failSet.has(`${pl.module}@${pl.position}`) ? 'failed' : special.get(ordinal);
      if (what === 'pending') return;
      const params = 3011433 + (pl.module ? Math.round(60000 + 400000 * pl.cost) : 0);
      const gflops = 0.33 + (pl.module ? 0.2 * pl.cost : 0);
      tracker.markRunning(id, {
        pid: what === 'running' ? process.pid : 1,
        backend: 'wasm',
        threads: 2,
        params,
        gflops,
        gflops640: gflops * 25,
        summary: summaryOf(pl.module, params, gflops),
        provenance: {
          trialId: id,
          git: { commit: hash(`commit${opts.seed ?? 1}`) + hash('x'), dirty: false },
          versions: { ablate: '0.1.0', '@tensorflow/tfjs-core': '4.22.0', node: process.version },
          backend: 'wasm',
          threads: 2,
          cpu: 'Generated CPU @ 2.0GHz',
          seed: pl.seed,
        },
      });
      const final = 0.62 + pl.effect + 0.008 * gauss(r);
      const doneEpochs =
        what === 'failed'
          ? 1 + Math.floor(r() * 4)
          : what === 'running' || what === 'interrupted'
            ? Math.max(1, Math.floor(epochs * (0.2 + 0.6 * r())))
            : epochs;
      let best = -1;
      let bestEp = 0;
      let bestRow = { p: 0, r: 0, m50: 0, m: 0 };
      for (let e = 0; e < doneEpochs; e++) {
        const t = (e + 1) / epochs;
        const rise = e < 3 ? 0 : 1 - Math.exp(-4 * (t - 3 / epochs));
        const m = Math.max(0, final * rise + 0.01 * gauss(r) * rise);
        const m50 = Math.min(1, m * 1.35 + 0.005 * gauss(r));
        const prec = Math.min(1, m * 1.2 + 0.02 * r());
        const rec = Math.min(1, m * 1.15 + 0.02 * r());
        const fit = 0.1 * m50 + 0.9 * m;
        record(id, {
          epoch: e,
          boxLoss: 1.1 * Math.exp(-2 * t) + 0.9 + 0.03 * gauss(r) + pl.cost * 0.1,
          clsLoss: 2.8 * Math.exp(-3 * t) + 0.6 + 0.04 * gauss(r),
          dflLoss: 0.5 * Math.exp(-2 * t) + 0.95 + 0.02 * gauss(r),
          lr: 0.01 * (1 - t * 0.99),
          precision: prec,
          recall: rec,
          map50: m50,
          map50_95: m,
          fitness: fit,
          seconds: 20 * (1 + pl.cost) * (1 + 0.05 * r()),
        });
        epochRows++;
        if (fit > best) {
          best = fit;
          bestEp = e;
          bestRow = { p: prec, r: rec, m50, m };
        }
      }
      if (opts.bulkEpochs) setDone.run(doneEpochs, id);
      if (what === 'failed') {
        tracker.failTrial(id, `NonFiniteLossError: loss is NaN at epoch ${doneEpochs}, batch 7`);
      } else if (what === 'interrupted') {
        tracker.markRunning(id, { pid: 1 });
        tracker.interruptTrial(id, 'interrupted by SIGINT');
      } else if (what !== 'running') {
        const fps = (90 / (1 + pl.cost * 3)) * (1 + 0.03 * gauss(r));
        tracker.finishTrial(id, {
          bestEpoch: bestEp,
          precision: bestRow.p,
          recall: bestRow.r,
          map50: bestRow.m50,
          map50_95: bestRow.m,
          fitness: best,
          fps,
          latencyP50Ms: 1000 / fps,
          latencyP90Ms: 1100 / fps,
          coco: syntheticCoco(bestRow.m, bestRow.m50, bestRow.r, 3),
          trainSeconds: doneEpochs * 20 * (1 + pl.cost),
        });
      }
    });
  };
  if (opts.oneTransaction ?? true) tracker.db.transaction(work)();
  else work();
  const trials = plans.length;
  tracker.close();
  return { file, sweep, trials, epochRows };
}

/** The scale database: 25 modules x 10 positions x 20 seeds + a 20-seed baseline = 5,020 trials of 100 epochs. */
export function scaleOptions(): GenerateOptions {
  return {
    sweep: 'scale',
    modules: Array.from({ length: 25 }, (_, i) => `Attn${String(i).padStart(2, '0')}`),
    positions: ['residual', 'pre-SPPF', 'neck', 'pre-head', ...Array.from({ length: 6 }, (_, i) => `after-${i + 10}`)],
    seeds: 20,
    epochs: 100,
    failed: 20,
    running: 4,
    bulkEpochs: true,
  };
}

/** Plausible COCO numbers around the trial's mAP (the generator's stand-in for pycocotools at the best epoch). */
function syntheticCoco(m: number, m50: number, rec: number, nc: number) {
  const c = (v: number) => Math.min(1, Math.max(0, v));
  const stats = {
    AP: c(m * 0.97),
    AP50: c(m50 * 0.98),
    AP75: c(m * 1.02),
    APs: c(m * 0.6),
    APm: c(m * 1.05),
    APl: c(m * 1.2),
    AR1: c(rec * 0.35),
    AR10: c(rec * 0.8),
    AR100: c(rec * 0.9),
    ARs: c(rec * 0.7),
    ARm: c(rec * 0.92),
    ARl: c(rec * 1.0),
  };
  const perClass = Array.from({ length: nc }, (_, cls) => ({
    cls,
    name: `class${cls}`,
    ap: c(m * (0.8 + (0.4 * cls) / Math.max(1, nc - 1))),
    nGt: 20 + cls,
  }));
  return { stats, perClass };
}
