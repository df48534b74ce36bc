/**
 * @ablate/yolov8: YOLOv8 from Ultralytics-style YAML (registry with plugins, parse_model rules,
 * modules, insertion positions, summary, weights), plus the detection loss and NMS.
 */
export * from './builtins.js';
export * from './golden.js';
export * from './insert.js';
export * from './loss/index.js';
export * from './model.js';
export * from './modules.js';
export * from './nms.js';
export * from './parse.js';
export * from './pretrained.js';
export * from './registry.js';
export * from './summary.js';
export * from './transfer.js';
export * from './yaml.js';
