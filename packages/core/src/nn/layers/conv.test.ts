import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend/index.js';
import { Generator, manualSeed } from '../../rng.js';
import { testBackends } from '../../testing/index.js';
import { Conv2d, type Conv2dOptions } from './conv.js';
import { type ConvSpec, naiveConv } from './test-utils/naive.js';
import { maxRelErr, noLeak, randArray, toF64, toTensor } from './test-utils/reference.js';

interface Case {
  name: string;
  B: number;
  H: number;
  W: number;
  cin: number;
  cout: number;
  k: number | [number, number];
  opts: Conv2dOptions;
}

const CASES: Case[] = [
  { name: '1x1 s1 p0', B: 2, H: 5, W: 4, cin: 3, cout: 4, k: 1, opts: {} },
  { name: '3x3 s1 p1', B: 2, H: 7, W: 5, cin: 3, cout: 5, k: 3, opts: { padding: 1 } },
  { name: '3x3 s2 p1 (YOLO downsample)', B: 2, H: 7, W: 9, cin: 4, cout: 6, k: 3, opts: { stride: 2, padding: 1 } },
  { name: '3x3 s2 p0 no bias', B: 1, H: 8, W: 7, cin: 2, cout: 3, k: 3, opts: { stride: 2, bias: false } },
  { name: '5x5 s1 p2', B: 1, H: 6, W: 7, cin: 3, cout: 4, k: 5, opts: { padding: 2 } },
  { name: '5x5 s2 p2', B: 2, H: 9, W: 6, cin: 2, cout: 3, k: 5, opts: { stride: 2, padding: 2 } },
  { name: '3x3 groups 2', B: 2, H: 5, W: 6, cin: 4, cout: 6, k: 3, opts: { padding: 1, groups: 2 } },
  { name: '3x3 s2 groups 2 no bias', B: 1, H: 7, W: 7, cin: 6, cout: 4, k: 3, opts: { stride: 2, padding: 1, groups: 2, bias: false } },
  { name: 'depthwise 3x3 mult 1', B: 2, H: 5, W: 7, cin: 4, cout: 4, k: 3, opts: { padding: 1, groups: 4 } },
  { name: 'depthwise 5x5 s2 mult 2', B: 2, H: 9, W: 7, cin: 3, cout: 6, k: 5, opts: { stride: 2, padding: 2, groups: 3 } },
  { name: 'depthwise 3x3 p0 mult 2 no bias', B: 1, H: 6, W: 5, cin: 2, cout: 4, k: 3, opts: { groups: 2, bias: false } },
  { name: '1x3 padding [0,1]', B: 1, H: 5, W: 6, cin: 2, cout: 3, k: [1, 3], opts: { padding: [0, 1] } },
  { name: "4x4 padding 'same' (asymmetric)", B: 1, H: 6, W: 5, cin: 2, cout: 3, k: 4, opts: { padding: 'same' } },
  { name: '3x3 dilation 2 p2', B: 2, H: 7, W: 8, cin: 3, cout: 4, k: 3, opts: { padding: 2, dilation: 2 } },
  { name: '3x3 dilation 2 s2 p1', B: 1, H: 9, W: 8, cin: 2, cout: 3, k: 3, opts: { padding: 1, dilation: 2, stride: 2 } },
  { name: 'depthwise 3x3 dilation 3 p3', B: 2, H: 8, W: 7, cin: 3, cout: 3, k: 3, opts: { padding: 3, dilation: 3, groups: 3 } },
  { name: 'groups 2 dilation [2,1]', B: 1, H: 7, W: 6, cin: 4, cout: 4, k: 3, opts: { padding: [2, 1], dilation: [2, 1], groups: 2 } },
];

function specOf(c: Case, conv: Conv2d): ConvSpec {
  return {
    B: c.B,
    H: c.H,
    W: c.W,
    cin: c.cin,
    cout: c.cout,
    kh: conv.kernelSize[0],
    kw: conv.kernelSize[1],
    sh: conv.stride[0],
    sw: conv.stride[1],
    pads: conv.padding,
    dh: conv.dilation[0],
    dw: conv.dilation[1],
    groups: conv.groups,
  };
}

function torchParams(conv: Conv2d): { w: Float64Array; b: Float64Array | null } {
  const sd = conv.stateDict();
  const w = toF64(sd.get('weight') as tf.Tensor);
  const b = sd.has('bias') ? toF64(sd.get('bias') as tf.Tensor) : null;
  tf.dispose([...sd.values()]);
  return { w, b };
}

const worst = { fwd: 0, dx: 0, dw: 0, db: 0 };

describe.each(testBackends())('Conv2d on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { log: false });
  });
  afterAll(() => {
    console.log(
      `[conv ${backend}] worst rel err fwd ${worst.fwd.toExponential(2)} dx ${worst.dx.toExponential(2)} dw ${worst.dw.toExponential(2)} db ${worst.db.toExponential(2)}`,
    );
  });

  for (const c of CASES) {
    it(`${c.name}: forward and gradients vs float64 loops`, () => {
      const gen = new Generator(c.name.length * 7919 + c.cin);
      manualSeed(c.cout * 13 + c.H);
      const conv = new Conv2d(c.cin, c.cout, c.k, c.opts);
      const s = specOf(c, conv);
      const xd = randArray(c.B * c.H * c.W * c.cin, gen);
      const x = toTensor(xd, [c.B, c.H, c.W, c.cin]);
      const { w, b } = torchParams(conv);
      const [Ho, Wo] = conv.outputSize(c.H, c.W);
      const rd = randArray(c.B * Ho * Wo * c.cout, gen);
      const r = toTensor(rd, [c.B, Ho, Wo, c.cout]);
      const ref = naiveConv(s, xd, w, b, rd);
      expect([ref.Ho, ref.Wo]).toEqual([Ho, Wo]);

      // Forward outside a tape (native kernels).
      noLeak(() => {
        const y = conv.forward(x);
        expect(y.shape).toEqual([c.B, Ho, Wo, c.cout]);
        const e = maxRelErr(toF64(y), ref.y);
        worst.fwd = Math.max(worst.fwd, e);
        expect(e).toBeLessThan(1e-5);
        y.dispose();
      });

      // Under a tape: the forward value (dilated convs take another path there) and the gradients.
      const xv = tf.variable(x, true);
      let yTape: Float64Array | null = null;
      noLeak(() => {
        const { value, grads } = tf.variableGrads(() => {
          const y = conv.forward(xv);
          yTape = toF64(y);
          return tf.sum(tf.mul(y, r)) as tf.Scalar;
        }, [xv, conv.weight, ...(conv.bias ? [conv.bias] : [])]);
        expect(maxRelErr(yTape as unknown as Float64Array, ref.y)).toBeLessThan(1e-5);
        const dx = toF64(grads[xv.name] as tf.Tensor);
        const dwT = tf.transpose(grads[conv.weight.name] as tf.Tensor, [3, 2, 0, 1]); // HWIO -> OIHW
        const dw = toF64(dwT);
        dwT.dispose();
        const ex = maxRelErr(dx, ref.dx);
        const ew = maxRelErr(dw, ref.dw);
        worst.dx = Math.max(worst.dx, ex);
        worst.dw = Math.max(worst.dw, ew);
        expect(ex, 'dx').toBeLessThan(2e-5);
        expect(ew, 'dw').toBeLessThan(2e-5);
        if (conv.bias) {
          const eb = maxRelErr(toF64(grads[conv.bias.name] as tf.Tensor), ref.db);
          worst.db = Math.max(worst.db, eb);
          expect(eb, 'db').toBeLessThan(2e-5);
        }
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose([x, r, xv]);
      conv.dispose();
    });
  }

  it('flops = 2 * numel(out) * in/groups * kh * kw', () => {
    const a = new Conv2d(16, 32, 3, { stride: 2, padding: 1 });
    expect(a.flops([8, 64, 64, 16])).toBe(2 * 8 * 32 * 32 * 32 * 16 * 9);
    const d = new Conv2d(8, 16, 5, { padding: 2, groups: 8 });
    expect(d.flops([1, 10, 10, 8])).toBe(2 * 100 * 16 * 1 * 25);
    tf.dispose([a, d].flatMap((m) => m.namedTensors().map(([, p]) => p.variable)));
  });
});

describe('Conv2d construction', () => {
  beforeAll(async () => {
    await initBackend('cpu', { log: false });
  });

  it('has PyTorch names, shapes, numParams and init bounds', () => {
    manualSeed(3);
    const c = new Conv2d(6, 8, 3, { groups: 2 });
    expect(c.namedTensors().map(([n, p]) => [n, p.torchShape])).toEqual([
      ['weight', [8, 3, 3, 3]],
      ['bias', [8]],
    ]);
    expect(c.numParams()).toBe(8 * 3 * 9 + 8);
    const bound = 1 / Math.sqrt(3 * 9);
    const w = c.weight.dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(0.8 * bound);
    const dw = new Conv2d(4, 8, 3, { groups: 4, bias: false });
    expect(dw.namedTensors().map(([n, p]) => [n, p.torchShape])).toEqual([['weight', [8, 1, 3, 3]]]);
    c.dispose();
    dw.dispose();
  });

  it('same seed -> same weights; different seed -> different', () => {
    manualSeed(42);
    const a = new Conv2d(3, 4, 3);
    manualSeed(42);
    const b = new Conv2d(3, 4, 3);
    const c = new Conv2d(3, 4, 3);
    expect(Array.from(a.weight.dataSync())).toEqual(Array.from(b.weight.dataSync()));
    expect(Array.from(a.bias?.dataSync() ?? [])).toEqual(Array.from(b.bias?.dataSync() ?? []));
    expect(Array.from(a.weight.dataSync())).not.toEqual(Array.from(c.weight.dataSync()));
    for (const m of [a, b, c]) m.dispose();
  });

  it('rejects bad arguments and inputs with clear messages', () => {
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
    expect(() => new Conv2d(4, 4, 3, { stride: 2, padding: 'same' })).toThrow(/only supported for stride 1/);
    expect(() => new Conv2d(4, 4, 3, { padding: 'full' as 'same' })).toThrow(/unknown padding "full"; known/);
    const c = new Conv2d(4, 4, 3);
    const x = tf.zeros([1, 5, 5, 3]);
    expect(() => c.forward(x)).toThrow(/expected an NHWC input with 4 channels, got shape \[1,5,5,3\]/);
    const small = tf.zeros([1, 2, 2, 4]);
    expect(() => c.forward(small)).toThrow(/too small/);
    tf.dispose([x, small]);
    c.dispose();
  });
});
