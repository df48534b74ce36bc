/**
 * Provenance of a trial: which code (git commit and whether the tree had uncommitted changes, package
 * versions), which machine (CPU model and count, OS, Node), which backend and threads. Git is asked
 * once per process and only if it is installed; anything unknown is null, never a guess.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleInfo } from '../self.js';

export interface Provenance {
  git: { commit: string | null; dirty: boolean | null };
  packages: Record<string, string>;
  node: string;
  os: string;
  cpu: { model: string; count: number };
  hostname: string;
}

/** The runner package's folder (dist/sweep/.. or src/sweep/..). */
const runnerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let cached: Provenance | undefined;

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

/** Versions of the workspace packages (packages/*), tfjs-core, and the runner's own dependencies that are installed. */
function packageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  const read = (file: string) => {
    try {
      const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (p.name && p.version) out[p.name] = p.version;
    } catch {
      // not there: not reported
    }
  };
  const packagesDir = path.dirname(runnerDir);
  try {
    for (const d of fs.readdirSync(packagesDir)) read(path.join(packagesDir, d, 'package.json'));
  } catch {
    // an installed (non-workspace) layout: only what node_modules shows below
  }
  for (const dep of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu']) {
    for (const base of [path.join(runnerDir, 'node_modules'), path.join(packagesDir, 'core', 'node_modules')]) {
      const f = path.join(base, dep, 'package.json');
      if (fs.existsSync(f)) {
        read(f);
        break;
      }
    }
  }
  return out;
}

export function provenance(): Provenance {
  if (cached) return cached;
  // The portable bundle has no git and no package.json files: it carries what `pnpm bundle` recorded.
  const bundle = bundleInfo();
  const commit = bundle ? bundle.commit : git(['rev-parse', 'HEAD'], runnerDir);
  const status = bundle || !commit ? null : git(['status', '--porcelain', '--untracked-files=no'], runnerDir);
  const cpus = os.cpus();
  cached = {
    git: { commit, dirty: bundle ? bundle.dirty : status === null ? null : status.length > 0 },
    packages: bundle ? { ...bundle.packages } : packageVersions(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model?.trim() ?? 'unknown', count: cpus.length },
    hostname: os.hostname(),
  };
  return cached;
}
