/** Runs every case found under the given paths on the given backends. */
import * as path from 'node:path';
import { type BackendName, initBackend } from '@ablate/core';
import { discover } from './discover.js';
import { isAttentionCase } from './families/attention.js';
import { FAMILIES, YOLOV8_KINDS } from './families/index.js';
import { formatLine } from './format.js';
import type { CaseLine, GoldenFile } from './types.js';

export interface GoldenOptions {
  backends: BackendName[];
  verbose?: boolean;
  /** Called with each line as soon as it is known. */
  onLine?: (line: string) => void;
  log?: (line: string) => void;
}

/**
 * Why no family evaluates a file, and whether that fails the gate. A file that claims a known family
 * (a yolov8 case kind, the attention-case layout) but that nothing evaluates, and a .json file that does
 * not parse, FAIL: a broken matcher or a damaged fixture must fail CI instead of dropping a case. Only
 * JSON of an unknown layout is SKIPPED.
 */
function describeUnknown(f: GoldenFile): { status: 'FAIL' | 'SKIPPED'; note: string } {
  if (f.json?.__parseError) return { status: 'FAIL', note: `not valid JSON: ${f.json.__parseError}` };
  if (YOLOV8_KINDS.includes(f.json?.case)) return { status: 'FAIL', note: `no evaluator for yolov8 "${f.json.case}" cases` };
  if (isAttentionCase(f.json))
    return { status: 'FAIL', note: `attention case of class ${f.json.reference.class}: no package evaluates it` };
  return { status: 'SKIPPED', note: 'not a case file of a known format' };
}

/** Families whose evaluation does not depend on the tensor backend run once, not per backend. */
const BACKEND_FREE = new Set(['coco', 'stats', 'yolov8/census', 'yolov8/insertion', 'yolov8/metrics', 'yolov8/metrics_edge', 'yolov8/nms']);

export async function runGolden(targets: string[], opts: GoldenOptions): Promise<CaseLine[]> {
  const files = targets.flatMap((t) => discover(t));
  const lines: CaseLine[] = [];
  const emit = (l: CaseLine) => {
    lines.push(l);
    opts.onLine?.(formatLine(l));
  };
  const log = opts.log ?? ((s: string) => console.error(s));
  const multi = opts.backends.length > 1;
  for (const [bi, backend] of opts.backends.entries()) {
    await initBackend(backend, { log: (l) => log(l) });
    for (const f of files) {
      const fam = FAMILIES.find((x) => x.matches(f));
      const rel = path.relative(process.cwd(), f.path);
      if (!fam) {
        if (bi === 0) {
          const u = describeUnknown(f);
          emit({ name: typeof f.json?.case === 'string' ? f.json.case : rel, status: u.status, note: `${rel}: ${u.note}` });
        }
        continue;
      }
      if (bi > 0 && BACKEND_FREE.has(fam.id)) continue;
      const suffix = multi && !BACKEND_FREE.has(fam.id) ? ` [${backend}]` : '';
      try {
        const out = await fam.evaluate(f, { backend, verbose: Boolean(opts.verbose), log });
        if (out.length === 0) throw new Error(`${rel}: the file holds no case this family could evaluate`);
        for (const l of out) {
          // Inside a known family, a case that cannot be evaluated is a failure, never a skip.
          const strict = l.status === 'SKIPPED' ? { status: 'FAIL' as const, note: `cannot be evaluated: ${l.note ?? ''}` } : {};
          emit({ ...l, ...strict, name: l.name + suffix });
        }
      } catch (e) {
        const msg = (e as Error).message.split('\n')[0];
        emit({ name: (f.json?.case ?? rel) + suffix, status: 'FAIL', note: `${fam.id}: ${msg}` });
        if (opts.verbose) log((e as Error).stack ?? msg);
      }
    }
  }
  return lines;
}
