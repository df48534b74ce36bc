/** @ablate/tracker: the SQLite store of sweeps, trials and epochs, and the `results` view. */
export { COCO_COLUMNS, MIGRATIONS, type Migration, RESULTS_COLUMNS, resultsViewSql, TRIAL_STATUSES, type TrialStatus } from './schema.js';
export * from './tracker.js';
