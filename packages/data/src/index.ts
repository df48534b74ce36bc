/**
 * @ablate/data: the embedded synthetic shapes data set, Ultralytics-format data sets, letterbox,
 * Ultralytics' augmentations and a deterministic, prefetching DataLoader.
 */
export * from './augment.js';
export * from './image.js';
export * from './loader.js';
export { encodePng } from './png.js';
export { canonicalJson, deriveSeed, sha256Hex } from './seed.js';
export { type Geometry, SHAPE_NAMES, type ShapeName } from './shapes.js';
export * from './synthetic.js';
export * from './types.js';
export * from './ultralytics.js';
