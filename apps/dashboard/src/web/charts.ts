/**
 * chart.js setup and the dashboard's charts: a grouped bar chart with error bars and a baseline
 * line, accuracy-vs-cost scatter plots with two-way error bars and the Pareto front, and training
 * curves (mean line, min-max band) with the baseline overlaid. Two small plugins draw what chart.js
 * lacks: error bars and a horizontal reference line.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  type ChartDataset,
  type ChartType,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  type Plugin,
  PointElement,
  ScatterController,
  Title,
  Tooltip,
} from 'chart.js';
import type { CurveSeries, VariantStats } from '../common/api.js';
import { CURVE_KEYS, CURVE_LABELS, type CurveKey, formatMeanStd, METRICS, type MetricKey } from '../common/metrics.js';
import { paretoFront } from '../common/pareto.js';
import { h } from './dom.js';

export interface HLineOptions {
  value: number | null;
  label?: string;
  color?: string;
}

declare module 'chart.js' {
  interface PluginOptionsByType<TType extends ChartType> {
    hline?: HLineOptions;
    errorBars?: Record<string, never>;
  }
}

/** Per data point: the interval drawn as an error bar (value units), null for none. */
export interface ErrorInterval {
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
}
type WithErrors = { errorBars?: (ErrorInterval | null)[]; group?: string; band?: boolean };

const errorBarsPlugin: Plugin = {
  id: 'errorBars',
  afterDatasetsDraw(chart) {
    const { ctx } = chart;
    chart.data.datasets.forEach((ds, di) => {
      const bars = (ds as WithErrors).errorBars;
      if (!bars || !chart.isDatasetVisible(di)) return;
      const meta = chart.getDatasetMeta(di);
      const xs = chart.scales[meta.xAxisID ?? 'x'];
      const ys = chart.scales[meta.yAxisID ?? 'y'];
      ctx.save();
      ctx.strokeStyle = 'rgba(20,20,20,0.75)';
      ctx.lineWidth = 1.2;
      meta.data.forEach((el, i) => {
        const e = bars[i];
        if (!e) return;
        const { x, y } = el.getProps(['x', 'y'], true) as { x: number; y: number };
        const cap = 4;
        if (e.yMin !== undefined && e.yMax !== undefined) {
          const y0 = ys.getPixelForValue(e.yMin);
          const y1 = ys.getPixelForValue(e.yMax);
          ctx.beginPath();
          ctx.moveTo(x, y0);
          ctx.lineTo(x, y1);
          ctx.moveTo(x - cap, y0);
          ctx.lineTo(x + cap, y0);
          ctx.moveTo(x - cap, y1);
          ctx.lineTo(x + cap, y1);
          ctx.stroke();
        }
        if (e.xMin !== undefined && e.xMax !== undefined) {
          const x0 = xs.getPixelForValue(e.xMin);
          const x1 = xs.getPixelForValue(e.xMax);
          ctx.beginPath();
          ctx.moveTo(x0, y);
          ctx.lineTo(x1, y);
          ctx.moveTo(x0, y - cap);
          ctx.lineTo(x0, y + cap);
          ctx.moveTo(x1, y - cap);
          ctx.lineTo(x1, y + cap);
          ctx.stroke();
        }
      });
      ctx.restore();
    });
  },
};

const hlinePlugin: Plugin = {
  id: 'hline',
  afterDatasetsDraw(chart, _args, opts: HLineOptions) {
    if (!opts || opts.value === null || opts.value === undefined || !Number.isFinite(opts.value)) return;
    const ys = chart.scales.y;
    const y = ys.getPixelForValue(opts.value);
    const { left, right, top, bottom } = chart.chartArea;
    if (y < top - 0.5 || y > bottom + 0.5) return;
    const { ctx } = chart;
    ctx.save();
    ctx.strokeStyle = opts.color ?? '#111';
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(right, y);
    ctx.stroke();
    if (opts.label) {
      ctx.setLineDash([]);
      ctx.fillStyle = opts.color ?? '#111';
      ctx.font = '11px system-ui, sans-serif';
      ctx.textAlign = 'right';
      ctx.fillText(opts.label, right - 4, y - 4);
    }
    ctx.restore();
  },
};

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
  Tooltip,
  Filler,
  Title,
  errorBarsPlugin,
  hlinePlugin,
);
Chart.defaults.animation = false;
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
Chart.defaults.maintainAspectRatio = false;

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const BASELINE_COLOR = '#111111';

export function colorOf(i: number): string {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 55%, 48%)`;
}

export function alpha(color: string, a: number): string {
  if (color.startsWith('#')) {
    const n = Number.parseInt(color.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }
  return color.replace('hsl(', 'hsla(').replace(')', `, ${a})`);
}

/** A chart in a sized box; the caller keeps the Chart to destroy it on re-render. */
export function chartBox(cls: string, testId: string): { box: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas', { 'data-testid': testId });
  return { box: h('div', { class: `chart ${cls}` }, canvas), canvas };
}

const interval = (mean: number | null, std: number | null) =>
  mean === null || std === null ? null : { yMin: mean - std, yMax: mean + std };

/** Metric by position, one bar per module, error bars = std over seeds, the baseline as a dashed line. */
export function barChart(
  canvas: HTMLCanvasElement,
  metric: MetricKey,
  modules: string[],
  positions: (string | null)[],
  variants: VariantStats[],
  baseline: VariantStats | null,
): Chart {
  const info = METRICS[metric];
  const scale = (v: number | null) => (v === null ? null : v / info.scale);
  const datasets = modules.map((m, i) => {
    const cells = positions.map((p) => variants.find((v) => v.module === m && v.position === p)?.stats[metric]);
    const ds: ChartDataset<'bar', (number | null)[]> & WithErrors = {
      label: m,
      data: cells.map((c) => scale(c?.mean ?? null)),
      backgroundColor: alpha(colorOf(i), 0.8),
      borderColor: colorOf(i),
      borderWidth: 1,
      errorBars: cells.map((c) => interval(scale(c?.mean ?? null), scale(c?.std ?? null))),
    };
    return ds;
  });
  const base = baseline?.stats[metric];
  const cfg: ChartConfiguration<'bar', (number | null)[], string> = {
    type: 'bar',
    data: { labels: positions.map((p) => p ?? '(none)'), datasets },
    options: {
      plugins: {
        title: { display: true, text: `${info.label} by position (mean ± std over seeds)` },
        hline: {
          value: scale(base?.mean ?? null),
          label: base?.mean != null ? `baseline ${formatMeanStd(metric, base.mean, base.std)}` : '',
        },
        tooltip: {
          callbacks: {
            label: (c) => {
              const cell = variants.find((v) => v.module === modules[c.datasetIndex] && v.position === positions[c.dataIndex])?.stats[
                metric
              ];
              return `${modules[c.datasetIndex]}: ${cell ? formatMeanStd(metric, cell.mean, cell.std) : '—'} (n=${cell?.n ?? 0})`;
            },
          },
        },
      },
      scales: {
        // Keep the baseline line inside the plot.
        y: {
          beginAtZero: false,
          suggestedMin: scale(base?.mean ?? null) ?? undefined,
          suggestedMax: scale(base?.mean ?? null) ?? undefined,
          title: { display: true, text: info.label },
        },
      },
    },
  };
  return new Chart(canvas, cfg);
}

interface ScatterPoint {
  x: number;
  y: number;
  label: string;
}

/**
 * mAP50-95 (y) against a cost or speed (x), one point per variant with error bars in both
 * directions, the baseline as a black diamond and the Pareto front as a line.
 */
export function scatterChart(
  canvas: HTMLCanvasElement,
  xKey: 'fps' | 'gflops',
  modules: string[],
  variants: VariantStats[],
  baseline: VariantStats | null,
): Chart {
  const xi = METRICS[xKey];
  const all = [...(baseline ? [baseline] : []), ...variants].filter((v) => v.stats.map50_95.mean !== null && v.stats[xKey].mean !== null);
  const pt = (v: VariantStats): ScatterPoint => ({ x: v.stats[xKey].mean as number, y: v.stats.map50_95.mean as number, label: v.label });
  const err = (v: VariantStats): ErrorInterval => {
    const sx = v.stats[xKey].std;
    const sy = v.stats.map50_95.std;
    const x = v.stats[xKey].mean as number;
    const y = v.stats.map50_95.mean as number;
    return { ...(sx !== null ? { xMin: x - sx, xMax: x + sx } : {}), ...(sy !== null ? { yMin: y - sy, yMax: y + sy } : {}) };
  };
  const datasets: (ChartDataset<'scatter', ScatterPoint[]> & WithErrors)[] = modules.map((m, i) => {
    const vs = all.filter((v) => v.module === m);
    return { label: m, data: vs.map(pt), errorBars: vs.map(err), backgroundColor: colorOf(i), borderColor: colorOf(i), pointRadius: 4 };
  });
  if (baseline && all.includes(baseline)) {
    datasets.unshift({
      label: 'baseline',
      data: [pt(baseline)],
      errorBars: [err(baseline)],
      backgroundColor: BASELINE_COLOR,
      borderColor: BASELINE_COLOR,
      pointStyle: 'rectRot',
      pointRadius: 7,
    });
  }
  const front = paretoFront(all.map(pt), xi.higherIsBetter, true).map((i) => pt(all[i]));
  datasets.push({
    label: 'Pareto front',
    data: front,
    showLine: true,
    borderColor: 'rgba(200, 30, 30, 0.8)',
    backgroundColor: 'rgba(200, 30, 30, 0.8)',
    borderDash: [5, 3],
    borderWidth: 1.5,
    pointRadius: 0,
    order: 10,
  } as ChartDataset<'scatter', ScatterPoint[]>);
  const cfg: ChartConfiguration<'scatter', ScatterPoint[]> = {
    type: 'scatter',
    data: { datasets },
    options: {
      plugins: {
        title: { display: true, text: `mAP50-95 vs ${xi.label} (${xi.higherIsBetter ? 'up and right' : 'up and left'} is better)` },
        tooltip: {
          callbacks: {
            label: (c) => `${(c.raw as ScatterPoint).label}: ${xi.label} ${c.parsed.x?.toFixed(2)}, mAP50-95 ${c.parsed.y?.toFixed(3)}`,
          },
        },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: xi.label } },
        y: { title: { display: true, text: 'mAP50-95' } },
      },
    },
  };
  return new Chart(canvas, cfg);
}

/** One chart per curve (mAP50-95, box, cls, dfl loss): per series its mean line and min-max band. */
export function curveCharts(container: HTMLElement, series: CurveSeries[], colors: Map<string, string>, idPrefix: string): Chart[] {
  const charts: Chart[] = [];
  for (const k of CURVE_KEYS) {
    const { box, canvas } = chartBox('curve', `${idPrefix}-${k}`);
    container.appendChild(box);
    charts.push(curveChart(canvas, k, series, colors));
  }
  return charts;
}

function curveChart(canvas: HTMLCanvasElement, k: CurveKey, series: CurveSeries[], colors: Map<string, string>): Chart {
  type P = { x: number; y: number | null };
  const datasets: (ChartDataset<'line', P[]> & WithErrors)[] = [];
  for (const s of series) {
    const c = colors.get(s.key) ?? '#888';
    const isBase = s.key === 'baseline';
    const pts = (arr: (number | null)[]) => s.epochs.map((e, i) => ({ x: e + 1, y: arr[i] }));
    const hasBand = s.n.some((n) => n > 1);
    if (hasBand) {
      datasets.push({
        label: `${s.label} max`,
        data: pts(s.max[k]),
        borderWidth: 0,
        pointRadius: 0,
        fill: false,
        group: s.key,
        band: true,
        backgroundColor: alpha(c, 0.15),
      });
      datasets.push({
        label: `${s.label} min`,
        data: pts(s.min[k]),
        borderWidth: 0,
        pointRadius: 0,
        fill: '-1',
        group: s.key,
        band: true,
        backgroundColor: alpha(c, isBase ? 0.12 : 0.18),
      });
    }
    datasets.push({
      label: s.label,
      data: pts(s.mean[k]),
      borderColor: c,
      backgroundColor: c,
      borderWidth: isBase ? 2.5 : 1.8,
      borderDash: isBase ? [6, 3] : undefined,
      pointRadius: 0,
      fill: false,
      group: s.key,
    });
  }
  const cfg: ChartConfiguration<'line', P[]> = {
    type: 'line',
    data: { datasets },
    options: {
      parsing: false,
      normalized: true,
      plugins: {
        title: { display: true, text: `${CURVE_LABELS[k]} per epoch (mean, min–max over seeds)` },
        legend: {
          labels: { filter: (item, data) => !(data.datasets[item.datasetIndex ?? 0] as WithErrors).band, boxWidth: 12 },
          onClick: (_e, item, legend) => {
            const ch = legend.chart;
            const group = (ch.data.datasets[item.datasetIndex ?? 0] as WithErrors).group;
            const show = !ch.isDatasetVisible(item.datasetIndex ?? 0);
            ch.data.datasets.forEach((d, i) => {
              if ((d as WithErrors).group === group) ch.setDatasetVisibility(i, show);
            });
            ch.update();
          },
        },
        tooltip: { mode: 'index', intersect: false, filter: (it) => !(it.dataset as WithErrors).band },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } },
        // mAP is never negative: keep 0 at the bottom (an all-zero curve would otherwise centre on 0).
        y: { min: k === 'map50_95' ? 0 : undefined, title: { display: true, text: CURVE_LABELS[k] } },
      },
    },
  };
  return new Chart(canvas, cfg);
}
