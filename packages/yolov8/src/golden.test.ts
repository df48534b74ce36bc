// The golden evaluators used by `pnpm golden` (census, insertion): they pass on the stored data and report
// mismatches when the data disagrees (a corrupted copy of an entry must FAIL with a note).
import * as fs from 'node:fs';
import { initBackend } from '@ablate/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCensusCase, isForwardCase, isInsertionCase, runCensusGolden, runInsertionGolden } from './golden.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const read = (f: string) => JSON.parse(fs.readFileSync(new URL(f, dir), 'utf8'));

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

describe('golden evaluators', () => {
  it('recognise their files by content', () => {
    expect(isCensusCase(read('census.json'))).toBe(true);
    expect(isInsertionCase(read('insertion.json'))).toBe(true);
    expect(isForwardCase(read('forward_n.json'))).toBe(true);
    expect(isCensusCase(read('insertion.json'))).toBe(false);
    expect(isForwardCase(read('loss_n.json'))).toBe(false);
  });

  it('census: the rounding and nc-quirk entries pass; a corrupted entry fails with a note', () => {
    const c = read('census.json');
    c.models = c.models.filter((m: { scale: string; nc: number }) => m.scale === 'z' || m.nc === 64);
    const rows = runCensusGolden(c);
    expect(rows.map((r) => [r.name, r.pass])).toEqual([
      ['census/yolov8z-nc80', true],
      ['census/yolov8n-nc64', true],
    ]);
    expect(Math.max(...rows.map((r) => r.worst))).toBeLessThan(1e-6);
    c.models[1].layers[0].args = [3, 16, 3, 2];
    const bad = runCensusGolden({ ...c, models: [c.models[1]] })[0];
    expect(bad.pass).toBe(false);
    expect(bad.note).toContain('layer 0.args: got [3,64,3,2], want [3,16,3,2]');
  });

  it('insertion: every position passes exactly', () => {
    const rows = runInsertionGolden(read('insertion.json'));
    expect(rows.map((r) => r.name)).toEqual([
      'insertion/after-2',
      'insertion/pre-SPPF',
      'insertion/neck',
      'insertion/after-15-18-21',
      'insertion/pre-head',
      'insertion/WRONG-after-2-unshifted',
    ]);
    expect(rows.filter((r) => !r.pass)).toEqual([]);
  });
});
