#!/usr/bin/env node
/**
 * `pnpm dashboard [--db results/ablate.db] [--port 8080] [--host 127.0.0.1]`: serves the dashboard
 * over a read-only connection to the results database and prints the URL to open.
 */
import { Command, InvalidArgumentError } from 'commander';
import { buildServer } from './app.js';
import { interfaceAddresses } from './host-check.js';

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError(`"${v}" is not a port number (0-65535; 0 picks a free port)`);
  return n;
}

const program = new Command('dashboard')
  .description('Browse ablation results: a read-only web dashboard over the results database')
  .option('--db <file>', 'results database (SQLite, written by pnpm sweep)', 'results/ablate.db')
  .option('--port <n>', 'port to listen on (0 = any free port)', port, 8080)
  .option('--host <host>', 'interface to bind (default: this machine only)', '127.0.0.1')
  .option('--static <dir>', 'folder of the built browser app (default: dist/web beside the server)')
  .option(
    '--allow-host <name>',
    'also answer requests addressed to this host name (e.g. a reverse proxy); repeatable',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .parse();
const o = program.opts<{ db: string; port: number; host: string; static?: string; allowHost: string[] }>();

try {
  const app = await buildServer({ db: o.db, staticDir: o.static, hosts: { bound: o.host, extra: o.allowHost } });
  await app.listen({ port: o.port, host: o.host });
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : o.port;
  const url = (h: string) => `http://${h.includes(':') ? `[${h}]` : h}:${actual}/`;
  const all = o.host === '0.0.0.0' || o.host === '::';
  console.log(`ablate dashboard: ${url(all ? '127.0.0.1' : o.host)}  (database ${o.db}, read-only; Ctrl-C to stop)`);
  if (all) {
    console.warn(
      `dashboard: WARNING: --host ${o.host} listens on every network interface: anyone who can reach this machine can read the results (no authentication).`,
    );
    console.warn(
      `dashboard: listening on ${interfaceAddresses(o.host === '::')
        .map(url)
        .join('  ')}`,
    );
  }
  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  const msg =
    err.code === 'EADDRINUSE'
      ? `port ${o.port} on ${o.host} is in use; pick another with --port (0 = any free port)`
      : err.message.includes('does not exist')
        ? `${err.message}: run a sweep first (pnpm sweep experiments/smoke.yaml) or pass --db <file>`
        : err.message;
  console.error(`dashboard: ${msg}`);
  process.exit(1);
}
