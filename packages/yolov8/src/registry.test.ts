// The module registry and plugins: duplicate names, unknown names, aliases, a plugin module used as a layer and
// inside a residual branch, a plugin's flops() in the summary, and the errors for non-shape-preserving inners.
import { initBackend, type ModulePlugin } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, StandIn, standInPlugin, yolov8Plugin } from './builtins.js';
import { insertModule } from './insert.js';
import { buildModel } from './model.js';
import { ModuleRegistry } from './registry.js';
import { summary } from './summary.js';

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

/** A shape-preserving plugin module with a declared FLOPs count (2 FLOPs per element). */
const counted: ModulePlugin = {
  id: 'test/counted',
  modules: [
    {
      name: 'Counted',
      aliases: ['CountedAlias'],
      shapePreserving: true,
      channels: (_a, ctx) => ({ args: [ctx.inputChannels[0]], c2: ctx.inputChannels[0] }),
      build: (a) => new StandIn(a[0] as number),
      flops: (_m, shapes) => 2 * shapes[0].reduce((p, d) => p * d, 1),
    },
    {
      name: 'Halver',
      channels: (_a, ctx) => ({ args: [ctx.inputChannels[0]], c2: ctx.inputChannels[0] / 2 }),
      build: (a) => new StandIn(a[0] as number),
    },
  ],
};

describe('registry', () => {
  it('throws on a duplicate name or alias and on a duplicate plugin', () => {
    const r = createRegistry();
    expect(() => r.use({ id: 'x', modules: [{ ...counted.modules[0], name: 'C2f', aliases: [] }] })).toThrow(
      'module name "C2f" of plugin "x" is already taken by C2f of "@ablate/yolov8"',
    );
    expect(() => r.use({ id: 'y', modules: [{ ...counted.modules[0], name: 'New', aliases: ['nn.Upsample'] }] })).toThrow(
      'module name "nn.Upsample" of plugin "y" is already taken by Upsample',
    );
    expect(() => new ModuleRegistry([yolov8Plugin, yolov8Plugin])).toThrow('plugin "@ablate/yolov8" is already registered');
    // a failed use() registers nothing
    expect(r.has('New')).toBe(false);
  });

  it('lists the known names for an unknown one and resolves aliases', () => {
    const r = createRegistry(counted);
    expect(() => r.get('Nope')).toThrow(
      'Unknown module "Nope"; known: Conv, Bottleneck, C2f, SPPF, Concat, Upsample, Detect, Counted, Halver',
    );
    expect(r.canonicalName('CountedAlias')).toBe('Counted');
    expect(r.get('nn.Upsample').spec.name).toBe('Upsample');
    expect(r.plugins()).toEqual(['@ablate/yolov8', 'test/counted']);
  });

  it('builds plugin modules as layers (by alias) and counts their flops()', () => {
    const registry = createRegistry(counted, standInPlugin);
    const text = insertModule('yolov8n.yaml', { name: 'CountedAlias' }, 'pre-SPPF', { registry });
    expect(text).toContain('  - [-1, 1, CountedAlias, []]  # 9\n');
    const m = buildModel(text, { scale: 'n', registry });
    const base = buildModel('yolov8n.yaml', { registry });
    try {
      const s = summary(m, 640);
      // at 640 the input of SPPF is [1, 20, 20, 256]
      expect(s.rows[9].flops).toBe(2 * 20 * 20 * 256);
      expect(s.rows[9].module).toBe('Counted');
      const d = s.gflops * 1e9 - summary(base, 640).gflops * 1e9;
      expect(Math.abs(d - 2 * 20 * 20 * 256)).toBeLessThan(1e-3);
      tf.tidy(() => {
        m.eval();
        m.forward(tf.zeros([1, 64, 64, 3]));
      });
    } finally {
      m.dispose();
      base.dispose();
    }
  });

  it('rejects an inner module that changes the channels, and a mapping on a module without a residual branch', () => {
    const registry = createRegistry(counted);
    const bad = insertModule('yolov8n.yaml', { name: 'Halver' }, 'residual', { registry });
    expect(() => buildModel(bad, { scale: 'n', registry })).toThrow(
      '{attn: Halver} must keep its 128 channels (inside a residual branch), but gives 64',
    );
    const text = insertModule('yolov8n.yaml', { name: 'Counted' }, 'residual', { registry }).replace(
      '[1024, 5]',
      '[1024, 5, {attn: Counted, args: []}]',
    );
    expect(() => buildModel(text, { scale: 'n', registry })).toThrow(
      'module SPPF does not take an {attn: ...} mapping; modules that do: Bottleneck, C2f',
    );
  });
});
