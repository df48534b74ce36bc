/**
 * Training and validation settings, with Ultralytics 8.0.229's names and `cfg/default.yaml` defaults,
 * and their validation (every error names the key, the value and what was expected).
 */
import { type AugmentConfig, DEFAULT_AUGMENT } from '@ablate/data';
import { OPTIMIZER_NAMES, type OptimizerName } from './optimizer.js';

export interface TrainSettings {
  epochs: number;
  batch: number;
  imgsz: number;
  optimizer: 'auto' | OptimizerName;
  lr0: number;
  lrf: number;
  momentum: number;
  weight_decay: number;
  warmup_epochs: number;
  warmup_momentum: number;
  warmup_bias_lr: number;
  nbs: number;
  cos_lr: boolean;
  close_mosaic: number;
  patience: number;
  box: number;
  cls: number;
  dfl: number;
  augment: AugmentConfig;
  seed: number;
}

/** Ultralytics 8.0.229 default.yaml. */
export const DEFAULT_TRAIN: Readonly<TrainSettings> = Object.freeze({
  epochs: 100,
  batch: 16,
  imgsz: 640,
  optimizer: 'auto',
  lr0: 0.01,
  lrf: 0.01,
  momentum: 0.937,
  weight_decay: 0.0005,
  warmup_epochs: 3.0,
  warmup_momentum: 0.8,
  warmup_bias_lr: 0.1,
  nbs: 64,
  cos_lr: false,
  close_mosaic: 10,
  patience: 50,
  box: 7.5,
  cls: 0.5,
  dfl: 1.5,
  augment: { ...DEFAULT_AUGMENT },
  seed: 0,
});

export interface ValSettings {
  /** NMS confidence threshold (0.001). */
  conf: number;
  /** NMS IoU threshold (0.7). */
  iou: number;
  /** Validation batch (default: 2 x the training batch, as Ultralytics). */
  batch?: number;
  /** Detections kept per image (300). */
  maxDet?: number;
}

/** Ultralytics' validation mode: conf 0.001, iou 0.7, max_det 300. */
export const DEFAULT_VAL: Readonly<ValSettings> = Object.freeze({ conf: 0.001, iou: 0.7, maxDet: 300 });

const POSITIVE_INT = ['epochs', 'batch', 'imgsz', 'nbs'] as const;
const NON_NEGATIVE = [
  'lr0',
  'lrf',
  'momentum',
  'weight_decay',
  'warmup_epochs',
  'warmup_momentum',
  'warmup_bias_lr',
  'box',
  'cls',
  'dfl',
] as const;
const NON_NEGATIVE_INT = ['close_mosaic', 'patience', 'seed'] as const;

/** Throws naming every bad key of a settings object. */
export function checkTrainSettings(s: TrainSettings): void {
  const errs: string[] = [];
  const known = Object.keys(DEFAULT_TRAIN);
  for (const k of Object.keys(s)) if (!known.includes(k)) errs.push(`unknown key "${k}" (known: ${known.join(', ')})`);
  for (const k of POSITIVE_INT)
    if (!(Number.isInteger(s[k]) && s[k] > 0)) errs.push(`${k} = ${JSON.stringify(s[k])}: expected a positive integer`);
  for (const k of NON_NEGATIVE)
    if (!(typeof s[k] === 'number' && Number.isFinite(s[k]) && s[k] >= 0))
      errs.push(`${k} = ${JSON.stringify(s[k])}: expected a number >= 0`);
  for (const k of NON_NEGATIVE_INT)
    if (!(Number.isInteger(s[k]) && s[k] >= 0)) errs.push(`${k} = ${JSON.stringify(s[k])}: expected an integer >= 0`);
  if (typeof s.cos_lr !== 'boolean') errs.push(`cos_lr = ${JSON.stringify(s.cos_lr)}: expected true or false`);
  if (!OPTIMIZER_NAMES.includes(s.optimizer)) errs.push(`optimizer = ${JSON.stringify(s.optimizer)}: known: ${OPTIMIZER_NAMES.join(', ')}`);
  if (Number.isInteger(s.imgsz) && s.imgsz % 32 !== 0) errs.push(`imgsz = ${s.imgsz}: expected a multiple of 32 (the largest stride)`);
  if (!s.augment || typeof s.augment !== 'object') errs.push('augment: expected the augmentation gains (hsv_h, ..., mosaic)');
  if (errs.length) throw new Error(`Invalid training settings:\n  ${errs.join('\n  ')}`);
}
