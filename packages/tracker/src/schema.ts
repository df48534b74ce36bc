/**
 * The database schema, as an ordered list of migrations. A migration is applied once, inside a
 * transaction, and recorded in `schema_migrations`; never edit one that has shipped: add another.
 *
 * Tables:
 *   sweeps        one row per experiment (by name): description, experiment file, resolved config
 *   trials        one row per trial (id = hash of its resolved configuration): status, final metrics,
 *                 speed, size, provenance
 *   sweep_trials  which sweeps a trial belongs to (an identical trial, e.g. the baseline, is shared)
 *   epochs        one row per trial and epoch: losses, learning rate, validation metrics, seconds
 *   coco_class_ap one row per trial and class: COCO AP@[.50:.95] at the best epoch (migration 3)
 *   trial_artefacts  (migration 4) per trial, where the trainer wrote its diagnostic artefacts at the
 *                 best epoch (PR / confidence curves, confusion matrix, label statistics, validation
 *                 images with predictions, attention pictures): a folder holding `artefacts.json`
 *   (migration 5) trials.pretrained / pretrained_sha256: the checkpoint a trial started from; trials.transfer_json:
 *                 what was transferred into the variant (count, parameters, every tensor not copied with its
 *                 reason), transfer_summary its one line, transfer_warning set when fewer tensors than expected
 *                 arrived; epochs.val_*_loss: the validation losses of the EMA model
 *
 * Trial leases (migration 6): a runner claims a trial (`Tracker.claimTrial`: status check and lease in
 * one transaction), keeps the lease alive with heartbeats, and a lease that expired is taken over.
 *
 * View `results` (a contract read by the dashboard and by users' own SQL): one row per (sweep, trial)
 * with at least sweep, trial_id, module, position, seed, status, map50, map50_95, precision, recall,
 * fitness, fps, latency_ms, params, gflops, epochs, train_seconds, error. The baseline has module and
 * position NULL. status is one of ok, failed, running, interrupted, pending.
 *
 * The view is not part of any migration: it is defined once, below (RESULTS_COLUMNS), and the writer
 * recreates it after migrating whenever the stored definition differs (migration 1's view is
 * the first version of it, kept as shipped). A migration that adds a column
 * to `trials` adds its row to RESULTS_COLUMNS; existing columns are never removed or renamed.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const TRIAL_STATUSES = ['pending', 'running', 'ok', 'failed', 'interrupted'] as const;
export type TrialStatus = (typeof TRIAL_STATUSES)[number];

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE sweeps (
  name            TEXT PRIMARY KEY,
  description     TEXT,
  experiment_file TEXT,
  config_json     TEXT NOT NULL,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE trials (
  id              TEXT PRIMARY KEY,
  module          TEXT,
  position        TEXT,
  module_args     TEXT,
  seed            INTEGER NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'ok', 'failed', 'interrupted')),
  error           TEXT,
  config_json     TEXT NOT NULL,
  model_yaml      TEXT,
  summary_json    TEXT,
  params          INTEGER,
  gflops          REAL,
  gflops_640      REAL,
  imgsz           INTEGER,
  epochs_planned  INTEGER,
  epochs_done     INTEGER NOT NULL DEFAULT 0,
  best_epoch      INTEGER,
  precision       REAL,
  recall          REAL,
  map50           REAL,
  map50_95        REAL,
  fitness         REAL,
  fps             REAL,
  latency_p50_ms  REAL,
  latency_p90_ms  REAL,
  backend         TEXT,
  threads         INTEGER,
  train_seconds   REAL,
  provenance_json TEXT,
  pid             INTEGER,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at      TEXT,
  finished_at     TEXT,
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX trials_status ON trials (status);

CREATE TABLE sweep_trials (
  sweep     TEXT NOT NULL REFERENCES sweeps (name) ON DELETE CASCADE,
  trial_id  TEXT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  ordinal   INTEGER NOT NULL,
  PRIMARY KEY (sweep, trial_id)
);
CREATE INDEX sweep_trials_trial ON sweep_trials (trial_id);

CREATE TABLE epochs (
  trial_id   TEXT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  epoch      INTEGER NOT NULL,
  box_loss   REAL,
  cls_loss   REAL,
  dfl_loss   REAL,
  lr         REAL,
  precision  REAL,
  recall     REAL,
  map50      REAL,
  map50_95   REAL,
  fitness    REAL,
  seconds    REAL,
  PRIMARY KEY (trial_id, epoch)
);

CREATE VIEW results AS
SELECT
  st.sweep            AS sweep,
  t.id                AS trial_id,
  t.module            AS module,
  t.position          AS position,
  t.module_args       AS module_args,
  t.seed              AS seed,
  t.status            AS status,
  t.map50             AS map50,
  t.map50_95          AS map50_95,
  t.precision         AS precision,
  t.recall            AS recall,
  t.fitness           AS fitness,
  t.fps               AS fps,
  t.latency_p50_ms    AS latency_ms,
  t.latency_p90_ms    AS latency_p90_ms,
  t.params            AS params,
  t.gflops            AS gflops,
  t.gflops_640        AS gflops_640,
  t.imgsz             AS imgsz,
  t.epochs_done       AS epochs,
  t.epochs_planned    AS epochs_planned,
  t.best_epoch        AS best_epoch,
  t.train_seconds     AS train_seconds,
  t.backend           AS backend,
  t.threads           AS threads,
  t.error             AS error,
  t.started_at        AS started_at,
  t.finished_at       AS finished_at
FROM sweep_trials st JOIN trials t ON t.id = st.trial_id;

`,
  },
  {
    version: 2,
    name: 'how FPS was measured: fused BatchNorm, NMS in the timed region',
    sql: `
ALTER TABLE trials ADD COLUMN fps_fused INTEGER;
ALTER TABLE trials ADD COLUMN fps_nms INTEGER;
`,
  },
  {
    version: 3,
    name: 'coco evaluation at the best epoch',
    sql: `
-- pycocotools COCOeval(bbox) numbers of the best epoch, boxes in original image pixels. NULL where
-- pycocotools prints -1 (no ground truth in that area range) or where no COCO evaluation ran.
ALTER TABLE trials ADD COLUMN coco_ap   REAL;  -- AP @[.50:.95], area all, 100 dets
ALTER TABLE trials ADD COLUMN coco_ap50 REAL;
ALTER TABLE trials ADD COLUMN coco_ap75 REAL;
ALTER TABLE trials ADD COLUMN ap_small  REAL;  -- area < 32^2
ALTER TABLE trials ADD COLUMN ap_medium REAL;  -- 32^2 <= area < 96^2
ALTER TABLE trials ADD COLUMN ap_large  REAL;  -- area >= 96^2
ALTER TABLE trials ADD COLUMN ar1       REAL;
ALTER TABLE trials ADD COLUMN ar10      REAL;
ALTER TABLE trials ADD COLUMN ar100     REAL;
ALTER TABLE trials ADD COLUMN ar_small  REAL;
ALTER TABLE trials ADD COLUMN ar_medium REAL;
ALTER TABLE trials ADD COLUMN ar_large  REAL;

CREATE TABLE coco_class_ap (
  trial_id  TEXT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  class_id  INTEGER NOT NULL,   -- 0-based class index of the data set
  name      TEXT,
  ap        REAL,               -- AP @[.50:.95] (area all, 100 dets); NULL without ground truth
  n_gt      INTEGER NOT NULL,   -- ground-truth boxes of the class in the validation set
  PRIMARY KEY (trial_id, class_id)
);
`,
  },
  {
    version: 4,
    name: 'trial artefacts (diagnostic plots and pictures at the best epoch)',
    sql: `
CREATE TABLE trial_artefacts (
  trial_id    TEXT PRIMARY KEY REFERENCES trials (id) ON DELETE CASCADE,
  -- folder holding artefacts.json and the images: relative to the database's folder, or absolute
  dir         TEXT NOT NULL,
  -- 0-based epoch of the best weights the artefacts were made from
  epoch       INTEGER NOT NULL,
  images      INTEGER NOT NULL,
  -- JSON list of the inserted modules with their layer index: [{"layer": 9, "module": "DAttention", "picture": true}]
  modules     TEXT NOT NULL DEFAULT '[]',
  bytes       INTEGER,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
`,
  },
  {
    version: 5,
    name: 'pretrained checkpoints: the weight-transfer report per trial, validation losses per epoch',
    sql: `
-- The checkpoint the trial's model was initialised from (NULL: trained from scratch): its file name as
-- written in the experiment and the sha256 of its bytes (part of the trial id).
ALTER TABLE trials ADD COLUMN pretrained        TEXT;
ALTER TABLE trials ADD COLUMN pretrained_sha256 TEXT;
-- "transferred X of Y tensors (Z parameters)" and the JSON report {transferred, total, parameters, expected,
-- notTransferred: [{name, reason}], initialised: [names], summary, warning}
ALTER TABLE trials ADD COLUMN transfer_summary  TEXT;
ALTER TABLE trials ADD COLUMN transfer_json     TEXT;
-- set when fewer tensors than expected were transferred (never silent: shown on the trial page)
ALTER TABLE trials ADD COLUMN transfer_warning  TEXT;

-- validation losses [box, cls, dfl] of the EMA model at each epoch (as Ultralytics' val/*_loss)
ALTER TABLE epochs ADD COLUMN val_box_loss REAL;
ALTER TABLE epochs ADD COLUMN val_cls_loss REAL;
ALTER TABLE epochs ADD COLUMN val_dfl_loss REAL;
`,
  },
  {
    version: 6,
    name: 'trial leases (one trial, one runner) and where a trial ran',
    sql: `
ALTER TABLE trials ADD COLUMN lease_owner TEXT;
ALTER TABLE trials ADD COLUMN lease_expires INTEGER;
ALTER TABLE trials ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN runner TEXT;
`,
  },
];

/** trials columns of the COCO numbers, by pycocotools' stat name (migration 3). */
export const COCO_COLUMNS = {
  AP: 'coco_ap',
  AP50: 'coco_ap50',
  AP75: 'coco_ap75',
  APs: 'ap_small',
  APm: 'ap_medium',
  APl: 'ap_large',
  AR1: 'ar1',
  AR10: 'ar10',
  AR100: 'ar100',
  ARs: 'ar_small',
  ARm: 'ar_medium',
  ARl: 'ar_large',
} as const;

/** The `results` view's columns, in order: [column name, SQL expression over sweep_trials st / trials t]. */
export const RESULTS_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['sweep', 'st.sweep'],
  ['trial_id', 't.id'],
  ['module', 't.module'],
  ['position', 't.position'],
  ['module_args', 't.module_args'],
  ['seed', 't.seed'],
  ['status', 't.status'],
  ['map50', 't.map50'],
  ['map50_95', 't.map50_95'],
  ['precision', 't.precision'],
  ['recall', 't.recall'],
  ['fitness', 't.fitness'],
  ['fps', 't.fps'],
  ['latency_ms', 't.latency_p50_ms'],
  ['latency_p90_ms', 't.latency_p90_ms'],
  // 1 when the FPS benchmark ran with BatchNorm folded into the convs (Ultralytics' fuse()), 0 when not, NULL before v2.
  ['fps_fused', 't.fps_fused'],
  // 1 when NMS was inside the FPS benchmark's timed region, 0 when not, NULL before v2.
  ['fps_nms', 't.fps_nms'],
  ['params', 't.params'],
  ['gflops', 't.gflops'],
  ['gflops_640', 't.gflops_640'],
  ['imgsz', 't.imgsz'],
  ['epochs', 't.epochs_done'],
  ['epochs_planned', 't.epochs_planned'],
  ['best_epoch', 't.best_epoch'],
  ['train_seconds', 't.train_seconds'],
  ['backend', 't.backend'],
  ['threads', 't.threads'],
  ['error', 't.error'],
  ['started_at', 't.started_at'],
  ['finished_at', 't.finished_at'],
  // migration 3: COCO evaluation at the best epoch
  ['coco_ap', 't.coco_ap'],
  ['coco_ap50', 't.coco_ap50'],
  ['coco_ap75', 't.coco_ap75'],
  ['ap_small', 't.ap_small'],
  ['ap_medium', 't.ap_medium'],
  ['ap_large', 't.ap_large'],
  ['ar1', 't.ar1'],
  ['ar10', 't.ar10'],
  ['ar100', 't.ar100'],
  ['ar_small', 't.ar_small'],
  ['ar_medium', 't.ar_medium'],
  ['ar_large', 't.ar_large'],
  // migration 5: the checkpoint a trial started from (NULL: from scratch) and what of it was transferred
  ['pretrained', 't.pretrained'],
  ['pretrained_sha256', 't.pretrained_sha256'],
  ['transfer', 't.transfer_summary'],
  ['transfer_warning', 't.transfer_warning'],
  // migration 6: which runner trained it (`local` or a queue worker's host:pid), how many times a
  // runner started it, and how many of those were restarts from scratch (a lost worker, no shared checkpoint).
  ['runner', 't.runner'],
  ['runs', 't.runs'],
  ['restarts', 't.restarts'],
];

/** The CREATE VIEW statement of `results`, from RESULTS_COLUMNS. */
export function resultsViewSql(): string {
  const cols = RESULTS_COLUMNS.map(([name, expr]) => `  ${expr} AS ${name}`).join(',\n');
  return `CREATE VIEW results AS\nSELECT\n${cols}\nFROM sweep_trials st JOIN trials t ON t.id = st.trial_id`;
}
