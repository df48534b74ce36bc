export * from './pickle.js';
export * from './pt.js';
