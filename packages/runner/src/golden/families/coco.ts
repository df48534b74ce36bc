/**
 * COCO evaluation cases (`fixtures/golden/coco/README.md`): pycocotools 2.0.11 `COCOeval(gt, dt, 'bbox')`
 * on a small data set. `cocoEvaluate` of `@ablate/metrics` runs on the same images, annotations and
 * detections; the 12 summarize() numbers and every per-category AP are compared by absolute error with
 * the file's `tolerance.abs`. One line per file: its `case` name.
 */
import { type CocoCase, compareCocoCase, isCocoCase } from '@ablate/metrics';
import type { GoldenFamily } from '../types.js';

export const cocoFamily: GoldenFamily = {
  id: 'coco',
  matches: (f) => isCocoCase(f.json),
  async evaluate(f, ctx) {
    const tol = f.json?.tolerance?.abs;
    if (typeof tol !== 'number' || !(tol >= 0)) throw new Error(`${f.path}: no numeric tolerance.abs in the tolerance block`);
    const c = compareCocoCase(f.json as CocoCase);
    const pass = c.failures.length === 0 && c.worst <= tol;
    if (ctx.verbose || !pass) {
      for (const msg of c.failures) ctx.log(`  FAIL ${f.json.case}: ${msg}`);
      ctx.log(
        `  ${c.worst <= tol ? 'ok  ' : 'FAIL'} ${f.json.case}: worst abs err ${c.worst.toExponential(2)} at ${c.worstAt} (tol ${tol})`,
      );
    }
    const j = f.json as CocoCase;
    return [
      {
        name: String(j.case ?? 'coco'),
        status: pass ? 'PASS' : 'FAIL',
        worst: c.worst,
        tolerance: tol,
        metric: c.worst > 0 ? `abs (worst at ${c.worstAt})` : 'abs (all exact)',
        note: `${c.numbers} numbers (12 stats + per-category AP), ${j.images.length} images, ${j.annotations.length} gt, ${j.detections.length} dets${
          c.failures.length ? `; ${c.failures.length} mismatches, first: ${c.failures[0]}` : ''
        }`,
      },
    ];
  },
};
