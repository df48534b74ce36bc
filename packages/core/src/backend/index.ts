/**
 * Backend selection. `initBackend('auto')` takes the first that loads of: `tensorflow`
 * (@tensorflow/tfjs-node-gpu, CUDA), `webgpu` (Dawn, only with a hardware adapter; see webgpu.ts),
 * `node` (@tensorflow/tfjs-node, CPU libtensorflow), `wasm` (@tensorflow/tfjs-backend-wasm, SIMD,
 * with this package's training kernels), `cpu` (pure JS). A software WebGPU adapter (lavapipe) is
 * used only when `webgpu` is asked for by name.
 * The two native packages are optional dependencies: their install downloads libtensorflow, which
 * fails offline, and then they simply do not load here.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerMissingGradients, registerWasmTrainingKernels } from '../kernels/index.js';
import { enableWasmThreads, type WasmThreadsHandle } from './wasm-threads.js';
import { type AdapterReport, formatAdapter, tryWebgpu } from './webgpu.js';

export { type AdapterReport, assertSyncReadable, describeAdapter, formatAdapter } from './webgpu.js';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'node', 'wasm', 'cpu'];

export interface BackendOptions {
  /** wasm: number of threads (default 1; >1 turns on the threaded-SIMD build under Node). */
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

async function tryNative(pkg: string): Promise<void> {
  // Imported by name at run time: absent or broken installs throw here and auto falls through.
  await import(pkg);
  if (!tf.engine().registryFactory.tensorflow) throw new Error(`${pkg} loaded but registered no "tensorflow" backend`);
  const ok = await tf.setBackend('tensorflow');
  if (!ok) throw new Error(`${pkg}: the tensorflow backend failed to initialise`);
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

function detail(info: BackendInfo): string {
  if (info.name === 'wasm') return ` (${info.simd ? 'SIMD' : 'no SIMD'}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`;
  if (info.name === 'cpu') return ' (1 thread)';
  if (info.adapter) return ` (${formatAdapter(info.adapter)})`;
  return '';
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
        await tryNative(cand === 'tensorflow' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
        info = { name: cand, tfBackend: 'tensorflow', threads: 0, simd: false, skipped };
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
        const line = `ablate: backend ${info.name}${detail(info)}`;
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
