/**
 * Tables built from an `Analysis`: Markdown, CSV, LaTeX (booktabs) and the JSON contract of
 * `pnpm report --format json`. No format prints NaN: a number that does not exist is an em dash (or an
 * empty CSV cell, or JSON null) and the reason is in the notes.
 */
import { type Analysis, TEST_NAMES, type TestKind, type VariantAnalysis, variantKey } from './analyze.js';

export interface FormatOptions {
  /** Formats a metric value (mean, std, interval ends, delta); default 4 decimals. */
  value?: (v: number) => string;
  /** The metric's display name; default `analysis.metric`. */
  label?: string;
}

const defaultValue = (v: number) => v.toFixed(4);

/** A p-value for people: 3 significant digits, `<0.001` below that. */
export function formatP(p: number | null): string {
  if (p === null) return '—';
  if (p < 0.001) return '<0.001';
  return p.toPrecision(2).replace(/e.*$/, '');
}

/** Signed value: `+0.0123` / `-0.0123`. */
const signed = (v: number, f: (v: number) => string) => (v > 0 ? `+${f(v)}` : f(v));

/** The marker of a significant difference (after Holm): ▲ better, ▼ worse than the baseline. */
export function marker(a: Analysis, v: VariantAnalysis): string {
  const c = v.comparison;
  if (!c?.significant) return '';
  return c.delta > 0 === a.higherIsBetter ? '▲' : '▼';
}

/** The tests that produced the variants' p-values, named. */
export function testsUsed(a: Analysis): TestKind[] {
  const used = new Set<TestKind>();
  for (const v of a.variants) if (v.comparison?.test) used.add(v.comparison.test);
  return [...used].sort();
}

/** How many variants are in the Holm family (those with a p-value). */
export const familySize = (a: Analysis) => a.variants.filter((v) => v.comparison?.p !== null && v.comparison).length;

/** One line saying which differences are within seed noise (not significant after Holm) and which are not. */
export function noiseLine(a: Analysis, opts: FormatOptions = {}): string {
  const f = opts.value ?? defaultValue;
  if (!a.baseline) return a.messages.join(' ') || 'No baseline: no difference can be tested.';
  const tested = a.variants.filter((v) => v.comparison?.p !== null && v.comparison);
  const untested = a.variants.filter((v) => !v.comparison || v.comparison.p === null);
  const within = tested.filter((v) => !v.comparison?.significant).map(variantKey);
  const real = tested.filter((v) => v.comparison?.significant).map((v) => `${variantKey(v)} ${marker(a, v)}`);
  const parts: string[] = [];
  if (tested.length) {
    const how = `${testsUsed(a)
      .map((t) => TEST_NAMES[t])
      .join(' / ')}, Holm over ${tested.length}, alpha ${a.alpha}`;
    parts.push(
      within.length === tested.length
        ? `Every difference is within seed noise (${how}).`
        : within.length
          ? `Within seed noise: ${within.join(', ')}. Significant: ${real.join(', ')} (${how}).`
          : `Significant: ${real.join(', ')} (${how}).`,
    );
  }
  if (untested.length) parts.push(`Not testable: ${untested.map(variantKey).join(', ')} (${untested[0].comparison?.note ?? 'no value'}).`);
  if (a.noiseFloor?.detectableDelta != null) {
    parts.push(
      `Seed std of the baseline ${f(a.noiseFloor.std)} (n = ${a.noiseFloor.n}): differences under ${f(a.noiseFloor.detectableDelta)} are not detectable at ${Math.round(a.power * 100)}% power.`,
    );
  }
  return parts.join(' ');
}

interface Row {
  key: string;
  module: string | null;
  position: string | null;
  v: VariantAnalysis | null;
  n: number;
  mean: number | null;
  std: number | null;
  ci95: [number, number] | null;
}

function rows(a: Analysis): Row[] {
  const out: Row[] = [];
  if (a.baseline) {
    const s = a.baseline.summary;
    out.push({ key: 'baseline', module: null, position: null, v: null, n: s.n, mean: s.mean, std: s.std, ci95: s.ci95 });
  }
  for (const v of a.variants) {
    const s = v.summary;
    out.push({ key: variantKey(v), module: v.module, position: v.position, v, n: s.n, mean: s.mean, std: s.std, ci95: s.ci95 });
  }
  return out;
}

const NA = '—';

// ---------------------------------------------------------------------------------------------- Markdown

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');

export function toMarkdown(a: Analysis, opts: FormatOptions = {}): string {
  const f = opts.value ?? defaultValue;
  const label = opts.label ?? a.metric;
  const head = ['Variant', 'n', `${label} mean ± std`, '95% CI', 'Δ vs baseline', 'Δ 95% CI', 'test', 'p', 'p (Holm)', ''];
  const lines = [`| ${head.map(mdCell).join(' | ')} |`, `|${head.map((_, i) => (i === 0 || i === 6 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows(a)) {
    const c = r.v?.comparison ?? null;
    const cells = [
      r.key,
      String(r.n),
      r.mean === null ? NA : r.std === null ? f(r.mean) : `${f(r.mean)} ± ${f(r.std)}`,
      r.ci95 ? `[${f(r.ci95[0])}, ${f(r.ci95[1])}]` : NA,
      c ? signed(c.delta, f) : NA,
      c?.deltaCi95 ? `[${f(c.deltaCi95[0])}, ${f(c.deltaCi95[1])}]` : NA,
      c?.test ?? NA,
      formatP(c?.p ?? null),
      formatP(c?.pHolm ?? null),
      r.v ? marker(a, r.v) : '',
    ];
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`);
  }
  const notes = [noiseLine(a, opts), ...footnotes(a)];
  return `${lines.join('\n')}\n\n${notes.map((n) => `${mdCell(n)}`).join('\n\n')}\n`;
}

/** Per-variant notes (seeds differ, n = 1, ...) and sweep messages, one sentence each. */
export function footnotes(a: Analysis): string[] {
  const out = [...a.messages];
  for (const v of a.variants) if (v.comparison?.note) out.push(`${variantKey(v)}: ${v.comparison.note}.`);
  if (testsUsed(a).length) {
    out.push(
      `▲/▼: significantly better/worse than the baseline at alpha ${a.alpha} after Holm's correction over the ${familySize(a)} variants tested (${a.test === 'auto' ? 'paired t-test by seed where the seeds match the baseline’s, else Welch’s' : TEST_NAMES[a.test]}).`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- CSV

/** Leading characters a spreadsheet would run as a formula (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV field (RFC 4180: quoted when it holds a comma, quote, CR or LF). A text cell that starts like
 * a formula is prefixed with `'` so that a spreadsheet shows it as text; numbers (negative ones too) stay
 * numbers; null and non-finite numbers are empty.
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'number') s = Number.isFinite(v) ? String(v) : '';
  else if (typeof v === 'boolean') s = v ? 'true' : 'false';
  else {
    s = String(v);
    if (FORMULA_START.test(s)) s = `'${s}`;
  }
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvTable(columns: string[], body: Record<string, unknown>[]): string {
  const lines = [columns.map(csvCell).join(',')];
  for (const r of body) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export const CSV_COLUMNS = [
  'module',
  'position',
  'n',
  'mean',
  'std',
  'ci95_lo',
  'ci95_hi',
  'delta',
  'delta_ci95_lo',
  'delta_ci95_hi',
  'test',
  'p',
  'p_holm',
  'significant',
  'p_sign_flip',
  'detectable_delta',
  'note',
];

/** One row per variant (baseline first, module empty), full precision. */
export function toCsv(a: Analysis): string {
  const body = rows(a).map((r) => {
    const c = r.v?.comparison ?? null;
    return {
      module: r.module ?? 'baseline',
      position: r.position,
      n: r.n,
      mean: r.mean,
      std: r.std,
      ci95_lo: r.ci95?.[0],
      ci95_hi: r.ci95?.[1],
      delta: c?.delta,
      delta_ci95_lo: c?.deltaCi95?.[0],
      delta_ci95_hi: c?.deltaCi95?.[1],
      test: c?.test,
      p: c?.p,
      p_holm: c?.pHolm,
      significant: c ? c.significant : null,
      p_sign_flip: c?.signFlipP,
      detectable_delta: c?.detectableDelta,
      note: c?.note,
    };
  });
  return csvTable(CSV_COLUMNS, body);
}

// ---------------------------------------------------------------------------------------------- LaTeX

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
 * A booktabs tabular: modules as rows, positions as columns (one column when no variant has a position),
 * the baseline on a row of its own; `mean \pm std` per cell, a dagger where the difference with the
 * baseline is significant after Holm, the best cell in bold only when it is significantly better than the
 * runner-up; a footnote names the test and the correction. Needs \usepackage{booktabs}.
 */
export function toLatex(a: Analysis, opts: FormatOptions = {}): string {
  const f = opts.value ?? defaultValue;
  const label = opts.label ?? a.metric;
  const positions = [...new Set(a.variants.map((v) => v.position))];
  const modules = [...new Set(a.variants.map((v) => v.module))];
  const byPos = positions.some((p) => p !== null);
  const cols = byPos ? positions : [null];
  const ncol = Math.max(1, cols.length);
  const bestIdx = a.best?.significant ? a.best.index : null;
  const cell = (s: { n: number; mean: number | null; std: number | null }, idx: number, v: VariantAnalysis | null) => {
    if (s.mean === null) return '--';
    let body = s.std === null ? f(s.mean) : `${f(s.mean)} \\pm ${f(s.std)}`;
    if (bestIdx === idx) body = `\\mathbf{${body}}`;
    const dag = v?.comparison?.significant ? '^{\\dagger}' : '';
    return `$${body}${dag}$`;
  };
  const lines: string[] = [];
  lines.push(`% ${latexEscape(a.sweep)}: ${latexEscape(label)}, mean \\pm std over seeds. Needs \\usepackage{booktabs}.`);
  lines.push(`\\begin{tabular}{l${'c'.repeat(ncol)}}`);
  lines.push('\\toprule');
  lines.push(`Module & ${byPos ? cols.map((p) => latexEscape(p ?? '(none)')).join(' & ') : latexEscape(label)} \\\\`);
  lines.push('\\midrule');
  if (a.baseline) {
    const b = cell(a.baseline.summary, -1, null);
    lines.push(`Baseline & ${ncol > 1 ? `\\multicolumn{${ncol}}{c}{${b}}` : b} \\\\`);
    lines.push('\\midrule');
  }
  for (const m of modules) {
    const cells = cols.map((p) => {
      const i = a.variants.findIndex((v) => v.module === m && v.position === p);
      return i < 0 ? '--' : cell(a.variants[i].summary, i, a.variants[i]);
    });
    lines.push(`${latexEscape(m)} & ${cells.join(' & ')} \\\\`);
  }
  lines.push('\\bottomrule');
  lines.push('\\end{tabular}');
  const notes: string[] = [];
  const seeds = [...new Set([...(a.baseline ? [a.baseline.summary.n] : []), ...a.variants.map((v) => v.summary.n)])].sort((x, y) => x - y);
  notes.push(`Mean $\\pm$ std over ${seeds.join('/')} seed${seeds.length === 1 && seeds[0] === 1 ? '' : 's'}.`);
  const used = testsUsed(a);
  if (used.length) {
    notes.push(
      `$^{\\dagger}$ differs from the baseline at $\\alpha = ${a.alpha}$: ${used.map((t) => latexEscape(TEST_NAMES[t])).join(' or ')} (two-sided), Holm-corrected over the ${familySize(a)} variants.`,
    );
  } else {
    notes.push('No difference could be tested (no baseline or a single seed).');
  }
  if (a.best?.comparison) {
    const c = a.best.comparison;
    notes.push(
      a.best.significant
        ? `Bold: best, significantly better than the runner-up (${latexEscape(TEST_NAMES[c.test as TestKind])}, $p = ${formatP(c.p)}$).`
        : `No entry is in bold: the best is not significantly better than the runner-up${c.p !== null ? ` ($p = ${formatP(c.p)}$)` : ''}.`,
    );
  }
  lines.push(`\\par\\smallskip{\\footnotesize ${notes.join(' ')}}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------- JSON

export interface JsonBaseline {
  module: null;
  position: null;
  n: number;
  mean: number | null;
  std: number | null;
  ci95: [number, number] | null;
}

export interface JsonVariant {
  module: string;
  position: string | null;
  n: number;
  mean: number | null;
  std: number | null;
  ci95: [number, number] | null;
  delta: number | null;
  delta_ci95: [number, number] | null;
  p: number | null;
  p_holm: number | null;
  significant: boolean;
  /** The test p comes from (`paired` / `welch`), null when none could run. */
  test: TestKind | null;
  p_sign_flip: number | null;
  detectable_delta: number | null;
  note: string | null;
}

export interface JsonReport {
  sweep: string;
  metric: string;
  /** `paired`, `welch`, or `mixed` (auto chose per variant; see each variant's `test`); `none` when nothing was tested. */
  test: TestKind | 'mixed' | 'none';
  /** What was asked for: auto, paired or welch. */
  test_requested: string;
  correction: 'holm';
  alpha: number;
  variants: (JsonBaseline | JsonVariant)[];
  messages: string[];
}

/** The `pnpm report --format json` contract (README, "Report"). */
export function toJson(a: Analysis): JsonReport {
  const used = testsUsed(a);
  const variants: (JsonBaseline | JsonVariant)[] = [];
  if (a.baseline) {
    const s = a.baseline.summary;
    variants.push({ module: null, position: null, n: s.n, mean: s.mean, std: s.std, ci95: s.ci95 });
  }
  for (const v of a.variants) {
    const s = v.summary;
    const c = v.comparison;
    variants.push({
      module: v.module,
      position: v.position,
      n: s.n,
      mean: s.mean,
      std: s.std,
      ci95: s.ci95,
      delta: c ? c.delta : null,
      delta_ci95: c?.deltaCi95 ?? null,
      p: c?.p ?? null,
      p_holm: c?.pHolm ?? null,
      significant: c?.significant ?? false,
      test: c?.test ?? null,
      p_sign_flip: c?.signFlipP ?? null,
      detectable_delta: c?.detectableDelta ?? null,
      note: c?.note ?? (a.baseline ? (s.n === 0 ? 'no value' : null) : 'no baseline'),
    });
  }
  return {
    sweep: a.sweep,
    metric: a.metric,
    test: used.length === 0 ? 'none' : used.length === 1 ? used[0] : 'mixed',
    test_requested: a.test,
    correction: 'holm',
    alpha: a.alpha,
    variants,
    messages: a.messages,
  };
}
