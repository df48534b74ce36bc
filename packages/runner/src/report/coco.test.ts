import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COCO_COLUMNS, MIGRATIONS, Tracker } from '@ablate/tracker';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { type CocoReport, loadCoco } from './coco.js';
import { openResults } from './load.js';
import { REPORT_SECTIONS, renderReport } from './render.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-coco-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Stats = Record<keyof typeof COCO_COLUMNS, number>;
/** Twelve numbers from one: AP = x, AP50 = x + 0.01, ... (distinct per stat so a column mix-up shows). */
const statsOf = (x: number, noLarge = false): Stats => {
  const s = {} as Stats;
  (Object.keys(COCO_COLUMNS) as (keyof Stats)[]).forEach((k, i) => {
    s[k] = x + i / 100;
  });
  if (noLarge) {
    s.APl = -1;
    s.ARl = -1;
  }
  return s;
};

/**
 * baseline seeds 0, 1, 2 with COCO AP 0.30, 0.32, 0.34; DAttention@neck seeds 0, 1 evaluated (0.40, 0.44)
 * and seed 2 finished without a COCO evaluation (an older version); a failed trial; seed 1 of the baseline
 * with no large objects (-1).
 */
function makeDb(): string {
  const file = path.join(dir, 'coco.db');
  const t = new Tracker(file);
  t.upsertSweep({ name: 'dat', config: {} });
  let ord = 0;
  const add = (id: string, module: string | null, position: string | null, seed: number) =>
    t.addTrial('dat', { id, module, position, seed, config: {} }, ord++);
  const cls = (a: number, b: number) => [
    { cls: 0, name: 'circle', ap: a, nGt: 7 },
    { cls: 1, name: 'square', ap: b, nGt: 5 },
  ];
  [0.3, 0.32, 0.34].forEach((x, seed) => {
    add(`b${seed}`, null, null, seed);
    t.finishTrial(`b${seed}`, { map50_95: x, coco: { stats: statsOf(x, seed === 1), perClass: cls(x + 0.1, -1) } });
  });
  [0.4, 0.44].forEach((x, seed) => {
    add(`n${seed}`, 'DAttention', 'neck', seed);
    t.finishTrial(`n${seed}`, { map50_95: x, coco: { stats: statsOf(x), perClass: cls(x, x - 0.2) } });
  });
  add('n2', 'DAttention', 'neck', 2);
  t.finishTrial('n2', { map50_95: 0.5 });
  add('f0', 'DAttention', 'residual', 0);
  t.failTrial('f0', 'boom');
  t.close();
  return file;
}

const db = makeDb();
// The CLI passes the sections whose flag is given.
const coco = REPORT_SECTIONS.filter((s) => s.flag === '--coco');
const report = (format: 'md' | 'latex' | 'csv' | 'json', file = db, sweep = 'dat') => {
  const t = openResults(file);
  try {
    return renderReport(t, { sweep, metric: 'map50_95', format, test: 'auto' }, coco);
  } finally {
    t.close();
  }
};

describe('pnpm report --coco', () => {
  it('is registered as --coco', () => {
    expect(coco).toHaveLength(1);
  });

  it('per variant: mean ± std over the seeds with a stored evaluation, per stat and per class; -1 left out', () => {
    const t = openResults(db);
    const r: CocoReport = loadCoco(t, 'dat');
    t.close();
    expect(r.variants.map((v) => [v.module, v.position, v.n])).toEqual([
      [null, null, 3],
      ['DAttention', 'neck', 2],
    ]);
    const [b, n] = r.variants;
    expect(b.stats.AP.values).toEqual([0.3, 0.32, 0.34]);
    expect(b.stats.AP.mean).toBeCloseTo(0.32, 12);
    expect(b.stats.AP.std).toBeCloseTo(0.02, 12);
    expect(b.stats.AR100.values).toEqual([0.3 + 0.08, 0.32 + 0.08, 0.34 + 0.08]);
    // seed 1 had no large objects: APl over seeds 0 and 2 only
    expect(b.stats.APl.seeds).toEqual([0, 2]);
    expect(b.stats.APl.mean).toBeCloseTo((0.35 + 0.39) / 2, 12);
    expect(n.stats.AP.seeds).toEqual([0, 1]);
    expect(n.stats.AP.mean).toBeCloseTo(0.42, 12);
    expect(b.per_class.map((c) => [c.name, c.n_gt, c.n])).toEqual([
      ['circle', 7, 3],
      ['square', 5, 0],
    ]);
    expect(b.per_class[1].mean).toBeNull();
    expect(n.per_class[1].mean).toBeCloseTo(0.22, 12);
    expect(r.missing).toEqual([
      { trial_id: 'n2', module: 'DAttention', position: 'neck', seed: 2, reason: expect.stringMatching(/no stored COCO evaluation/) },
    ]);
  });

  it('json: a `coco` object beside the contract', () => {
    const j = JSON.parse(report('json'));
    expect(j.variants).toHaveLength(2);
    expect(j.coco.stats).toEqual(['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']);
    expect(j.coco.variants[1]).toMatchObject({ module: 'DAttention', position: 'neck', n: 2 });
    expect(j.coco.variants[1].stats.AP75).toMatchObject({ n: 2, seeds: [0, 1] });
    expect(j.coco.variants[1].stats.AP75.values[0]).toBeCloseTo(0.42, 12);
    expect(j.coco.variants[1].stats.AP75.values[1]).toBeCloseTo(0.46, 12);
    expect(j.coco.variants[0].stats.APl.ci95).toHaveLength(2);
    expect(j.coco.missing[0].trial_id).toBe('n2');
  });

  it('md: both tables and a line per trial without numbers', () => {
    const s = report('md');
    expect(s).toMatch(/## COCO evaluation/);
    expect(s).toMatch(/\| Variant \| n \| AP \| AP50 \| AP75 \| APs \| APm \| APl \| AR1 \| AR10 \| AR100 \| ARs \| ARm \| ARl \|/);
    expect(s).toMatch(/\| baseline \| 3 \| 0\.3200 ± 0\.0200 \| 0\.3300 ± 0\.0200 \|/);
    expect(s).toMatch(/\| DAttention@neck \| 2 \| 0\.4200 ± 0\.0283 \|/);
    expect(s).toMatch(/\| Variant \| circle \(7 gt\) \| square \(5 gt\) \|/);
    expect(s).toMatch(/\| baseline \| 0\.4200 ± 0\.0200 \| — \|/);
    expect(s).toMatch(/Trial n2 \(DAttention@neck, seed 2\): no stored COCO evaluation/);
    expect(s).not.toMatch(/NaN|undefined|null/);
  });

  it('latex: AP, AR and per-class booktabs tables', () => {
    const s = report('latex');
    expect(s.match(/\\begin\{tabular\}/g)).toHaveLength(4);
    expect(s).toMatch(/Variant & \$\\mathrm\{AP\}\$ & \$\\mathrm\{AP\}_\{50\}\$/);
    expect(s).toMatch(/DAttention@neck & \$0\.4200 \\pm 0\.0283\$/);
    expect(s).toMatch(/Variant & circle & square \\\\/);
    expect(s).toMatch(/mean \$\\pm\$ std over the seeds/);
    expect(s).not.toMatch(/±|—/);
    expect(s).not.toMatch(/NaN|undefined/);
  });

  it('csv: a long table after one empty line, full precision', () => {
    const s = report('csv');
    const [main, coco] = s.split('\r\n\r\n');
    expect(main.split('\r\n')[0]).toMatch(/^module,position,n,mean/);
    const lines = coco.trim().split('\r\n');
    expect(lines[0]).toBe('module,position,stat,class_id,class_name,n,mean,std,ci95_lo,ci95_hi,note');
    const ap = lines.find((l) => l.startsWith('DAttention,neck,AP,')) as string;
    const [n, mean, std, lo, hi] = ap.split(',').slice(5, 10).map(Number);
    expect([n, mean, std]).toEqual([2, expect.closeTo(0.42, 12), expect.closeTo(Math.SQRT2 * 0.02, 12)]);
    // t(0.975, 1) = 12.7062047361747: the interval is mean ± 12.706 * std / sqrt(2)
    expect(hi - mean).toBeCloseTo(12.7062047361747 * 0.02, 10);
    expect(mean - lo).toBeCloseTo(12.7062047361747 * 0.02, 10);
    expect(lines.filter((l) => l.includes(',AP_class,'))).toHaveLength(4);
    expect(lines.at(-1)).toMatch(/^DAttention,neck,,,,0,,,,,"trial n2 seed 2: no stored COCO evaluation/);
  });

  it('a database older than the COCO evaluation (schema version 1): every trial is listed with the reason', () => {
    const file = path.join(dir, 'v1.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const m1 = MIGRATIONS.find((m) => m.version === 1) as (typeof MIGRATIONS)[number];
    raw.exec(m1.sql);
    raw.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(m1.name, 'then');
    raw.prepare("INSERT INTO sweeps (name, config_json) VALUES ('old', '{}')").run();
    raw.prepare("INSERT INTO trials (id, seed, config_json, status, map50_95) VALUES ('o', 0, '{}', 'ok', 0.7)").run();
    raw.prepare("INSERT INTO sweep_trials VALUES ('old', 'o', 0)").run();
    raw.close();
    const s = report('md', file, 'old');
    expect(s).toMatch(/Trial o \(baseline, seed 0\): the database \(schema version 1\) predates the COCO evaluation \(migration 3\)/);
    expect(s).not.toMatch(/\| Variant \| n \| AP/);
    const j = JSON.parse(report('json', file, 'old'));
    expect(j.coco.variants).toEqual([]);
    expect(j.coco.missing).toHaveLength(1);
  });
});
