// train() end to end on a tiny YOLOv8 (width 1/16) and a tiny synthetic set at 64 px on wasm:
//  - 3 uninterrupted epochs == 2 epochs, abort, resume -> 3 (bit-identical weights and reports),
//  - abort stops after the current batch and keeps `last` at the last completed epoch,
//  - the number of optimizer steps (EMA updates) follows Ultralytics' accumulation rule,
//  - no tensor leaks across epochs or after the run, checkpoints load, best.safetensors = best epoch's EMA,
//  - NaN loss -> NonFiniteLossError naming epoch and batch; resume with other settings is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, loadSafetensorsFile, manualSeed } from '@ablate/core';
import { type DetectionDataset, syntheticDataset } from '@ablate/data';
import { buildModel, type DetectionModel, YOLOV8_YAML } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchFps } from './bench.js';
import { BEST, LAST, readLast } from './checkpoint.js';
import { roundHalfEven, warmupIterations } from './schedule.js';
import { DEFAULT_TRAIN, type TrainSettings } from './settings.js';
import { train } from './train.js';
import { AbortError, type EpochReport, NonFiniteLossError } from './types.js';
import { unletterbox, validate } from './validate.js';

const TINY_YAML = YOLOV8_YAML.replace('n: [0.33, 0.25, 1024]', 'n: [0.33, 0.0625, 1024]');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-train-test-'));
let data: DetectionDataset;

const SETTINGS: TrainSettings = {
  ...DEFAULT_TRAIN,
  epochs: 3,
  batch: 4,
  imgsz: 64,
  optimizer: 'SGD',
  warmup_epochs: 0, // no warmup: accumulation 2 from the start (nbs 8 / batch 4)
  nbs: 8,
  close_mosaic: 1,
  patience: 0,
  augment: { ...DEFAULT_TRAIN.augment },
};
const VAL = { conf: 0.001, iou: 0.7 };

function tinyModel(seed = 0): DetectionModel {
  manualSeed(seed);
  return buildModel(TINY_YAML, { nc: 3, scale: 'n' });
}

function weights(m: DetectionModel): Map<string, Float32Array> {
  return new Map(m.namedTensors().map(([n, p]) => [n, Float32Array.from(p.variable.dataSync())]));
}

/** Ultralytics' optimizer-step rule: zero_grad at each epoch start, step when ni - last >= accumulate. */
function expectedSteps(epochs: number, nb: number, accumulateAt: (ni: number) => number): number {
  let last = -1;
  let steps = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = 0; i < nb; i++) {
      const ni = i + nb * e;
      if (ni - last >= accumulateAt(ni)) {
        steps++;
        last = ni;
      }
    }
  }
  return steps;
}

const strip = (r: EpochReport) => ({ ...r, seconds: 0 });

beforeAll(async () => {
  await initBackend('wasm', { log: false });
  data = await syntheticDataset({ train: 12, val: 4, imgsz: 64, classes: 3, cacheDir: path.join(tmp, 'cache') });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('train()', () => {
  it('3 epochs == 2 epochs + abort + resume; steps, leaks, checkpoints', async () => {
    // A: uninterrupted
    const a = tinyModel();
    const dirA = path.join(tmp, 'a');
    const base = tf.memory().numTensors;
    const perEpoch: number[] = [];
    const batches: number[] = [];
    const resA = await train(a, data, SETTINGS, VAL, {
      checkpointDir: dirA,
      hooks: {
        onEpoch: () => {
          perEpoch.push(tf.memory().numTensors);
        },
        onBatch: (p) => batches.push(p.batch),
      },
    });
    expect(tf.memory().numTensors).toBe(base); // optimizer, EMA and gradients all freed
    console.log(`[train] tensors at each epoch end: ${perEpoch.join(', ')} (model alone: ${base})`);
    expect(perEpoch[1]).toBe(perEpoch[0]);
    expect(perEpoch[2]).toBe(perEpoch[0]);
    expect(batches).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
    expect(resA.epochs.map((r) => r.epoch)).toEqual([1, 2, 3]);
    for (const r of resA.epochs) {
      for (const v of [r.boxLoss, r.clsLoss, r.dflLoss, ...r.valLoss]) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(r.lr).toBeCloseTo(0.01 * ((1 - (r.epoch - 1) / 3) * 0.99 + 0.01), 12);
      expect(r.fitness).toBeCloseTo(0.1 * r.map50 + 0.9 * r.map50_95, 12);
    }
    console.log(
      `[train] losses per epoch: ${resA.epochs.map((r) => `${r.boxLoss.toFixed(3)}/${r.clsLoss.toFixed(3)}/${r.dflLoss.toFixed(3)}`).join(', ')}`,
    );
    // steps: no warmup, accumulate = max(round(8 / 4), 1) = 2, 3 batches per epoch
    const ckA = readLast(dirA);
    expect(ckA).not.toBeNull();
    const steps = expectedSteps(3, 3, () => 2);
    expect(steps).toBe(4);
    expect(ckA?.state.emaUpdates).toBe(steps);
    expect(ckA?.state.optimizer.stepCount).toBe(steps);
    expect(ckA?.state.epoch).toBe(3);
    // the model ends with the EMA weights, which are what last.safetensors holds under ema.*
    const wa = weights(a);
    const emaFile = ckA?.file.tensors.get('ema.model.0.conv.weight');
    const torchW = a
      .namedTensors()
      .find(([n]) => n === 'model.0.conv.weight')?.[1]
      .toTorch() as tf.Tensor;
    expect(Array.from(emaFile?.data as Float32Array)).toEqual(Array.from(torchW.dataSync()));
    torchW.dispose();
    // best.safetensors holds the EMA of the best epoch and loads into a model
    const best = loadSafetensorsFile(path.join(dirA, BEST));
    expect(Number(best.metadata.epoch)).toBe(resA.best.epoch);
    const probe = tinyModel(1);
    const rep = probe.loadWeights(path.join(dirA, BEST), { strict: true });
    expect(rep.loaded.length).toBe(probe.namedTensors().length);
    probe.dispose();

    // B: same start, aborted during epoch 3 (after its first batch)
    const b = tinyModel();
    const dirB = path.join(tmp, 'b');
    const ctl = new AbortController();
    const seen: string[] = [];
    const err = await train(b, data, SETTINGS, VAL, {
      checkpointDir: dirB,
      hooks: {
        signal: ctl.signal,
        onBatch: (p) => {
          seen.push(`${p.epoch}.${p.batch}`);
          if (p.epoch === 3 && p.batch === 1) ctl.abort();
        },
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).message).toMatch(/aborted at epoch 3, batch 1; last.safetensors holds 2 completed epoch/);
    expect(seen[seen.length - 1]).toBe('3.1'); // stopped after the current batch
    expect(readLast(dirB)?.state.epoch).toBe(2);
    expect(tf.memory().numTensors).toBe(base + b.namedTensors().length);
    b.dispose();

    // C: a fresh process would build the model from another state; resume restores everything
    const c = tinyModel(123);
    let resumed: EpochReport[] = [];
    const newEpochs: number[] = [];
    const resC = await train(c, data, SETTINGS, VAL, {
      checkpointDir: dirB,
      resume: true,
      hooks: {
        onResume: (eps) => {
          resumed = eps;
        },
        onEpoch: (r) => {
          newEpochs.push(r.epoch);
        },
      },
    });
    expect(resumed.map((r) => r.epoch)).toEqual([1, 2]);
    expect(newEpochs).toEqual([3]);
    expect(resC.epochs.map(strip)).toEqual(resA.epochs.map(strip));
    expect(resC.best.epoch).toBe(resA.best.epoch);
    const wc = weights(c);
    let differing = 0;
    for (const [n, v] of wa) if (!v.every((x, i) => x === (wc.get(n) as Float32Array)[i])) differing++;
    expect(differing).toBe(0);
    expect(readLast(dirB)?.state.emaUpdates).toBe(steps);

    // resuming a finished run trains nothing and returns the same result
    const again = await train(c, data, SETTINGS, VAL, { checkpointDir: dirB, resume: true });
    expect(again.epochs.map(strip)).toEqual(resA.epochs.map(strip));
    // resuming with other settings is refused
    await expect(train(c, data, { ...SETTINGS, lr0: 0.02 }, VAL, { checkpointDir: dirB, resume: true })).rejects.toThrow(
      /was written with other settings or data; refusing to resume/,
    );
    c.dispose();
    a.dispose();
    expect(fs.existsSync(path.join(dirB, LAST))).toBe(true);
    // an abort between epochs stops before the next one
    const ctl2 = new AbortController();
    const d = tinyModel();
    const err2 = await train(d, data, SETTINGS, VAL, {
      checkpointDir: path.join(tmp, 'd'),
      hooks: { signal: ctl2.signal, onEpoch: () => ctl2.abort() },
    }).catch((e) => e);
    expect((err2 as Error).message).toMatch(/^training aborted before epoch 2; last.safetensors holds 1 completed epoch/);
    d.dispose();
    expect(fs.readdirSync(dirB).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('optimizer steps during warmup follow the accumulation ramp', async () => {
    // warmup: nw = max(round(3 * 3), 100) = 100 > all 9 batches; accumulate = round(interp(ni, [0, 100], [1, 16])) with nbs 64 / batch 4
    const m = tinyModel();
    const dir = path.join(tmp, 'warm');
    await train(m, data, { ...SETTINGS, warmup_epochs: 3, nbs: 64, epochs: 3 }, VAL, { checkpointDir: dir });
    const nw = warmupIterations(3, 3);
    const steps = expectedSteps(3, 3, (ni) => Math.max(1, roundHalfEven(1 + ((16 - 1) * ni) / nw)));
    expect(readLast(dir)?.state.emaUpdates).toBe(steps);
    // by hand: accumulate 1 for ni 0..3 (1.45 -> 1), 2 for ni 4..8 (1.6 .. 2.2); steps at ni 0, 1, 2, 3, 5, 7
    expect(steps).toBe(6);
    m.dispose();
  });

  it('NaN loss -> NonFiniteLossError with epoch and batch; nothing leaks', async () => {
    const m = tinyModel();
    const base = tf.memory().numTensors;
    const p = m.namedParameters().find(([n]) => n === 'model.0.conv.weight')?.[1];
    const nan = tf.fill(p?.shape as number[], Number.NaN);
    p?.variable.assign(nan);
    nan.dispose();
    const err = await train(m, data, SETTINGS, VAL, { checkpointDir: path.join(tmp, 'nan') }).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as Error).message).toMatch(/^loss is NaN at epoch 1, batch 1 /);
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
  });

  it('validate() and benchFps() run standalone', async () => {
    const m = tinyModel();
    const base = tf.memory().numTensors;
    const r = await validate(m, data.val, { conf: 0.001, iou: 0.7, imgsz: 64, batch: 2, nc: 3 });
    expect(r.seen).toBe(4);
    expect(r.loss).toBeUndefined();
    const f = await benchFps(m, 64, { warmup: 1, runs: 5 });
    expect(f.runs).toBe(5);
    expect(f.fps > 0 && f.p50Ms > 0 && f.p90Ms >= f.p50Ms).toBe(true);
    console.log(`[bench] tiny model at 64 px: ${f.fps.toFixed(1)} FPS, p50 ${f.p50Ms.toFixed(2)} ms, p90 ${f.p90Ms.toFixed(2)} ms`);
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
  });
});

describe('unletterbox', () => {
  it('maps letterboxed pixels back to the original image and clips (scale_boxes)', () => {
    // a 100 x 50 (w x h) image letterboxed to 64: ratio 0.64, pad [0, 16]
    const box = [6.4, 16 + 3.2, 70, 60];
    unletterbox(box, { orig: [50, 100], ratio: 0.64, pad: [0, 16] });
    // x1 6.4 / 0.64 = 10; y1 (19.2 - 16) / 0.64 = 5; x2 70 / 0.64 = 109.4 -> clipped to 100; y2 (60 - 16) / 0.64 = 68.75 -> 50
    const want = [10, 5, 100, 50];
    box.forEach((v, i) => {
      expect(v).toBeCloseTo(want[i], 10);
    });
  });
});
