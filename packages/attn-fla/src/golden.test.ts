import { formatParityReport, loadParityCase, type ParityAdapter, runParityCase } from '@ablate/core';
import { goldenCasePaths, runGoldenCase, testBackends, useBackend } from '@ablate/core/testing';
import { describe, expect, it } from 'vitest';
import { FocusedLinearAttention } from './focused-linear-attention.js';
import { goldenAdapter, goldenMatches, normalizationOfCommit } from './golden.js';

const dir = new URL('../../../fixtures/golden/attention/', import.meta.url).pathname;
const cases = goldenCasePaths(dir, goldenMatches);

describe('FocusedLinearAttention golden parity', () => {
  it('finds the visible fla cases by their reference (and nothing else)', () => {
    const names = cases.map((p) => p.split('/').pop());
    expect(names).toContain('fla_seedmap_d32_h4_w8x8_b2_8x8.json');
    expect(names).toContain('fla_seedmap_d32_h4_w8x8_b2_6x6.json');
    expect(names).toContain('fla_swin_d32_h4_w7x7_bw4.json');
    expect(names.every((n) => n?.startsWith('fla_'))).toBe(true);
  });

  it('maps the two official commits to their normalisation', () => {
    expect(normalizationOfCommit('e743f01')).toBe('sum');
    expect(normalizationOfCommit('abdb115f5406c0e1b6864aad7fe998a3f424ae76')).toBe('mean');
    expect(() => normalizationOfCommit('1234567')).toThrow(/unknown FLatten-Transformer commit "1234567"; known: e743f01, abdb115/);
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

  it('the other version\'s normalisation does not pass (the cases tell "sum" from "mean")', async () => {
    await useBackend('cpu');
    for (const p of cases.filter((q) => /fla_(seedmap_d32_h4_w8x8_b2_8x8|swin_d32_h4_w7x7_bw4)\.json$/.test(q))) {
      const c = loadParityCase(p);
      const swapped: ParityAdapter = {
        build(cc) {
          const m = goldenAdapter.build(cc) as FocusedLinearAttention;
          const k = cc.json.constructor;
          const norm = m.normalization === 'sum' ? 'mean' : 'sum';
          m.dispose();
          return new FocusedLinearAttention(k.dim, {
            windowSize: k.window_size,
            numHeads: k.num_heads,
            focusingFactor: k.focusing_factor,
            kernelSize: k.kernel_size,
            normalization: norm,
          });
        },
        forward: goldenAdapter.forward,
      };
      const report = runParityCase(c, swapped, { gradients: false });
      const y = report.rows.find((r) => r.key === 'output.y');
      console.log(`${c.name} with the other normalisation: output max_abs ${y?.maxAbs.toExponential(2)}`);
      expect(report.pass).toBe(false);
      expect(y?.maxAbs).toBeGreaterThan(1e-3);
    }
  });
});
