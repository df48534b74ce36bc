/// <reference lib="dom" />
/**
 * Browser tests: Debian's chromium (headless, playwright-core) against the real server and the
 * Vite-built app, on a generated database: the sweep page's matrix shows the database's values, the
 * metric selector switches them, a cell opens its trials and a trial its page, CSV export downloads
 * the results, compare works, and the page follows a running sweep without a reload. Screenshots go
 * to apps/dashboard/screenshots/ (gitignored).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe as describe_ } from '@ablate/stats';
import { Tracker } from '@ablate/tracker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, launchBrowser, openPage } from './bench/browser.js';
import { formatDelta, formatMeanStd, METRIC_KEYS, type MetricKey } from './common/metrics.js';
import { generateDb } from './gen/generate.js';
import { buildServer, type DashboardServer } from './server/app.js';
import { parseCsv, readResults, refVariants, tmpFile } from './test-utils/reference.js';
import { buildWeb, SCREENSHOTS } from './test-utils/web.js';

const SWEEP = 'attention-positions';
let file: string;
let app: DashboardServer;
let url: string;
let b: Browser;
let web: string;

const shot = async (name: string) => {
  const p = path.join(SCREENSHOTS, `${name}.png`);
  await b.page.screenshot({ path: p, fullPage: true });
  return p;
};

/** Non-blank pixels of a canvas (the chart was drawn). */
const inked = (testId: string) =>
  b.page.evaluate((id) => {
    const c = document.querySelector(`canvas[data-testid="${id}"]`) as HTMLCanvasElement | null;
    if (!c) return -1;
    const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    if (d) for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, testId);

/** Each matrix cell as shown: variant key -> {mean text, n, delta text}. */
const readMatrix = () =>
  b.page.$$eval('table[data-testid="matrix"] td.cell[data-variant]', (tds) =>
    tds.map((td) => ({
      key: td.getAttribute('data-variant') as string,
      mean: (td.querySelector('.mean')?.textContent ?? '').trim(),
      n: Number((td.querySelector('.n')?.textContent ?? '').replace('n=', '')),
      delta: (td.querySelector('.delta')?.textContent ?? '').trim(),
      cls: td.className,
    })),
  );

function checkMatrix(cells: Awaited<ReturnType<typeof readMatrix>>, metric: MetricKey) {
  const ref = refVariants(readResults(file, SWEEP));
  expect(cells.length).toBe(ref.size);
  const base = ref.get('baseline')!.stats[metric].mean;
  for (const c of cells) {
    const e = ref.get(c.key)!;
    const s = e.stats[metric];
    expect(c.mean, `${c.key} ${metric}`).toBe(formatMeanStd(metric, s.mean, s.std));
    expect(c.n, `${c.key} n`).toBe(s.n);
    if (c.key !== 'baseline' && s.mean !== null && base !== null) {
      expect(c.delta.startsWith(`Δ ${formatDelta(metric, s.mean - base)}`), `${c.key} delta "${c.delta}"`).toBe(true);
      const better = s.mean - base > 0 === !['params', 'gflops'].includes(metric);
      // Colour only where the difference is significant (Holm); otherwise the cell is neutral ("same").
      if (s.mean !== base) expect(c.cls).toContain(c.cls.includes('sig-significant') ? (better ? 'better' : 'worse') : 'same');
    }
  }
}

/**
 * A sweep whose values we chose: A@neck clearly above the baseline (significant by the paired t-test,
 * even after Holm), B@neck inside the baseline's seed spread (within noise), C@neck with one seed.
 */
const CHOSEN = 'chosen';
function chosenSweep(db: string): void {
  const t = new Tracker(db);
  t.upsertSweep({ name: CHOSEN, description: 'values chosen by the test', config: {} });
  const values: [string | null, number[]][] = [
    [null, [0.5, 0.51, 0.49]],
    ['A', [0.6, 0.62, 0.59]],
    ['B', [0.505, 0.49, 0.5]],
    ['C', [0.3]],
  ];
  let ord = 0;
  for (const [mod, vs] of values) {
    vs.forEach((v, seed) => {
      const id = `chosen-${mod ?? 'baseline'}-${seed}`;
      t.addTrial(CHOSEN, { id, module: mod, position: mod ? 'neck' : null, seed, config: {} }, ord++);
      t.finishTrial(id, { map50_95: v, map50: v + 0.2, precision: 0.5, recall: 0.5, fitness: v, fps: 100 });
    });
  }
  t.close();
}

/** Per-seed values for the boxes: the baseline with 3 seeds, E with 4 (boxes), D with 2 (points only). */
const BOXES = 'boxes';
const BOX_VALUES: [string | null, number[]][] = [
  [null, [0.5, 0.52, 0.47]],
  ['E', [0.55, 0.6, 0.58, 0.5]],
  ['D', [0.45, 0.48]],
];
function boxesSweep(db: string): void {
  const t = new Tracker(db);
  t.upsertSweep({ name: BOXES, description: 'per-seed values chosen by the test', config: {} });
  let ord = 0;
  for (const [mod, vs] of BOX_VALUES) {
    vs.forEach((v, seed) => {
      const id = `boxes-${mod ?? 'baseline'}-${seed}`;
      t.addTrial(BOXES, { id, module: mod, position: mod ? 'neck' : null, seed, config: {} }, ord++);
      t.finishTrial(id, { map50_95: v, map50: v + 0.2, precision: 0.5, recall: 0.5, fitness: v, fps: 100 });
    });
  }
  t.close();
}

beforeAll(async () => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  file = tmpFile();
  generateDb(file, {
    sweep: SWEEP,
    seeds: 3,
    epochs: 30,
    failed: 2,
    running: 2,
    interrupted: 1,
    failVariants: [['MSDeformAttn', 'pre-head']],
  });
  generateDb(file, { sweep: 'dat-positions', modules: ['DAttention'], seeds: 3, epochs: 30, description: 'DAttention at four positions' });
  chosenSweep(file);
  boxesSweep(file);
  web = await buildWeb();
  app = await buildServer({ db: file, staticDir: web });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as { port: number };
  url = `http://127.0.0.1:${addr.port}/`;
  b = await launchBrowser({ width: 1400, height: 900 });
});

afterAll(async () => {
  await b?.close();
  await app?.close();
  if (web) fs.rmSync(web, { recursive: true, force: true });
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

describe('significance in the matrix (a sweep of chosen values)', () => {
  const cellOf = async (key: string) =>
    b.page.$eval(`td.cell[data-variant="${key}"]`, (td) => ({
      sig: td.getAttribute('data-significance'),
      cls: td.className,
      text: td.textContent ?? '',
      title: td.getAttribute('title') ?? '',
      bg: (td as HTMLElement).style.background,
    }));

  test('a significant cell keeps its colour with a marker; a within-noise cell is neutral; n = 1 says so', async () => {
    await openPage(b.page, `${url}#/sweep/${CHOSEN}`, 'sweep');
    const a = await cellOf('A@neck');
    expect(a.sig).toBe('significant');
    expect(a.cls).toContain('better');
    expect(a.text).toContain('▲');
    expect(a.bg).not.toBe('');
    expect(a.title).toMatch(
      /Δ 95% CI \[.+\]; p \S+, p \(Holm\) \S+; paired t-test by seed; sign-flip p 0\.25; detectable effect \(80% power\) \S+/,
    );
    const bn = await cellOf('B@neck');
    expect(bn.sig).toBe('noise');
    expect(bn.cls).toContain('same');
    expect(bn.cls).not.toMatch(/better|worse/);
    expect(bn.text).toContain('within noise');
    expect(bn.text).not.toMatch(/▲|▼/);
    expect(bn.bg).toBe('');
    const c = await cellOf('C@neck');
    expect(c.sig).toBe('untestable');
    expect(c.text).toContain('1 seed: no test possible');
    expect(await b.page.textContent('[data-testid="noise-floor"]')).toMatch(
      /Baseline per seed: seed 0: 0\.500, seed 1: 0\.510, seed 2: 0\.490\. Seed std 0\.010 \(n = 3\)/,
    );
    console.log('screenshot', await shot('significance'));
  });

  test('the test control switches to Welch; the LaTeX export marks the significant cell only', async () => {
    await b.page.selectOption('select[data-testid="test"]', 'welch');
    await b.page.waitForFunction(() =>
      document.querySelector('td.cell[data-variant="A@neck"]')?.getAttribute('title')?.includes("Welch's t-test"),
    );
    expect(await b.page.getAttribute('a[data-testid="export-tex"]', 'href')).toContain('test=welch');
    await b.page.selectOption('select[data-testid="test"]', 'auto');
    await b.page.waitForFunction(() =>
      document.querySelector('td.cell[data-variant="A@neck"]')?.getAttribute('title')?.includes('paired t-test'),
    );
    const [dl] = await Promise.all([b.page.waitForEvent('download'), b.page.click('a[data-testid="export-tex"]')]);
    const tex = fs.readFileSync((await dl.path()) as string, 'utf8');
    expect(tex).toContain('$\\mathbf{0.603 \\pm 0.015}^{\\dagger}$');
    expect(tex).toContain('$0.498 \\pm 0.008$');
    expect(tex).toContain('$0.300$');
    expect(tex).toMatch(
      /\$\^\{\\dagger\}\$ differs from the baseline at \$\\alpha = 0\.05\$: paired t-test by seed \(two-sided\), Holm-corrected over the 2 variants\./,
    );
    expect(tex).toMatch(/Bold: best, significantly better than the runner-up \(paired t-test by seed/);
    const [md] = await Promise.all([b.page.waitForEvent('download'), b.page.click('a[data-testid="export-md"]')]);
    expect(fs.readFileSync((await md.path()) as string, 'utf8')).toMatch(/\| A@neck \| 3 \|.*▲ \|/);
  });
});

/** What a chart on the page holds (via the global Chart that charts.ts exposes): data, annotations, drawn elements. */
const chartState = (testId: string, expect: Record<string, [number, number]> = {}) =>
  b.page.evaluate(
    ([id, exp]) => {
      const C = (window as unknown as { Chart: typeof import('chart.js').Chart }).Chart;
      const chart = C.getChart(document.querySelector(`canvas[data-testid="${id}"]`) as HTMLCanvasElement);
      if (!chart) return null;
      const y = chart.scales.y;
      return {
        type: (chart.config as { type: string }).type,
        labels: chart.data.labels as string[],
        datasets: chart.data.datasets.map((ds, di) => ({
          label: ds.label as string,
          type: (ds as { type?: string }).type ?? null,
          data: ds.data as unknown[],
          // The element as laid out for drawing (pixels) and where the expected interval ends fall (pixels).
          drawn: chart.getDatasetMeta(di).data.map((el) => el.getProps(['y', 'yMin', 'yMax', 'q1', 'q3', 'items'], true)),
          expectedPx: Object.fromEntries(Object.entries(exp).map(([k, [lo, hi]]) => [k, [y.getPixelForValue(lo), y.getPixelForValue(hi)]])),
        })),
        annotations: JSON.parse(
          JSON.stringify((chart.options.plugins as { annotation?: { annotations?: unknown } })?.annotation?.annotations ?? {}),
        ),
      };
    },
    [testId, expect] as const,
  );

describe('charts: 95% intervals and per-seed boxes from the seed statistics', () => {
  test("the bar chart draws each variant's 95% t-interval of the mean (n = 1: none) and the baseline over its interval", async () => {
    await openPage(b.page, `${url}#/sweep/${CHOSEN}`, 'sweep');
    // The intervals, computed here from the values the sweep was made of.
    const ci = (vs: number[]) => describe_(vs).ci95 as [number, number];
    const want = { A: ci([0.6, 0.62, 0.59]), B: ci([0.505, 0.49, 0.5]) };
    const base = describe_([0.5, 0.51, 0.49]);
    const s = await chartState('bar-chart', want);
    expect(s?.type).toBe('barWithErrorBars');
    expect(s?.labels).toEqual(['neck']);
    const byLabel = Object.fromEntries((s?.datasets ?? []).map((d) => [d.label, d]));
    expect(Object.keys(byLabel)).toEqual(['A', 'B', 'C']);
    for (const [m, [lo, hi]] of Object.entries(want)) {
      const p = byLabel[m].data[0] as { y: number; yMin: number; yMax: number };
      expect(p.yMin, `${m} lower end`).toBeCloseTo(lo, 12);
      expect(p.yMax, `${m} upper end`).toBeCloseTo(hi, 12);
      expect(p.y).toBeCloseTo((lo + hi) / 2, 12);
      // drawn where the interval's ends are on the y scale
      const [plo, phi] = byLabel[m].expectedPx[m];
      expect(byLabel[m].drawn[0].yMin as number, `${m} drawn lower end`).toBeCloseTo(plo, 6);
      expect(byLabel[m].drawn[0].yMax as number, `${m} drawn upper end`).toBeCloseTo(phi, 6);
    }
    // t(0.975, 2) * std / sqrt(3) by hand for A: 4.302652729749464 * 0.01527525 / 1.7320508
    expect(want.A[1] - want.A[0]).toBeCloseTo(2 * 0.0379458, 6);
    const c = byLabel.C.data[0] as { y: number; yMin?: number; yMax?: number };
    expect(c).toEqual({ y: 0.3 });
    expect(byLabel.C.drawn[0].yMin ?? null).toBeNull();
    const ann = s?.annotations as Record<string, { yMin: number; yMax: number; label?: { content: string } }>;
    expect(ann.baseline.yMin).toBeCloseTo(0.5, 12);
    expect(ann.baseline.label?.content).toMatch(/^baseline 0\.500 ± 0\.010/);
    expect(ann.baselineCi.yMin).toBeCloseTo((base.ci95 as [number, number])[0], 12);
    expect(ann.baselineCi.yMax).toBeCloseTo((base.ci95 as [number, number])[1], 12);
    expect(await inked('bar-chart')).toBeGreaterThan(2000);
  });

  test('per-seed values: points over a box only where a variant has 3 or more seeds', async () => {
    await openPage(b.page, `${url}#/sweep/${BOXES}`, 'sweep');
    const s = await chartState('seed-chart');
    expect(s?.type).toBe('boxplot');
    // in the matrix's order
    expect((await readMatrix()).map((c) => c.key)).toEqual(['baseline', 'E@neck', 'D@neck']);
    expect(s?.labels).toEqual(['baseline', 'E @ neck', 'D @ neck']);
    const [boxes, points] = s?.datasets ?? [];
    // baseline (3 seeds) and E (4) have a box holding every seed's value; D (2 seeds) has none
    expect(boxes.data).toEqual([[0.5, 0.52, 0.47], [0.55, 0.6, 0.58, 0.5], null]);
    for (const [i, n] of [
      [0, 3],
      [1, 4],
    ]) {
      const el = boxes.drawn[i] as { q1: number; q3: number; items: number[] };
      expect(Number.isFinite(el.q1) && Number.isFinite(el.q3), `box ${s?.labels[i]}`).toBe(true);
      expect(el.items).toHaveLength(n);
    }
    expect(boxes.drawn[2].q1 ?? null).toBeNull();
    // D's two seeds are plain points
    expect(points.type).toBe('line');
    expect(points.data).toEqual([
      { x: 'D @ neck', y: 0.45 },
      { x: 'D @ neck', y: 0.48 },
    ]);
    expect(await inked('seed-chart')).toBeGreaterThan(2000);
    console.log('screenshot', await shot('seed-boxes'));
  });
});

describe('dashboard in chromium', () => {
  test('sweeps page: both sweeps with their counts and best variant', async () => {
    await openPage(b.page, url, 'sweeps');
    const rows = await b.page.$$eval('table[data-testid="sweeps"] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-sweep')));
    expect(rows.sort()).toEqual(['attention-positions', BOXES, CHOSEN, 'dat-positions']);
    const counts = await b.page.$$eval(`tr[data-sweep="${SWEEP}"] .badge`, (bs) => bs.map((x) => x.textContent));
    const all = readResults(file, SWEEP);
    expect(counts).toContain(`${all.filter((r) => r.status === 'ok').length} ok`);
    expect(counts).toContain(`${all.filter((r) => r.status === 'failed').length} failed`);
    console.log('screenshot', await shot('sweeps'));
  });

  test('sweep page: every matrix cell shows the database value (mean ± std, n, Δ), charts are drawn', async () => {
    const ms = await openPage(b.page, `${url}#/sweep/${SWEEP}`, 'sweep');
    console.log(`sweep page ready in ${ms.toFixed(0)} ms`);
    checkMatrix(await readMatrix(), 'map50_95');
    expect(await b.page.$eval('select[data-testid="metric"]', (s) => (s as HTMLSelectElement).value)).toBe('map50_95');
    for (const id of [
      'bar-chart',
      'scatter-fps',
      'scatter-gflops',
      'curve-map50_95',
      'curve-box_loss',
      'curve-cls_loss',
      'curve-dfl_loss',
    ]) {
      expect(await inked(id), id).toBeGreaterThan(2000);
    }
    console.log('screenshot', await shot('sweep'));
  });

  test('switching the metric shows that metric for every cell (all seven)', async () => {
    for (const m of METRIC_KEYS.filter((k) => k !== 'map50_95')) {
      await b.page.selectOption('select[data-testid="metric"]', m);
      await b.page.waitForSelector(`table[data-testid="matrix"][data-metric="${m}"]`);
      checkMatrix(await readMatrix(), m);
      expect(b.page.url()).toContain(`metric=${m}`);
      expect(await b.page.getAttribute('a[data-testid="export-tex"]', 'href')).toContain(`metric=${m}`);
    }
    await b.page.selectOption('select[data-testid="metric"]', 'fps');
    await b.page.waitForSelector('table[data-testid="matrix"][data-metric="fps"]');
    console.log('screenshot', await shot('sweep-fps'));
    await b.page.selectOption('select[data-testid="metric"]', 'map50_95');
  });

  test('a click on a cell lists its trials; a trial opens its page (metrics, YAML diff, summary, provenance)', async () => {
    await b.page.click('td.cell[data-variant="DAttention@neck"]');
    await b.page.waitForSelector('table[data-testid="trials"] tbody tr');
    const ids = await b.page.$$eval('table[data-testid="trials"] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-trial')));
    const want = readResults(file, SWEEP).filter((r) => r.module === 'DAttention' && r.position === 'neck');
    expect(ids.sort()).toEqual(want.map((w) => w.trial_id).sort());
    console.log('screenshot', await shot('sweep-trials'));
    const first = want.find((w) => w.status === 'ok')!;
    await b.page.click(`tr[data-trial="${first.trial_id}"] a.trial-link`);
    await b.page.waitForSelector('body[data-ready="true"][data-page="trial"]');
    expect(await b.page.textContent('[data-testid="trial-title"]')).toContain(first.trial_id);
    const metrics = await b.page.$$eval('[data-testid="trial-metrics"] tr', (trs) =>
      trs.map((tr) => [tr.querySelector('th')?.textContent, tr.querySelector('td')?.textContent]),
    );
    expect(metrics).toContainEqual(['mAP50-95', (first.map50_95 as number).toFixed(3)]);
    expect(metrics).toContainEqual(['FPS', (first.fps as number).toFixed(1)]);
    const added = await b.page.$$eval('[data-testid="yaml-diff"] .add', (ls) => ls.map((l) => l.textContent));
    expect(added.some((l) => l?.includes('DAttention'))).toBe(true);
    expect(await b.page.$$eval('[data-testid="summary"] tbody tr', (trs) => trs.length)).toBeGreaterThan(5);
    expect(await b.page.textContent('pre.provenance')).toContain(first.trial_id);
    expect(await inked('trial-curve-map50_95')).toBeGreaterThan(2000);
    // COCO evaluation: the 12 numbers and one row per class
    const coco = await b.page.$$eval('[data-testid="trial-coco"] tr', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-stat'), tr.querySelector('td')?.textContent]),
    );
    expect(coco).toHaveLength(12);
    expect(coco).toContainEqual(['ap_small', (first.ap_small as number).toFixed(3)]);
    expect(coco).toContainEqual(['ar100', (first.ar100 as number).toFixed(3)]);
    expect(await b.page.$$eval('[data-testid="trial-coco-classes"] tbody tr', (trs) => trs.length)).toBe(3);
    console.log('screenshot', await shot('trial'));
  });

  test('a failed trial shows its error', async () => {
    const failed = readResults(file, SWEEP).find((r) => r.status === 'failed')!;
    await openPage(b.page, `${url}#/trial/${failed.trial_id}?sweep=${SWEEP}`, 'trial');
    expect(await b.page.textContent('[data-testid="trial-error"]')).toContain(failed.error as string);
    console.log('screenshot', await shot('trial-failed'));
  });

  test('export CSV downloads the results of the sweep', async () => {
    await openPage(b.page, `${url}#/sweep/${SWEEP}`, 'sweep');
    const [dl] = await Promise.all([b.page.waitForEvent('download'), b.page.click('a[data-testid="export-csv"]')]);
    expect(dl.suggestedFilename()).toBe(`${SWEEP}-trials.csv`);
    const text = fs.readFileSync((await dl.path()) as string, 'utf8');
    const [head, ...rows] = parseCsv(text);
    const want = readResults(file, SWEEP);
    expect(rows.length).toBe(want.length);
    const idCol = head.indexOf('trial_id');
    const mapCol = head.indexOf('map50_95');
    for (const r of rows) {
      const w = want.find((x) => x.trial_id === r[idCol])!;
      expect(r[mapCol] === '' ? null : Number(r[mapCol])).toBe(w.map50_95);
    }
    const [tex] = await Promise.all([b.page.waitForEvent('download'), b.page.click('a[data-testid="export-tex"]')]);
    expect(fs.readFileSync((await tex.path()) as string, 'utf8')).toContain('\\toprule');
  });

  test('compare: two variants picked in the matrix, side by side', async () => {
    await b.page.check('td.cell[data-variant="baseline"] input.cmp');
    await b.page.check('td.cell[data-variant="EfficientAttention@pre-SPPF"] input.cmp');
    await b.page.click('button[data-testid="compare-variants"]');
    await b.page.waitForSelector('body[data-ready="true"][data-page="compare"]');
    const heads = await b.page.$$eval('table[data-testid="compare"] thead th', (ths) => ths.map((t) => t.textContent));
    expect(heads).toEqual(['', 'baseline', 'EfficientAttention @ pre-SPPF']);
    const ref = refVariants(readResults(file, SWEEP));
    const row = await b.page.$$eval('tr[data-stat="map50_95"] td', (tds) => tds.map((t) => t.firstChild?.textContent));
    expect(row).toEqual(
      ['baseline', 'EfficientAttention@pre-SPPF'].map((k) =>
        formatMeanStd('map50_95', ref.get(k)!.stats.map50_95.mean, ref.get(k)!.stats.map50_95.std),
      ),
    );
    console.log('screenshot', await shot('compare'));
  });

  test('live: while a sweep runs, the open page updates without a reload', async () => {
    await openPage(b.page, `${url}?poll=300#/sweep/${SWEEP}`, 'sweep');
    const running = readResults(file, SWEEP).find((r) => r.status === 'running' && r.module !== null)!;
    const key = `${running.module}@${running.position}`;
    const before = (await readMatrix()).find((c) => c.key === key)!;
    await b.page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42; // survives only if the page is not reloaded
    });
    const w = new Tracker(file);
    w.recordEpoch(running.trial_id, { epoch: 29, map50_95: 0.9, boxLoss: 1, clsLoss: 1, dflLoss: 1 });
    w.finishTrial(running.trial_id, { map50_95: 0.9, map50: 0.95, precision: 0.9, recall: 0.9, fps: 60 });
    w.close();
    await b.page.waitForFunction(
      ([k, n]) => Number(document.querySelector(`td.cell[data-variant="${k}"]`)?.getAttribute('data-n')) === n,
      [key, before.n + 1] as const,
      { timeout: 15_000 },
    );
    checkMatrix(await readMatrix(), 'map50_95');
    expect(await b.page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
  });

  test('no script errors in the pages', () => {
    expect(b.errors).toEqual([]);
  });
});
