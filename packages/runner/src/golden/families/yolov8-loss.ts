/**
 * YOLOv8 loss cases (`fixtures/golden/yolov8/README.md`, case 3: `loss_n.json` + `.safetensors`):
 * v8DetectionLoss values, loss items, d(loss)/d(raw maps), padded targets, the JS decode and the
 * assigner's outputs, per scenario, through `runLossGolden` of `@ablate/yolov8`. One line per scenario;
 * the worst row is the one closest to (or furthest over) its tolerance.
 */
import * as path from 'node:path';
import { loadSafetensorsFile } from '@ablate/core';
import { isLossGoldenCase, type LossGoldenRow, runLossGolden } from '@ablate/yolov8';
import type { CaseLine, GoldenFamily, GoldenFile } from '../types.js';

/** How close a row is to failing: value / tolerance (mismatch counts: 0 or infinity). */
function ratio(r: LossGoldenRow): number {
  if (r.tolerance > 0) return r.value / r.tolerance;
  return r.value > 0 ? Number.POSITIVE_INFINITY : 0;
}

export const yolov8LossFamily: GoldenFamily = {
  id: 'yolov8/loss',
  matches: (f: GoldenFile) => isLossGoldenCase(f.json),
  async evaluate(f, ctx): Promise<CaseLine[]> {
    const st = loadSafetensorsFile(path.join(path.dirname(f.path), f.json.file));
    const stem = path.basename(f.path, '.json');
    const lines: CaseLine[] = [];
    for (const scenario of Object.keys(f.json.scenarios)) {
      const { rows, pass } = await runLossGolden(f.json, st.tensors, { scenarios: [scenario] });
      for (const r of rows) {
        if (ctx.verbose || !r.pass) {
          ctx.log(
            `  ${r.pass ? 'ok  ' : 'FAIL'} ${stem}/${scenario} ${r.key}: ${r.metric} ${r.value.toExponential(2)} (tol ${r.tolerance})`,
          );
        }
      }
      const worst = rows.reduce((w, r) => (ratio(r) > ratio(w) ? r : w), rows[0]);
      lines.push({
        name: `${stem}/${scenario}`,
        status: pass ? 'PASS' : 'FAIL',
        worst: worst.value,
        tolerance: worst.tolerance,
        metric: `${worst.key} ${worst.metric}`,
        note: `${rows.length} checks on ${ctx.backend}`,
      });
    }
    return lines;
  },
};
