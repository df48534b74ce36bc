/**
 * YOLOv8 census cases (`fixtures/golden/yolov8/README.md`, case 1): each model entry is built from
 * yolov8.yaml (scale, nc, optional custom scale) by `@ablate/yolov8`; params, gradients, layer and
 * module counts, strides, save list, Detect widths and every per-layer row must match exactly, and
 * GFLOPs at 640 and 320 within rel 1e-3. One line per model: `census/yolov8<scale>-nc<nc>`.
 */
import { isCensusCase, runCensusGolden } from '@ablate/yolov8';
import type { CaseLine, GoldenFamily } from '../types.js';

export const yolov8CensusFamily: GoldenFamily = {
  id: 'yolov8/census',
  matches: (f) => isCensusCase(f.json),
  async evaluate(f, ctx): Promise<CaseLine[]> {
    return runCensusGolden(f.json).map((r) => {
      if (ctx.verbose && r.note) ctx.log(`  ${r.name}: ${r.note}`);
      return { name: r.name, status: r.pass ? 'PASS' : 'FAIL', worst: r.worst, tolerance: r.tolerance, metric: r.metric, note: r.note };
    });
  },
};
