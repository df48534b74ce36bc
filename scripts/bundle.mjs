#!/usr/bin/env node
/**
 * `pnpm bundle [--out <dir>]`: the portable bundle for an offline (GPU) machine that has only node >= 20.
 * One folder, `bundle/` (gitignored):
 *   ablate.mjs                 the sweep, golden, bench and gpu-check CLIs and everything they import, bundled by
 *                              esbuild from the build (packages/runner/dist/cli/ablate.js is the entry)
 *   tfjs-backend-wasm*.wasm    the wasm backend's binaries (it loads them from beside the script)
 *   native/                    the native addons, loaded by path: Dawn's dawn.node (npm `webgpu`), better-sqlite3's
 *                              better_sqlite3.node, sharp's addon and its libvips (the layout its rpath expects)
 *   fixtures/golden/           what `golden` evaluates;  experiments/smoke.yaml  what gpu-check trains
 * No node_modules and no compiler on the target. The native parts are this machine's platform (linux-x64 here):
 * build the bundle on the platform you run it on. The node backends (tfjs-node, tfjs-node-gpu) are not in it
 * (their TensorFlow is gigabytes); in the bundle, GPUs are reached through webgpu.
 * Prints the size and fails above 60 MiB. Needs `pnpm build` first (`pnpm bundle` runs it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const out = path.resolve(argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : path.join(root, 'bundle'));
const LIMIT = 60 * 2 ** 20;
const platform = `${process.platform}-${process.arch}`;

const entry = path.join(root, 'packages/runner/dist/cli/ablate.js');
if (!fs.existsSync(entry)) fail(`${path.relative(root, entry)} is missing: run \`pnpm build\` first`);

function fail(msg) {
  console.error(`pnpm bundle: ${msg}`);
  process.exit(1);
}

/** A package's folder, resolved the way the code that imports it resolves it. */
function pkgDir(name, from) {
  const req = createRequire(path.join(from, 'package.json'));
  try {
    return path.dirname(req.resolve(`${name}/package.json`));
  } catch {
    // packages whose exports map hides package.json
    let d = path.dirname(req.resolve(name));
    while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
    return d;
  }
}
const core = path.join(root, 'packages/core');
const webgpuDir = pkgDir('webgpu', core);
const wasmDir = pkgDir('@tensorflow/tfjs-backend-wasm', core);
const sqliteDir = pkgDir('better-sqlite3', path.join(root, 'packages/tracker'));
const sharpDir = pkgDir('sharp', path.join(root, 'packages/data'));
const sharpVersion = JSON.parse(fs.readFileSync(path.join(sharpDir, 'package.json'), 'utf8')).version;
// sharp's platform packages sit beside it: node_modules/@img/sharp-<platform>, node_modules/@img/sharp-libvips-<platform>
const imgDir = path.join(path.dirname(sharpDir), '@img');

/** Native files: [source, destination under out/]. */
const dawn = path.join(webgpuDir, 'dist', platform, 'dawn.node');
const sqlite = path.join(sqliteDir, 'build', 'Release', 'better_sqlite3.node');
const sharpNode = path.join(imgDir, `sharp-${platform}`, 'lib', `sharp-${platform}-${sharpVersion}.node`);
const libvipsReal = path.join(imgDir, `sharp-libvips-${platform}`, 'lib');
const natives = [
  [dawn, `native/${platform}/dawn.node`],
  [sqlite, 'native/better_sqlite3.node'],
  // sharp's addon finds libvips through its rpath $ORIGIN/../../sharp-libvips-<platform>/lib
  [sharpNode, `native/@img/sharp-${platform}/lib/${path.basename(sharpNode)}`],
  ...fs
    .readdirSync(libvipsReal)
    .filter((n) => n.startsWith('libvips'))
    .map((n) => [path.join(libvipsReal, n), `native/@img/sharp-libvips-${platform}/lib/${n}`]),
];
for (const [src] of natives) if (!fs.existsSync(src)) fail(`${src} is missing (pnpm install)`);

/** Rewrites that make the bundled code load files from the bundle instead of node_modules. */
const bundlePlugin = {
  name: 'ablate-bundle',
  setup(b) {
    // Our packages call createRequire(import.meta.url)('pkg') to load a package synchronously: make it a plain
    // require so that esbuild bundles the package (the same instance `import()` gets).
    b.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)')) return undefined;
      const contents = text
        .replace(/const require = createRequire\(import\.meta\.url\);/g, '')
        .replace(/createRequire\(import\.meta\.url\)\(/g, 'require(');
      return { contents, loader: 'js', resolveDir: path.dirname(args.path) };
    });
    // better-sqlite3 finds its addon with `bindings`: load it from native/.
    b.onResolve({ filter: /^bindings$/ }, () => ({ path: 'bindings', namespace: 'ablate-native' }));
    b.onLoad({ filter: /^bindings$/, namespace: 'ablate-native' }, () => ({
      contents: `module.exports = (name) => require(require('node:path').join(__ablate_dir, 'native', name));`,
      loader: 'js',
    }));
    // sharp tries node_modules paths for its addon: load it from native/@img/.
    b.onLoad({ filter: /[\\/]sharp[\\/]dist[\\/]sharp\.mjs$/ }, () => ({
      contents: `export default require(require('node:path').join(__ablate_dir, ${JSON.stringify(natives[2][1])}));`,
      loader: 'js',
    }));
    // webgpu loads dist/<platform>/dawn.node beside its index.js: native/<platform>/ beside ablate.mjs.
    b.onLoad({ filter: /[\\/]webgpu[\\/]index\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      const from = "join(__dirname, 'dist',";
      if (!text.includes(from)) throw new Error(`webgpu's index.js no longer contains ${from}: update scripts/bundle.mjs`);
      return { contents: text.replace(from, "join(__ablate_dir, 'native',"), loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}
const commit = git(['rev-parse', 'HEAD']);
const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
const packages = {};
for (const d of fs.readdirSync(path.join(root, 'packages'))) {
  const f = path.join(root, 'packages', d, 'package.json');
  if (fs.existsSync(f)) {
    const p = JSON.parse(fs.readFileSync(f, 'utf8'));
    packages[p.name] = p.version;
  }
}
for (const [name, from] of [
  ['@tensorflow/tfjs-core', core],
  ['@tensorflow/tfjs-backend-wasm', core],
  ['@tensorflow/tfjs-backend-webgpu', core],
  ['webgpu', core],
]) {
  packages[name] = JSON.parse(fs.readFileSync(path.join(pkgDir(name, from), 'package.json'), 'utf8')).version;
}
const meta = { commit, dirty: status === null ? null : status.length > 0, packages, builtAt: new Date().toISOString() };

const t0 = Date.now();
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  entryPoints: [entry],
  outfile: path.join(out, 'ablate.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  // Some packages (tfjs-backend-cpu, ours) mark themselves side-effect free but register backends, kernels and
  // plugins on import: keep every import.
  ignoreAnnotations: true,
  legalComments: 'linked',
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'silent', 'require-resolve-not-external': 'silent' },
  // Loaded by name at run time and absent from the bundle on purpose (see the header).
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  define: { __ABLATE_BUNDLE__: JSON.stringify(meta), __dirname: '__ablate_dir', __filename: '__ablate_file' },
  banner: {
    js: [
      "import { createRequire as __ablate_cr } from 'node:module';",
      "import { fileURLToPath as __ablate_fu } from 'node:url';",
      "import { dirname as __ablate_dn } from 'node:path';",
      'const require = __ablate_cr(import.meta.url);',
      'const __ablate_file = __ablate_fu(import.meta.url);',
      'const __ablate_dir = __ablate_dn(__ablate_file);',
    ].join('\n'),
  },
  plugins: [bundlePlugin],
});
if (result.errors.length) fail('esbuild failed');

for (const n of fs.readdirSync(path.join(wasmDir, 'dist')).filter((f) => f.endsWith('.wasm'))) {
  fs.copyFileSync(path.join(wasmDir, 'dist', n), path.join(out, n));
}
let stripped = 0;
for (const [src, rel] of natives) {
  const dst = path.join(out, rel);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(src, dst);
  // Debug symbols are most of dawn.node's and better_sqlite3.node's size; without `strip` they stay.
  if (spawnSync('strip', ['--strip-unneeded', dst], { stdio: 'ignore' }).status === 0) stripped++;
}
fs.cpSync(path.join(root, 'fixtures', 'golden'), path.join(out, 'fixtures', 'golden'), { recursive: true });
fs.mkdirSync(path.join(out, 'experiments'), { recursive: true });
fs.copyFileSync(path.join(root, 'experiments', 'smoke.yaml'), path.join(out, 'experiments', 'smoke.yaml'));
fs.writeFileSync(path.join(out, 'bundle.json'), `${JSON.stringify({ ...meta, platform, node: '>=20' }, null, 2)}\n`);

function size(p) {
  const st = fs.statSync(p);
  return st.isDirectory() ? fs.readdirSync(p).reduce((s, n) => s + size(path.join(p, n)), 0) : st.size;
}
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const total = size(out);
const parts = ['ablate.mjs', 'native', 'fixtures'].map((p) => `${p} ${mib(size(path.join(out, p)))}`);
console.log(
  `pnpm bundle: ${path.relative(process.cwd(), out) || out} is ${mib(total)} (${parts.join(', ')}; ${stripped} of ${natives.length} native files stripped; ${platform}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
if (total > LIMIT) fail(`the bundle is ${mib(total)}, over the ${mib(LIMIT)} limit`);
