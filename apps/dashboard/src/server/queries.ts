/**
 * Every SQL the dashboard runs, over the tracker's `results` view and `epochs` table, on a read-only
 * connection. Aggregation (mean, sample std, min, max per variant; per-epoch mean/min/max curves) is
 * done in SQL; values are always bound parameters, and the only identifiers put into SQL text are the
 * fixed column names of `STAT_KEYS` / `CURVE_KEYS`.
 */
import type Database from 'better-sqlite3';
import type {
  CurveSeries,
  EpochRow,
  Stat,
  StatusCounts,
  SweepDetail,
  SweepListItem,
  TrialDetail,
  TrialListItem,
  VariantStats,
} from '../common/api.js';
import { COCO_STATS, CURVE_KEYS, type CurveKey, STAT_KEYS, type StatKey } from '../common/metrics.js';
import { variantKey, variantLabel } from '../common/variant.js';

type DB = Database.Database;
type Row = Record<string, unknown>;

/** A request the client got wrong: becomes a 4xx JSON error. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface VariantRef {
  module: string | null;
  position: string | null;
}

const okOnly = (col: string) => `CASE WHEN status = 'ok' THEN ${col} END`;

const STATS_SQL = `
WITH r AS (SELECT * FROM results WHERE sweep = ?),
m AS (
  SELECT module, position, COUNT(*) AS total,
    SUM(status = 'ok') AS n_ok, SUM(status = 'failed') AS n_failed, SUM(status = 'running') AS n_running,
    SUM(status = 'interrupted') AS n_interrupted, SUM(status = 'pending') AS n_pending,
    ${STAT_KEYS.map((k) => `AVG(${okOnly(k)}) AS ${k}_mean, COUNT(${okOnly(k)}) AS ${k}_n, MIN(${okOnly(k)}) AS ${k}_min, MAX(${okOnly(k)}) AS ${k}_max`).join(',\n    ')}
  FROM r GROUP BY module, position
)
SELECT m.*,
  ${STAT_KEYS.map((k) => `SUM(CASE WHEN r.status = 'ok' THEN (r.${k} - m.${k}_mean) * (r.${k} - m.${k}_mean) END) AS ${k}_ss`).join(',\n  ')}
FROM m JOIN r ON r.module IS m.module AND r.position IS m.position
GROUP BY m.module, m.position
ORDER BY m.module IS NOT NULL, m.module, m.position`;

const curveCols = CURVE_KEYS.map((k) => `AVG(e.${k}) AS ${k}_mean, MIN(e.${k}) AS ${k}_min, MAX(e.${k}) AS ${k}_max`).join(', ');

function emptyCounts(): StatusCounts {
  return { ok: 0, failed: 0, running: 0, interrupted: 0, pending: 0, total: 0 };
}

function countsOf(r: Row): StatusCounts {
  return {
    ok: Number(r.n_ok ?? 0),
    failed: Number(r.n_failed ?? 0),
    running: Number(r.n_running ?? 0),
    interrupted: Number(r.n_interrupted ?? 0),
    pending: Number(r.n_pending ?? 0),
    total: Number(r.total ?? 0),
  };
}

function statOf(r: Row, k: StatKey): Stat {
  const n = Number(r[`${k}_n`] ?? 0);
  const mean = r[`${k}_mean`] as number | null;
  const ss = r[`${k}_ss`] as number | null;
  return {
    mean: n > 0 ? mean : null,
    std: n > 1 && ss !== null ? Math.sqrt(Math.max(0, ss) / (n - 1)) : null,
    min: (r[`${k}_min`] as number | null) ?? null,
    max: (r[`${k}_max`] as number | null) ?? null,
    n,
  };
}

function parseJson(s: unknown): unknown {
  if (typeof s !== 'string') return null;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function variantWhere(vs: VariantRef[], alias: string): { sql: string; params: (string | null)[] } {
  if (vs.length === 0) return { sql: '0', params: [] };
  return {
    sql: `(${vs.map(() => `(${alias}.module IS ? AND ${alias}.position IS ?)`).join(' OR ')})`,
    params: vs.flatMap((v) => [v.module, v.position]),
  };
}

export class Queries {
  private readonly st: Record<string, Database.Statement>;

  constructor(readonly db: DB) {
    const cols = (db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name);
    const missing = [...STAT_KEYS, 'sweep', 'trial_id', 'module', 'position', 'seed', 'status', 'error'].filter((c) => !cols.includes(c));
    if (missing.length)
      throw new Error(`the "results" view lacks columns ${missing.join(', ')}: the database is not from a compatible @ablate/tracker`);
    this.st = {
      stamp: db.prepare(
        `SELECT (SELECT MAX(updated_at) FROM trials) AS t, (SELECT COUNT(*) FROM trials) AS nt,
                (SELECT MAX(updated_at) FROM sweeps) AS s, (SELECT COUNT(*) FROM sweep_trials) AS ns`,
      ),
      sweepNames: db.prepare('SELECT name FROM sweeps ORDER BY created_at DESC, name'),
      sweep: db.prepare('SELECT * FROM sweeps WHERE name = ?'),
      sweepList: db.prepare(
        `SELECT s.name, s.description, s.created_at, s.updated_at,
           COUNT(r.trial_id) AS total, SUM(r.status = 'ok') AS n_ok, SUM(r.status = 'failed') AS n_failed,
           SUM(r.status = 'running') AS n_running, SUM(r.status = 'interrupted') AS n_interrupted, SUM(r.status = 'pending') AS n_pending,
           MIN(r.started_at) AS started_at, MAX(r.finished_at) AS finished_at
         FROM sweeps s LEFT JOIN results r ON r.sweep = s.name
         GROUP BY s.name ORDER BY s.created_at DESC, s.name`,
      ),
      variantMeans: db.prepare(
        `SELECT sweep, module, position, AVG(map50_95) AS m, COUNT(map50_95) AS n FROM results
         WHERE status = 'ok' GROUP BY sweep, module, position`,
      ),
      stats: db.prepare(STATS_SQL),
      sweepTimes: db.prepare(`SELECT MIN(started_at) AS started_at, MAX(finished_at) AS finished_at FROM results WHERE sweep = ?`),
      // The order in which the runner expanded the trials: the experiment file's order of modules and positions.
      firstOrdinals: db.prepare(
        `SELECT t.module AS module, t.position AS position, MIN(st.ordinal) AS ordinal
         FROM sweep_trials st JOIN trials t ON t.id = st.trial_id WHERE st.sweep = ? GROUP BY t.module, t.position`,
      ),
      trial: db.prepare('SELECT * FROM trials WHERE id = ?'),
      trialSweeps: db.prepare('SELECT sweep FROM sweep_trials WHERE trial_id = ? ORDER BY sweep'),
      epochs: db.prepare(
        'SELECT epoch, box_loss, cls_loss, dfl_loss, lr, precision, recall, map50, map50_95, fitness, seconds FROM epochs WHERE trial_id = ? ORDER BY epoch',
      ),
      baselineOf: db.prepare(
        `SELECT t.id, t.seed, t.model_yaml FROM sweep_trials st JOIN trials t ON t.id = st.trial_id
         WHERE st.sweep = ? AND t.module IS NULL AND t.position IS NULL
         ORDER BY t.seed = ? DESC, t.status = 'ok' DESC, st.ordinal LIMIT 1`,
      ),
      results: db.prepare('SELECT * FROM results WHERE sweep = ? ORDER BY module IS NOT NULL, module, position, seed, trial_id'),
    };
  }

  /** A cheap token that changes whenever a trial, epoch or sweep is written (for live updates). */
  stamp(): string {
    const r = this.st.stamp.get() as Row;
    return `${r.t ?? ''}|${r.nt}|${r.s ?? ''}|${r.ns}`;
  }

  sweepNames(): string[] {
    return (this.st.sweepNames.all() as { name: string }[]).map((r) => r.name);
  }

  /** Throws a 404 naming the known sweeps when `name` is not one. */
  requireSweep(name: string): Row {
    const s = this.st.sweep.get(name) as Row | undefined;
    if (!s) {
      const known = this.sweepNames();
      const list = known.length
        ? `known: ${known
            .slice(0, 20)
            .map((n) => `"${n}"`)
            .join(', ')}${known.length > 20 ? ', ...' : ''}`
        : 'the database has no sweeps yet';
      throw new HttpError(404, `Unknown sweep "${name}"; ${list}`);
    }
    return s;
  }

  listSweeps(): SweepListItem[] {
    const means = this.st.variantMeans.all() as { sweep: string; module: string | null; position: string | null; m: number; n: number }[];
    return (this.st.sweepList.all() as Row[]).map((r) => {
      const mine = means.filter((x) => x.sweep === r.name);
      const base = mine.find((x) => x.module === null && x.position === null);
      let best: SweepListItem['best'] = null;
      for (const x of mine) {
        if (x.module === null) continue;
        if (!best || x.m > best.map50_95) {
          best = {
            key: variantKey(x.module, x.position),
            label: variantLabel(x.module, x.position),
            map50_95: x.m,
            n: x.n,
            delta: base ? x.m - base.m : null,
          };
        }
      }
      return {
        name: r.name as string,
        description: (r.description as string | null) ?? null,
        createdAt: r.created_at as string,
        updatedAt: r.updated_at as string,
        startedAt: (r.started_at as string | null) ?? null,
        finishedAt: (r.finished_at as string | null) ?? null,
        counts: Number(r.total) ? countsOf(r) : emptyCounts(),
        best,
        baselineMap50_95: base ? base.m : null,
      };
    });
  }

  variantStats(sweep: string): VariantStats[] {
    return (this.st.stats.all(sweep) as Row[]).map((r) => {
      const module = (r.module as string | null) ?? null;
      const position = (r.position as string | null) ?? null;
      const stats = {} as Record<StatKey, Stat>;
      for (const k of STAT_KEYS) stats[k] = statOf(r, k);
      return { key: variantKey(module, position), label: variantLabel(module, position), module, position, counts: countsOf(r), stats };
    });
  }

  sweepDetail(name: string): SweepDetail {
    const s = this.requireSweep(name);
    const all = this.variantStats(name);
    const counts = emptyCounts();
    for (const v of all) for (const k of Object.keys(counts) as (keyof StatusCounts)[]) counts[k] += v.counts[k];
    const modules = [...new Set(all.filter((v) => v.module !== null).map((v) => v.module as string))];
    const positions = [...new Set(all.filter((v) => v.module !== null).map((v) => v.position))];
    const cfg = parseJson(s.config_json);
    // Keep the experiment file's order of modules and positions (the order the trials were expanded in).
    const first = new Map<string, number>();
    for (const r of this.st.firstOrdinals.all(name) as { module: string | null; position: string | null; ordinal: number }[]) {
      if (r.module === null) continue;
      for (const key of [`m:${r.module}`, `p:${r.position}`]) first.set(key, Math.min(first.get(key) ?? r.ordinal, r.ordinal));
    }
    const order = <T>(items: T[], prefix: string) =>
      [...items].sort(
        (a, b) => (first.get(`${prefix}${a}`) ?? Number.MAX_SAFE_INTEGER) - (first.get(`${prefix}${b}`) ?? Number.MAX_SAFE_INTEGER),
      );
    const times = this.st.sweepTimes.get(name) as Row;
    return {
      name,
      description: (s.description as string | null) ?? null,
      experimentFile: (s.experiment_file as string | null) ?? null,
      config: cfg,
      createdAt: s.created_at as string,
      updatedAt: s.updated_at as string,
      startedAt: (times.started_at as string | null) ?? null,
      finishedAt: (times.finished_at as string | null) ?? null,
      counts,
      modules: order(modules, 'm:'),
      positions: order(positions, 'p:'),
      baseline: all.find((v) => v.module === null && v.position === null) ?? null,
      variants: all.filter((v) => !(v.module === null && v.position === null)),
      stamp: this.stamp(),
    };
  }

  /** Per-epoch mean / min / max of the curves over the trials of each variant (all statuses: live runs show). */
  curves(sweep: string, variants: VariantRef[]): CurveSeries[] {
    this.requireSweep(sweep);
    const w = variantWhere(variants, 'r');
    const rows = this.db
      .prepare(
        `SELECT r.module, r.position, e.epoch, COUNT(*) AS n, ${curveCols}
         FROM results r JOIN epochs e ON e.trial_id = r.trial_id
         WHERE r.sweep = ? AND ${w.sql}
         GROUP BY r.module, r.position, e.epoch ORDER BY r.module IS NOT NULL, r.module, r.position, e.epoch`,
      )
      .all(sweep, ...w.params) as Row[];
    const out = new Map<string, CurveSeries>();
    for (const v of variants) out.set(variantKey(v.module, v.position), emptySeries(v.module, v.position));
    for (const r of rows) {
      const s = out.get(variantKey(r.module as string | null, r.position as string | null));
      if (!s) continue;
      s.epochs.push(r.epoch as number);
      s.n.push(r.n as number);
      for (const k of CURVE_KEYS) {
        s.mean[k].push(r[`${k}_mean`] as number | null);
        s.min[k].push(r[`${k}_min`] as number | null);
        s.max[k].push(r[`${k}_max`] as number | null);
      }
    }
    return [...out.values()];
  }

  trialsOf(sweep: string, v: VariantRef | null, status: string | null): TrialListItem[] {
    this.requireSweep(sweep);
    const where: string[] = ['sweep = ?'];
    const params: (string | null)[] = [sweep];
    if (v) {
      where.push('module IS ? AND position IS ?');
      params.push(v.module, v.position);
    }
    if (status) {
      where.push('status = ?');
      params.push(status);
    }
    return this.db
      .prepare(
        `SELECT trial_id AS id, module, position, seed, status, error, map50_95, map50, precision, recall, fps, params, gflops,
           epochs, epochs_planned, started_at, finished_at
         FROM results WHERE ${where.join(' AND ')} ORDER BY module IS NOT NULL, module, position, seed, trial_id`,
      )
      .all(...params) as TrialListItem[];
  }

  requireTrial(id: string): Row {
    const t = this.st.trial.get(id) as Row | undefined;
    if (!t) throw new HttpError(404, `Unknown trial "${id}"`);
    return t;
  }

  epochs(id: string): EpochRow[] {
    return this.st.epochs.all(id) as EpochRow[];
  }

  trialDetail(id: string, sweepParam: string | null): TrialDetail {
    const t = this.requireTrial(id);
    const sweeps = (this.st.trialSweeps.all(id) as { sweep: string }[]).map((r) => r.sweep);
    if (sweepParam !== null && !sweeps.includes(sweepParam)) {
      throw new HttpError(
        404,
        `Trial "${id}" is not in sweep "${sweepParam}"; it is in: ${sweeps.map((s) => `"${s}"`).join(', ') || 'no sweep'}`,
      );
    }
    const sweep = sweepParam ?? sweeps[0] ?? null;
    const isBaseline = t.module === null && t.position === null;
    const b = sweep
      ? (this.st.baselineOf.get(sweep, t.seed) as { id: string; seed: number; model_yaml: string | null } | undefined)
      : undefined;
    const { config_json, summary_json, provenance_json, module_args, model_yaml, transfer_json, ...rest } = t;
    return {
      trial: rest as TrialDetail['trial'],
      config: parseJson(config_json),
      summary: parseJson(summary_json),
      provenance: parseJson(provenance_json),
      moduleArgs: parseJson(module_args),
      modelYaml: (model_yaml as string | null) ?? null,
      sweeps,
      sweep,
      baseline: b ? { id: b.id, seed: b.seed, modelYaml: b.model_yaml } : null,
      epochs: this.epochs(id),
      baselineCurves: sweep && b && !isBaseline ? this.curves(sweep, [{ module: null, position: null }])[0] : null,
      coco: this.coco(id),
      pretrained:
        typeof t.pretrained === 'string'
          ? {
              file: t.pretrained,
              sha256: (t.pretrained_sha256 as string | null) ?? null,
              transfer: parseJson(transfer_json as string | null) as NonNullable<TrialDetail['pretrained']>['transfer'],
            }
          : null,
      stamp: this.stamp(),
    };
  }

  /** The trial's COCO evaluation (the results columns and coco_class_ap), or null when it has none. */
  coco(id: string): TrialDetail['coco'] {
    const r = this.db.prepare(`SELECT ${COCO_STATS.map(([c]) => c).join(', ')} FROM results WHERE trial_id = ? LIMIT 1`).get(id) as
      | Record<string, number | null>
      | undefined;
    const hasTable = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'coco_class_ap'").get();
    const perClass = hasTable
      ? (this.db.prepare('SELECT class_id, name, ap, n_gt FROM coco_class_ap WHERE trial_id = ? ORDER BY class_id').all(id) as NonNullable<
          TrialDetail['coco']
        >['perClass'])
      : [];
    if (!r || (perClass.length === 0 && Object.values(r).every((v) => v === null))) return null;
    return { stats: r, perClass };
  }

  /** The trial's numbers as a one-sample Stat per key, and its curves as a series (min = max = mean). */
  trialAsItem(id: string): { row: Row; stats: Record<StatKey, Stat>; curves: CurveSeries } {
    const t = this.requireTrial(id);
    const r = this.db.prepare('SELECT * FROM results WHERE trial_id = ? LIMIT 1').get(id) as Row | undefined;
    const src: Row = r ?? { ...t, latency_ms: t.latency_p50_ms, epochs: t.epochs_done };
    const stats = {} as Record<StatKey, Stat>;
    for (const k of STAT_KEYS) {
      const v = src[k] as number | null;
      const has = v !== null && v !== undefined;
      stats[k] = { mean: has ? v : null, std: null, min: has ? v : null, max: has ? v : null, n: has ? 1 : 0 };
    }
    const s = emptySeries(t.module as string | null, t.position as string | null);
    s.key = id;
    s.label = `${variantLabel(t.module as string | null, t.position as string | null)} seed ${t.seed} (${id})`;
    for (const e of this.epochs(id)) {
      s.epochs.push(e.epoch);
      s.n.push(1);
      for (const k of CURVE_KEYS) {
        s.mean[k].push(e[k]);
        s.min[k].push(e[k]);
        s.max[k].push(e[k]);
      }
    }
    return { row: t, stats, curves: s };
  }

  results(sweep: string): Row[] {
    this.requireSweep(sweep);
    return this.st.results.all(sweep) as Row[];
  }
}

function emptySeries(module: string | null, position: string | null): CurveSeries {
  const rec = () => Object.fromEntries(CURVE_KEYS.map((k) => [k, [] as (number | null)[]])) as Record<CurveKey, (number | null)[]>;
  return {
    key: variantKey(module, position),
    label: variantLabel(module, position),
    epochs: [],
    n: [],
    mean: rec(),
    min: rec(),
    max: rec(),
  };
}
