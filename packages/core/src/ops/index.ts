export * from './batchnorm.js';
export * from './gridSample.js';
export * from './async-grads.js';
