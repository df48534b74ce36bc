/// <reference lib="dom" />
/** Helpers of the browser tests that run a real sweep: the sweep CLI as a child, the served Host, inked canvases. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const SWEEP_CLI = path.join(ROOT, 'packages/runner/dist/cli/sweep.js');

/**
 * Runs the built sweep CLI on an experiment file into `db`; throws with its output when it fails.
 * Asynchronous, so that the test worker keeps answering vitest while the sweep runs.
 */
export async function runSweep(experiment: string, db: string): Promise<void> {
  for (const f of [SWEEP_CLI, experiment])
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: the sweep needs the built runner (pnpm build) and the experiment file`);
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, [SWEEP_CLI, experiment, '--db', db, '--no-progress'], { cwd: ROOT });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('close', (code) => resolve({ code, out }));
  });
  if (r.code !== 0) throw new Error(`the sweep of ${experiment} failed (exit ${r.code}):\n${r.out}`);
}

/** The Host header a browser sends to a listening server (the dashboard refuses other hosts: DNS-rebinding protection). */
export const hostOf = (server: { server: { address(): unknown } }): string => {
  const a = server.server.address() as { port: number } | null;
  return a ? `127.0.0.1:${a.port}` : '127.0.0.1';
};

/** Non-blank pixels of the first canvas matching `selector` (it was drawn); -1 when there is none. */
export const inkedCanvas = (page: Page, selector: string) =>
  page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement | null;
    if (!c) return -1;
    const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    if (d) for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, selector);
