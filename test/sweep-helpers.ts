// Helpers of the sweep end-to-end tests: run the built `pnpm sweep` CLI as a child process, wait for
// lines of its output, read the results database (better-sqlite3, resolved through @ablate/tracker).
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';

export const root = path.resolve(import.meta.dirname, '..');
export const cli = path.join(root, 'packages/runner/dist/cli/sweep.js');
export const workerCli = path.join(root, 'packages/runner/dist/cli/worker.js');
export const smoke = path.join(root, 'experiments/smoke.yaml');

type Database = {
  prepare(sql: string): { all(...a: unknown[]): Record<string, unknown>[]; get(...a: unknown[]): Record<string, unknown> | undefined };
  close(): void;
};
const requireFromTracker = createRequire(path.join(root, 'packages/tracker/package.json'));
const BetterSqlite3 = requireFromTracker('better-sqlite3') as new (
  file: string,
  opts?: { readonly?: boolean; fileMustExist?: boolean },
) => Database;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Run {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `sig` to its process group (spawned with `group`) or to it alone. */
  killGroup(sig?: NodeJS.Signals): void;
  /** Resolves when stderr or stdout matches `re`; rejects after `ms` or if the process exits first. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

export function sweep(args: string[], env: Record<string, string> = {}): Run {
  return spawnCli(cli, args, env);
}

/**
 * A built CLI (sweep.js, worker.js) as a child process, its output collected. `group`: in a process
 * group of its own, so that `killGroup` ends it with the trial processes it forked (a machine lost).
 */
export function spawnCli(script: string, args: string[], env: Record<string, string> = {}, group = false): Run {
  const proc = spawn(process.execPath, [script, ...args], {
    cwd: root,
    env: { ...process.env, INIT_CWD: root, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: group,
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(out) || w.re.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    check();
  });
  proc.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    killGroup(sig: NodeJS.Signals = 'SIGKILL') {
      try {
        if (group && proc.pid) process.kill(-proc.pid, sig);
        else proc.kill(sig);
      } catch {
        // already gone
      }
    },
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, ms = 300_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}\nstdout:\n${out}\nstderr:\n${err}`)), ms);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        check();
        exited.then(() => {
          check();
          setTimeout(() => reject(new Error(`the sweep exited before ${re}\nstdout:\n${out}\nstderr:\n${err}`)), 10);
        });
      });
    },
  };
}

/** Runs the sweep to its end. */
export async function sweepDone(args: string[], env: Record<string, string> = {}) {
  const r = sweep(args, env);
  const { code, signal } = await r.exited;
  return { code, signal, stdout: r.stdout(), stderr: r.stderr() };
}

export function query<T = Record<string, unknown>>(db: string, sql: string, ...params: unknown[]): T[] {
  const d = new BetterSqlite3(db, { readonly: true, fileMustExist: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

// ---------------------------------------------------------------------------------------------
// A minimal PNG writer (RGB, 8 bit, filter 0) for the Ultralytics-format data set of the tests.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), Buffer.from(data)]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Encodes an HWC RGB uint8 image as PNG. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Writes a small Ultralytics-format data set: `n` train and `m` val images of `size` px with one or two
 * filled rectangles (class 0 red, class 1 blue) on grey, labels in labels/<split>/*.txt. Returns the
 * data.yaml path.
 */
export function writeUltralyticsSet(dir: string, n: number, m: number, size: number): string {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (const [split, count] of [
    ['train', n],
    ['val', m],
  ] as const) {
    fs.mkdirSync(path.join(dir, 'images', split), { recursive: true });
    fs.mkdirSync(path.join(dir, 'labels', split), { recursive: true });
    for (let i = 0; i < count; i++) {
      const img = new Uint8Array(size * size * 3).fill(128);
      const lines: string[] = [];
      const k = 1 + (i % 2);
      for (let j = 0; j < k; j++) {
        const cls = (i + j) % 2;
        const w = Math.round(size * (0.2 + 0.3 * rand()));
        const h = Math.round(size * (0.2 + 0.3 * rand()));
        const x0 = Math.floor(rand() * (size - w));
        const y0 = Math.floor(rand() * (size - h));
        for (let y = y0; y < y0 + h; y++) {
          for (let x = x0; x < x0 + w; x++) {
            const o = (y * size + x) * 3;
            img[o] = cls === 0 ? 220 : 30;
            img[o + 1] = 40;
            img[o + 2] = cls === 0 ? 30 : 220;
          }
        }
        lines.push(
          `${cls} ${((x0 + w / 2) / size).toFixed(6)} ${((y0 + h / 2) / size).toFixed(6)} ${(w / size).toFixed(6)} ${(h / size).toFixed(6)}`,
        );
      }
      const stem = `${split}_${i}`;
      fs.writeFileSync(path.join(dir, 'images', split, `${stem}.png`), encodePng(img, size, size));
      fs.writeFileSync(path.join(dir, 'labels', split, `${stem}.txt`), `${lines.join('\n')}\n`);
    }
  }
  fs.writeFileSync(path.join(dir, 'data.yaml'), 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: blue\n');
  return path.join(dir, 'data.yaml');
}
