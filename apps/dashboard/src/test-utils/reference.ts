/**
 * Naive reference computations for the tests (plain JS, float64, straight from the `results` view and
 * the `epochs` table), to check the SQL aggregation against; and a small RFC 4180 CSV parser.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { STAT_KEYS, type StatKey } from '../common/metrics.js';
import { variantKey } from '../common/variant.js';

export type ResultRow = Record<string, unknown> & {
  trial_id: string;
  module: string | null;
  position: string | null;
  status: string;
  seed: number;
};

export function tmpFile(name = 'ablate.db'): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-test-')), name);
}

export function readResults(file: string, sweep: string): ResultRow[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM results WHERE sweep = ?').all(sweep) as ResultRow[];
  } finally {
    db.close();
  }
}

export interface RefStat {
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  n: number;
}

/** Mean, sample std (n-1), min, max over the ok trials, two-pass in float64. */
export function refStat(values: (number | null)[]): RefStat {
  const v = values.filter((x): x is number => x !== null && x !== undefined);
  const n = v.length;
  if (n === 0) return { mean: null, std: null, min: null, max: null, n: 0 };
  let s = 0;
  for (const x of v) s += x;
  const mean = s / n;
  let ss = 0;
  for (const x of v) ss += (x - mean) * (x - mean);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : null, min: Math.min(...v), max: Math.max(...v), n };
}

/** Per variant key: per stat key the reference stat over ok trials; and status counts. */
export function refVariants(rows: ResultRow[]): Map<string, { stats: Record<StatKey, RefStat>; counts: Record<string, number> }> {
  const groups = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const k = variantKey(r.module, r.position);
    const g = groups.get(k) ?? [];
    g.push(r);
    groups.set(k, g);
  }
  const out = new Map<string, { stats: Record<StatKey, RefStat>; counts: Record<string, number> }>();
  for (const [k, g] of groups) {
    const ok = g.filter((r) => r.status === 'ok');
    const stats = {} as Record<StatKey, RefStat>;
    for (const s of STAT_KEYS) stats[s] = refStat(ok.map((r) => r[s] as number | null));
    const counts: Record<string, number> = { ok: 0, failed: 0, running: 0, interrupted: 0, pending: 0, total: g.length };
    for (const r of g) counts[r.status]++;
    out.set(k, { stats, counts });
  }
  return out;
}

export function expectClose(actual: number | null, expected: number | null, rel = 1e-12, what = ''): void {
  if (expected === null) {
    if (actual !== null) throw new Error(`${what}: expected null, got ${actual}`);
    return;
  }
  if (actual === null) throw new Error(`${what}: expected ${expected}, got null`);
  const tol = rel * Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol))
    throw new Error(`${what}: expected ${expected}, got ${actual} (|diff| ${Math.abs(actual - expected)} > ${tol})`);
}

/** RFC 4180: quoted fields with "" escapes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
