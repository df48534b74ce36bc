#!/usr/bin/env node
/**
 * The scale benchmark: a 5,020-trial x 100-epoch database (25 modules x 10 positions x 20 seeds +
 * baseline), the server, and chromium. Prints the generation time, API times and the time until the
 * sweep page is ready (matrix, charts and curves drawn), cold (fresh server, empty cache) and warm.
 * `pnpm --filter @ablate/dashboard bench [--db file] [--runs 5]` (after a build).
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { generateDb, scaleOptions } from '../gen/generate.js';
import { buildServer, DEFAULT_STATIC_DIR } from '../server/app.js';
import { launchBrowser, openPage } from './browser.js';

export interface ScaleTimes {
  trials: number;
  variants: number;
  apiColdMs: number;
  apiWarmMs: number;
  curvesMs: number;
  stampMs: number;
  pageColdMs: number[];
  pageWarmMs: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Measures one database; `staticDir` holds the built app. */
export async function measureScale(db: string, sweep: string, staticDir: string, runs: number): Promise<ScaleTimes> {
  const out: ScaleTimes = { trials: 0, variants: 0, apiColdMs: 0, apiWarmMs: 0, curvesMs: 0, stampMs: 0, pageColdMs: [], pageWarmMs: [] };
  {
    const app = await buildServer({ db, staticDir });
    let t0 = performance.now();
    const r = await app.inject({ url: `/api/sweeps/${encodeURIComponent(sweep)}` });
    out.apiColdMs = performance.now() - t0;
    if (r.statusCode !== 200) throw new Error(`GET /api/sweeps/${sweep}: ${r.statusCode} ${r.body.slice(0, 200)}`);
    const d = JSON.parse(r.body);
    out.trials = d.counts.total;
    out.variants = d.variants.length + (d.baseline ? 1 : 0);
    t0 = performance.now();
    await app.inject({ url: `/api/sweeps/${encodeURIComponent(sweep)}` });
    out.apiWarmMs = performance.now() - t0;
    const keys = ['baseline', ...d.variants.slice(0, 5).map((v: { key: string }) => v.key)];
    t0 = performance.now();
    await app.inject({ url: `/api/sweeps/${encodeURIComponent(sweep)}/curves?variants=${keys.map(encodeURIComponent).join(',')}` });
    out.curvesMs = performance.now() - t0;
    t0 = performance.now();
    await app.inject({ url: '/api/stamp' });
    out.stampMs = performance.now() - t0;
    await app.close();
  }
  const b = await launchBrowser();
  try {
    for (let i = 0; i < runs; i++) {
      // Cold: a fresh server (empty cache) and a fresh navigation.
      const app = await buildServer({ db, staticDir });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/#/sweep/${encodeURIComponent(sweep)}`;
      await b.page.goto('about:blank');
      out.pageColdMs.push(await openPage(b.page, url, 'sweep'));
      await b.page.goto('about:blank');
      out.pageWarmMs.push(await openPage(b.page, url, 'sweep'));
      await app.close();
    }
  } finally {
    await b.close();
  }
  return out;
}

export function formatTimes(t: ScaleTimes): string {
  const f = (x: number) => `${x.toFixed(0)} ms`;
  return [
    `trials ${t.trials}, variants ${t.variants}`,
    `API /api/sweeps/:name  cold ${f(t.apiColdMs)}, warm (cached) ${f(t.apiWarmMs)}`,
    `API curves (6 variants x 100 epochs) ${f(t.curvesMs)}; /api/stamp ${f(t.stampMs)}`,
    `sweep page ready (chromium, fresh server): median ${f(median(t.pageColdMs))} [${t.pageColdMs.map(f).join(', ')}]`,
    `sweep page ready (reload, warm server):    median ${f(median(t.pageWarmMs))} [${t.pageWarmMs.map(f).join(', ')}]`,
    `goal: sweep page ready in < 1000 ms (fresh server, median): ${median(t.pageColdMs) < 1000 ? 'met' : 'NOT met'}`,
  ].join('\n');
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${fs.realpathSync(process.argv[1])}`).href;
if (isMain) {
  const o = new Command('dashboard-bench')
    .description('Time the sweep page on a 5,000-trial x 100-epoch database')
    .option('--db <file>', 'an existing scale database (default: generate one in a temporary folder)')
    .option('--runs <n>', 'page loads to time', '5')
    .parse()
    .opts<{ db?: string; runs: string }>();
  if (!fs.existsSync(`${DEFAULT_STATIC_DIR}/index.html`)) {
    console.error(`The browser app is not built (${DEFAULT_STATIC_DIR}): run pnpm build first`);
    process.exit(2);
  }
  let db = o.db;
  const sweep = scaleOptions().sweep as string;
  if (!db) {
    db = `${fs.mkdtempSync('/tmp/dashboard-scale-')}/ablate.db`;
    const t0 = performance.now();
    const g = generateDb(db, scaleOptions());
    console.log(`generated ${g.trials} trials, ${g.epochRows} epoch rows in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${db}`);
  }
  console.log(formatTimes(await measureScale(db, sweep, DEFAULT_STATIC_DIR, Number(o.runs))));
}
