/** The sweeps list: per sweep its trial counts by status, when it ran, and its best variant. */
import type { SweepListItem } from '../../common/api.js';
import { formatDelta, formatValue } from '../../common/metrics.js';
import { api } from '../api.js';
import { duration, fill, h, statusBadge, when } from '../dom.js';
import { href, type Page, type Route } from '../page.js';

export async function sweepsPage(root: HTMLElement, _r: Route): Promise<Page> {
  const render = async () => {
    const { sweeps } = await api<{ sweeps: SweepListItem[] }>('/api/sweeps');
    const body = sweeps.map((s) =>
      h(
        'tr',
        { 'data-sweep': s.name },
        h(
          'td',
          null,
          h('a', { href: href('sweep', [s.name]), class: 'sweep-link' }, s.name),
          s.description ? h('div', { class: 'muted small' }, s.description) : null,
        ),
        h(
          'td',
          { class: 'counts' },
          (['ok', 'failed', 'running', 'interrupted', 'pending'] as const)
            .filter((k) => s.counts[k] > 0)
            .map((k) => statusBadge(k, s.counts[k])),
          h('span', { class: 'muted small' }, ` of ${s.counts.total}`),
        ),
        h(
          'td',
          null,
          when(s.startedAt ?? s.createdAt),
          h(
            'div',
            { class: 'muted small' },
            s.finishedAt ? `last finished ${when(s.finishedAt)} · ${duration(s.startedAt, s.finishedAt)}` : 'nothing finished yet',
          ),
        ),
        h(
          'td',
          { class: 'best' },
          s.best
            ? [
                h('a', { href: href('sweep', [s.name], { variant: s.best.key }), class: 'best-link' }, s.best.label),
                ` mAP50-95 ${formatValue('map50_95', s.best.map50_95)}`,
                s.best.delta !== null
                  ? h('span', { class: s.best.delta >= 0 ? 'pos' : 'neg' }, ` (${formatDelta('map50_95', s.best.delta)} vs baseline)`)
                  : null,
              ]
            : h('span', { class: 'muted' }, '—'),
        ),
      ),
    );
    fill(
      root,
      h('h1', null, 'Sweeps'),
      sweeps.length === 0
        ? h('p', { class: 'muted' }, 'The database has no sweeps yet. Run one: ', h('code', null, 'pnpm sweep experiments/smoke.yaml'))
        : h(
            'table',
            { class: 'grid sweeps', 'data-testid': 'sweeps' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, 'Sweep'),
                h('th', null, 'Trials'),
                h('th', null, 'Ran'),
                h('th', null, 'Best variant (mAP50-95)'),
              ),
            ),
            h('tbody', null, body),
          ),
    );
  };
  await render();
  return { refresh: render, destroy: () => {} };
}
