// Census: YAML parsing and model assembly against Ultralytics 8.0.229 (fixtures/golden/yolov8/census.json):
// totals and every per-layer row, exactly; FLOPs within the file's tolerance.
import * as fs from 'node:fs';
import { BatchNorm2d, Conv2d, initBackend } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from './builtins.js';
import { buildModel } from './model.js';
import { parseModel, pyRound, scaleRepeats } from './parse.js';
import { countModules, formatSummary, summary } from './summary.js';
import { loadModelYaml, YOLOV8_YAML } from './yaml.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const census = JSON.parse(fs.readFileSync(new URL('census.json', dir), 'utf8'));

// biome-ignore lint/suspicious/noExplicitAny: reference JSON
type Entry = any;

function modelFor(e: Entry) {
  if (e.custom_scale) {
    const y = loadModelYaml(YOLOV8_YAML).yaml;
    y.scales = { ...y.scales, [e.scale]: e.custom_scale };
    return buildModel(y, { nc: e.nc, scale: e.scale });
  }
  return buildModel(`yolov8${e.scale}.yaml`, { nc: e.nc });
}

function label(e: Entry): string {
  return `${e.scale} nc=${e.nc}`;
}

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

describe('parse_model rules', () => {
  it('rounds repeats half-to-even like Python', () => {
    expect(pyRound(4.5)).toBe(4);
    expect(pyRound(5.5)).toBe(6);
    expect(pyRound(2.25)).toBe(2);
    expect(scaleRepeats(6, 0.75)).toBe(4);
    expect(scaleRepeats(3, 0.33)).toBe(1);
    expect(scaleRepeats(1, 0.33)).toBe(1);
  });

  it('names the YAML line and the known modules for an unknown module', () => {
    const text = YOLOV8_YAML.replace('- [-1, 1, SPPF, [1024, 5]]  # 9', '- [-1, 1, DAT2, [1024, 5]]  # 9');
    expect(() => parseModel(text, createRegistry(), { scale: 'n' })).toThrow(
      'Unknown module "DAT2" in <yaml text> backbone[9] (layer 9): - [-1, 1, DAT2, [1024, 5]]  # 9; known: Conv, Bottleneck, C2f, SPPF, Concat, Upsample, Detect',
    );
  });

  it('rejects an unknown scale and a missing scale, listing the scales', () => {
    expect(() => parseModel('yolov8.yaml', createRegistry(), { scale: 'q' })).toThrow('unknown scale "q"; known: n, s, m, l, x');
    expect(() => parseModel(YOLOV8_YAML, createRegistry())).toThrow('no scale was given');
  });

  it('rejects a from that does not name an earlier layer', () => {
    const text = YOLOV8_YAML.replace('[[-1, 6], 1, Concat, [1]]', '[[-1, 16], 1, Concat, [1]]');
    expect(() => parseModel(text, createRegistry(), { scale: 'n' })).toThrow('"from" 16 does not name an earlier layer');
  });
});

describe('census', () => {
  for (const e of census.models as Entry[]) {
    it(`yolov8 ${label(e)}: totals and every layer row`, () => {
      const before = tf.memory().numTensors;
      const m = modelFor(e);
      try {
        expect(m.numParams()).toBe(e.params);
        expect(m.numTrainable()).toBe(e.gradients);
        expect(m.layers.length).toBe(e.num_layers);
        expect(countModules(m)).toBe(e.num_modules_summary);
        const mods = m.namedModules().map(([, x]) => x);
        expect(mods.filter((x) => x instanceof Conv2d || x.typeName === 'Conv2d').length).toBe(e.num_conv2d);
        const bns = mods.filter((x): x is BatchNorm2d => x instanceof BatchNorm2d);
        expect(bns.length).toBe(e.num_batchnorm2d);
        for (const bn of bns) {
          expect(bn.eps).toBe(e.bn_eps);
          expect(bn.momentum).toBe(e.bn_momentum);
        }
        expect(m.stride).toEqual(e.stride);
        expect(m.save).toEqual(e.save);
        const d = m.detect;
        expect([d.nc, d.regMax, d.no, d.nl, d.c2, d.c3]).toEqual([
          e.detect.nc,
          e.detect.reg_max,
          e.detect.no,
          e.detect.nl,
          e.detect.c2_box_branch,
          e.detect.c3_cls_branch,
        ]);
        // bias init, exact float32 values
        for (let l = 0; l < d.nl; l++) {
          const box = d.cv2.get(l) as unknown as { get(i: number): Conv2d };
          const cls = d.cv3.get(l) as unknown as { get(i: number): Conv2d };
          const bb = box.get(2).bias?.dataSync() as Float32Array;
          const cb = cls.get(2).bias?.dataSync() as Float32Array;
          expect(bb.every((v) => v === e.detect.box_bias_init)).toBe(true);
          expect(cb.every((v) => v === Math.fround(e.detect.cls_bias_init_per_level[l]))).toBe(true);
        }
        // running_var 0.9 like a fresh Ultralytics model
        const rv = bns[0].runningVar.dataSync();
        expect(rv.every((v) => v === Math.fround(0.9))).toBe(true);

        const s = summary(m, 640);
        expect(s.layers).toBe(e.num_modules_summary);
        expect(s.parameters).toBe(e.params);
        expect(s.gradients).toBe(e.gradients);
        const tol = 1e-3;
        expect(Math.abs(s.gflops - e.flops['640'].gflops_conv) / e.flops['640'].gflops_conv).toBeLessThan(tol);
        expect(Math.abs(summary(m, 320).gflops - e.flops['320'].gflops_conv) / e.flops['320'].gflops_conv).toBeLessThan(tol);
        expect(s.gflops.toFixed(1)).toBe(e.gflops_640_ultralytics_print);
        expect(s.rows.length).toBe(e.layers.length);
        for (const [i, want] of (e.layers as Entry[]).entries()) {
          const r = s.rows[i];
          const got = {
            index: r.index,
            from: r.from,
            repeats: r.repeats,
            module: r.module,
            args: r.args,
            params: r.params,
            out_channels: r.outChannels,
            out_stride: r.outStride,
          };
          expect(got, `${label(e)} layer ${i}`).toEqual(want);
        }
        if (e.scale === 'n' && e.nc === 80) {
          const text = formatSummary(s);
          expect(text).toContain('YOLOv8n summary: 225 layers, 3157200 parameters, 3157184 gradients, 8.7 GFLOPs');
          expect(text.split('\n')[11]).toBe(
            " 10                  -1  1         0  torch.nn.modules.upsampling.Upsample         [None, 2, 'nearest']          ",
          );
          expect(text.split('\n')[23]).toContain(
            ' 22        [15, 18, 21]  1    897664  ultralytics.nn.modules.head.Detect           [80, [64, 128, 256]]',
          );
        }
      } finally {
        m.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
