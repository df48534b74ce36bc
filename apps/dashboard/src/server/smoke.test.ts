/**
 * API tests (and one browser check) against a database made by the real smoke sweep
 * (`experiments/smoke.yaml`, run with the runner's built CLI into a temporary folder; 16 s on node, 92 s on wasm).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser, openPage } from '../bench/browser.js';
import type { CompareResult, SweepCurves, SweepDetail, SweepListItem, TrialDetail } from '../common/api.js';
import { CURVE_KEYS, formatMeanStd, STAT_KEYS } from '../common/metrics.js';
import { expectClose, parseCsv, readResults, refStat, refVariants, tmpFile } from '../test-utils/reference.js';
import { ROOT, runSweep } from '../test-utils/sweep.js';
import { buildWeb, SCREENSHOTS } from '../test-utils/web.js';
import { buildServer, type DashboardServer } from './app.js';

const SMOKE = path.join(ROOT, 'experiments/smoke.yaml');
let file: string;
let app: DashboardServer;
let web: string;

const get = async <T>(url: string) => {
  const r = await app.inject({ url });
  expect(r.statusCode, `${url}: ${r.body.slice(0, 300)}`).toBe(200);
  return JSON.parse(r.body) as T;
};

beforeAll(async () => {
  file = tmpFile('smoke.db');
  await runSweep(SMOKE, file);
  web = await buildWeb();
  app = await buildServer({ db: file, staticDir: web });
});

afterAll(async () => {
  await app?.close();
  if (web) fs.rmSync(web, { recursive: true, force: true });
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

describe('API on the smoke sweep database', () => {
  test('sweeps list: the smoke sweep, all trials ok', async () => {
    const { sweeps } = await get<{ sweeps: SweepListItem[] }>('/api/sweeps');
    const rows = readResults(file, 'smoke');
    expect(sweeps.map((s) => s.name)).toEqual(['smoke']);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(sweeps[0].counts.total).toBe(rows.length);
    expect(sweeps[0].counts.ok).toBe(rows.filter((r) => r.status === 'ok').length);
    expect(sweeps[0].best?.key).toBe('DAttention@pre-SPPF');
  });

  test('sweep detail equals the reference over the results view; curves equal the epochs table', async () => {
    const d = await get<SweepDetail>('/api/sweeps/smoke');
    const ref = refVariants(readResults(file, 'smoke'));
    expect(d.baseline).not.toBeNull();
    expect(d.modules).toEqual(['DAttention']);
    expect(d.positions).toEqual(['pre-SPPF']);
    for (const v of [d.baseline!, ...d.variants]) {
      const e = ref.get(v.key)!;
      expect(v.counts).toEqual(e.counts);
      for (const k of STAT_KEYS) {
        expectClose(v.stats[k].mean, e.stats[k].mean, 1e-9, `${v.key} ${k}`);
        expect(v.stats[k].n).toBe(e.stats[k].n);
      }
      expect(v.stats.fps.mean).toBeGreaterThan(0);
      expect(v.stats.params.mean).toBeGreaterThan(1e6);
    }
    const c = await get<SweepCurves>(`/api/sweeps/smoke/curves?variants=baseline,${encodeURIComponent('DAttention@pre-SPPF')}`);
    const db = new Database(file, { readonly: true });
    for (const s of c.variants) {
      const ids = readResults(file, 'smoke')
        .filter((r) => (s.key === 'baseline' ? r.module === null : r.module === 'DAttention'))
        .map((r) => r.trial_id);
      const eps = db
        .prepare(`SELECT * FROM epochs WHERE trial_id IN (${ids.map(() => '?').join(',')}) ORDER BY epoch`)
        .all(...ids) as Record<string, number>[];
      expect(s.epochs).toEqual([...new Set(eps.map((e) => e.epoch))]);
      s.epochs.forEach((ep, i) => {
        for (const k of CURVE_KEYS)
          expectClose(s.mean[k][i], refStat(eps.filter((e) => e.epoch === ep).map((e) => e[k])).mean, 1e-12, `${s.key} ${k} @${ep}`);
      });
    }
    db.close();
  });

  test("trial detail: the runner's config, model YAML (diff against the baseline), summary and provenance", async () => {
    const row = readResults(file, 'smoke').find((r) => r.module === 'DAttention')!;
    const t = await get<TrialDetail>(`/api/trials/${row.trial_id}?sweep=smoke`);
    expect(t.trial.status).toBe('ok');
    expect(t.modelYaml).toContain('DAttention');
    expect(t.baseline?.modelYaml).not.toContain('DAttention');
    expect(t.config).not.toBeNull();
    expect((t.summary as { rows?: unknown[] }).rows?.length).toBeGreaterThan(10);
    expect(t.provenance).not.toBeNull();
    expect(JSON.stringify(t.provenance)).toContain(row.trial_id);
    expect(t.epochs.length).toBe(row.epochs);
  });

  test('compare, CSV and LaTeX exports', async () => {
    const ids = readResults(file, 'smoke').map((r) => r.trial_id);
    const cmp = await get<CompareResult>(`/api/compare?trials=${ids.join(',')}`);
    expect(cmp.items.map((i) => i.key)).toEqual(ids);
    const csv = await app.inject({ url: '/api/sweeps/smoke/export.csv' });
    const [head, ...rows] = parseCsv(csv.body);
    expect(rows.length).toBe(ids.length);
    expect(head).toContain('map50_95');
    const tex = (await app.inject({ url: '/api/sweeps/smoke/export.tex' })).body;
    expect(tex).toContain('\\toprule');
    expect(tex).toContain('DAttention');
  });
});

describe('the smoke sweep in chromium', () => {
  test('the sweep page shows the database values; the trial page opens', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
    const b = await launchBrowser();
    try {
      await openPage(b.page, `${url}#/sweep/smoke`, 'sweep');
      const ref = refVariants(readResults(file, 'smoke'));
      const cells = await b.page.$$eval('td.cell[data-variant]', (tds) =>
        tds.map((td) => [td.getAttribute('data-variant'), td.querySelector('.mean')?.textContent]),
      );
      expect(cells.length).toBe(2);
      for (const [k, text] of cells)
        expect(text).toBe(formatMeanStd('map50_95', ref.get(k as string)!.stats.map50_95.mean, ref.get(k as string)!.stats.map50_95.std));
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      await b.page.screenshot({ path: path.join(SCREENSHOTS, 'smoke-sweep.png'), fullPage: true });
      const row = readResults(file, 'smoke').find((r) => r.module === 'DAttention')!;
      await openPage(b.page, `${url}#/trial/${row.trial_id}?sweep=smoke`, 'trial');
      expect(await b.page.$$eval('[data-testid="yaml-diff"] .add', (ls) => ls.map((l) => l.textContent).join('\n'))).toContain(
        'DAttention',
      );
      await b.page.screenshot({ path: path.join(SCREENSHOTS, 'smoke-trial.png'), fullPage: true });
      expect(b.errors).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
