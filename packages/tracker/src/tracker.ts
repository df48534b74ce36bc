/**
 * The one writer of the results database. Every change is one SQLite transaction (WAL journal), so a
 * crash or `kill -9` at any moment leaves either the state before or after a change, never half of it;
 * `repairStale()` turns trials left `running` by a dead process into `interrupted` so a re-run resumes
 * them. Parallel trials (worker processes) send their reports to the process that owns the Tracker.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { COCO_COLUMNS, MIGRATIONS, resultsViewSql, type TrialStatus } from './schema.js';

type DB = Database.Database;

export interface SweepInput {
  name: string;
  description?: string;
  experimentFile?: string;
  config: unknown;
}

export interface TrialInput {
  id: string;
  module: string | null;
  position: string | null;
  moduleArgs?: unknown;
  seed: number;
  config: unknown;
  modelYaml?: string;
  epochsPlanned?: number;
  imgsz?: number;
  /** The checkpoint the trial starts from (migration 5): file name as written and sha256 of its bytes. */
  pretrained?: { file: string; sha256: string } | null;
}

export interface TrialRow {
  id: string;
  module: string | null;
  position: string | null;
  module_args: string | null;
  seed: number;
  status: TrialStatus;
  error: string | null;
  config_json: string;
  model_yaml: string | null;
  summary_json: string | null;
  params: number | null;
  gflops: number | null;
  gflops_640: number | null;
  imgsz: number | null;
  epochs_planned: number | null;
  epochs_done: number;
  best_epoch: number | null;
  precision: number | null;
  recall: number | null;
  map50: number | null;
  map50_95: number | null;
  fitness: number | null;
  fps: number | null;
  latency_p50_ms: number | null;
  latency_p90_ms: number | null;
  fps_fused: number | null;
  fps_nms: number | null;
  backend: string | null;
  threads: number | null;
  train_seconds: number | null;
  provenance_json: string | null;
  pid: number | null;
  /** Migration 6: who holds the trial (a runner's id) and until when (ms since the epoch). */
  lease_owner: string | null;
  lease_expires: number | null;
  /** Times a runner started the trial; restarts: of those, restarts from scratch after a lost runner. */
  runs: number;
  restarts: number;
  /** Where it ran: `local` or a queue worker's host:pid. */
  runner: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  /** Migration 5 (absent in older databases until migrated). */
  pretrained?: string | null;
  pretrained_sha256?: string | null;
  transfer_summary?: string | null;
  transfer_json?: string | null;
  transfer_warning?: string | null;
}

export interface EpochInput {
  epoch: number;
  boxLoss?: number | null;
  clsLoss?: number | null;
  dflLoss?: number | null;
  lr?: number | null;
  precision?: number | null;
  recall?: number | null;
  map50?: number | null;
  map50_95?: number | null;
  fitness?: number | null;
  seconds?: number | null;
  /** Validation losses of the EMA model (migration 5). */
  valBoxLoss?: number | null;
  valClsLoss?: number | null;
  valDflLoss?: number | null;
}

/** What a pretrained checkpoint gave the trial's model (stored in trials.transfer_*, migration 5). */
export interface TransferRecord {
  transferred: number;
  total: number;
  parameters: number;
  /** Tensors the checkpoint should have given (every tensor of the base model). */
  expected: number;
  notTransferred: { name: string; reason: string }[];
  initialised: string[];
  summary: string;
  /** Set when fewer tensors than expected were transferred. */
  warning: string | null;
}

export interface TrialStart {
  pid?: number;
  backend?: string;
  threads?: number;
  params?: number;
  gflops?: number;
  gflops640?: number;
  summary?: unknown;
  provenance?: unknown;
  modelYaml?: string;
  /** The pretrained checkpoint's transfer report (null: trained from scratch). */
  transfer?: TransferRecord | null;
}

/** COCO evaluation of a trial's best epoch (the shape of @ablate/metrics' CocoSummary); -1 means "no ground truth". */
export interface CocoFinish {
  stats: Record<keyof typeof COCO_COLUMNS, number>;
  perClass: { cls: number; name: string; ap: number; nGt: number }[];
}

/** A stored COCO evaluation: the trials columns (null for no ground truth) and the per-class rows. */
export interface CocoRow {
  stats: Record<keyof typeof COCO_COLUMNS, number | null>;
  perClass: { class_id: number; name: string | null; ap: number | null; n_gt: number }[];
}

export interface TrialFinish {
  /** COCO numbers of the best epoch (stored in trials' COCO columns and coco_class_ap). */
  coco?: CocoFinish | null;
  bestEpoch?: number | null;
  precision?: number | null;
  recall?: number | null;
  map50?: number | null;
  map50_95?: number | null;
  fitness?: number | null;
  fps?: number | null;
  latencyP50Ms?: number | null;
  latencyP90Ms?: number | null;
  /** The FPS benchmark ran the fused model (BatchNorm folded into the convs). */
  fpsFused?: boolean | null;
  /** NMS was inside the FPS benchmark's timed region. */
  fpsNms?: boolean | null;
  trainSeconds?: number | null;
  /** Where the trainer wrote the best epoch's artefacts (stored with the result, in one transaction). */
  artefacts?: ArtefactsRef | null;
}

/** A row of `trial_artefacts` (migration 4). */
export interface ArtefactsRef {
  /** Folder of artefacts.json: relative to the database's folder, or absolute. */
  dir: string;
  /** 0-based epoch of the best weights. */
  epoch: number;
  images: number;
  modules: { layer: number; module: string; picture: boolean }[];
  bytes?: number | null;
}

const now = () => new Date().toISOString();
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

export interface ClaimOptions {
  retryFailed?: boolean;
  /** Where it runs (`local`, a worker's host:pid). */
  runner?: string;
  /** The clock (ms), for tests. */
  now?: number;
}

export type ClaimResult =
  | { claimed: true; row: TrialRow /** The status before the claim. */; was: TrialRow['status'] }
  | { claimed: false; reason: 'ok' | 'failed' | 'leased'; row: TrialRow };

export interface OpenOptions {
  /** Open read-only (the dashboard). The file must exist. */
  readonly?: boolean;
}

export class Tracker {
  readonly db: DB;
  readonly file: string;

  constructor(file: string, opts: OpenOptions = {}) {
    this.file = file;
    if (opts.readonly) {
      if (!fs.existsSync(file)) throw new Error(`Results database "${file}" does not exist`);
      this.db = new Database(file, { readonly: true, fileMustExist: true });
    } else {
      if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    }
    this.db.pragma('busy_timeout = 5000');
  }

  /** Applies the migrations the file lacks, each in its own transaction. Returns the versions applied. */
  migrate(): number[] {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const have = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    const newest = Math.max(0, ...have);
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    if (newest > known) {
      throw new Error(
        `Results database "${this.file}" has schema version ${newest}, newer than this program knows (${known}): upgrade ablate`,
      );
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (have.has(m.version)) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
      })();
      applied.push(m.version);
    }
    this.syncResultsView();
    return applied;
  }

  /** Recreates the `results` view when its stored definition is not the current one (see schema.ts). */
  private syncResultsView(): void {
    const want = resultsViewSql();
    const row = this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'results'").get() as
      | { sql: string }
      | undefined;
    if (row?.sql === want) return;
    this.db.transaction(() => {
      this.db.exec('DROP VIEW IF EXISTS results');
      this.db.exec(want);
    })();
  }

  schemaVersion(): number {
    const r = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    return r.v ?? 0;
  }

  upsertSweep(s: SweepInput): void {
    this.db
      .prepare(
        `INSERT INTO sweeps (name, description, experiment_file, config_json) VALUES (?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET description = excluded.description, experiment_file = excluded.experiment_file,
           config_json = excluded.config_json, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
      )
      .run(s.name, s.description ?? null, s.experimentFile ?? null, JSON.stringify(s.config));
  }

  /**
   * Registers a trial of a sweep. An existing trial (same id = same resolved configuration) is kept as
   * it is, with its status and results; it is only linked to the sweep. Returns the stored row.
   */
  addTrial(sweep: string, t: TrialInput, ordinal: number): TrialRow {
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO trials (id, module, position, module_args, seed, config_json, model_yaml, epochs_planned, imgsz, pretrained, pretrained_sha256)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        )
        .run(
          t.id,
          t.module,
          t.position,
          json(t.moduleArgs),
          t.seed,
          JSON.stringify(t.config),
          t.modelYaml ?? null,
          t.epochsPlanned ?? null,
          t.imgsz ?? null,
          t.pretrained?.file ?? null,
          t.pretrained?.sha256 ?? null,
        );
      this.db
        .prepare(
          'INSERT INTO sweep_trials (sweep, trial_id, ordinal) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET ordinal = excluded.ordinal',
        )
        .run(sweep, t.id, ordinal);
      return this.getTrial(t.id) as TrialRow;
    })();
  }

  getTrial(id: string): TrialRow | undefined {
    return this.db.prepare('SELECT * FROM trials WHERE id = ?').get(id) as TrialRow | undefined;
  }

  trialsOfSweep(sweep: string): TrialRow[] {
    return this.db
      .prepare('SELECT t.* FROM sweep_trials st JOIN trials t ON t.id = st.trial_id WHERE st.sweep = ? ORDER BY st.ordinal')
      .all(sweep) as TrialRow[];
  }

  markRunning(id: string, s: TrialStart = {}): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'running', error = NULL, pid = ?, backend = COALESCE(?, backend), threads = COALESCE(?, threads),
           params = COALESCE(?, params), gflops = COALESCE(?, gflops), gflops_640 = COALESCE(?, gflops_640),
           summary_json = COALESCE(?, summary_json), provenance_json = COALESCE(?, provenance_json), model_yaml = COALESCE(?, model_yaml),
           started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?`,
      )
      .run(
        s.pid ?? process.pid,
        s.backend ?? null,
        s.threads ?? null,
        s.params ?? null,
        s.gflops ?? null,
        s.gflops640 ?? null,
        json(s.summary),
        json(s.provenance),
        s.modelYaml ?? null,
        now(),
        now(),
        id,
      );
    if (s.transfer) this.recordTransfer(id, s.transfer);
  }

  /** Stores what a pretrained checkpoint gave the trial's model (replaces an earlier report). */
  recordTransfer(id: string, r: TransferRecord): void {
    this.db
      .prepare('UPDATE trials SET transfer_summary = ?, transfer_json = ?, transfer_warning = ?, updated_at = ? WHERE id = ?')
      .run(r.summary, JSON.stringify(r), r.warning, now(), id);
  }

  /** The stored transfer report of a trial, or null (trained from scratch, or not started yet). */
  transferOf(id: string): TransferRecord | null {
    const r = this.db.prepare('SELECT transfer_json FROM trials WHERE id = ?').get(id) as { transfer_json: string | null } | undefined;
    return r?.transfer_json ? (JSON.parse(r.transfer_json) as TransferRecord) : null;
  }

  /** Stores one epoch (replacing a previous row of the same epoch, e.g. after a resume). */
  recordEpoch(id: string, e: EpochInput): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT OR REPLACE INTO epochs (trial_id, epoch, box_loss, cls_loss, dfl_loss, lr, precision, recall, map50, map50_95, fitness, seconds,
             val_box_loss, val_cls_loss, val_dfl_loss)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          e.epoch,
          e.boxLoss ?? null,
          e.clsLoss ?? null,
          e.dflLoss ?? null,
          e.lr ?? null,
          e.precision ?? null,
          e.recall ?? null,
          e.map50 ?? null,
          e.map50_95 ?? null,
          e.fitness ?? null,
          e.seconds ?? null,
          e.valBoxLoss ?? null,
          e.valClsLoss ?? null,
          e.valDflLoss ?? null,
        );
      this.db.prepare('UPDATE trials SET epochs_done = MAX(epochs_done, ?), updated_at = ? WHERE id = ?').run(e.epoch + 1, now(), id);
    })();
  }

  epochsOf(id: string): Required<EpochInput>[] {
    return this.db
      .prepare(
        `SELECT epoch, box_loss AS boxLoss, cls_loss AS clsLoss, dfl_loss AS dflLoss, lr, precision, recall, map50, map50_95, fitness, seconds,
           val_box_loss AS valBoxLoss, val_cls_loss AS valClsLoss, val_dfl_loss AS valDflLoss FROM epochs WHERE trial_id = ? ORDER BY epoch`,
      )
      .all(id) as Required<EpochInput>[];
  }

  finishTrial(id: string, f: TrialFinish): void {
    this.db.transaction(() => {
      this.finishRow(id, f);
      if (f.coco !== undefined) this.storeCoco(id, f.coco);
      if (f.artefacts) this.recordArtefacts(id, f.artefacts);
    })();
  }

  /** Stores (or with null clears) a trial's COCO evaluation: -1 (no ground truth) and non-finite values become NULL. */
  storeCoco(id: string, c: CocoFinish | null): void {
    const val = (v: number | undefined) => (v === undefined || v === -1 || !Number.isFinite(v) ? null : v);
    const keys = Object.keys(COCO_COLUMNS) as (keyof typeof COCO_COLUMNS)[];
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE trials SET ${keys.map((k) => `${COCO_COLUMNS[k]} = ?`).join(', ')}, updated_at = ? WHERE id = ?`)
        .run(...keys.map((k) => (c ? val(c.stats[k]) : null)), now(), id);
      this.db.prepare('DELETE FROM coco_class_ap WHERE trial_id = ?').run(id);
      const ins = this.db.prepare('INSERT INTO coco_class_ap (trial_id, class_id, name, ap, n_gt) VALUES (?, ?, ?, ?, ?)');
      for (const p of c?.perClass ?? []) ins.run(id, p.cls, p.name ?? null, val(p.ap), p.nGt);
    })();
  }

  /** A trial's stored COCO evaluation, or null when it has none. */
  cocoOf(id: string): CocoRow | null {
    const keys = Object.keys(COCO_COLUMNS) as (keyof typeof COCO_COLUMNS)[];
    const row = this.db.prepare(`SELECT ${keys.map((k) => `${COCO_COLUMNS[k]} AS ${k}`).join(', ')} FROM trials WHERE id = ?`).get(id) as
      | Record<keyof typeof COCO_COLUMNS, number | null>
      | undefined;
    const perClass = this.db
      .prepare('SELECT class_id, name, ap, n_gt FROM coco_class_ap WHERE trial_id = ? ORDER BY class_id')
      .all(id) as CocoRow['perClass'];
    if (!row || (perClass.length === 0 && keys.every((k) => row[k] === null))) return null;
    return { stats: row, perClass };
  }

  /** Stores (replaces) where a trial's artefacts are. */
  recordArtefacts(id: string, a: ArtefactsRef): void {
    this.db
      .prepare(
        `INSERT INTO trial_artefacts (trial_id, dir, epoch, images, modules, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (trial_id) DO UPDATE SET dir = excluded.dir, epoch = excluded.epoch, images = excluded.images,
           modules = excluded.modules, bytes = excluded.bytes, created_at = excluded.created_at`,
      )
      .run(id, this.relativeDir(a.dir), a.epoch, a.images, JSON.stringify(a.modules), a.bytes ?? null, now());
  }

  /** A folder inside the database's folder is stored relative to it (the results move together). */
  private relativeDir(dir: string): string {
    if (!path.isAbsolute(dir) || this.file === ':memory:') return dir;
    const rel = path.relative(path.dirname(path.resolve(this.file)), dir);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : dir;
  }

  /** The artefacts of a trial, or null (none recorded, or a database older than migration 4). */
  getArtefacts(id: string): ArtefactsRef | null {
    const has = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trial_artefacts'").get();
    if (!has) return null;
    const r = this.db.prepare('SELECT dir, epoch, images, modules, bytes FROM trial_artefacts WHERE trial_id = ?').get(id) as
      | { dir: string; epoch: number; images: number; modules: string; bytes: number | null }
      | undefined;
    if (!r) return null;
    let modules: ArtefactsRef['modules'] = [];
    try {
      modules = JSON.parse(r.modules);
    } catch {
      modules = [];
    }
    return { dir: r.dir, epoch: r.epoch, images: r.images, modules, bytes: r.bytes };
  }

  private finishRow(id: string, f: TrialFinish): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'ok', error = NULL, best_epoch = ?, precision = ?, recall = ?, map50 = ?, map50_95 = ?, fitness = ?,
           fps = ?, latency_p50_ms = ?, latency_p90_ms = ?, fps_fused = ?, fps_nms = ?, train_seconds = ?, pid = NULL,
           lease_owner = NULL, lease_expires = NULL, finished_at = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        f.bestEpoch ?? null,
        f.precision ?? null,
        f.recall ?? null,
        f.map50 ?? null,
        f.map50_95 ?? null,
        f.fitness ?? null,
        f.fps ?? null,
        f.latencyP50Ms ?? null,
        f.latencyP90Ms ?? null,
        f.fpsFused == null ? null : Number(f.fpsFused),
        f.fpsNms == null ? null : Number(f.fpsNms),
        f.trainSeconds ?? null,
        now(),
        now(),
        id,
      );
  }

  failTrial(id: string, error: string): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'failed', error = ?, pid = NULL, lease_owner = NULL, lease_expires = NULL, finished_at = ?, updated_at = ? WHERE id = ?`,
      )
      .run(error, now(), now(), id);
  }

  interruptTrial(id: string, reason = 'interrupted'): void {
    this.db
      .prepare(`UPDATE trials SET status = 'interrupted', error = ?, pid = NULL, lease_owner = NULL, lease_expires = NULL, updated_at = ?
           WHERE id = ? AND status = 'running'`)
      .run(reason, now(), id);
  }

  /** Forgets a trial's epochs before a fresh (not resumed) start. */
  clearEpochs(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM epochs WHERE trial_id = ?').run(id);
      this.db.prepare('DELETE FROM trial_artefacts WHERE trial_id = ?').run(id);
      this.db.prepare('UPDATE trials SET epochs_done = 0, best_epoch = NULL, updated_at = ? WHERE id = ?').run(now(), id);
      this.storeCoco(id, null);
    })();
  }

  /**
   * Unlinks from a sweep every trial not in `keep` (an edited experiment file no longer asks for
   * them); the trials themselves stay in the `trials` table. Returns how many were unlinked.
   */
  unlinkOtherTrials(sweep: string, keep: readonly string[]): number {
    if (keep.length === 0) return this.db.prepare('DELETE FROM sweep_trials WHERE sweep = ?').run(sweep).changes;
    return this.db
      .prepare(`DELETE FROM sweep_trials WHERE sweep = ? AND trial_id NOT IN (${keep.map(() => '?').join(',')})`)
      .run(sweep, ...keep).changes;
  }

  /** Finished trials' cost figures (for time estimates). */
  finishedCosts(): { train_seconds: number | null; epochs_done: number; gflops: number | null; provenance_json: string | null }[] {
    return this.db.prepare(`SELECT train_seconds, epochs_done, gflops, provenance_json FROM trials WHERE status = 'ok'`).all() as {
      train_seconds: number | null;
      epochs_done: number;
      gflops: number | null;
      provenance_json: string | null;
    }[];
  }

  /** Sets a trial back to pending (for `--retry-failed`), keeping its epochs. */
  resetTrial(id: string): void {
    this.db
      .prepare(
        `UPDATE trials SET status = 'pending', error = NULL, pid = NULL, lease_owner = NULL, lease_expires = NULL, updated_at = ? WHERE id = ?`,
      )
      .run(now(), id);
  }

  /**
   * Claims a trial for one runner: the status check and the lease in one (immediate) transaction, so
   * that two sweeps on one database never both start it. Refused when the trial is `ok`, `failed`
   * (unless `retryFailed`), or leased by another owner whose lease has not expired; an expired lease is
   * taken over. A claimed trial is `running` with `pid` this process, `runs` + 1.
   */
  claimTrial(id: string, owner: string, leaseMs: number, opts: ClaimOptions = {}): ClaimResult {
    return this.db
      .transaction((): ClaimResult => {
        const row = this.getTrial(id);
        if (!row) throw new Error(`claimTrial: no trial ${id}`);
        const at = opts.now ?? Date.now();
        if (row.status === 'ok') return { claimed: false, reason: 'ok', row };
        if (row.status === 'failed' && !opts.retryFailed) return { claimed: false, reason: 'failed', row };
        if (row.lease_owner && row.lease_owner !== owner && (row.lease_expires ?? 0) > at) return { claimed: false, reason: 'leased', row };
        this.db
          .prepare(
            `UPDATE trials SET status = 'running', error = NULL, pid = ?, lease_owner = ?, lease_expires = ?, runs = runs + 1,
               runner = COALESCE(?, runner), updated_at = ? WHERE id = ?`,
          )
          .run(process.pid, owner, at + leaseMs, opts.runner ?? null, now(), id);
        return { claimed: true, was: row.status, row: this.getTrial(id) as TrialRow };
      })
      .immediate();
  }

  /** Renews the leases `owner` holds on these trials; returns the ids whose lease it no longer holds. */
  renewLeases(ids: readonly string[], owner: string, leaseMs: number, at = Date.now()): string[] {
    const upd = this.db.prepare('UPDATE trials SET lease_expires = ? WHERE id = ? AND lease_owner = ?');
    return this.db.transaction(() => ids.filter((id) => upd.run(at + leaseMs, id, owner).changes === 0))();
  }

  /** A runner (re)started a claimed trial elsewhere: `runs` + 1, and `restarts` + 1 when from scratch. */
  noteRerun(id: string, fromScratch: boolean, runner?: string): void {
    this.db
      .prepare('UPDATE trials SET runs = runs + 1, restarts = restarts + ?, runner = COALESCE(?, runner), updated_at = ? WHERE id = ?')
      .run(fromScratch ? 1 : 0, runner ?? null, now(), id);
  }

  /** Sets where the trial runs (`local`, a worker's host:pid). */
  setRunner(id: string, runner: string): void {
    this.db.prepare('UPDATE trials SET runner = ?, updated_at = ? WHERE id = ?').run(runner, now(), id);
  }

  /**
   * Trials left `running` by a process that no longer exists (a crash, `kill -9`) become
   * `interrupted`. Returns their ids.
   */
  repairStale(isAlive: (pid: number) => boolean = pidAlive): string[] {
    const rows = this.db.prepare(`SELECT id, pid FROM trials WHERE status = 'running'`).all() as { id: string; pid: number | null }[];
    const stale = rows.filter((r) => r.pid === null || !isAlive(r.pid)).map((r) => r.id);
    const upd = this.db.prepare(
      `UPDATE trials SET status = 'interrupted', error = 'the process running it ended unexpectedly', pid = NULL, lease_owner = NULL,
         lease_expires = NULL, updated_at = ? WHERE id = ?`,
    );
    this.db.transaction(() => {
      for (const id of stale) upd.run(now(), id);
    })();
    return stale;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
