/** Per-variant description over seeds: n, mean, sample std (n - 1) and the 95% t-interval of the mean. */
import { studentQuantile } from './dists.js';

export interface Summary {
  n: number;
  /** null when n = 0. */
  mean: number | null;
  /** Sample standard deviation (n - 1); null when n < 2. */
  std: number | null;
  /** mean +- t(0.975, n - 1) * std / sqrt(n); null when n < 2. */
  ci95: [number, number] | null;
}

export function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n - 1), computed around the mean in two passes. */
export function variance(xs: readonly number[]): number {
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

/** Throws on a value that is not a finite number, naming where it came from. */
export function checkFinite(xs: readonly number[], what: string): void {
  for (let i = 0; i < xs.length; i++) {
    if (typeof xs[i] !== 'number' || !Number.isFinite(xs[i])) {
      throw new Error(`${what}: value ${i} is ${String(xs[i])}, expected a finite number`);
    }
  }
}

export function describe(xs: readonly number[], level = 0.95): Summary {
  const n = xs.length;
  if (n === 0) return { n, mean: null, std: null, ci95: null };
  const m = mean(xs);
  if (n < 2) return { n, mean: m, std: null, ci95: null };
  const sd = Math.sqrt(variance(xs));
  const h = studentQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean: m, std: sd, ci95: [m - h, m + h] };
}
