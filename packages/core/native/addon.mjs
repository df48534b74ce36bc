/**
 * Staging TensorFlow's C library inside a tfjs-node package (@tensorflow/tfjs-node or
 * @tensorflow/tfjs-node-gpu: every function takes the package folder) and building its N-API addon
 * from the sources it ships.
 *
 * The package's binding.gyp links `deps/lib/libtensorflow.so` and `deps/lib/libtensorflow_framework.so`
 * with an rpath of `$ORIGIN/../../deps/lib`, includes from `deps/include`, and its install script skips
 * the download when `deps/lib/libtensorflow.so.2.9.1` exists. We stage symlinks into the cache under
 * all of those names plus the libraries' own sonames, so a second worktree costs no disk.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

/** Written into `deps/` when we staged it (absent: tfjs-node's own download, or nothing). */
export const STAGE_MARKER = 'ablate-staged.json';
/** The libtensorflow version tfjs-node 4.22's install script looks for. */
const TFJS_LIBTF_VERSION = '2.9.1';

/** The folder of a tfjs-node package as resolved from `fromDir` (packages/core), or null. */
export function resolvePackageDir(name, fromDir) {
  try {
    const req = createRequire(path.join(fromDir, 'package.json'));
    return path.dirname(req.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The sonames a library asks to be loaded by (what the linker records in the addon). */
function soname(file) {
  const r = spawnSync('objdump', ['-p', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return r.status === 0 ? r.stdout.match(/SONAME\s+(\S+)/)?.[1] : undefined;
}

function link(target, file) {
  fs.rmSync(file, { force: true, recursive: true });
  fs.symlinkSync(target, file);
}

/**
 * Stages a checked library folder (`{ main, framework, include, version, source }` from tf-lib.mjs)
 * into `pkgDir/deps`, replacing what was there.
 */
export function stageLibrary(pkgDir, lib) {
  const deps = path.join(pkgDir, 'deps');
  const libDir = path.join(deps, 'lib');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(libDir, { recursive: true });
  const names = {
    main: ['libtensorflow.so', `libtensorflow.so.${TFJS_LIBTF_VERSION}`, path.basename(lib.main)],
    framework: ['libtensorflow_framework.so', `libtensorflow_framework.so.${TFJS_LIBTF_VERSION}`, path.basename(lib.framework)],
  };
  for (const key of ['main', 'framework']) {
    const so = soname(lib[key]);
    for (const n of new Set([...names[key], ...(so ? [so] : [])])) link(lib[key], path.join(libDir, n));
  }
  link(lib.include, path.join(deps, 'include'));
  const marker = { version: lib.version, source: lib.source, dir: path.dirname(lib.main) };
  fs.writeFileSync(path.join(deps, STAGE_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
}

/** What we staged into a package, or null (nothing, or tfjs-node's own download). */
export function readStageMarker(pkgDir) {
  const file = path.join(pkgDir, 'deps', STAGE_MARKER);
  return fs.existsSync(file) ? readJson(file) : null;
}

/**
 * Where tfjs-node loads its addon from, by node-pre-gyp's rule: `binary.module_path` with the highest
 * of `binary.napi_versions` this Node supports, then `<module_name>.node`.
 */
export function addonPath(pkgDir) {
  const { binary } = readJson(path.join(pkgDir, 'package.json'));
  const napi = Math.max(...binary.napi_versions.filter((v) => v <= Number(process.versions.napi)));
  const dir = binary.module_path.replace('{napi_build_version}', String(napi));
  return path.join(pkgDir, dir, `${binary.module_name}.node`);
}

/** node-gyp's entry script (this repo's devDependency), or null. */
function nodeGypScript(fromDir) {
  try {
    const req = createRequire(path.join(fromDir, 'package.json'));
    return path.join(path.dirname(req.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  } catch {
    return null;
  }
}

/** Node's own headers next to the running node (so node-gyp needs no download), or undefined. */
function localNodeDir() {
  const dir = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ? dir : undefined;
}

/**
 * Builds the addon with node-gyp into the path tfjs-node loads it from. `gypFrom`: a folder from which
 * `node-gyp` resolves (the repo root). Throws with the compiler's last error line on failure.
 */
export function buildAddon(pkgDir, gypFrom) {
  const gyp = nodeGypScript(gypFrom) ?? nodeGypScript(pkgDir);
  if (!gyp) throw new Error('node-gyp is not installed (a devDependency of the repo root)');
  const target = addonPath(pkgDir);
  const napi = target.match(/napi-v(\d+)/)?.[1] ?? '8';
  const args = [
    gyp,
    'rebuild',
    `--jobs=${Math.max(1, Math.min(4, os.availableParallelism()))}`,
    '--module_name=tfjs_binding',
    `--module_path=${path.dirname(target)}`,
    `--napi_build_version=${napi}`,
  ];
  const nodedir = localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const r = spawnSync(process.execPath, args, { cwd: pkgDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`node-gyp could not start: ${r.error.message}`);
  if (r.status !== 0 || !fs.existsSync(target)) {
    const lines = `${r.stdout}\n${r.stderr}`.split('\n');
    const err = lines.find((l) => /error:|fatal error|undefined reference|No such file/.test(l)) ?? lines.filter(Boolean).pop();
    throw new Error(`the addon did not compile: ${(err ?? `node-gyp exit ${r.status}`).trim()}`);
  }
  // node-gyp's intermediate objects are not needed once the addon is in place.
  fs.rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
  return target;
}

/**
 * Loads the package in a child process and returns `{ tfVersion }` (TensorFlow's own TF_Version()),
 * or throws with the load error's first line: a wrong library, a missing symbol, a missing addon.
 */
export function probeAddon(pkgDir, env = {}) {
  const code = `
    const tf = require(${JSON.stringify(pkgDir)});
    process.stdout.write(JSON.stringify({ tfVersion: tf.backend().binding.TF_Version }));`;
  const r = spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env },
  });
  if (r.status !== 0) {
    const lines = `${r.stderr}`.split('\n').filter(Boolean);
    const err = lines.find((l) => /^(Error|\w*Error):|cannot open shared object|undefined symbol/.test(l)) ?? lines.pop();
    throw new Error(`the addon does not load: ${(err ?? `exit ${r.status}`).trim()}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}
