#!/usr/bin/env node
/**
 * `pnpm screenshot --db results/ablate.db --trial <id> [--image 0] [--query 0.5,0.4]
 * [--out trial.png]`: a full-page screenshot of a trial page (results curves, PR / F1 curves, confusion
 * matrix, labels, validation images, and with --image the module's picture for that validation image),
 * made in Debian's chromium (playwright-core, /usr/bin/chromium or CHROMIUM_PATH; nothing is downloaded)
 * from the built dashboard (pnpm build) served on a free local port over a read-only connection.
 * `--query x,y` (fractions of the image) clicks the picture there to choose the query position.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { buildServer } from '../server/app.js';
import { launchBrowser, openPage } from './browser.js';

function nonNegInt(v: string): number {
  if (!/^\d{1,4}$/.test(v)) throw new InvalidArgumentError(`"${v}" is not an image number (0..9999)`);
  return Number(v);
}

function fractionPair(v: string): [number, number] {
  const m = /^\s*(0(?:\.\d+)?|1(?:\.0+)?)\s*,\s*(0(?:\.\d+)?|1(?:\.0+)?)\s*$/.exec(v);
  if (!m) throw new InvalidArgumentError(`"${v}" is not "x,y" with fractions of the image in 0..1 (e.g. 0.5,0.4)`);
  return [Number(m[1]), Number(m[2])];
}

const program = new Command('screenshot')
  .description('Full-page screenshot of a trial page of the dashboard, in chromium')
  .requiredOption('--db <file>', 'results database (SQLite, written by pnpm sweep)')
  .requiredOption('--trial <id>', 'trial id (the dashboard URL #/trial/<id>, or SELECT trial_id FROM results)')
  .option('--image <n>', 'also open the module picture of validation image n', nonNegInt)
  .option('--query <x,y>', 'with --image: click the picture at these fractions of its width and height', fractionPair)
  .option('--sweep <name>', 'the sweep the page links back to')
  .option('--width <px>', 'viewport width', (v) => Number(v), 1400)
  .option('--out <file>', 'PNG to write', 'trial.png')
  .parse();
const o = program.opts<{
  db: string;
  trial: string;
  image?: number;
  query?: [number, number];
  sweep?: string;
  width: number;
  out: string;
}>();

const app = await buildServer({ db: o.db });
let b: Awaited<ReturnType<typeof launchBrowser>> | undefined;
try {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
  b = await launchBrowser({ width: o.width, height: 1000 });
  const q = o.sweep ? `?sweep=${encodeURIComponent(o.sweep)}` : '';
  await openPage(b.page, `${url}#/trial/${encodeURIComponent(o.trial)}${q}`, 'trial', 60_000);
  // the diagnostics load after the page (they say what is missing when the trial has no artefacts)
  await b.page.waitForSelector('[data-testid="conf-f1"], [data-testid="artefacts-missing"]', { timeout: 60_000 });
  if (o.image !== undefined) {
    const img = `canvas[data-testid="val-image"][data-index="${o.image}"]`;
    if (!(await b.page.$(img))) throw new Error(`trial ${o.trial} has no stored validation image ${o.image}`);
    await b.page.click(img);
    await b.page.waitForSelector('canvas[data-testid="attention-canvas"][data-points], [data-testid="no-picture"]', { timeout: 60_000 });
    const pic = b.page.locator('canvas[data-testid="attention-canvas"]').first();
    if (o.query && (await pic.count())) {
      const bb = await pic.boundingBox();
      // a locator click scrolls the canvas into view first (a page click at off-screen coordinates is lost)
      if (bb) await pic.click({ position: { x: bb.width * o.query[0], y: bb.height * o.query[1] } });
    }
  }
  await b.page.waitForTimeout(300); // chart.js finishes its layout
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  await b.page.screenshot({ path: o.out, fullPage: true });
  const errors = b.errors.filter((e) => e.startsWith('pageerror'));
  if (errors.length) console.warn(`screenshot: the page reported errors:\n${errors.join('\n')}`);
  console.log(`screenshot: wrote ${o.out} (trial ${o.trial}${o.image !== undefined ? `, image ${o.image}` : ''})`);
} catch (e) {
  console.error(`screenshot: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await b?.close();
  await app.close();
}
