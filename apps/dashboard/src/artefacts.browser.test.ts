/// <reference lib="dom" />
/**
 * The trial diagnostics (issue 12) on a database made by the real smoke sweep (experiments/smoke.yaml:
 * the baseline and DAttention before SPPF; the runner's built CLI into a temporary folder), in Debian's
 * chromium: every plot renders with the stored numbers (the PR legend's mAP50 is the trial's stored
 * mAP50; the confusion matrix equals a recomputation here from the stored predictions and labels), a click
 * on a validation image draws DAttention's sampling points, compare shows two trials side by side, and
 * bad input (paths, missing images, a trial without artefacts) is reported. Screenshots go to
 * apps/dashboard/screenshots/.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, launchBrowser, openPage } from './bench/browser.js';
import type { TrialArtefacts } from './common/artefacts.js';
import { buildServer, type DashboardServer } from './server/app.js';
import { tmpFile } from './test-utils/reference.js';
import { buildWeb, SCREENSHOTS } from './test-utils/web.js';

/** The Host header a browser sends to a listening server (the dashboard refuses other hosts: DNS-rebinding protection). */
const hostOf = (server: { server: { address(): unknown } }): string => {
  const a = server.server.address() as { port: number } | null;
  return a ? `127.0.0.1:${a.port}` : '127.0.0.1';
};

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SWEEP_CLI = path.join(ROOT, 'packages/runner/dist/cli/sweep.js');
const SMOKE = path.join(ROOT, 'experiments/smoke.yaml');
let file: string;
let app: DashboardServer;
let web: string;
let url: string;
let b: Browser;
let trials: { id: string; module: string | null; map50: number }[];

const get = async <T>(u: string, code = 200) => {
  const r = await app.inject({ headers: { host: hostOf(app) }, url: u });
  expect(r.statusCode, `${u}: ${r.body.slice(0, 300)}`).toBe(code);
  return JSON.parse(r.body) as T;
};

const shot = async (name: string) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await b.page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

/** Non-blank pixels of a canvas (it was drawn). */
const inked = (testId: string) =>
  b.page.evaluate((id) => {
    const c = document.querySelector(`canvas[data-testid="${id}"]`) as HTMLCanvasElement | null;
    if (!c) return -1;
    const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    if (d) for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, testId);

/** IoU of two [x1, y1, x2, y2] boxes. */
function iou(a: number[], c: number[]): number {
  const w = Math.max(0, Math.min(a[2], c[2]) - Math.max(a[0], c[0]));
  const h = Math.max(0, Math.min(a[3], c[3]) - Math.max(a[1], c[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (c[2] - c[0]) * (c[3] - c[1]) - inter + 1e-7);
}

/**
 * Ultralytics' ConfusionMatrix.process_batch (conf > 0.25, IoU > 0.45, one match per detection and per
 * label by descending IoU, unmatched detections counted only when something matched), written here
 * independently of @ablate/metrics.
 */
function recomputeConfusion(nc: number, images: { gt: number[][]; pred: number[][] }[], conf: number, iouThr: number): number[][] {
  const m = Array.from({ length: nc + 1 }, () => new Array(nc + 1).fill(0));
  for (const im of images) {
    if (im.gt.length === 0) continue;
    const dets = im.pred.filter((d) => d[4] > conf);
    const pairs: [number, number, number][] = [];
    im.gt.forEach((g, gi) => {
      dets.forEach((d, di) => {
        const v = iou(g.slice(1, 5), d.slice(0, 4));
        if (v > iouThr) pairs.push([gi, di, v]);
      });
    });
    pairs.sort((p, q) => q[2] - p[2]);
    const usedD = new Set<number>();
    const usedG = new Set<number>();
    const matched: [number, number][] = [];
    for (const [gi, di] of pairs) {
      if (usedD.has(di) || usedG.has(gi)) continue;
      usedD.add(di);
      usedG.add(gi);
      matched.push([gi, di]);
    }
    im.gt.forEach((g, gi) => {
      const hit = matched.find((p) => p[0] === gi);
      if (hit) m[dets[hit[1]][5]][g[0]] += 1;
      else m[nc][g[0]] += 1;
    });
    if (matched.length) {
      dets.forEach((d, di) => {
        if (!usedD.has(di)) m[d[5]][nc] += 1;
      });
    }
  }
  return m;
}

beforeAll(async () => {
  for (const f of [SWEEP_CLI, SMOKE])
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: the smoke sweep needs the built runner (pnpm build)`);
  file = tmpFile('smoke.db');
  // Asynchronous, so that the test worker keeps answering vitest while the sweep runs.
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, [SWEEP_CLI, SMOKE, '--db', file, '--no-progress'], { cwd: ROOT });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('close', (code) => resolve({ code, out }));
  });
  if (r.code !== 0) throw new Error(`the smoke sweep failed (exit ${r.code}):\n${r.out}`);
  const db = new Database(file, { readonly: true });
  trials = db
    .prepare("SELECT trial_id AS id, module, map50 FROM results WHERE sweep = 'smoke' ORDER BY module IS NOT NULL")
    .all() as typeof trials;
  db.close();
  web = await buildWeb();
  app = await buildServer({ db: file, staticDir: web });
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
  b = await launchBrowser({ width: 1400, height: 1000 });
}, 600_000);

afterAll(async () => {
  await b?.close();
  await app?.close();
  if (web) fs.rmSync(web, { recursive: true, force: true });
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

describe('artefacts API on the smoke sweep', () => {
  test('every trial has artefacts: AP50 equals the stored mAP50, images and the DAttention picture are there', async () => {
    expect(trials.map((t) => t.module)).toEqual([null, 'DAttention']);
    for (const t of trials) {
      const a = await get<TrialArtefacts>(`/api/trials/${t.id}/artefacts`);
      expect(a.missing).toEqual([]);
      const art = a.artefacts!;
      expect(art.pr).not.toBeNull();
      expect(art.pr!.map50).toBeCloseTo(t.map50, 12);
      expect(art.metrics.map50).toBeCloseTo(t.map50, 12);
      expect(art.images.length).toBe(8); // the smoke set's 8 validation images (fewer than 16)
      expect(art.images.map((i) => i.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const nc = art.names.length;
      expect(art.confusion.matrix).toEqual(recomputeConfusion(nc, art.images, art.confusion.conf, art.confusion.iou));
      expect(art.confusion.labels.at(-1)).toBe('background');
      const gtTotal = art.images.reduce((s, i) => s + i.gt.length, 0);
      const colSum = art.confusion.matrix.reduce((s, row) => s + row.slice(0, nc).reduce((x, y) => x + y, 0), 0);
      expect(colSum).toBe(gtTotal); // every label lands in exactly one cell
      expect(art.labels.classCounts.reduce((x, y) => x + y, 0)).toBe(art.labels.boxes);
      const png = await app.inject({ headers: { host: hostOf(app) }, url: `/api/trials/${t.id}/artefacts/images/0` });
      expect(png.statusCode).toBe(200);
      expect(png.headers['content-type']).toBe('image/png');
      const pics = await get<{ modules: { module: string; picture: { kind: string; queries: unknown[] } | null }[] }>(
        `/api/trials/${t.id}/artefacts/pictures/0`,
      );
      if (t.module === null) expect(pics.modules).toEqual([]);
      else {
        expect(pics.modules.map((m) => m.module)).toEqual(['DAttention']);
        expect(pics.modules[0].picture?.kind).toBe('sampling-points');
        expect(pics.modules[0].picture?.queries.length).toBeGreaterThan(0);
      }
    }
  });

  test('the picture and image endpoints refuse paths and bad numbers, and report unknown ones', async () => {
    const id = trials[1].id;
    for (const bad of ['..%2F..%2Fsmoke.db', '0.png', '-1', 'abc', '1e3', '%2Fetc%2Fpasswd']) {
      const r = await app.inject({ headers: { host: hostOf(app) }, url: `/api/trials/${id}/artefacts/images/${bad}` });
      expect([400, 404], bad).toContain(r.statusCode);
      expect(r.headers['content-type']).toMatch(/json/);
    }
    const r = await app.inject({ headers: { host: hostOf(app) }, url: `/api/trials/${id}/artefacts/images/15` });
    expect(r.statusCode).toBe(404);
    expect(JSON.parse(r.body).error).toMatch(/No validation image 15 .* has 8/);
    expect((await app.inject({ headers: { host: hostOf(app) }, url: '/api/trials/nope/artefacts' })).statusCode).toBe(404);
    expect([400, 404]).toContain(
      (await app.inject({ headers: { host: hostOf(app) }, url: `/api/trials/${id}/artefacts/pictures/..` })).statusCode,
    );
  });
});

describe('trial page, compare and bad input in chromium', () => {
  test('the DAttention trial page: every plot drawn with the stored numbers; a click draws the sampling points', async () => {
    const t = trials[1];
    const a = (await get<TrialArtefacts>(`/api/trials/${t.id}/artefacts`)).artefacts!;
    await openPage(b.page, `${url}#/trial/${t.id}?sweep=smoke`, 'trial');
    await b.page.waitForSelector('[data-testid="conf-f1"]');
    for (const id of [
      'results-box_loss',
      'results-cls_loss',
      'results-dfl_loss',
      'results-precision',
      'results-recall',
      'results-map50',
      'results-map50_95',
      'results-lr',
      'pr-curve',
      'conf-f1',
      'conf-precision',
      'conf-recall',
      'labels-classes',
      'labels-xy',
      'labels-wh',
    ]) {
      expect(await inked(id), id).toBeGreaterThan(100);
    }
    // The PR legend: per class AP50 and the all-classes value = the trial's stored mAP50.
    const ap = await b.page.$$eval('[data-testid="pr-ap"] tr[data-class]', (rs) =>
      rs.map((r) => [r.getAttribute('data-class'), Number(r.getAttribute('data-ap'))]),
    );
    expect(ap.map((x) => x[0])).toEqual([...a.pr!.classes.map((c) => c.name), 'all']);
    expect(ap.at(-1)![1]).toBeCloseTo(t.map50, 12);
    // The confusion matrix as shown = the recomputation.
    const cells = await b.page.$$eval('[data-testid="confusion"] td[data-count]', (tds) =>
      tds.map((td) => [Number(td.getAttribute('data-row')), Number(td.getAttribute('data-col')), Number(td.textContent)]),
    );
    const ref = recomputeConfusion(a.names.length, a.images, a.confusion.conf, a.confusion.iou);
    expect(cells.length).toBe((a.names.length + 1) ** 2);
    for (const [i, j, v] of cells) expect(v, `cell ${i},${j}`).toBe(ref[i][j]);
    await b.page.click('[data-testid="confusion-normalise"]');
    expect(await b.page.getAttribute('[data-testid="confusion"]', 'data-normalised')).toBe('1');
    // Validation images drawn; the slider changes the threshold.
    expect(await b.page.$$eval('canvas[data-testid="val-image"]', (cs) => cs.length)).toBe(8);
    expect(await inked('val-image')).toBeGreaterThan(1000);
    await b.page.fill('[data-testid="conf-slider"]', '0.01');
    expect(await b.page.textContent('[data-testid="conf-value"]')).toBe('0.01');
    await shot('trial-diagnostics');
    // Click an image: the DAttention picture with its sampling points; another click moves the query.
    await b.page.click('canvas[data-testid="val-image"][data-index="0"]');
    await b.page.waitForSelector('canvas[data-testid="attention-canvas"][data-points]');
    const pts = Number(await b.page.getAttribute('canvas[data-testid="attention-canvas"]', 'data-points'));
    expect(pts).toBeGreaterThan(0);
    const box = (await b.page.$('canvas[data-testid="attention-canvas"]'))!;
    const bb = (await box.boundingBox())!;
    await b.page.mouse.click(bb.x + bb.width * 0.2, bb.y + bb.height * 0.2);
    expect(await b.page.textContent('[data-testid="attention-info"]')).toMatch(/query at \(0, 0\).* points drawn/);
    expect(await inked('energy-before')).toBeGreaterThan(0);
    expect(await inked('energy-after')).toBeGreaterThan(0);
    await b.page.locator('[data-testid="val-detail"]').scrollIntoViewIfNeeded();
    await shot('trial-attention-dat');
    expect(b.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  }, 120_000);

  test('compare: the same validation image side by side for the two trials, with the DAttention picture', async () => {
    await openPage(b.page, `${url}#/compare?trials=${trials[0].id},${trials[1].id}`, 'compare');
    await b.page.waitForSelector('[data-testid="compare-images"] canvas[data-testid="compare-image"]');
    await b.page.waitForFunction(() => document.querySelectorAll('canvas[data-testid="compare-image"]').length === 2);
    const cols = await b.page.$$eval('[data-testid="compare-images"] .compare-col', (cs) => cs.map((c) => c.getAttribute('data-trial')));
    expect(cols).toEqual([trials[0].id, trials[1].id]);
    expect(await b.page.$$eval('canvas[data-testid="attention-canvas"]', (cs) => cs.length)).toBe(1);
    expect(await b.page.$$eval('[data-testid="no-picture"]', (cs) => cs.length)).toBe(1);
    await b.page.selectOption('[data-testid="compare-image-index"]', '3');
    await b.page.waitForFunction(() => document.querySelector('canvas[data-testid="compare-image"]')?.getAttribute('data-index') === '3');
    await shot('compare-images');
  }, 60_000);

  test('a missing image is reported, and a trial without artefacts says what is missing', async () => {
    const t = trials[1];
    const a = await get<TrialArtefacts>(`/api/trials/${t.id}/artefacts`);
    const db = new Database(file, { readonly: true });
    const dir = (db.prepare('SELECT dir FROM trial_artefacts WHERE trial_id = ?').get(t.id) as { dir: string }).dir;
    db.close();
    const png = path.join(path.dirname(file), dir, a.artefacts!.images[2].file);
    fs.renameSync(png, `${png}.gone`);
    try {
      const after = await get<TrialArtefacts>(`/api/trials/${t.id}/artefacts`);
      expect(after.missing.join(' ')).toMatch(/Validation image 2 .* is missing/);
      const r = await app.inject({ headers: { host: hostOf(app) }, url: `/api/trials/${t.id}/artefacts/images/2` });
      expect(r.statusCode).toBe(404);
      expect(JSON.parse(r.body).error).toMatch(/no longer exists/);
      // A new document: within one, Chromium serves an image it already decoded from its memory cache.
      await b.page.goto('about:blank');
      await openPage(b.page, `${url}#/trial/${t.id}`, 'trial');
      await b.page.waitForSelector('[data-testid="image-missing"]');
      expect(await b.page.textContent('[data-testid="artefacts-missing"]')).toMatch(/Validation image 2/);
      await shot('trial-image-missing');
    } finally {
      fs.renameSync(`${png}.gone`, png);
    }
    // An older database (no trial_artefacts table) or a trial without a row: the page says what is missing.
    const old = tmpFile('old.db');
    fs.copyFileSync(file, old);
    const w = new Database(old);
    w.exec('DROP TABLE trial_artefacts');
    w.close();
    const app2 = await buildServer({ db: old, staticDir: web });
    try {
      const r = JSON.parse(
        (await app2.inject({ headers: { host: hostOf(app2) }, url: `/api/trials/${t.id}/artefacts` })).body,
      ) as TrialArtefacts;
      expect(r.artefacts).toBeNull();
      expect(r.missing[0]).toMatch(/No artefacts are recorded/);
      await app2.listen({ port: 0, host: '127.0.0.1' });
      const url2 = `http://127.0.0.1:${(app2.server.address() as { port: number }).port}/`;
      await openPage(b.page, `${url2}#/trial/${t.id}`, 'trial');
      await b.page.waitForSelector('[data-testid="artefacts-missing"]');
      expect(await b.page.textContent('[data-testid="artefacts-missing"]')).toMatch(/No artefacts are recorded/);
      expect(await inked('results-map50')).toBeGreaterThan(100); // what it has is still shown
      await shot('trial-no-artefacts');
    } finally {
      await app2.close();
      fs.rmSync(path.dirname(old), { recursive: true, force: true });
    }
  }, 60_000);
});
