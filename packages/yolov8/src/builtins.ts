/**
 * The built-in module specs (plugin `@ablate/yolov8`): how parse_model infers each module's channels
 * and constructor args, and how it is built. Channel rules are Ultralytics 8.0.229's:
 *  - Conv, SPPF, Bottleneck, C2f ("conv-like"): c1 = ch[from], c2 = args[0] scaled unless it equals
 *    nc (the `c2 != nc` quirk); C2f also gets the repeats inserted as args[2] and is built once;
 *  - Concat: c2 = sum of the inputs; Upsample (alias nn.Upsample): c2 = c1;
 *  - Detect: args + [input channels of every level].
 * Plus `StandIn`, the test stand-in for attention modules (`standInPlugin`, not registered by
 * default): a 1x1 Conv2d c -> c with bias, parsed like Conv (`[C]`, C unscaled; shape preserving).
 */

import type { BuildContext, ChannelContext } from '@ablate/core';
import { Conv2d, Layer, type Module, type ModulePlugin, type ModuleSpec, Upsample } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import { Bottleneck, C2f, Concat, Conv, Detect, SPPF, setModuleFlops, type TensorLayer } from './modules.js';
import { type InnerModuleRef, isInnerRef } from './parse.js';
import { ModuleRegistry, type YoloModuleSpec } from './registry.js';

/** An inner module after channel inference. */
export interface ResolvedInner extends InnerModuleRef {
  resolvedArgs: unknown[];
  channels: number;
}

function single(ctx: ChannelContext, name: string): number {
  if (ctx.inputChannels.length !== 1) {
    throw new Error(`${name} reads one layer, but "from" names ${ctx.inputChannels.length}`);
  }
  return ctx.inputChannels[0];
}

function num(v: unknown, what: string, def?: number): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function int(v: unknown, what: string, def?: number): number {
  const n = num(v, what, def);
  if (!Number.isInteger(n)) throw new Error(`${what} must be an integer, got ${n}`);
  return n;
}

function bool(v: unknown, what: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new Error(`${what} must be True or False, got ${JSON.stringify(v)}`);
  return v;
}

/** Conv-like channel rule: [c2, ...rest] -> [c1, scaled c2, ...rest]. */
function convLike(name: string, args: readonly unknown[], ctx: ChannelContext): { c1: number; c2: number; rest: unknown[] } {
  const c1 = single(ctx, name);
  const raw = int(args[0], `${name} args[0] (output channels)`);
  const c2 = raw !== ctx.nc ? ctx.scaleChannels(raw) : raw;
  return { c1, c2, rest: args.slice(1) };
}

/** Splits the inner-module ref off the args. */
function splitInner(args: readonly unknown[]): { plain: unknown[]; inner?: InnerModuleRef } {
  const plain = args.filter((a) => !isInnerRef(a));
  const inner = args.find(isInnerRef) as InnerModuleRef | undefined;
  return { plain, inner };
}

/** Channel inference of an inner module that sees (and must keep) `c` channels. */
function resolveInner(inner: InnerModuleRef, c: number, ctx: ChannelContext): ResolvedInner {
  const where = `${ctx.where} {attn: ${inner.yamlName}}`;
  const r = inner.spec.channels(inner.args, { ...ctx, inputChannels: [c], repeats: 1, where });
  if (r.c2 !== c) {
    throw new Error(`{attn: ${inner.yamlName}} must keep its ${c} channels (inside a residual branch), but gives ${r.c2}`);
  }
  return { ...inner, resolvedArgs: r.args, channels: c };
}

function innerFactory(inner: ResolvedInner | undefined, ctx: BuildContext): (() => TensorLayer) | undefined {
  if (!inner) return undefined;
  return () => {
    const m = inner.spec.build(inner.resolvedArgs, { ...ctx, inputChannels: [inner.channels], repeats: 1, layerIndex: -1 });
    if (typeof (m as unknown as Partial<TensorLayer>).forward !== 'function')
      throw new Error(`{attn: ${inner.yamlName}}: the module has no forward(x)`);
    const f = inner.spec.flops;
    if (f) setModuleFlops(m, (mod, shapes) => f.call(inner.spec, mod, shapes));
    return m as unknown as TensorLayer;
  };
}

const ConvSpec: YoloModuleSpec = {
  name: 'Conv',
  typeName: 'ultralytics.nn.modules.conv.Conv',
  description: 'Conv2d (no bias, symmetric padding k//2) + BatchNorm2d + SiLU; args [c2, k=1, s=1, p=None, g=1, d=1, act=True]',
  channels(args, ctx) {
    const { c1, c2, rest } = convLike('Conv', args, ctx);
    return { args: [c1, c2, ...rest], c2 };
  },
  build(a) {
    const [c1, c2, k, s, p, g, d, act] = a;
    return new Conv(
      int(c1, 'Conv c1'),
      int(c2, 'Conv c2'),
      int(k, 'Conv k', 1),
      int(s, 'Conv s', 1),
      p === undefined || p === null ? null : int(p, 'Conv p'),
      int(g, 'Conv g', 1),
      int(d, 'Conv d', 1),
      bool(act, 'Conv act', true),
    );
  },
};

const BottleneckSpec: YoloModuleSpec = {
  name: 'Bottleneck',
  typeName: 'ultralytics.nn.modules.block.Bottleneck',
  description: 'cv1 -> cv2 (+ input when shortcut and c1 == c2); args [c2, shortcut=True, g=1, k=[3, 3], e=0.5]',
  acceptsInner: true,
  innerChannels: (a) => int(a[1], 'Bottleneck c2'),
  channels(args, ctx) {
    const { plain, inner } = splitInner(args);
    const { c1, c2, rest } = convLike('Bottleneck', plain, ctx);
    const out: unknown[] = [c1, c2, ...rest];
    if (inner) out.push(resolveInner(inner, c2, ctx));
    return { args: out, c2 };
  },
  build(a, ctx) {
    const { plain, inner } = splitInner(a);
    const [c1, c2, shortcut, g, k, e] = plain;
    const kk =
      k === undefined ? [3, 3] : Array.isArray(k) ? k.map((v) => int(v, 'Bottleneck k')) : [int(k, 'Bottleneck k'), int(k, 'Bottleneck k')];
    const make = innerFactory(inner as ResolvedInner | undefined, ctx);
    return new Bottleneck(
      int(c1, 'Bottleneck c1'),
      int(c2, 'Bottleneck c2'),
      bool(shortcut, 'Bottleneck shortcut', true),
      int(g, 'Bottleneck g', 1),
      [kk[0], kk[1]],
      num(e, 'Bottleneck e', 0.5),
      make ? make() : null,
    );
  },
};

const C2fSpec: YoloModuleSpec = {
  name: 'C2f',
  typeName: 'ultralytics.nn.modules.block.C2f',
  description: 'CSP bottleneck with 2 convolutions; args [c2, shortcut=False, g=1, e=0.5]; repeats = number of Bottlenecks',
  repeatsInArgs: true,
  acceptsInner: true,
  innerChannels: (a) => Math.trunc(int(a[1], 'C2f c2') * num(a[5], 'C2f e', 0.5)),
  channels(args, ctx) {
    const { plain, inner } = splitInner(args);
    const { c1, c2, rest } = convLike('C2f', plain, ctx);
    const out: unknown[] = [c1, c2, ctx.repeats, ...rest];
    if (inner) out.push(resolveInner(inner, Math.trunc(c2 * num(rest[2], 'C2f e', 0.5)), ctx));
    return { args: out, c2 };
  },
  build(a, ctx) {
    const { plain, inner } = splitInner(a);
    const [c1, c2, n, shortcut, g, e] = plain;
    return new C2f(
      int(c1, 'C2f c1'),
      int(c2, 'C2f c2'),
      int(n, 'C2f n', 1),
      bool(shortcut, 'C2f shortcut', false),
      int(g, 'C2f g', 1),
      num(e, 'C2f e', 0.5),
      innerFactory(inner as ResolvedInner | undefined, ctx),
    );
  },
};

const SPPFSpec: YoloModuleSpec = {
  name: 'SPPF',
  typeName: 'ultralytics.nn.modules.block.SPPF',
  description: 'Spatial Pyramid Pooling - Fast (three chained k x k max-pools); args [c2, k=5]',
  channels(args, ctx) {
    const { c1, c2, rest } = convLike('SPPF', args, ctx);
    return { args: [c1, c2, ...rest], c2 };
  },
  build(a) {
    return new SPPF(int(a[0], 'SPPF c1'), int(a[1], 'SPPF c2'), int(a[2], 'SPPF k', 5));
  },
};

const ConcatSpec: YoloModuleSpec = {
  name: 'Concat',
  typeName: 'ultralytics.nn.modules.conv.Concat',
  description: 'Concatenation along channels; args [1]',
  channels(args, ctx) {
    return { args: [...args], c2: ctx.inputChannels.reduce((s, c) => s + c, 0) };
  },
  build(a) {
    return new Concat(int(a[0], 'Concat dimension', 1));
  },
};

const UpsampleSpec: YoloModuleSpec = {
  name: 'Upsample',
  aliases: ['nn.Upsample'],
  typeName: 'torch.nn.modules.upsampling.Upsample',
  description: "Nearest-neighbour upsampling; args [None, scale_factor, 'nearest']",
  channels(args, ctx) {
    return { args: [...args], c2: single(ctx, 'Upsample') };
  },
  build(a) {
    const [size, scale, mode] = a;
    if (size !== null && size !== undefined)
      throw new Error(`Upsample: only scale_factor is supported (size must be None, got ${JSON.stringify(size)})`);
    if (mode !== undefined && mode !== 'nearest') throw new Error(`Upsample: unknown mode ${JSON.stringify(mode)}; known: nearest`);
    return new Upsample({ scaleFactor: int(scale, 'Upsample scale_factor'), mode: 'nearest' });
  },
};

const DetectSpec: YoloModuleSpec = {
  name: 'Detect',
  typeName: 'ultralytics.nn.modules.head.Detect',
  description: 'YOLOv8 detection head (DFL, reg_max 16); args [nc]; reads one layer per level',
  channels(args, ctx) {
    const nc = int(args[0], 'Detect nc');
    return { args: [...args, [...ctx.inputChannels]], c2: nc + 64 };
  },
  build(a) {
    const ch = a[a.length - 1];
    if (!Array.isArray(ch) || !ch.length) throw new Error('Detect: the last arg must be the list of input channels');
    return new Detect(
      int(a[0], 'Detect nc'),
      ch.map((c) => int(c, 'Detect ch')),
    );
  },
};

/** The built-in modules of YOLOv8 (plugin `@ablate/yolov8`). */
export const yolov8Plugin: ModulePlugin = {
  id: '@ablate/yolov8',
  modules: [ConvSpec, BottleneckSpec, C2fSpec, SPPFSpec, ConcatSpec, UpsampleSpec, DetectSpec],
};

/** The stand-in for attention modules in tests: a module holding a 1x1 Conv2d c -> c with bias (`conv`). */
export class StandIn extends Layer {
  readonly conv: Conv2d;
  constructor(c: number) {
    super();
    this.conv = this.addModule('conv', new Conv2d(c, c, 1, { bias: true }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.conv.forward(x);
  }
}

const StandInSpec: YoloModuleSpec = {
  name: 'StandIn',
  typeName: 'StandIn',
  description: 'Test stand-in: 1x1 Conv2d c -> c with bias, parsed like Conv ([C], C unscaled); shape preserving',
  shapePreserving: true,
  channels(args, ctx) {
    const c1 = single(ctx, 'StandIn');
    if (args.length === 0) return { args: [c1, c1], c2: c1 };
    const { c2 } = convLike('StandIn', args, ctx);
    if (c2 !== c1) throw new Error(`StandIn is shape preserving: [${String(args[0])}] scales to ${c2} channels but its input has ${c1}`);
    return { args: [c1, c2], c2 };
  },
  build(a): Module {
    return new StandIn(int(a[0], 'StandIn c'));
  },
};

/** Plugin with the `StandIn` test module (not part of the default registry). */
export const standInPlugin: ModulePlugin = { id: '@ablate/yolov8/stand-in', modules: [StandInSpec as ModuleSpec] };

/** A registry with the built-ins and the given plugins. */
export function createRegistry(...plugins: ModulePlugin[]): ModuleRegistry {
  return new ModuleRegistry([yolov8Plugin, ...plugins]);
}
