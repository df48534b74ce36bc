/**
 * Attention-module cases (format `fixtures/golden/attention/README.md`): each attention package exports
 * `goldenMatches(json)` and `goldenAdapter`; the shared parity harness of `@ablate/core` runs the case.
 */

import * as a2 from '@ablate/attn-a2';
import * as cloformer from '@ablate/attn-cloformer';
import * as dat from '@ablate/attn-dat';
import * as fla from '@ablate/attn-fla';
import * as msdeform from '@ablate/attn-msdeform';
import { loadParityCase, type ParityAdapter, runParityCaseAsync } from '@ablate/core';
import type { CaseLine, GoldenFamily, GoldenFile } from '../types.js';

interface AttentionGolden {
  goldenMatches(json: unknown): boolean;
  goldenAdapter: ParityAdapter;
}

const PACKAGES: [string, unknown][] = [
  ['@ablate/attn-dat', dat],
  ['@ablate/attn-msdeform', msdeform],
  ['@ablate/attn-a2', a2],
  ['@ablate/attn-cloformer', cloformer],
  ['@ablate/attn-fla', fla],
];

function providers(): [string, AttentionGolden][] {
  return PACKAGES.filter(
    ([, m]) => typeof (m as Partial<AttentionGolden>).goldenMatches === 'function' && (m as Partial<AttentionGolden>).goldenAdapter,
  ) as [string, AttentionGolden][];
}

/** A JSON file in the attention-case format (whether or not a package evaluates it). */
export function isAttentionCase(json: { reference?: { class?: string }; file?: string; tolerance?: unknown }): boolean {
  return Boolean(json?.reference?.class && typeof json.file === 'string' && json.file.endsWith('.safetensors') && json.tolerance);
}

export const attentionFamily: GoldenFamily = {
  id: 'attention',
  matches: (f: GoldenFile) => isAttentionCase(f.json),
  async evaluate(f, ctx): Promise<CaseLine[]> {
    const name = f.json.case as string;
    const found = providers().filter(([, p]) => p.goldenMatches(f.json));
    if (found.length === 0) {
      return [{ name, status: 'SKIPPED', note: `no package evaluates ${f.json.reference.class} yet` }];
    }
    const [pkg, p] = found[0];
    const c = loadParityCase(f.path);
    // Every tensor the case file names must be in its tensor file: a missing one is a broken case, said by name.
    const keys: unknown = f.json.keys;
    const missing = Array.isArray(keys) ? keys.filter((k) => typeof k === 'string' && !c.tensors.has(k)) : [];
    if (missing.length) throw new Error(`${f.json.file}: missing tensor(s) ${missing.slice(0, 5).join(', ')} named in "keys" of ${name}`);
    const r = await runParityCaseAsync(c, p.goldenAdapter);
    if (ctx.verbose || !r.pass) {
      for (const row of r.rows) {
        if (ctx.verbose || !row.pass)
          ctx.log(
            `  ${row.pass ? 'ok  ' : 'FAIL'} ${name} ${row.key}: max_abs ${row.maxAbs.toExponential(2)} (tol ${row.tolMaxAbs}), rel_l2 ${row.relL2.toExponential(2)} (tol ${row.tolRelL2 ?? '-'})`,
          );
      }
    }
    const w = r.worst;
    const byRel = w.tolRelL2 !== null && w.relL2 / w.tolRelL2 >= w.maxAbs / w.tolMaxAbs;
    return [
      {
        name,
        status: r.pass ? 'PASS' : 'FAIL',
        worst: byRel ? w.relL2 : w.maxAbs,
        tolerance: byRel ? (w.tolRelL2 as number) : w.tolMaxAbs,
        metric: `${w.key} ${byRel ? 'rel_l2' : 'max_abs'}`,
        note: `${r.rows.length} tensors, ${pkg}`,
      },
    ];
  },
};
