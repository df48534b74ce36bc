/**
 * The learning check: yolov8n trained from scratch on the embedded synthetic set with @ablate/train, printing
 * per epoch the seconds (train / val), losses, lr, P, R, mAP50, mAP50-95, and at the end the total time, the
 * time per training image and the load average. Run from packages/train:
 *   node ../../node_modules/.pnpm/node_modules/vite-node/vite-node.mjs --config vitest.config.ts \
 *     scripts/learning-check.ts -- --epochs 30 --imgsz 128 --batch 16 --train 256 --val 64 --threads 1
 * Options (Ultralytics names where they exist): --epochs --imgsz --batch --train --val --classes --seed
 * --threads --backend --optimizer --lr0 --warmup_epochs --close_mosaic --mosaic --nbs --model --out --cache
 * --data_seed --json <file>.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendName, initBackend, manualSeed } from '@ablate/core';
import { syntheticDataset } from '@ablate/data';
import { buildModel, summary } from '@ablate/yolov8';
import { benchFps, DEFAULT_TRAIN, type EpochReport, type TrainSettings, train } from '../src/index.js';

function args(): Record<string, string> {
  const out: Record<string, string> = {};
  const a = process.argv.slice(2).filter((x) => x !== '--');
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith('--')) throw new Error(`unexpected argument "${a[i]}"`);
    out[a[i].slice(2)] = a[i + 1];
    i++;
  }
  return out;
}

async function main(): Promise<void> {
  const o = args();
  const num = (k: string, d: number) => (o[k] !== undefined ? Number(o[k]) : d);
  const threads = num('threads', 1);
  const backend = (o.backend ?? 'wasm') as BackendName;
  const info = await initBackend(backend, { threads, log: false });
  const imgsz = num('imgsz', 128);
  const t0 = performance.now();
  const data = await syntheticDataset({
    train: num('train', 256),
    val: num('val', 64),
    imgsz,
    classes: num('classes', 3),
    seed: num('data_seed', 0),
    cacheDir: o.cache,
  });
  const dataSeconds = (performance.now() - t0) / 1000;
  const settings: TrainSettings = {
    ...DEFAULT_TRAIN,
    epochs: num('epochs', 30),
    batch: num('batch', 16),
    imgsz,
    optimizer: (o.optimizer ?? 'auto') as TrainSettings['optimizer'],
    lr0: num('lr0', DEFAULT_TRAIN.lr0),
    warmup_epochs: num('warmup_epochs', DEFAULT_TRAIN.warmup_epochs),
    close_mosaic: num('close_mosaic', DEFAULT_TRAIN.close_mosaic),
    nbs: num('nbs', DEFAULT_TRAIN.nbs),
    patience: num('patience', DEFAULT_TRAIN.patience),
    seed: num('seed', 0),
    augment: { ...DEFAULT_TRAIN.augment, mosaic: num('mosaic', DEFAULT_TRAIN.augment.mosaic) },
  };
  manualSeed(settings.seed);
  const model = buildModel(o.model ?? 'yolov8n.yaml', { nc: data.nc });
  const s = summary(model, imgsz);
  const out = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-learning-'));
  console.log(
    `learning check: ${data.description}; data ready in ${dataSeconds.toFixed(1)} s; model ${o.model ?? 'yolov8n.yaml'} ` +
      `${s.parameters} params, ${s.gflops.toFixed(2)} GFLOPs at ${imgsz}; backend ${info.name} (${info.threads} thread(s)); ` +
      `settings ${JSON.stringify({ ...settings, augment: undefined })}; load average ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
  );
  let batchStart = performance.now();
  let trainMs = 0;
  let epochTrainMs = 0;
  let epochStart = performance.now();
  const rows: (EpochReport & { trainSeconds: number; load: number })[] = [];
  const t1 = performance.now();
  const res = await train(
    model,
    data,
    settings,
    { conf: 0.001, iou: 0.7 },
    {
      checkpointDir: out,
      hooks: {
        log: (l) => console.log(l),
        onBatch: (p) => {
          const now = performance.now();
          if (p.batch === 1) {
            // time since the epoch started (data of batch 1 included)
            epochTrainMs = now - epochStart;
          } else epochTrainMs += now - batchStart;
          batchStart = now;
        },
        onEpoch: (r) => {
          trainMs += epochTrainMs;
          const load = os.loadavg()[0];
          rows.push({ ...r, trainSeconds: epochTrainMs / 1000, load });
          console.log(
            `epoch ${String(r.epoch).padStart(3)}  ${r.seconds.toFixed(1).padStart(6)} s (train ${(epochTrainMs / 1000).toFixed(1)} s)  ` +
              `loss ${r.boxLoss.toFixed(3)} ${r.clsLoss.toFixed(3)} ${r.dflLoss.toFixed(3)}  lr ${r.lr.toExponential(2)}  ` +
              `P ${r.precision.toFixed(3)} R ${r.recall.toFixed(3)} mAP50 ${r.map50.toFixed(3)} mAP50-95 ${r.map50_95.toFixed(3)}  ` +
              `val loss ${r.valLoss.map((v) => v.toFixed(3)).join(' ')}  load ${load.toFixed(2)}`,
          );
          epochStart = performance.now();
        },
      },
    },
  );
  const total = (performance.now() - t1) / 1000;
  const fps = await benchFps(model, imgsz, { warmup: 10, runs: 50 });
  const nImg = data.train.length * res.epochs.length;
  console.log(
    `done: ${res.epochs.length} epochs in ${total.toFixed(1)} s (training batches ${(trainMs / 1000).toFixed(1)} s = ` +
      `${(trainMs / 1000 / nImg).toFixed(4)} s per training image); best epoch ${res.best.epoch}: mAP50 ${res.best.map50.toFixed(3)} ` +
      `mAP50-95 ${res.best.map50_95.toFixed(3)}; FPS ${fps.fps.toFixed(1)} (p50 ${fps.p50Ms.toFixed(2)} ms, p90 ${fps.p90Ms.toFixed(2)} ms); ` +
      `load average ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
  );
  if (o.json)
    fs.writeFileSync(o.json, JSON.stringify({ settings, rows, total, trainSeconds: trainMs / 1000, fps, best: res.best }, null, 2));
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
