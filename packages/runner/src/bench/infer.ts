/**
 * Batch-1 inference of YOLOv8n as the sweep's FPS benchmark measures it (@ablate/train's benchFps: the
 * model fused with BatchNorm folded into the convs, eval mode, Detect decode included, NMS excluded),
 * at each image size; plus the unfused time for comparison.
 */
import { manualSeed } from '@ablate/core';
import { benchFps } from '@ablate/train';
import { buildModel } from '@ablate/yolov8';

export interface InferRow {
  imgsz: number;
  fusedMs: number;
  unfusedMs: number;
}

export async function benchInference(opts: { sizes: number[]; runs: number; nc?: number }): Promise<InferRow[]> {
  manualSeed(0);
  const model = buildModel('yolov8n.yaml', { nc: opts.nc ?? 80 });
  try {
    const rows: InferRow[] = [];
    for (const imgsz of opts.sizes) {
      const fused = await benchFps(model, imgsz, { warmup: 5, runs: opts.runs, fuse: true });
      const unfused = await benchFps(model, imgsz, { warmup: 5, runs: opts.runs, fuse: false });
      rows.push({ imgsz, fusedMs: fused.p50Ms, unfusedMs: unfused.p50Ms });
    }
    return rows;
  } finally {
    model.dispose();
  }
}
