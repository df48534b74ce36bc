// The smoke experiment's recipe (experiments/smoke.yaml: yolov8n, 2 synthetic classes, 160 px images trained at
// 64 px, batch 4, warmup 1 epoch) on every backend of the test matrix: the first training batch's loss
// ([box, cls, dfl], as train() reports it) equals the wasm backend's within float32 tolerance. Same seeded
// weights, same data and augmentation on each.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, manualSeed } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import { type DetectionDataset, syntheticDataset } from '@ablate/data';
import { buildModel } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN, type TrainSettings } from './settings.js';
import { train } from './train.js';
import { AbortError } from './types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-train-backends-'));
let data: DetectionDataset;
const SMOKE: TrainSettings = { ...DEFAULT_TRAIN, epochs: 2, batch: 4, imgsz: 64, warmup_epochs: 1, close_mosaic: 1 };

/** The loss train() reports after the first batch, then stops (abort). */
async function firstBatchLoss(backend: 'wasm' | 'node' | 'cpu'): Promise<{ loss: number[]; leaked: number }> {
  await initBackend(backend, { log: false });
  manualSeed(0);
  const model = buildModel('yolov8n.yaml', { nc: 2 });
  const before = tf.memory().numTensors;
  const ctrl = new AbortController();
  let loss: number[] = [];
  await expect(
    train(
      model,
      data,
      SMOKE,
      { conf: 0.001, iou: 0.7 },
      {
        checkpointDir: path.join(tmp, backend),
        hooks: {
          signal: ctrl.signal,
          onBatch: (p) => {
            loss = [...p.loss];
            ctrl.abort();
          },
        },
      },
    ),
  ).rejects.toBeInstanceOf(AbortError);
  const leaked = tf.memory().numTensors - before;
  model.dispose();
  return { loss, leaked };
}

beforeAll(async () => {
  data = await syntheticDataset({
    classes: 2,
    train: 16,
    val: 8,
    imgsz: 160,
    size: [0.08, 0.85],
    seed: 0,
    cacheDir: path.join(tmp, 'cache'),
  });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("the smoke recipe's first training step on each backend", () => {
  let wasm: { loss: number[]; leaked: number } | undefined;
  it.each(testBackends(['wasm', 'node']))('%s: loss equals the wasm backend within 1e-4 (relative); nothing leaks', async (backend) => {
    wasm ??= await firstBatchLoss('wasm');
    const got = backend === 'wasm' ? wasm : await firstBatchLoss(backend);
    console.log(
      `[first step] ${backend} loss [box, cls, dfl] = ${got.loss.map((v) => v.toFixed(6)).join(', ')} (wasm ${wasm.loss.map((v) => v.toFixed(6)).join(', ')})`,
    );
    expect(got.leaked).toBe(0);
    expect(got.loss).toHaveLength(3);
    for (let k = 0; k < 3; k++) {
      expect(Number.isFinite(got.loss[k]) && got.loss[k] > 0).toBe(true);
      expect(Math.abs(got.loss[k] - wasm.loss[k]) / wasm.loss[k]).toBeLessThan(1e-4);
    }
  });
});
