/**
 * YOLOv8 detection loss and its helpers: anchors / DFL decode / dist2bbox, CIoU, the task-aligned
 * assigner and v8DetectionLoss (Ultralytics 8.0.229 semantics).
 */
export { type AnchorArrays, bbox2distInto, dflDecode, dist2bbox, type LevelSize, makeAnchorArrays, makeAnchors } from './anchors.js';
export { type AssignerInput, type AssignerOptions, type AssignerOutput, TaskAlignedAssigner } from './assigner.js';
export {
  DetectionLoss,
  type DetectionLossOptions,
  type DetectionLossResult,
  type DetectionTargets,
  decodeAnchorInto,
  type PaddedTargets,
  preprocessTargets,
} from './detection-loss.js';
export { isLossGoldenCase, type LossGoldenResult, type LossGoldenRow, runLossGolden } from './golden.js';
export { type BoxColumns, bboxCiou, ciouF32 } from './iou.js';
