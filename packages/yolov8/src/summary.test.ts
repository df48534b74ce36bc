// GFLOPs of a module whose cost is not linear in pixels (attention: quadratic in tokens) are counted at the
// image size itself, not scaled from a 32 px probe as Ultralytics' get_flops does (exact only for convs).
import { initBackend, type ModulePlugin } from '@ablate/core';
import { beforeAll, expect, it } from 'vitest';
import { createRegistry, StandIn } from './builtins.js';
import { insertModule } from './insert.js';
import { buildModel } from './model.js';
import { summary } from './summary.js';

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

/** A c -> c module that declares dense-attention FLOPs: 2 * (H*W)^2 * C per image. */
const quadratic: ModulePlugin = {
  id: 'test/quadratic',
  modules: [
    {
      name: 'Quadratic',
      shapePreserving: true,
      channels: (_a, ctx) => ({ args: [ctx.inputChannels[0]], c2: ctx.inputChannels[0] }),
      build: (a) => new StandIn(a[0] as number),
      flops: (_m, [s]) => 2 * s[0] * (s[1] * s[2]) ** 2 * s[3],
    },
  ],
};

it("counts a quadratic module at the real map sizes; stock numbers stay Ultralytics' (8.7 at 640)", () => {
  const registry = createRegistry(quadratic);
  const stock = buildModel('yolov8n.yaml', { nc: 80, registry });
  const yaml = insertModule('yolov8n.yaml', { name: 'Quadratic' }, 'pre-head', { registry });
  const m = buildModel(yaml, { nc: 80, registry });
  for (const imgsz of [640, 320, 128]) {
    const s0 = summary(stock, imgsz).gflops * 1e9;
    const s1 = summary(m, imgsz).gflops * 1e9;
    // pre-head: one module on each Detect input (P3 64ch, P4 128ch, P5 256ch of yolov8n) + the 1x1 conv of StandIn
    // is not counted separately (the spec's flops() replaces the Conv2d count).
    const expected = [
      [8, 64],
      [16, 128],
      [32, 256],
    ].reduce((a, [stride, c]) => a + 2 * ((imgsz / stride) ** 2) ** 2 * c, 0);
    expect(s1 - s0).toBeCloseTo(expected, -3);
  }
  expect(summary(stock, 640).gflops.toFixed(1)).toBe('8.7');
  stock.dispose();
  m.dispose();
});
