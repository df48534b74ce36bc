/**
 * Comparison of `cocoEvaluate` against a pycocotools reference case (`fixtures/golden/coco/*.json`,
 * format in that folder's README.md): the 12 summarize() numbers and the per-category AP, by absolute
 * error. Used by the package tests and by the runner's golden family `coco`.
 */
import { COCO_STAT_NAMES, type CocoEvalInput, type CocoEvalResult, type CocoStats, cocoEvaluate } from './coco.js';

export interface CocoCase extends CocoEvalInput {
  case?: string;
  expected: { stats: Record<string, number>; per_category_ap: Record<string, number> };
  tolerance?: { abs?: number };
}

export interface CocoComparison {
  /** Numbers compared. */
  numbers: number;
  worst: number;
  worstAt: string;
  /** Structural problems (a number missing on either side, -1 on one side only). */
  failures: string[];
  result: CocoEvalResult;
}

export const isCocoCase = (j: unknown): j is CocoCase => {
  const c = j as Partial<CocoCase> | undefined;
  return Boolean(
    c &&
      Array.isArray(c.images) &&
      Array.isArray(c.annotations) &&
      Array.isArray(c.detections) &&
      Array.isArray(c.categories) &&
      c.expected?.stats,
  );
};

export function compareCocoCase(c: CocoCase): CocoComparison {
  const result = cocoEvaluate(c);
  const failures: string[] = [];
  let worst = 0;
  let worstAt = '';
  let numbers = 0;
  const num = (name: string, got: number | undefined, want: number | undefined) => {
    if (typeof want !== 'number') {
      failures.push(`${name}: no reference number`);
      return;
    }
    numbers += 1;
    if ((got === -1) !== (want === -1)) failures.push(`${name}: ${got} vs reference ${want} (-1 means no ground truth)`);
    const e = got === undefined || Number.isNaN(got) ? Number.POSITIVE_INFINITY : Math.abs(got - want);
    if (e > worst || numbers === 1) {
      worst = e;
      worstAt = name;
    }
  };
  for (const k of COCO_STAT_NAMES) num(k, result.stats[k as keyof CocoStats], c.expected.stats[k]);
  const ref = c.expected.per_category_ap ?? {};
  for (const id of result.catIds) num(`AP[category ${id}]`, result.perCategoryAp.get(id), ref[String(id)]);
  for (const id of Object.keys(ref)) if (!result.perCategoryAp.has(Number(id))) failures.push(`AP[category ${id}]: category not evaluated`);
  return { numbers, worst, worstAt, failures, result };
}
