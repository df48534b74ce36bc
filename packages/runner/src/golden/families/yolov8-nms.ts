/**
 * YOLOv8 NMS cases (`fixtures/golden/yolov8/README.md`, case 4): the stored (B, 4+nc, A) prediction
 * (`json.input.key` in `json.file`) goes through `nonMaxSuppression` of `@ablate/yolov8` with each config
 * of `json.configs`; per image the kept count and classes must match exactly, boxes within
 * `tolerance.boxes.max_abs` px and confidences within `tolerance.conf.max_abs`, in the same order.
 * One line per config: `nms/<config>`, worst = box max_abs error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '@ablate/core';
import { nonMaxSuppression } from '@ablate/yolov8';
import type { CaseLine, GoldenFamily } from '../types.js';

interface NmsConfig {
  conf_thres: number;
  iou_thres: number;
  multi_label: boolean;
  agnostic: boolean;
  max_det: number;
  kept?: number[][][];
}

export const yolov8NmsFamily: GoldenFamily = {
  id: 'yolov8/nms',
  matches: (f) =>
    f.json?.case === 'nms' &&
    typeof f.json?.file === 'string' &&
    f.json?.configs &&
    typeof f.json.configs === 'object' &&
    f.json?.input?.key,
  async evaluate(f, ctx) {
    const j = f.json;
    const boxTol = j.tolerance?.boxes?.max_abs;
    const confTol = j.tolerance?.conf?.max_abs;
    if (typeof boxTol !== 'number' || typeof confTol !== 'number') {
      throw new Error(`${f.path}: tolerance block needs boxes.max_abs and conf.max_abs`);
    }
    const st = readSafetensors(new Uint8Array(fs.readFileSync(path.join(path.dirname(f.path), j.file))), j.file).tensors;
    const input = st.get(j.input.key);
    if (!input) throw new Error(`${j.file} has no tensor "${j.input.key}"; has ${[...st.keys()].slice(0, 8).join(', ')}`);
    if (input.shape.length !== 3) throw new Error(`${j.input.key} has shape [${input.shape}]; expected (B, 4+nc, A)`);
    const data = Float32Array.from(input.data as ArrayLike<number>);
    const B = input.shape[0];
    const lines: CaseLine[] = [];
    for (const [name, cfg] of Object.entries(j.configs as Record<string, NmsConfig>)) {
      const out = nonMaxSuppression(data, input.shape, {
        confThres: cfg.conf_thres,
        iouThres: cfg.iou_thres,
        multiLabel: cfg.multi_label,
        agnostic: cfg.agnostic,
        maxDet: cfg.max_det,
        nc: typeof j.nc === 'number' ? j.nc : undefined,
      });
      const problems: string[] = [];
      let boxErr = 0;
      let confErr = 0;
      for (let b = 0; b < B; b++) {
        const t = st.get(`out.${name}.${b}`);
        let want: number[][];
        if (t) {
          const cols = t.shape[1];
          want = Array.from({ length: t.shape[0] }, (_, r) => Array.from((t.data as Float32Array).subarray(r * cols, (r + 1) * cols)));
        } else if (cfg.kept?.[b]) want = cfg.kept[b];
        else throw new Error(`no reference output for config ${name} image ${b} (out.${name}.${b})`);
        const got = out[b];
        if (got.length !== want.length) {
          problems.push(`image ${b}: kept ${got.length} vs ${want.length}`);
          continue;
        }
        want.forEach((w, r) => {
          const g = got[r];
          for (let k = 0; k < 4; k++) boxErr = Math.max(boxErr, Math.abs(g[k] - w[k]));
          confErr = Math.max(confErr, Math.abs(g[4] - w[4]));
          if (g[5] !== w[5] && problems.length < 5) problems.push(`image ${b} row ${r}: class ${g[5]} vs ${w[5]}`);
        });
      }
      if (confErr > confTol) problems.push(`conf max_abs ${confErr.toExponential(2)} > ${confTol}`);
      const pass = problems.length === 0 && boxErr <= boxTol;
      if (ctx.verbose || !pass) {
        ctx.log(
          `  ${pass ? 'ok  ' : 'FAIL'} nms/${name}: kept [${out.map((o) => o.length)}], box err ${boxErr.toExponential(2)}, conf err ${confErr.toExponential(2)}`,
        );
        for (const p of problems) ctx.log(`  FAIL nms/${name}: ${p}`);
      }
      lines.push({
        name: `nms/${name}`,
        status: pass ? 'PASS' : 'FAIL',
        worst: boxErr,
        tolerance: boxTol,
        metric: 'boxes max_abs px',
        note: problems.length
          ? problems.join('; ')
          : `kept [${out.map((o) => o.length)}], conf err ${confErr.toExponential(2)} (tol ${confTol}), counts and classes exact`,
      });
    }
    return lines;
  },
};
