// `pnpm bundle`: the portable folder runs with only node, from outside the repo, without node_modules.
// Builds the bundle (from the build: CI runs `pnpm build` first) into a temporary folder outside the repo,
// then runs its golden (the bundled fixtures), a 1-epoch smoke sweep on wasm (results read back from its
// SQLite database) and gpu-check (on this GPU-less machine: it must say why it cannot run, not pass).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { query, root } from './sweep-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-bundle-test-'));
const bundle = path.join(tmp, 'bundle');

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A child with NODE_PATH unset, cwd outside the repo; asynchronous (a synchronous child blocks vitest's RPC). */
function run(args: string[], env: Record<string, string> = {}): Promise<Out> {
  const { NODE_PATH: _, INIT_CWD: __, ...rest } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: tmp, env: { ...rest, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const r = await run([path.join(root, 'scripts/bundle.mjs'), '--out', bundle]);
  expect(r.code, r.stderr).toBe(0);
  console.log(r.stdout.trim());
}, 300_000);

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the bundle is one folder under 60 MiB with no node_modules', () => {
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  const files = walk(bundle);
  expect(files.some((f) => f.includes(`${path.sep}node_modules${path.sep}`))).toBe(false);
  const size = files.reduce((s, f) => s + fs.statSync(f).size, 0);
  expect(size).toBeLessThan(60 * 2 ** 20);
  for (const f of [
    'ablate.mjs',
    'tfjs-backend-wasm-simd.wasm',
    'native/better_sqlite3.node',
    `native/${process.platform}-${process.arch}/dawn.node`,
  ]) {
    expect(fs.existsSync(path.join(bundle, f)), f).toBe(true);
  }
  expect(fs.existsSync(path.join(bundle, 'fixtures/golden/yolov8/forward_n.safetensors'))).toBe(true);
});

test('golden from the bundle evaluates its own fixtures on wasm', async () => {
  const r = await run([path.join(bundle, 'ablate.mjs'), 'golden', '--backend', 'wasm']);
  const total = r.stdout.trim().split('\n').at(-1) ?? '';
  expect(total, r.stderr).toMatch(/^(\d+) passed, 0 failed$/);
  expect(Number(total.split(' ')[0])).toBeGreaterThan(40);
  expect(r.code).toBe(0);
});

test('a 1-epoch smoke sweep from the bundle on wasm stores two ok trials', { timeout: 900_000 }, async () => {
  const exp = path.join(tmp, 'smoke.yaml');
  fs.copyFileSync(path.join(root, 'experiments/smoke.yaml'), exp);
  const db = path.join(tmp, 'smoke.db');
  const r = await run([path.join(bundle, 'ablate.mjs'), 'sweep', exp, '--backend', 'wasm', '--epochs', '1', '--db', db, '--no-progress']);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const rows = query<{ status: string; map50_95: number | null; fps: number | null }>(
    db,
    "SELECT status, map50_95, fps FROM results WHERE sweep = 'smoke' ORDER BY trial_id",
  );
  expect(rows.map((x) => x.status)).toEqual(['ok', 'ok']);
  for (const x of rows) {
    expect(x.map50_95).toBeTypeOf('number');
    expect(x.fps).toBeGreaterThan(0);
  }
});

test('gpu-check from the bundle says why it cannot check a GPU here instead of passing', async () => {
  const r = await run([path.join(bundle, 'ablate.mjs'), 'gpu-check', '--budget', '120'], { VK_DRIVER_FILES: '/nonexistent.json' });
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toMatch(/FAIL\s+backend tensorflow: .*Cannot find (package|module) '@tensorflow\/tfjs-node-gpu'/);
  expect(r.stdout).toMatch(/FAIL\s+backend webgpu: .*(no WebGPU adapter|not a GPU|no Vulkan loader)/);
  expect(r.stdout).toMatch(/golden\s+not run\s+-\s+no GPU backend/);
  expect(r.stdout).toContain('check(s) failed or did not run');
});
