/** What every page provides to the router, and the bits pages share. */
import type { Chart } from 'chart.js';

export interface Page {
  /** Re-reads the data (live update) keeping the page's state (metric, selections, open panels). */
  refresh(): Promise<void>;
  destroy(): void;
}

export interface Route {
  /** `sweep`, `trial`, `compare` or `sweeps`. */
  name: string;
  /** Path segments after the page name, decoded. */
  args: string[];
  params: URLSearchParams;
}

/** Keeps a page's charts to destroy them before re-rendering. */
export class Charts {
  private list: Chart[] = [];
  add(...c: Chart[]): void {
    this.list.push(...c);
  }
  destroy(): void {
    for (const c of this.list) c.destroy();
    this.list = [];
  }
}

export function href(name: string, args: string[] = [], params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${[name, ...args.map(encodeURIComponent)].join('/')}${qs ? `?${qs}` : ''}`;
}

/** Replaces the hash without a navigation (state kept in the URL, e.g. the metric). */
export function replaceHash(h: string): void {
  history.replaceState(null, '', h);
}
