import { formatParityReport } from '@ablate/core';
import { goldenCasePaths, runGoldenCase, testBackends, useBackend } from '@ablate/core/testing';
import { describe, expect, it } from 'vitest';
import { goldenAdapter, goldenMatches } from './golden.js';

const dir = new URL('../../../fixtures/golden/attention/', import.meta.url).pathname;
const cases = goldenCasePaths(dir, goldenMatches);

describe('EfficientAttention (CloFormer) golden parity', () => {
  it('finds the visible cloformer cases by their reference (and nothing else)', () => {
    const names = cases.map((p) => p.split('/').pop());
    expect(names).toContain('cloformer_d32_h4_g2-2_k3_w4_b2_8x8.json');
    expect(names).toContain('cloformer_d32_h4_g1-1-2_k3-5_w2_b2_8x8.json');
    expect(names.every((n) => n?.startsWith('cloformer_'))).toBe(true);
  });

  for (const backend of testBackends()) {
    for (const p of cases) {
      const name = p.split('/').pop()?.replace('.json', '');
      it(`${name} on ${backend}: forward and every gradient within the case's tolerances; no leaks`, async () => {
        await useBackend(backend);
        const { report, tensorsBefore, tensorsAfter } = runGoldenCase(p, goldenAdapter);
        expect(tensorsAfter).toBe(tensorsBefore);
        console.log(`[${backend}] ${formatParityReport(report)}`);
        expect(report.rows.length).toBeGreaterThan(1);
        expect(report.pass, formatParityReport(report)).toBe(true);
      });
    }
  }
});
