/**
 * Ultralytics' parse_model (8.0.229) without tensors: YAML rows -> a plan of layers with their
 * constructor args, repeats and channels. Building the modules from the plan is `model.ts`'s job.
 *
 * Rules kept exactly (they all change parameter counts):
 *  - widths: make_divisible(min(c2, max_channels) * width, 8) = ceil(x / 8) * 8 (a ceiling);
 *  - the `c2 != nc` quirk: a channel arg equal to nc is not scaled (done by the specs via `ctx.nc`);
 *  - depth: n = max(round(n * depth), 1) if n > 1, with Python's round (halves to even);
 *  - string args are resolved like parse_model: `nc` -> nc, Python literals (`None`, `True`, numbers)
 *    -> values, anything else stays a string;
 *  - `from` indices: -1 = previous layer, negative = relative, else absolute; the save list is
 *    `x % i` for every ref x != -1, sorted (duplicates kept).
 * Extension: an arg that is a mapping `{attn: Name, args: [...]}` names a module to place inside
 * the row's module (C2f/Bottleneck residual branch); the spec must declare `acceptsInner`.
 */
import type { ChannelContext, ModuleSpec } from '@ablate/core';
import type { ModuleRegistry, YoloModuleSpec } from './registry.js';
import { formatRow, type LoadedYaml, loadModelYaml, type ModelYaml, type YamlFrom } from './yaml.js';

/** Python's round() for the depth products: halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Ultralytics' make_divisible: ceil(x / divisor) * divisor. */
export function makeDivisible(x: number, divisor = 8): number {
  return Math.ceil(x / divisor) * divisor;
}

/** parse_model's channel scaling. */
export function scaleChannels(c: number, width: number, maxChannels: number): number {
  return makeDivisible(Math.min(c, maxChannels) * width, 8);
}

/** parse_model's depth scaling. */
export function scaleRepeats(n: number, depth: number): number {
  return n > 1 ? Math.max(pyRound(n * depth), 1) : n;
}

/** A module to be built inside another one (the `{attn: Name, args: [...]}` mapping), resolved. */
export interface InnerModuleRef {
  readonly kind: 'inner';
  /** Canonical name. */
  name: string;
  /** As written in the YAML. */
  yamlName: string;
  spec: ModuleSpec;
  pluginId: string;
  /** Its args as written (strings resolved like the row's). */
  args: unknown[];
  /** The original mapping (for printing). */
  mapping: Record<string, unknown>;
}

export function isInnerRef(v: unknown): v is InnerModuleRef {
  return typeof v === 'object' && v !== null && (v as InnerModuleRef).kind === 'inner';
}

export interface LayerPlan {
  index: number;
  section: 'backbone' | 'head';
  /** `from` as written. */
  from: YamlFrom;
  /** Absolute indices of the inputs (-1 means the image). */
  inputs: number[];
  /** Depth-scaled repeats as Ultralytics prints them (n_). */
  repeats: number;
  /** How many copies are built (1 when the spec takes the repeats in its args). */
  copies: number;
  /** Canonical module name. */
  module: string;
  /** As written in the YAML (may be an alias such as nn.Upsample). */
  yamlModule: string;
  /** Printed type (Ultralytics' `t`), e.g. `ultralytics.nn.modules.block.C2f`. */
  type: string;
  spec: YoloModuleSpec;
  pluginId: string;
  /** Constructor args after channel inference. */
  args: unknown[];
  /** Output channels. */
  c2: number;
  inputChannels: number[];
  /** `file section[k] (layer i): <row>` for messages. */
  where: string;
  /** The row as written, for messages. */
  line: string;
}

export interface ParseOptions {
  /** Number of classes (overrides the YAML's nc, as DetectionModel(cfg, nc=...) does). */
  nc?: number;
  /** Scale key of `scales`. */
  scale?: string;
  /** Input channels (default 3). */
  ch?: number;
}

export interface ModelPlan {
  source: string;
  yaml: ModelYaml;
  loaded: LoadedYaml;
  nc: number;
  scale: string | undefined;
  depth: number;
  width: number;
  maxChannels: number;
  ch: number;
  layers: LayerPlan[];
  save: number[];
}

/** Picks depth/width/max_channels as parse_model does. */
export function resolveScale(
  loaded: LoadedYaml,
  scale?: string,
): { scale: string | undefined; depth: number; width: number; maxChannels: number } {
  const y = loaded.yaml;
  if (y.scales && Object.keys(y.scales).length) {
    const keys = Object.keys(y.scales);
    const s = scale ?? y.scale ?? loaded.guessedScale;
    if (s === undefined) {
      throw new Error(
        `${loaded.source}: the model has scales ${keys.join(', ')} but no scale was given; pass { scale } or use a file name such as yolov8${keys[0]}.yaml`,
      );
    }
    const v = y.scales[s];
    if (!v) throw new Error(`${loaded.source}: unknown scale "${s}"; known: ${keys.join(', ')}`);
    return { scale: s, depth: v[0], width: v[1], maxChannels: v[2] };
  }
  if (scale !== undefined) throw new Error(`${loaded.source}: scale "${scale}" was asked for but the YAML has no scales`);
  return { scale: undefined, depth: y.depth_multiple ?? 1, width: y.width_multiple ?? 1, maxChannels: Number.POSITIVE_INFINITY };
}

const PY_LITERALS: Record<string, unknown> = { None: null, True: true, False: false };

/** parse_model's string-arg resolution (locals, then ast.literal_eval, else the string). */
function resolveArg(a: unknown, locals: Record<string, unknown>): unknown {
  if (typeof a !== 'string') return a;
  if (a in locals) return locals[a];
  const t = a.trim();
  if (t in PY_LITERALS) return PY_LITERALS[t];
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  const q = /^'(.*)'$|^"(.*)"$/.exec(t);
  if (q) return q[1] ?? q[2];
  return a;
}

function checkInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Parses a model YAML into a plan (no tensors). */
export function parseModel(src: string | ModelYaml | LoadedYaml, registry: ModuleRegistry, opts: ParseOptions = {}): ModelPlan {
  const loaded =
    typeof src === 'object' && 'yaml' in src && 'source' in src ? (src as LoadedYaml) : loadModelYaml(src as string | ModelYaml);
  const y = loaded.yaml;
  const nc = opts.nc ?? y.nc;
  if (!checkInt(nc) || nc < 1) throw new Error(`${loaded.source}: nc must be a positive integer (got ${JSON.stringify(nc)})`);
  const { scale, depth, width, maxChannels } = resolveScale(loaded, opts.scale);
  const chIn = opts.ch ?? 3;
  const rows = [...y.backbone.map((r) => ['backbone', r] as const), ...y.head.map((r) => ['head', r] as const)];
  const nBackbone = y.backbone.length;
  const ch: number[] = [];
  const layers: LayerPlan[] = [];
  const save: number[] = [];
  rows.forEach(([section, row], i) => {
    const k = section === 'backbone' ? i : i - nBackbone;
    const line = loaded.rowLines?.[i] || `- ${formatRow(row as unknown[])}`;
    const where = `${loaded.source} ${section}[${k}] (layer ${i}): ${line}`;
    if (!Array.isArray(row) || row.length !== 4) throw new Error(`${where}: a row must be [from, repeats, module, args]`);
    const [f, n0, m, rawArgs] = row;
    const fromList = Array.isArray(f) ? f : [f];
    if (!fromList.length || !fromList.every(checkInt)) throw new Error(`${where}: "from" must be an integer or a list of integers`);
    if (!checkInt(n0) || n0 < 1) throw new Error(`${where}: repeats must be a positive integer`);
    if (typeof m !== 'string') throw new Error(`${where}: module must be a name`);
    if (!Array.isArray(rawArgs)) throw new Error(`${where}: args must be a list`);
    const { spec, pluginId } = registry.get(m, where);
    const locals: Record<string, unknown> = { nc };
    let inner: InnerModuleRef | undefined;
    const args: unknown[] = [];
    for (const a of rawArgs) {
      if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
        const mapping = a as Record<string, unknown>;
        const keys = Object.keys(mapping);
        const bad = keys.filter((x) => x !== 'attn' && x !== 'args');
        if (typeof mapping.attn !== 'string' || bad.length) {
          throw new Error(`${where}: a mapping arg must be {attn: ModuleName, args: [...]} (got ${JSON.stringify(mapping)})`);
        }
        if (inner) throw new Error(`${where}: only one {attn: ...} mapping per row`);
        if (!spec.acceptsInner) {
          const takers = registry
            .names()
            .filter((nm) => (registry.get(nm).spec as YoloModuleSpec).acceptsInner)
            .join(', ');
          throw new Error(`${where}: module ${spec.name} does not take an {attn: ...} mapping; modules that do: ${takers}`);
        }
        const innerArgs = mapping.args ?? [];
        if (!Array.isArray(innerArgs)) throw new Error(`${where}: {attn: ${mapping.attn}} args must be a list`);
        const e = registry.get(mapping.attn, where);
        inner = {
          kind: 'inner',
          name: e.spec.name,
          yamlName: mapping.attn,
          spec: e.spec,
          pluginId: e.pluginId,
          args: innerArgs.map((x) => resolveArg(x, locals)),
          mapping,
        };
        args.push(inner);
        continue;
      }
      args.push(resolveArg(a, locals));
    }
    const inputs = fromList.map((x) => {
      const abs = x < 0 ? i + x : x;
      if (abs >= i || (abs < 0 && !(i === 0 && x === -1))) {
        throw new Error(
          `${where}: "from" ${x} does not name an earlier layer (layer ${i} can read 0..${i - 1}${i === 0 ? ' or -1 = the image' : ''})`,
        );
      }
      return abs;
    });
    const inputChannels = inputs.map((abs) => (abs < 0 ? chIn : ch[abs]));
    const repeats = scaleRepeats(n0, depth);
    const ctx: ChannelContext = {
      inputChannels,
      nc,
      width,
      maxChannels,
      scaleChannels: (c: number) => scaleChannels(c, width, maxChannels),
      repeats,
      where,
    };
    let res: { args: unknown[]; c2: number };
    try {
      res = spec.channels(args, ctx);
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(msg.includes(where) ? msg : `${where}: ${msg}`);
    }
    if (!checkInt(res.c2) || res.c2 < 1) throw new Error(`${where}: ${spec.name} inferred invalid output channels ${res.c2}`);
    const copies = spec.repeatsInArgs ? 1 : repeats;
    for (const x of fromList) if (x !== -1) save.push(((x % i) + i) % i);
    layers.push({
      index: i,
      section,
      from: f as YamlFrom,
      inputs,
      repeats,
      copies,
      module: spec.name,
      yamlModule: m,
      type: spec.typeName ?? spec.name,
      spec,
      pluginId,
      args: res.args,
      c2: res.c2,
      inputChannels,
      where,
      line,
    });
    ch.push(res.c2);
  });
  save.sort((a, b) => a - b);
  return { source: loaded.source, yaml: y, loaded, nc, scale, depth, width, maxChannels, ch: chIn, layers, save };
}
