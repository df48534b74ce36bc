#!/usr/bin/env node
/**
 * `pnpm bench [--backend wasm,cpu] [--only conv,train,attention] [--threads N]`: prints numbers, asserts
 * nothing. Sections:
 *   conv       per backend: GFLOP/s of conv forward, input gradient and weight gradient (YOLOv8n shapes)
 *   train      per backend and thread count: one YOLOv8n training step as a trial runs it, batch 8 at 128 and
 *              320 px, batch 2 at 640 px, with the kernels dispatched per step by name
 *   infer      per backend and thread count: batch-1 YOLOv8n inference, fused (as the sweep's FPS) and unfused,
 *              at 128, 320 and 640 px
 *   attention  per module: forward and forward+backward time and peak memory at P3/P4/P5 of a 640 px input
 *              (--modules and --levels narrow it, e.g. --modules DAttention --levels P3)
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { BACKEND_NAMES, type BackendName, initBackend } from '@ablate/core';
import { Command } from 'commander';
import { type AttentionRow, benchAttention, benchOneAttention, YOLOV8N_640_SIZES } from '../bench/attention.js';
import { benchInference, type InferRow } from '../bench/infer.js';
import { benchConvKernels, type ConvShape, type Row, YOLO_CONV_SHAPES } from '../bench/kernels.js';
import { benchTrainStep, type TrainStepResult } from '../bench/train-step.js';
import { childCommand } from '../self.js';

const SECTIONS = ['conv', 'train', 'infer', 'attention'] as const;

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n');
}

const f1 = (x: number | undefined) => (x === undefined ? '-' : x >= 10 || x === 0 ? x.toFixed(1) : x.toPrecision(2));

/** The cpu backend's conv gradients are ~1000x slower: bench it on batch-1 copies of three small shapes. */
const CPU_SHAPES: ConvShape[] = [YOLO_CONV_SHAPES[2], YOLO_CONV_SHAPES[6], YOLO_CONV_SHAPES[9]].map((s) => ({
  ...s,
  x: [1, s.x[1], s.x[2], s.x[3]],
}));

async function convSection(backends: BackendName[], threads: number): Promise<void> {
  console.log('\n## Conv kernels (GFLOP/s = 2 x MACs / median time)');
  const agg: Record<string, Row[]> = {};
  for (const b of backends) {
    const info = await initBackend(b, { threads, log: false });
    const cpu = info.name === 'cpu';
    const rows = await benchConvKernels(cpu ? { shapes: CPU_SHAPES, warmup: 0, runs: 1 } : {});
    agg[b] = rows.filter((r) => r.shape === 'aggregate');
    console.log(
      `\n### ${b}${info.name === 'wasm' ? ` (${info.threads} thread${info.threads > 1 ? 's' : ''}, ${info.simd ? 'SIMD' : 'no SIMD'})` : ''}${cpu ? ' (batch-1 subset: the cpu backend is too slow for the full set)' : ''}`,
    );
    console.log(
      table(
        ['shape', 'fwd GFLOP/s', 'dX GFLOP/s', 'dW GFLOP/s', 'fwd ms', 'dX ms', 'dW ms'],
        [...new Set(rows.map((r) => r.shape))].map((shape) => {
          const get = (k: string) => rows.find((r) => r.shape === shape && r.kernel === k);
          const [a, c, d] = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'].map(get);
          return [shape, f1(a?.gflops), f1(c?.gflops), f1(d?.gflops), f1(a?.ms), f1(c?.ms), f1(d?.ms)];
        }),
      ),
    );
  }
  if (agg.wasm && agg.cpu) {
    console.log('\nwasm / cpu throughput ratio (aggregate GFLOP/s; cpu on its subset):');
    for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
      const w = agg.wasm.find((r) => r.kernel === k)?.gflops ?? 0;
      const c = agg.cpu.find((r) => r.kernel === k)?.gflops ?? 0;
      console.log(`  ${k.padEnd(22)} ${c > 0 ? (w / c).toFixed(0) : '-'}x`);
    }
  }
}

/** Training-step sizes of the train section: batch x image size. */
const TRAIN_SIZES: { batch: number; imgsz: number }[] = [
  { batch: 8, imgsz: 128 },
  { batch: 8, imgsz: 320 },
  { batch: 2, imgsz: 640 },
];

interface TrainChildRow extends Partial<TrainStepResult> {
  batch: number;
  imgsz: number;
  threads?: number;
  error?: string;
}

/** Runs `--train-child` in a fresh process (threads are fixed when a backend starts) and parses its rows. */
function trainChild(
  backend: BackendName,
  threads: number,
  sizes: { batch: number; imgsz: number }[],
  steps: number,
  section: 'train' | 'infer' = 'train',
): Promise<TrainChildRow[]> {
  const self = childCommand('bench', fileURLToPath(import.meta.url));
  const payload = JSON.stringify({ backend, threads, sizes, steps, section });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [self.script, ...self.args, '--train-child', payload], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code, signal) => {
      const rows = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as TrainChildRow);
      const why = signal ? `killed by ${signal}` : (err.trim().split('\n').at(-1) ?? `exit code ${code}`);
      for (const sz of sizes) {
        if (!rows.some((r) => r.batch === sz.batch && r.imgsz === sz.imgsz)) rows.push({ ...sz, error: why });
      }
      resolve(rows);
    });
  });
}

async function trainChildMain(o: {
  backend: BackendName;
  threads: number;
  sizes: { batch: number; imgsz: number }[];
  steps: number;
  section: 'train' | 'infer';
}) {
  const info = await initBackend(o.backend, { threads: o.threads, log: false });
  if (o.section === 'infer') {
    for (const sz of o.sizes) {
      try {
        const [r] = await benchInference({ sizes: [sz.imgsz], runs: o.steps });
        console.log(JSON.stringify({ ...sz, threads: info.threads, ...r }));
      } catch (e) {
        console.log(JSON.stringify({ ...sz, error: (e as Error).message.split('\n')[0] }));
      }
    }
    return;
  }
  for (const sz of o.sizes) {
    try {
      const r = await benchTrainStep({ ...sz, steps: o.steps });
      console.log(JSON.stringify({ ...sz, threads: info.threads, ...r }));
    } catch (e) {
      console.log(JSON.stringify({ ...sz, error: (e as Error).message.split('\n')[0] }));
    }
  }
}

async function trainSection(backends: BackendName[], threadList: number[], steps: number): Promise<void> {
  console.log(
    '\n## YOLOv8n training step (forward + v8DetectionLoss + backward + clip + AdamW + EMA, as a sweep trial), nc 80, median of ' +
      `${steps} steps; load ${os.loadavg()[0].toFixed(2)}`,
  );
  const rows: (string | number)[][] = [];
  const results: { backend: string; threads: number; r: TrainChildRow }[] = [];
  let opsShown = false;
  for (const t of threadList) {
    for (const b of backends) {
      if (b === 'cpu') {
        rows.push([b, t, '-', '-', '-', '-', '-', '-', 'skipped: the cpu backend needs minutes per step (weight gradients)']);
        continue;
      }
      for (const r of await trainChild(b, t, TRAIN_SIZES, steps)) {
        results.push({ backend: b, threads: t, r });
        if (!opsShown && r.byKernel) {
          opsShown = true;
          console.log(`\nkernels per step on ${b}, batch ${r.batch}, ${r.imgsz} px: ${r.kernels} (top 15 by count)`);
          console.log(table(['kernel', 'count'], r.byKernel.slice(0, 15)));
          console.log('');
        }
      }
    }
  }
  for (const { backend, threads, r } of results) {
    const wasm = results.find((x) => x.backend === 'wasm' && x.threads === threads && x.r.batch === r.batch && x.r.imgsz === r.imgsz);
    const ratio = wasm?.r.medianMs && r.medianMs ? `${(wasm.r.medianMs / r.medianMs).toFixed(2)}x` : '-';
    rows.push([
      backend,
      threads,
      `${r.batch} / ${r.imgsz}`,
      r.medianMs?.toFixed(0) ?? '-',
      r.minMs?.toFixed(0) ?? '-',
      ratio,
      r.kernels ?? '-',
      r.peakBytes ? (r.peakBytes / 2 ** 20).toFixed(0) : '-',
      r.error ? `cannot run: ${r.error}` : '',
    ]);
  }
  console.log(table(['backend', 'threads', 'batch / px', 'median ms', 'min ms', 'speed vs wasm', 'kernels', 'peak MiB', 'note'], rows));
}

async function inferSection(backends: BackendName[], threadList: number[], runs: number): Promise<void> {
  console.log(
    '\n## YOLOv8n inference, batch 1, nc 80 (eval; fused = BatchNorm folded into the convs, as the sweep FPS; Detect decode ' +
      `included, NMS excluded), median of ${runs} runs; load ${os.loadavg()[0].toFixed(2)}`,
  );
  const results: { backend: string; threads: number; r: TrainChildRow & Partial<InferRow> }[] = [];
  for (const t of threadList) {
    for (const b of backends) {
      if (b === 'cpu') continue;
      const sizes = [128, 320, 640].map((imgsz) => ({ batch: 1, imgsz }));
      for (const r of await trainChild(b, t, sizes, runs, 'infer')) results.push({ backend: b, threads: t, r });
    }
  }
  const rows = results.map(({ backend, threads, r }) => {
    const wasm = results.find((x) => x.backend === 'wasm' && x.threads === threads && x.r.imgsz === r.imgsz);
    const ratio = wasm?.r.fusedMs && r.fusedMs ? `${(wasm.r.fusedMs / r.fusedMs).toFixed(2)}x` : '-';
    return [
      backend,
      threads,
      r.imgsz,
      r.fusedMs?.toFixed(1) ?? '-',
      r.unfusedMs?.toFixed(1) ?? '-',
      r.fusedMs ? (1000 / r.fusedMs).toFixed(0) : '-',
      ratio,
      r.error ? `cannot run: ${r.error}` : '',
    ];
  });
  console.log(table(['backend', 'threads', 'px', 'fused ms', 'unfused ms', 'fused FPS', 'speed vs wasm', 'note'], rows));
}

async function attentionSection(backends: BackendName[], modules?: string[], levels?: string[]): Promise<void> {
  const sizes = levels ? YOLOV8N_640_SIZES.filter((s) => levels.includes(s.level)) : undefined;
  if (levels && sizes?.length !== levels.length)
    throw new Error(`--levels: known levels are ${YOLOV8N_640_SIZES.map((s) => s.level).join(', ')}, got "${levels.join(',')}"`);
  for (const b of backends) {
    console.log(`\n## Attention modules on ${b} (batch 1; yolov8n widths at 640 px; each size in its own process)`);
    const rows: AttentionRow[] = await benchAttention({ backend: b, runs: b === 'cpu' ? 1 : 3, modules, sizes });
    console.log(
      table(
        ['module', 'level', 'input NHWC', 'fwd ms', 'fwd+bwd ms', 'peak MiB', 'GFLOPs', 'note'],
        rows.map((r) => [
          r.module,
          r.level,
          r.shape.join('x'),
          f1(r.forwardMs),
          f1(r.trainMs),
          r.peakBytes === undefined ? '-' : (r.peakBytes / 2 ** 20).toFixed(0),
          r.gflops === undefined ? '-' : r.gflops.toFixed(2),
          r.ok ? '' : `cannot run: ${r.error}`,
        ]),
      ),
    );
  }
}

async function main(): Promise<void> {
  // Child mode of the attention section: one module at one size, a JSON line on stdout.
  const ti = process.argv.indexOf('--train-child');
  if (ti > 0) {
    await trainChildMain(JSON.parse(process.argv[ti + 1]));
    process.exit(0);
  }
  const ci = process.argv.indexOf('--attention-child');
  if (ci > 0) {
    const o = JSON.parse(process.argv[ci + 1]) as {
      module: string;
      shape: [number, number, number, number];
      backend: BackendName;
      runs: number;
    };
    const row = await benchOneAttention(o.module, o.shape, o.backend, o.runs);
    console.log(JSON.stringify(row));
    process.exit(0);
  }
  const program = new Command()
    .name('pnpm bench')
    .description('Speed benchmarks (numbers only)')
    .option('-b, --backend <names>', 'comma-separated backends', 'wasm,cpu')
    .option('-o, --only <sections>', `comma-separated sections (${SECTIONS.join(', ')})`, SECTIONS.join(','))
    .option('-t, --threads <list>', 'comma-separated thread counts (train: one row per count; other sections: the first)', '1')
    .option('-s, --steps <n>', 'timed training steps per row (inference: 10x as many runs)', '5')
    .option('--modules <names>', 'attention section: comma-separated modules (default all)')
    .option('--levels <levels>', 'attention section: comma-separated levels of P3, P4, P5 (default all)')
    .parse(process.argv);
  const o = program.opts<{ backend: string; only: string; threads: string; steps: string; modules?: string; levels?: string }>();
  const backends = o.backend.split(',') as BackendName[];
  for (const b of backends) if (!BACKEND_NAMES.includes(b)) throw new Error(`Unknown backend "${b}"; known: ${BACKEND_NAMES.join(', ')}`);
  const only = o.only.split(',');
  for (const s of only)
    if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`Unknown section "${s}"; known: ${SECTIONS.join(', ')}`);
  const threadList = o.threads.split(',').map(Number);
  if (threadList.some((t) => !(Number.isInteger(t) && t >= 1)))
    throw new Error(`--threads: expected positive integers, got "${o.threads}"`);
  const threads = threadList[0];
  console.log(`# ablate bench (node ${process.version}, ${process.platform}-${process.arch})`);
  if (only.includes('conv')) await convSection(backends, threads);
  if (only.includes('train')) await trainSection(backends, threadList, Number(o.steps));
  if (only.includes('infer')) await inferSection(backends, threadList, 10 * Number(o.steps));
  if (only.includes('attention')) await attentionSection(backends, o.modules?.split(','), o.levels?.split(','));
  process.exit(0);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(2);
});
