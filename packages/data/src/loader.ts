/**
 * DataLoader: batches of letterboxed (validation) or augmented (training) images from a SampleSource.
 *
 * Determinism: the epoch's order is a shuffle seeded by (seed, epoch), and every sample's augmentation
 * draws from its own Generator seeded by (seed, epoch, position in the epoch), so batches depend only on
 * (seed, epoch, mosaic on/off), not on timing or prefetch depth.
 *
 * Prefetch: `epoch()` keeps up to `prefetch` batches (default 2) in preparation beyond the one being
 * consumed. Preparation is async (image decoding by sharp runs on libuv threads) but the augmentation
 * itself is synchronous JS, so it overlaps with training only where the trainer awaits.
 */
import { Generator } from '@ablate/core';
import { type Instances, letterboxInstances, loadResized, mosaic4, randomFlip, randomHsv, randomPerspective } from './augment.js';
import { deriveSeed } from './seed.js';
import { AUGMENT_KEYS, type AugmentConfig, type Batch, type LoaderOptions, type SampleSource } from './types.js';

function checkOptions(opts: LoaderOptions): void {
  const int = (k: 'batch' | 'imgsz', min: number) => {
    const v = opts[k];
    if (!Number.isInteger(v) || v < min) throw new Error(`DataLoader: ${k} must be an integer >= ${min}, got ${v}`);
  };
  int('batch', 1);
  int('imgsz', 16);
  if (!Number.isFinite(opts.seed)) throw new Error(`DataLoader: seed must be a finite number, got ${opts.seed}`);
  if (opts.prefetch !== undefined && !(Number.isInteger(opts.prefetch) && opts.prefetch >= 0)) {
    throw new Error(`DataLoader: prefetch must be an integer >= 0, got ${opts.prefetch}`);
  }
  if (opts.augment) {
    for (const k of Object.keys(opts.augment)) {
      if (!AUGMENT_KEYS.includes(k as keyof AugmentConfig)) {
        throw new Error(`DataLoader: unknown augmentation "${k}"; known: ${AUGMENT_KEYS.join(', ')}`);
      }
    }
    for (const k of AUGMENT_KEYS) {
      const v = opts.augment[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new Error(`DataLoader: augmentation "${k}" must be a number >= 0, got ${JSON.stringify(v)}`);
      }
    }
    for (const k of ['flipud', 'fliplr', 'mosaic', 'hsv_h', 'hsv_s', 'hsv_v', 'translate', 'scale'] as const) {
      if (opts.augment[k] > 1) throw new Error(`DataLoader: augmentation "${k}" must be in [0, 1], got ${opts.augment[k]}`);
    }
  }
}

/** One prepared image: letterboxed/augmented image and its pixel xyxy boxes. */
export interface PreparedSample {
  inst: Instances;
  path: string;
  orig: [number, number];
  ratio: number;
  pad: [number, number];
}

export class DataLoader {
  private readonly source: SampleSource;
  private readonly opts: Required<LoaderOptions>;
  private mosaicOn = true;

  constructor(source: SampleSource, opts: LoaderOptions) {
    checkOptions(opts);
    if (source.length === 0) throw new Error('DataLoader: the sample source is empty');
    this.source = source;
    this.opts = { prefetch: 2, ...opts, augment: opts.augment ? { ...opts.augment } : null };
  }

  /** Batches per epoch (the last partial batch is kept). */
  get length(): number {
    return Math.ceil(this.source.length / this.opts.batch);
  }

  /** close_mosaic turns mosaic off for the last N epochs; takes effect at the next `epoch()` call. */
  setMosaic(on: boolean): void {
    this.mosaicOn = on;
  }

  /** The sample order of epoch e. */
  order(e: number): number[] {
    const idx = Array.from({ length: this.source.length }, (_, i) => i);
    if (this.opts.shuffle) new Generator(deriveSeed(this.opts.seed, e, 0x5eed)).shuffle(idx);
    return idx;
  }

  /** Prepares the sample at position `pos` of epoch `e` (source index order[pos]). */
  async prepare(e: number, pos: number, index: number, mosaic = this.mosaicOn): Promise<PreparedSample> {
    const { imgsz, augment } = this.opts;
    const raw = await this.source.get(index);
    const orig: [number, number] = [raw.height, raw.width];
    const img = { data: raw.image, width: raw.width, height: raw.height };
    if (!augment) {
      // validation: load_image (area when shrinking) + LetterBox(scaleup=False) == one letterbox
      const r = Math.min(imgsz / raw.height, imgsz / raw.width);
      const base = loadResized(img, raw.labels, imgsz, r < 1 ? 'area' : 'linear');
      const lb = letterboxInstances(base, imgsz, false);
      return { inst: lb.inst, path: raw.path, orig, ratio: r, pad: lb.pad };
    }
    const rng = new Generator(deriveSeed(this.opts.seed, e, pos, 1));
    const ratio = Math.min(imgsz / raw.height, imgsz / raw.width);
    const lbPad = padOf(raw.width, raw.height, imgsz);
    let inst: Instances;
    let border: number;
    const useMosaic = mosaic && augment.mosaic > 0 && !(rng.uniform(0, 1) > augment.mosaic);
    if (useMosaic) {
      const others = [rng.int(this.source.length), rng.int(this.source.length), rng.int(this.source.length)];
      const tiles = [loadResized(img, raw.labels, imgsz)];
      for (const j of others) {
        const s = await this.source.get(j);
        tiles.push(loadResized({ data: s.image, width: s.width, height: s.height }, s.labels, imgsz));
      }
      border = Math.floor(-imgsz / 2);
      const yc = Math.trunc(rng.uniform(-border, 2 * imgsz + border));
      const xc = Math.trunc(rng.uniform(-border, 2 * imgsz + border));
      inst = mosaic4(tiles, imgsz, xc, yc);
    } else {
      inst = letterboxInstances(loadResized(img, raw.labels, imgsz), imgsz).inst;
      border = 0;
    }
    inst = randomPerspective(inst, augment, border, rng);
    randomHsv(inst.img, augment, rng);
    randomFlip(inst, 'vertical', augment.flipud, rng);
    randomFlip(inst, 'horizontal', augment.fliplr, rng);
    return { inst, path: raw.path, orig, ratio, pad: lbPad };
  }

  private async makeBatch(order: number[], e: number, b: number, mosaic: boolean): Promise<Batch> {
    const { batch, imgsz } = this.opts;
    const start = b * batch;
    const end = Math.min(order.length, start + batch);
    const n = end - start;
    const images = new Float32Array(n * imgsz * imgsz * 3);
    const batchIdx: number[] = [];
    const cls: number[] = [];
    const bboxes: number[][] = [];
    const paths: string[] = [];
    const shapes: Batch['shapes'] = [];
    for (let k = 0; k < n; k++) {
      const s = await this.prepare(e, start + k, order[start + k], mosaic);
      const { img, boxes } = s.inst;
      if (img.width !== imgsz || img.height !== imgsz) {
        throw new Error(`DataLoader: prepared image is ${img.width}x${img.height}, expected ${imgsz}x${imgsz} (${s.path})`);
      }
      const off = k * imgsz * imgsz * 3;
      const d = img.data;
      for (let i = 0; i < d.length; i++) images[off + i] = d[i] / 255;
      for (let i = 0; i < s.inst.cls.length; i++) {
        const x0 = boxes[i * 4];
        const y0 = boxes[i * 4 + 1];
        const x1 = boxes[i * 4 + 2];
        const y1 = boxes[i * 4 + 3];
        batchIdx.push(k);
        cls.push(s.inst.cls[i]);
        bboxes.push([(x0 + x1) / 2 / imgsz, (y0 + y1) / 2 / imgsz, (x1 - x0) / imgsz, (y1 - y0) / imgsz]);
      }
      paths.push(s.path);
      shapes.push({ orig: s.orig, ratio: s.ratio, pad: s.pad });
    }
    return { images, shape: [n, imgsz, imgsz, 3], targets: { batchIdx, cls, bboxes }, paths, shapes };
  }

  /** The batches of epoch `e`, deterministic given (seed, e); prepares up to `prefetch` batches ahead. */
  async *epoch(e: number): AsyncGenerator<Batch> {
    if (!Number.isInteger(e) || e < 0) throw new Error(`DataLoader.epoch: epoch must be an integer >= 0, got ${e}`);
    const order = this.order(e);
    const mosaic = this.mosaicOn;
    const pending: Promise<Batch>[] = [];
    let next = 0;
    const launch = () => {
      if (next >= this.length) return;
      const p = this.makeBatch(order, e, next++, mosaic);
      p.catch(() => {}); // surfaced when awaited below; avoids unhandled rejections if the consumer stops early
      pending.push(p);
    };
    for (let k = 0; k <= this.opts.prefetch; k++) launch();
    while (pending.length > 0) {
      const b = await (pending.shift() as Promise<Batch>);
      launch();
      yield b;
    }
  }
}

/** The [left, top] pad of a plain letterbox of a width x height image to size x size. */
function padOf(width: number, height: number, size: number): [number, number] {
  const r = Math.min(size / height, size / width);
  const nw = Math.min(size, Math.max(1, Math.round(width * r)));
  const nh = Math.min(size, Math.max(1, Math.round(height * r)));
  return [Math.max(0, Math.round((size - nw) / 2 - 0.1)), Math.max(0, Math.round((size - nh) / 2 - 0.1))];
}
