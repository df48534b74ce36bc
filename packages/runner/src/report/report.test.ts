import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tracker } from '@ablate/tracker';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSweepMetric, openResults } from './load.js';
import { renderReport } from './render.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A database whose values we choose: variant key -> values per seed 0, 1, 2 (null = a failed trial). */
function makeDb(values: Record<string, (number | null)[]>): string {
  const file = path.join(dir, `r${fs.readdirSync(dir).length}.db`);
  const t = new Tracker(file);
  t.upsertSweep({ name: 'dat-positions', config: {} });
  let ord = 0;
  for (const [key, vs] of Object.entries(values)) {
    const [module, position] = key === 'baseline' ? [null, null] : key.split('@');
    vs.forEach((v, seed) => {
      const id = `${key}-${seed}`;
      t.addTrial('dat-positions', { id, module, position, seed, config: {} }, ord++);
      if (v === null) t.failTrial(id, 'boom');
      else t.finishTrial(id, { map50_95: v, map50: v + 0.2 });
    });
  }
  t.close();
  return file;
}

describe('pnpm report', () => {
  const db = makeDb({
    baseline: [0.5, 0.51, 0.49],
    'DAttention@neck': [0.6, 0.62, 0.59],
    'DAttention@pre-head': [0.505, 0.49, 0.5],
    'DAttention@residual': [0.7, null, 0.4],
  });
  it('loads ok trials by variant with their seeds; failed ones are counted and left out', () => {
    const t = openResults(db);
    const m = loadSweepMetric(t, 'dat-positions', 'map50_95');
    t.close();
    expect(m.input.baseline).toEqual({ values: [0.5, 0.51, 0.49], seeds: [0, 1, 2] });
    expect(m.input.variants.map((v) => `${v.module}@${v.position}`)).toEqual([
      'DAttention@neck',
      'DAttention@pre-head',
      'DAttention@residual',
    ]);
    expect(m.input.variants[2].seeds).toEqual([0, 2]);
    expect(m.notOk).toBe(1);
  });
  it('--format json follows the contract', () => {
    const t = openResults(db);
    const j = JSON.parse(renderReport(t, { sweep: 'dat-positions', metric: 'map50_95', format: 'json', test: 'auto' }));
    t.close();
    expect(j).toMatchObject({ sweep: 'dat-positions', metric: 'map50_95', test: 'mixed' });
    expect(j.variants[0]).toEqual({ module: null, position: null, n: 3, mean: 0.5, std: expect.any(Number), ci95: expect.any(Array) });
    expect(j.variants[1]).toMatchObject({ module: 'DAttention', position: 'neck', n: 3, significant: true, test: 'paired' });
    expect(j.variants[3]).toMatchObject({ position: 'residual', n: 2, test: 'welch' });
    expect(j.variants[3].note).toMatch(/seeds \{0, 2\} differ from the baseline's \{0, 1, 2\}/);
    expect(j.messages).toContain('Left out: 1 trial not ok.');
  });
  it('unknown sweep, metric or database: errors that name the alternatives', () => {
    const t = openResults(db);
    expect(() => renderReport(t, { sweep: 'nope', metric: 'map50', format: 'md', test: 'auto' })).toThrow(
      /sweep "nope" is not in .*; known: dat-positions/,
    );
    expect(() => renderReport(t, { sweep: 'dat-positions', metric: 'mAP', format: 'md', test: 'auto' })).toThrow(
      /metric "mAP" is not a column of results; known: map50, map50_95/,
    );
    t.close();
    expect(() => openResults(path.join(dir, 'missing.db'))).toThrow(/does not exist/);
  });
  it('md, latex and csv print without NaN', () => {
    const t = openResults(db);
    for (const format of ['md', 'latex', 'csv'] as const) {
      const s = renderReport(t, { sweep: 'dat-positions', metric: 'map50', format, test: 'welch' });
      expect(s).not.toMatch(/NaN|undefined/);
      expect(s).toMatch(/neck/);
    }
    t.close();
  });
});
