export * from './batchnorm.js';
export * from './gridSample.js';
