import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DataLoader } from './loader.js';
import { generateSyntheticImage } from './synthetic.js';
import { randomImage } from './test-utils.js';
import { type AugmentConfig, type Batch, DEFAULT_AUGMENT, type RawSample, type SampleSource } from './types.js';

/** In-memory source of synthetic images (no cache on disk needed). */
function memorySource(n: number, imgsz = 64, seed = 0): SampleSource {
  const items: RawSample[] = Array.from({ length: n }, (_, i) => {
    const s = generateSyntheticImage({ imgsz, seed }, 'train', i);
    return { image: s.image, width: s.width, height: s.height, labels: s.labels, path: `mem/${i}.png` };
  });
  return { length: n, get: async (i) => ({ ...items[i], labels: items[i].labels.map((l) => ({ ...l })) }) };
}

async function collect(loader: DataLoader, e: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(e)) out.push(b);
  return out;
}

function digest(batches: Batch[]): string {
  let h = 0;
  for (const b of batches) {
    for (let i = 0; i < b.images.length; i += 7) h = (Math.imul(h, 31) + Math.round(b.images[i] * 255)) | 0;
  }
  return `${h}:${JSON.stringify(batches.map((b) => [b.targets, b.paths]))}`;
}

const NO_AUG: AugmentConfig = { ...DEFAULT_AUGMENT, hsv_h: 0, hsv_s: 0, hsv_v: 0, translate: 0, scale: 0, fliplr: 0, mosaic: 0 };

describe('DataLoader', () => {
  it('is deterministic in (seed, epoch), independent of prefetch depth, and creates no tensors', async () => {
    const before = tf.memory().numTensors;
    const src = memorySource(10);
    const opts = { batch: 4, imgsz: 64, shuffle: true, seed: 7, augment: DEFAULT_AUGMENT };
    const a = await collect(new DataLoader(src, { ...opts, prefetch: 0 }), 0);
    const b = await collect(new DataLoader(src, { ...opts, prefetch: 3 }), 0);
    expect(digest(a)).toBe(digest(b));
    expect(a.map((x) => x.shape)).toEqual([
      [4, 64, 64, 3],
      [4, 64, 64, 3],
      [2, 64, 64, 3],
    ]);
    const c = await collect(new DataLoader(src, opts), 1);
    const d = await collect(new DataLoader(src, { ...opts, seed: 8 }), 0);
    expect(digest(c)).not.toBe(digest(a));
    expect(digest(d)).not.toBe(digest(a));
    // every sample once per epoch
    expect(a.flatMap((x) => x.paths).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `mem/${i}.png`).sort());
    expect(c.flatMap((x) => x.paths)).not.toEqual(a.flatMap((x) => x.paths));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training targets are valid normalised boxes with batch indices', async () => {
    const loader = new DataLoader(memorySource(12), { batch: 6, imgsz: 64, shuffle: true, seed: 1, augment: DEFAULT_AUGMENT });
    expect(loader.length).toBe(2);
    let boxes = 0;
    for await (const b of loader.epoch(0)) {
      const { batchIdx, cls, bboxes } = b.targets;
      expect(cls.length).toBe(batchIdx.length);
      expect(bboxes.length).toBe(batchIdx.length);
      for (let i = 0; i < bboxes.length; i++) {
        const [x, y, w, h] = bboxes[i];
        expect(batchIdx[i]).toBeGreaterThanOrEqual(0);
        expect(batchIdx[i]).toBeLessThan(b.shape[0]);
        expect([0, 1, 2]).toContain(cls[i]);
        expect(w * 64).toBeGreaterThan(2);
        expect(h * 64).toBeGreaterThan(2);
        expect(x - w / 2).toBeGreaterThanOrEqual(-1e-9);
        expect(x + w / 2).toBeLessThanOrEqual(1 + 1e-9);
        expect(y - h / 2).toBeGreaterThanOrEqual(-1e-9);
        expect(y + h / 2).toBeLessThanOrEqual(1 + 1e-9);
        boxes++;
      }
      for (const v of b.images) if (v < 0 || v > 1) throw new Error(`pixel ${v} outside [0, 1]`);
    }
    expect(boxes).toBeGreaterThan(12);
  });

  it('with every gain at zero and mosaic off, training equals validation (identity affine)', async () => {
    const src = memorySource(5);
    const val = await collect(new DataLoader(src, { batch: 5, imgsz: 64, shuffle: false, seed: 0, augment: null }), 0);
    const train = await collect(new DataLoader(src, { batch: 5, imgsz: 64, shuffle: false, seed: 0, augment: NO_AUG }), 3);
    expect(Array.from(train[0].images)).toEqual(Array.from(val[0].images));
    expect(train[0].targets.cls).toEqual(val[0].targets.cls);
    train[0].targets.bboxes.forEach((b, i) => {
      b.forEach((v, k) => {
        expect(v).toBeCloseTo(val[0].targets.bboxes[i][k], 9);
      });
    });
    // and the labels are the source's
    const raw = await src.get(0);
    const n0 = val[0].targets.batchIdx.filter((k) => k === 0).length;
    expect(n0).toBe(raw.labels.length);
    raw.labels.forEach((l, i) => {
      expect(val[0].targets.bboxes[i]).toEqual([l.x, l.y, l.w, l.h].map((v) => expect.closeTo(v, 9)));
    });
  });

  it('setMosaic switches mosaic from the next epoch on', async () => {
    const src = memorySource(8);
    const loader = new DataLoader(src, { batch: 8, imgsz: 64, shuffle: false, seed: 0, augment: { ...NO_AUG, mosaic: 1 } });
    const withMosaic = await collect(loader, 0);
    loader.setMosaic(false);
    const without = await collect(loader, 0);
    const plain = await collect(new DataLoader(src, { batch: 8, imgsz: 64, shuffle: false, seed: 0, augment: NO_AUG }), 0);
    expect(digest(without)).toBe(digest(plain));
    expect(digest(withMosaic)).not.toBe(digest(plain));
  });

  it('validation letterboxes any size and its shapes map boxes back to original pixels', async () => {
    const sizes = [
      [100, 60],
      [40, 90],
      [64, 64],
      [200, 150],
    ];
    const items: RawSample[] = sizes.map(([w, h], i) => ({
      ...{ image: randomImage(w, h, i).data, width: w, height: h },
      labels: [
        { cls: 0, x: 0.5, y: 0.5, w: 0.5, h: 0.25 },
        { cls: 1, x: 0.2, y: 0.8, w: 0.3, h: 0.3 },
      ],
      path: `r${i}`,
    }));
    const src: SampleSource = { length: items.length, get: async (i) => items[i] };
    const [b] = await collect(new DataLoader(src, { batch: 4, imgsz: 64, shuffle: false, seed: 0, augment: null }), 0);
    let worst = 0;
    b.targets.bboxes.forEach((box, j) => {
      const k = b.targets.batchIdx[j];
      const { orig, ratio, pad } = b.shapes[k];
      const [h, w] = orig;
      expect(orig).toEqual([sizes[k][1], sizes[k][0]]);
      const [cx, cy, bw, bh] = box.map((v) => v * 64);
      const back = [
        (cx - bw / 2 - pad[0]) / ratio,
        (cy - bh / 2 - pad[1]) / ratio,
        (cx + bw / 2 - pad[0]) / ratio,
        (cy + bh / 2 - pad[1]) / ratio,
      ];
      const l = items[k].labels[j % 2];
      const want = [(l.x - l.w / 2) * w, (l.y - l.h / 2) * h, (l.x + l.w / 2) * w, (l.y + l.h / 2) * h];
      for (let q = 0; q < 4; q++) worst = Math.max(worst, Math.abs(back[q] - want[q]));
    });
    // the resized size is rounded to whole pixels: at most half a pixel of the letterboxed image
    expect(worst).toBeLessThanOrEqual(0.5 / (64 / 200) + 1e-9);
    // padding is 114 grey
    expect(b.images[0]).toBeCloseTo(114 / 255, 6);
  });

  it('errors: bad options, empty source, failing source surfaces with its message', async () => {
    const src = memorySource(3);
    expect(() => new DataLoader(src, { batch: 0, imgsz: 64, shuffle: false, seed: 0, augment: null })).toThrow(
      /batch must be an integer >= 1, got 0/,
    );
    expect(
      () => new DataLoader(src, { batch: 2, imgsz: 64, shuffle: false, seed: 0, augment: { ...DEFAULT_AUGMENT, mosaik: 1 } as never }),
    ).toThrow(/unknown augmentation "mosaik"; known: hsv_h/);
    expect(() => new DataLoader(src, { batch: 2, imgsz: 64, shuffle: false, seed: 0, augment: { ...DEFAULT_AUGMENT, fliplr: 2 } })).toThrow(
      /"fliplr" must be in \[0, 1\], got 2/,
    );
    expect(
      () =>
        new DataLoader(
          {
            length: 0,
            get: async () => {
              throw new Error('x');
            },
          },
          { batch: 2, imgsz: 64, shuffle: false, seed: 0, augment: null },
        ),
    ).toThrow(/source is empty/);
    const bad: SampleSource = {
      length: 6,
      get: async (i) => {
        if (i === 4) throw new Error('disk on fire at 4');
        return src.get(i % 3);
      },
    };
    const loader = new DataLoader(bad, { batch: 2, imgsz: 64, shuffle: false, seed: 0, augment: null, prefetch: 2 });
    // stopping early is fine even though a prefetched batch fails
    for await (const _ of loader.epoch(0)) break;
    await expect(collect(loader, 0)).rejects.toThrow(/disk on fire at 4/);
  });
});
