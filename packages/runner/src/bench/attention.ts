/**
 * Attention-module benchmark: forward and forward+backward time of each plugin module at the P3/P4/P5
 * feature maps of a 640 px input with yolov8n's widths (64 x 80x80, 128 x 40x40, 256 x 20x20), and the
 * peak tensor memory (tf.profile). Each (module, size) runs in its own child process, so a size a module
 * cannot run at (out of memory, a wasm trap) is reported instead of ending the benchmark.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BackendName, type ChannelContext, initBackend, type ModuleSpec, manualSeed, type TensorModule } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { ATTENTION_PLUGINS } from '../plugins.js';

export interface AttentionSize {
  level: string;
  /** NHWC input. */
  shape: [number, number, number, number];
}

/** yolov8n at 640 px: P3/8 64ch, P4/16 128ch, P5/32 256ch; batch 1. */
export const YOLOV8N_640_SIZES: AttentionSize[] = [
  { level: 'P3', shape: [1, 80, 80, 64] },
  { level: 'P4', shape: [1, 40, 40, 128] },
  { level: 'P5', shape: [1, 20, 20, 256] },
];

export interface AttentionRow {
  module: string;
  level: string;
  shape: number[];
  ok: boolean;
  forwardMs?: number;
  trainMs?: number;
  /** Peak bytes of live tensors during forward+backward. */
  peakBytes?: number;
  gflops?: number;
  error?: string;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function attentionSpecs(): ModuleSpec[] {
  return ATTENTION_PLUGINS.flatMap((p) => p.modules);
}

function context(c: number): ChannelContext {
  return {
    inputChannels: [c],
    nc: 80,
    width: 1,
    maxChannels: 1024,
    scaleChannels: (x) => Math.ceil(Math.min(x, 1024) / 8) * 8,
    repeats: 1,
    where: 'bench',
  };
}

/** Runs one module at one size in this process (the child side). */
export async function benchOneAttention(
  name: string,
  shape: [number, number, number, number],
  backend: BackendName,
  runs: number,
): Promise<AttentionRow> {
  const spec = attentionSpecs().find((s) => s.name === name);
  if (!spec)
    throw new Error(
      `Unknown attention module "${name}"; known: ${attentionSpecs()
        .map((s) => s.name)
        .join(', ')}`,
    );
  await initBackend(backend, { log: false });
  manualSeed(0);
  const ctx = { ...context(shape[3]), layerIndex: -1 };
  const { args } = spec.channels([], ctx);
  const m = spec.build(args, ctx) as TensorModule;
  const x = tf.randomNormal(shape) as tf.Tensor4D;
  const vars = m.trainableVariables();
  const fwd = () => tf.tidy(() => m.forward(x)).dataSync();
  const step = () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.forward(x))) as tf.Scalar, vars);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  m.eval();
  fwd();
  const f: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fwd();
    f.push(performance.now() - t);
  }
  m.train();
  const prof = await tf.profile(() => step());
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    step();
    b.push(performance.now() - t);
  }
  const gflops = spec.flops ? spec.flops(m, [shape]) / 1e9 : undefined;
  x.dispose();
  m.dispose();
  return { module: name, level: '', shape, ok: true, forwardMs: median(f), trainMs: median(b), peakBytes: prof.peakBytes, gflops };
}

/** Runs every module at every size, each in a child process of this script (`--attention-child`). */
export async function benchAttention(opts: {
  backend: BackendName;
  sizes?: AttentionSize[];
  modules?: string[];
  runs?: number;
  timeoutMs?: number;
  onRow?: (r: AttentionRow) => void;
}): Promise<AttentionRow[]> {
  const sizes = opts.sizes ?? YOLOV8N_640_SIZES;
  const modules = opts.modules ?? attentionSpecs().map((s) => s.name);
  const rows: AttentionRow[] = [];
  const self = fileURLToPath(new URL('../cli/bench.js', import.meta.url));
  for (const module of modules) {
    for (const size of sizes) {
      const args = [self, '--attention-child', JSON.stringify({ module, shape: size.shape, backend: opts.backend, runs: opts.runs ?? 3 })];
      const row = await new Promise<AttentionRow>((resolve) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          const last = out.trim().split('\n').at(-1) ?? '';
          try {
            if (code === 0) return resolve({ ...(JSON.parse(last) as AttentionRow), level: size.level });
          } catch {
            /* fall through */
          }
          const reason = signal === 'SIGKILL' ? 'timed out' : (err.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${code}`);
          resolve({ module, level: size.level, shape: size.shape, ok: false, error: reason.slice(0, 200) });
        });
      });
      rows.push(row);
      opts.onRow?.(row);
    }
  }
  return rows;
}
