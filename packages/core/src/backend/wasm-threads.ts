/**
 * Multi-threaded (threaded-SIMD) tfjs-backend-wasm 4.22 under Node.
 *
 * Stock tfjs turns threads off under Node (`WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to false
 * there, tfjs issue #3830), and the threaded build's Emscripten glue loads its pthread worker and the
 * main script from Blob URLs, which Node's worker_threads cannot load. `enableWasmThreads(n)`, called
 * before `tf.setBackend('wasm')`:
 *   1. records the text of string-built Blobs (a `Blob` subclass installed globally);
 *   2. makes `URL.createObjectURL(blob)` write that text to a temp .js file and return the path;
 *   3. rewrites the pthread worker script so it loads the main script from its file (the main
 *      script's text is the threaded factory's source, which refers to the Rollup bundle's module
 *      variables `require$$0..4`, `commonjsGlobal` and `_scriptDir`: a prelude defines them);
 *   4. sets `WASM_HAS_MULTITHREAD_SUPPORT` and `setThreadsCount(n)`;
 *   5. reports >= 2n logical cores through `os.cpus()` while the backend initialises: tfjs's C++
 *      `init_with_threads_count` caps the XNNPACK pool at (logical cores)/2, which is 1 on a 2-core box.
 * `afterReady()` (after `tf.ready()`) restores `os.cpus` and unref()s the 8 pre-spawned pthread
 * workers, so the process exits normally once its own work is done. The Blob/URL hooks stay installed
 * (Emscripten may spawn another worker later); they only affect Blobs made of strings.
 * The temp directory is removed at process exit.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export interface WasmThreadsHandle {
  /** Threads asked for. */
  readonly threads: number;
  /** Call after `await tf.ready()` on the wasm backend. Idempotent. */
  afterReady(): void;
}

const MAX_THREADS = 8; // tfjs's threaded build pre-spawns 8 pthread workers

/** Marker at the start of the threaded main script's Blob text. */
const MAIN_SCRIPT_PREFIX = 'var WasmBackendModuleThreadedSimd';
/** The worker's "load the main script from a Blob" branch, replaced by a load from a file. */
const WORKER_LOAD_RE = /if\(typeof e\.data\.urlOrBlob=="string"\)\{importScripts\(e\.data\.urlOrBlob\)\}else\{[^}]*\}/;

interface PThreadLike {
  unusedWorkers: { unref?: () => void }[];
  runningWorkers: { unref?: () => void }[];
}

let installed: WasmThreadsHandle | null = null;

export function enableWasmThreads(threads: number): WasmThreadsHandle {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new Error(`enableWasmThreads: threads must be an integer in 1..${MAX_THREADS}, got ${threads}`);
  }
  if (installed) {
    if (installed.threads !== threads) {
      throw new Error(
        `enableWasmThreads: already enabled with ${installed.threads} threads; the wasm module cannot be re-initialised with ${threads}`,
      );
    }
    return installed;
  }
  const require = createRequire(import.meta.url);
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-wasm-mt-'));
  process.once('exit', () => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // 1. Blob subclass that remembers the text of string-only Blobs
  const NativeBlob = globalThis.Blob;
  const texts = new WeakMap<Blob, string>();
  let mainScriptPath: string | null = null;
  class RecordingBlob extends NativeBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts = args[0];
      if (Array.isArray(parts) && parts.length > 0 && parts.every((p) => typeof p === 'string')) {
        const text = parts.join('');
        texts.set(this, text);
        if (text.startsWith(MAIN_SCRIPT_PREFIX)) {
          mainScriptPath = path.join(dir, 'tfjs-wasm-threaded-main.js');
          const prelude =
            "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks')," +
            `require$$4=require('os'),commonjsGlobal=globalThis,_scriptDir=${JSON.stringify(mainScriptPath)};\n`;
          fs.writeFileSync(mainScriptPath, prelude + text);
        }
      }
    }
  }
  globalThis.Blob = RecordingBlob as typeof Blob;

  // 2./3. object URLs of recorded Blobs become files; the worker loads the main script from its file
  const nativeCreate = URL.createObjectURL.bind(URL);
  const nativeRevoke = URL.revokeObjectURL.bind(URL);
  let fileNo = 0;
  URL.createObjectURL = (obj: Blob): string => {
    const text = obj instanceof NativeBlob ? texts.get(obj) : undefined;
    if (text == null) return nativeCreate(obj);
    let src = text;
    if (text.includes('WasmBackendModuleThreadedSimd(Module)')) {
      if (!mainScriptPath) throw new Error('enableWasmThreads: the pthread worker was created before the main script');
      if (!WORKER_LOAD_RE.test(src)) {
        throw new Error('enableWasmThreads: unknown pthread worker script (tfjs-backend-wasm is not 4.22?)');
      }
      src = src.replace(WORKER_LOAD_RE, `importScripts(${JSON.stringify(mainScriptPath)});`);
    }
    const file = path.join(dir, `blob${fileNo++}.js`);
    fs.writeFileSync(file, src);
    return file;
  };
  URL.revokeObjectURL = (url: string): void => {
    if (!url.startsWith(dir)) nativeRevoke(url);
  };

  // 4. threads on
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);

  // 5. enough logical cores for the C++ cap (cores/2) while the module initialises
  const nativeCpus = os.cpus;
  const cpus = nativeCpus.call(os);
  while (cpus.length < 2 * threads) cpus.push(cpus[0]);
  os.cpus = () => cpus;

  let ready = false;
  installed = {
    threads,
    afterReady(): void {
      if (ready) return;
      ready = true;
      os.cpus = nativeCpus;
      const backend = tf.findBackend('wasm') as unknown as { wasm?: { PThread?: PThreadLike } } | null;
      const pt = backend?.wasm?.PThread;
      if (!pt) throw new Error('enableWasmThreads.afterReady: the wasm backend has no pthread pool (not initialised?)');
      for (const w of [...pt.unusedWorkers, ...pt.runningWorkers]) w.unref?.();
    },
  };
  return installed;
}
