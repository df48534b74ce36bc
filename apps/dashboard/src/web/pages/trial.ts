/**
 * The trial page: status and error, final metrics, curves (with the baseline's mean and band), the
 * model YAML with its diff against the baseline's, the per-layer summary, the resolved config and
 * provenance.
 */
import type { CurveSeries, TrialDetail } from '../../common/api.js';
import { diffLines } from '../../common/diff.js';
import { COCO_STATS, CURVE_KEYS, formatValue, type StatKey } from '../../common/metrics.js';
import { BASELINE_KEY, variantLabel } from '../../common/variant.js';
import { api } from '../api.js';
import { BASELINE_COLOR, colorOf, curveCharts } from '../charts.js';
import { duration, enc, fill, h, json, pre, statusBadge, when } from '../dom.js';
import { Charts, href, type Page, type Route } from '../page.js';
import { trialDiagnostics } from './trial-artefacts.js';

interface SummaryRowLike {
  index?: number;
  from?: unknown;
  /** repeats (the runner writes `n`, @ablate/yolov8's summary() `repeats`) */
  n?: number;
  repeats?: number;
  params?: number;
  module?: string;
  args?: unknown;
  flops?: number;
}

interface SummaryLike {
  rows?: SummaryRowLike[];
  layers?: number;
  parameters?: number;
  gradients?: number;
  gflops?: number;
  gflops640?: number;
  imgsz?: number;
  name?: string;
}

function summaryTable(summary: unknown): HTMLElement {
  const s = summary as SummaryLike | null;
  if (!s || !Array.isArray(s.rows)) return summary == null ? h('p', { class: 'muted' }, 'No summary stored.') : pre(json(summary));
  const flops = s.rows.some((r) => typeof r.flops === 'number');
  const cols = ['#', 'from', 'n', 'params', 'module', 'arguments', ...(flops ? ['GFLOPs'] : [])];
  const g = (v: number | undefined, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '?');
  return h(
    'div',
    null,
    h(
      'table',
      { class: 'grid summary', 'data-testid': 'summary' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          cols.map((t) => h('th', null, t)),
        ),
      ),
      h(
        'tbody',
        null,
        s.rows.map((r) =>
          h(
            'tr',
            null,
            h('td', { class: 'num' }, r.index ?? ''),
            h('td', null, JSON.stringify(r.from ?? '')),
            h('td', { class: 'num' }, r.n ?? r.repeats ?? ''),
            h('td', { class: 'num' }, r.params?.toLocaleString('en-US') ?? ''),
            h('td', null, r.module ?? ''),
            h('td', { class: 'args' }, JSON.stringify(r.args ?? [])),
            flops ? h('td', { class: 'num' }, typeof r.flops === 'number' ? (r.flops / 1e9).toFixed(3) : '') : null,
          ),
        ),
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      `${s.name ?? 'model'} summary: ${s.layers ?? '?'} layers, ${s.parameters?.toLocaleString('en-US') ?? '?'} parameters, ` +
        `${s.gradients?.toLocaleString('en-US') ?? '?'} gradients, ${g(s.gflops, 3)} GFLOPs at ${s.imgsz ?? '?'} px` +
        (typeof s.gflops640 === 'number' ? ` (${g(s.gflops640)} at 640 px)` : ''),
    ),
  );
}

const CONTEXT = 3;

/** The diff with unchanged runs longer than 2 x CONTEXT folded (a click on the fold shows everything). */
function yamlDiff(mine: string | null, base: string | null, isBaseline: boolean): HTMLElement {
  if (mine === null) return h('p', { class: 'muted' }, 'No model YAML stored.');
  if (isBaseline || base === null) {
    return h('div', null, isBaseline ? null : h('p', { class: 'muted' }, 'No baseline YAML to compare against.'), pre(mine, 'yaml'));
  }
  const lines = diffLines(base, mine);
  const changed = lines.filter((l) => l.op !== ' ').length;
  const near = lines.map((_, i) => lines.slice(Math.max(0, i - CONTEXT), i + CONTEXT + 1).some((l) => l.op !== ' '));
  const box = h('pre', { class: 'diff', 'data-testid': 'yaml-diff' });
  const render = (all: boolean) => {
    const out: HTMLElement[] = [];
    for (let i = 0; i < lines.length; ) {
      if (all || near[i] || changed === 0) {
        const l = lines[i++];
        out.push(h('div', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx' }, `${l.op} ${l.text}`));
        continue;
      }
      let j = i;
      while (j < lines.length && !near[j]) j++;
      out.push(
        h(
          'div',
          { class: 'fold', title: 'show all lines', onclick: () => render(true) },
          `⋯ ${j - i} unchanged line${j - i > 1 ? 's' : ''}`,
        ),
      );
      i = j;
    }
    box.replaceChildren(...out);
  };
  render(false);
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'muted' },
      changed ? `${changed} line(s) differ from the baseline's YAML (− baseline, + this trial)` : 'Identical to the baseline YAML.',
    ),
    box,
  );
}

/** The COCO evaluation of the best epoch: the 12 pycocotools numbers and AP per class. */
function cocoSection(c: TrialDetail['coco']): HTMLElement {
  const f = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(3));
  if (!c) return h('p', { class: 'muted', 'data-testid': 'trial-coco-none' }, 'No COCO evaluation stored for this trial.');
  return h(
    'div',
    { class: 'coco' },
    h(
      'p',
      { class: 'muted small' },
      'pycocotools COCOeval(bbox) at the best epoch; boxes in original image pixels; object areas are box areas (YOLO labels have no masks); — = no ground truth in that range.',
    ),
    h(
      'table',
      { class: 'kv', 'data-testid': 'trial-coco' },
      h(
        'tbody',
        null,
        COCO_STATS.map(([col, label]) => h('tr', { 'data-stat': col }, h('th', null, label), h('td', { class: 'num' }, f(c.stats[col])))),
      ),
    ),
    c.perClass.length
      ? h(
          'table',
          { class: 'grid', 'data-testid': 'trial-coco-classes' },
          h(
            'thead',
            null,
            h('tr', null, h('th', null, 'class'), h('th', null, 'name'), h('th', null, 'AP @[.50:.95]'), h('th', null, 'GT boxes')),
          ),
          h(
            'tbody',
            null,
            c.perClass.map((p) =>
              h(
                'tr',
                null,
                h('td', { class: 'num' }, p.class_id),
                h('td', null, p.name ?? ''),
                h('td', { class: 'num' }, f(p.ap)),
                h('td', { class: 'num' }, p.n_gt),
              ),
            ),
          ),
        )
      : null,
  );
}

/** The checkpoint the trial started from: the transfer line, a warning when fewer tensors arrived, what was not copied. */
function pretrainedSection(p: TrialDetail['pretrained']): HTMLElement {
  if (!p) return h('p', { class: 'muted', 'data-testid': 'pretrained' }, 'Trained from scratch (no pretrained checkpoint).');
  const tr = p.transfer;
  const rows = (list: { name: string; reason: string }[]) =>
    h(
      'table',
      { class: 'grid' },
      h('thead', null, h('tr', null, h('th', null, 'tensor (checkpoint name)'), h('th', null, 'why not copied'))),
      h(
        'tbody',
        null,
        list.map((n) => h('tr', null, h('td', null, n.name), h('td', null, n.reason))),
      ),
    );
  return h(
    'div',
    { 'data-testid': 'pretrained' },
    h('p', null, 'Started from ', h('code', null, p.file), p.sha256 ? h('span', { class: 'muted small' }, ` sha256 ${p.sha256}`) : null),
    tr === null
      ? h('p', { class: 'muted' }, 'No transfer report yet (the trial has not started).')
      : [
          h(
            'p',
            { 'data-testid': 'transfer-summary' },
            tr.summary.split('; not transferred')[0],
            ` (the base model has ${tr.expected} tensors)`,
          ),
          tr.warning
            ? h('div', { class: 'error-box', 'data-testid': 'transfer-warning' }, h('strong', null, 'Warning: '), tr.warning)
            : null,
          tr.notTransferred.length
            ? [h('h3', null, `Not transferred (${tr.notTransferred.length})`), rows(tr.notTransferred)]
            : h('p', { class: 'muted' }, 'Every tensor of the checkpoint was transferred.'),
          tr.initialised.length
            ? h(
                'details',
                null,
                h('summary', null, `${tr.initialised.length} tensors of this model kept their initialisation (inserted modules, ...)`),
                pre(tr.initialised.join('\n')),
              )
            : null,
        ],
  );
}

export async function trialPage(root: HTMLElement, r: Route): Promise<Page> {
  const id = r.args[0];
  if (!id) throw new Error('No trial named in the address (#/trial/<id>)');
  const sweep = r.params.get('sweep');
  const charts = new Charts();

  const render = async () => {
    const t = await api<TrialDetail>(`/api/trials/${enc(id)}${sweep ? `?sweep=${enc(sweep)}` : ''}`);
    charts.destroy();
    const tr = t.trial as Record<string, unknown>;
    const isBaseline = t.trial.module === null && t.trial.position === null;
    const label = variantLabel(t.trial.module, t.trial.position);
    const num = (k: StatKey, col: string) => formatValue(k, (tr[col] as number | null) ?? null);
    const metrics: [string, string][] = [
      ['mAP50-95', num('map50_95', 'map50_95')],
      ['mAP50', num('map50', 'map50')],
      ['Precision', num('precision', 'precision')],
      ['Recall', num('recall', 'recall')],
      ['Fitness', num('fitness', 'fitness')],
      ['FPS', num('fps', 'fps')],
      ['Latency p50 / p90 (ms)', `${num('latency_ms', 'latency_p50_ms')} / ${num('latency_ms', 'latency_p90_ms')}`],
      ['Params', typeof tr.params === 'number' ? (tr.params as number).toLocaleString('en-US') : '—'],
      ['GFLOPs (run size / 640)', `${num('gflops', 'gflops')} / ${num('gflops_640', 'gflops_640')}`],
      ['Epochs (done / planned), best', `${tr.epochs_done ?? '—'} / ${tr.epochs_planned ?? '—'}, best ${tr.best_epoch ?? '—'}`],
      ['Train seconds', num('train_seconds', 'train_seconds')],
      ['Backend, threads', `${tr.backend ?? '—'}, ${tr.threads ?? '—'}`],
      ['Image size', String(tr.imgsz ?? '—')],
    ];
    const series: CurveSeries = {
      key: id,
      label: `${label} seed ${tr.seed}`,
      epochs: t.epochs.map((e) => e.epoch),
      n: t.epochs.map(() => 1),
      mean: Object.fromEntries(CURVE_KEYS.map((k) => [k, t.epochs.map((e) => e[k])])) as CurveSeries['mean'],
      min: Object.fromEntries(CURVE_KEYS.map((k) => [k, t.epochs.map((e) => e[k])])) as CurveSeries['min'],
      max: Object.fromEntries(CURVE_KEYS.map((k) => [k, t.epochs.map((e) => e[k])])) as CurveSeries['max'],
    };
    const all = [...(t.baselineCurves ? [{ ...t.baselineCurves, label: 'baseline (mean, min–max)' }] : []), series];
    const colors = new Map([
      [BASELINE_KEY, BASELINE_COLOR],
      [id, colorOf(0)],
    ]);
    const grid = h('div', { class: 'curve-grid' });
    const diagnostics = h('section', { class: 'diagnostics', 'data-testid': 'diagnostics' });
    fill(
      root,
      h(
        'div',
        { class: 'crumbs' },
        h('a', { href: '#/' }, 'Sweeps'),
        t.sweep ? [' / ', h('a', { href: href('sweep', [t.sweep]) }, t.sweep)] : null,
        ' / ',
        id,
      ),
      h('h1', { 'data-testid': 'trial-title' }, `Trial ${id}`, ' ', statusBadge(t.trial.status)),
      h(
        'p',
        { class: 'meta' },
        `${label}${t.pretrained ? ` · pretrained from ${t.pretrained.file}` : ''} · seed ${tr.seed} · started ${when(tr.started_at as string | null)}`,
        tr.finished_at
          ? ` · finished ${when(tr.finished_at as string)} (${duration(tr.started_at as string | null, tr.finished_at as string)})`
          : '',
        t.sweeps.length ? [' · in ', t.sweeps.map((s, i) => [i ? ', ' : '', h('a', { href: href('sweep', [s]) }, s)])] : null,
        !isBaseline && t.baseline
          ? [
              ' · ',
              h(
                'a',
                { href: href('compare', [], { trials: `${t.baseline.id},${id}` }) },
                `compare with the baseline (seed ${t.baseline.seed})`,
              ),
            ]
          : null,
      ),
      t.trial.error
        ? h('div', { class: 'error-box', 'data-testid': 'trial-error' }, h('strong', null, `${t.trial.status}: `), t.trial.error)
        : null,
      h('h2', null, 'Results'),
      h(
        'table',
        { class: 'kv', 'data-testid': 'trial-metrics' },
        h(
          'tbody',
          null,
          metrics.map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v))),
        ),
      ),
      h('h2', null, 'COCO evaluation'),
      cocoSection(t.coco),
      h('h2', null, 'Pretrained weights'),
      pretrainedSection(t.pretrained),
      h('h2', null, 'Training curves'),
      t.epochs.length ? grid : h('p', { class: 'muted' }, 'No epochs recorded.'),
      diagnostics,
      h(
        'h2',
        null,
        'Model YAML',
        !isBaseline && t.baseline ? h('span', { class: 'muted small' }, ` diff against the baseline's (trial ${t.baseline.id})`) : null,
      ),
      yamlDiff(t.modelYaml, t.baseline?.modelYaml ?? null, isBaseline),
      h('h2', null, 'Per-layer summary'),
      summaryTable(t.summary),
      h('h2', null, 'Resolved config'),
      pre(json(t.config), 'config'),
      t.moduleArgs !== null ? [h('h2', null, 'Module args'), pre(json(t.moduleArgs))] : null,
      h('h2', null, 'Provenance'),
      t.provenance == null
        ? h('p', { class: 'muted' }, 'No provenance stored (the trial has not started).')
        : pre(json(t.provenance), 'provenance'),
    );
    if (t.epochs.length) charts.add(...curveCharts(grid, all, colors, 'trial-curve'));
    charts.add(...(await trialDiagnostics(diagnostics, id, t.epochs)));
  };
  await render();
  return { refresh: render, destroy: () => charts.destroy() };
}
