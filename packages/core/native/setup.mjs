/**
 * Setting up a tfjs-node package: find TensorFlow's C library, stage it, build the addon, check that it
 * loads. Sources, first found wins (issue 9):
 *   1. tfjs-node's own download (its install script; works on a machine with internet),
 *   2. `ABLATE_TF_LIB` (a library folder), 3. `ABLATE_TF_WHEEL` (a TensorFlow wheel),
 *   4. a TensorFlow extracted by an earlier install (the cache),
 *   5. an importable Python TensorFlow (its package folder),
 *   6. `pip download --no-deps tensorflow-cpu` from pip's configured indexes.
 * Every step takes the package folder, so @tensorflow/tfjs-node-gpu can reuse them with its own source.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildAddon, probeAddon, readStageMarker, stageLibrary } from './addon.mjs';
import { cacheLibraryDir, cacheRoot, extractWheel, listCaches, pipDownload, pythonTensorflowDir } from './tf-lib.mjs';

/**
 * The library sources to try, in order, as `{ name, get }` where `get()` returns a checked, cached
 * library folder or throws with the reason. `opts`: `{ env, root, arch, python, pip }` (pip: false skips it).
 */
export function librarySources(opts = {}) {
  const env = opts.env ?? process.env;
  const root = opts.root ?? cacheRoot(env);
  const arch = opts.arch ?? process.arch;
  const sources = [];
  if (env.ABLATE_TF_LIB) {
    sources.push({
      name: `ABLATE_TF_LIB=${env.ABLATE_TF_LIB}`,
      get: () => cacheLibraryDir(env.ABLATE_TF_LIB, 'ABLATE_TF_LIB', root, arch),
    });
  }
  if (env.ABLATE_TF_WHEEL) {
    sources.push({ name: `ABLATE_TF_WHEEL=${env.ABLATE_TF_WHEEL}`, get: () => extractWheel(env.ABLATE_TF_WHEEL, root, arch) });
  }
  sources.push({
    name: `cache ${root}`,
    get: () => {
      const found = listCaches(root, arch)[0];
      if (!found) throw new Error('empty');
      return found;
    },
  });
  sources.push({
    name: 'Python TensorFlow',
    get: () => {
      const dir = pythonTensorflowDir(opts.python);
      if (!dir) throw new Error('no importable tensorflow');
      return cacheLibraryDir(dir, `Python TensorFlow ${dir}`, root, arch);
    },
  });
  if (opts.pip !== false) {
    sources.push({
      name: 'pip download tensorflow-cpu',
      get: () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-pip-'));
        try {
          return extractWheel(pipDownload(dir, 'tensorflow-cpu', opts.python), root, arch);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    });
  }
  return sources;
}

/** The first source that yields a library folder: `{ lib, tried }` (lib null when none did). */
export function findLibrary(sources) {
  const tried = [];
  for (const s of sources) {
    try {
      return { lib: s.get(), tried };
    } catch (e) {
      tried.push({ name: s.name, reason: firstLine(e) });
    }
  }
  return { lib: null, tried };
}

function firstLine(e) {
  return String(e?.message ?? e)
    .split('\n')[0]
    .trim();
}

/** True when `deps/` holds tfjs-node's own download (libtensorflow 2.9.1 and no marker of ours). */
function hasOwnDownload(pkgDir) {
  return !readStageMarker(pkgDir) && fs.existsSync(path.join(pkgDir, 'deps', 'lib', 'libtensorflow.so.2.9.1'));
}

/**
 * Makes `pkgDir`'s addon work. `opts`: `{ force, gypFrom, sources, probeEnv }` (force: rebuild even
 * when it loads; sources: librarySources() by default). Returns `{ ok, line, tried }`: `line` is the one
 * line to print (where TensorFlow came from and its version, or why the node backend is unavailable).
 */
export function setupPackage(pkgDir, opts = {}) {
  const name = path.basename(pkgDir);
  const started = Date.now();
  if (!opts.force) {
    const marker = readStageMarker(pkgDir);
    if (marker || hasOwnDownload(pkgDir)) {
      try {
        const { tfVersion } = probeAddon(pkgDir, opts.probeEnv);
        const from = marker ? marker.source : "tfjs-node's own download";
        return { ok: true, line: `${name}: TensorFlow ${tfVersion} from ${from} (already set up)`, tried: [] };
      } catch {
        // Staged but broken (cache removed, node upgraded): set up again below.
      }
    }
  }
  const { lib, tried } = findLibrary(opts.sources ?? librarySources());
  if (!lib) {
    const why = tried.map((t) => `${t.name}: ${t.reason}`).join('; ');
    return { ok: false, line: `${name}: no TensorFlow C library found (${why}); using wasm`, tried };
  }
  try {
    stageLibrary(pkgDir, lib);
    buildAddon(pkgDir, opts.gypFrom ?? pkgDir);
    const { tfVersion } = probeAddon(pkgDir, opts.probeEnv);
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    // An explicitly named library that failed is worth a word even when a later source worked.
    const passed = tried.filter((t) => t.name.startsWith('ABLATE_TF_')).map((t) => `; ${t.name} skipped: ${t.reason}`);
    const line = `${name}: TensorFlow ${tfVersion} from ${lib.source}, libraries in ${path.dirname(lib.main)}, addon built (${secs} s)${passed.join('')}`;
    return { ok: true, line, tried };
  } catch (e) {
    unstage(pkgDir);
    return { ok: false, line: `${name}: TensorFlow ${lib.version} from ${lib.source} failed: ${firstLine(e)}; using wasm`, tried };
  }
}

/** Removes what we staged and built, so a broken setup fails to load cleanly instead of half-loading. */
export function unstage(pkgDir) {
  fs.rmSync(path.join(pkgDir, 'deps'), { recursive: true, force: true });
  fs.rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
  fs.rmSync(path.join(pkgDir, 'lib'), { recursive: true, force: true });
}
