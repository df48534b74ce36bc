/**
 * Backend selection. `initBackend('auto')` takes the first that loads of: `tensorflow`
 * (@tensorflow/tfjs-node-gpu, CUDA), `webgpu` (Dawn, only with a hardware adapter; see webgpu.ts),
 * `node` (@tensorflow/tfjs-node, CPU libtensorflow), `wasm` (@tensorflow/tfjs-backend-wasm, SIMD,
 * with this package's training kernels), `cpu` (pure JS). A software WebGPU adapter (lavapipe) is
 * used only when `webgpu` is asked for by name.
 * The two native packages are optional dependencies. Their own install downloads libtensorflow,
 * which fails offline; the repo's postinstall (`packages/core/native`, `pnpm native`) then builds
 * tfjs-node's addon against a TensorFlow C library found on the machine. When neither worked, they do
 * not load and `auto` says why it skipped them.
 *
 * Threads on node: TensorFlow reads TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS once, when
 * tfjs-node loads and creates its context; `threads` sets both (intra = threads, inter = 1: tfjs runs
 * ops one at a time, so a second inter-op thread would only oversubscribe) before that, and a later
 * call asking for a different count gets an error instead of silently keeping the first.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerMissingGradients, registerNodeKernels, registerWasmTrainingKernels } from '../kernels/index.js';
import { enableWasmThreads, type WasmThreadsHandle } from './wasm-threads.js';
import { type AdapterReport, formatAdapter, tryWebgpu } from './webgpu.js';

export { type AdapterReport, assertSyncReadable, describeAdapter, formatAdapter } from './webgpu.js';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'node', 'wasm', 'cpu'];

export interface BackendOptions {
  /**
   * wasm: number of threads (default 1; >1 turns on the threaded-SIMD build under Node). node:
   * TensorFlow's intra-op threads (default: TF_NUM_INTRAOP_THREADS if set, else TensorFlow's own
   * choice, all cores), fixed for the life of the process.
   */
  threads?: number;
  /** Print the one-line "backend ..." message (default true). */
  log?: boolean | ((line: string) => void);
}

export interface BackendInfo {
  /** The name asked for after resolving `auto`. */
  name: Exclude<BackendName, 'auto'>;
  /** tfjs's own backend name (`tensorflow`, `wasm`, `cpu`). */
  tfBackend: string;
  threads: number;
  simd: boolean;
  /** webgpu: the adapter (vendor, architecture, software or hardware). */
  adapter?: AdapterReport;
  /** What was tried and why it failed, when `auto` fell through. */
  skipped: { name: string; reason: string }[];
}

let current: BackendInfo | null = null;
let threadsHandle: WasmThreadsHandle | null = null;
/** The backend that initBackend chose, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}

/** The thread counts TensorFlow was started with in this process (null before tfjs-node loaded). */
let nativeThreads: { intra: number; inter: number } | null = null;

/** Sets TensorFlow's thread and log environment before tfjs-node creates its context (internal). */
export function nativeEnv(threads: number | undefined): { intra: number; inter: number } {
  const env = process.env;
  // TensorFlow's INFO lines (oneDNN, CPU features) on every start would clutter CLI output.
  env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  if (threads !== undefined) {
    env.TF_NUM_INTRAOP_THREADS = String(threads);
    env.TF_NUM_INTEROP_THREADS = '1';
  }
  const intra = Number(env.TF_NUM_INTRAOP_THREADS) || 0; // 0: TensorFlow's default (all cores)
  const inter = Number(env.TF_NUM_INTEROP_THREADS) || 0;
  return { intra, inter };
}

async function tryNative(pkg: string, threads: number | undefined): Promise<{ intra: number; inter: number }> {
  if (nativeThreads && threads !== undefined && nativeThreads.intra !== threads) {
    throw new Error(
      `TensorFlow already runs with ${nativeThreads.intra || 'default'} intra-op threads in this process; ${threads} cannot take effect`,
    );
  }
  const want = nativeThreads ?? nativeEnv(threads);
  // Imported by name at run time: absent or broken installs throw here and auto falls through.
  await import(pkg);
  nativeThreads = want;
  if (!tf.engine().registryFactory.tensorflow) throw new Error(`${pkg} loaded but registered no "tensorflow" backend`);
  registerNodeKernels();
  const ok = await tf.setBackend('tensorflow');
  if (!ok) throw new Error(`${pkg}: the tensorflow backend failed to initialise`);
  return want;
}

async function tryWasm(threads: number): Promise<{ threads: number; simd: boolean }> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  if (threads > 1 && !threadsHandle) threadsHandle = enableWasmThreads(threads);
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
  threadsHandle?.afterReady();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { threads: wasm.getThreadsCount(), simd };
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** `wasm (SIMD, 1 thread)`, `node (TensorFlow, 2 threads)`, `webgpu (adapter)`, plus what auto skipped and why. */
function describe(info: BackendInfo): string {
  let head: string = info.name;
  if (info.name === 'wasm') head += ` (${info.simd ? 'SIMD' : 'no SIMD'}, ${plural(info.threads, 'thread')})`;
  else if (info.name === 'cpu') head += ' (1 thread)';
  else if (info.adapter) head += ` (${formatAdapter(info.adapter)})`;
  else head += ` (TensorFlow, ${info.threads ? plural(info.threads, 'thread') : "TensorFlow's default threads"})`;
  const skipped = info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  return skipped ? `${head}; skipped ${skipped}` : head;
}

/**
 * Chooses and initialises a backend, registers the training kernels and missing gradients, and logs
 * once which backend and how many threads it uses. Calling it again with the same name is a no-op.
 */
export async function initBackend(name: BackendName = 'auto', opts: BackendOptions = {}): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(`Unknown backend "${name}"; known: ${BACKEND_NAMES.join(', ')}`);
  }
  if (current && (name === 'auto' || current.name === name)) {
    await tf.setBackend(current.tfBackend);
    return current;
  }
  // PROD silences tfjs's console advice ("install the node backend") that would clutter CLI output.
  tf.env().set('PROD', true);
  registerMissingGradients();
  const order: Exclude<BackendName, 'auto'>[] = name === 'auto' ? ['tensorflow', 'webgpu', 'node', 'wasm', 'cpu'] : [name];
  const skipped: { name: string; reason: string }[] = [];
  for (const cand of order) {
    try {
      let info: BackendInfo;
      if (cand === 'tensorflow' || cand === 'node') {
        const t = await tryNative(cand === 'tensorflow' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node', opts.threads);
        info = { name: cand, tfBackend: 'tensorflow', threads: t.intra, simd: false, skipped };
      } else if (cand === 'webgpu') {
        const adapter = await tryWebgpu(name === 'auto');
        info = { name: cand, tfBackend: 'webgpu', threads: 0, simd: false, adapter, skipped };
      } else if (cand === 'wasm') {
        const w = await tryWasm(opts.threads ?? 1);
        info = { name: cand, tfBackend: 'wasm', threads: w.threads, simd: w.simd, skipped };
      } else {
        if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
        info = { name: 'cpu', tfBackend: 'cpu', threads: 1, simd: false, skipped };
      }
      current = info;
      const log = opts.log ?? true;
      if (log) {
        const line = `ablate: backend ${describe(info)}`;
        if (typeof log === 'function') log(line);
        else console.error(line);
      }
      return info;
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0];
      skipped.push({ name: cand, reason });
      if (name !== 'auto') throw new Error(`Backend "${cand}" is not available: ${reason}`);
    }
  }
  throw new Error(`No backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
