/**
 * Model YAML files in Ultralytics' format: `nc`, `scales` (or `depth_multiple`/`width_multiple`),
 * `backbone` and `head` rows `[from, repeats, module, args]`.
 *
 * Built in: `yolov8.yaml` (Ultralytics 8.0.229), addressed as Ultralytics does: `yolov8n.yaml` ...
 * `yolov8x.yaml` mean yolov8.yaml at scale n ... x. User files are read by path. The scale comes from
 * the `scale` option, else a top-level `scale:` key, else the file name (`yolov8s-foo.yaml` -> `s`),
 * as Ultralytics' `guess_model_scale`.
 *
 * YAML is read with the `yaml` package (YAML 1.2 core schema: `True`/`False` are booleans, `None` is
 * the string "None", which the parser then turns into null as Python's `ast.literal_eval` does).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Document, isSeq, parseDocument } from 'yaml';

export type YamlFrom = number | number[];
/** One row: `[from, repeats, module, args]`. */
export type YamlRow = [YamlFrom, number, string, unknown[]];

export interface ModelYaml {
  nc: number;
  /** scale name -> [depth, width, max_channels] */
  scales?: Record<string, number[]>;
  /** Optional explicit scale key (Ultralytics reads `d['scale']`). */
  scale?: string;
  depth_multiple?: number;
  width_multiple?: number;
  backbone: YamlRow[];
  head: YamlRow[];
  [key: string]: unknown;
}

/** yolov8.yaml as shipped with Ultralytics 8.0.229 (same rows and scales; comments as in the original). */
export const YOLOV8_YAML = `# Ultralytics YOLO, AGPL-3.0 license
# YOLOv8 object detection model with P3-P5 outputs. For Usage examples see https://docs.ultralytics.com/tasks/detect

# Parameters
nc: 80  # number of classes
scales: # model compound scaling constants, i.e. 'model=yolov8n.yaml' will call yolov8.yaml with scale 'n'
  # [depth, width, max_channels]
  n: [0.33, 0.25, 1024]  # YOLOv8n summary: 225 layers,  3157200 parameters,  3157184 gradients,   8.9 GFLOPs
  s: [0.33, 0.50, 1024]  # YOLOv8s summary: 225 layers, 11166560 parameters, 11166544 gradients,  28.8 GFLOPs
  m: [0.67, 0.75, 768]   # YOLOv8m summary: 295 layers, 25902640 parameters, 25902624 gradients,  79.3 GFLOPs
  l: [1.00, 1.00, 512]   # YOLOv8l summary: 365 layers, 43691520 parameters, 43691504 gradients, 165.7 GFLOPs
  x: [1.00, 1.25, 512]   # YOLOv8x summary: 365 layers, 68229648 parameters, 68229632 gradients, 258.5 GFLOPs

# YOLOv8.0n backbone
backbone:
  # [from, repeats, module, args]
  - [-1, 1, Conv, [64, 3, 2]]  # 0-P1/2
  - [-1, 1, Conv, [128, 3, 2]]  # 1-P2/4
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]  # 3-P3/8
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]  # 5-P4/16
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]  # 7-P5/32
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]  # 9

# YOLOv8.0n head
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 6], 1, Concat, [1]]  # cat backbone P4
  - [-1, 3, C2f, [512]]  # 12

  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
  - [[-1, 4], 1, Concat, [1]]  # cat backbone P3
  - [-1, 3, C2f, [256]]  # 15 (P3/8-small)

  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]  # cat head P4
  - [-1, 3, C2f, [512]]  # 18 (P4/16-medium)

  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]  # cat head P5
  - [-1, 3, C2f, [1024]]  # 21 (P5/32-large)

  - [[15, 18, 21], 1, Detect, [nc]]  # Detect(P3, P4, P5)
`;

/** Built-in model files by their unified name. */
export const BUILTIN_YAMLS: Readonly<Record<string, string>> = { 'yolov8.yaml': YOLOV8_YAML };

/** A model YAML with where it came from and (when read from text) the source line of every row. */
export interface LoadedYaml {
  yaml: ModelYaml;
  /** File name or `<yaml text>` / `<object>`, for messages. */
  source: string;
  /** The YAML text when it was given or read as text. */
  text?: string;
  /** Scale guessed from the file name (`yolov8n.yaml` -> `n`), if any. */
  guessedScale?: string;
  /** Source text of each row (backbone then head), when read from text. */
  rowLines?: string[];
}

/** Ultralytics' `guess_model_scale`: the letter after `yolov<digits>` in the file stem. */
export function guessModelScale(file: string): string | undefined {
  const stem = path.basename(file).replace(/\.[^.]*$/, '');
  return /yolov\d+([nslmx])/.exec(stem)?.[1];
}

/** Ultralytics' unified file name: `yolov8n.yaml` -> `yolov8.yaml`, `yolov8s-p2.yaml` -> `yolov8-p2.yaml`. */
export function unifiedYamlName(file: string): string {
  return path.basename(file).replace(/(\d+)([nslmx])(.+)?$/, '$1$3');
}

function looksLikeYamlText(s: string): boolean {
  return s.includes('\n') || /(^|\s)backbone\s*:/.test(s);
}

/**
 * Reads a model YAML from text, a built-in name (`yolov8n.yaml`), a file path, or an object
 * (deep-copied). Validates the top-level structure; rows are validated by the parser.
 */
export function loadModelYaml(src: string | ModelYaml): LoadedYaml {
  if (typeof src !== 'string') {
    const yaml = structuredClone(src) as ModelYaml;
    checkTopLevel(yaml, '<object>');
    return { yaml, source: '<object>' };
  }
  if (looksLikeYamlText(src)) return fromText(src, '<yaml text>');
  const guessedScale = guessModelScale(src);
  if (fs.existsSync(src)) {
    const r = fromText(fs.readFileSync(src, 'utf8'), src);
    return { ...r, guessedScale };
  }
  const unified = unifiedYamlName(src);
  const builtin = BUILTIN_YAMLS[unified];
  if (builtin !== undefined && path.basename(src) === src) {
    return { ...fromText(builtin, path.basename(src)), guessedScale };
  }
  const known = Object.keys(BUILTIN_YAMLS)
    .flatMap((k) => [k, ...['n', 's', 'm', 'l', 'x'].map((s) => k.replace(/(\d+)/, `$1${s}`))])
    .join(', ');
  throw new Error(`Model YAML "${src}" is neither a file nor a built-in model; built-in: ${known}`);
}

function fromText(text: string, source: string): LoadedYaml {
  let doc: Document;
  try {
    doc = parseDocument(text, { uniqueKeys: true });
  } catch (e) {
    throw new Error(`${source}: not valid YAML (${(e as Error).message})`);
  }
  if (doc.errors.length) throw new Error(`${source}: not valid YAML (${doc.errors[0].message})`);
  const yaml = doc.toJS() as ModelYaml;
  checkTopLevel(yaml, source);
  const rowLines: string[] = [];
  for (const section of ['backbone', 'head']) {
    const seq = doc.get(section, true);
    if (!isSeq(seq)) continue;
    for (const item of seq.items) {
      const r = (item as { range?: [number, number, number] }).range;
      if (!r) {
        rowLines.push('');
        continue;
      }
      const lineStart = text.lastIndexOf('\n', r[0] - 1) + 1;
      let lineEnd = text.indexOf('\n', r[1]);
      if (lineEnd < 0) lineEnd = text.length;
      rowLines.push(text.slice(lineStart, lineEnd).trim());
    }
  }
  return { yaml, source, text, rowLines };
}

function checkTopLevel(y: ModelYaml, source: string): void {
  if (y === null || typeof y !== 'object' || Array.isArray(y)) throw new Error(`${source}: a model YAML must be a mapping`);
  for (const section of ['backbone', 'head'] as const) {
    if (!Array.isArray(y[section])) {
      throw new Error(`${source}: "${section}" must be a list of [from, repeats, module, args] rows (got ${JSON.stringify(y[section])})`);
    }
  }
  if (y.nc !== undefined && (typeof y.nc !== 'number' || !Number.isInteger(y.nc) || y.nc < 1)) {
    throw new Error(`${source}: nc must be a positive integer (got ${JSON.stringify(y.nc)})`);
  }
  if (y.scales !== undefined) {
    if (y.scales === null || typeof y.scales !== 'object')
      throw new Error(`${source}: scales must be a mapping name -> [depth, width, max_channels]`);
    for (const [k, v] of Object.entries(y.scales)) {
      if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number')) {
        throw new Error(`${source}: scale "${k}" must be [depth, width, max_channels] (got ${JSON.stringify(v)})`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Python-style rendering of values (for YAML rows written by the insertion tool, and summaries).

const PY_NAMES = new Set(['None', 'True', 'False', 'nc']);

/** Renders a YAML value in the flow style of Ultralytics' files: `[None, 2, 'nearest']`, `{attn: X, args: []}`. */
export function formatYamlValue(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? '.inf' : v < 0 ? '-.inf' : '.nan';
  if (typeof v === 'string') {
    if (PY_NAMES.has(v) || /^[A-Za-z_][A-Za-z0-9_.]*$/.test(v)) return v;
    return `'${v.replace(/'/g, "''")}'`;
  }
  if (Array.isArray(v)) return `[${v.map(formatYamlValue).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${formatYamlValue(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

/** Renders a value as Python's repr would (summaries): `[None, 2, 'nearest']`, `True`, `{'attn': 'X'}`. */
export function formatPython(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(formatPython).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `'${k}': ${formatPython(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

/** One row in flow style, as in the stock files: `[-1, 1, Conv, [64, 3, 2]]`. */
export function formatRow(row: readonly unknown[]): string {
  if (!Array.isArray(row) || row.length !== 4) return formatYamlValue(row);
  const [f, n, m, args] = row;
  return `[${formatYamlValue(f)}, ${formatYamlValue(n)}, ${typeof m === 'string' ? m : formatYamlValue(m)}, ${formatYamlValue(args)}]`;
}

/**
 * Writes a model YAML in the layout of the stock file: `nc`, `scales`, other keys, then the backbone
 * and head rows in flow style with `# index` comments.
 */
export function dumpModelYaml(y: ModelYaml): string {
  const out: string[] = [];
  out.push(`nc: ${y.nc}  # number of classes`);
  if (y.scales) {
    out.push('scales:  # [depth, width, max_channels]');
    for (const [k, v] of Object.entries(y.scales)) out.push(`  ${k}: ${formatYamlValue(v)}`);
  }
  for (const [k, v] of Object.entries(y)) {
    if (['nc', 'scales', 'backbone', 'head'].includes(k)) continue;
    out.push(`${k}: ${formatYamlValue(v)}`);
  }
  let i = 0;
  for (const section of ['backbone', 'head'] as const) {
    out.push(`${section}:`);
    for (const row of y[section]) out.push(`  - ${formatRow(row)}  # ${i++}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Makes a model YAML self-contained: a scale known only from the file name (`yolov8n.yaml` -> `n`)
 * becomes an explicit `scale:` key, so the text builds the same model on its own.
 */
export function pinModelScale(text: string, scale: string | undefined): string {
  if (!scale || /^scale\s*:/m.test(text) || !/^scales\s*:/m.test(text)) return text;
  return `scale: ${scale} # chosen from the model name, as Ultralytics does\n${text}`;
}
