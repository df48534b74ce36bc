/// <reference lib="dom" />
/**
 * The attention modules' own pictures beyond DAttention (issue 12), on a database made by a real, tiny
 * sweep (the runner's built CLI into a temporary folder): MSDeformAttn and DoubleAttention at the neck of
 * YOLOv8n (a 4 x 4 map at 64 px), one epoch of two batches on 8 synthetic images. Between them they use
 * every drawing path: per-query sampling points (MSDeformAttn), per-query maps (DoubleAttention's effective
 * weights; FLA's and EfficientAttention's pictures are per-query maps too, checked against their maths in
 * their packages' inspect tests) and query-independent maps (DoubleAttention's gather maps). Per module:
 * the stored picture has the module's kind and sound numbers, and in chromium a click on a validation image
 * draws it. Compare shows the two side by side. Screenshots go to apps/dashboard/screenshots/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, launchBrowser, openPage } from './bench/browser.js';
import type { ImagePictures } from './common/artefacts.js';
import { buildServer, type DashboardServer } from './server/app.js';
import { tmpFile } from './test-utils/reference.js';
import { hostOf, inkedCanvas, runSweep } from './test-utils/sweep.js';
import { buildWeb, SCREENSHOTS } from './test-utils/web.js';

const MODULES = ['MSDeformAttn', 'DoubleAttention'];
const EXPERIMENT = `# issue 12's picture test: two modules at the neck, the smallest real sweep that trains them
name: pictures
model: yolov8n.yaml
data:
  synthetic: { classes: 2, train: 8, val: 4, imgsz: 96, size: [0.15, 0.8], seed: 0 }
train: { epochs: 1, batch: 4, imgsz: 64, warmup_epochs: 0, close_mosaic: 0 }
val: { conf: 0.001, iou: 0.7 }
bench: { imgsz: 64, warmup: 1, runs: 2 }
backend: auto
seeds: [0]
baseline: false
sweep:
  module: [${MODULES.join(', ')}]
  position: [neck]
`;

let dir: string;
let file: string;
let app: DashboardServer;
let web: string;
let url: string;
let b: Browser;
let trials: { id: string; module: string }[];

const get = async <T>(u: string) => {
  const r = await app.inject({ headers: { host: hostOf(app) }, url: u });
  expect(r.statusCode, `${u}: ${r.body.slice(0, 300)}`).toBe(200);
  return JSON.parse(r.body) as T;
};

const shot = async (name: string) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await b.page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

const KIND: Record<string, string> = { MSDeformAttn: 'sampling-points', DoubleAttention: 'attention-maps' };

beforeAll(async () => {
  file = tmpFile('pictures.db');
  dir = path.dirname(file);
  const yaml = path.join(dir, 'pictures.yaml');
  fs.writeFileSync(yaml, EXPERIMENT);
  await runSweep(yaml, file);
  const db = new Database(file, { readonly: true });
  trials = db.prepare("SELECT trial_id AS id, module FROM results WHERE sweep = 'pictures' ORDER BY module").all() as typeof trials;
  db.close();
  web = await buildWeb();
  app = await buildServer({ db: file, staticDir: web });
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
  b = await launchBrowser({ width: 1400, height: 1000 });
}, 900_000);

afterAll(async () => {
  await b?.close();
  await app?.close();
  if (web) fs.rmSync(web, { recursive: true, force: true });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('module pictures of MSDeformAttn and DoubleAttention', () => {
  test('every trial stores its module picture with the right kind and sound numbers', async () => {
    expect(trials.map((t) => t.module).sort()).toEqual([...MODULES].sort());
    for (const t of trials) {
      const pics = await get<ImagePictures>(`/api/trials/${t.id}/artefacts/pictures/0`);
      expect(pics.modules.map((m) => m.module)).toEqual([t.module]);
      const m = pics.modules[0];
      expect(m.pictureError, t.module).toBeUndefined();
      const p = m.picture!;
      expect(p.kind, t.module).toBe(KIND[t.module]);
      expect(p.mapSize).toEqual([4, 4]); // the neck's map (stride 16) at 64 px
      expect(p.queries!.length).toBeGreaterThan(0);
      for (const q of p.queries!) {
        for (const h of q.heads) {
          if (t.module === 'MSDeformAttn') {
            // the head's softmax over its points (all 4 kept): sums to 1
            expect(h.points!.length).toBe(4);
            expect(h.points!.reduce((s, pt) => s + pt[2], 0)).toBeCloseTo(1, 4);
          } else {
            // maps of weights or shares over the 4 x 4 positions: non-negative, sum to 1
            expect(h.map!.size).toEqual([4, 4]);
            expect(h.map!.values.every((v) => v >= 0)).toBe(true);
            expect(
              h.map!.values.reduce((s, v) => s + v, 0),
              `${t.module} ${h.label}`,
            ).toBeCloseTo(1, 3);
          }
        }
      }
      if (t.module === 'DoubleAttention') {
        expect(p.maps!.length).toBeGreaterThan(0);
        for (const mp of p.maps!) expect(mp.values.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
      }
    }
  });

  test('in chromium, a click on a validation image draws each module picture', async () => {
    for (const t of trials) {
      await openPage(b.page, `${url}#/trial/${t.id}?sweep=pictures`, 'trial');
      await b.page.waitForSelector('canvas[data-testid="val-image"][data-index="0"]');
      await b.page.click('canvas[data-testid="val-image"][data-index="0"]');
      const sel = `canvas[data-testid="attention-canvas"][data-module="${t.module}"]`;
      await b.page.waitForSelector(`${sel}[data-points]`);
      const points = Number(await b.page.getAttribute(sel, 'data-points'));
      const maps = Number(await b.page.getAttribute(sel, 'data-maps'));
      if (t.module === 'MSDeformAttn') expect(points, t.module).toBeGreaterThan(0);
      else expect(maps, t.module).toBeGreaterThan(0);
      expect(await inkedCanvas(b.page, sel)).toBeGreaterThan(1000);
      // a click on the picture moves the query
      const bb = (await (await b.page.$(sel))!.boundingBox())!;
      await b.page.locator(sel).click({ position: { x: bb.width * 0.9, y: bb.height * 0.9 } }); // scrolls it into view first
      expect(await b.page.textContent('[data-testid="attention-info"]')).toMatch(/query at \(3, 3\) of the 4x4 map/);
      if (t.module === 'DoubleAttention') {
        // one of the gather step's c_n maps, chosen in the selector
        const options = await b.page.$$eval('[data-testid="attention-head"] option', (os) => os.map((o) => o.textContent ?? ''));
        const first = options.findIndex((o) => o.startsWith('map '));
        expect(first).toBeGreaterThan(0);
        await b.page.selectOption('[data-testid="attention-head"]', String(first));
        expect(await b.page.getAttribute(sel, 'data-maps')).toBe('1');
        expect(await b.page.textContent('[data-testid="attention-info"]')).toMatch(/^map \d+ .*4x4 cells/);
      }
      await b.page.locator('[data-testid="val-detail"]').scrollIntoViewIfNeeded();
      await shot(`trial-picture-${t.module}`);
    }
    expect(b.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  }, 120_000);

  test('compare: the two modules side by side, each with its picture', async () => {
    await openPage(b.page, `${url}#/compare?trials=${trials.map((t) => t.id).join(',')}`, 'compare');
    await b.page.waitForFunction(() => document.querySelectorAll('canvas[data-testid="attention-canvas"]').length === 2);
    const drawn = await b.page.$$eval('canvas[data-testid="attention-canvas"]', (cs) =>
      cs.map((c) => [c.getAttribute('data-module'), Number(c.getAttribute('data-points')) + Number(c.getAttribute('data-maps'))]),
    );
    expect(drawn.map((d) => d[0])).toEqual(trials.map((t) => t.module));
    for (const [m, n] of drawn) expect(n, String(m)).toBeGreaterThan(0);
    await shot('compare-pictures');
  }, 60_000);
});
