/**
 * DNS-rebinding protection: the dashboard answers only requests whose `Host` header names an address it
 * serves. A page on evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example:8080`
 * and gets 403, so it cannot read the results. Allowed: localhost, 127.0.0.1 and [::1], the host the
 * server was bound to, every address of this machine when bound to all interfaces (0.0.0.0 / ::), and
 * names given with --allow-host; with the port the server listens on (a Host without a port means 80).
 */
import * as os from 'node:os';

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const ANY = ['0.0.0.0', '::', ''];

/** This machine's interface addresses (IPv4, and IPv6 too when `v6`). */
export function interfaceAddresses(v6 = true): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? [])
      if (a.family === 'IPv4' || (v6 && a.family === 'IPv6' && !a.address.startsWith('fe80'))) out.push(a.address);
  }
  return out;
}

/** Splits a Host header into a lower-case hostname (IPv6 without brackets) and a port (null when absent); null when malformed. */
export function parseHost(h: string): { name: string; port: number | null } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(h.trim());
  if (!m) return null;
  return { name: (m[1] ?? m[2]).toLowerCase().replace(/\.$/, ''), port: m[3] === undefined ? null : Number(m[3]) };
}

export interface HostPolicy {
  /** The address the server was bound to (`--host`); all interfaces for 0.0.0.0 / ::. */
  bound?: string;
  /** Extra host names to accept (`--allow-host`, e.g. a reverse proxy's name). */
  extra?: readonly string[];
}

/** The host names accepted under `p`. */
export function allowedHostNames(p: HostPolicy): Set<string> {
  const names = new Set(LOOPBACK);
  const b = (p.bound ?? '127.0.0.1').toLowerCase().replace(/^\[|\]$/g, '');
  if (ANY.includes(b)) for (const a of interfaceAddresses(b !== '0.0.0.0')) names.add(a.toLowerCase());
  else names.add(b);
  for (const e of p.extra ?? []) names.add(e.toLowerCase());
  return names;
}

/**
 * Whether a request with this Host header is answered. `port` is the port the server listens on (undefined
 * when it does not listen, e.g. fastify's inject: then any port is accepted for an allowed name).
 */
export function hostAllowed(header: string | undefined, names: Set<string>, port: number | undefined): boolean {
  if (!header) return false;
  const h = parseHost(header);
  if (!h || !names.has(h.name)) return false;
  if (port === undefined) return true;
  return (h.port ?? 80) === port;
}
