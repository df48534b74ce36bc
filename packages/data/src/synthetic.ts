/**
 * The embedded default data set: "synthetic shapes". Each image is drawn by a small JS rasteriser from
 * a core `Generator` seeded by (seed, split, index), so the same options give byte-identical pixels and
 * labels on any machine. Contents: filled shapes of `classes` kinds (circle, square, triangle, star,
 * cross, hexagon, in that order) with random size, colour, shading, rotation and aspect; overlaps up to
 * `maxOcclusion` of a shape; clutter that belongs to no class (thin lines, hollow rings, dots) drawn
 * under the shapes; textured backgrounds (two-colour gradient + value noise + optional stripes) and
 * per-pixel Gaussian noise.
 *
 * Labels are the tight boxes of each shape's *visible* pixels (a pixel belongs to the topmost shape
 * covering at least half of it, 2x2 supersampling). A placement that would leave any shape (new or
 * earlier) with less than 1 - maxOcclusion of its area visible, or a visible box smaller than `minBox`
 * px, is retried elsewhere (and dropped after 30 tries), so every drawn shape is labelled.
 *
 * Generated on first use into `<cacheDir>/<hash of options + generator version>` as an Ultralytics
 * data set (images/{train,val}/*.png, labels/{train,val}/*.txt, data.yaml, manifest.json), written to
 * a temporary folder and renamed into place, so an interrupted run never leaves a half cache.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Generator } from '@ablate/core';
import sharp from 'sharp';
import { stringify as yamlStringify } from 'yaml';
import { canonicalJson, deriveSeed, sha256Hex } from './seed.js';
import { type Geometry, rasterise, SHAPE_NAMES, type ShapeName, shapeGeometry } from './shapes.js';
import type { DetectionDataset, Label } from './types.js';
import { loadUltralyticsDataset } from './ultralytics.js';

/** Bumped whenever the drawing changes, so old caches are not reused. */
export const SYNTHETIC_VERSION = 1;

export interface SyntheticOptions {
  /** number of shape classes, 1..6 (default 3: circle, square, triangle) */
  classes?: number;
  /** training images (default 256) */
  train?: number;
  /** validation images (default 64) */
  val?: number;
  /** image side in px (default 128) */
  imgsz?: number;
  /** default 0 */
  seed?: number;
  /** root of the cache; the set goes to `<cacheDir>/<hash>` (default `$ABLATE_CACHE_DIR/synthetic` or `./.cache/ablate/synthetic`) */
  cacheDir?: string;
  /** shapes per image [min, max] (default [1, 4]) */
  objects?: [number, number];
  /** shape diameter as a fraction of imgsz [min, max] (default [0.14, 0.42]) */
  size?: [number, number];
  /** clutter items per image [min, max] (default [0, 3]) */
  distractors?: [number, number];
  /** largest hidden fraction of a shape's area (default 0.5) */
  maxOcclusion?: number;
  /** smallest visible box side in px (default 8) */
  minBox?: number;
  /** std of per-pixel Gaussian noise, in grey levels (default 6) */
  noise?: number;
  /** amplitude of the background texture, in grey levels (default 28) */
  texture?: number;
  /** smallest RGB distance between a shape's colour and what lies under it (default 70) */
  minContrast?: number;
}

export type ResolvedSyntheticOptions = Required<Omit<SyntheticOptions, 'cacheDir'>>;

export const SYNTHETIC_DEFAULTS: ResolvedSyntheticOptions = Object.freeze({
  classes: 3,
  train: 256,
  val: 64,
  imgsz: 128,
  seed: 0,
  objects: [1, 4] as [number, number],
  size: [0.14, 0.42] as [number, number],
  distractors: [0, 3] as [number, number],
  maxOcclusion: 0.5,
  minBox: 8,
  noise: 6,
  texture: 28,
  minContrast: 70,
});

function range(name: string, v: unknown, min: number, max: number, integer: boolean): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`syntheticDataset: option "${name}" must be [min, max] numbers, got ${JSON.stringify(v)}`);
  }
  const [a, b] = v as number[];
  if (a > b || a < min || b > max || (integer && !(Number.isInteger(a) && Number.isInteger(b)))) {
    throw new Error(
      `syntheticDataset: option "${name}" = [${a}, ${b}] must satisfy ${min} <= min <= max <= ${max}${integer ? ' (integers)' : ''}`,
    );
  }
  return [a, b];
}

function num(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(
      `syntheticDataset: option "${name}" must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

const KNOWN_OPTIONS = [...Object.keys(SYNTHETIC_DEFAULTS), 'cacheDir'];

/** Validates options and fills defaults. Unknown keys are errors. */
export function resolveSyntheticOptions(opts: SyntheticOptions = {}): ResolvedSyntheticOptions {
  for (const k of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.includes(k)) throw new Error(`syntheticDataset: unknown option "${k}"; known: ${KNOWN_OPTIONS.join(', ')}`);
  }
  const o = { ...SYNTHETIC_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  const imgsz = num('imgsz', o.imgsz, 32, 2048, true);
  return {
    classes: num('classes', o.classes, 1, SHAPE_NAMES.length, true),
    train: num('train', o.train, 1, 1_000_000, true),
    val: num('val', o.val, 1, 1_000_000, true),
    imgsz,
    seed: num('seed', o.seed, 0, Number.MAX_SAFE_INTEGER, true),
    objects: range('objects', o.objects, 0, 64, true),
    size: range('size', o.size, 0.02, 1, false),
    distractors: range('distractors', o.distractors, 0, 64, true),
    maxOcclusion: num('maxOcclusion', o.maxOcclusion, 0, 0.95, false),
    minBox: num('minBox', o.minBox, 1, imgsz, false),
    noise: num('noise', o.noise, 0, 128, false),
    texture: num('texture', o.texture, 0, 255, false),
    minContrast: num('minContrast', o.minContrast, 0, 400, false),
  };
}

/** A drawn shape, with its geometry and the tight box of its visible pixels. */
export interface DrawnShape {
  cls: number;
  geometry: Geometry;
  color: [number, number, number];
  /** visible box [x0, y0, x1, y1) in pixels */
  box: [number, number, number, number];
  visibleFraction: number;
}

export interface SyntheticImage {
  image: Uint8Array;
  width: number;
  height: number;
  labels: Label[];
  shapes: DrawnShape[];
  /** per pixel, the index in `shapes` of the topmost shape covering at least half of it, or -1 */
  owner: Int16Array;
}

const SPLIT_ID = { train: 1, val: 2 } as const;

/** Value noise in [-1, 1]: random values on a coarse grid, smoothstep-interpolated. */
function valueNoise(g: Generator, w: number, h: number, cells: number): Float32Array {
  const gw = cells + 1;
  const grid = new Float32Array(gw * gw);
  for (let i = 0; i < grid.length; i++) grid[i] = g.uniform(-1, 1);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const fy = ((y + 0.5) / h) * cells;
    const iy = Math.min(cells - 1, Math.floor(fy));
    let ty = fy - iy;
    ty = ty * ty * (3 - 2 * ty);
    for (let x = 0; x < w; x++) {
      const fx = ((x + 0.5) / w) * cells;
      const ix = Math.min(cells - 1, Math.floor(fx));
      let tx = fx - ix;
      tx = tx * tx * (3 - 2 * tx);
      const a = grid[iy * gw + ix];
      const b = grid[iy * gw + ix + 1];
      const c = grid[(iy + 1) * gw + ix];
      const d = grid[(iy + 1) * gw + ix + 1];
      out[y * w + x] = (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
    }
  }
  return out;
}

function randomColor(g: Generator): [number, number, number] {
  return [g.int(256), g.int(256), g.int(256)];
}

/** Draws one image of the set (deterministic in options.seed, split and index). */
export function generateSyntheticImage(
  options: SyntheticOptions | ResolvedSyntheticOptions,
  split: 'train' | 'val',
  index: number,
): SyntheticImage {
  const o = resolveSyntheticOptions(options as SyntheticOptions);
  const g = new Generator(deriveSeed(o.seed, SPLIT_ID[split], index, SYNTHETIC_VERSION));
  const W = o.imgsz;
  const H = o.imgsz;
  const n = W * H;
  const canvas = new Float32Array(n * 3);

  // background: gradient between two colours + value-noise texture + optional stripes
  const c1 = randomColor(g);
  const c2 = randomColor(g);
  const ga = g.uniform(0, 2 * Math.PI);
  const gx = Math.cos(ga);
  const gy = Math.sin(ga);
  const noiseA = valueNoise(g, W, H, 3 + g.int(6));
  const texAmp = o.texture * g.uniform(0.3, 1);
  const tint = [g.uniform(0.6, 1), g.uniform(0.6, 1), g.uniform(0.6, 1)];
  const stripes = g.random() < 0.3;
  const stripePeriod = g.uniform(6, 20);
  const stripeAngle = g.uniform(0, Math.PI);
  const stripeAmp = stripes ? g.uniform(6, 18) : 0;
  const sx = Math.cos(stripeAngle);
  const sy = Math.sin(stripeAngle);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const t = Math.min(1, Math.max(0, 0.5 + ((x / W - 0.5) * gx + (y / H - 0.5) * gy)));
      const tex = noiseA[p] * texAmp;
      const st = stripes ? stripeAmp * (Math.sin(((x * sx + y * sy) * 2 * Math.PI) / stripePeriod) > 0 ? 1 : -1) : 0;
      for (let c = 0; c < 3; c++) canvas[p * 3 + c] = c1[c] + (c2[c] - c1[c]) * t + (tex + st) * tint[c];
    }
  }

  // shade = [gain x, gain y, centre x, centre y]: a linear brightness ramp across the shape
  const blend = (r: ReturnType<typeof rasterise>, color: number[], shade: [number, number, number, number] | null) => {
    const w = r.x1 - r.x0;
    for (let y = r.y0; y < r.y1; y++) {
      for (let x = r.x0; x < r.x1; x++) {
        const a = r.cov[(y - r.y0) * w + (x - r.x0)];
        if (a === 0) continue;
        const s = shade ? shade[0] * (x + 0.5 - shade[2]) + shade[1] * (y + 0.5 - shade[3]) : 0;
        const p = (y * W + x) * 3;
        for (let c = 0; c < 3; c++) canvas[p + c] = canvas[p + c] * (1 - a) + (color[c] + s) * a;
      }
    }
  };

  // clutter (no class), under the shapes
  const nd = o.distractors[0] + g.int(o.distractors[1] - o.distractors[0] + 1);
  for (let k = 0; k < nd; k++) {
    const kind = g.int(3);
    let geom: Geometry;
    if (kind === 0) {
      const len = g.uniform(0.3, 0.9) * W;
      const a = g.uniform(0, Math.PI);
      const cx = g.uniform(0, W);
      const cy = g.uniform(0, H);
      const dx = (Math.cos(a) * len) / 2;
      const dy = (Math.sin(a) * len) / 2;
      geom = { kind: 'segment', x0: cx - dx, y0: cy - dy, x1: cx + dx, y1: cy + dy, width: g.uniform(1, 2.5) };
    } else if (kind === 1) {
      geom = { kind: 'ring', cx: g.uniform(0, W), cy: g.uniform(0, H), r: g.uniform(0.05, 0.15) * W, thickness: g.uniform(1, 2.5) };
    } else {
      const r = g.uniform(1.5, 3.5);
      geom = { kind: 'ellipse', cx: g.uniform(0, W), cy: g.uniform(0, H), rx: r, ry: r, angle: 0 };
    }
    blend(rasterise(geom, W, H), randomColor(g), null);
  }

  // shapes
  const owner = new Int16Array(n).fill(-1);
  const shapes: DrawnShape[] = [];
  const fullPixels: number[] = [];
  const visible: number[] = [];
  const no = o.objects[0] + g.int(o.objects[1] - o.objects[0] + 1);
  for (let k = 0; k < no; k++) {
    const cls = g.int(o.classes);
    const name = SHAPE_NAMES[cls] as ShapeName;
    for (let attempt = 0; attempt < 30; attempt++) {
      const diameter = g.uniform(o.size[0], o.size[1]) * W;
      const radius = diameter / 2;
      const cx = g.uniform(radius * 0.6, W - radius * 0.6);
      const cy = g.uniform(radius * 0.6, H - radius * 0.6);
      const angle = g.uniform(0, 2 * Math.PI);
      const aspect = name === 'circle' ? g.uniform(0.85, 1) : name === 'square' ? g.uniform(0.7, 1) : 1;
      const jitter = [g.uniform(-1, 1), g.uniform(-1, 1), g.uniform(-1, 1)];
      const geom = shapeGeometry(name, cx, cy, radius, angle, aspect, jitter);
      const r = rasterise(geom, W, H);
      const w = r.x1 - r.x0;
      // occlusion check: pixels taken from earlier shapes, and own visible box
      const taken = new Map<number, number>();
      let own = 0;
      let bx0 = W;
      let by0 = H;
      let bx1 = -1;
      let by1 = -1;
      let meanR = 0;
      let meanG = 0;
      let meanB = 0;
      for (let y = r.y0; y < r.y1; y++) {
        for (let x = r.x0; x < r.x1; x++) {
          if (r.cov[(y - r.y0) * w + (x - r.x0)] < 0.5) continue;
          own++;
          if (x < bx0) bx0 = x;
          if (x > bx1) bx1 = x;
          if (y < by0) by0 = y;
          if (y > by1) by1 = y;
          const p = y * W + x;
          meanR += canvas[p * 3];
          meanG += canvas[p * 3 + 1];
          meanB += canvas[p * 3 + 2];
          const ow = owner[p];
          if (ow >= 0) taken.set(ow, (taken.get(ow) ?? 0) + 1);
        }
      }
      if (own === 0 || own < (1 - o.maxOcclusion) * r.fullMaskPixels) continue;
      if (bx1 + 1 - bx0 < o.minBox || by1 + 1 - by0 < o.minBox) continue;
      let ok = true;
      for (const [j, t] of taken) {
        if (visible[j] - t < (1 - o.maxOcclusion) * fullPixels[j]) ok = false;
      }
      if (ok) {
        // earlier shapes must keep a visible box of at least minBox: recompute their boxes
        for (const j of taken.keys()) {
          let x0 = W;
          let y0 = H;
          let x1 = -1;
          let y1 = -1;
          const [ax0, ay0, ax1, ay1] = shapes[j].box;
          for (let y = ay0; y < ay1; y++) {
            for (let x = ax0; x < ax1; x++) {
              if (owner[y * W + x] !== j) continue;
              if (x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1 && r.cov[(y - r.y0) * w + (x - r.x0)] >= 0.5) continue;
              if (x < x0) x0 = x;
              if (x > x1) x1 = x;
              if (y < y0) y0 = y;
              if (y > y1) y1 = y;
            }
          }
          if (x1 + 1 - x0 < o.minBox || y1 + 1 - y0 < o.minBox) ok = false;
        }
      }
      if (!ok) continue;
      // colour with enough contrast against what lies under the shape
      const under = [meanR / own, meanG / own, meanB / own];
      let color = randomColor(g);
      let best = -1;
      for (let tries = 0; tries < 40; tries++) {
        const cand = tries === 0 ? color : randomColor(g);
        const d = Math.hypot(cand[0] - under[0], cand[1] - under[1], cand[2] - under[2]);
        if (d > best) {
          best = d;
          color = cand;
        }
        if (d >= o.minContrast) break;
      }
      const shadeAmp = g.uniform(0, 25) / Math.max(1, radius);
      const shadeAngle = g.uniform(0, 2 * Math.PI);
      blend(r, color, [shadeAmp * Math.cos(shadeAngle), shadeAmp * Math.sin(shadeAngle), cx, cy]);
      const idx = shapes.length;
      for (let y = r.y0; y < r.y1; y++) {
        for (let x = r.x0; x < r.x1; x++) {
          if (r.cov[(y - r.y0) * w + (x - r.x0)] >= 0.5) owner[y * W + x] = idx;
        }
      }
      for (const [j, t] of taken) visible[j] -= t;
      visible.push(own);
      fullPixels.push(r.fullMaskPixels);
      shapes.push({ cls, geometry: geom, color, box: [bx0, by0, bx1 + 1, by1 + 1], visibleFraction: 1 });
      break;
    }
  }

  // final visible boxes from the owner map
  const boxes = shapes.map(() => [W, H, -1, -1]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const j = owner[y * W + x];
      if (j < 0) continue;
      const b = boxes[j];
      if (x < b[0]) b[0] = x;
      if (y < b[1]) b[1] = y;
      if (x > b[2]) b[2] = x;
      if (y > b[3]) b[3] = y;
    }
  }
  const labels: Label[] = [];
  shapes.forEach((s, j) => {
    const [x0, y0, x1m, y1m] = boxes[j];
    s.box = [x0, y0, x1m + 1, y1m + 1];
    s.visibleFraction = visible[j] / fullPixels[j];
    labels.push({ cls: s.cls, x: (x0 + x1m + 1) / 2 / W, y: (y0 + y1m + 1) / 2 / H, w: (x1m + 1 - x0) / W, h: (y1m + 1 - y0) / H });
  });

  // pixel noise and quantisation
  const image = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) {
    const v = canvas[i] + (o.noise > 0 ? g.normal(0, o.noise) : 0);
    image[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return { image, width: W, height: H, labels, shapes, owner };
}

function defaultCacheRoot(): string {
  const env = process.env.ABLATE_CACHE_DIR;
  return env ? resolve(env, 'synthetic') : resolve(process.cwd(), '.cache', 'ablate', 'synthetic');
}

/** The identity of a synthetic set: options + generator version. */
export function syntheticFingerprint(o: ResolvedSyntheticOptions): string {
  return sha256Hex(canonicalJson({ generator: 'ablate-synthetic-shapes', version: SYNTHETIC_VERSION, options: o }), 16);
}

function labelText(labels: Label[]): string {
  return labels.map((l) => `${l.cls} ${l.x.toFixed(6)} ${l.y.toFixed(6)} ${l.w.toFixed(6)} ${l.h.toFixed(6)}\n`).join('');
}

/**
 * Makes sure the set exists in the cache and returns its folder. Generation goes to a temporary
 * sibling folder which is renamed into place at the end; if another process finished first, its copy
 * is kept and ours discarded.
 */
export async function ensureSyntheticCache(opts: SyntheticOptions = {}): Promise<{ dir: string; generated: boolean }> {
  const o = resolveSyntheticOptions(opts);
  const root = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheRoot();
  const fp = syntheticFingerprint(o);
  const dir = join(root, fp);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, generated: false };
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `.tmp-${fp}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const counts: Record<string, { images: number; boxes: number }> = {};
    for (const split of ['train', 'val'] as const) {
      mkdirSync(join(tmp, 'images', split), { recursive: true });
      mkdirSync(join(tmp, 'labels', split), { recursive: true });
      const count = split === 'train' ? o.train : o.val;
      let boxes = 0;
      const digits = Math.max(5, String(count).length);
      for (let i = 0; i < count; i++) {
        const img = generateSyntheticImage(o, split, i);
        const stem = `${split}_${String(i).padStart(digits, '0')}`;
        await sharp(img.image, { raw: { width: img.width, height: img.height, channels: 3 } })
          .png({ compressionLevel: 6 })
          .toFile(join(tmp, 'images', split, `${stem}.png`));
        writeFileSync(join(tmp, 'labels', split, `${stem}.txt`), labelText(img.labels));
        boxes += img.labels.length;
      }
      counts[split] = { images: count, boxes };
    }
    const names = SHAPE_NAMES.slice(0, o.classes);
    writeFileSync(
      join(tmp, 'data.yaml'),
      `# synthetic shapes v${SYNTHETIC_VERSION} generated by @ablate/data (options in manifest.json)\n${yamlStringify({
        path: '.',
        train: 'images/train',
        val: 'images/val',
        nc: o.classes,
        names: [...names],
      })}`,
    );
    // the manifest is written last inside tmp: a folder with a manifest is complete
    writeFileSync(
      join(tmp, 'manifest.json'),
      `${JSON.stringify({ generator: 'ablate-synthetic-shapes', version: SYNTHETIC_VERSION, fingerprint: fp, options: o, counts }, null, 2)}\n`,
    );
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (existsSync(join(dir, 'manifest.json'))) {
        rmSync(tmp, { recursive: true, force: true });
        return { dir, generated: false };
      }
      if (existsSync(dir)) {
        // a folder without a manifest cannot be a finished set: replace it
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      } else throw e;
    }
    return { dir, generated: true };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The embedded default data set (see the header comment). Generated on first use into the cache,
 * then read from there as an Ultralytics data set.
 */
export async function syntheticDataset(opts: SyntheticOptions = {}): Promise<DetectionDataset> {
  const o = resolveSyntheticOptions(opts);
  const { dir } = await ensureSyntheticCache(opts);
  const ds = await loadUltralyticsDataset(join(dir, 'data.yaml'));
  if (ds.skipped.length > 0) {
    const first = ds.skipped[0];
    throw new Error(
      `syntheticDataset: the cache at ${dir} has ${ds.skipped.length} corrupt item(s) (first: ${first.file}${first.line ? `:${first.line}` : ''}: ${first.reason}); delete that folder to regenerate it`,
    );
  }
  if (ds.train.length !== o.train || ds.val.length !== o.val) {
    throw new Error(
      `syntheticDataset: the cache at ${dir} holds ${ds.train.length} train / ${ds.val.length} val images, expected ${o.train} / ${o.val}; delete that folder to regenerate it`,
    );
  }
  return {
    ...ds,
    description: `synthetic shapes v${SYNTHETIC_VERSION}: ${o.classes} classes (${SHAPE_NAMES.slice(0, o.classes).join(', ')}), ${o.train} train / ${o.val} val, ${o.imgsz} px, seed ${o.seed}`,
    fingerprint: `synthetic-${syntheticFingerprint(o)}`,
  };
}
