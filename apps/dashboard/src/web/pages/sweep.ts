/**
 * The sweep page: the ablation matrix (modules x positions + baseline; mean ± std over seeds, n,
 * difference from the baseline coloured by sign and size; a click lists the cell's trials), a metric
 * selector, exports, the grouped bar chart, accuracy-vs-speed/cost scatter plots with the Pareto front,
 * and training curves of chosen variants with the baseline overlaid.
 */
import type { CellComparison, SweepCurves, SweepDetail, SweepStatsAnswer, TrialListItem, VariantStats } from '../../common/api.js';
import { formatDelta, formatMeanStd, formatValue, isMetricKey, METRIC_KEYS, METRICS, type MetricKey } from '../../common/metrics.js';
import { BASELINE_KEY, variantKey } from '../../common/variant.js';
import { api } from '../api.js';
import { BASELINE_COLOR, barChart, chartBox, colorOf, curveCharts, scatterChart, seedChart } from '../charts.js';
import { duration, enc, fill, h, statusBadge, when } from '../dom.js';
import { Charts, href, type Page, type Route, replaceHash } from '../page.js';

interface State {
  metric: MetricKey;
  /** The test of every cell against the baseline: auto = paired by seed when possible, else Welch. */
  test: 'auto' | 'paired' | 'welch';
  open: string | null;
  compare: Set<string>;
  trialsSel: Set<string>;
  curves: Set<string> | null;
}

const DEFAULT_CURVES = 5;

/** Background colour of a cell: green when better than the baseline, red when worse, stronger when larger. */
export function cellColor(metric: MetricKey, delta: number | null, base: number | null, maxRel: number): string | undefined {
  if (delta === null || base === null || delta === 0) return undefined;
  const rel = base !== 0 ? delta / Math.abs(base) : delta;
  const good = METRICS[metric].higherIsBetter ? rel > 0 : rel < 0;
  const t = Math.min(1, Math.abs(rel) / (maxRel || 1));
  return `hsl(${good ? 135 : 2}, ${good ? 50 : 70}%, ${Math.round(96 - 34 * t)}%)`;
}

export async function sweepPage(root: HTMLElement, r: Route): Promise<Page> {
  const name = r.args[0];
  if (!name) throw new Error('No sweep named in the address (#/sweep/<name>)');
  const m = r.params.get('metric');
  const st: State = {
    metric: m && isMetricKey(m) ? m : 'map50_95',
    test: (['auto', 'paired', 'welch'] as const).find((t) => t === r.params.get('test')) ?? 'auto',
    open: r.params.get('variant'),
    compare: new Set(),
    trialsSel: new Set(),
    curves: null,
  };
  const charts = new Charts();
  const curveCharts_ = new Charts();
  const base = `/api/sweeps/${enc(name)}`;
  let d: SweepDetail;
  let stats: SweepStatsAnswer | null = null;
  const loadStats = async () => {
    stats = await api<SweepStatsAnswer>(`${base}/stats?metric=${st.metric}&test=${st.test}`);
  };

  const header = h('div');
  const matrixEl = h('div', { class: 'section' });
  const panelEl = h('div', { class: 'section trials-panel' });
  const chartsEl = h('div', { class: 'section charts' });
  const curvesEl = h('div', { class: 'section curves' });
  fill(root, header, matrixEl, panelEl, chartsEl, curvesEl);

  const all = () => [...(d.baseline ? [d.baseline] : []), ...d.variants];
  const byKey = (k: string) => all().find((v) => v.key === k);

  const syncHash = () =>
    replaceHash(
      href('sweep', [name], {
        metric: st.metric === 'map50_95' ? undefined : st.metric,
        test: st.test === 'auto' ? undefined : st.test,
        variant: st.open ?? undefined,
      }),
    );

  function renderHeader(): void {
    const c = d.counts;
    const running = c.running > 0;
    const sel = h(
      'select',
      {
        'data-testid': 'metric',
        onchange: async (e: Event) => {
          st.metric = (e.target as HTMLSelectElement).value as MetricKey;
          syncHash();
          await loadStats();
          renderMatrix();
          renderCharts();
          renderHeader();
        },
      },
      METRIC_KEYS.map((k) => h('option', { value: k, selected: k === st.metric }, METRICS[k].label)),
    );
    const testSel = h(
      'select',
      {
        'data-testid': 'test',
        title: 'The test of each cell against the baseline (Holm-corrected over the sweep)',
        onchange: async (e: Event) => {
          st.test = (e.target as HTMLSelectElement).value as State['test'];
          syncHash();
          await loadStats();
          renderMatrix();
          renderHeader();
        },
      },
      (
        [
          ['auto', 'auto (paired by seed when possible, else Welch)'],
          ['paired', 'paired t-test by seed'],
          ['welch', "Welch's t-test"],
        ] as const
      ).map(([k, label]) => h('option', { value: k, selected: k === st.test }, label)),
    );
    const cmpBtn = h(
      'button',
      {
        'data-testid': 'compare-variants',
        disabled: st.compare.size < 2,
        onclick: () => {
          location.hash = href('compare', [], { sweep: name, variants: [...st.compare].join(',') });
        },
      },
      `Compare selected variants (${st.compare.size})`,
    );
    fill(
      header,
      h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Sweeps'), ' / ', name),
      h('h1', null, name, running ? h('span', { class: 'badge st-running live-badge' }, 'running') : null),
      d.description ? h('p', { class: 'muted' }, d.description) : null,
      h(
        'p',
        { class: 'meta' },
        (['ok', 'failed', 'running', 'interrupted', 'pending'] as const).filter((k) => c[k] > 0).map((k) => statusBadge(k, c[k])),
        ` ${c.total} trials · started ${when(d.startedAt ?? d.createdAt)}`,
        d.finishedAt ? ` · last finished ${when(d.finishedAt)} (${duration(d.startedAt, d.finishedAt)})` : '',
        d.experimentFile ? [' · ', h('code', null, d.experimentFile)] : null,
      ),
      h(
        'div',
        { class: 'toolbar' },
        h('label', null, 'Metric ', sel),
        h('label', null, ' Test ', testSel),
        h('span', { class: 'spacer' }),
        h('a', { class: 'button', href: `${base}/export.csv`, download: '', 'data-testid': 'export-csv' }, 'CSV (trials)'),
        h(
          'a',
          { class: 'button', href: `${base}/export.csv?by=variant`, download: '', 'data-testid': 'export-csv-variants' },
          'CSV (variants)',
        ),
        h(
          'a',
          { class: 'button', href: `${base}/export.tex?metric=${st.metric}&test=${st.test}`, download: '', 'data-testid': 'export-tex' },
          `LaTeX (${METRICS[st.metric].label})`,
        ),
        h(
          'a',
          { class: 'button', href: `${base}/export.md?metric=${st.metric}&test=${st.test}`, download: '', 'data-testid': 'export-md' },
          'Markdown',
        ),
        h(
          'a',
          {
            class: 'button',
            href: `${base}/export-stats.csv?metric=${st.metric}&test=${st.test}`,
            download: '',
            'data-testid': 'export-csv-stats',
          },
          'CSV (statistics)',
        ),
        cmpBtn,
      ),
    );
  }

  function cell(v: VariantStats | undefined, rowspan?: number): HTMLElement {
    if (!v) return h('td', { class: 'cell empty' }, '—');
    const s = v.stats[st.metric];
    const b = d.baseline?.stats[st.metric].mean ?? null;
    const isBase = v.key === BASELINE_KEY;
    const delta = !isBase && s.mean !== null && b !== null ? s.mean - b : null;
    const rels = d.variants
      .map((x) => x.stats[st.metric].mean)
      .filter((x): x is number => x !== null && b !== null)
      .map((x) => Math.abs((x - (b as number)) / (b !== 0 ? Math.abs(b as number) : 1)));
    const maxRel = Math.max(1e-12, ...rels);
    const better = delta === null || delta === 0 ? 'same' : delta > 0 === METRICS[st.metric].higherIsBetter ? 'better' : 'worse';
    // Significance against the baseline (Holm over the sweep): not significant = within noise (neutral).
    const cmp: CellComparison | null =
      (!isBase && stats?.analysis.variants.find((x) => x.module === v.module && x.position === v.position)?.comparison) || null;
    const sig = isBase || delta === null ? null : !cmp || cmp.p === null ? 'untestable' : cmp.significant ? 'significant' : 'noise';
    const shown = sig === 'significant' ? better : sig === null ? better : 'same';
    const fmtP = (p: number | null) => (p === null ? '—' : p < 0.001 ? '<0.001' : p.toPrecision(2));
    const testName = (t: CellComparison['test']) => (t === 'paired' ? 'paired t-test by seed' : t === 'welch' ? "Welch's t-test" : 'none');
    const statLine = !cmp
      ? ''
      : cmp.p === null
        ? ` ${s.n < 2 || (d.baseline?.stats[st.metric].n ?? 0) < 2 ? '1 seed: no test possible' : (cmp.note ?? 'no test possible')}.`
        : ` Δ 95% CI [${formatDelta(st.metric, cmp.deltaCi95?.[0] ?? null)}, ${formatDelta(st.metric, cmp.deltaCi95?.[1] ?? null)}]; ` +
          `p ${fmtP(cmp.p)}, p (Holm) ${fmtP(cmp.pHolm)}; ${testName(cmp.test)}` +
          `${cmp.signFlipP !== null ? `; sign-flip p ${fmtP(cmp.signFlipP)}` : ''}; ` +
          `detectable effect (80% power) ${cmp.detectableDelta === null ? '—' : formatValue(st.metric, cmp.detectableDelta)}` +
          `${cmp.note ? `; ${cmp.note}` : ''}.`;
    const c = v.counts;
    const td = h(
      'td',
      {
        class: `cell ${isBase ? 'base' : shown}${sig ? ` sig-${sig}` : ''}${st.open === v.key ? ' open' : ''}`,
        'data-significance': sig ?? '',
        rowspan,
        'data-variant': v.key,
        'data-mean': s.mean ?? '',
        'data-std': s.std ?? '',
        'data-n': s.n,
        'data-delta': delta ?? '',
        title: `${v.label}: ${METRICS[st.metric].label} ${formatMeanStd(st.metric, s.mean, s.std)} over ${s.n} seed(s); min ${formatValue(st.metric, s.min)}, max ${formatValue(st.metric, s.max)}.${statLine} Click for its trials.`,
        style: { background: isBase || sig !== 'significant' ? undefined : cellColor(st.metric, delta, b, maxRel) },
        onclick: () => {
          st.open = st.open === v.key ? null : v.key;
          st.trialsSel.clear();
          syncHash();
          renderMatrix();
          void renderPanel();
        },
      },
      h('input', {
        type: 'checkbox',
        class: 'cmp',
        title: 'Select for comparison',
        checked: st.compare.has(v.key),
        onclick: (e: Event) => {
          e.stopPropagation();
          if ((e.target as HTMLInputElement).checked) st.compare.add(v.key);
          else st.compare.delete(v.key);
          renderHeader();
        },
      }),
      h('div', { class: 'mean' }, formatMeanStd(st.metric, s.mean, s.std)),
      h(
        'div',
        { class: 'sub' },
        h('span', { class: 'n' }, `n=${s.n}`),
        c.failed ? h('span', { class: 'badge st-failed' }, `${c.failed} failed`) : null,
        c.running ? h('span', { class: 'badge st-running' }, `${c.running} running`) : null,
        c.interrupted ? h('span', { class: 'badge st-interrupted' }, `${c.interrupted} interrupted`) : null,
        c.pending ? h('span', { class: 'badge st-pending' }, `${c.pending} pending`) : null,
      ),
      delta !== null
        ? h(
            'div',
            { class: `delta ${shown}` },
            `Δ ${formatDelta(st.metric, delta)}`,
            b ? ` (${((delta / Math.abs(b)) * 100).toFixed(1)}%)` : '',
            sig === 'significant'
              ? h('span', { class: 'marker', title: `significant (p Holm ${fmtP(cmp?.pHolm ?? null)})` }, better === 'better' ? ' ▲' : ' ▼')
              : null,
          )
        : null,
      sig === 'noise'
        ? h('div', { class: 'stat noise', 'data-testid': 'within-noise' }, `within noise (p Holm ${fmtP(cmp?.pHolm ?? null)})`)
        : sig === 'significant'
          ? h('div', { class: 'stat significant' }, `p Holm ${fmtP(cmp?.pHolm ?? null)}`)
          : sig === 'untestable'
            ? h(
                'div',
                { class: 'stat untestable' },
                s.n < 2 || (d.baseline?.stats[st.metric].n ?? 0) < 2 ? '1 seed: no test possible' : 'no test possible',
              )
            : null,
      isBase ? h('div', { class: 'delta' }, 'baseline') : null,
    );
    return td;
  }

  function renderMatrix(): void {
    const info = METRICS[st.metric];
    const nf = stats?.analysis.noiseFloor ?? null;
    const perSeed = stats?.baselineValues ?? [];
    const noiseEl =
      d.baseline && perSeed.length
        ? h(
            'p',
            { class: 'muted small', 'data-testid': 'noise-floor' },
            `Baseline per seed: ${perSeed.map((x) => `seed ${x.seed}: ${formatValue(st.metric, x.value)}`).join(', ')}. `,
            nf
              ? `Seed std ${formatValue(st.metric, nf.std)} (n = ${nf.n}): the noise floor; differences under ${nf.detectableDelta === null ? '—' : formatValue(st.metric, nf.detectableDelta)} are not detectable at ${Math.round((stats?.analysis.power ?? 0.8) * 100)}% power with ${nf.n} seeds. `
              : 'One seed: no noise floor yet; run more seeds. ',
            d.variants.length
              ? `Cells: colour and ▲/▼ only where the difference is significant (Holm over the sweep, alpha ${stats?.analysis.alpha ?? 0.05}); otherwise "within noise".`
              : '',
          )
        : null;
    const rows = d.modules.map((mod, i) =>
      h(
        'tr',
        { 'data-module': mod },
        h('th', { class: 'rowhead' }, mod),
        i === 0 && d.baseline ? cell(d.baseline, d.modules.length) : null,
        d.positions.map((p) => cell(d.variants.find((v) => v.module === mod && v.position === p))),
      ),
    );
    if (d.modules.length === 0 && d.baseline) rows.push(h('tr', null, h('th', { class: 'rowhead' }, '—'), cell(d.baseline)));
    fill(
      matrixEl,
      h(
        'h2',
        null,
        `Ablation matrix: ${info.label}`,
        h(
          'span',
          { class: 'muted small' },
          ` mean ± std over seeds (ok trials)${info.unit ? `, in ${info.unit}` : ''}; Δ vs baseline; ${info.higherIsBetter ? 'higher' : 'lower'} is better`,
        ),
      ),
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'matrix', 'data-testid': 'matrix', 'data-metric': st.metric },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'module \\ position'),
              d.baseline ? h('th', null, 'baseline') : null,
              d.positions.map((p) => h('th', null, p ?? '(none)')),
            ),
          ),
          h('tbody', null, rows),
        ),
      ),
      noiseEl,
    );
  }

  async function renderPanel(): Promise<void> {
    if (!st.open) {
      fill(panelEl);
      return;
    }
    const v = byKey(st.open);
    if (!v) {
      st.open = null;
      fill(panelEl);
      return;
    }
    const key = st.open;
    const { trials } = await api<{ trials: TrialListItem[] }>(`${base}/trials?variant=${enc(key)}`);
    if (st.open !== key) return;
    const num = (k: MetricKey, x: number | null) => h('td', { class: 'num' }, formatValue(k, x));
    const cmp = h(
      'button',
      {
        'data-testid': 'compare-trials',
        disabled: st.trialsSel.size < 2,
        onclick: () => {
          location.hash = href('compare', [], { trials: [...st.trialsSel].join(',') });
        },
      },
      `Compare selected trials (${st.trialsSel.size})`,
    );
    fill(
      panelEl,
      h(
        'h2',
        null,
        `Trials of ${v.label}`,
        h(
          'button',
          {
            class: 'link',
            onclick: () => {
              st.open = null;
              syncHash();
              renderMatrix();
              void renderPanel();
            },
          },
          ' close',
        ),
      ),
      h(
        'table',
        { class: 'grid trials', 'data-testid': 'trials' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['', 'trial', 'seed', 'status', 'mAP50-95', 'mAP50', 'P', 'R', 'FPS', 'epochs', 'error'].map((t) => h('th', null, t)),
          ),
        ),
        h(
          'tbody',
          null,
          trials.map((t) =>
            h(
              'tr',
              { 'data-trial': t.id },
              h(
                'td',
                null,
                h('input', {
                  type: 'checkbox',
                  checked: st.trialsSel.has(t.id),
                  onchange: (e: Event) => {
                    if ((e.target as HTMLInputElement).checked) st.trialsSel.add(t.id);
                    else st.trialsSel.delete(t.id);
                    cmp.disabled = st.trialsSel.size < 2;
                    cmp.textContent = `Compare selected trials (${st.trialsSel.size})`;
                  },
                }),
              ),
              h('td', null, h('a', { href: href('trial', [t.id], { sweep: name }), class: 'trial-link' }, t.id)),
              h('td', { class: 'num' }, t.seed),
              h('td', null, statusBadge(t.status)),
              num('map50_95', t.map50_95),
              num('map50', t.map50),
              num('precision', t.precision),
              num('recall', t.recall),
              num('fps', t.fps),
              h('td', { class: 'num' }, `${t.epochs}${t.epochs_planned ? `/${t.epochs_planned}` : ''}`),
              h('td', { class: 'err' }, t.error ?? ''),
            ),
          ),
        ),
      ),
      h('div', { class: 'toolbar' }, cmp),
    );
  }

  function renderCharts(): void {
    charts.destroy();
    const bar = chartBox('wide', 'bar-chart');
    const seeds = chartBox('wide', 'seed-chart');
    const s1 = chartBox('half', 'scatter-fps');
    const s2 = chartBox('half', 'scatter-gflops');
    fill(chartsEl, h('h2', null, 'Charts'), bar.box, ...(stats ? [seeds.box] : []), h('div', { class: 'row' }, s1.box, s2.box));
    charts.add(barChart(bar.canvas, st.metric, d.modules, d.positions, d.variants, d.baseline, stats));
    if (stats)
      charts.add(
        seedChart(
          seeds.canvas,
          st.metric,
          stats,
          // the matrix's order: modules as rows, positions as columns
          [BASELINE_KEY, ...d.modules.flatMap((m) => d.positions.map((p) => variantKey(m, p)))],
        ),
      );
    charts.add(scatterChart(s1.canvas, 'fps', d.modules, d.variants, d.baseline));
    charts.add(scatterChart(s2.canvas, 'gflops', d.modules, d.variants, d.baseline));
  }

  /** `pending`: the default curves (baseline + top by mAP50-95), requested together with the sweep. */
  async function renderCurves(pending?: Promise<SweepCurves>): Promise<void> {
    let c: SweepCurves | null = null;
    if (!st.curves) {
      c = await (pending ?? api<SweepCurves>(`${base}/curves?top=${DEFAULT_CURVES}`));
      st.curves = new Set(c.variants.map((v) => v.key));
    }
    for (const k of [...st.curves]) if (!byKey(k)) st.curves.delete(k);
    const keys = [...st.curves];
    const picker = h(
      'details',
      { class: 'picker' },
      h(
        'summary',
        null,
        `Variants shown: ${keys.length} of ${all().length} (baseline dashed black; the top ${DEFAULT_CURVES} by mAP50-95 by default)`,
      ),
      h(
        'div',
        { class: 'pick-list' },
        all().map((v) =>
          h(
            'label',
            null,
            h('input', {
              type: 'checkbox',
              checked: st.curves?.has(v.key),
              'data-curve': v.key,
              onchange: (e: Event) => {
                if ((e.target as HTMLInputElement).checked) st.curves?.add(v.key);
                else st.curves?.delete(v.key);
                void renderCurves();
              },
            }),
            ` ${v.label}`,
          ),
        ),
      ),
    );
    const grid = h('div', { class: 'curve-grid' });
    const wasOpen = curvesEl.querySelector('details')?.open ?? false;
    (picker as HTMLDetailsElement).open = wasOpen;
    curveCharts_.destroy();
    if (keys.length === 0) {
      fill(curvesEl, h('h2', null, 'Training curves'), picker, h('p', { class: 'muted' }, 'No variant selected.'));
      return;
    }
    if (!c) c = await api<SweepCurves>(`${base}/curves?variants=${keys.map(enc).join(',')}`);
    const colors = new Map<string, string>();
    let i = 0;
    for (const s of c.variants) colors.set(s.key, s.key === BASELINE_KEY ? BASELINE_COLOR : colorOf(i++));
    fill(curvesEl, h('h2', null, 'Training curves'), picker, grid);
    curveCharts_.add(...curveCharts(grid, c.variants, colors, 'curve'));
  }

  async function load(): Promise<void> {
    // The default curves are requested in parallel with the sweep (the server picks the top variants).
    const pending = st.curves ? undefined : api<SweepCurves>(`${base}/curves?top=${DEFAULT_CURVES}`);
    pending?.catch(() => {});
    [d] = await Promise.all([api<SweepDetail>(base), loadStats()]);
    const mark = (m: string) => performance.mark(`sweep:${m}`);
    mark('data');
    renderHeader();
    renderMatrix();
    mark('matrix');
    renderCharts();
    mark('charts');
    await Promise.all([renderPanel(), renderCurves(pending)]);
    mark('curves');
  }

  await load();
  return {
    refresh: load,
    destroy: () => {
      charts.destroy();
      curveCharts_.destroy();
    },
  };
}
