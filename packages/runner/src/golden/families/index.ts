/** Every golden family the project evaluates. Order matters only for files two families could claim. */
import type { GoldenFamily } from '../types.js';
import { attentionFamily } from './attention.js';
import { cocoFamily } from './coco.js';
import { statsFamily } from './stats.js';
import { yolov8CensusFamily } from './yolov8-census.js';
import { yolov8ForwardFamily } from './yolov8-forward.js';
import { yolov8InsertionFamily } from './yolov8-insertion.js';
import { yolov8LossFamily } from './yolov8-loss.js';
import { yolov8MetricsEdgeFamily, yolov8MetricsFamily } from './yolov8-metrics.js';
import { yolov8NmsFamily } from './yolov8-nms.js';

export const FAMILIES: GoldenFamily[] = [
  attentionFamily,
  yolov8CensusFamily,
  yolov8InsertionFamily,
  yolov8ForwardFamily,
  yolov8LossFamily,
  yolov8MetricsFamily,
  yolov8MetricsEdgeFamily,
  yolov8NmsFamily,
  cocoFamily,
  statsFamily,
];

/** Case kinds of the YOLOv8 reference data (`fixtures/golden/yolov8/README.md`), to name them when unevaluated. */
export const YOLOV8_KINDS = ['census', 'forward', 'loss', 'nms', 'metrics', 'metrics_edge', 'insertion'];
