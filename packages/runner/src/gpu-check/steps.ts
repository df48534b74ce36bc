/**
 * The steps of `gpu-check` (see ../cli/gpu-check.ts). Each step runs in a child process of its own
 * (`gpu-check --step <id>`), so a GPU hang, a driver crash or an out-of-memory ends that step only, and the
 * time budget can stop it. The steps reuse the runner's own code: golden (golden/run.ts), the bench's
 * training step, inference and attention benchmarks (bench/*.ts), and the sweep (sweep/run.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendName, initBackend } from '@ablate/core';
import { type AttentionSize, benchAttention, YOLOV8N_640_SIZES } from '../bench/attention.js';
import { benchInference } from '../bench/infer.js';
import { benchTrainStep } from '../bench/train-step.js';
import { runGolden } from '../golden/run.js';
import { goldenFixturesDir } from '../self.js';
import { runSweep } from '../sweep/run.js';

export const STEP_IDS = ['backend', 'golden', 'train', 'fps', 'attention', 'smoke'] as const;
export type StepId = (typeof STEP_IDS)[number];

/** What the parent tells a step. `quick`: sizes small enough for a software adapter (lavapipe) in a test. */
export interface StepInput {
  backend: BackendName;
  quick: boolean;
  /** Milliseconds this step may take (attention passes it on to its own children). */
  budgetMs: number;
  repoRoot: string;
}

/** One row of the final table. */
export interface StepRow {
  check: string;
  status: 'ok' | 'FAIL' | 'not run';
  result: string;
  seconds?: number;
}

/** The sizes of each step: the real ones, and `--quick`'s. */
export const SIZES = {
  train: { full: { batch: 16, imgsz: 640, steps: 3 }, quick: { batch: 2, imgsz: 64, steps: 1 } },
  fps: { full: { imgsz: 640, runs: 50 }, quick: { imgsz: 64, runs: 3 } },
  // --quick: one level at the width of P3, on the 16 x 16 map of a 128 px input.
  attention: { full: YOLOV8N_640_SIZES, quick: [{ level: 'P3@128', shape: [1, 16, 16, 64] }] as AttentionSize[] },
  smoke: { full: { epochs: 3 }, quick: { epochs: 1 } },
};

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(2));

/** Runs one step in this process and returns its rows (thrown errors become a FAIL row in the parent). */
export async function runStep(id: StepId, o: StepInput): Promise<StepRow[]> {
  const info = await initBackend(o.backend, { log: false });
  const q = o.quick ? 'quick' : 'full';
  switch (id) {
    case 'backend': {
      const what = info.adapter
        ? `webgpu: ${info.adapter.vendor || '?'} ${info.adapter.architecture || ''} (${info.adapter.description || info.adapter.device || 'no description'}), ${info.adapter.software ? 'SOFTWARE' : 'hardware'} adapter`
        : `${info.name} (tfjs backend ${info.tfBackend})`;
      return [{ check: 'backend', status: 'ok', result: what }];
    }
    case 'golden': {
      // --quick: the attention modules' cases only (the whole set is CI's `golden --backend webgpu`).
      const target = path.join(goldenFixturesDir(o.repoRoot), o.quick ? 'attention' : '');
      const lines = await runGolden([target], { backends: [o.backend], verbose: false, onLine: () => {} });
      const pass = lines.filter((l) => l.status === 'PASS').length;
      const failed = lines.filter((l) => l.status === 'FAIL');
      const result = `${pass} passed, ${failed.length} failed${failed.length ? `: ${failed.map((l) => l.name).join(', ')}` : ''}`;
      return [{ check: `golden (fixtures/golden${o.quick ? '/attention' : ''})`, status: failed.length || !pass ? 'FAIL' : 'ok', result }];
    }
    case 'train': {
      const s = SIZES.train[q];
      const r = await benchTrainStep(s);
      return [
        {
          check: `YOLOv8n train step, batch ${s.batch} @ ${s.imgsz} px`,
          status: 'ok',
          result: `median ${f1(r.medianMs)} ms (${s.steps} steps after 1 warm-up), peak ${(r.peakBytes / 2 ** 20).toFixed(0)} MiB, ${r.kernels} kernels`,
        },
      ];
    }
    case 'fps': {
      const s = SIZES.fps[q];
      const [r] = await benchInference({ sizes: [s.imgsz], runs: s.runs });
      return [
        {
          check: `YOLOv8n inference, batch 1 @ ${s.imgsz} px (fused)`,
          status: 'ok',
          result: `${(1000 / r.fusedMs).toFixed(1)} FPS (${f1(r.fusedMs)} ms median of ${s.runs}; unfused ${f1(r.unfusedMs)} ms)`,
        },
      ];
    }
    case 'attention': {
      const sizes = SIZES.attention[q];
      const per = Math.max(10_000, Math.floor(o.budgetMs / (5 * sizes.length)));
      const rows = await benchAttention({ backend: o.backend, sizes, runs: o.quick ? 1 : 3, timeoutMs: per });
      return rows.map((r) => ({
        check: `${r.module} fwd+bwd @ ${r.level} ${r.shape.slice(1).join('x')}`,
        status: r.ok ? 'ok' : 'FAIL',
        result: r.ok
          ? `fwd ${f1(r.forwardMs ?? 0)} ms, fwd+bwd ${f1(r.trainMs ?? 0)} ms, peak ${((r.peakBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`
          : `cannot run: ${r.error}`,
      }));
    }
    case 'smoke': {
      const s = SIZES.smoke[q];
      const exp = smokeExperiment(o.repoRoot);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-gpu-check-'));
      const log: string[] = [];
      try {
        const code = await runSweep({
          file: exp,
          cwd: dir,
          db: path.join(dir, 'smoke.db'),
          backend: o.backend,
          epochs: s.epochs,
          tty: false,
          out: (l) => log.push(l),
          err: (l) => log.push(l),
        });
        const summary = log
          .filter((l) => /mAP|trial|ok|failed/i.test(l))
          .slice(-3)
          .join(' | ');
        return [
          {
            check: `smoke training (experiments/smoke.yaml, ${s.epochs} epoch${s.epochs > 1 ? 's' : ''})`,
            status: code === 0 ? 'ok' : 'FAIL',
            result:
              code === 0 ? `sweep exit 0; ${summary.slice(0, 160)}` : `sweep exit ${code}: ${log.slice(-2).join(' | ').slice(0, 300)}`,
          },
        ];
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

/** experiments/smoke.yaml of the repo, or the bundle's copy. */
export function smokeExperiment(repoRoot: string): string {
  const fixtures = goldenFixturesDir(repoRoot); // <root>/fixtures/golden
  const file = path.join(path.dirname(path.dirname(fixtures)), 'experiments', 'smoke.yaml');
  if (!fs.existsSync(file)) throw new Error(`the smoke experiment ${file} is missing`);
  return file;
}
