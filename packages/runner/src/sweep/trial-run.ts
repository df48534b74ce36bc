/**
 * Runs one trial in the current process (a worker): backend, data, model (seeded), summary (params,
 * GFLOPs at 640 and at the run's size), training with per-epoch reports, then the FPS benchmark.
 * Reports go through `send`; the caller (worker.ts) forwards them to the sweep process.
 * Outcomes: `done`; `interrupted` (the abort signal: training stops after its current batch with
 * `last` saved); `failed` with the error (exception, non-finite loss, out of memory, a module that
 * cannot run at this size, data that changed since the sweep was planned).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, manualSeed } from '@ablate/core';
import { type DetectionDataset, loadUltralyticsDataset, syntheticDataset } from '@ablate/data';
import type { ArtefactsRef, TransferRecord } from '@ablate/tracker';
import { ARTEFACTS_DIR, benchFps, DEFAULT_TRAIN, type EpochReport, type TrainSettings, train, writeArtefacts } from '@ablate/train';
import {
  buildModel,
  createRegistry,
  type DetectionModel,
  loadPretrained,
  type ModuleRegistry,
  parsePretrained,
  summary,
} from '@ablate/yolov8';
import { ATTENTION_PLUGINS } from '../plugins.js';
import type { DataChoice } from './experiment.js';
import type { EpochMsg, FromWorker, TrialJob } from './protocol.js';
import { provenance } from './provenance.js';

export async function loadData(data: DataChoice): Promise<DetectionDataset> {
  return data.kind === 'synthetic' ? syntheticDataset(data.options) : loadUltralyticsDataset(data.path);
}

function epochMsg(r: EpochReport): EpochMsg {
  return {
    epoch: r.epoch,
    boxLoss: r.boxLoss,
    clsLoss: r.clsLoss,
    dflLoss: r.dflLoss,
    lr: r.lr,
    precision: r.precision,
    recall: r.recall,
    map50: r.map50,
    map50_95: r.map50_95,
    fitness: r.fitness,
    seconds: r.seconds,
    valLoss: r.valLoss,
  };
}

async function bench(model: DetectionModel, b: { imgsz: number; warmup: number; runs: number }) {
  const fps = await benchFps(model, b.imgsz, { warmup: b.warmup, runs: b.runs });
  if (!(fps.fps > 0) || !Number.isFinite(fps.fps)) throw new Error(`the FPS benchmark gave ${fps.fps} FPS`);
  return fps;
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR');
}

export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const msg = e.message || String(e);
  if (/memory|Maximum call stack|Array buffer allocation|out of memory/i.test(msg) && !/^out of memory/i.test(msg)) {
    return `out of memory: ${e.name}: ${msg}`;
  }
  return e.name && e.name !== 'Error' ? `${e.name}: ${msg}` : msg;
}

const parentPid = process.ppid;

/**
 * Loads the trial's pretrained checkpoint into `model` (null when it trains from scratch). The file must
 * still be the one the sweep planned with (same sha256); the report counts against every tensor of the
 * base model (built once more, from the experiment's model YAML, for its names).
 */
function pretrain(model: DetectionModel, job: TrialJob, registry: ModuleRegistry): TransferRecord | null {
  const { trial } = job;
  const want = trial.config.pretrained;
  if (!want) return null;
  if (!trial.pretrained) throw new Error(`trial ${trial.id}: the pretrained checkpoint ${want.file} has no path in the job`);
  const file = trial.pretrained.path;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the pretrained checkpoint ${file}: ${(e as Error).message}`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== want.sha256) {
    throw new Error(
      `the pretrained checkpoint ${file} changed since the sweep was planned (sha256 ${sha}, expected ${want.sha256}); run the sweep again`,
    );
  }
  const ck = parsePretrained(bytes, file);
  const base = buildModel(trial.pretrained.baseYaml, { nc: trial.config.model.nc, registry });
  let baseNames: string[];
  try {
    const sd = base.stateDict();
    baseNames = [...sd.keys()];
    for (const t of sd.values()) t.dispose();
  } finally {
    base.dispose();
  }
  const r = loadPretrained(model, ck, baseNames, trial.pretrained.indexMap);
  return {
    transferred: r.transferred,
    total: r.total,
    parameters: r.parameters,
    expected: r.expected,
    notTransferred: r.notTransferred,
    initialised: r.initialised,
    summary: r.summary,
    warning: r.warning,
  };
}

/**
 * The best epoch's diagnostic artefacts (@ablate/train writeArtefacts; loads the best weights into the
 * model, which the FPS benchmark does not mind). A failure here is logged and leaves the trial's result
 * intact: the dashboard then says the artefacts are missing.
 */
async function artefactsOf(model: DetectionModel, data: DetectionDataset, job: TrialJob, s: TrainSettings): Promise<ArtefactsRef | null> {
  const cfg = job.trial.config;
  try {
    const a = await writeArtefacts(model, data, {
      checkpointDir: job.checkpointDir,
      imgsz: s.imgsz,
      val: { conf: cfg.val.conf, iou: cfg.val.iou, maxDet: cfg.val.maxDet, batch: cfg.val.batch ?? s.batch * 2 },
    });
    const dir = path.join(job.checkpointDir, ARTEFACTS_DIR);
    const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    return {
      dir,
      epoch: a.epoch - 1,
      images: a.images.length,
      modules: a.modules.map((m) => ({ layer: m.layer, module: m.module, picture: m.images.some((i) => i.picture !== null) })),
      bytes,
    };
  } catch (e) {
    console.error(`trial ${job.trial.id}: the diagnostic artefacts could not be written: ${describeError(e)}`);
    return null;
  }
}

export async function runTrial(
  job: TrialJob,
  send: (m: FromWorker) => void,
  ackEpoch: (seq: number) => Promise<void>,
  signal: AbortSignal,
  onStop: () => void = () => {},
): Promise<void> {
  const { trial } = job;
  const cfg = trial.config;
  let model: DetectionModel | undefined;
  try {
    const info = await initBackend(job.backend as Parameters<typeof initBackend>[0], { threads: job.threads, log: false });
    if (job.mode === 'bench') {
      // Speed does not depend on the weights: the freshly built model is benchmarked (no data needed).
      manualSeed(trial.seed);
      model = buildModel(trial.modelYaml, { nc: cfg.model.nc, registry: createRegistry(...ATTENTION_PLUGINS) });
      const fps = await bench(model, cfg.bench);
      send({ type: 'benched', id: trial.id, fps: fps.fps, p50Ms: fps.p50Ms, p90Ms: fps.p90Ms, fused: fps.fused, nms: fps.nms });
      return;
    }
    const data = await loadData(job.data);
    if (data.fingerprint !== cfg.data.fingerprint) {
      throw new Error(
        job.worker
          ? `the data set on worker ${job.worker} (${data.description}) has fingerprint ${data.fingerprint}, but the sweep planned the trial with fingerprint ${cfg.data.fingerprint}: give this worker the same data (--data-root <its copy>)`
          : `the data set changed since the sweep was planned (fingerprint ${data.fingerprint}, expected ${cfg.data.fingerprint}); run the sweep again`,
      );
    }
    manualSeed(trial.seed);
    const registry = createRegistry(...ATTENTION_PLUGINS);
    model = buildModel(trial.modelYaml, { nc: cfg.model.nc, registry });
    // Pretrained weights over the seeded initialisation: what the checkpoint does not give keeps it.
    const transfer = pretrain(model, job, registry);
    const atRun = summary(model, cfg.train.imgsz);
    const at640 = summary(model, 640);
    fs.mkdirSync(job.checkpointDir, { recursive: true });
    const settings: TrainSettings = { ...DEFAULT_TRAIN, ...cfg.train, augment: { ...DEFAULT_TRAIN.augment, ...cfg.train.augment } };
    const batches = Math.ceil(data.train.length / settings.batch);
    send({
      type: 'started',
      id: trial.id,
      skipped: data.skipped,
      batches,
      start: {
        pid: process.pid,
        backend: info.name,
        threads: info.threads,
        params: atRun.parameters,
        gflops: atRun.gflops,
        gflops640: at640.gflops,
        transfer,
        summary: {
          name: atRun.name,
          layers: atRun.layers,
          parameters: atRun.parameters,
          gradients: atRun.gradients,
          gflops: atRun.gflops,
          imgsz: atRun.imgsz,
          gflops640: at640.gflops,
          rows: atRun.rows.map((r) => ({ index: r.index, from: r.from, n: r.repeats, params: r.params, module: r.module, args: r.args })),
        },
        provenance: {
          trialId: trial.id,
          seed: trial.seed,
          workerPid: process.pid,
          config: cfg,
          backend: { name: info.name, tfBackend: info.tfBackend, threads: info.threads, simd: info.simd },
          data: {
            description: data.description,
            fingerprint: data.fingerprint,
            train: data.train.length,
            val: data.val.length,
            skipped: data.skipped.length,
          },
          resumed: job.resume,
          ...provenance(),
        },
      },
    });
    let seq = 0;
    let lastBatchSent = 0;
    const result = await train(
      model,
      data,
      settings,
      { conf: cfg.val.conf, iou: cfg.val.iou, batch: cfg.val.batch, maxDet: cfg.val.maxDet },
      {
        checkpointDir: job.checkpointDir,
        resume: job.resume,
        hooks: {
          signal,
          onBatch: (p) => {
            // Checked synchronously between batches: IPC messages and signals only arrive when the event
            // loop turns, which a training epoch may not do until its end.
            // An orphan (the sweep process died, e.g. kill -9) stops at once: the next run resumes.
            if (process.send && process.ppid !== parentPid) process.exit(1);
            // The sweep asks to stop (Ctrl-C): abort, so training stops after this batch with `last` saved.
            if (job.stopFile && !signal.aborted && fs.existsSync(job.stopFile)) onStop();
            const now = Date.now();
            if (now - lastBatchSent < 200 && p.batch < p.batches) return;
            lastBatchSent = now;
            send({ type: 'batch', id: trial.id, epoch: p.epoch, epochs: p.epochs, batch: p.batch, batches: p.batches, loss: p.loss });
          },
          onEpoch: async (r) => {
            const s = seq++;
            send({ type: 'epoch', id: trial.id, seq: s, report: epochMsg(r), epochs: settings.epochs });
            await ackEpoch(s);
          },
          // A resumed trial: the epochs in the checkpoint are stored again (the database may have missed
          // the last one if the sweep process died between the checkpoint and the report).
          onResume: async (done) => {
            for (const r of done) {
              const s = seq++;
              send({ type: 'epoch', id: trial.id, seq: s, report: epochMsg(r), epochs: settings.epochs, replayed: true });
              await ackEpoch(s);
            }
          },
        },
      },
    );
    const b = result.best;
    const artefacts = await artefactsOf(model, data, job, settings);
    const finish = {
      bestEpoch: b.epoch - 1,
      precision: b.precision,
      recall: b.recall,
      map50: b.map50,
      map50_95: b.map50_95,
      fitness: b.fitness,
      trainSeconds: result.trainSeconds,
      artefacts,
      // pycocotools' numbers of the best epoch (null when it was not evaluated, e.g. a checkpoint of an older version)
      coco: b.coco ?? null,
    };
    const epochsDone = result.epochs.length ? Math.max(...result.epochs.map((e) => e.epoch)) : b.epoch;
    if (job.mode === 'train') {
      send({ type: 'trained', id: trial.id, finish, epochsDone });
      return;
    }
    // Training finished (an abort that came during the last validation changes nothing): the benchmark is short.
    const fps = await bench(model, cfg.bench);
    send({
      type: 'done',
      id: trial.id,
      epochsDone,
      finish: {
        ...finish,
        fps: fps.fps,
        latencyP50Ms: fps.p50Ms,
        latencyP90Ms: fps.p90Ms,
        fpsFused: fps.fused,
        fpsNms: fps.nms,
      },
    });
  } catch (e) {
    if (isAbort(e) || signal.aborted) send({ type: 'interrupted', id: trial.id, reason: 'interrupted by the user (SIGINT/SIGTERM)' });
    else send({ type: 'failed', id: trial.id, error: describeError(e) });
  } finally {
    model?.dispose();
  }
}
