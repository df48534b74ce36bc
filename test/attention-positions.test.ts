// Issue 4: every attention module inserted into yolov8n at every position (residual, pre-SPPF, neck,
// pre-head) trains on wasm at 128x128 and at 96x160 (H x W, non-square), batch 2, nc 3, with each plugin's
// default args. One model per (module, position), shared by both input sizes; per size two training steps
// (train-mode forward, DetectionLoss on fixed targets, gradients of every trainable variable, SGD update).
// Asserted: the loss is finite; every parameter of the inserted module(s) has a finite gradient that is
// non-zero, except those whose gradient is zero mathematically (asserted ~0, see SOFTMAX_SHIFT and
// OUTPUT_SHIFT); the number of live tensors is the same after step 1 and after step 2 (nothing leaks across
// steps); and disposing the model frees everything the test allocated. No timings are asserted (they are printed).
import { plugin as a2 } from '@ablate/attn-a2';
import { plugin as cloformer } from '@ablate/attn-cloformer';
import { plugin as dat } from '@ablate/attn-dat';
import { plugin as fla } from '@ablate/attn-fla';
import { plugin as msdeform } from '@ablate/attn-msdeform';
import { Generator, initBackend, manualSeed, randUniform } from '@ablate/core';
import { buildModel, createRegistry, DetectionLoss, type DetectionModel, type InsertPosition, insertModule } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

// The runner's ATTENTION_PLUGINS (packages/runner/src/plugins.ts), in the same order.
const PLUGINS = [dat, msdeform, a2, cloformer, fla];
const registry = createRegistry(...PLUGINS);
const MODULES = PLUGINS.flatMap((p) => p.modules.map((s) => s.name));

const POSITIONS = ['residual', 'pre-SPPF', 'neck', 'pre-head'] as const satisfies readonly InsertPosition[];
/** How many copies of the module each position builds in yolov8n: residual = one per Bottleneck of the deepest
 *  backbone C2f (yolov8n: n = 1), pre-head = one per Detect input (P3, P4, P5). */
const COPIES: Record<(typeof POSITIONS)[number], number> = { residual: 1, 'pre-SPPF': 1, neck: 1, 'pre-head': 3 };
/** [H, W] of the input images. */
const SIZES: [number, number][] = [
  [128, 128],
  [96, 160],
];
const NC = 3;
const TARGETS = {
  batchIdx: [0, 0, 1, 1],
  cls: [0, 2, 1, 0],
  bboxes: [
    [0.3, 0.4, 0.25, 0.3],
    [0.7, 0.6, 0.4, 0.5],
    [0.5, 0.5, 0.6, 0.35],
    [0.2, 0.8, 0.08, 0.1],
  ],
};

/**
 * Parameters whose gradient is zero mathematically, asserted ~0 (the largest |gradient| entry below a tolerance
 * times the largest of its module copy; float32 round-off leaves ~1e-11..3e-6 of it) instead of non-zero.
 *
 * SOFTMAX_SHIFT, zero at every position: the bias shifts every logit of a softmax row alike.
 *  - DAttention `proj_k.bias`: adds q·b to all logits of a query's softmax over the keys;
 *  - DoubleAttention `convB.bias`: adds b_j to all logits of descriptor j's softmax over the positions.
 */
const SOFTMAX_SHIFT: Record<string, RegExp> = {
  DAttention: /\.proj_k\.bias$/,
  DoubleAttention: /\.convB\.bias$/,
};
const SOFTMAX_SHIFT_TOL = 1e-6;
/**
 * OUTPUT_SHIFT: the bias only adds a per-channel constant to the module's output, the same at every position
 * and image (attention weights that sum to 1 carry a value bias through unchanged; a bias after the last
 * projection or on the LePE/dwc branch that is added to it likewise). Where every path from the module to the
 * loss starts with a 1x1 Conv followed by a train-mode BatchNorm, such a constant is removed by the batch mean,
 * so the gradient is zero: residual (x + attn(.) -> C2f concat -> cv2 1x1 -> BN), pre-SPPF (SPPF cv1 1x1 -> BN),
 * neck (Upsample/Concat -> C2f cv1 1x1 -> BN). Pre-head feeds Detect's 3x3 Convs, whose zero padding makes
 * the constant visible at the borders: there these gradients are asserted clearly non-zero.
 *  - DAttention: `proj_v.bias` (softmax over keys sums to 1), `rpe_table.bias` (LePE added after attention),
 *    `proj_out.bias`. Not `proj_q.bias` (moves the offsets and logits).
 *  - MSDeformAttn: `output_proj.bias`. Not `value_proj.bias`: sampling points outside the map read zeros.
 *  - DoubleAttention: `convA.bias` (both softmaxes sum to 1), `conv_reconstruct.bias`.
 *  - EfficientAttention: `proj.bias`; `global_kv.bias` (k half: softmax shift; v half: carried through the
 *    global softmax). Not the local branch's `qkvs` biases (gated by a non-constant tanh attention).
 *  - FocusedLinearAttention: `proj.bias`, `dwc.bias` (the dwc branch is added to the attention output).
 */
const OUTPUT_SHIFT: Record<string, RegExp> = {
  DAttention: /\.(proj_v|rpe_table|proj_out)\.bias$/,
  MSDeformAttn: /\.output_proj\.bias$/,
  DoubleAttention: /\.(convA|conv_reconstruct)\.bias$/,
  EfficientAttention: /\.(proj|global_kv)\.bias$/,
  FocusedLinearAttention: /\.(proj|dwc)\.bias$/,
};
const OUTPUT_SHIFT_TOL = 1e-4;
/**
 * Every other parameter: "non-zero" means above float32 round-off, i.e. the largest |gradient| entry is above
 * NONZERO_REL x the largest of its module copy (mathematically zero ones stay <= ~3e-6 of it; real ones are
 * >= ~7e-4 here).
 */
const NONZERO_REL = 1e-5;
/** Positions whose consumers remove per-channel constants (1x1 Conv + train-mode BatchNorm), see above. */
const SHIFT_INVARIANT: ReadonlySet<string> = new Set(['residual', 'pre-SPPF', 'neck']);

interface GradStat {
  name: string;
  size: number;
  finite: boolean;
  maxAbs: number;
}

function gradStats(named: [string, tf.Variable][], grads: tf.NamedTensorMap): GradStat[] {
  return named.map(([name, v]) => {
    const g = grads[v.name];
    if (!g) return { name, size: v.size, finite: false, maxAbs: Number.NaN };
    const d = g.dataSync();
    let finite = true;
    let maxAbs = 0;
    for (let i = 0; i < d.length; i++) {
      const a = Math.abs(d[i]);
      if (!Number.isFinite(a)) finite = false;
      else if (a > maxAbs) maxAbs = a;
    }
    return { name, size: v.size, finite, maxAbs };
  });
}

describe('attention modules in yolov8n at every position, one training step on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: false });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('the modules under test are the five plugins', () => {
    expect(MODULES).toEqual(['DAttention', 'MSDeformAttn', 'DoubleAttention', 'EfficientAttention', 'FocusedLinearAttention']);
  });

  for (const name of MODULES) {
    for (const position of POSITIONS) {
      it(`${name} at ${position}: 128x128 and 96x160`, () => {
        const t0 = performance.now();
        const start = tf.memory().numTensors;
        manualSeed(0);
        const yaml = insertModule('yolov8n.yaml', { name, args: [] }, position, { registry });
        const model: DetectionModel = buildModel(yaml, { scale: 'n', nc: NC, registry });
        const lines: string[] = [];
        try {
          // The inserted module(s): new layers of that module, or `.attn` children (residual).
          const layerIdx = model.layers.filter((l) => l.plan.module === name).map((l) => l.plan.index);
          const isAttn = (n: string) => n.includes('.attn.') || layerIdx.some((i) => n.startsWith(`model.${i}.`));
          const roots = new Set(
            model
              .namedModules()
              .map(([n]) => n)
              .filter((n) => /\.attn$/.test(n) || layerIdx.some((i) => n === `model.${i}`)),
          );
          expect(roots.size, [...roots].join(', ')).toBe(COPIES[position]);
          const trainable = model.namedParameters().filter(([, p]) => p.trainable);
          const vars = trainable.map(([, p]) => p.variable);
          const attn = trainable.filter(([n]) => isAttn(n)).map(([n, p]) => [n, p.variable] as [string, tf.Variable]);
          expect(attn.length).toBeGreaterThan(0);
          const crit = new DetectionLoss({ nc: NC, strides: model.stride });
          const opt = tf.train.sgd(0.01);
          model.train();
          for (const [h, w] of SIZES) {
            const x = randUniform([2, h, w, 3], 0, 1, new Generator(7));
            const counts: number[] = [];
            let stats: GradStat[] = [];
            const losses: number[] = [];
            for (let step = 0; step < 2; step++) {
              const { value, grads } = tf.variableGrads(() => crit.compute(model.forward(x) as tf.Tensor4D[], TARGETS).loss, vars);
              losses.push(value.dataSync()[0]);
              if (step === 0) stats = gradStats(attn, grads);
              opt.applyGradients(grads);
              tf.dispose([value, ...Object.values(grads)]);
              counts.push(tf.memory().numTensors);
            }
            x.dispose();
            const tag = `${name} @ ${position} ${h}x${w}`;
            for (const l of losses) expect(Number.isFinite(l), `${tag}: loss ${l}`).toBe(true);
            expect(counts[1], `${tag}: live tensors after step 1 and step 2`).toBe(counts[0]);
            // Gradients are compared within each inserted copy (pre-head: the P5 copy gets far smaller ones).
            const rootOf = (n: string) => [...roots].find((r) => n.startsWith(`${r}.`)) as string;
            const scales = new Map<string, number>();
            for (const s of stats) if (s.finite) scales.set(rootOf(s.name), Math.max(scales.get(rootOf(s.name)) ?? 0, s.maxAbs));
            for (const r of roots) expect(scales.get(r), `${tag}: largest gradient in ${r}`).toBeGreaterThan(0);
            const scale = Math.max(...scales.values());
            const softmaxRe = SOFTMAX_SHIFT[name];
            const outputRe = OUTPUT_SHIFT[name];
            const zeroes: string[] = [];
            let normal = 0;
            let smallest = { name: '', rel: Number.POSITIVE_INFINITY };
            for (const s of stats) {
              expect(s.finite, `${tag}: gradient of ${s.name} is missing or not finite`).toBe(true);
              const rel = s.maxAbs / (scales.get(rootOf(s.name)) as number);
              if (softmaxRe?.test(s.name)) {
                zeroes.push(`${s.name} ${rel.toExponential(1)}`);
                expect(rel, `${tag}: ${s.name} (softmax shift) should have a ~0 gradient`).toBeLessThanOrEqual(SOFTMAX_SHIFT_TOL);
              } else if (outputRe?.test(s.name) && SHIFT_INVARIANT.has(position)) {
                zeroes.push(`${s.name} ${rel.toExponential(1)}`);
                expect(rel, `${tag}: ${s.name} (output shift before 1x1 Conv + BN) should have a ~0 gradient`).toBeLessThanOrEqual(
                  OUTPUT_SHIFT_TOL,
                );
              } else {
                normal++;
                expect(rel, `${tag}: gradient of ${s.name} is zero (relative to its module's largest)`).toBeGreaterThan(NONZERO_REL);
                if (outputRe?.test(s.name)) {
                  expect(rel, `${tag}: ${s.name} (output shift before Detect's 3x3 Convs) should be clearly non-zero`).toBeGreaterThan(
                    OUTPUT_SHIFT_TOL,
                  );
                }
                if (rel < smallest.rel) smallest = { name: s.name, rel };
              }
            }
            expect(normal).toBeGreaterThan(stats.length / 2);
            lines.push(
              `${tag}: loss ${losses.map((l) => l.toFixed(4)).join(' -> ')}, ${attn.length} attention tensors, ` +
                `max |g| ${scale.toExponential(2)}, smallest non-zero (rel.) ${smallest.name} ${smallest.rel.toExponential(1)}` +
                (zeroes.length ? `; ~0 (rel.): ${zeroes.join(', ')}` : ''),
            );
          }
          opt.dispose();
        } finally {
          model.dispose();
        }
        expect(tf.memory().numTensors, `${name} @ ${position}: tensors left after dispose`).toBe(start);
        console.log(`${lines.join('\n')}\n  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      });
    }
  }
});
