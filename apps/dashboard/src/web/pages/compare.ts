/** Compare: two or more variants (of a sweep) and/or trials side by side: metrics, differences, curves. */
import type { CompareResult } from '../../common/api.js';
import { formatDelta, formatMeanStd, METRICS, STAT_KEYS } from '../../common/metrics.js';
import { BASELINE_KEY } from '../../common/variant.js';
import { api } from '../api.js';
import { BASELINE_COLOR, colorOf, curveCharts } from '../charts.js';
import { compareImages } from '../compare-images.js';
import { enc, fill, h, statusBadge } from '../dom.js';
import { Charts, href, type Page, type Route } from '../page.js';

export async function comparePage(root: HTMLElement, r: Route): Promise<Page> {
  const sweep = r.params.get('sweep');
  const variants = r.params.get('variants');
  const trials = r.params.get('trials');
  const qs = [sweep ? `sweep=${enc(sweep)}` : '', variants ? `variants=${enc(variants)}` : '', trials ? `trials=${enc(trials)}` : '']
    .filter(Boolean)
    .join('&');
  const charts = new Charts();

  const render = async () => {
    const { items } = await api<CompareResult>(`/api/compare?${qs}`);
    charts.destroy();
    const first = items[0];
    const rows = STAT_KEYS.map((k) => {
      const info = METRICS[k];
      const means = items.map((it) => it.stats[k].mean);
      const valid = means.filter((m): m is number => m !== null);
      const best = valid.length ? (info.higherIsBetter ? Math.max(...valid) : Math.min(...valid)) : null;
      return h(
        'tr',
        { 'data-stat': k },
        h('th', null, info.label),
        items.map((it, i) => {
          const s = it.stats[k];
          const d = i > 0 && s.mean !== null && first.stats[k].mean !== null ? s.mean - (first.stats[k].mean as number) : null;
          const good = d === null || d === 0 ? '' : d > 0 === info.higherIsBetter ? 'pos' : 'neg';
          return h(
            'td',
            { class: `num${best !== null && s.mean === best && valid.length > 1 ? ' best' : ''}` },
            formatMeanStd(k, s.mean, s.std),
            it.kind === 'variant' ? h('span', { class: 'muted small' }, ` n=${s.n}`) : null,
            d !== null ? h('div', { class: `small ${good}` }, `${formatDelta(k, d)} vs first`) : null,
          );
        }),
      );
    });
    const colors = new Map<string, string>();
    let c = 0;
    for (const it of items) colors.set(it.curves.key, it.curves.key === BASELINE_KEY ? BASELINE_COLOR : colorOf(c++));
    const grid = h('div', { class: 'curve-grid' });
    const images = h('section', { class: 'compare-diagnostics' });
    fill(
      root,
      h(
        'div',
        { class: 'crumbs' },
        h('a', { href: '#/' }, 'Sweeps'),
        sweep ? [' / ', h('a', { href: href('sweep', [sweep]) }, sweep)] : null,
        ' / compare',
      ),
      h(
        'h1',
        null,
        `Compare ${items.length} ${items.every((i) => i.kind === 'trial') ? 'trials' : items.every((i) => i.kind === 'variant') ? 'variants' : 'items'}`,
      ),
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'grid compare', 'data-testid': 'compare' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, ''),
              items.map((it) =>
                h(
                  'th',
                  null,
                  it.kind === 'trial' ? h('a', { href: href('trial', [it.key]) }, it.label) : it.label,
                  it.status ? [' ', statusBadge(it.status)] : null,
                ),
              ),
            ),
          ),
          h('tbody', null, rows),
        ),
      ),
      h(
        'p',
        { class: 'muted small' },
        'Mean ± std over seeds (ok trials) for variants; differences against the first column; the best value of each row in bold.',
      ),
      h('h2', null, 'Training curves'),
      grid,
      images,
    );
    charts.add(
      ...curveCharts(
        grid,
        items.map((it) => it.curves),
        colors,
        'compare-curve',
      ),
    );
    await compareImages(images, items);
  };
  await render();
  return { refresh: render, destroy: () => charts.destroy() };
}
