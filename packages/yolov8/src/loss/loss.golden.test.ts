// DetectionLoss against the Ultralytics 8.0.229 reference (fixtures/golden/yolov8/loss_n), on cpu and wasm.
import * as fs from 'node:fs';
import { initBackend, readSafetensors } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DetectionLoss } from './detection-loss.js';
import { runLossGolden } from './golden.js';

const dir = new URL('../../../../fixtures/golden/yolov8/', import.meta.url);
const json = JSON.parse(fs.readFileSync(new URL('loss_n.json', dir), 'utf8'));
const tensors = readSafetensors(fs.readFileSync(new URL(json.file, dir))).tensors;
const scenarios = Object.keys(json.scenarios);

for (const backend of testBackends()) {
  describe(`DetectionLoss golden (${backend})`, () => {
    beforeAll(async () => {
      await initBackend(backend, { log: false });
    });

    it('covers the five scenarios of the reference', () => {
      expect(scenarios).toEqual(['main', 'no_targets', 'one_image_empty', 'tiny_no_anchor_inside', 'crafted_good_preds']);
    });

    for (const s of scenarios) {
      it(`scenario ${s}: loss, items, gradients, targets and assigner match`, async () => {
        const before = tf.memory().numTensors;
        const r = await runLossGolden(json, tensors, { scenarios: [s] });
        expect(tf.memory().numTensors).toBe(before);
        const bad = r.rows.filter((row) => !row.pass);
        const worst = (k: string) => r.rows.find((row) => row.key === k);
        console.log(
          `[${backend}] ${s}: ` +
            r.rows
              .filter((row) => row.metric !== 'mismatches' || row.value > 0)
              .map((row) => `${row.key} ${row.metric} ${row.value.toExponential(2)}`)
              .join(', '),
        );
        expect(bad).toEqual([]);
        // Every check ran (grad per level, both assigner comparisons).
        expect(r.rows.filter((row) => row.key.startsWith('grad.')).length).toBe(3);
        expect(worst('fg_mask')?.value).toBe(0);
        expect(worst('assigner(ref inputs).fg_mask')?.value).toBe(0);
      });
    }

    it('compute() without a tape: fg anchors per image and target_scores_sum as in the JSON, no leak', () => {
      const strides = Array.from(tensors.get('stride')!.data as Float32Array);
      const loss = new DetectionLoss({
        nc: json.nc,
        regMax: json.reg_max,
        strides,
        topk: json.assigner.topk,
        alpha: json.assigner.alpha,
        beta: json.assigner.beta,
      });
      for (const s of scenarios) {
        const raws = strides.map((_, l) => tensors.get(`case.${s}.raw.${l}`) ?? tensors.get(`raw.${l}`)!);
        const feats = raws.map((r) =>
          tf.tidy(() => {
            // [B, C, H, W] -> [B, H, W, C]
            const nchw: tf.Tensor = tf.tensor(r.data as Float32Array, r.shape);
            return tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
          }),
        );
        const t = tensors.get(`case.${s}.targets`)!;
        const d = t.data as Float32Array;
        const rows = Array.from({ length: t.shape[0] }, (_, i) => d.subarray(6 * i, 6 * i + 6));
        const before = tf.memory().numTensors;
        const r = loss.compute(feats, {
          batchIdx: rows.map((x) => x[0]),
          cls: rows.map((x) => x[1]),
          bboxes: rows.map((x) => Array.from(x.subarray(2))),
        });
        const B = feats[0].shape[0];
        const A = r.assignment.fgMask.length / B;
        const per = Array.from({ length: B }, (_, b) => r.assignment.fgMask.subarray(b * A, (b + 1) * A).reduce((acc, v) => acc + v, 0));
        expect(per).toEqual(json.scenarios[s].fg_per_image);
        expect(r.assignment.numFg).toBe(json.scenarios[s].num_fg_anchors);
        expect(Math.abs(r.targetScoresSum - json.scenarios[s].target_scores_sum_used)).toBeLessThan(
          1e-5 * json.scenarios[s].target_scores_sum_used,
        );
        expect(Math.abs(r.loss.dataSync()[0] - json.scenarios[s].loss_total)).toBeLessThan(
          json.tolerance.loss_total.rel * json.scenarios[s].loss_total,
        );
        r.loss.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose(feats);
      }
    });
  });
}
