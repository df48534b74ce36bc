/**
 * The output contract of `pnpm golden`: one line per case,
 *   `PASS     <name>  worst <number>  tol <number>  <metric>  <note>`
 * (status is PASS, FAIL or SKIPPED; numbers in %.3e or `-`), then the closing line
 * `N passed, M failed` (skipped cases are counted on the line before it).
 */
import type { CaseLine } from './types.js';

const num = (x: number | undefined) => (x === undefined ? '-' : x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(3) : String(x));

export function formatLine(l: CaseLine): string {
  const parts = [l.status.padEnd(8), l.name.padEnd(52), `worst ${num(l.worst).padEnd(10)}`, `tol ${num(l.tolerance).padEnd(10)}`];
  if (l.metric) parts.push(l.metric);
  if (l.note) parts.push(l.status === 'PASS' ? l.note : `(${l.note})`);
  return parts.join(' ').trimEnd();
}

export function formatTotals(lines: CaseLine[]): string[] {
  const passed = lines.filter((l) => l.status === 'PASS').length;
  const failed = lines.filter((l) => l.status === 'FAIL').length;
  const skipped = lines.filter((l) => l.status === 'SKIPPED').length;
  return [`${skipped} skipped`, `${passed} passed, ${failed} failed`];
}
