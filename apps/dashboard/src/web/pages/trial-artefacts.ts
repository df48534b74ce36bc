/**
 * The trial page's diagnostics at the best epoch (issue 12): results curves of every logged quantity,
 * the PR and confidence curves, the confusion matrix, label statistics, the validation images with
 * predictions, and the inserted module's own picture for a clicked query. A trial without artefacts shows
 * what is missing.
 */
import type { Chart } from 'chart.js';
import type { EpochRow } from '../../common/api.js';
import type { ArtefactImage, TrialArtefacts } from '../../common/artefacts.js';
import { api } from '../api.js';
import { confidenceCharts, confusionTable, labelPlots, prChart, resultsCharts } from '../artefact-plots.js';
import { enc, h } from '../dom.js';
import { attentionPanel, detectionCanvas, imageGrid } from '../val-images.js';

/** Renders into `root`; returns the charts to destroy on re-render. */
export async function trialDiagnostics(root: HTMLElement, trialId: string, epochs: EpochRow[]): Promise<Chart[]> {
  const charts: Chart[] = [];
  const results = h('div', { class: 'diag-grid', 'data-testid': 'results-grid' });
  root.append(
    h('h2', null, 'Results per epoch'),
    epochs.length ? results : h('p', { class: 'muted' }, 'No epochs recorded.'),
    h(
      'p',
      { class: 'muted small' },
      'Training losses, validation P, R, mAP50, mAP50-95 and the learning rate of the weights group (Ultralytics results.png; validation losses are not stored).',
    ),
  );
  if (epochs.length) charts.push(...resultsCharts(results, epochs));

  let art: TrialArtefacts;
  try {
    art = await api<TrialArtefacts>(`/api/trials/${enc(trialId)}/artefacts`);
  } catch (e) {
    root.append(
      h('div', { class: 'error-box', 'data-testid': 'artefacts-missing' }, `Diagnostics could not be read: ${(e as Error).message}`),
    );
    return charts;
  }
  const a = art.artefacts;
  root.append(
    h(
      'h2',
      null,
      'Diagnostics at the best epoch',
      a ? h('span', { class: 'muted small' }, ` epoch ${a.epoch}, ${a.imgsz} px, made in ${a.seconds.toFixed(1)} s`) : null,
    ),
  );
  if (art.missing.length) {
    root.append(
      h(
        'div',
        { class: 'warn-box', 'data-testid': 'artefacts-missing' },
        h('strong', null, 'Missing: '),
        h(
          'ul',
          null,
          art.missing.map((m) => h('li', null, m)),
        ),
      ),
    );
  }
  if (!a) return charts;

  const pr = h('div', { class: 'diag-pr' });
  const conf = h('div', { class: 'diag-grid' });
  const labels = h('div', null);
  root.append(
    h('h3', null, 'Precision-recall'),
    pr,
    h('h3', null, 'P, R and F1 against confidence'),
    conf,
    h('h3', null, 'Confusion matrix'),
    confusionTable(a),
    h('h3', null, 'Labels (training set)'),
    labels,
  );
  const prc = prChart(pr, a);
  if (prc) charts.push(prc);
  charts.push(...confidenceCharts(conf, a));
  charts.push(labelPlots(labels, a));

  root.append(h('h3', null, `Validation images (the first ${a.images.length}, file order, letterboxed as the model saw them)`));
  if (a.images.length === 0) {
    root.append(h('p', { class: 'muted' }, 'No validation images stored.'));
    return charts;
  }
  const detail = h('div', { class: 'val-detail', 'data-testid': 'val-detail' });
  const state = { qx: 0.5, qy: 0.5 };
  let grid: ReturnType<typeof imageGrid>;
  const select = async (im: ArtefactImage) => {
    const big = detectionCanvas(trialId, im, a.names, 420, () => ({ conf: grid.conf(), gt: true }), 'val-image-large');
    await big.redraw();
    const panel = await attentionPanel(trialId, im, 420, state);
    detail.replaceChildren(h('h4', null, `Image ${im.index}: ${im.source}`), h('div', { class: 'val-pair' }, big.el, panel));
  };
  grid = imageGrid(trialId, a, (im) => void select(im));
  root.append(grid.el, detail);
  return charts;
}
