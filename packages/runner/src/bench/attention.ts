/**
 * Attention-module benchmark: forward and forward+backward time of each plugin module at the P3/P4/P5
 * feature maps of a 640 px input with yolov8n's widths (64 x 80x80, 128 x 40x40, 256 x 20x20), and the
 * peak tensor memory (tf.profile). Each (module, size) runs in its own child process (`bench.js
 * --attention-child`) with a time limit, so a size a module cannot run at is a row that says why instead of
 * ending the benchmark: a JS error or wasm trap (reported as `out of memory (...)` with the live-tensor and
 * wasm-heap sizes when it looks like one), a time-out, or a crash of the child. The child reports each phase
 * as it finishes, so such a row still shows the phases that ran (e.g. forward time when only
 * forward+backward does not fit).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BackendName, type ChannelContext, initBackend, type ModuleSpec, manualSeed, type TensorModule } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { ATTENTION_PLUGINS } from '../plugins.js';
import { childCommand } from '../self.js';

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
  /** Both forward and forward+backward ran. */
  ok: boolean;
  forwardMs?: number;
  trainMs?: number;
  /** Peak bytes of live tensors (weights included) during forward+backward, or during forward alone when
   *  forward+backward cannot run. */
  peakBytes?: number;
  gflops?: number;
  /** Why (part of) the row could not run: `<phase>: <reason>`. */
  error?: string;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A child's stdout line that carries a (possibly partial) row. */
const ROW_TAG = 'ATTENTION_ROW ';

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

/** Bytes of the wasm heap (when the backend is wasm), for failure messages. */
function wasmHeapBytes(): number | undefined {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array; wasmMemory?: { buffer: ArrayBuffer } } };
  return b.wasm?.wasmMemory?.buffer.byteLength ?? b.wasm?.HEAPU8?.length;
}

const MIB = 2 ** 20;

/** A failure as one line: the phase, the message, and the memory state when it looks like memory. */
function describeFailure(phase: string, e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  const heap = wasmHeapBytes();
  const live = tf.memory().numBytes;
  const oom = /memory access out of bounds|out of memory|cannot enlarge memory|allocation failed|invalid array length/i.test(msg);
  const state = `live tensors ${(live / MIB).toFixed(0)} MiB${heap ? `, wasm heap ${(heap / MIB).toFixed(0)} MiB` : ''}`;
  return `${phase}: ${oom ? `out of memory (${msg}; ${state})` : msg}`;
}

/**
 * Runs one module at one size in this process (the child side). Never throws for a failure of the module
 * itself: the row says what could not run (`ok: false`, `error`), with the numbers of the phases that did.
 * With `progress` (default: env ABLATE_ATTENTION_PROGRESS=1, which `benchAttention` sets for its children),
 * each partial row is also written to stdout as it becomes known (a line starting with `ATTENTION_ROW `), so
 * a parent still gets the finished phases when the process dies without a JS error (V8 heap exhaustion, a
 * kill at the time limit).
 */
export async function benchOneAttention(
  name: string,
  shape: [number, number, number, number],
  backend: BackendName,
  runs: number,
  progress = process.env.ABLATE_ATTENTION_PROGRESS === '1',
): Promise<AttentionRow> {
  const spec = attentionSpecs().find((s) => s.name === name);
  if (!spec)
    throw new Error(
      `Unknown attention module "${name}"; known: ${attentionSpecs()
        .map((s) => s.name)
        .join(', ')}`,
    );
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`benchOneAttention: shape must be NHWC [B, H, W, C] of positive integers, got ${JSON.stringify(shape)}`);
  }
  await initBackend(backend, { log: false });
  manualSeed(0);
  const row: AttentionRow = { module: name, level: '', shape, ok: false };
  const report = () => {
    if (progress) console.log(`${ROW_TAG}${JSON.stringify(row)}`);
  };
  let phase = 'build';
  let m: TensorModule | undefined;
  let x: tf.Tensor4D | undefined;
  try {
    const ctx = { ...context(shape[3]), layerIndex: -1 };
    const { args } = spec.channels([], ctx);
    m = spec.build(args, ctx) as TensorModule;
    if (spec.flops) row.gflops = spec.flops(m, [shape]) / 1e9;
    row.error = 'forward: did not finish';
    report();
    const mod = m;
    const input = tf.randomNormal(shape) as tf.Tensor4D;
    x = input;
    const vars = mod.trainableVariables();
    // Reads are asynchronous: webgpu under Node has no synchronous read (see @ablate/core's webgpu.ts), and
    // awaiting the result is what makes a GPU's time count at all.
    const fwd = async () => {
      const y = tf.tidy(() => mod.forward(input));
      await y.data();
      y.dispose();
    };
    const step = async () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(mod.forward(input))) as tf.Scalar, vars);
      const g = Object.values(grads);
      await Promise.all([value.data(), g[g.length - 1]?.data()]);
      tf.dispose([value, ...g]);
    };
    phase = 'forward';
    mod.eval();
    const fprof = await tf.profile(() => fwd()); // also the warm-up
    const f: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fwd();
      f.push(performance.now() - t);
    }
    row.forwardMs = median(f);
    row.peakBytes = fprof.peakBytes;
    row.error = 'fwd+bwd: did not finish';
    report();
    phase = 'fwd+bwd';
    mod.train();
    const prof = await tf.profile(() => step()); // also the warm-up
    const b: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await step();
      b.push(performance.now() - t);
    }
    row.trainMs = median(b);
    row.peakBytes = prof.peakBytes;
    row.ok = true;
    delete row.error;
  } catch (e) {
    row.error = describeFailure(phase, e);
  }
  // After a wasm trap the heap may be unusable: disposal is best effort.
  try {
    x?.dispose();
    m?.dispose();
  } catch {
    /* the process ends next */
  }
  report();
  return row;
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
  const self = childCommand('bench', fileURLToPath(new URL('../cli/bench.js', import.meta.url)));
  const timeoutMs = opts.timeoutMs ?? 300_000;
  for (const module of modules) {
    for (const size of sizes) {
      const payload = JSON.stringify({ module, shape: size.shape, backend: opts.backend, runs: opts.runs ?? 3 });
      const row = await new Promise<AttentionRow>((resolve) => {
        const child = spawn(process.execPath, [self.script, ...self.args, '--attention-child', payload], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ABLATE_ATTENTION_PROGRESS: '1' },
        });
        let out = '';
        let err = '';
        let timedOut = false;
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);
        const finish = (why: string | undefined) => {
          clearTimeout(timer);
          // The last row the child reported: its final one, or a partial one when it died.
          let last: AttentionRow | undefined;
          for (const l of out.split('\n')) {
            const j = l.startsWith(ROW_TAG) ? l.slice(ROW_TAG.length) : l.startsWith('{') ? l : undefined;
            if (j === undefined) continue;
            try {
              last = JSON.parse(j) as AttentionRow;
            } catch {
              /* not a row */
            }
          }
          const row: AttentionRow = { ...(last ?? { ok: false }), module, level: size.level, shape: size.shape };
          if (why !== undefined && !row.ok) {
            // The phase that was running when the child died.
            const running = row.error?.endsWith(': did not finish') ? row.error.split(':')[0] : row.error ? undefined : 'build';
            if (running) row.error = `${running}: ${why}`;
          } else if (!row.ok && !row.error) row.error = 'the child reported no result';
          resolve(row);
        };
        child.on('error', (e) => finish(`could not start the child process (${e.message})`));
        child.on('close', (code, signal) => {
          if (code === 0 && !timedOut) return finish(undefined);
          const lastErr = err.trim().split('\n').filter(Boolean).at(-1);
          const why = timedOut
            ? `timed out after ${(timeoutMs / 1000).toFixed(0)} s`
            : signal
              ? `process killed by ${signal}${lastErr ? ` (${lastErr.slice(0, 160)})` : ''}`
              : (lastErr?.slice(0, 200) ?? `exit code ${code}`);
          finish(why);
        });
      });
      rows.push(row);
      opts.onRow?.(row);
    }
  }
  return rows;
}
