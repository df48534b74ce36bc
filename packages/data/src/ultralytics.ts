/**
 * Ultralytics-format detection data sets: a data.yaml (`path`, `train`, `val`, `names` as a list or a
 * {id: name} map, optional `nc`), images (png, jpg/jpeg, webp, tif/tiff; decoded with sharp, EXIF
 * orientation applied, alpha dropped, grey expanded to RGB) and YOLO label files found by replacing the
 * last `/images/` of an image path with `/labels/` and its extension with `.txt`.
 *
 * Corrupt input is reported, counted in `skipped` and skipped, and loading goes on: an unreadable
 * image drops that image; a bad label line (wrong field count, non-numeric field, class id not an
 * integer in [0, nc), coordinate outside [0, 1] by more than 1e-4, zero-size box, duplicate line) drops
 * that line. A missing data.yaml, a missing image folder or list, or a malformed data.yaml is an error.
 *
 * Deviations from Ultralytics (documented in the README): a relative `path` is resolved against the
 * data.yaml's folder (Ultralytics uses its datasets_dir setting); relative lines of a .txt image list
 * are resolved against the list's folder; Ultralytics drops the whole image when one label line is bad,
 * here only the line is dropped. Images without a label file are kept as background images.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import type { DetectionDataset, Label, RawSample, SampleSource, SkippedItem } from './types.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'] as const;
const COORD_EPS = 1e-4;

export interface UltralyticsOptions {
  /** keep decoded images in memory up to this many bytes in total (default 512 MiB); the rest is re-decoded on use */
  cacheBytes?: number;
  /** called for every skipped item as it is found */
  onSkip?: (item: SkippedItem) => void;
}

/** Decodes an image file to HWC RGB uint8. Throws with the file name when it cannot be read. */
export async function decodeImage(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file, { failOn: 'error' })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** Ultralytics' img2label_paths: the last /images/ becomes /labels/, the extension .txt. */
export function labelPathFor(imagePath: string): string {
  const marker = `${sep}images${sep}`;
  const k = imagePath.lastIndexOf(marker);
  const swapped = k >= 0 ? `${imagePath.slice(0, k)}${sep}labels${sep}${imagePath.slice(k + marker.length)}` : imagePath;
  return `${swapped.slice(0, swapped.length - extname(swapped).length)}.txt`;
}

/** Parses one YOLO label file. Bad lines go to `skipped` (with 1-based line numbers) and are dropped. */
export function parseLabelFile(text: string, file: string, nc: number, skipped: SkippedItem[]): Label[] {
  const labels: Label[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li].trim();
    if (line === '') continue;
    const bad = (reason: string) => skipped.push({ file, line: li + 1, reason });
    const fields = line.split(/\s+/);
    const nums = fields.map(Number);
    const nonNum = fields.findIndex((f, i) => !Number.isFinite(nums[i]) || f === '');
    if (nonNum >= 0) {
      bad(`non-numeric field ${JSON.stringify(fields[nonNum])} (field ${nonNum + 1})`);
      continue;
    }
    const isBox = fields.length === 5;
    const isPolygon = fields.length >= 7 && (fields.length - 1) % 2 === 0;
    if (!isBox && !isPolygon) {
      bad(`wrong field count: ${fields.length} fields, expected 5 (cls x y w h) or a polygon (cls x1 y1 x2 y2 x3 y3 ...)`);
      continue;
    }
    const cls = nums[0];
    if (!Number.isInteger(cls) || cls < 0 || cls >= nc) {
      bad(`class id ${fields[0]} is not an integer in 0..${nc - 1} (nc = ${nc})`);
      continue;
    }
    const coords = nums.slice(1);
    const out = coords.findIndex((v) => v < -COORD_EPS || v > 1 + COORD_EPS);
    if (out >= 0) {
      bad(`coordinate ${fields[out + 1]} (field ${out + 2}) is outside [0, 1]; labels must be normalised`);
      continue;
    }
    const c = coords.map((v) => Math.min(1, Math.max(0, v)));
    let label: Label;
    if (isBox) label = { cls, x: c[0], y: c[1], w: c[2], h: c[3] };
    else {
      // polygon (segment) -> its bounding box, as Ultralytics' segments2boxes
      let x0 = 1;
      let y0 = 1;
      let x1 = 0;
      let y1 = 0;
      for (let i = 0; i < c.length; i += 2) {
        x0 = Math.min(x0, c[i]);
        x1 = Math.max(x1, c[i]);
        y0 = Math.min(y0, c[i + 1]);
        y1 = Math.max(y1, c[i + 1]);
      }
      label = { cls, x: (x0 + x1) / 2, y: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0 };
    }
    if (!(label.w > 0 && label.h > 0)) {
      bad(`zero-size box (w ${label.w}, h ${label.h})`);
      continue;
    }
    const key = fields.join(' ');
    const prev = seen.get(key);
    if (prev !== undefined) {
      bad(`duplicate of line ${prev}`);
      continue;
    }
    seen.set(key, li + 1);
    labels.push(label);
  }
  return labels;
}

function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase())) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function resolveImages(spec: unknown, key: string, root: string, yamlPath: string): string[] {
  const entries = typeof spec === 'string' ? [spec] : Array.isArray(spec) ? spec : null;
  if (!entries || entries.length === 0 || !entries.every((e) => typeof e === 'string' && e.length > 0)) {
    throw new Error(`${yamlPath}: "${key}" must be an image folder, an image list (.txt) or a list of those, got ${JSON.stringify(spec)}`);
  }
  const files: string[] = [];
  for (const e of entries as string[]) {
    const p = isAbsolute(e) ? e : resolve(root, e);
    if (!existsSync(p)) throw new Error(`${yamlPath}: "${key}" image folder or list not found: ${p}`);
    const st = statSync(p);
    if (st.isDirectory()) {
      const found = listImages(p);
      if (found.length === 0) {
        throw new Error(`${yamlPath}: "${key}" folder ${p} holds no images (looked for ${IMAGE_EXTENSIONS.join(', ')})`);
      }
      files.push(...found);
    } else if (extname(p).toLowerCase() === '.txt') {
      const base = dirname(p);
      for (const line of readFileSync(p, 'utf8').split(/\r?\n/)) {
        const t = line.trim();
        if (t === '' || t.startsWith('#')) continue;
        files.push(isAbsolute(t) ? t : resolve(base, t));
      }
    } else if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(p).toLowerCase())) files.push(p);
    else throw new Error(`${yamlPath}: "${key}" entry ${p} is neither a folder, a .txt image list nor an image`);
  }
  return files;
}

function parseNames(doc: Record<string, unknown>, yamlPath: string): string[] {
  const names = doc.names;
  let list: string[];
  if (Array.isArray(names)) list = names.map(String);
  else if (names && typeof names === 'object') {
    const entries = Object.entries(names as Record<string, unknown>);
    const ids = entries.map(([k]) => Number(k));
    if (!ids.every((k) => Number.isInteger(k) && k >= 0 && k < entries.length) || new Set(ids).size !== ids.length) {
      throw new Error(
        `${yamlPath}: "names" map keys must be the class ids 0..${entries.length - 1}, got ${entries.map(([k]) => k).join(', ')}`,
      );
    }
    list = new Array(entries.length);
    for (const [k, v] of entries) list[Number(k)] = String(v);
  } else if (typeof doc.nc === 'number' && Number.isInteger(doc.nc) && doc.nc > 0) {
    list = Array.from({ length: doc.nc }, (_, i) => `class${i}`);
  } else {
    throw new Error(`${yamlPath}: "names" is missing or not a list / {id: name} map, and there is no "nc"`);
  }
  if (list.length === 0) throw new Error(`${yamlPath}: "names" is empty`);
  if (doc.nc !== undefined && doc.nc !== list.length) {
    throw new Error(`${yamlPath}: "nc" is ${JSON.stringify(doc.nc)} but "names" lists ${list.length} classes`);
  }
  return list;
}

interface Entry {
  path: string;
  labels: Label[];
  width: number;
  height: number;
  data: Uint8Array | null;
}

/** A split of an Ultralytics data set: decoded images kept in memory within the byte budget. */
class UltralyticsSource implements SampleSource {
  constructor(private readonly entries: Entry[]) {}
  get length(): number {
    return this.entries.length;
  }
  async get(i: number): Promise<RawSample> {
    if (!Number.isInteger(i) || i < 0 || i >= this.entries.length) {
      throw new Error(`SampleSource.get: index ${i} is out of range 0..${this.entries.length - 1}`);
    }
    const e = this.entries[i];
    let data = e.data;
    if (!data) {
      const d = await decodeImage(e.path);
      if (d.width !== e.width || d.height !== e.height) {
        throw new Error(`${e.path}: image changed on disk since loading (${d.width}x${d.height}, was ${e.width}x${e.height})`);
      }
      data = d.data;
    }
    return { image: data, width: e.width, height: e.height, labels: e.labels.map((l) => ({ ...l })), path: e.path };
  }
  labelsOf(i: number): Label[] {
    const e = this.entries[i];
    if (!e) throw new Error(`SampleSource.labelsOf: index ${i} is out of range 0..${this.entries.length - 1}`);
    return e.labels.map((l) => ({ ...l }));
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Loads an Ultralytics data set described by `dataYaml` (see the header comment). */
export async function loadUltralyticsDataset(dataYaml: string, opts: UltralyticsOptions = {}): Promise<DetectionDataset> {
  const yamlPath = resolve(dataYaml);
  if (!existsSync(yamlPath)) throw new Error(`data.yaml not found: ${yamlPath}`);
  const text = readFileSync(yamlPath, 'utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new Error(`${yamlPath}: invalid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`${yamlPath}: expected a mapping with path, train, val, names`);
  const d = doc as Record<string, unknown>;
  const names = parseNames(d, yamlPath);
  const nc = names.length;
  if (d.path !== undefined && (typeof d.path !== 'string' || d.path === '')) {
    throw new Error(`${yamlPath}: "path" must be a folder name, got ${JSON.stringify(d.path)}`);
  }
  const root = typeof d.path === 'string' ? resolve(dirname(yamlPath), d.path) : dirname(yamlPath);
  if (d.train === undefined) throw new Error(`${yamlPath}: "train" is missing (an image folder, a .txt list, or a list of those)`);
  if (d.val === undefined) throw new Error(`${yamlPath}: "val" is missing (an image folder, a .txt list, or a list of those)`);

  // Reported as found (onSkip), listed in `skipped` in file order (decoding runs concurrently).
  const skipped: SkippedItem[] = [];
  let budget = opts.cacheBytes ?? 512 * 1024 * 1024;
  const hash = createHash('sha256').update(text);
  const splits: Record<'train' | 'val', Entry[]> = { train: [], val: [] };
  for (const key of ['train', 'val'] as const) {
    const files = resolveImages(d[key], key, root, yamlPath);
    const skips: SkippedItem[][] = files.map(() => []);
    const loaded = await mapLimit(files, 4, async (file, fi): Promise<Entry | null> => {
      const report = (s: SkippedItem) => {
        skips[fi].push(s);
        opts.onSkip?.(s);
      };
      let img: { data: Uint8Array; width: number; height: number };
      try {
        if (!existsSync(file)) throw new Error('file not found');
        img = await decodeImage(file);
      } catch (e) {
        report({ file, reason: `unreadable image: ${(e as Error).message.split('\n')[0]}` });
        return null;
      }
      if (img.width < 10 || img.height < 10) {
        report({ file, reason: `image size ${img.width}x${img.height} is under 10 px` });
        return null;
      }
      const lp = labelPathFor(file);
      let labels: Label[] = [];
      if (existsSync(lp)) {
        const lineSkips: SkippedItem[] = [];
        labels = parseLabelFile(readFileSync(lp, 'utf8'), lp, nc, lineSkips);
        for (const s of lineSkips) report(s);
      }
      return { path: file, labels, width: img.width, height: img.height, data: img.data };
    });
    for (const [i, e] of loaded.entries()) {
      skipped.push(...skips[i]);
      const f = files[i];
      const st = existsSync(f) ? statSync(f) : null;
      const lp = labelPathFor(f);
      const ls = existsSync(lp) ? statSync(lp) : null;
      hash.update(`${key}\0${relative(root, f)}\0${st?.size ?? -1}\0${st?.mtimeMs ?? -1}\0${ls?.size ?? -1}\0${ls?.mtimeMs ?? -1}\n`);
      if (!e) continue;
      if (e.data && e.data.byteLength <= budget) budget -= e.data.byteLength;
      else e.data = null;
      splits[key].push(e);
    }
    if (splits[key].length === 0) throw new Error(`${yamlPath}: "${key}" has no readable images (${files.length} listed, all skipped)`);
  }
  const nTrain = splits.train.length;
  const nVal = splits.val.length;
  return {
    names,
    nc,
    train: new UltralyticsSource(splits.train),
    val: new UltralyticsSource(splits.val),
    skipped,
    description: `Ultralytics data set ${yamlPath}: ${nc} classes, ${nTrain} train / ${nVal} val images${skipped.length ? `, ${skipped.length} item(s) skipped` : ''}`,
    fingerprint: `ultralytics-${hash.digest('hex').slice(0, 16)}`,
  };
}
