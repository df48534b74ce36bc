/**
 * Finding TensorFlow's C library for @tensorflow/tfjs-node(-gpu) and extracting it once into a cache
 * outside node_modules.
 *
 * A "library folder" is what the addon links against: `libtensorflow_cc.so.2` (or `libtensorflow.so.2`)
 * and `libtensorflow_framework.so.2`, with the C API headers under `include/` (`tensorflow/c/c_api.h`,
 * `tensorflow/c/eager/c_api.h` and what they include from `tsl/` and `xla/tsl/`). The official
 * TensorFlow wheel's `tensorflow/` package folder has exactly this layout, so a wheel, an installed
 * Python TensorFlow and a libtensorflow tarball all work.
 *
 * Every check here fails with an Error whose message is one line naming the cause (wrong architecture,
 * truncated wheel, missing header, ...): the caller prints it and falls back to wasm.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The C API headers the addon's sources include (directly or through c_api.h). */
export const REQUIRED_HEADERS = [
  'tensorflow/c/c_api.h',
  'tensorflow/c/eager/c_api.h',
  'tensorflow/c/tf_tstring.h',
  'tensorflow/core/platform/ctstring_internal.h',
];
/** Header trees copied out of a TensorFlow package folder (the rest of its 13,000 headers are C++). */
const HEADER_TREES = ['tensorflow/c', 'tensorflow/core/platform', 'tensorflow/core/public', 'tsl', 'xla/tsl/c', 'xla/tsl/platform'];
/** The oldest TensorFlow whose C API has everything tfjs-node 4.22 calls (it was written for 2.9.1). */
export const MIN_TF = [2, 9];

const ELF_MACHINE = { x64: 62, arm64: 183 };

/** Where extracted libraries live: `$ABLATE_CACHE_DIR` or `${XDG_CACHE_HOME:-~/.cache}/ablate`, then `tensorflow/`. */
export function cacheRoot(env = process.env) {
  const base = env.ABLATE_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ablate');
  return path.join(base, 'tensorflow');
}

/**
 * The two libraries in a folder (or its `lib/`), or null. Accepts the wheel's names
 * (libtensorflow_cc.so.2) and libtensorflow's (libtensorflow.so.2).
 */
export function findLibraries(dir) {
  for (const d of [dir, path.join(dir, 'lib')]) {
    if (!fs.existsSync(d)) continue;
    const names = fs.readdirSync(d);
    const pick = (re) => names.filter((n) => re.test(n)).sort((a, b) => a.length - b.length)[0];
    const main = pick(/^libtensorflow_cc\.so\.\d+$/) ?? pick(/^libtensorflow\.so\.\d+$/);
    const framework = pick(/^libtensorflow_framework\.so\.\d+$/);
    if (main && framework) return { main: path.join(d, main), framework: path.join(d, framework) };
  }
  return null;
}

/**
 * TensorFlow's version as a library folder states it, or null: our manifest, a versioned library name
 * (`libtensorflow.so.2.9.1`), the `tensorflow*-X.Y.Z.dist-info` beside a Python package folder, or
 * release_version.h (pip wheels leave its numbers to the build, so it rarely has them).
 */
export function detectVersion(dir) {
  const manifest = path.join(dir, 'ablate-tf.json');
  if (fs.existsSync(manifest)) return JSON.parse(fs.readFileSync(manifest, 'utf8')).version;
  for (const d of [dir, path.join(dir, 'lib')]) {
    if (!fs.existsSync(d)) continue;
    for (const n of fs.readdirSync(d)) {
      const m = n.match(/^libtensorflow(?:_cc)?\.so\.(\d+\.\d+\.\d+)$/);
      if (m) return m[1];
    }
  }
  const parent = path.dirname(dir);
  for (const n of fs.existsSync(parent) ? fs.readdirSync(parent) : []) {
    const m = n.match(/^tensorflow(?:_cpu|_gpu|_intel)?-(\d+\.\d+\.\d+)[^-]*\.dist-info$/i);
    if (m) return m[1];
  }
  const file = path.join(dir, 'include/tensorflow/core/public/release_version.h');
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    const num = (k) => text.match(new RegExp(`#define\\s+TF_${k}_VERSION\\s+(\\d+)`))?.[1];
    const v = [num('MAJOR'), num('MINOR'), num('PATCH')];
    if (v.every((x) => x !== undefined)) return v.join('.');
  }
  return null;
}

/** Throws unless `file` is a 64-bit ELF shared object for this machine's architecture. */
export function checkElf(file, arch = process.arch) {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(20);
  const n = fs.readSync(fd, head, 0, 20, 0);
  fs.closeSync(fd);
  if (n < 20 || head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path.basename(file)} is not an ELF shared library`);
  const want = ELF_MACHINE[arch];
  const got = head.readUInt16LE(18);
  if (head[4] !== 2 || (want !== undefined && got !== want)) {
    const name = Object.entries(ELF_MACHINE).find(([, m]) => m === got)?.[0] ?? `ELF machine ${got}`;
    throw new Error(`${path.basename(file)} is built for ${head[4] === 2 ? name : '32-bit'}, this machine is ${arch}`);
  }
}

/** Throws unless `version` (x.y.z) is at least MIN_TF and a 2.x. */
export function checkVersion(version) {
  const [major, minor] = version.split('.').map(Number);
  if (major !== MIN_TF[0] || minor < MIN_TF[1]) {
    throw new Error(`TensorFlow ${version} is not supported (tfjs-node 4.22 needs 2.${MIN_TF[1]} or later 2.x)`);
  }
}

/**
 * Checks a library folder (libraries, headers, architecture, version) and returns what it holds:
 * `{ dir, main, framework, include, version }`.
 */
export function inspectLibraryDir(dir, arch = process.arch, version = null) {
  if (!fs.existsSync(dir)) throw new Error(`${dir} does not exist`);
  const libs = findLibraries(dir);
  if (!libs) throw new Error(`no libtensorflow_cc.so.2 / libtensorflow_framework.so.2 in ${dir}`);
  const include = path.join(dir, 'include');
  for (const h of REQUIRED_HEADERS) {
    if (!fs.existsSync(path.join(include, h))) throw new Error(`missing header ${h} in ${include}`);
  }
  checkElf(libs.main, arch);
  checkElf(libs.framework, arch);
  version = version ?? detectVersion(dir);
  if (!version) throw new Error(`cannot tell the TensorFlow version of ${dir} (name the libraries libtensorflow.so.X.Y.Z)`);
  checkVersion(version);
  return { dir, ...libs, include, version };
}

/** A wheel's version from its file name (`tensorflow_cpu-2.21.0-cp311-...whl`). */
export function wheelVersion(file) {
  const m = path.basename(file).match(/^tensorflow(?:_cpu|_gpu|_intel)?-(\d+\.\d+\.\d+)[^-]*-/i);
  if (!m) throw new Error(`${path.basename(file)} is not a TensorFlow wheel (expected tensorflow[_cpu]-X.Y.Z-...whl)`);
  return m[1];
}

function copyTree(src, dst) {
  if (fs.existsSync(src)) fs.cpSync(src, dst, { recursive: true, dereference: true });
}

/** Strips symbols (850 MB -> 630 MB for 2.21) when `strip` exists; a missing strip only costs disk. */
function stripLibrary(file) {
  const r = spawnSync('strip', ['--strip-all', file], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Copies a library folder's two libraries and its C headers into `cacheDir` (a temporary folder renamed
 * into place at the end, so an interrupted copy is never taken for a finished one) and writes
 * `ablate-tf.json` there: `{ version, arch, source, libs }`.
 */
export function populateCache(srcDir, cacheDir, source, arch = process.arch, version = null) {
  const info = inspectLibraryDir(srcDir, arch, version);
  const tmp = `${cacheDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'lib'), { recursive: true });
  const libs = {};
  for (const [key, file] of [
    ['main', info.main],
    ['framework', info.framework],
  ]) {
    const dst = path.join(tmp, 'lib', path.basename(file));
    fs.copyFileSync(file, dst);
    stripLibrary(dst);
    libs[key] = path.basename(file);
  }
  for (const t of HEADER_TREES) copyTree(path.join(info.include, t), path.join(tmp, 'include', t));
  const manifest = { version: info.version, arch, source, libs };
  fs.writeFileSync(path.join(tmp, 'ablate-tf.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  inspectLibraryDir(tmp, arch);
  fs.rmSync(cacheDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(cacheDir), { recursive: true });
  fs.renameSync(tmp, cacheDir);
  return { ...inspectLibraryDir(cacheDir, arch), source };
}

/** A finished cache folder (manifest present and the folder passes inspection), or null. */
export function readCache(cacheDir, arch = process.arch) {
  const file = path.join(cacheDir, 'ablate-tf.json');
  if (!fs.existsSync(file)) return null;
  try {
    const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
    return { ...inspectLibraryDir(cacheDir, arch), source: manifest.source };
  } catch {
    return null;
  }
}

/** Every finished cache folder for this architecture, newest TensorFlow first. */
export function listCaches(root = cacheRoot(), arch = process.arch) {
  if (!fs.existsSync(root)) return [];
  const found = [];
  for (const name of fs.readdirSync(root)) {
    if (!name.endsWith(`-${arch}`)) continue;
    const c = readCache(path.join(root, name), arch);
    if (c) found.push(c);
  }
  const key = (v) =>
    v
      .split('.')
      .map((x) => x.padStart(4, '0'))
      .join('.');
  return found.sort((a, b) => key(b.version).localeCompare(key(a.version)));
}

/**
 * Extracts a wheel's library folder (`tensorflow/`: the two libraries and the C headers) into the
 * cache. A truncated or corrupt wheel fails `unzip -t`'s check of the entries it needs.
 */
export function extractWheel(wheel, root = cacheRoot(), arch = process.arch) {
  if (!fs.existsSync(wheel)) throw new Error(`wheel ${wheel} does not exist`);
  const version = wheelVersion(wheel);
  checkVersion(version);
  const cacheDir = path.join(root, `${version}-${arch}`);
  const cached = readCache(cacheDir, arch);
  if (cached) return cached;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-tf-wheel-'));
  try {
    const patterns = [
      'tensorflow/libtensorflow_cc.so.*',
      'tensorflow/libtensorflow_framework.so.*',
      ...HEADER_TREES.map((t) => `tensorflow/include/${t}/*`),
    ];
    const r = spawnSync('unzip', ['-q', '-o', wheel, ...patterns, '-d', work], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run unzip to read ${path.basename(wheel)}: ${r.error.message} (apt-get install unzip)`);
    if (r.status !== 0 && r.status !== 11) {
      const why = (r.stderr || r.stdout || '').trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
      throw new Error(`${path.basename(wheel)} is truncated or not a zip file (unzip: ${why})`);
    }
    return populateCache(path.join(work, 'tensorflow'), cacheDir, `wheel ${path.basename(wheel)}`, arch, version);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Copies a library folder (ABLATE_TF_LIB, a Python package folder) into the cache. */
export function cacheLibraryDir(dir, source, root = cacheRoot(), arch = process.arch) {
  const info = inspectLibraryDir(dir, arch);
  const cacheDir = path.join(root, `${info.version}-${arch}`);
  const cached = readCache(cacheDir, arch);
  if (cached) return cached;
  return populateCache(dir, cacheDir, source, arch);
}

/** An importable Python TensorFlow's package folder (found without importing it), or null. */
export function pythonTensorflowDir(python = process.env.PYTHON || 'python3') {
  const code = 'import importlib.util as u; s = u.find_spec("tensorflow"); print(s.submodule_search_locations[0] if s else "")';
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 20_000 });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir && fs.existsSync(dir) ? dir : null;
}

/**
 * `pip download --no-deps tensorflow-cpu` from pip's configured indexes into `dest`; the wheel's path.
 * Retries 0 and a 5 s timeout: offline, the public index fails fast and a local index still answers.
 */
export function pipDownload(dest, pkg = 'tensorflow-cpu', python = process.env.PYTHON || 'python3') {
  fs.mkdirSync(dest, { recursive: true });
  const args = ['-m', 'pip', 'download', '--no-deps', '--retries', '0', '--timeout', '5', '--only-binary=:all:', '-d', dest, pkg];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.error) throw new Error(`pip download ${pkg}: ${r.error.message}`);
  if (r.status !== 0) {
    const why = `${r.stderr}`.trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
    throw new Error(`pip download ${pkg} failed: ${why}`);
  }
  const wheels = fs.readdirSync(dest).filter((f) => /^tensorflow(_cpu)?-.*\.whl$/i.test(f));
  if (!wheels.length) throw new Error(`pip download ${pkg} left no wheel in ${dest}`);
  return path.join(dest, wheels.sort().pop());
}

/** `nm -D` names of the dynamic symbols a library defines (versions after `@` dropped); null without nm. */
export function exportedSymbols(file) {
  try {
    const out = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    return new Set(out.split('\n').map((l) => l.trim().split(/\s+/).pop()?.split('@')[0] ?? ''));
  } catch {
    return null;
  }
}
