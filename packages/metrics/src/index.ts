/**
 * @ablate/metrics: detection validation metrics exactly as Ultralytics 8.0.229 computes them
 * (box IoU and prediction matching at 10 IoU thresholds, AP with 101-point interpolation, P/R at the
 * max smoothed F1, mAP50 / mAP75 / mAP50-95 / fitness, confusion matrix), and COCO evaluation exactly as
 * pycocotools 2.0.11 COCOeval(bbox) computes it (./coco.ts). Plain TypeScript, no tfjs.
 */
export { type ApPerClassResult, apPerClass, computeAp, smooth } from './ap.js';
export {
  COCO_AREA_RANGES,
  COCO_IOU_THRESHOLDS,
  COCO_MAX_DETS,
  COCO_RECALL_THRESHOLDS,
  COCO_STAT_NAMES,
  type CocoAnnotation,
  type CocoBox,
  type CocoDetection,
  type CocoEvalInput,
  type CocoEvalResult,
  type CocoImage,
  type CocoStats,
  cocoEvaluate,
} from './coco.js';
export { CocoCollector, type CocoSummary } from './coco-collect.js';
export { type CocoCase, type CocoComparison, compareCocoCase, isCocoCase } from './coco-golden.js';
export { ConfusionMatrix } from './confusion.js';
export { type ClassMetrics, DetectionMetrics, type DetectionResults } from './det-metrics.js';
export { compareMetricsScenario, type MetricsScenario, type ScenarioComparison } from './golden.js';
export { type Box, boxIou, type Detection, IOU_THRESHOLDS, type Label, matchPredictions, processBatch } from './match.js';
export { argsortStable, f32, linspace, npInterp, npMean, npSum, roundHalfEven, trapz } from './numeric.js';
