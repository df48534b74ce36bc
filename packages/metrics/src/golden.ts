/**
 * Comparison of this package against the Ultralytics reference scenarios of
 * `fixtures/golden/yolov8/metrics.json` / `metrics_edge.json` (format: see that folder's README.md):
 * runs DetectionMetrics on the scenario's images and compares every reported number (absolute error),
 * and the per-prediction `correct` matrices, class lists and counts exactly.
 * Used by the package tests and by the runner's golden evaluator.
 */
import { DetectionMetrics, type DetectionResults } from './det-metrics.js';
import { IOU_THRESHOLDS } from './match.js';

export interface MetricsScenario {
  nc: number;
  images: { id?: number; gt: number[][]; preds: number[][]; correct: number[][] }[];
  iou_thresholds_float32?: number[];
  results: {
    processed: boolean;
    mp: number;
    mr: number;
    map50: number;
    map75: number;
    map: number;
    fitness: number;
    results_dict?: Record<string, number>;
    nt_per_class: number[];
    maps: number[];
    ap_class_index: number[];
    per_class: {
      class: number;
      n_gt: number;
      n_pred: number;
      P: number;
      R: number;
      F1: number;
      AP50: number;
      'AP50-95': number;
      AP_per_iou: number[];
    }[];
    max_f1_index?: number;
    max_f1_conf?: number;
  };
}

export interface ScenarioComparison {
  /** Numbers compared (absolute error). */
  numbers: number;
  /** Worst absolute error over them, and where. */
  worst: number;
  worstAt: string;
  /** Exact checks that failed (correct matrix, class lists, counts, processed flag): descriptions. */
  exactFailures: string[];
  results: DetectionResults;
}

/** Runs one scenario and compares everything it reports. */
export function compareMetricsScenario(s: MetricsScenario): ScenarioComparison {
  const failures: string[] = [];
  if (s.iou_thresholds_float32) {
    s.iou_thresholds_float32.forEach((t, i) => {
      if (t !== IOU_THRESHOLDS[i]) failures.push(`iou threshold ${i}: ${IOU_THRESHOLDS[i]} vs reference ${t}`);
    });
  }
  const m = new DetectionMetrics(s.nc);
  s.images.forEach((im, k) => {
    const got = m.update(im.preds, im.gt);
    if (im.preds.length && got.length !== im.preds.length) {
      failures.push(`image ${im.id ?? k}: ${got.length} correct rows for ${im.preds.length} predictions`);
    }
    im.correct.forEach((row, p) => {
      const g = got[p] ?? [];
      row.forEach((v, t) => {
        if (Boolean(v) !== Boolean(g[t]))
          failures.push(`image ${im.id ?? k} pred ${p} threshold ${t}: correct ${Boolean(g[t])} vs ${Boolean(v)}`);
      });
    });
  });
  const r = m.compute();
  const ref = s.results;
  const eqList = (name: string, a: number[], b: number[]) => {
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) failures.push(`${name}: [${a}] vs reference [${b}]`);
  };
  if (r.processed !== ref.processed) failures.push(`processed: ${r.processed} vs reference ${ref.processed}`);
  eqList('nt_per_class', r.ntPerClass, ref.nt_per_class);
  eqList('ap_class_index', r.apClassIndex, ref.ap_class_index);
  if (ref.max_f1_index !== undefined && r.processed && r.maxF1Index !== ref.max_f1_index) {
    failures.push(`max_f1_index: ${r.maxF1Index} vs reference ${ref.max_f1_index}`);
  }
  let worst = 0;
  let worstAt = '';
  let numbers = 0;
  const num = (name: string, got: number | undefined, want: number) => {
    numbers += 1;
    const e = got === undefined || Number.isNaN(got) ? Number.POSITIVE_INFINITY : Math.abs(got - want);
    if (e > worst || numbers === 1) {
      worst = e;
      worstAt = name;
    }
  };
  num('mp', r.precision, ref.mp);
  num('mr', r.recall, ref.mr);
  num('map50', r.map50, ref.map50);
  num('map75', r.map75, ref.map75);
  num('map', r.map50_95, ref.map);
  num('fitness', r.fitness, ref.fitness);
  if (ref.results_dict) {
    for (const [k, v] of Object.entries(ref.results_dict)) num(`results_dict.${k}`, (r.resultsDict as Record<string, number>)[k], v);
  }
  if (r.maps.length !== ref.maps.length) failures.push(`maps: ${r.maps.length} entries vs reference ${ref.maps.length}`);
  else
    ref.maps.forEach((v, i) => {
      num(`maps[${i}]`, r.maps[i], v);
    });
  if (ref.max_f1_conf !== undefined && r.processed) num('max_f1_conf', r.maxF1Conf, ref.max_f1_conf);
  if (r.perClass.length !== ref.per_class.length) {
    failures.push(`per_class: ${r.perClass.length} classes vs reference ${ref.per_class.length}`);
  } else {
    ref.per_class.forEach((pc, i) => {
      const g = r.perClass[i];
      if (g.cls !== pc.class || g.nGt !== pc.n_gt || g.nPred !== pc.n_pred) {
        failures.push(`per_class[${i}]: class/n_gt/n_pred ${g.cls}/${g.nGt}/${g.nPred} vs reference ${pc.class}/${pc.n_gt}/${pc.n_pred}`);
      }
      num(`class ${pc.class} P`, g.precision, pc.P);
      num(`class ${pc.class} R`, g.recall, pc.R);
      num(`class ${pc.class} F1`, g.f1, pc.F1);
      num(`class ${pc.class} AP50`, g.ap50, pc.AP50);
      num(`class ${pc.class} AP50-95`, g.ap50_95, pc['AP50-95']);
      pc.AP_per_iou.forEach((v, t) => {
        num(`class ${pc.class} AP[${t}]`, g.apPerIou[t], v);
      });
    });
  }
  return { numbers, worst, worstAt, exactFailures: failures, results: r };
}
