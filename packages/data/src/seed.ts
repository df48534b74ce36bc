/**
 * Seed derivation: one 53-bit seed from several integers (seed, epoch, sample position, ...), so that
 * every random draw of the data pipeline depends only on its coordinates, never on call order.
 */
import { createHash } from 'node:crypto';

function mix32(h: number, v: number): number {
  let x = (h ^ Math.imul(v >>> 0, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed in [0, 2^53) that depends on every part (integers; large values use both 32-bit halves). */
export function deriveSeed(...parts: number[]): number {
  let a = 0x243f6a88;
  let b = 0x85a308d3;
  for (const p of parts) {
    if (!Number.isFinite(p)) throw new Error(`deriveSeed: parts must be finite numbers, got ${p}`);
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    a = mix32(a, lo ^ mix32(0x3c6ef372, hi));
    b = mix32(b ^ a, hi ^ lo);
  }
  return (a & 0x1fffff) * 4294967296 + b;
}

/** Short hex sha256 of a string. */
export function sha256Hex(text: string, length = 16): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** JSON with sorted object keys, for hashing configurations. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}
