#!/usr/bin/env node
/**
 * `pnpm native`            set up (or rebuild) the native TensorFlow backend (@tensorflow/tfjs-node)
 * `pnpm native --check`    report backend, TensorFlow version, oneDNN, threads, library paths; exit 1 when broken
 * `node native/cli.mjs --install`   what the root postinstall runs: set up when needed, one line, always exit 0
 * Options: `--package <name>` (default @tensorflow/tfjs-node); `--gpu` = `--package @tensorflow/tfjs-node-gpu`, whose
 * --check lists the GPUs TensorFlow created devices for and FAILS when there are none (the CPU fallback).
 * `ABLATE_NATIVE=0` makes --install a no-op.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath, readStageMarker, resolvePackageDir } from './addon.mjs';
import { cudaProblemFromLog, gpuDevicesFromLog } from './gpu.mjs';
import { setupPackage } from './setup.mjs';

const coreDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const repoRoot = path.dirname(path.dirname(coreDir));
const argv = process.argv.slice(2);
const pkgName = argv.includes('--gpu')
  ? '@tensorflow/tfjs-node-gpu'
  : argv.includes('--package')
    ? argv[argv.indexOf('--package') + 1]
    : '@tensorflow/tfjs-node';
const gpu = pkgName === '@tensorflow/tfjs-node-gpu';
const FIX =
  'run `pnpm native` to set it up again; to point it at a TensorFlow: ABLATE_TF_WHEEL=<tensorflow_cpu-*.whl> or ABLATE_TF_LIB=<folder>';

function install(force) {
  const pkgDir = resolvePackageDir(pkgName, coreDir);
  if (!pkgDir) return { ok: false, line: `${pkgName} is not installed (an optional dependency of @ablate/core); using wasm` };
  return setupPackage(pkgDir, { force, gypFrom: repoRoot });
}

/** Loads the backend in a child (TensorFlow logs on, to see its oneDNN line) and reports what it finds. */
function check() {
  const pkgDir = resolvePackageDir(pkgName, coreDir);
  if (!pkgDir) {
    console.log(`${pkgName}: not installed (pnpm install)`);
    return 1;
  }
  const code = `
    const tf = require(${JSON.stringify(pkgDir)});
    const x = tf.randomUniform([1, 8, 8, 4], -1, 1, 'float32', 1), w = tf.randomUniform([3, 3, 4, 8], -1, 1, 'float32', 2);
    const y = tf.conv2d(x, w, 1, 'same').dataSync();
    tf.setBackend('cpu');
    const r = tf.conv2d(tf.tensor(x.dataSync(), x.shape), tf.tensor(w.dataSync(), w.shape), 1, 'same').dataSync();
    let err = 0; for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i] - r[i]));
    const threads = require('fs').readdirSync('/proc/self/task').length;
    process.stdout.write(JSON.stringify({ tf: tf.engine().registry.tensorflow.binding.TF_Version, err, threads }));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' } });
  const marker = readStageMarker(pkgDir);
  const libDir = path.join(pkgDir, 'deps', 'lib');
  const libs = fs.existsSync(libDir)
    ? fs
        .readdirSync(libDir)
        .filter((n) => n.endsWith('.so'))
        .map((n) => `${n} -> ${fs.realpathSync(path.join(libDir, n))}`)
    : [];
  const rows = [['package', pkgDir]];
  let ok = r.status === 0;
  if (ok) {
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    const onednn = /oneDNN custom operations are on/.test(r.stderr)
      ? 'on'
      : process.env.TF_ENABLE_ONEDNN_OPTS === '0'
        ? 'off (TF_ENABLE_ONEDNN_OPTS=0)'
        : 'off';
    const intra = process.env.TF_NUM_INTRAOP_THREADS;
    const inter = process.env.TF_NUM_INTEROP_THREADS;
    rows.push(
      ['backend', 'node (tfjs backend "tensorflow")'],
      ['TensorFlow', out.tf],
      ['source', marker ? marker.source : "tfjs-node's own download"],
      ['oneDNN', onednn],
      [
        'threads',
        `intra-op ${intra ?? 'TensorFlow default (all cores)'}, inter-op ${inter ?? 'TensorFlow default'}; ablate sets both from --threads; this process ran ${out.threads} OS threads`,
      ],
      ['conv2d vs cpu', `max |diff| ${out.err.toExponential(2)}`],
    );
    if (gpu) {
      const gpus = gpuDevicesFromLog(r.stderr);
      for (const g of gpus)
        rows.push(['GPU', `GPU:${g.index} ${g.name}, ${g.memoryMB} MB${g.capability ? `, compute capability ${g.capability}` : ''}`]);
      if (!gpus.length) {
        ok = false;
        const why = cudaProblemFromLog(r.stderr);
        rows.push([
          'problem',
          `TensorFlow created no GPU device: this backend would run on the CPU${why ? ` (${why})` : ' (a CPU-only TensorFlow, or no NVIDIA driver)'}`,
        ]);
      }
    }
    if (!(out.err < 1e-4)) {
      ok = false;
      rows.push(['problem', 'conv2d differs from the cpu backend']);
    }
  } else {
    const lines = `${r.stderr}`.split('\n').filter(Boolean);
    rows.push(['backend', 'node is NOT available; ablate falls back to wasm']);
    rows.push(['error', (lines.find((l) => /Error:|cannot open|undefined symbol/.test(l)) ?? lines.pop() ?? '').trim()]);
  }
  let addon = '';
  try {
    addon = addonPath(pkgDir);
  } catch {}
  rows.push(['addon', `${addon}${addon && fs.existsSync(addon) ? '' : ' (missing)'}`]);
  for (const l of libs) rows.push(['library', l]);
  for (const [k, v] of rows) console.log(`${k.padEnd(14)} ${v}`);
  if (!ok) console.log(`what to do     ${FIX}`);
  return ok ? 0 : 1;
}

if (argv.includes('--check')) {
  process.exit(check());
} else if (argv.includes('--install')) {
  if (process.env.ABLATE_NATIVE === '0') {
    console.log('ablate native: skipped (ABLATE_NATIVE=0)');
  } else {
    try {
      console.log(`ablate native: ${install(false).line}`);
    } catch (e) {
      console.log(`ablate native: setup failed: ${String(e?.message ?? e).split('\n')[0]}; using wasm`);
    }
  }
  process.exit(0);
} else {
  const res = install(true);
  console.log(`ablate native: ${res.line}`);
  if (!res.ok) console.log(`what to do: ${FIX}`);
  process.exit(res.ok ? 0 : 1);
}
