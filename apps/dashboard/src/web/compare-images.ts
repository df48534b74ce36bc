/**
 * Compare: the same validation image side by side for two to four trials (a variant stands for its
 * first ok trial): predictions at a shared confidence threshold and, where the trial has one, the
 * inserted module's picture for the same query position (a click on any picture moves all).
 */
import type { CompareItem, TrialListItem } from '../common/api.js';
import type { TrialArtefacts } from '../common/artefacts.js';
import { api } from './api.js';
import { enc, h } from './dom.js';
import { attentionPanel, detectionCanvas } from './val-images.js';

const MAX_SIDE = 4;

async function trialOf(it: CompareItem): Promise<{ id: string; label: string } | null> {
  if (it.kind === 'trial') return { id: it.key, label: it.label };
  if (!it.sweep) return null;
  const { trials } = await api<{ trials: TrialListItem[] }>(`/api/sweeps/${enc(it.sweep)}/trials?variant=${enc(it.key)}&status=ok`);
  const t = trials[0];
  return t ? { id: t.id, label: `${it.label} (trial ${t.id}, seed ${t.seed})` } : null;
}

export async function compareImages(root: HTMLElement, items: CompareItem[]): Promise<void> {
  const picked = (await Promise.all(items.slice(0, MAX_SIDE).map(trialOf))).filter((t): t is { id: string; label: string } => t !== null);
  const arts = await Promise.all(
    picked.map(async (t) => {
      try {
        return await api<TrialArtefacts>(`/api/trials/${enc(t.id)}/artefacts`);
      } catch (e) {
        return { trialId: t.id, artefacts: null, missing: [(e as Error).message] } as TrialArtefacts;
      }
    }),
  );
  const n = Math.max(0, ...arts.map((a) => a.artefacts?.images.length ?? 0));
  root.append(h('h2', null, 'Same validation image'));
  if (items.length > MAX_SIDE) root.append(h('p', { class: 'muted small' }, `The first ${MAX_SIDE} items are shown.`));
  if (n === 0) {
    root.append(
      h('p', { class: 'muted', 'data-testid': 'compare-no-images' }, 'None of these trials has stored validation images (no artefacts).'),
    );
    return;
  }
  let index = 0;
  let conf = 0.25;
  const state = {
    qx: 0.5,
    qy: 0.5,
    onQuery: (x: number, y: number) => {
      state.qx = x;
      state.qy = y;
      void draw();
    },
  };
  const row = h('div', { class: 'compare-images', 'data-testid': 'compare-images' });
  const draw = async () => {
    const cols = await Promise.all(
      picked.map(async (t, k) => {
        const a = arts[k].artefacts;
        const im = a?.images.find((i) => i.index === index);
        const head = h('h4', null, t.label);
        if (!a || !im) {
          return h(
            'div',
            { class: 'compare-col', 'data-trial': t.id },
            head,
            h('p', { class: 'muted', 'data-testid': 'compare-missing' }, a ? `No image ${index}.` : arts[k].missing.join(' ')),
          );
        }
        const c = detectionCanvas(t.id, im, a.names, 300, () => ({ conf, gt: true }), 'compare-image');
        await c.redraw();
        const panel = await attentionPanel(t.id, im, 300, state);
        return h('div', { class: 'compare-col', 'data-trial': t.id }, head, c.el, panel);
      }),
    );
    row.replaceChildren(...cols);
  };
  const sel = h(
    'select',
    {
      'data-testid': 'compare-image-index',
      onchange: (e: Event) => {
        index = Number((e.target as HTMLSelectElement).value);
        void draw();
      },
    },
    Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, `image ${i}`)),
  );
  const slider = h('input', {
    type: 'range',
    min: '0',
    max: '1',
    step: '0.01',
    value: '0.25',
    'data-testid': 'compare-conf',
    onchange: (e: Event) => {
      conf = Number((e.target as HTMLInputElement).value);
      void draw();
    },
  });
  root.append(h('p', null, 'validation image ', sel, ' · confidence ≥ ', slider), row);
  await draw();
}
