import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareStatsPower, compareStatsTable, isStatsPowerCase, isStatsTableCase } from './golden.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/golden/stats');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('golden stats cases (scipy / statsmodels)', () => {
  it('finds the reference files in the repo', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  for (const f of files) {
    it(f, () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const table = isStatsTableCase(json);
      const power = isStatsPowerCase(json);
      expect(table || power, `${f} is neither a table nor a power case`).toBe(true);
      const r = table ? compareStatsTable(json) : compareStatsPower(json);
      expect(r.exactFailures).toEqual([]);
      expect(r.numbers).toBeGreaterThan(10);
      expect(r.worstAbs, r.worstAbsAt).toBeLessThanOrEqual(json.tolerance.abs);
      if (table) expect(r.worstPRel, r.worstPRelAt).toBeLessThanOrEqual(json.tolerance.p_rel);
    });
  }
});
