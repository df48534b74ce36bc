// `pnpm golden` contract: one line per case (PASS/FAIL/SKIPPED, name, worst, tol), then `N passed, M failed`,
// exit code 1 when any case failed. Runs the built CLI as a user would.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'packages/runner/dist/cli/golden.js');

interface GoldenRun {
  code: number | null;
  lines: string[];
  stderr: string;
}

/** Runs the CLI asynchronously: a synchronous child blocks the test worker past vitest's 60 s RPC timeout. */
function golden(args: string[]): Promise<GoldenRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, INIT_CWD: root } });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, lines: out.trim().split('\n'), stderr: err }));
  });
}

let fixtureRun: Promise<GoldenRun> | undefined;
/** One run over the repo fixtures, shared by the tests that read it (about 40 s on wasm). */
const fixtures = () => {
  fixtureRun ??= golden(['fixtures/golden', '--backend', 'wasm']);
  return fixtureRun;
};

const LINE = /^(PASS|FAIL|SKIPPED)\s+(\S+)\s+worst (\S+)\s+tol (\S+)/;

test('evaluates the repo fixtures: every line well-formed, totals match, exit code follows failures', async () => {
  const { code, lines, stderr } = await fixtures();
  const total = lines.at(-1) as string;
  const m = /^(\d+) passed, (\d+) failed$/.exec(total);
  expect(m, `last line: ${total}\n${stderr}`).not.toBeNull();
  const cases = lines.slice(0, -2);
  for (const l of cases) expect(l).toMatch(LINE);
  const passed = cases.filter((l) => l.startsWith('PASS')).length;
  const failed = cases.filter((l) => l.startsWith('FAIL')).length;
  expect([passed, failed]).toEqual([Number(m?.[1]), Number(m?.[2])]);
  expect(code).toBe(failed > 0 ? 1 : 0);
  // Every case file of the fixtures appears (a family that cannot be evaluated yet says SKIPPED with a reason).
  for (const f of fs.readdirSync(path.join(root, 'fixtures/golden/attention')).filter((x) => x.endsWith('.json') && x !== 'index.json')) {
    expect(
      cases.some((l) => l.includes(f.replace('.json', ''))),
      f,
    ).toBe(true);
  }
  // Every COCO case (pycocotools) is evaluated, not skipped.
  for (const f of fs.readdirSync(path.join(root, 'fixtures/golden/coco')).filter((x) => x.endsWith('.json'))) {
    expect(
      cases.some((l) => l.startsWith('PASS') && l.includes(f.replace('.json', ''))),
      f,
    ).toBe(true);
  }
  // Every seed-statistics case (scipy / statsmodels) is evaluated, not skipped.
  for (const f of fs.readdirSync(path.join(root, 'fixtures/golden/stats')).filter((x) => x.endsWith('.json'))) {
    expect(
      cases.some((l) => l.startsWith('PASS') && l.includes(`stats/${f.replace('.json', '')}`)),
      f,
    ).toBe(true);
  }
  for (const l of cases.filter((x) => x.startsWith('SKIPPED'))) expect(l).toMatch(/\(.+\)$/);
  // Nothing fails in the repo's own reference data.
  expect(failed, cases.filter((l) => l.startsWith('FAIL')).join('\n')).toBe(0);
});

/**
 * The exact number of PASS lines the repo's fixtures give, per family (name prefix of the line). A broken
 * matcher or a dropped case changes it and fails CI. UPDATE THIS TABLE when you add reference cases.
 */
const EXPECTED_PASS: Record<string, number> = {
  attention: 12, // fixtures/golden/attention: one line per case file
  census: 9,
  coco: 3, // fixtures/golden/coco: one line per case file
  forward: 1,
  insertion: 10, // insertion.json (6) + insertion_combined.json (4)
  loss_n: 5,
  metrics: 1,
  metrics_edge: 4,
  nms: 5,
  stats: 3, // fixtures/golden/stats: one line per case file (two scipy/statsmodels tables, power_ttest)
};

function familyOf(name: string): string {
  const slash = name.indexOf('/');
  if (slash >= 0) return name.slice(0, slash);
  if (name === 'metrics') return 'metrics';
  return name.startsWith('coco_') ? 'coco' : 'attention';
}

test('pins the exact number of PASS lines of the repo fixtures, per family', async () => {
  const { lines } = await fixtures();
  const got: Record<string, number> = {};
  for (const l of lines) {
    const m = LINE.exec(l);
    if (m?.[1] === 'PASS') got[familyOf(m[2])] = (got[familyOf(m[2])] ?? 0) + 1;
  }
  expect(got).toEqual(EXPECTED_PASS);
  const total = Object.values(EXPECTED_PASS).reduce((a, b) => a + b, 0);
  expect(lines.at(-1)).toBe(`${total} passed, 0 failed`);
});

test('an unknown JSON layout is SKIPPED with the reason; an unparsable one FAILS', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'golden-'));
  fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ hello: 'world' }));
  fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json');
  const { code, lines } = await golden([dir]);
  expect(lines.find((l) => l.includes('other.json'))).toMatch(/^SKIPPED .*not a case file/);
  expect(lines.find((l) => l.includes('broken.json'))).toMatch(/^FAIL .*not valid JSON/);
  expect(lines.at(-1)).toBe('0 passed, 1 failed');
  expect(code).toBe(1);
});

test('the gate is strict: a case file of a known family that cannot be evaluated fails (exit 1)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'golden-strict-'));
  const src = path.join(root, 'fixtures/golden');
  // insertion case with an unknown position key
  const ins = JSON.parse(fs.readFileSync(path.join(src, 'yolov8/insertion.json'), 'utf8'));
  ins.positions = { 'after-nowhere': ins.positions.neck };
  fs.writeFileSync(path.join(dir, 'insertion.json'), JSON.stringify(ins));
  // attention case whose tensor file lacks a tensor (output.y dropped from the safetensors header)
  const att = JSON.parse(fs.readFileSync(path.join(src, 'attention/doubleattn_c32_m8_n8_recon_b2_10x10.json'), 'utf8'));
  const buf = fs.readFileSync(path.join(src, 'attention', att.file));
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  delete header['output.y'];
  const h2 = Buffer.from(JSON.stringify(header).padEnd(hlen, ' '), 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(h2.length));
  fs.writeFileSync(path.join(dir, 'missing.safetensors'), Buffer.concat([lenBuf, h2, buf.subarray(8 + hlen)]));
  fs.writeFileSync(
    path.join(dir, 'missing.json'),
    JSON.stringify({ ...att, case: 'doubleattn_missing_tensor', file: 'missing.safetensors' }),
  );
  // attention case of a class no package evaluates
  const alien = { ...att, case: 'alien_case', reference: { repo: 'example.org/alien', path: 'alien.py', class: 'AlienAttention' } };
  fs.writeFileSync(path.join(dir, 'alien.json'), JSON.stringify(alien));
  // a yolov8 case kind this runner has no evaluator for
  fs.writeFileSync(path.join(dir, 'census.json'), JSON.stringify({ case: 'census' }));
  // a forward case whose tensor file is missing
  const fwd = JSON.parse(fs.readFileSync(path.join(src, 'yolov8/forward_n.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'forward.json'), JSON.stringify({ ...fwd, file: 'nowhere.safetensors' }));
  const { code, lines } = await golden([dir]);
  expect(lines.find((l) => l.includes('after-nowhere'))).toMatch(/^FAIL .*unknown position key/);
  expect(lines.find((l) => l.includes('doubleattn_missing_tensor'))).toMatch(/^FAIL .*output\.y/);
  expect(lines.find((l) => l.includes('alien'))).toMatch(/^FAIL .*AlienAttention/);
  expect(lines.find((l) => l.includes('census.json'))).toMatch(/^FAIL .*no evaluator for yolov8 "census"/);
  expect(lines.find((l) => l.startsWith('FAIL') && l.includes('forward'))).toMatch(/nowhere\.safetensors|no such file/i);
  expect(lines.some((l) => l.startsWith('SKIPPED'))).toBe(false);
  expect(code).toBe(1);
});

test('unknown backend and missing path are clear errors', async () => {
  const a = await golden(['fixtures/golden', '--backend', 'metal']);
  expect(a.code).toBe(2);
  expect(a.stderr).toMatch(/unknown backend "metal"; known: auto, tensorflow, webgpu, node, wasm, cpu/);
  const b = await golden(['no/such/dir']);
  expect(b.code).toBe(2);
  expect(b.stderr).toMatch(/does not exist/);
});
