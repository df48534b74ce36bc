/**
 * Validation as Ultralytics 8.0.229's DetectionValidator (ultralytics/models/yolo/detect/val.py):
 * eval-mode forward of letterboxed batches, NMS in validation mode (conf 0.001, iou 0.7, multi-label,
 * max_det 300), predictions and labels mapped back to the original image pixels (`scale_boxes`: minus the
 * letterbox pad, divided by the gain, clipped to the image), then `DetectionMetrics` (@ablate/metrics).
 * With a loss function, the validation losses [box, cls, dfl] are the mean over batches of the loss items
 * of the raw maps (as the trainer's validator does).
 * With `coco: true`, the same boxes (original pixels) are also collected for the COCO evaluation
 * (`CocoCollector` of @ablate/metrics; the caller decides when to run it: train() does at the best epoch).
 * Status: exact semantics, except that Ultralytics validates in rectangular batches (`rect=True`, each
 * batch letterboxed to its own aspect ratio) and here every batch is letterboxed to imgsz x imgsz, which
 * changes the inputs slightly for non-square images (the synthetic set is square).
 */
import { type Batch, DataLoader, type SampleSource } from '@ablate/data';
import type { DetectionResults } from '@ablate/metrics';
import { CocoCollector, DetectionMetrics } from '@ablate/metrics';
import { type DetectionLoss, type DetectionModel, type DetectOutput, type NmsOptions, nonMaxSuppression } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import type { ValSettings } from './settings.js';

export interface ValidateOptions extends ValSettings {
  imgsz: number;
  batch: number;
  nc: number;
  names?: string[];
  /** When given, validation losses are computed too. */
  loss?: DetectionLoss;
  /** Accumulate into this instance (to read its statistics and confusion matrix afterwards). */
  metrics?: DetectionMetrics;
  /** Called for every image (in loader order) with its detections and labels in letterboxed pixels. */
  onImage?(img: ValImage): void | Promise<void>;
  /** Collect the boxes for a COCO evaluation (`result.coco`; `.summarize()` runs it). */
  coco?: boolean;
}

/** One validation image as the model saw it (letterboxed), for pictures. */
export interface ValImage {
  /** Index in the loader's order (file order for validation). */
  index: number;
  path: string;
  /** HWC floats 0..1 of the letterboxed image ([H, W] = size). */
  pixels: Float32Array;
  size: [number, number];
  /** [cls, x1, y1, x2, y2] in letterboxed pixels. */
  labels: number[][];
  /** [x1, y1, x2, y2, conf, cls] in letterboxed pixels (NMS output order). */
  detections: number[][];
}

export type ValidationResult = DetectionResults & { loss?: [number, number, number]; coco?: CocoCollector };

/** Something that yields validation batches (a DataLoader with augment null). */
export interface BatchSource {
  readonly length: number;
  epoch(e: number): AsyncIterable<Batch>;
}

/** Ultralytics' scale_boxes with ratio_pad, in place on [x1, y1, x2, y2]: unpad, divide by the gain, clip. */
export function unletterbox(box: number[], shape: Batch['shapes'][number]): void {
  const [h, w] = shape.orig;
  const [padX, padY] = shape.pad;
  const g = shape.ratio;
  box[0] = Math.min(Math.max((box[0] - padX) / g, 0), w);
  box[1] = Math.min(Math.max((box[1] - padY) / g, 0), h);
  box[2] = Math.min(Math.max((box[2] - padX) / g, 0), w);
  box[3] = Math.min(Math.max((box[3] - padY) / g, 0), h);
}

/** Validates with batches from `loader` (used by train() with its own loader). */
export async function validateBatches(
  model: DetectionModel,
  loader: BatchSource,
  opts: Omit<ValidateOptions, 'batch'>,
): Promise<ValidationResult> {
  const metrics = opts.metrics ?? new DetectionMetrics(opts.nc, opts.names, { conf: opts.conf });
  let seen = 0;
  const nms: NmsOptions = { confThres: opts.conf, iouThres: opts.iou, multiLabel: true, maxDet: opts.maxDet ?? 300 };
  const coco = opts.coco ? new CocoCollector(opts.nc, opts.names) : undefined;
  const lossSum: [number, number, number] = [0, 0, 0];
  let batches = 0;
  model.eval();
  for await (const b of loader.epoch(0)) {
    const [B, H, W] = b.shape;
    let dets: number[][][];
    let items: [number, number, number] | undefined;
    {
      const x = tf.tensor4d(b.images, b.shape);
      const out = model.forward(x) as DetectOutput;
      try {
        // Asynchronous reads: no pipeline stall, and the webgpu backend cannot read synchronously under Node.
        dets = nonMaxSuppression((await out.inference.data()) as Float32Array, out.inference.shape, nms);
        if (opts.loss) {
          const r = await opts.loss.computeAsync(out.raw as tf.Tensor4D[], b.targets, [H, W]);
          r.loss.dispose();
          items = r.items;
        }
      } finally {
        tf.dispose([x, out.inference, ...out.raw]);
      }
    }
    if (items) for (let k = 0; k < 3; k++) lossSum[k] += items[k];
    batches += 1;
    // Labels per image: [cls, x1, y1, x2, y2] in letterboxed pixels, then in original pixels.
    const labels: number[][][] = Array.from({ length: B }, () => []);
    const boxed: number[][][] = Array.from({ length: B }, () => []);
    b.targets.batchIdx.forEach((bi, k) => {
      const [cx, cy, bw, bh] = b.targets.bboxes[k];
      const box = [(cx - bw / 2) * W, (cy - bh / 2) * H, (cx + bw / 2) * W, (cy + bh / 2) * H];
      boxed[bi].push([b.targets.cls[k], ...box]);
      unletterbox(box, b.shapes[bi]);
      labels[bi].push([b.targets.cls[k], ...box]);
    });
    if (opts.onImage) {
      const n = H * W * 3;
      for (let i = 0; i < B; i++) {
        await opts.onImage({
          index: seen + i,
          path: b.paths[i],
          pixels: b.images.slice(i * n, (i + 1) * n),
          size: [H, W],
          labels: boxed[i],
          detections: dets[i].map((row) => row.slice(0, 6)),
        });
      }
    }
    seen += B;
    for (let i = 0; i < B; i++) {
      const d = dets[i].map((row) => {
        const box = row.slice(0, 4);
        unletterbox(box, b.shapes[i]);
        return [...box, row[4], row[5]];
      });
      metrics.update(d, labels[i]);
      // shapes[i].orig is [h, w] of the original image
      coco?.add(b.shapes[i].orig[1], b.shapes[i].orig[0], labels[i], d);
    }
  }
  const res: ValidationResult = metrics.compute();
  if (opts.loss) res.loss = lossSum.map((v) => v / Math.max(batches, 1)) as [number, number, number];
  if (coco) res.coco = coco;
  return res;
}

/** Validates `model` on `source` (letterbox only, no augmentation). Leaves the model in eval mode. */
export async function validate(model: DetectionModel, source: SampleSource, opts: ValidateOptions): Promise<ValidationResult> {
  const loader = new DataLoader(source, { batch: opts.batch, imgsz: opts.imgsz, shuffle: false, seed: 0, augment: null });
  return validateBatches(model, loader, opts);
}
