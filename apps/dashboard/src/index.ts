/** @ablate/dashboard: the dashboard server (read-only over the results database) and the demo-database generator. */

export type * from './common/api.js';
export { type GenerateOptions, generateDb, scaleOptions } from './gen/generate.js';
export { buildServer, type DashboardServer, DEFAULT_STATIC_DIR, type ServerOptions } from './server/app.js';
export { toCsv, variantsCsv } from './server/export.js';
export { HttpError, Queries } from './server/queries.js';
export { statsInput, sweepStats } from './server/stats.js';
