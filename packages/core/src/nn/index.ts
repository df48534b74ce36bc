export * from './layers/index.js';
export * from './module.js';
