/**
 * CSV exports: the sweep's results (one row per trial, the `results` view's columns; or one row per
 * variant with mean and std of every metric). The statistics tables (LaTeX, Markdown, CSV with tests)
 * come from @ablate/stats' formats (server/app.ts).
 */

import { csvCell } from '@ablate/stats';
import type { SweepDetail } from '../common/api.js';
import { STAT_KEYS } from '../common/metrics.js';

/**
 * RFC 4180 field with spreadsheet-formula neutralisation (a text cell starting with =, +, -, @, tab or
 * CR gets a leading apostrophe; numbers stay numbers): @ablate/stats' csvCell.
 */
export const csvField = csvCell;

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const lines = [columns.map(csvField).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** One row per variant: module, position, counts, then mean/std/n of every metric. */
export function variantsCsv(d: SweepDetail): string {
  const cols = [
    'module',
    'position',
    'ok',
    'failed',
    'running',
    'interrupted',
    'pending',
    ...STAT_KEYS.flatMap((k) => [`${k}_mean`, `${k}_std`, `${k}_n`]),
  ];
  const all = [...(d.baseline ? [d.baseline] : []), ...d.variants];
  const rows = all.map((v) => {
    const r: Record<string, unknown> = { module: v.module ?? 'baseline', position: v.position, ...v.counts };
    for (const k of STAT_KEYS) {
      r[`${k}_mean`] = v.stats[k].mean;
      r[`${k}_std`] = v.stats[k].std;
      r[`${k}_n`] = v.stats[k].n;
    }
    return r;
  });
  return toCsv(cols, rows);
}
