/**
 * Exports: the sweep's results as CSV (one row per trial, the `results` view's columns; or one row per
 * variant with mean and std of every metric), and the ablation matrix as a LaTeX booktabs table
 * (mean ± std, the best cell of the chosen metric in bold).
 */
import type { SweepDetail, VariantStats } from '../common/api.js';
import { formatValue, METRICS, type MetricKey, STAT_KEYS } from '../common/metrics.js';

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; null is empty. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

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

const LATEX_SPECIAL: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '&': '\\&',
  '%': '\\%',
  $: '\\$',
  '#': '\\#',
  _: '\\_',
  '{': '\\{',
  '}': '\\}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
};

export function latexEscape(s: string): string {
  return s.replace(/[\\&%$#_{}~^]/g, (c) => LATEX_SPECIAL[c]);
}

/**
 * The ablation matrix as a booktabs tabular: a baseline row spanning the position columns, then one
 * row per module with `mean \pm std` per position (`--` where no trial finished). The best cell
 * (baseline included; highest, or lowest for params/GFLOPs) is bold.
 */
export function matrixLatex(d: SweepDetail, metric: MetricKey): string {
  const info = METRICS[metric];
  const cell = (v: VariantStats | undefined) => v?.stats[metric];
  const all: VariantStats[] = [...(d.baseline ? [d.baseline] : []), ...d.variants];
  let best: number | null = null;
  for (const v of all) {
    const m = v.stats[metric].mean;
    if (m === null) continue;
    // Compare the printed values so that ties at the printed precision are all bold.
    const pm = Number(formatValue(metric, m));
    if (best === null || (info.higherIsBetter ? pm > best : pm < best)) best = pm;
  }
  const fmt = (v: VariantStats | undefined) => {
    const s = cell(v);
    if (!s || s.mean === null) return '--';
    const body = s.std === null ? formatValue(metric, s.mean) : `${formatValue(metric, s.mean)} \\pm ${formatValue(metric, s.std)}`;
    return best !== null && Number(formatValue(metric, s.mean)) === best ? `$\\mathbf{${body}}$` : `$${body}$`;
  };
  const positions = d.positions;
  const ncol = Math.max(1, positions.length);
  const lines: string[] = [];
  lines.push(`% ${d.name}: ${info.label}, mean \\pm std over seeds (ok trials); best in bold. Needs \\usepackage{booktabs}.`);
  lines.push(`\\begin{tabular}{l${'c'.repeat(ncol)}}`);
  lines.push('\\toprule');
  lines.push(`Module & ${positions.length ? positions.map((p) => latexEscape(p ?? '(none)')).join(' & ') : ''} \\\\`);
  lines.push('\\midrule');
  if (d.baseline) {
    lines.push(`Baseline & ${ncol > 1 ? `\\multicolumn{${ncol}}{c}{${fmt(d.baseline)}}` : fmt(d.baseline)} \\\\`);
    lines.push('\\midrule');
  }
  for (const m of d.modules) {
    const cells = positions.map((p) => fmt(d.variants.find((v) => v.module === m && v.position === p)));
    lines.push(`${latexEscape(m)} & ${cells.join(' & ')} \\\\`);
  }
  lines.push('\\bottomrule');
  lines.push('\\end{tabular}');
  return `${lines.join('\n')}\n`;
}
