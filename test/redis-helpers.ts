// A real redis-server for the queue tests: a random loopback port, a temp folder, the append-only file on
// (so a restart keeps the queue), stopped by the test. Loudly refuses when redis-server is missing.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export function redisServerPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run installs it)');
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RedisServer {
  port: number;
  url: string;
  proc: ChildProcess;
  /** Stops it (SIGTERM: the append-only file is flushed) and waits for the exit. */
  stop(): Promise<void>;
}

export async function startRedis(dir: string, port?: number): Promise<RedisServer> {
  const bin = redisServerPath();
  fs.mkdirSync(dir, { recursive: true });
  const p = port ?? (await freePort());
  const proc = spawn(
    bin,
    [
      '--port',
      String(p),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 20_000);
    const on = (b: Buffer) => {
      log += b.toString();
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', on);
    proc.stderr?.on('data', on);
    proc.on('exit', () => reject(new Error(`redis-server exited:\n${log}`)));
  });
  fs.writeFileSync(path.join(dir, 'port'), String(p));
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
