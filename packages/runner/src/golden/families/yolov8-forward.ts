/**
 * YOLOv8 forward cases (`fixtures/golden/yolov8/README.md`, case 2): the model named in the JSON is
 * built by `@ablate/yolov8`, the stored `param.*` weights are loaded strictly, the NCHW input runs
 * NHWC in eval mode, and every `act.<i>`, `output.raw.<l>`, `output.inference`, the anchors, strides
 * and the DFL distances are compared with the JSON's tolerances. One line per file: the worst tensor
 * (largest error/tolerance ratio).
 */
import { isForwardCase, runForwardGolden } from '@ablate/yolov8';
import type { CaseLine, GoldenFamily } from '../types.js';

export const yolov8ForwardFamily: GoldenFamily = {
  id: 'yolov8/forward',
  matches: (f) => isForwardCase(f.json),
  async evaluate(f, ctx): Promise<CaseLine[]> {
    const rows = await runForwardGolden(f.path);
    const ratio = (r: (typeof rows)[number]) => (r.tolerance > 0 ? r.worst / r.tolerance : r.worst === 0 ? 0 : Number.POSITIVE_INFINITY);
    for (const r of rows) {
      if (ctx.verbose || !r.pass)
        ctx.log(`  ${r.pass ? 'ok  ' : 'FAIL'} ${f.json.case} ${r.name}: ${r.metric} ${r.worst.toExponential(2)} (tol ${r.tolerance})`);
    }
    const w = rows.reduce((a, b) => (ratio(b) > ratio(a) ? b : a));
    const failed = rows.filter((r) => !r.pass);
    return [
      {
        name: `forward/${String(f.json.model ?? 'model').replace(/\s+/g, '-')}-nc${f.json.nc}`,
        status: failed.length ? 'FAIL' : 'PASS',
        worst: w.worst,
        tolerance: w.tolerance,
        metric: `${w.name} ${w.metric}`,
        note: failed.length ? `${failed.length} of ${rows.length} tensors out of tolerance` : `${rows.length} tensors`,
      },
    ];
  },
};
