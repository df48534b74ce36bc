/**
 * WebGPU under Node through Dawn: the npm package `webgpu` (Dawn's Node bindings, a prebuilt
 * `dawn.node` per platform, no download at install) and @tensorflow/tfjs-backend-webgpu 4.22.
 *
 * tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when it is imported, so
 * `installDawn()` puts Dawn's globals (GPUBufferUsage, GPUMapMode, ...) and `navigator.gpu` on
 * globalThis first, and the backend package is imported dynamically after that.
 *
 * Reads: tfjs-backend-webgpu implements `dataSync()` through `OffscreenCanvas`, which Node lacks, so
 * on this backend every read must be `await t.data()` (the training path, the parity harness and
 * the CLIs do that). `assertSyncReadable()` turns the obscure `OffscreenCanvas is not defined` into
 * an error that says so.
 *
 * Adapters: Dawn picks Vulkan / Metal / D3D12. A software adapter (Mesa lavapipe, SwiftShader:
 * `info.isFallbackAdapter`, or `architecture` "software") is used only when `webgpu` is asked for by
 * name; `auto` wants a hardware one. Dawn flags can be passed with ABLATE_DAWN_FLAGS (comma-separated,
 * e.g. `backend=opengles`; see Dawn's node bindings), which `create()` receives as is.
 *
 * On Linux without a GPU, Mesa >= 25 lavapipe works (Debian bookworm's 22.3 is rejected by Dawn:
 * `Vulkan shaderUniform*ArrayDynamicIndexing required`); `.ci/lavapipe.sh` fetches it into a folder
 * and prints the VK_DRIVER_FILES / LD_LIBRARY_PATH to use.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { registerWebgpuKernels } from '../kernels/webgpu-rank.js';

/** What the chosen adapter says about itself. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader) rather than a GPU. */
  software: boolean;
}

interface DawnGpu {
  requestAdapter(opts?: { powerPreference?: string; forceFallbackAdapter?: boolean }): Promise<DawnAdapter | null>;
}
interface DawnAdapter {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
}

let dawn: DawnGpu | null = null;

/**
 * Whether the Vulkan loader Dawn needs on Linux can be found: in LD_LIBRARY_PATH, in the dynamic linker's
 * cache (`ldconfig -p`) or in the usual library folders. Always true off Linux (Dawn uses Metal/D3D12 there).
 */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux') return true;
  const lib = 'libvulkan.so.1';
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/lib',
    '/usr/lib',
    '/lib64',
    '/usr/lib64',
    '/usr/local/lib',
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    `/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
  ];
  if (dirs.some((d) => fs.existsSync(path.join(d, lib)))) return true;
  try {
    return execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).includes(lib);
  } catch {
    return false;
  }
}

/** Dawn flags from ABLATE_DAWN_FLAGS (comma-separated). */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ABLATE_DAWN_FLAGS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Loads dawn.node and installs its globals and `navigator.gpu` (once per process). */
export async function installDawn(): Promise<DawnGpu> {
  if (dawn) return dawn;
  const mod = (await import('webgpu')) as unknown as { create(flags: string[]): DawnGpu; globals: Record<string, unknown> };
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in g)) g[k] = v;
  dawn = mod.create(dawnFlags());
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  if (g.navigator) Object.defineProperty(nav, 'gpu', { value: dawn, configurable: true });
  else Object.defineProperty(g, 'navigator', { value: { gpu: dawn }, configurable: true, writable: true });
  return dawn;
}

/** Describes an adapter; software when Dawn calls it a fallback adapter or its architecture "software". */
export function describeAdapter(adapter: DawnAdapter): AdapterReport {
  const info = adapter.info ?? {};
  const s = (k: string) => (typeof info[k] === 'string' ? (info[k] as string) : '');
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
  const text = `${s('architecture')} ${s('device')} ${s('description')}`;
  return {
    vendor: s('vendor'),
    architecture: s('architecture'),
    device: s('device'),
    description: s('description'),
    software: fallback || /\b(software|llvmpipe|lavapipe|swiftshader)\b/i.test(text),
  };
}

/** One line for logs: `mesa software (llvmpipe: Mesa 25.0.7 ...), software`. */
export function formatAdapter(a: AdapterReport): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name}${a.description || a.device ? ` (${a.description || a.device})` : ''}, ${a.software ? 'software' : 'hardware'}`;
}

/**
 * Makes `webgpu` the tfjs backend. With `requireHardware`, a software adapter is refused (the error
 * names it). Throws with Dawn's reason when there is no adapter at all.
 */
export async function tryWebgpu(requireHardware: boolean): Promise<AdapterReport> {
  // `auto` on Linux without a Vulkan loader: skip before Dawn prints its own "Couldn't load Vulkan" warning.
  if (requireHardware && !vulkanLoaderPresent() && dawnFlags().length === 0) {
    throw new Error('no Vulkan loader (libvulkan.so.1 is not installed), so no GPU adapter for Dawn');
  }
  const gpu = await installDawn();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'no WebGPU adapter (Dawn found no Vulkan/Metal/D3D12 device; on Linux without a GPU, run .ci/lavapipe.sh for a software Vulkan driver)',
    );
  }
  const report = describeAdapter(adapter);
  if (requireHardware && report.software) {
    throw new Error(`only a software adapter (${formatAdapter(report)}); ask for --backend webgpu by name to use it`);
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.engine().registryFactory.webgpu) throw new Error('@tensorflow/tfjs-backend-webgpu loaded but registered no "webgpu" backend');
  registerWebgpuKernels();
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend failed to initialise');
  await tf.ready();
  return report;
}

/**
 * Throws a clear error when `dataSync()` cannot work on the current backend (webgpu under Node,
 * which has no OffscreenCanvas). `what` names the caller.
 */
export function assertSyncReadable(what: string): void {
  if (tf.getBackend() === 'webgpu' && typeof (globalThis as Record<string, unknown>).OffscreenCanvas === 'undefined') {
    throw new Error(`${what} reads tensors synchronously, which the webgpu backend cannot do under Node: use its async variant`);
  }
}
