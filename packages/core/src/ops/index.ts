export * from './async-grads.js';
export * from './batchnorm.js';
export * from './gridSample.js';
