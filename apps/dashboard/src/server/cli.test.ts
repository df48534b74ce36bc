/** The `pnpm dashboard` command (built: dist/server/cli.js): prints the URL, binds 127.0.0.1, serves; clear errors. */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { generateDb } from '../gen/generate.js';
import { tmpFile } from '../test-utils/reference.js';

const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));
const procs: ChildProcess[] = [];

function run(args: string[]): { proc: ChildProcess; out: Promise<string>; firstLine: Promise<string>; text: () => string } {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build the dashboard first (pnpm build)`);
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let buf = '';
  const firstLine = new Promise<string>((resolve) => {
    const on = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]);
    };
    proc.stdout?.on('data', on);
    proc.stderr?.on('data', on);
    proc.on('exit', () => resolve(buf));
  });
  const out = new Promise<string>((resolve) => proc.on('exit', (code) => resolve(`${buf}\nexit ${code}`)));
  return { proc, out, firstLine, text: () => buf };
}

afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGTERM');
});

describe('dashboard CLI', () => {
  test('--port 0 picks a free port on 127.0.0.1 and prints the URL; the URL serves the app and the API', async () => {
    const db = tmpFile();
    generateDb(db, { sweep: 's', modules: ['DAttention'], positions: ['neck'], seeds: 2, epochs: 3 });
    const { firstLine } = run(['--db', db, '--port', '0']);
    const line = await firstLine;
    const m = line.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    expect(m, line).not.toBeNull();
    const url = m![0];
    const api = await fetch(`${url}api/sweeps`);
    expect(api.status).toBe(200);
    expect(((await api.json()) as { sweeps: { name: string }[] }).sweeps.map((s) => s.name)).toEqual(['s']);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<main id="app">'); // the built index.html (a missing build answers 503)
  });

  test('--host 0.0.0.0 warns and prints the real addresses; a foreign Host is refused there too', async () => {
    const db = tmpFile();
    generateDb(db, { sweep: 's', modules: ['DAttention'], positions: ['neck'], seeds: 2, epochs: 3 });
    const { firstLine, text } = run(['--db', db, '--port', '0', '--host', '0.0.0.0']);
    const line = await firstLine;
    const m = line.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    expect(m, line).not.toBeNull();
    const deadline = Date.now() + 10_000;
    while (!text().includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const err = text();
    expect(err).toMatch(/WARNING: --host 0\.0\.0\.0 listens on every network interface/);
    expect(err).toMatch(/listening on .*http:\/\/127\.0\.0\.1:\d+\//);
    expect((await fetch(`${m![0]}api/sweeps`)).status).toBe(200);
    // fetch cannot set Host; a raw request can
    const port = Number(m![1]);
    const net = await import('node:net');
    const res = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () =>
        s.write(`GET /api/sweeps HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`),
      );
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
      });
      s.on('end', () => resolve(buf));
      s.on('error', reject);
    });
    expect(res.split(' ')[1]).toBe('403');
  });

  test('a missing database: exit 1 and a message that says what to do', async () => {
    const { out } = run(['--db', '/nonexistent/ablate.db', '--port', '0']);
    const text = await out;
    expect(text).toMatch(/does not exist: run a sweep first .* or pass --db <file>/);
    expect(text).toMatch(/exit 1$/);
  });

  test('a bad port: exit non-zero naming the value', async () => {
    const { out } = run(['--db', 'x.db', '--port', 'eighty']);
    const text = await out;
    expect(text).toMatch(/"eighty" is not a port number/);
    expect(text).not.toMatch(/exit 0$/);
  });
});
