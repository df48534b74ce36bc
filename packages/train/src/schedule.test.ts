// The lr / momentum / accumulation schedule against a table computed by hand from Ultralytics 8.0.229's
// trainer formulas (warmup over max(round(3 * nb), 100) batches, np.interp, round half to even).
import { describe, expect, it } from 'vitest';
import { baseAccumulate, lrLambda, npInterp2, roundHalfEven, type ScheduleConfig, scheduleAt, warmupIterations } from './schedule.js';

const SGD: ScheduleConfig = {
  epochs: 10,
  nb: 50,
  batch: 16,
  nbs: 64,
  lrf: 0.01,
  cosLr: false,
  warmupEpochs: 3,
  warmupBiasLr: 0.1,
  warmupMomentum: 0.8,
  momentum: 0.937,
  initialMomentum: 0.937,
  initialLr: [0.01, 0.01, 0.01],
  hasMomentum: true,
};

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-12);

describe('schedule helpers', () => {
  it('round half to even, np.interp, warmup iterations, base accumulate', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, 4].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3, 4]);
    close(npInterp2(75, [0, 150], [0.1, 0.00901]), 0.054505);
    expect(npInterp2(-1, [0, 10], [3, 5])).toBe(3);
    expect(npInterp2(11, [0, 10], [3, 5])).toBe(5);
    expect(npInterp2(10, [0, 10], [3, 0.1 + 0.2])).toBe(0.1 + 0.2);
    expect(warmupIterations(3, 50)).toBe(150);
    expect(warmupIterations(3, 8)).toBe(100); // at least 100
    expect(warmupIterations(0.5, 1001)).toBe(500); // round(500.5) = 500 (half to even)
    expect(warmupIterations(0, 50)).toBe(-1);
    expect([baseAccumulate(64, 16), baseAccumulate(64, 24), baseAccumulate(64, 128), baseAccumulate(64, 40)]).toEqual([4, 3, 1, 2]);
  });

  it('linear and cosine epoch factors', () => {
    // linear: max(1 - e/10, 0) * 0.99 + 0.01
    close(lrLambda(0, 10, 0.01, false), 1);
    close(lrLambda(1, 10, 0.01, false), 0.901);
    close(lrLambda(3, 10, 0.01, false), 0.703);
    close(lrLambda(9, 10, 0.01, false), 0.109);
    close(lrLambda(10, 10, 0.01, false), 0.01);
    // cosine one_cycle(1, 0.01, 10): ((1 - cos(e pi / 10)) / 2) * (0.01 - 1) + 1
    close(lrLambda(0, 10, 0.01, true), 1);
    close(lrLambda(5, 10, 0.01, true), 0.505);
    close(lrLambda(10, 10, 0.01, true), 0.01);
    close(lrLambda(2, 10, 0.01, true), ((1 - Math.cos(Math.PI / 5)) / 2) * -0.99 + 1);
  });
});

describe('scheduleAt (SGD, 10 epochs x 50 batches, batch 16, warmup 3 epochs = 150 batches)', () => {
  // [ni, epoch, lr bias, lr weights (= lr norm), momentum, accumulate, warmup]
  const table: [number, number, number, number, number, number, boolean][] = [
    [0, 0, 0.1, 0, 0.8, 1, true],
    // epoch 0: target 0.01 * 1.0; x = 25/150
    [25, 0, 0.1 + (0.01 - 0.1) / 6, 0.01 / 6, 0.8 + 0.137 / 6, 2, true], // accumulate 1.5 -> 2
    // epoch 1: target 0.00901; x = 75/150 = 0.5
    [75, 1, 0.054505, 0.004505, 0.8685, 2, true], // accumulate 2.5 -> 2
    [100, 2, 0.1 + (0.00802 - 0.1) * (2 / 3), 0.00802 * (2 / 3), 0.8 + 0.137 * (2 / 3), 3, true], // target 0.802 * 0.01
    [125, 2, 0.1 + (0.00802 - 0.1) * (5 / 6), 0.00802 * (5 / 6), 0.8 + 0.137 * (5 / 6), 4, true], // 3.5 -> 4
    [150, 3, 0.00703, 0.00703, 0.937, 4, true], // ni == nw: still warmup, at the targets
    [151, 3, 0.00703, 0.00703, 0.937, 4, false],
    [499, 9, 0.00109, 0.00109, 0.937, 4, false],
  ];
  for (const [ni, epoch, lb, lw, mom, accum, warm] of table) {
    it(`ni ${ni}, epoch ${epoch}`, () => {
      const s = scheduleAt(SGD, ni, epoch);
      close(s.lr[0], lb);
      close(s.lr[1], lw);
      close(s.lr[2], lw);
      close(s.momentum as number, mom);
      expect(s.accumulate).toBe(accum);
      expect(s.warmup).toBe(warm);
    });
  }

  it('AdamW (auto): no momentum ramp, bias lr from 0', () => {
    const cfg = { ...SGD, hasMomentum: false, warmupBiasLr: 0, initialLr: [0.001429, 0.001429, 0.001429] };
    const s = scheduleAt(cfg, 75, 1);
    expect(s.momentum).toBeUndefined();
    close(s.lr[0], 0.001429 * 0.901 * 0.5);
    close(s.lr[1], 0.001429 * 0.901 * 0.5);
    const after = scheduleAt(cfg, 200, 4);
    close(after.lr[0], 0.001429 * 0.604);
  });

  it('no warmup: initial momentum kept, base accumulation from the first batch', () => {
    const cfg = { ...SGD, warmupEpochs: 0, initialMomentum: 0.9 };
    const s = scheduleAt(cfg, 0, 0);
    expect(s.warmup).toBe(false);
    close(s.lr[0], 0.01);
    close(s.momentum as number, 0.9);
    expect(s.accumulate).toBe(4);
  });

  it('cosine decay after warmup', () => {
    const s = scheduleAt({ ...SGD, cosLr: true }, 300, 6);
    close(s.lr[1], 0.01 * (((1 - Math.cos((6 * Math.PI) / 10)) / 2) * -0.99 + 1));
  });
});
