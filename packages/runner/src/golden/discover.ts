/** Finds case files: every JSON file under a folder (recursively), or the one file given. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GoldenFile } from './types.js';

export function discover(target: string): GoldenFile[] {
  const abs = path.resolve(target);
  if (!fs.existsSync(abs)) throw new Error(`golden: "${target}" does not exist`);
  const files: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else if (p.endsWith('.json')) files.push(p);
  };
  if (fs.statSync(abs).isDirectory()) walk(abs);
  else if (abs.endsWith('.json')) files.push(abs);
  else if (abs.endsWith('.safetensors')) {
    const side = abs.replace(/\.safetensors$/, '.json');
    if (!fs.existsSync(side)) throw new Error(`golden: "${target}" has no JSON sidecar (${path.basename(side)})`);
    files.push(side);
  } else throw new Error(`golden: "${target}" is neither a folder, a .json case file nor a .safetensors file`);
  const out: GoldenFile[] = [];
  for (const f of files) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(f, 'utf8'));
    } catch (e) {
      out.push({ path: f, json: { __parseError: (e as Error).message } });
      continue;
    }
    // An index (a list of cases) is not a case itself.
    if (json && typeof json === 'object' && Array.isArray((json as { cases?: unknown }).cases)) continue;
    out.push({ path: f, json });
  }
  return out;
}
