/**
 * @ablate/core: backends (with the wasm training kernels), the Module tree and layers, gridSample,
 * safetensors, seeded initialisation, and the module-plugin interface.
 */
export * from './backend/index.js';
export * from './golden.js';
export * from './kernels/index.js';
export * from './nn/index.js';
export * from './ops/index.js';
export * from './plugin.js';
export * from './plugin-args.js';
export * from './rng.js';
export * from './safetensors.js';
export * from './torch-pt/index.js';
