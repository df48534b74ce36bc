/**
 * `pnpm report <sweep> --coco`: the COCO evaluation (pycocotools `COCOeval(bbox).summarize()` at the best
 * epoch, stored per trial by the sweep; migration 3 of @ablate/tracker) per variant, mean ± std over the
 * seeds, and AP@[.50:.95] per class, in every report format.
 *
 * Trials without stored COCO numbers (finished by a version before the COCO evaluation, a database older
 * than migration 3, or resumed from a checkpoint that did not carry it) are listed one by one with the
 * reason; their variant's statistics are over the trials that have numbers. They are not recomputed: the
 * database keeps no predictions of the whole validation set (the artefacts hold the first 16 validation images'
 * boxes, letterboxed and capped per image, not every image's conf 0.001 detections that COCO scores), so a number made from them would be wrong.
 * `pnpm sweep` skips trials that are ok, so the way to evaluate them is a sweep into a new database.
 */
import { csvTable, describe, latexEscape, type Summary, variantKey } from '@ablate/stats';
import { COCO_COLUMNS, type Tracker } from '@ablate/tracker';
import type { ReportOptions, ReportSection } from './render.js';

export type CocoStat = keyof typeof COCO_COLUMNS;
export const COCO_STATS = Object.keys(COCO_COLUMNS) as CocoStat[];

/** One statistic over the seeds: the values (by seed) and their description. Null values (no ground truth) are left out. */
export interface CocoStatSummary extends Summary {
  seeds: number[];
  values: number[];
}

export interface CocoClassSummary extends CocoStatSummary {
  class_id: number;
  name: string | null;
  /** Ground-truth boxes of the class in the validation set (as stored by the first trial evaluated). */
  n_gt: number;
}

export interface CocoVariant {
  module: string | null;
  position: string | null;
  /** ok trials of the variant with a stored COCO evaluation. */
  n: number;
  stats: Record<CocoStat, CocoStatSummary>;
  per_class: CocoClassSummary[];
}

export interface CocoMissing {
  trial_id: string;
  module: string | null;
  position: string | null;
  seed: number;
  reason: string;
}

/** The `coco` object that `pnpm report --coco --format json` adds (README, "COCO evaluation"). */
export interface CocoReport {
  source: string;
  stats: CocoStat[];
  variants: CocoVariant[];
  missing: CocoMissing[];
}

const SOURCE = 'pycocotools COCOeval(bbox) at the best epoch, boxes in original image pixels, area = box area';

interface TrialRow {
  trial_id: string;
  module: string | null;
  position: string | null;
  seed: number;
  evaluated: number;
  [column: string]: unknown;
}

const hasTable = (t: Tracker, name: string) =>
  t.db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;

/** The schema version of the file (0 when it has no migrations table). */
function schemaVersion(t: Tracker): number {
  if (!hasTable(t, 'schema_migrations')) return 0;
  return (t.db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
}

const emptySummary = (): CocoStatSummary => ({ n: 0, mean: null, std: null, ci95: null, seeds: [], values: [] });

/** Loads the COCO numbers of `sweep`'s ok trials, grouped by variant (baseline first, then in sweep order). */
export function loadCoco(t: Tracker, sweep: string): CocoReport {
  const missing: CocoMissing[] = [];
  const known = (t.db.prepare('SELECT name FROM pragma_table_info(?)').all('trials') as { name: string }[]).map((c) => c.name);
  const hasColumns = COCO_STATS.every((k) => known.includes(COCO_COLUMNS[k])) && hasTable(t, 'coco_class_ap');
  // A trial counts as evaluated when it has per-class rows: every evaluation stores one row per class, even
  // where all its numbers are NULL (no ground truth), so NULL columns alone cannot tell.
  const cols = hasColumns
    ? COCO_STATS.map((k) => `t.${COCO_COLUMNS[k]} AS ${k}`).join(', ')
    : COCO_STATS.map((k) => `NULL AS ${k}`).join(', ');
  const evaluated = hasColumns ? 'EXISTS (SELECT 1 FROM coco_class_ap c WHERE c.trial_id = t.id)' : '0';
  const rows = t.db
    .prepare(
      `SELECT t.id AS trial_id, t.module, t.position, t.seed, ${evaluated} AS evaluated, ${cols}
       FROM sweep_trials st JOIN trials t ON t.id = st.trial_id
       WHERE st.sweep = ? AND t.status = 'ok' ORDER BY (t.module IS NOT NULL), st.ordinal`,
    )
    .all(sweep) as TrialRow[];
  const perClass = hasColumns
    ? t.db.prepare('SELECT class_id, name, ap, n_gt FROM coco_class_ap WHERE trial_id = ? ORDER BY class_id')
    : null;
  const groups = new Map<string, { module: string | null; position: string | null; trials: TrialRow[] }>();
  for (const r of rows) {
    if (!r.evaluated) {
      missing.push({
        trial_id: r.trial_id,
        module: r.module,
        position: r.position,
        seed: r.seed,
        reason: hasColumns
          ? 'no stored COCO evaluation (the trial finished by a version without it, or resumed from a checkpoint that lacked it); pnpm sweep skips ok trials, so run the sweep into a new --db to evaluate it'
          : `the database (schema version ${schemaVersion(t)}) predates the COCO evaluation (migration 3); run the sweep into a new --db to evaluate it`,
      });
      continue;
    }
    const key = variantKey(r);
    let g = groups.get(key);
    if (!g) {
      g = { module: r.module, position: r.position, trials: [] };
      groups.set(key, g);
    }
    // One value per seed (the first, as the main table does when module_args differ).
    if (!g.trials.some((x) => x.seed === r.seed)) g.trials.push(r);
  }
  const variants: CocoVariant[] = [];
  for (const g of groups.values()) {
    const stats = {} as Record<CocoStat, CocoStatSummary>;
    for (const k of COCO_STATS) {
      const seeds: number[] = [];
      const values: number[] = [];
      for (const tr of g.trials) {
        const v = tr[k];
        if (typeof v === 'number' && Number.isFinite(v)) {
          seeds.push(tr.seed);
          values.push(v);
        }
      }
      stats[k] = { ...describe(values), seeds, values };
    }
    const classes = new Map<number, CocoClassSummary>();
    for (const tr of g.trials) {
      const pcs = perClass?.all(tr.trial_id) as { class_id: number; name: string | null; ap: number | null; n_gt: number }[];
      for (const pc of pcs) {
        let c = classes.get(pc.class_id);
        if (!c) {
          c = { class_id: pc.class_id, name: pc.name, n_gt: pc.n_gt, ...emptySummary() };
          classes.set(pc.class_id, c);
        }
        if (pc.ap !== null && Number.isFinite(pc.ap)) {
          c.seeds.push(tr.seed);
          c.values.push(pc.ap);
        }
      }
    }
    const per_class = [...classes.values()].sort((a, b) => a.class_id - b.class_id).map((c) => ({ ...c, ...describe(c.values) }));
    variants.push({ module: g.module, position: g.position, n: g.trials.length, stats, per_class });
  }
  return { source: SOURCE, stats: COCO_STATS, variants, missing };
}

// ---------------------------------------------------------------------------------------------- text

const NA = '—';
const f = (v: number) => v.toFixed(4);
/** mean ± std (std left out for one value), or an em dash with no value. */
function meanStd(s: Summary): string {
  if (s.mean === null) return NA;
  return s.std === null ? f(s.mean) : `${f(s.mean)} ± ${f(s.std)}`;
}
const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
const mdTable = (head: string[], body: string[][]) =>
  [
    `| ${head.map(mdCell).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ].join('\n');

/** Class columns: the union over the variants, by class id. */
function classColumns(r: CocoReport): { class_id: number; name: string | null; n_gt: number }[] {
  const m = new Map<number, { class_id: number; name: string | null; n_gt: number }>();
  for (const v of r.variants) for (const c of v.per_class) if (!m.has(c.class_id)) m.set(c.class_id, c);
  return [...m.values()].sort((a, b) => a.class_id - b.class_id);
}
const className = (c: { class_id: number; name: string | null }) => c.name ?? String(c.class_id);

function notes(r: CocoReport): string[] {
  const out = [
    `COCO evaluation: ${SOURCE}; mean ± std over the seeds with a value (n per variant: trials with a stored evaluation). — where no ground truth falls in the area range (pycocotools' -1).`,
  ];
  if (!r.variants.length && !r.missing.length) out.push('No ok trial in this sweep: nothing to evaluate.');
  for (const m of r.missing) out.push(`Trial ${m.trial_id} (${variantKey(m)}, seed ${m.seed}): ${m.reason}.`);
  return out;
}

export function cocoMarkdown(r: CocoReport): string {
  const out: string[] = ['## COCO evaluation', ''];
  if (r.variants.length) {
    out.push(
      mdTable(
        ['Variant', 'n', ...r.stats],
        r.variants.map((v) => [variantKey(v), String(v.n), ...r.stats.map((k) => meanStd(v.stats[k]))]),
      ),
    );
    const classes = classColumns(r);
    if (classes.length) {
      out.push('', '### AP@[.50:.95] per class', '');
      out.push(
        mdTable(
          ['Variant', ...classes.map((c) => `${className(c)} (${c.n_gt} gt)`)],
          r.variants.map((v) => [
            variantKey(v),
            ...classes.map((c) => meanStd(v.per_class.find((x) => x.class_id === c.class_id) ?? emptySummary())),
          ]),
        ),
      );
    }
    out.push('');
  }
  out.push(notes(r).map(mdCell).join('\n\n'));
  return `${out.join('\n')}\n`;
}

function latexTabular(caption: string, head: string[], body: string[][]): string[] {
  return [
    `% ${caption}`,
    `\\begin{tabular}{l${'c'.repeat(head.length - 1)}}`,
    '\\toprule',
    `${head.join(' & ')} \\\\`,
    '\\midrule',
    ...body.map((r) => `${r.join(' & ')} \\\\`),
    '\\bottomrule',
    '\\end{tabular}',
  ];
}

const latexCell = (s: Summary) => (s.mean === null ? '--' : s.std === null ? `$${f(s.mean)}$` : `$${f(s.mean)} \\pm ${f(s.std)}$`);

/** Two booktabs tabulars (AP, then AR: twelve columns do not fit a page) and one of AP per class. */
export function cocoLatex(r: CocoReport, sweep: string): string {
  const out: string[] = [];
  const name = (v: CocoVariant) => latexEscape(variantKey(v));
  const statHead = (ks: CocoStat[]) => [
    'Variant',
    ...ks.map((k) => `$\\mathrm{${k.replace(/^(AP|AR)(.*)$/, '$1')}}${k.length > 2 ? `_{${k.slice(2)}}` : ''}$`),
  ];
  for (const group of [r.stats.filter((k) => k.startsWith('AP')), r.stats.filter((k) => k.startsWith('AR'))]) {
    if (!r.variants.length) break;
    out.push(
      ...latexTabular(
        `${latexEscape(sweep)}: COCO ${group[0].slice(0, 2)}, mean \\pm std over seeds. Needs \\usepackage{booktabs}.`,
        statHead(group),
        r.variants.map((v) => [name(v), ...group.map((k) => latexCell(v.stats[k]))]),
      ),
      '',
    );
  }
  const classes = classColumns(r);
  if (r.variants.length && classes.length) {
    out.push(
      ...latexTabular(
        `${latexEscape(sweep)}: COCO AP@[.50:.95] per class, mean \\pm std over seeds.`,
        ['Variant', ...classes.map((c) => latexEscape(className(c)))],
        r.variants.map((v) => [
          name(v),
          ...classes.map((c) => latexCell(v.per_class.find((x) => x.class_id === c.class_id) ?? emptySummary())),
        ]),
      ),
      '',
    );
  }
  // Plain LaTeX (no Unicode needed): ± as $\pm$, the em dash as the tables' --.
  const tex = (n: string) =>
    latexEscape(n)
      .replace(/±/g, () => '$\\pm$')
      .replace(/—/g, '--');
  out.push(`\\par\\smallskip{\\footnotesize ${notes(r).map(tex).join(' ')}}`);
  return `${out.join('\n')}\n`;
}

export const COCO_CSV_COLUMNS = ['module', 'position', 'stat', 'class_id', 'class_name', 'n', 'mean', 'std', 'ci95_lo', 'ci95_hi', 'note'];

/**
 * A long table after the main one (one empty line between): one row per variant and statistic, then one per
 * variant and class (`stat` = `AP_class`), then one per trial without numbers (`stat` empty, `note` the reason).
 */
export function cocoCsvRows(r: CocoReport): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const row = (v: CocoVariant, stat: string, s: Summary, extra: Record<string, unknown> = {}) => ({
    module: v.module ?? 'baseline',
    position: v.position,
    stat,
    n: s.n,
    mean: s.mean,
    std: s.std,
    ci95_lo: s.ci95?.[0],
    ci95_hi: s.ci95?.[1],
    ...extra,
  });
  for (const v of r.variants) for (const k of r.stats) out.push(row(v, k, v.stats[k]));
  for (const v of r.variants) for (const c of v.per_class) out.push(row(v, 'AP_class', c, { class_id: c.class_id, class_name: c.name }));
  for (const m of r.missing)
    out.push({ module: m.module ?? 'baseline', position: m.position, n: 0, note: `trial ${m.trial_id} seed ${m.seed}: ${m.reason}` });
  return out;
}

/** `--coco`: registered in REPORT_SECTIONS. */
export const cocoSection: ReportSection = {
  flag: '--coco',
  description:
    'add the COCO evaluation (AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l, per-class AP) of the best epoch, mean ± std over seeds',
  render(t: Tracker, o: ReportOptions) {
    const r = loadCoco(t, o.sweep);
    switch (o.format) {
      case 'json':
        return { coco: r };
      case 'md':
        return cocoMarkdown(r);
      case 'latex':
        return cocoLatex(r, o.sweep);
      case 'csv':
        return csvTable(COCO_CSV_COLUMNS, cocoCsvRows(r));
    }
  },
};
