// `pnpm golden` contract: one line per case (PASS/FAIL/SKIPPED, name, worst, tol), then `N passed, M failed`,
// exit code 1 when any case failed. Runs the built CLI as a user would.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'packages/runner/dist/cli/golden.js');

function golden(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, INIT_CWD: root } });
  const lines = r.stdout.trim().split('\n');
  return { code: r.status, lines, stderr: r.stderr };
}

const LINE = /^(PASS|FAIL|SKIPPED)\s+(\S+)\s+worst (\S+)\s+tol (\S+)/;

test('evaluates the repo fixtures: every line well-formed, totals match, exit code follows failures', () => {
  const { code, lines, stderr } = golden(['fixtures/golden', '--backend', 'wasm']);
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
  for (const l of cases.filter((x) => x.startsWith('SKIPPED'))) expect(l).toMatch(/\(.+\)$/);
  // Nothing fails in the repo's own reference data.
  expect(failed, cases.filter((l) => l.startsWith('FAIL')).join('\n')).toBe(0);
});

test('an unknown or unparsable JSON file is SKIPPED with the reason', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'golden-'));
  fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ hello: 'world' }));
  fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json');
  const { code, lines } = golden([dir]);
  expect(lines.find((l) => l.includes('other.json'))).toMatch(/^SKIPPED .*not a case file/);
  expect(lines.find((l) => l.includes('broken.json'))).toMatch(/^SKIPPED .*not valid JSON/);
  expect(lines.at(-1)).toBe('0 passed, 0 failed');
  expect(code).toBe(0);
});

test('unknown backend and missing path are clear errors', () => {
  const a = golden(['fixtures/golden', '--backend', 'metal']);
  expect(a.code).toBe(2);
  expect(a.stderr).toMatch(/unknown backend "metal"; known: auto, tensorflow, node, wasm, cpu/);
  const b = golden(['no/such/dir']);
  expect(b.code).toBe(2);
  expect(b.stderr).toMatch(/does not exist/);
});
