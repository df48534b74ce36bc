/**
 * Ultralytics' diagnostic plots from a trial's artefacts, drawn with chart.js and plain canvas:
 * results curves per epoch (results.png), the PR curve (per class + all, AP50 in the legend), the P-, R-
 * and F1-confidence curves with the confidence where P/R are read marked, the confusion matrix (counts or
 * column-normalised as ConfusionMatrix.plot, with the background row/column) and the label statistics
 * (labels.jpg: class counts, centre and size histograms).
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Title,
  Tooltip,
} from 'chart.js';
import type { EpochRow } from '../common/api.js';
import type { ArtefactsData, NamedCurve } from '../common/artefacts.js';
import { colorOf } from './charts.js';
import { h } from './dom.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Legend,
  Title,
  Tooltip,
);

const ALL_COLOR = '#1f3a93';

function box(testId: string, cls = 'diag-chart'): { el: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas', { 'data-testid': testId });
  return { el: h('div', { class: `chart ${cls}` }, canvas), canvas };
}

const xy = (x: number[], y: number[]) => x.map((v, i) => ({ x: v, y: y[i] }));

/** results.png: one small chart per logged quantity. */
export const RESULT_KEYS: [keyof EpochRow & string, string][] = [
  ['box_loss', 'train/box_loss'],
  ['cls_loss', 'train/cls_loss'],
  ['dfl_loss', 'train/dfl_loss'],
  ['precision', 'metrics/precision(B)'],
  ['recall', 'metrics/recall(B)'],
  ['map50', 'metrics/mAP50(B)'],
  ['map50_95', 'metrics/mAP50-95(B)'],
  ['lr', 'lr/pg1'],
];

export function resultsCharts(container: HTMLElement, epochs: EpochRow[]): Chart[] {
  const charts: Chart[] = [];
  for (const [key, title] of RESULT_KEYS) {
    const b = box(`results-${key}`, 'diag-small');
    container.appendChild(b.el);
    const ys = epochs.map((e) => (e[key] as number | null) ?? null);
    charts.push(
      new Chart(b.canvas, {
        type: 'line',
        data: {
          labels: epochs.map((e) => e.epoch + 1),
          datasets: [{ label: title, data: ys, borderColor: colorOf(0), backgroundColor: colorOf(0), pointRadius: 2, borderWidth: 1.5 }],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { legend: { display: false }, title: { display: true, text: title } },
          scales: { x: { title: { display: true, text: 'epoch' } } },
        },
      }),
    );
  }
  return charts;
}

function curveDatasets(x: number[], curves: NamedCurve[], label: (c: NamedCurve) => string) {
  return curves.map((c, i) => ({
    label: label(c),
    data: xy(x, c.values),
    borderColor: colorOf(i),
    backgroundColor: colorOf(i),
    borderWidth: 1,
    pointRadius: 0,
    showLine: true,
  }));
}

/** plot_pr_curve: per class (AP50 in the legend) and all classes (mAP50). */
export function prChart(container: HTMLElement, a: ArtefactsData): Chart | null {
  if (!a.pr) return null;
  const pr = a.pr;
  const b = box('pr-curve');
  const legendTable = h(
    'table',
    { class: 'grid small', 'data-testid': 'pr-ap' },
    h('thead', null, h('tr', null, h('th', null, 'class'), h('th', null, 'GT boxes'), h('th', null, 'AP50'))),
    h(
      'tbody',
      null,
      pr.classes.map((c) =>
        h(
          'tr',
          { 'data-class': c.name, 'data-ap': c.ap50 },
          h('td', null, c.name),
          h('td', { class: 'num' }, c.nGt),
          h('td', { class: 'num' }, c.ap50.toFixed(3)),
        ),
      ),
      h(
        'tr',
        { 'data-class': 'all', 'data-ap': pr.map50 },
        h('th', null, 'all classes'),
        h(
          'td',
          { class: 'num' },
          pr.classes.reduce((s, c) => s + c.nGt, 0),
        ),
        h('th', { class: 'num' }, pr.map50.toFixed(3)),
      ),
    ),
  );
  container.append(b.el, legendTable);
  const withCurve = pr.classes.filter((c) => c.curve);
  return new Chart(b.canvas, {
    type: 'scatter',
    data: {
      datasets: [
        ...curveDatasets(pr.x, withCurve, (c) => `${c.name} ${(withCurve.find((w) => w.cls === c.cls)?.ap50 ?? 0).toFixed(3)}`),
        {
          label: `all classes ${pr.map50.toFixed(3)} mAP@0.5`,
          data: xy(pr.x, pr.all),
          borderColor: ALL_COLOR,
          backgroundColor: ALL_COLOR,
          borderWidth: 3,
          pointRadius: 0,
          showLine: true,
        },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { title: { display: true, text: 'Precision-Recall curve (IoU 0.5)' }, tooltip: { enabled: false } },
      scales: {
        x: { min: 0, max: 1, title: { display: true, text: 'Recall' } },
        y: { min: 0, max: 1, title: { display: true, text: 'Precision' } },
      },
    },
  });
}

/** plot_mc_curve for P, R and F1 against confidence, with the confidence where P and R are read. */
export function confidenceCharts(container: HTMLElement, a: ArtefactsData): Chart[] {
  const c = a.confidence;
  if (!c) return [];
  const out: Chart[] = [];
  const parts: [string, NamedCurve[], number[]][] = [
    ['F1', c.f1, c.all.f1],
    ['Precision', c.p, c.all.p],
    ['Recall', c.r, c.all.r],
  ];
  for (const [name, curves, all] of parts) {
    const b = box(`conf-${name.toLowerCase()}`);
    container.appendChild(b.el);
    let k = 0;
    for (let i = 1; i < all.length; i++) if (all[i] > all[k]) k = i;
    const bestAt = c.bestF1.conf;
    out.push(
      new Chart(b.canvas, {
        type: 'scatter',
        data: {
          datasets: [
            ...curveDatasets(c.x, curves, (cv) => cv.name),
            {
              label: `all classes ${all[k].toFixed(2)} at ${c.x[k].toFixed(3)}`,
              data: xy(c.x, all),
              borderColor: ALL_COLOR,
              backgroundColor: ALL_COLOR,
              borderWidth: 3,
              pointRadius: 0,
              showLine: true,
            },
            {
              label: `best F1 (P/R read) at conf ${bestAt.toFixed(3)}`,
              data: [
                { x: bestAt, y: 0 },
                { x: bestAt, y: 1 },
              ],
              borderColor: '#c0392b',
              backgroundColor: '#c0392b',
              borderDash: [6, 4],
              borderWidth: 1.5,
              pointRadius: 0,
              showLine: true,
            },
          ],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { title: { display: true, text: `${name}-Confidence curve` }, tooltip: { enabled: false } },
          scales: {
            x: { min: 0, max: 1, title: { display: true, text: 'Confidence' } },
            y: { min: 0, max: 1, title: { display: true, text: name } },
          },
        },
      }),
    );
  }
  return out;
}

/** ConfusionMatrix.plot: rows predicted, columns true, background last; normalised per true class (column). */
export function confusionTable(a: ArtefactsData): HTMLElement {
  const { matrix, labels, conf, iou } = a.confusion;
  const colSums = labels.map((_, j) => matrix.reduce((s, row) => s + row[j], 0));
  const wrap = h('div', { class: 'confusion' });
  const render = (normalise: boolean) => {
    const max = Math.max(1, ...matrix.flat());
    const table = h(
      'table',
      { class: 'grid confusion-matrix', 'data-testid': 'confusion', 'data-normalised': normalise ? '1' : '0' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, 'predicted \\ true'),
          labels.map((l) => h('th', null, l)),
        ),
      ),
      h(
        'tbody',
        null,
        matrix.map((row, i) =>
          h(
            'tr',
            null,
            h('th', null, labels[i]),
            row.map((v, j) => {
              const shown = normalise ? v / (colSums[j] + 1e-9) : v;
              const t = normalise ? shown : v / max;
              return h(
                'td',
                {
                  class: 'num',
                  'data-row': i,
                  'data-col': j,
                  'data-count': v,
                  style: { background: `rgba(31, 58, 147, ${Math.min(1, t) * 0.85})`, color: t > 0.5 ? '#fff' : '#111' },
                  title: `predicted ${labels[i]}, true ${labels[j]}: ${v}`,
                },
                normalise ? (shown < 0.005 ? '' : shown.toFixed(2)) : String(v),
              );
            }),
          ),
        ),
      ),
    );
    wrap.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        `Confusion matrix at conf ${conf} / IoU ${iou} (Ultralytics' values), rows predicted, columns true; `,
        h(
          'label',
          null,
          h('input', {
            type: 'checkbox',
            'data-testid': 'confusion-normalise',
            checked: normalise,
            onchange: (e: Event) => render((e.target as HTMLInputElement).checked),
          }),
          ' normalised per true class',
        ),
      ),
      table,
    );
  };
  render(false);
  return wrap;
}

/** A 2-D histogram as a heatmap canvas (row 0 at the top). */
function heatmap(values: number[][], testId: string, xLabel: string, yLabel: string): HTMLElement {
  const n = values.length;
  const m = values[0]?.length ?? 0;
  const cell = 12;
  const canvas = h('canvas', { width: m * cell, height: n * cell, 'data-testid': testId, class: 'heatmap' }) as HTMLCanvasElement;
  const ctx = canvas.getContext('2d');
  const max = Math.max(1, ...values.flat());
  if (ctx) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        const t = values[i][j] / max;
        ctx.fillStyle = t === 0 ? '#f4f6fb' : `rgba(31, 58, 147, ${0.15 + 0.85 * t})`;
        ctx.fillRect(j * cell, i * cell, cell, cell);
      }
    }
  }
  return h('figure', { class: 'heat' }, canvas, h('figcaption', null, `${xLabel} (→) vs ${yLabel} (↓), 0..1`));
}

/** plot_labels: instances per class, centre x/y and width/height histograms. */
export function labelPlots(container: HTMLElement, a: ArtefactsData): Chart {
  const l = a.labels;
  const b = box('labels-classes', 'diag-small');
  container.append(
    h(
      'p',
      { class: 'muted' },
      `${l.boxes} boxes in ${l.images} training images${l.truncated ? ' (the first images only: the set is larger than the bound)' : ''}.`,
    ),
    h('div', { class: 'label-plots' }, b.el, heatmap(l.xy, 'labels-xy', 'x', 'y'), heatmap(l.wh, 'labels-wh', 'width', 'height')),
  );
  return new Chart(b.canvas, {
    type: 'bar',
    data: { labels: a.names, datasets: [{ label: 'instances', data: l.classCounts, backgroundColor: a.names.map((_, i) => colorOf(i)) }] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false }, title: { display: true, text: 'instances per class' } },
    },
  });
}
