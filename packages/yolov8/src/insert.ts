/**
 * Insertion positions: takes a model YAML, a module (name + args) and a position, and returns a new
 * YAML document that the same parser reads (so it can be saved, diffed against the stock file and
 * reused). Given YAML text, the text is edited in place (comments, blank lines and formatting stay;
 * trailing `# <index>` comments are renumbered); given an object, it is written in the stock layout.
 *
 * Positions:
 *  - `residual` / `{ residual: [i, ...] }`: not a new layer: the C2f row gets a trailing mapping arg
 *    `{attn: Name, args: [...]}`, which builds the module inside every Bottleneck of that C2f, as
 *    `x + attn(cv2(cv1(x)))`. Default: the deepest C2f of the backbone.
 *  - `pre-SPPF`: a new layer right before SPPF, read by SPPF only.
 *  - `neck`: a new layer right after the head's first C2f, read by that C2f's consumers.
 *  - `pre-head`: a new layer on each input of Detect (placed just before Detect), read by Detect only.
 *  - `{ after: N }` / `{ after: [N, ...] }`: a new layer after layer N, read by N's consumers.
 *
 * Index rewriting for a new layer after p: refs r < p stay, r == p -> p+1, r > p -> r+1; `-1` stays
 * `-1`; other negative (relative) refs are recomputed. Several insertions run from the highest p down.
 * Layer roles (SPPF, head's first C2f, Detect and its inputs) are found from the YAML.
 */
import { isSeq, parseDocument } from 'yaml';
import { createRegistry } from './builtins.js';
import { type ModelPlan, parseModel } from './parse.js';
import type { ModuleRegistry, YoloModuleSpec } from './registry.js';
import {
  dumpModelYaml,
  formatRow,
  formatYamlValue,
  loadModelYaml,
  type ModelYaml,
  pinModelScale,
  type YamlFrom,
  type YamlRow,
} from './yaml.js';

export type InsertPosition = 'residual' | 'pre-SPPF' | 'neck' | 'pre-head' | { after: number | number[] } | { residual: number | number[] };

export const INSERT_POSITIONS = [
  'residual',
  'pre-SPPF',
  'neck',
  'pre-head',
  '{after: N}',
  '{after: [N, ...]}',
  '{residual: [N, ...]}',
] as const;

/** What the args callback learns about one insertion point. */
export interface InsertPoint {
  /** The layer the new module reads (for residual: the C2f layer), in the original YAML. */
  layer: number;
  /**
   * Channels the module sees, unscaled (as written in the YAML, i.e. before the width multiple):
   * for a new layer the output channels of the layer it reads; for residual the Bottleneck width.
   * Conv-like modules written `[C]` with this C get exactly these channels after scaling.
   */
  channels: number;
  position: string;
}

export interface InsertModule {
  name: string;
  /** YAML args, or a function of the insertion point (e.g. `(p) => [p.channels]` for a Conv-like stand-in). */
  args?: readonly unknown[] | ((p: InsertPoint) => unknown[]);
}

export interface InsertOptions {
  /** Resolves module names and aliases (and checks that `module.name` exists). Default: the built-ins. */
  registry?: ModuleRegistry;
}

interface Row {
  section: 'backbone' | 'head';
  row: YamlRow;
  /** Index in the original YAML (absent for new rows). */
  old?: number;
  /** Mapping to append to args (residual). */
  inner?: Record<string, unknown>;
  /** New rows: the unscaled channels they read (and give: inserted modules are shape-preserving). */
  c2?: number;
  fromChanged?: boolean;
}

function positionName(p: InsertPosition): string {
  if (typeof p === 'string') return p;
  if (p === null || typeof p !== 'object') return JSON.stringify(p);
  if ('after' in p) return `after: ${JSON.stringify(p.after)}`;
  return `residual: ${JSON.stringify(p.residual)}`;
}

function unknownPosition(p: unknown): Error {
  return new Error(`Unknown insertion position ${JSON.stringify(p)}; known: ${INSERT_POSITIONS.join(', ')}`);
}

function refsOf(f: YamlFrom): number[] {
  return Array.isArray(f) ? f : [f];
}

/**
 * Inserts k new rows at index `at` (they become at..at+k-1). `mapRef(abs)` gives the new absolute index
 * of an old absolute ref; rows listed in `override` get a new `from` instead.
 */
function insertRows(rows: Row[], at: number, fresh: Row[], mapRef: (abs: number) => number, override = new Map<number, YamlFrom>()): Row[] {
  const k = fresh.length;
  const out: Row[] = [];
  rows.forEach((r, j) => {
    if (j === at) out.push(...fresh);
    const jNew = j >= at ? j + k : j;
    const ov = override.get(j);
    if (ov !== undefined) {
      out.push({ ...r, row: [ov, r.row[1], r.row[2], r.row[3]], fromChanged: true });
      return;
    }
    const f = r.row[0];
    const mapped = refsOf(f).map((x) => {
      const abs = x < 0 ? j + x : x;
      if (abs < 0) return x; // the image
      const na = mapRef(abs);
      return x < 0 ? na - jNew : na;
    });
    const newF: YamlFrom = Array.isArray(f) ? mapped : mapped[0];
    const changed = JSON.stringify(newF) !== JSON.stringify(f);
    out.push(changed ? { ...r, row: [newF, r.row[1], r.row[2], r.row[3]], fromChanged: true } : r);
  });
  if (at >= rows.length) out.push(...fresh);
  return out;
}

function sectionAt(rows: Row[], at: number): 'backbone' | 'head' {
  if (at > 0) return rows[at - 1].section;
  return rows[0]?.section ?? 'backbone';
}

/** One position, or several applied together (`[residual, neck]`). */
export type InsertPositions = InsertPosition | readonly InsertPosition[];

/** The combined position's name: the names joined by `+` (`residual+neck`). */
export function positionsName(p: InsertPositions): string {
  return (isPositionList(p) ? p : [p]).map(positionName).join('+');
}

function isPositionList(p: InsertPositions): p is readonly InsertPosition[] {
  return Array.isArray(p);
}

/**
 * Inserts `module` into the model YAML at `position` (or at every position of a list, in one rewrite);
 * returns the new YAML text. In a list, layer numbers (`{after: N}`, `{residual: [N]}`) and layer roles
 * (SPPF, the head's first C2f, Detect) refer to the ORIGINAL YAML; each `from` is shifted once per new
 * layer before it, by composition of the single-insertion rule.
 */
export function insertModule(yaml: string | ModelYaml, module: InsertModule, position: InsertPositions, opts: InsertOptions = {}): string {
  return insertModuleMapped(yaml, module, position, opts).yaml;
}

/** The rewritten YAML and where each layer of the original went. */
export interface InsertResult {
  yaml: string;
  /** indexMap[i] = the new index of layer i of the original YAML (weight transfer: `model.i.*` -> `model.<new>.*`). */
  indexMap: number[];
}

/** `insertModule` that also returns the map from original layer indices to new ones. */
export function insertModuleMapped(
  yaml: string | ModelYaml,
  module: InsertModule,
  position: InsertPositions,
  opts: InsertOptions = {},
): InsertResult {
  if (!module || typeof module.name !== 'string' || !module.name) throw new Error('insertModule: module needs a name');
  const registry = opts.registry ?? defaultRegistry();
  if (opts.registry && !registry.has(module.name)) {
    throw new Error(`Unknown module "${module.name}"; known: ${registry.names().join(', ')}`);
  }
  const list = isPositionList(position) ? [...position] : [position];
  if (list.length === 0) throw new Error(`insertModule: an empty list of positions; known: ${INSERT_POSITIONS.join(', ')}`);
  const names = list.map((p) => (p === null || p === undefined ? String(p) : positionName(p)));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`insertModule(${names.join('+')}): position ${dup} is listed twice`);
  const loaded = loadModelYaml(yaml);
  const y = loaded.yaml;
  const st: RewriteState = {
    registry,
    module,
    source: loaded.source,
    rows: [
      ...y.backbone.map((row, i) => ({ section: 'backbone' as const, row, old: i })),
      ...y.head.map((row, i) => ({ section: 'head' as const, row, old: y.backbone.length + i })),
    ],
    n0: y.backbone.length + y.head.length,
    unscaled: () => {
      if (!st.plan) {
        const flat: ModelYaml = { ...y, scales: undefined, scale: undefined, depth_multiple: 1, width_multiple: 1 };
        st.plan = parseModel({ yaml: flat, source: loaded.source }, registry);
      }
      return st.plan;
    },
  };
  for (const p of list) applyPosition(st, p);
  const text = loaded.text !== undefined ? editText(loaded.text, st.rows) : dumpRows(y, st.rows);
  const indexMap = new Array<number>(st.n0);
  st.rows.forEach((r, j) => {
    if (r.old !== undefined) indexMap[r.old] = j;
  });
  // `yolov8n.yaml` names its scale only in the file name: pin it so the new document builds on its own.
  return { yaml: pinModelScale(text, y.scale === undefined ? loaded.guessedScale : undefined), indexMap };
}

interface RewriteState {
  registry: ModuleRegistry;
  module: InsertModule;
  source: string;
  /** The rows as rewritten so far (original rows carry `old`). */
  rows: Row[];
  /** Layer count of the original YAML. */
  n0: number;
  plan?: ModelPlan;
  /** The original YAML parsed at width 1 (unscaled channels). */
  unscaled(): ModelPlan;
}

/** Applies one position to the rows rewritten so far. */
function applyPosition(st: RewriteState, position: InsertPosition): void {
  const { registry, module } = st;
  const canon = (m: string) => registry.canonicalName(m) ?? m;
  const rows = () => st.rows;
  const nb = st.rows.filter((r) => r.section === 'backbone').length;
  const name = (j: number) => canon(String(st.rows[j].row[2]));
  const abs = (j: number, x: number) => (x < 0 ? j + x : x);
  const findAll = (m: string, from = 0, to = st.rows.length) => {
    const out: number[] = [];
    for (let j = from; j < to; j++) if (name(j) === m && st.rows[j].old !== undefined) out.push(j);
    return out;
  };
  /** Current index of layer `old` of the original YAML. */
  const cur = (old: number, pos: string): number => {
    if (!Number.isInteger(old) || old < 0 || old >= st.n0) throw new Error(`insertModule(${pos}): no layer ${old} (0..${st.n0 - 1})`);
    return st.rows.findIndex((r) => r.old === old);
  };
  /** Unscaled output channels of the current row j (a new row keeps the channels it reads). */
  const channelsOf = (j: number): number => {
    const r = st.rows[j];
    return r.old !== undefined ? st.unscaled().layers[r.old].c2 : (r.c2 as number);
  };
  const argsFor = (p: InsertPoint): unknown[] => {
    const a = typeof module.args === 'function' ? module.args(p) : (module.args ?? []);
    if (!Array.isArray(a)) throw new Error(`insertModule: args for ${module.name} must be a list`);
    return [...a];
  };
  const pos = positionName(position);
  const oldOf = (j: number) => st.rows[j].old ?? j;
  const newRow = (from: YamlFrom, src: number, at: number): Row => {
    const channels = src < 0 ? 3 : channelsOf(src);
    return {
      section: sectionAt(rows(), at),
      row: [from, 1, module.name, argsFor({ layer: src < 0 ? src : oldOf(src), channels, position: pos })],
      c2: channels,
    };
  };

  if (position === 'residual' || (typeof position === 'object' && position !== null && 'residual' in position)) {
    let targets: number[];
    if (position === 'residual') {
      const c2fs = findAll('C2f', 0, nb);
      if (!c2fs.length) throw new Error(`insertModule(residual): ${st.source} has no C2f in its backbone`);
      targets = [c2fs[c2fs.length - 1]];
    } else {
      targets = refsOf((position as { residual: number | number[] }).residual).map((t) => cur(t, pos));
    }
    for (const t of targets) {
      const r = st.rows[t];
      const spec = registry.has(String(r.row[2])) ? (registry.get(String(r.row[2])).spec as YoloModuleSpec) : undefined;
      if (!spec?.acceptsInner || !spec.innerChannels) {
        const takers = registry.names().filter((n) => (registry.get(n).spec as YoloModuleSpec).acceptsInner);
        throw new Error(
          `insertModule(${pos}): layer ${oldOf(t)} is ${r.row[2]}, which has no residual branch; modules that do: ${takers.join(', ')}`,
        );
      }
      if ((r.row[3] as unknown[]).some((a) => a !== null && typeof a === 'object' && !Array.isArray(a))) {
        throw new Error(`insertModule(${pos}): layer ${oldOf(t)} already holds an {attn: ...} module`);
      }
      const lp = st.unscaled().layers[oldOf(t)];
      const channels = spec.innerChannels(lp.args);
      const mapping = { attn: module.name, args: argsFor({ layer: oldOf(t), channels, position: pos }) };
      st.rows[t] = { ...r, row: [r.row[0], r.row[1], r.row[2], [...r.row[3], mapping]], inner: mapping };
    }
  } else if (position === 'pre-SPPF') {
    const s = findAll('SPPF');
    if (s.length !== 1) throw new Error(`insertModule(pre-SPPF): expected one SPPF layer in ${st.source}, found ${s.length}`);
    const at = s[0];
    const f = st.rows[at].row[0];
    if (Array.isArray(f)) throw new Error(`insertModule(pre-SPPF): SPPF (layer ${oldOf(at)}) reads several layers`);
    const src = abs(at, f);
    const fresh = newRow(f === -1 ? -1 : src, src, at);
    st.rows = insertRows(st.rows, at, [fresh], (r) => (r >= at ? r + 1 : r), new Map([[at, -1]]));
  } else if (position === 'neck' || (typeof position === 'object' && position !== null && 'after' in position)) {
    let ps: number[];
    if (position === 'neck') {
      const c = findAll('C2f', nb);
      if (!c.length) throw new Error(`insertModule(neck): ${st.source} has no C2f in its head`);
      ps = [c[0]];
    } else {
      const olds = refsOf((position as { after: number | number[] }).after);
      if (new Set(olds).size !== olds.length) throw new Error(`insertModule(${pos}): a layer is listed twice`);
      ps = olds.map((p) => cur(p, pos));
    }
    for (const p of [...ps].sort((a, b) => b - a)) {
      const fresh = newRow(-1, p, p + 1);
      st.rows = insertRows(st.rows, p + 1, [fresh], (r) => (r >= p ? r + 1 : r));
    }
  } else if (position === 'pre-head') {
    const d = findAll('Detect');
    if (!d.length) throw new Error(`insertModule(pre-head): ${st.source} has no Detect layer`);
    const at = d[d.length - 1];
    const inputs = refsOf(st.rows[at].row[0]).map((x) => abs(at, x));
    const fresh = inputs.map((src) => newRow(src, src, at));
    const k = fresh.length;
    const detectFrom: YamlFrom = Array.isArray(st.rows[at].row[0]) ? inputs.map((_, q) => at + q) : at;
    st.rows = insertRows(st.rows, at, fresh, (r) => (r >= at ? r + k : r), new Map([[at, detectFrom]]));
  } else {
    throw unknownPosition(position);
  }
}

function dumpRows(y: ModelYaml, rows: Row[]): string {
  const out: ModelYaml = { ...y, backbone: [], head: [] };
  for (const r of rows) out[r.section].push(r.row);
  return dumpModelYaml(out);
}

/** Applies the row changes to the original text: from refs, args mappings, new lines, index comments. */
function editText(text: string, rows: Row[]): string {
  const doc = parseDocument(text);
  interface Loc {
    lineStart: number;
    lineEnd: number;
    indent: string;
    from: [number, number];
    argsEnd: number;
    argsEmpty: boolean;
    valueEnd: number;
  }
  const locs: Loc[] = [];
  for (const section of ['backbone', 'head']) {
    const seq = doc.get(section, true);
    if (!isSeq(seq)) continue;
    for (const item of seq.items) {
      const node = item as { range: [number, number, number]; items: { range: [number, number, number]; items?: unknown[] }[] };
      const r = node.range;
      const lineStart = text.lastIndexOf('\n', r[0] - 1) + 1;
      let lineEnd = text.indexOf('\n', r[1]);
      if (lineEnd < 0) lineEnd = text.length;
      const dash = text.slice(lineStart, r[0]);
      const indent = /^(\s*)/.exec(dash)?.[1] ?? '  ';
      const fr = node.items[0].range;
      const ar = node.items[3].range;
      locs.push({
        lineStart,
        lineEnd,
        indent,
        from: [fr[0], fr[1]],
        argsEnd: ar[1] - 1,
        argsEmpty: !node.items[3].items?.length,
        valueEnd: r[1],
      });
    }
  }
  const edits: { pos: number; del: number; ins: string; order: number }[] = [];
  let order = 0;
  const newLine = (indent: string, r: Row, idx: number) => `${indent}- ${formatRow(r.row)}  # ${idx}`;
  rows.forEach((r, idx) => {
    if (r.old === undefined) return;
    const L = locs[r.old];
    if (r.fromChanged) edits.push({ pos: L.from[0], del: L.from[1] - L.from[0], ins: formatYamlValue(r.row[0]), order: order++ });
    if (r.inner) edits.push({ pos: L.argsEnd, del: 0, ins: `${L.argsEmpty ? '' : ', '}${formatYamlValue(r.inner)}`, order: order++ });
    if (idx !== r.old) {
      const tail = text.slice(L.valueEnd, L.lineEnd);
      const m = /^(\s*#\s*)(\d+)/.exec(tail);
      if (m && Number(m[2]) === r.old) {
        edits.push({ pos: L.valueEnd + m[1].length, del: m[2].length, ins: String(idx), order: order++ });
      }
    }
  });
  // New rows: after the line of the previous old row (or before the first row's line).
  rows.forEach((r, idx) => {
    if (r.old !== undefined) return;
    let q = idx - 1;
    while (q >= 0 && rows[q].old === undefined) q--;
    if (q >= 0) {
      const L = locs[rows[q].old as number];
      const lines: string[] = [];
      for (let t = q + 1; t < rows.length && rows[t].old === undefined; t++) lines.push(newLine(L.indent, rows[t], t));
      if (idx === q + 1) edits.push({ pos: L.lineEnd, del: 0, ins: `\n${lines.join('\n')}`, order: order++ });
    } else if (idx === 0) {
      const next = rows.find((x) => x.old !== undefined);
      const L = locs[next?.old ?? 0];
      const lines: string[] = [];
      for (let t = 0; t < rows.length && rows[t].old === undefined; t++) lines.push(newLine(L.indent, rows[t], t));
      edits.push({ pos: L.lineStart, del: 0, ins: `${lines.join('\n')}\n`, order: order++ });
    }
  });
  edits.sort((a, b) => b.pos - a.pos || b.order - a.order);
  let out = text;
  for (const e of edits) out = out.slice(0, e.pos) + e.ins + out.slice(e.pos + e.del);
  return out;
}

let builtinRegistry: ModuleRegistry | undefined;

function defaultRegistry(): ModuleRegistry {
  builtinRegistry ??= createRegistry();
  return builtinRegistry;
}
