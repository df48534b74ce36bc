import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe as describeSeeds } from '@ablate/stats';
import { Tracker } from '@ablate/tracker';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type {
  CompareResult,
  SweepCurves,
  SweepDetail,
  SweepListItem,
  SweepStatsAnswer,
  TrialDetail,
  TrialListItem,
} from '../common/api.js';
import { CURVE_KEYS, formatMeanStd, METRIC_KEYS, STAT_KEYS } from '../common/metrics.js';
import { variantKey } from '../common/variant.js';
import { generateDb } from '../gen/generate.js';
import { expectClose, parseCsv, readResults, refStat, refVariants, tmpFile } from '../test-utils/reference.js';
import { buildServer, type DashboardServer } from './app.js';

const SWEEP = 'attention-positions';
let file: string;
let staticDir: string;
let app: DashboardServer;

const get = async <T = unknown>(url: string) => {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.body, json: () => JSON.parse(r.body) as T, headers: r.headers };
};

beforeAll(async () => {
  file = tmpFile();
  generateDb(file, {
    sweep: SWEEP,
    seeds: 3,
    epochs: 12,
    failed: 2,
    running: 2,
    interrupted: 1,
    pending: 1,
    failVariants: [['MSDeformAttn', 'pre-head']],
  });
  generateDb(file, { sweep: 'dat-positions', modules: ['DAttention'], seeds: 3, epochs: 12 });
  // The app's static folder, with a secret file beside it (outside) and a dotfile inside.
  const root = path.dirname(file);
  staticDir = path.join(root, 'web');
  fs.mkdirSync(path.join(staticDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>app</title>');
  fs.writeFileSync(path.join(staticDir, 'assets', 'a.js'), 'console.log(1)');
  fs.writeFileSync(path.join(staticDir, '.env'), 'SECRET_DOTFILE=1');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'TOP-SECRET-OUTSIDE');
  app = await buildServer({ db: file, staticDir });
});

afterAll(async () => {
  await app?.close();
});

describe('sweeps list', () => {
  test('counts by status, times and the best variant match the results view', async () => {
    const r = await get<{ sweeps: SweepListItem[] }>('/api/sweeps');
    expect(r.status).toBe(200);
    const { sweeps } = r.json();
    expect(sweeps.map((s) => s.name).sort()).toEqual(['attention-positions', 'dat-positions']);
    for (const s of sweeps) {
      const rows = readResults(file, s.name);
      const ref = refVariants(rows);
      expect(s.counts.total).toBe(rows.length);
      for (const st of ['ok', 'failed', 'running', 'interrupted', 'pending'] as const)
        expect(s.counts[st]).toBe(rows.filter((x) => x.status === st).length);
      let best: [string, number] | null = null;
      for (const [k, v] of ref)
        if (k !== 'baseline' && v.stats.map50_95.mean !== null && (!best || v.stats.map50_95.mean > best[1]))
          best = [k, v.stats.map50_95.mean];
      expect(s.best?.key).toBe(best?.[0]);
      expectClose(s.best?.map50_95 ?? null, best?.[1] ?? null, 1e-12, 'best mAP');
      expectClose(s.best?.delta ?? null, (best?.[1] ?? 0) - (ref.get('baseline')?.stats.map50_95.mean ?? 0), 1e-12, 'best delta');
      expect(s.startedAt).toBe(
        rows
          .map((x) => x.started_at as string | null)
          .filter(Boolean)
          .sort()[0],
      );
    }
  });
});

describe('sweep detail: SQL aggregation equals a naive float64 reference', () => {
  test('every variant, every metric: mean, sample std, min, max, n; status counts; modules and positions', async () => {
    const r = await get<SweepDetail>(`/api/sweeps/${SWEEP}`);
    expect(r.status).toBe(200);
    const d = r.json();
    const rows = readResults(file, SWEEP);
    const ref = refVariants(rows);
    const got = [...(d.baseline ? [d.baseline] : []), ...d.variants];
    expect(got.map((v) => v.key).sort()).toEqual([...ref.keys()].sort());
    let worst = 0;
    for (const v of got) {
      const e = ref.get(v.key)!;
      expect(v.counts).toEqual(e.counts);
      for (const k of STAT_KEYS) {
        for (const f of ['mean', 'std', 'min', 'max'] as const) {
          expectClose(v.stats[k][f], e.stats[k][f], 1e-9, `${v.key} ${k} ${f}`);
          if (e.stats[k][f] !== null) worst = Math.max(worst, Math.abs((v.stats[k][f] as number) - (e.stats[k][f] as number)));
        }
        expect(v.stats[k].n).toBe(e.stats[k].n);
      }
    }
    console.log(`sweep detail: ${got.length} variants x ${STAT_KEYS.length} stats, worst |SQL - reference| = ${worst.toExponential(2)}`);
    expect(d.modules).toEqual(['DAttention', 'MSDeformAttn', 'DoubleAttention', 'EfficientAttention', 'FocusedLinearAttention']);
    expect(d.positions).toEqual(['residual', 'pre-SPPF', 'neck', 'pre-head']);
    // The all-failed variant has no mean and n = 0, and counts its failures.
    const dead = d.variants.find((v) => v.key === 'MSDeformAttn@pre-head')!;
    expect(dead.stats.map50_95.mean).toBeNull();
    expect(dead.stats.map50_95.n).toBe(0);
    expect(dead.counts.failed).toBe(3);
    expect(d.counts.total).toBe(rows.length);
  });

  test("curves: per-epoch mean, min and max over each variant's trials equal the reference", async () => {
    const keys = ['baseline', 'DAttention@neck', 'EfficientAttention@pre-SPPF'];
    const r = await get<SweepCurves>(`/api/sweeps/${SWEEP}/curves?variants=${keys.map(encodeURIComponent).join(',')}`);
    expect(r.status).toBe(200);
    const c = r.json();
    expect(c.variants.map((v) => v.key)).toEqual(keys);
    const db = new Database(file, { readonly: true });
    let worst = 0;
    for (const s of c.variants) {
      const ids = readResults(file, SWEEP)
        .filter((x) => variantKey(x.module, x.position) === s.key)
        .map((x) => x.trial_id);
      const eps = db.prepare(`SELECT * FROM epochs WHERE trial_id IN (${ids.map(() => '?').join(',')})`).all(...ids) as Record<
        string,
        number
      >[];
      const epochs = [...new Set(eps.map((e) => e.epoch))].sort((a, b) => a - b);
      expect(s.epochs).toEqual(epochs);
      epochs.forEach((ep, i) => {
        const at = eps.filter((e) => e.epoch === ep);
        expect(s.n[i]).toBe(at.length);
        for (const k of CURVE_KEYS) {
          const ref = refStat(at.map((e) => e[k]));
          expectClose(s.mean[k][i], ref.mean, 1e-12, `${s.key} ${k} mean @${ep}`);
          expectClose(s.min[k][i], ref.min, 0, `${s.key} ${k} min @${ep}`);
          expectClose(s.max[k][i], ref.max, 0, `${s.key} ${k} max @${ep}`);
          worst = Math.max(worst, Math.abs((s.mean[k][i] as number) - (ref.mean as number)));
        }
      });
    }
    db.close();
    console.log(`curves: worst |SQL mean - reference| = ${worst.toExponential(2)}`);
  });

  test('trials of a cell: exactly its trials, with their status and metrics', async () => {
    const r = await get<{ trials: TrialListItem[] }>(`/api/sweeps/${SWEEP}/trials?variant=${encodeURIComponent('DAttention@neck')}`);
    expect(r.status).toBe(200);
    const want = readResults(file, SWEEP).filter((x) => x.module === 'DAttention' && x.position === 'neck');
    const got = r.json().trials;
    expect(got.map((t) => t.id).sort()).toEqual(want.map((w) => w.trial_id).sort());
    for (const t of got) {
      const w = want.find((x) => x.trial_id === t.id)!;
      expect(t.status).toBe(w.status);
      expect(t.map50_95).toBe(w.map50_95);
      expect(t.seed).toBe(w.seed);
    }
    const failed = await get<{ trials: TrialListItem[] }>(`/api/sweeps/${SWEEP}/trials?status=failed`);
    expect(failed.json().trials.length).toBe(readResults(file, SWEEP).filter((x) => x.status === 'failed').length);
    const base = await get<{ trials: TrialListItem[] }>(`/api/sweeps/${SWEEP}/trials?variant=baseline`);
    expect(base.json().trials.every((t) => t.module === null && t.position === null)).toBe(true);
    expect(base.json().trials.length).toBe(3);
  });
});

describe('trial page data', () => {
  test('config, summary, provenance, YAML and the baseline of the same seed; epochs; baseline curves', async () => {
    const row = readResults(file, SWEEP).find((x) => x.module === 'DAttention' && x.position === 'residual' && x.status === 'ok')!;
    const r = await get<TrialDetail>(`/api/trials/${row.trial_id}?sweep=${SWEEP}`);
    expect(r.status).toBe(200);
    const t = r.json();
    const db = new Database(file, { readonly: true });
    const raw = db.prepare('SELECT * FROM trials WHERE id = ?').get(row.trial_id) as Record<string, string>;
    const base = db
      .prepare(`SELECT t.* FROM trials t JOIN sweep_trials st ON st.trial_id = t.id WHERE st.sweep = ? AND t.module IS NULL AND t.seed = ?`)
      .get(SWEEP, row.seed) as Record<string, string>;
    const eps = db
      .prepare(
        'SELECT epoch, box_loss, cls_loss, dfl_loss, lr, precision, recall, map50, map50_95, fitness, seconds FROM epochs WHERE trial_id = ? ORDER BY epoch',
      )
      .all(row.trial_id);
    db.close();
    expect(t.config).toEqual(JSON.parse(raw.config_json));
    expect(t.summary).toEqual(JSON.parse(raw.summary_json));
    expect(t.provenance).toEqual(JSON.parse(raw.provenance_json));
    expect(t.modelYaml).toBe(raw.model_yaml);
    expect(t.baseline?.id).toBe(base.id);
    expect(t.baseline?.modelYaml).toBe(base.model_yaml);
    expect(t.epochs).toEqual(eps);
    expect(t.sweeps.sort()).toEqual(['attention-positions', 'dat-positions']);
    expect(t.sweep).toBe(SWEEP);
    expect(t.baselineCurves?.key).toBe('baseline');
    expect(t.trial).not.toHaveProperty('config_json');
  });

  test('COCO evaluation of the best epoch: the 12 results columns and the per-class rows, as stored', async () => {
    const row = readResults(file, SWEEP).find((x) => x.status === 'ok')!;
    const t = (await get<TrialDetail>(`/api/trials/${row.trial_id}`)).json();
    const db = new Database(file, { readonly: true });
    const want = db
      .prepare(
        'SELECT coco_ap, coco_ap50, coco_ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large FROM results WHERE trial_id = ? LIMIT 1',
      )
      .get(row.trial_id);
    const classes = db.prepare('SELECT class_id, name, ap, n_gt FROM coco_class_ap WHERE trial_id = ? ORDER BY class_id').all(row.trial_id);
    db.close();
    expect(t.coco?.stats).toEqual(want);
    expect(Object.keys(t.coco?.stats ?? {})).toHaveLength(12);
    expect(t.coco?.perClass).toEqual(classes);
    expect(classes.length).toBe(3);
    // a trial that never finished has none
    const pending = readResults(file, SWEEP).find((x) => x.status === 'pending')!;
    expect((await get<TrialDetail>(`/api/trials/${pending.trial_id}`)).json().coco).toBeNull();
    // COCO metrics are matrix metrics
    const m = await get<SweepDetail>(`/api/sweeps/${SWEEP}`);
    expect(m.json().variants[0].stats.ap_small.n).toBeGreaterThan(0);
  });

  test('a database written before the COCO columns (tracker migration 1 only) still opens: COCO served as NULL', async () => {
    const f = tmpFile('v1.db');
    const { MIGRATIONS } = await import('@ablate/tracker');
    const db = new Database(f);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    db.exec(MIGRATIONS[0].sql);
    db.prepare("INSERT INTO schema_migrations VALUES (1, 'initial schema', 'then')").run();
    db.prepare("INSERT INTO sweeps (name, config_json) VALUES ('old', '{}')").run();
    db.prepare("INSERT INTO trials (id, seed, config_json, status, map50_95) VALUES ('o1', 0, '{}', 'ok', 0.4)").run();
    db.prepare("INSERT INTO sweep_trials VALUES ('old', 'o1', 0)").run();
    db.close();
    const a = await buildServer({ db: f, staticDir });
    try {
      const d = JSON.parse((await a.inject({ url: '/api/sweeps/old' })).body) as SweepDetail;
      expect(d.baseline?.stats.map50_95.mean).toBe(0.4);
      expect(d.baseline?.stats.ap_small.mean).toBeNull();
      const t = JSON.parse((await a.inject({ url: '/api/trials/o1' })).body) as TrialDetail;
      expect(t.coco).toBeNull();
    } finally {
      await a.close();
    }
    // the file itself is untouched (still no COCO columns)
    const check = new Database(f, { readonly: true });
    expect((check.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name)).not.toContain('ap_small');
    check.close();
  });

  test('a failed trial carries its error', async () => {
    const row = readResults(file, SWEEP).find((x) => x.status === 'failed')!;
    const t = (await get<TrialDetail>(`/api/trials/${row.trial_id}`)).json();
    expect(t.trial.status).toBe('failed');
    expect(t.trial.error).toBe(row.error);
    expect(t.trial.error).toMatch(/NaN/);
  });
});

describe('compare', () => {
  test('variants of a sweep and trials, side by side', async () => {
    const r = await get<CompareResult>(`/api/compare?sweep=${SWEEP}&variants=baseline,${encodeURIComponent('DAttention@neck')}`);
    expect(r.status).toBe(200);
    const items = r.json().items;
    expect(items.map((i) => i.key)).toEqual(['baseline', 'DAttention@neck']);
    const ref = refVariants(readResults(file, SWEEP));
    for (const it of items)
      for (const k of STAT_KEYS) expectClose(it.stats[k].mean, ref.get(it.key)!.stats[k].mean, 1e-9, `${it.key} ${k}`);
    expect(items[1].curves.epochs.length).toBe(12);
    const ids = readResults(file, SWEEP)
      .filter((x) => x.status === 'ok')
      .slice(0, 3)
      .map((x) => x.trial_id);
    const t = (await get<CompareResult>(`/api/compare?trials=${ids.join(',')}`)).json();
    expect(t.items.map((i) => i.key)).toEqual(ids);
    for (const it of t.items) {
      const w = readResults(file, SWEEP).find((x) => x.trial_id === it.key)!;
      expect(it.stats.map50_95.mean).toBe(w.map50_95);
      expect(it.stats.map50_95.n).toBe(1);
      expect(it.curves.epochs.length).toBe(w.epochs);
    }
  });
});

describe('exports', () => {
  test('CSV of trials: the results view, row for row and value for value', async () => {
    const r = await get(`/api/sweeps/${SWEEP}/export.csv`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/csv/);
    expect(r.headers['content-disposition']).toMatch(/attachment; filename="attention-positions-trials.csv"/);
    const [head, ...rows] = parseCsv(r.body);
    const want = readResults(file, SWEEP);
    expect(rows.length).toBe(want.length);
    expect(head).toEqual(Object.keys(want[0]));
    for (const line of rows) {
      const rec = Object.fromEntries(head.map((h, i) => [h, line[i]]));
      const w = want.find((x) => x.trial_id === rec.trial_id)!;
      for (const [k, v] of Object.entries(w)) {
        if (v === null) expect(rec[k]).toBe('');
        else if (typeof v === 'number') expect(Number(rec[k])).toBe(v);
        else expect(rec[k]).toBe(String(v));
      }
    }
  });

  test('CSV of variants: mean and std per variant', async () => {
    const r = await get(`/api/sweeps/${SWEEP}/export.csv?by=variant`);
    expect(r.status).toBe(200);
    const [head, ...rows] = parseCsv(r.body);
    const ref = refVariants(readResults(file, SWEEP));
    expect(rows.length).toBe(ref.size);
    for (const line of rows) {
      const rec = Object.fromEntries(head.map((h, i) => [h, line[i]]));
      const key = rec.module === 'baseline' ? 'baseline' : variantKey(rec.module, rec.position || null);
      const e = ref.get(key)!;
      for (const k of STAT_KEYS) {
        expectClose(rec[`${k}_mean`] === '' ? null : Number(rec[`${k}_mean`]), e.stats[k].mean, 1e-12, `${key} ${k} mean`);
        expectClose(rec[`${k}_std`] === '' ? null : Number(rec[`${k}_std`]), e.stats[k].std, 1e-9, `${key} ${k} std`);
      }
    }
  });

  test("stats: every variant's per-seed values (ok trials, the baseline first) and the 95% intervals the bar chart draws", async () => {
    const r = await get<SweepStatsAnswer>(`/api/sweeps/${SWEEP}/stats?metric=map50_95`);
    expect(r.status).toBe(200);
    const { seedValues, analysis } = r.json();
    const rows = readResults(file, SWEEP).filter((x) => x.status === 'ok' && typeof x.map50_95 === 'number');
    expect(seedValues[0].module).toBeNull();
    const keys = new Set(rows.map((x) => variantKey(x.module as string | null, x.position as string | null)));
    expect(seedValues.map((v) => variantKey(v.module, v.position)).sort()).toEqual([...keys].sort());
    for (const v of seedValues) {
      const mine = rows.filter((x) => x.module === v.module && x.position === v.position);
      expect(v.seeds.length, variantKey(v.module, v.position)).toBe(mine.length);
      v.seeds.forEach((seed, i) => {
        expect(v.values[i]).toBe(mine.find((x) => x.seed === seed)?.map50_95);
      });
      const a = v.module === null ? analysis.baseline : analysis.variants.find((x) => x.module === v.module && x.position === v.position);
      // the interval is the t-interval of these values
      expect(a?.summary).toEqual(describeSeeds(v.values));
    }
  });

  test('LaTeX booktabs (@ablate/stats): mean ± std per cell, bold only when significant over the runner-up, names escaped', async () => {
    for (const metric of METRIC_KEYS) {
      const r = await get(`/api/sweeps/${SWEEP}/export.tex?metric=${metric}`);
      expect(r.status).toBe(200);
      const tex = r.body;
      for (const cmd of ['\\begin{tabular}', '\\toprule', '\\midrule', '\\bottomrule', '\\end{tabular}']) expect(tex).toContain(cmd);
      const ref = refVariants(readResults(file, SWEEP));
      // Every finished cell appears as "$mean \pm std$" formatted as on the page.
      for (const [k, v] of ref) {
        const s = v.stats[metric];
        if (s.mean === null) continue;
        expect(tex, `${metric} ${k}`).toContain(formatMeanStd(metric, s.mean, s.std).replace(' ± ', ' \\pm '));
      }
      const bold = [...tex.matchAll(/\\mathbf\{([^}]*)\}/g)].map((m) => m[1]);
      const higher = !['params', 'gflops', 'gflops_640', 'latency_ms', 'train_seconds'].includes(metric);
      const means = [...ref.values()].map((v) => v.stats[metric]).filter((s) => s.mean !== null);
      const best = means.reduce((a, b) =>
        (higher ? (b.mean as number) > (a.mean as number) : (b.mean as number) < (a.mean as number)) ? b : a,
      );
      // Bold only where the best is significantly better than the runner-up; the footnote says which.
      if (/No entry is in bold/.test(tex)) expect(bold, metric).toEqual([]);
      else {
        expect(tex).toMatch(/Bold: best, significantly better than the runner-up/);
        expect(bold).toEqual([formatMeanStd(metric, best.mean, best.std).replace(' ± ', ' \\pm ')]);
      }
      expect(tex).toMatch(/Holm-corrected over the \d+ variants|No difference could be tested/);
      expect(tex).not.toMatch(/NaN/);
    }
    // Special characters in module / position names are escaped.
    const f2 = tmpFile();
    generateDb(f2, { sweep: 'esc', modules: ['My_Attn&Co'], positions: ['after_#9'], seeds: 2, epochs: 3 });
    const a2 = await buildServer({ db: f2, staticDir });
    const tex = (await a2.inject({ url: '/api/sweeps/esc/export.tex' })).body;
    await a2.close();
    expect(tex).toContain('My\\_Attn\\&Co');
    expect(tex).toContain('after\\_\\#9');
  });
});

describe('bad requests: 4xx JSON, never a stack trace', () => {
  const cases: [string, number, RegExp][] = [
    ['/api/sweeps/nope', 404, /Unknown sweep "nope"; known: .*"attention-positions"/],
    ['/api/sweeps/nope/curves?variants=baseline', 404, /Unknown sweep/],
    ['/api/sweeps/nope/export.csv', 404, /Unknown sweep/],
    ['/api/trials/doesnotexist', 404, /Unknown trial "doesnotexist"/],
    [`/api/trials/x?sweep=${SWEEP}`, 404, /Unknown trial/],
    [`/api/sweeps/${SWEEP}?metric=map50`, 400, /Unknown query parameter "metric"; known: none/],
    [`/api/sweeps/${SWEEP}/export.tex?metric=accuracy`, 400, /Unknown metric "accuracy"; known: map50_95, map50, precision/],
    [`/api/sweeps/${SWEEP}/export.tex?metric=fps&metric=map50`, 400, /given more than once/],
    [`/api/sweeps/${SWEEP}/export.csv?by=week`, 400, /Unknown "by" value "week"; known: trial, variant/],
    [`/api/sweeps/${SWEEP}/curves`, 400, /Missing "variants"/],
    [`/api/sweeps/${SWEEP}/curves?variants=`, 400, /Missing "variants"/],
    [`/api/sweeps/${SWEEP}/curves?variants=baseline,,x`, 400, /empty item/],
    [`/api/sweeps/${SWEEP}/curves?variants=nomodule`, 400, /Malformed variant "nomodule"/],
    [`/api/sweeps/${SWEEP}/curves?variants=Foo@bar`, 404, /Unknown variant "Foo@bar" in sweep "attention-positions"; known: baseline, /],
    [`/api/sweeps/${SWEEP}/curves?variants=${Array(65).fill('baseline').join(',')}`, 400, /at most 64/],
    [`/api/sweeps/${SWEEP}/trials?status=done`, 400, /Unknown status "done"; known: ok, failed/],
    ['/api/compare?trials=abc', 400, /at least two items/],
    ['/api/compare?variants=baseline,DAttention@neck', 400, /"variants" needs "sweep"/],
    ['/api/compare?trials=a,b', 404, /Unknown trial "a"/],
    ['/api/nothing', 404, /Unknown API endpoint/],
    ['/api/sweeps/%E0%A4%A', 400, /Bad request/],
    ['/%E0%A4%A', 400, /Bad request/],
    ['/nothing-here.html', 404, /Not found/],
    [`/api/sweeps/${SWEEP}/trials?variant=${'x'.repeat(10_001)}`, 400, /too long/],
  ];
  test.each(cases)('%s -> %i', async (url, code, msg) => {
    const r = await app.inject({ method: 'GET', url });
    expect(r.statusCode).toBe(code);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    const body = JSON.parse(r.body);
    expect(body.statusCode).toBe(code);
    expect(body.error).toMatch(msg);
    expect(r.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  });

  test('writes are impossible: non-GET methods get 404, and the connection is read-only', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
      const r = await app.inject({ method, url: `/api/sweeps/${SWEEP}`, payload: {} });
      expect(r.statusCode).toBe(404);
    }
    expect(app.queries.db.readonly).toBe(true);
    expect(() => app.queries.db.prepare('DELETE FROM trials').run()).toThrow(/readonly|read-only/i);
  });
});

describe('static files: nothing outside the app folder can be read', () => {
  test('the app is served', async () => {
    const r = await app.inject({ url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('<title>app</title>');
    expect((await app.inject({ url: '/assets/a.js' })).statusCode).toBe(200);
  });

  const attempts = [
    '/../secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/.%2e/secret.txt',
    '/assets/../../secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/%252e%252e/secret.txt',
    '/..%5csecret.txt',
    '/..\\secret.txt',
    '//../secret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/index.html/../../secret.txt',
    '/..;/secret.txt',
    '/.env',
    '/%2eenv',
    '/assets/../.env',
    `/${'../'.repeat(12)}etc/passwd`,
    `/${'%2e%2e%2f'.repeat(12)}etc/passwd`,
  ];
  test.each(attempts)('inject %s', async (url) => {
    const r = await app.inject({ url });
    expect(r.statusCode).toBeGreaterThanOrEqual(400);
    expect(r.statusCode).toBeLessThan(500);
    expect(r.body).not.toContain('TOP-SECRET-OUTSIDE');
    expect(r.body).not.toContain('SECRET_DOTFILE');
    expect(r.body).not.toContain('root:');
  });

  test('the same requests, raw over TCP to a listening server (no client-side normalisation)', async () => {
    const a = await buildServer({ db: file, staticDir });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const port = (a.server.address() as net.AddressInfo).port;
    try {
      for (const url of attempts) {
        const res = await new Promise<string>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () =>
            s.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`),
          );
          let buf = '';
          s.on('data', (d) => {
            buf += d.toString('latin1');
          });
          s.on('end', () => resolve(buf));
          s.on('error', reject);
        });
        const code = Number(res.split(' ')[1]);
        expect(code, `${url}: ${res.slice(0, 80)}`).toBeGreaterThanOrEqual(400);
        expect(code).toBeLessThan(500);
        expect(res).not.toContain('TOP-SECRET-OUTSIDE');
        expect(res).not.toContain('SECRET_DOTFILE');
      }
    } finally {
      await a.close();
    }
  });
});

describe('Host header (DNS rebinding)', () => {
  const raw = (port: number, host: string | null, url = '/api/sweeps') =>
    new Promise<{ code: number; body: string }>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () =>
        s.write(`GET ${url} HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`),
      );
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
      });
      s.on('end', () => resolve({ code: Number(buf.split(' ')[1]), body: buf }));
      s.on('error', reject);
    });

  test('inject: a foreign Host gets 403 without results; loopback names are answered', async () => {
    for (const host of ['evil.example', 'evil.example:80', 'localhost.evil.example', '127.0.0.1.nip.io', 'attacker.com:8080']) {
      const r = await app.inject({ url: `/api/sweeps/${SWEEP}`, headers: { host } });
      expect(r.statusCode, host).toBe(403);
      expect(r.body).toMatch(/is not an address this dashboard serves/);
      expect(r.body).not.toContain(SWEEP);
    }
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'LOCALHOST']) {
      expect((await app.inject({ url: '/api/sweeps', headers: { host } })).statusCode, host).toBe(200);
    }
  });

  test('listening: the port must be the one served; no Host is refused; the bound host and --allow-host names are answered', async () => {
    const a = await buildServer({ db: file, staticDir, hosts: { bound: '127.0.0.1', extra: ['ablate.lab.internal'] } });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const port = (a.server.address() as net.AddressInfo).port;
    try {
      expect((await raw(port, `127.0.0.1:${port}`)).code).toBe(200);
      expect((await raw(port, `localhost:${port}`)).code).toBe(200);
      expect((await raw(port, `ablate.lab.internal:${port}`)).code).toBe(200);
      const bad = await raw(port, `rebind.evil.example:${port}`);
      expect(bad.code).toBe(403);
      expect(bad.body).not.toContain(SWEEP);
      expect((await raw(port, `127.0.0.1:${port + 1}`)).code).toBe(403);
      expect((await raw(port, '127.0.0.1')).code).toBe(403); // means port 80
      expect((await raw(port, null)).code).toBeGreaterThanOrEqual(400);
      // the page itself is protected too
      expect((await raw(port, `evil.example:${port}`, '/')).code).toBe(403);
    } finally {
      await a.close();
    }
  });
});

describe('live updates', () => {
  test('the stamp changes when a trial is written, and the sweep detail follows (no stale cache)', async () => {
    const f = tmpFile();
    generateDb(f, { sweep: 'live', modules: ['DAttention'], positions: ['neck'], seeds: 2, epochs: 4, running: 1 });
    const a = await buildServer({ db: f, staticDir });
    try {
      const s0 = JSON.parse((await a.inject({ url: '/api/stamp' })).body).stamp;
      const d0 = JSON.parse((await a.inject({ url: '/api/sweeps/live' })).body) as SweepDetail;
      expect(d0.counts.running).toBe(1);
      const running = readResults(f, 'live').find((x) => x.status === 'running')!;
      const w = new Tracker(f);
      w.recordEpoch(running.trial_id, { epoch: 3, map50_95: 0.5, boxLoss: 1 });
      w.finishTrial(running.trial_id, { map50_95: 0.5, map50: 0.7, fps: 50 });
      w.close();
      const s1 = JSON.parse((await a.inject({ url: '/api/stamp' })).body).stamp;
      expect(s1).not.toBe(s0);
      const d1 = JSON.parse((await a.inject({ url: '/api/sweeps/live' })).body) as SweepDetail;
      expect(d1.counts.running).toBe(0);
      expect(d1.counts.ok).toBe(d0.counts.ok + 1);
      const v = [...(d1.baseline ? [d1.baseline] : []), ...d1.variants].find(
        (x) => x.key === variantKey(running.module, running.position),
      )!;
      const ref = refVariants(readResults(f, 'live')).get(v.key)!;
      expectClose(v.stats.map50_95.mean, ref.stats.map50_95.mean, 1e-12, 'mean after the write');
    } finally {
      await a.close();
    }
  });
});

describe('opening the database', () => {
  test('a missing file or a non-ablate database is refused with a clear message', async () => {
    await expect(buildServer({ db: '/nonexistent/ablate.db' })).rejects.toThrow(/does not exist/);
    const f = tmpFile('other.db');
    const db = new Database(f);
    db.exec('CREATE TABLE x (a)');
    db.close();
    await expect(buildServer({ db: f })).rejects.toThrow(/is not an ablate results database/);
  });

  test('an empty database (no sweeps yet) serves an empty list', async () => {
    const f = tmpFile();
    new Tracker(f).close();
    const a = await buildServer({ db: f, staticDir });
    const r = await a.inject({ url: '/api/sweeps' });
    expect(JSON.parse(r.body).sweeps).toEqual([]);
    const n = await a.inject({ url: '/api/sweeps/x' });
    expect(JSON.parse(n.body).error).toMatch(/the database has no sweeps yet/);
    await a.close();
  });
});
