/**
 * `pnpm report`'s output for one sweep and metric, in the chosen format (all from `@ablate/stats`).
 * Extra sections (such as COCO evaluation, `--coco`) are `ReportSection`s: they get the opened database
 * and the options, and add text after the table.
 */
import { analyze, type TestChoice, toCsv, toJson, toLatex, toMarkdown } from '@ablate/stats';
import type { Tracker } from '@ablate/tracker';
import { cocoSection } from './coco.js';
import { loadSweepMetric } from './load.js';

export const REPORT_FORMATS = ['md', 'latex', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  sweep: string;
  metric: string;
  format: ReportFormat;
  test: TestChoice;
}

/** A section that a flag of `pnpm report` adds (e.g. `--coco`). */
export interface ReportSection {
  /** commander flag, e.g. `--coco`. */
  flag: string;
  description: string;
  /** Text to print after the table when the flag is given (JSON formats may return an object to merge). */
  render(t: Tracker, o: ReportOptions): string | Record<string, unknown>;
}

/** The sections `pnpm report` offers, one flag each. */
export const REPORT_SECTIONS: ReportSection[] = [cocoSection];

export function renderReport(t: Tracker, o: ReportOptions, sections: ReportSection[] = []): string {
  const { input, notOk, missing } = loadSweepMetric(t, o.sweep, o.metric);
  const a = analyze({ ...input, test: o.test });
  const left: string[] = [];
  if (notOk) left.push(`${notOk} trial${notOk === 1 ? '' : 's'} not ok`);
  if (missing) left.push(`${missing} ok trial${missing === 1 ? '' : 's'} without ${o.metric}`);
  if (left.length) a.messages.push(`Left out: ${left.join(', ')}.`);
  if (o.format === 'json') {
    const j: Record<string, unknown> = { ...toJson(a) };
    for (const s of sections) {
      const r = s.render(t, o);
      if (typeof r === 'object') Object.assign(j, r);
    }
    return `${JSON.stringify(j, null, 2)}\n`;
  }
  const body = o.format === 'md' ? toMarkdown(a) : o.format === 'latex' ? toLatex(a) : toCsv(a);
  const extra = sections.map((s) => s.render(t, o)).filter((r): r is string => typeof r === 'string');
  // One empty line between the tables (CRLF in CSV, as RFC 4180 writes lines).
  return [body, ...extra].join(o.format === 'csv' ? '\r\n' : '\n');
}
