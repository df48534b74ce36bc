/**
 * YOLOv8 insertion cases (`fixtures/golden/yolov8/README.md`, case 6): for every position key, the
 * stand-in is inserted into the stock YAML by `insertModule` of `@ablate/yolov8` (text compared
 * byte for byte, parsed form compared), the result is built, and params, layer/module counts, save
 * list, Detect inputs and per-layer rows must match exactly. The WRONG example is built from its
 * stored YAML and must reproduce its (wrong) numbers. One line per key: `insertion/<key>`.
 */
import { isInsertionCase, runInsertionGolden } from '@ablate/yolov8';
import type { CaseLine, GoldenFamily } from '../types.js';

export const yolov8InsertionFamily: GoldenFamily = {
  id: 'yolov8/insertion',
  matches: (f) => isInsertionCase(f.json),
  async evaluate(f, ctx): Promise<CaseLine[]> {
    return runInsertionGolden(f.json).map((r) => {
      if (ctx.verbose && r.note) ctx.log(`  ${r.name}: ${r.note}`);
      return { name: r.name, status: r.pass ? 'PASS' : 'FAIL', worst: r.worst, tolerance: r.tolerance, metric: r.metric, note: r.note };
    });
  },
};
