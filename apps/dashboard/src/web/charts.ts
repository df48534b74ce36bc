/**
 * chart.js setup and the dashboard's charts: a grouped bar chart with each variant's 95% t-interval over
 * seeds (chartjs-chart-error-bars) and the baseline as a line over its own interval (chartjs-plugin-annotation),
 * the per-seed values (points, over a box where a variant has at least 3 seeds: @sgratzl/chartjs-chart-boxplot),
 * accuracy-vs-cost scatter plots with two-way ± std error bars and the Pareto front, and training curves
 * (mean line, min-max band) with the baseline overlaid.
 */
import { BoxAndWiskers, BoxPlotController } from '@sgratzl/chartjs-chart-boxplot';
import {
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  type ChartDataset,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Title,
  Tooltip,
} from 'chart.js';
import { BarWithErrorBar, BarWithErrorBarsController, PointWithErrorBar, ScatterWithErrorBarsController } from 'chartjs-chart-error-bars';
import annotationPlugin from 'chartjs-plugin-annotation';
import type { CurveSeries, SeedSummary, SweepStatsAnswer, VariantStats } from '../common/api.js';
import { CURVE_KEYS, CURVE_LABELS, type CurveKey, formatMeanStd, formatValue, METRICS, type MetricKey } from '../common/metrics.js';
import { paretoFront } from '../common/pareto.js';
import { variantKey, variantLabel } from '../common/variant.js';
import { h } from './dom.js';

type Grouped = { group?: string; band?: boolean };

Chart.register(
  BarWithErrorBarsController,
  BarWithErrorBar,
  ScatterWithErrorBarsController,
  PointWithErrorBar,
  BoxPlotController,
  BoxAndWiskers,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Legend,
  Tooltip,
  Filler,
  Title,
  annotationPlugin,
);
// For the browser console and the browser tests: Chart.getChart(canvas) reads what a chart holds.
(globalThis as { Chart?: typeof Chart }).Chart = Chart;
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

/** A bar or point with its interval (value units); no yMin/yMax where there is none (n < 2). */
export interface IntervalPoint {
  y: number | null;
  yMin?: number;
  yMax?: number;
}

/** The 95% t-interval of `s` (from the server's seed statistics) as a bar's data, divided by the metric's display scale. */
function intervalPoint(s: SeedSummary | null | undefined, scale: number): IntervalPoint {
  if (!s || s.mean === null) return { y: null };
  return s.ci95 ? { y: s.mean / scale, yMin: s.ci95[0] / scale, yMax: s.ci95[1] / scale } : { y: s.mean / scale };
}

const ciText = (metric: MetricKey, s: SeedSummary | null | undefined) =>
  s?.ci95 ? `95% CI [${formatValue(metric, s.ci95[0])}, ${formatValue(metric, s.ci95[1])}]` : 'no interval (n < 2)';

/**
 * Metric by position, one bar per module at its mean over seeds with the 95% t-interval of the mean as an
 * error bar; the baseline's mean as a dashed line over a band of its own 95% interval. `stats` is the
 * server's analysis of this metric (GET /api/sweeps/:name/stats); without it the bars have no intervals.
 */
export function barChart(
  canvas: HTMLCanvasElement,
  metric: MetricKey,
  modules: string[],
  positions: (string | null)[],
  variants: VariantStats[],
  baseline: VariantStats | null,
  stats: SweepStatsAnswer | null,
): Chart {
  const info = METRICS[metric];
  const summaryOf = (m: string, p: string | null): SeedSummary | null => {
    const a = stats?.analysis.variants.find((v) => v.module === m && v.position === p);
    if (a) return a.summary;
    const s = variants.find((v) => v.module === m && v.position === p)?.stats[metric];
    return s ? { n: s.n, mean: s.mean, std: s.std, ci95: null } : null;
  };
  const datasets = modules.map((m, i) => ({
    label: m,
    data: positions.map((p) => intervalPoint(summaryOf(m, p), info.scale)),
    backgroundColor: alpha(colorOf(i), 0.8),
    borderColor: colorOf(i),
    borderWidth: 1,
    errorBarColor: 'rgba(20, 20, 20, 0.8)',
    errorBarWhiskerColor: 'rgba(20, 20, 20, 0.8)',
  }));
  const bs: SeedSummary | null = stats?.analysis.baseline?.summary ?? (baseline ? { ...baseline.stats[metric], ci95: null } : null);
  const bMean = bs?.mean ?? null;
  const annotations: Record<string, object> = {};
  if (bs?.ci95) {
    annotations.baselineCi = {
      type: 'box',
      yMin: bs.ci95[0] / info.scale,
      yMax: bs.ci95[1] / info.scale,
      backgroundColor: 'rgba(17, 17, 17, 0.07)',
      borderWidth: 0,
      drawTime: 'beforeDatasetsDraw',
    };
  }
  if (bMean !== null) {
    annotations.baseline = {
      type: 'line',
      yMin: bMean / info.scale,
      yMax: bMean / info.scale,
      borderColor: BASELINE_COLOR,
      borderDash: [6, 4],
      borderWidth: 1.5,
      label: {
        display: true,
        content: `baseline ${formatMeanStd(metric, bMean, bs?.std ?? null)}${bs?.ci95 ? ' (band: 95% CI)' : ''}`,
        position: 'end',
        backgroundColor: 'rgba(255, 255, 255, 0.85)',
        color: BASELINE_COLOR,
        font: { size: 11, weight: 'normal' },
        yAdjust: -10,
      },
    };
  }
  const cfg = {
    type: 'barWithErrorBars',
    data: { labels: positions.map((p) => p ?? '(none)'), datasets },
    options: {
      plugins: {
        title: { display: true, text: `${info.label} by position (mean over seeds, error bars: 95% t-interval of the mean)` },
        annotation: { annotations },
        tooltip: {
          callbacks: {
            label: (c: { datasetIndex: number; dataIndex: number }) => {
              const m = modules[c.datasetIndex];
              const s = summaryOf(m, positions[c.dataIndex]);
              return `${m}: ${s?.mean != null ? formatMeanStd(metric, s.mean, s.std) : '—'} (n=${s?.n ?? 0}), ${ciText(metric, s)}`;
            },
          },
        },
      },
      scales: {
        // Keep the baseline line inside the plot.
        y: {
          beginAtZero: false,
          suggestedMin: bMean === null ? undefined : bMean / info.scale,
          suggestedMax: bMean === null ? undefined : bMean / info.scale,
          title: { display: true, text: info.label },
        },
      },
    },
  };
  return new Chart(canvas, cfg as unknown as ChartConfiguration);
}

/** Variants with at least this many seeds get a box over their points in the per-seed chart. */
export const BOX_MIN_SEEDS = 3;

/**
 * The metric's value per seed and variant (baseline first): the points of every seed, and where a variant
 * has at least BOX_MIN_SEEDS seeds, a box (quartiles, whiskers at 1.5 IQR) under them. Dataset 0 holds the
 * boxes (null for fewer seeds), dataset 1 the points of the variants without a box.
 */
export function seedChart(canvas: HTMLCanvasElement, metric: MetricKey, stats: SweepStatsAnswer, order: string[] = []): Chart {
  const info = METRICS[metric];
  // In the matrix's order (variant keys); variants it does not list go last.
  const rank = (r: { module: string | null; position: string | null }) => {
    const i = order.indexOf(variantKey(r.module, r.position));
    return i < 0 ? order.length : i;
  };
  const rows = stats.seedValues.filter((r) => r.values.length > 0).sort((a, b) => rank(a) - rank(b));
  const labels = rows.map((r) => variantLabel(r.module, r.position));
  const scaled = (vs: number[]) => vs.map((v) => v / info.scale);
  const boxes = rows.map((r) => (r.values.length >= BOX_MIN_SEEDS ? scaled(r.values) : null));
  const points = rows.flatMap((r, i) => (r.values.length < BOX_MIN_SEEDS ? scaled(r.values).map((y) => ({ x: labels[i], y })) : []));
  const cfg = {
    type: 'boxplot',
    data: {
      labels,
      datasets: [
        {
          label: `per seed, box where n ≥ ${BOX_MIN_SEEDS}`,
          data: boxes,
          backgroundColor: alpha(colorOf(0), 0.25),
          borderColor: colorOf(0),
          borderWidth: 1,
          itemRadius: 3,
          itemBackgroundColor: BASELINE_COLOR,
          itemBorderColor: BASELINE_COLOR,
          outlierRadius: 3,
          coef: 1.5,
        },
        {
          type: 'line',
          label: `per seed (n < ${BOX_MIN_SEEDS}: no box)`,
          data: points,
          showLine: false,
          pointRadius: 3,
          pointStyle: 'circle',
          backgroundColor: BASELINE_COLOR,
          borderColor: BASELINE_COLOR,
        },
      ],
    },
    options: {
      plugins: {
        title: {
          display: true,
          text: `${info.label} per seed (box: quartiles and 1.5 IQR whiskers, where a variant has ≥ ${BOX_MIN_SEEDS} seeds)`,
        },
      },
      scales: { y: { beginAtZero: false, grace: '8%', title: { display: true, text: info.label } } },
    },
  };
  return new Chart(canvas, cfg as unknown as ChartConfiguration);
}

interface ScatterPoint {
  x: number;
  y: number;
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
  label: string;
}

/**
 * mAP50-95 (y) against a cost or speed (x), one point per variant with ± std error bars in both
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
  const pt = (v: VariantStats): ScatterPoint => {
    const x = v.stats[xKey].mean as number;
    const y = v.stats.map50_95.mean as number;
    const sx = v.stats[xKey].std;
    const sy = v.stats.map50_95.std;
    return {
      x,
      y,
      label: v.label,
      ...(sx !== null ? { xMin: x - sx, xMax: x + sx } : {}),
      ...(sy !== null ? { yMin: y - sy, yMax: y + sy } : {}),
    };
  };
  const datasets: ChartDataset<'scatter', ScatterPoint[]>[] = modules.map((m, i) => {
    const vs = all.filter((v) => v.module === m);
    return { label: m, data: vs.map(pt), backgroundColor: colorOf(i), borderColor: colorOf(i), pointRadius: 4 };
  });
  if (baseline && all.includes(baseline)) {
    datasets.unshift({
      label: 'baseline',
      data: [pt(baseline)],
      backgroundColor: BASELINE_COLOR,
      borderColor: BASELINE_COLOR,
      pointStyle: 'rectRot',
      pointRadius: 7,
    });
  }
  const front = paretoFront(all.map(pt), xi.higherIsBetter, true).map((i) => {
    const p = pt(all[i]);
    return { x: p.x, y: p.y, label: p.label };
  });
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
  const cfg = {
    type: 'scatterWithErrorBars',
    data: { datasets },
    options: {
      plugins: {
        title: {
          display: true,
          text: `mAP50-95 vs ${xi.label} (${xi.higherIsBetter ? 'up and right' : 'up and left'} is better; error bars ± std)`,
        },
        tooltip: {
          callbacks: {
            label: (c: { raw: unknown; parsed: { x?: number; y?: number } }) =>
              `${(c.raw as ScatterPoint).label}: ${xi.label} ${c.parsed.x?.toFixed(2)}, mAP50-95 ${c.parsed.y?.toFixed(3)}`,
          },
        },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: xi.label } },
        y: { title: { display: true, text: 'mAP50-95' } },
      },
    },
  };
  return new Chart(canvas, cfg as unknown as ChartConfiguration);
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
  const datasets: (ChartDataset<'line', P[]> & Grouped)[] = [];
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
          labels: { filter: (item, data) => !(data.datasets[item.datasetIndex ?? 0] as Grouped).band, boxWidth: 12 },
          onClick: (_e, item, legend) => {
            const ch = legend.chart;
            const group = (ch.data.datasets[item.datasetIndex ?? 0] as Grouped).group;
            const show = !ch.isDatasetVisible(item.datasetIndex ?? 0);
            ch.data.datasets.forEach((d, i) => {
              if ((d as Grouped).group === group) ch.setDatasetVisibility(i, show);
            });
            ch.update();
          },
        },
        tooltip: { mode: 'index', intersect: false, filter: (it) => !(it.dataset as Grouped).band },
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
