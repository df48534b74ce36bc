// ModelEMA: the decay formula, the update over parameters and buffers vs a float64 hand computation, the
// swap used for validation, the state round trip, and leaks.
import { BatchNorm2d, Conv2d, Generator, initBackend, Module, randNormal } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { emaDecay, ModelEMA } from './ema.js';

class Net extends Module {
  constructor() {
    super();
    this.addModule('conv', new Conv2d(2, 3, 3));
    this.addModule('bn', new BatchNorm2d(3));
  }
}

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

function values(m: Module): Map<string, Float64Array> {
  return new Map(m.namedTensors().map(([n, p]) => [n, Float64Array.from(p.variable.dataSync())]));
}

/** Sets every parameter and buffer to new random values. */
function perturb(m: Module, gen: Generator): void {
  for (const [, p] of m.namedTensors()) {
    const v = randNormal(p.shape, 0, 1, gen);
    p.variable.assign(v);
    v.dispose();
  }
}

describe('ModelEMA', () => {
  it('decay d = 0.9999 * (1 - exp(-updates / 2000))', () => {
    expect(emaDecay(0)).toBe(0);
    expect(Math.abs(emaDecay(1) - 4.99825033e-4)).toBeLessThan(1e-12);
    expect(Math.abs(emaDecay(2000) - 0.9999 * (1 - Math.exp(-1)))).toBeLessThan(1e-15);
    expect(Math.abs(emaDecay(2000) - 0.6320573467726748)).toBeLessThan(1e-15);
    expect(emaDecay(1e6)).toBeCloseTo(0.9999, 12);
    expect(Math.abs(emaDecay(10, 0.99, 5) - 0.99 * (1 - Math.exp(-2)))).toBeLessThan(1e-15);
  });

  it('update averages parameters and buffers; swap exchanges; state round trip; no leaks', async () => {
    const net = new Net();
    const gen = new Generator(5);
    const before = tf.memory().numTensors;
    const ema = new ModelEMA(net, { decay: 0.9, tau: 2 }); // fast decay, so the average moves visibly
    let want = values(net);
    expect(want.has('bn.running_mean') && want.has('bn.running_var')).toBe(true);
    for (let u = 1; u <= 3; u++) {
      perturb(net, gen);
      ema.update();
      const d = 0.9 * (1 - Math.exp(-u / 2));
      const cur = values(net);
      const next = new Map<string, Float64Array>();
      for (const [n, e] of want)
        next.set(
          n,
          e.map((v, i) => d * v + (1 - d) * (cur.get(n) as Float64Array)[i]),
        );
      want = next;
    }
    expect(ema.updates).toBe(3);
    const own = values(net);
    const inside = await ema.withEma(() => values(net));
    let worst = 0;
    for (const [n, w] of want) {
      const g = inside.get(n) as Float64Array;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]));
    }
    console.log(`[ema] max abs error vs float64 after 3 updates: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    // swapped back: the model has its own values again
    for (const [n, v] of values(net)) expect(Array.from(v), n).toEqual(Array.from(own.get(n) as Float64Array));
    // state dict in PyTorch layout round-trips into another EMA
    const sd = ema.stateDict();
    expect(sd.get('conv.weight')?.shape).toEqual([3, 2, 3, 3]); // OIHW
    const other = new ModelEMA(net);
    other.loadStateDict((n) => sd.get(n));
    tf.dispose([...sd.values()]);
    const viaOther = await other.withEma(() => values(net));
    for (const [n, v] of viaOther) expect(Array.from(v), n).toEqual(Array.from(inside.get(n) as Float64Array));
    expect(() => other.loadStateDict(() => undefined)).toThrow(/EMA state is missing 6 tensors: conv.weight, conv.bias, bn.weight/);
    other.dispose();
    ema.dispose();
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });
});
