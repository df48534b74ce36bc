import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader } from './loader.js';
import { randomImage } from './test-utils.js';
import { DEFAULT_AUGMENT, type SkippedItem } from './types.js';
import { labelPathFor, loadUltralyticsDataset, parseLabelFile } from './ultralytics.js';

const root = mkdtempSync(join(tmpdir(), 'ablate-data-ultra-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function png(file: string, w: number, h: number, seed: number): Promise<Uint8Array> {
  const img = randomImage(w, h, seed);
  await sharp(img.data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(file);
  return img.data;
}

/** ds/ with images/{train,val} and labels/{train,val}: one corrupt label line, one unreadable image. */
async function writeDataset(): Promise<{ yaml: string; aPixels: Uint8Array }> {
  const ds = join(root, 'ds');
  for (const d of ['images/train/sub', 'images/val', 'labels/train/sub', 'labels/val']) mkdirSync(join(ds, d), { recursive: true });
  const aPixels = await png(join(ds, 'images/train/a.png'), 40, 30, 1);
  const b = randomImage(50, 50, 2);
  await sharp(b.data, { raw: { width: 50, height: 50, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(join(ds, 'images/train/b.jpg'));
  writeFileSync(join(ds, 'images/train/c.png'), 'this is not a png');
  await png(join(ds, 'images/train/d.png'), 32, 32, 4); // no label file: background
  await png(join(ds, 'images/train/sub/e.png'), 20, 40, 5);
  await png(join(ds, 'images/val/v0.png'), 48, 48, 6);
  await png(join(ds, 'images/val/v1.png'), 48, 24, 7);
  writeFileSync(join(ds, 'labels/train/a.txt'), '0 0.5 0.5 0.25 0.5\n1 0.2 0.3 0.1 0.1\n7 0.5 0.5 0.1 0.1\n');
  writeFileSync(join(ds, 'labels/train/b.txt'), '1 0.4 0.6 0.2 0.2\n\n0 0.1 0.1 0.5 0.9 0.9 0.5\n');
  writeFileSync(join(ds, 'labels/train/c.txt'), '0 0.5 0.5 0.2 0.2\n');
  writeFileSync(join(ds, 'labels/train/sub/e.txt'), '1 0.5 0.5 0.5 0.5\n');
  writeFileSync(join(ds, 'labels/val/v0.txt'), '0 0.5 0.5 0.5 0.5\n');
  writeFileSync(join(ds, 'labels/val/v1.txt'), '1 0.25 0.5 0.5 1\n');
  writeFileSync(join(ds, 'val.txt'), './images/val/v0.png\nimages/val/v1.png\n');
  const yaml = join(root, 'data.yaml');
  writeFileSync(yaml, 'path: ds\ntrain: images/train\nval: val.txt\nnames:\n  0: cat\n  1: dog\n');
  return { yaml, aPixels };
}

let fixture: { yaml: string; aPixels: Uint8Array };
beforeAll(async () => {
  fixture = await writeDataset();
});

describe('loadUltralyticsDataset', () => {
  it('loads png/jpg, lists, names maps; reports the unreadable image and the corrupt line, and goes on', async () => {
    const seen: SkippedItem[] = [];
    const ds = await loadUltralyticsDataset(fixture.yaml, { onSkip: (s) => seen.push(s) });
    expect(ds.names).toEqual(['cat', 'dog']);
    expect(ds.nc).toBe(2);
    expect(ds.train.length).toBe(4); // a, b, d, sub/e (c unreadable)
    expect(ds.val.length).toBe(2);
    expect(ds.skipped).toEqual([
      { file: join(root, 'ds/labels/train/a.txt'), line: 3, reason: 'class id 7 is not an integer in 0..1 (nc = 2)' },
      { file: join(root, 'ds/images/train/c.png'), reason: expect.stringMatching(/^unreadable image: /) },
    ]);
    expect(seen).toHaveLength(2);
    expect(ds.description).toMatch(/2 classes, 4 train \/ 2 val images, 2 item\(s\) skipped/);
    const a = await ds.train.get(0);
    expect(a.path).toBe(join(root, 'ds/images/train/a.png'));
    expect([a.width, a.height]).toEqual([40, 30]);
    expect(Buffer.from(a.image).equals(Buffer.from(fixture.aPixels))).toBe(true);
    expect(a.labels).toEqual([
      { cls: 0, x: 0.5, y: 0.5, w: 0.25, h: 0.5 },
      { cls: 1, x: 0.2, y: 0.3, w: 0.1, h: 0.1 },
    ]);
    const b = await ds.train.get(1);
    expect(b.path.endsWith('b.jpg')).toBe(true);
    expect(b.image.length).toBe(50 * 50 * 3);
    // a polygon line becomes its bounding box
    expect(b.labels[1]).toEqual({
      cls: 0,
      x: expect.closeTo(0.5, 12),
      y: expect.closeTo(0.5, 12),
      w: expect.closeTo(0.8, 12),
      h: expect.closeTo(0.8, 12),
    });
    expect((await ds.train.get(2)).labels).toEqual([]); // background image
    expect((await ds.train.get(3)).path).toBe(join(root, 'ds/images/train/sub/e.png'));
    expect((await ds.val.get(1)).labels).toEqual([{ cls: 1, x: 0.25, y: 0.5, w: 0.5, h: 1 }]);
    await expect(ds.train.get(4)).rejects.toThrow(/index 4 is out of range 0..3/);
    // re-decoding from disk (no memory budget) gives the same pixels
    const lean = await loadUltralyticsDataset(fixture.yaml, { cacheBytes: 0 });
    expect(Buffer.from((await lean.train.get(0)).image).equals(Buffer.from(fixture.aPixels))).toBe(true);
    expect(lean.fingerprint).toBe(ds.fingerprint);
  });

  it('is ready to train: the loader makes augmented and letterboxed batches from it', async () => {
    const ds = await loadUltralyticsDataset(fixture.yaml);
    const train = new DataLoader(ds.train, { batch: 3, imgsz: 32, shuffle: true, seed: 0, augment: DEFAULT_AUGMENT });
    let images = 0;
    for await (const b of train.epoch(0)) {
      images += b.shape[0];
      for (const box of b.targets.bboxes) for (const v of box) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(images).toBe(4);
    const val = new DataLoader(ds.val, { batch: 8, imgsz: 32, shuffle: false, seed: 0, augment: null });
    const batches = [];
    for await (const b of val.epoch(0)) batches.push(b);
    expect(batches).toHaveLength(1);
    expect(batches[0].targets.cls).toEqual([0, 1]);
    // v1 is 48 x 24 -> 32 x 16, padded 8 on top: its box [0, 0, 24, 24] -> [0, 8, 16, 24]
    expect(batches[0].targets.bboxes[1]).toEqual([0.25, 0.5, 0.5, 0.5].map((v) => expect.closeTo(v, 9)));
    expect(batches[0].shapes[1]).toEqual({ orig: [24, 48], ratio: 32 / 48, pad: [0, 8] });
  });

  it('fingerprint follows the files', async () => {
    const before = (await loadUltralyticsDataset(fixture.yaml)).fingerprint;
    writeFileSync(join(root, 'ds/labels/val/v0.txt'), '0 0.5 0.5 0.4 0.4\n');
    const after = (await loadUltralyticsDataset(fixture.yaml)).fingerprint;
    expect(after).not.toBe(before);
  });

  it('errors name the path and what was expected', async () => {
    await expect(loadUltralyticsDataset(join(root, 'nope.yaml'))).rejects.toThrow(`data.yaml not found: ${join(root, 'nope.yaml')}`);
    const w = (name: string, text: string) => {
      const p = join(root, name);
      writeFileSync(p, text);
      return p;
    };
    await expect(loadUltralyticsDataset(w('e1.yaml', 'path: ds\ntrain: images/missing\nval: images/val\nnames: [a, b]\n'))).rejects.toThrow(
      `"train" image folder or list not found: ${join(root, 'ds/images/missing')}`,
    );
    await expect(
      loadUltralyticsDataset(w('e2.yaml', 'path: ds\ntrain: images/train\nval: images/val\nnc: 3\nnames: [a, b]\n')),
    ).rejects.toThrow(/"nc" is 3 but "names" lists 2 classes/);
    await expect(loadUltralyticsDataset(w('e3.yaml', 'path: ds\ntrain: [images/train\n'))).rejects.toThrow(/e3.yaml: invalid YAML/);
    await expect(loadUltralyticsDataset(w('e4.yaml', 'path: ds\ntrain: images/train\nval: images/val\n'))).rejects.toThrow(
      /"names" is missing/,
    );
    await expect(loadUltralyticsDataset(w('e5.yaml', 'path: ds\ntrain: images/train\nnames: [a, b]\n'))).rejects.toThrow(
      /"val" is missing/,
    );
    mkdirSync(join(root, 'ds/images/empty'), { recursive: true });
    await expect(loadUltralyticsDataset(w('e6.yaml', 'path: ds\ntrain: images/empty\nval: images/val\nnames: [a, b]\n'))).rejects.toThrow(
      /"train" folder .*images\/empty holds no images/,
    );
  });
});

describe('label files', () => {
  it('drop each kind of bad line with its line number and keep the rest', () => {
    const skipped: SkippedItem[] = [];
    const text = [
      '0 0.5 0.5 0.2 0.2', // 1 ok
      '0 0.5 0.5 0.2', // 2 field count
      '1 0.5 abc 0.2 0.2', // 3 non-numeric
      '2 0.5 0.5 0.2 0.2', // 4 class out of range
      '0.5 0.5 0.5 0.2 0.2', // 5 class not integer
      '1 1.2 0.5 0.2 0.2', // 6 outside [0, 1]
      '1 1.00001 0.5 0.2 0.2', // 7 within epsilon: kept, clamped
      '1 0.5 0.5 0 0.2', // 8 zero size
      '0 0.5 0.5 0.2 0.2', // 9 duplicate of 1
      '1 0.1 0.2 0.3 0.2 0.3 0.4', // 10 polygon (3 points)
      '1 0.1 0.2 0.3 0.2 0.3', // 11 6 fields: neither box nor polygon
    ].join('\n');
    const labels = parseLabelFile(text, 'x.txt', 2, skipped);
    expect(skipped.map((s) => [s.line, s.reason.split(':')[0].split(' (')[0]])).toEqual([
      [2, 'wrong field count'],
      [3, 'non-numeric field "abc"'],
      [4, 'class id 2 is not an integer in 0..1'],
      [5, 'class id 0.5 is not an integer in 0..1'],
      [6, 'coordinate 1.2'],
      [8, 'zero-size box'],
      [9, 'duplicate of line 1'],
      [11, 'wrong field count'],
    ]);
    expect(skipped.every((s) => s.file === 'x.txt')).toBe(true);
    expect(labels).toHaveLength(3);
    expect(labels[1]).toEqual({ cls: 1, x: 1, y: 0.5, w: 0.2, h: 0.2 });
    expect(labels[2]).toEqual({
      cls: 1,
      x: expect.closeTo(0.2, 12),
      y: expect.closeTo(0.3, 12),
      w: expect.closeTo(0.2, 12),
      h: expect.closeTo(0.2, 12),
    });
  });

  it('label paths swap the last /images/ for /labels/', () => {
    expect(labelPathFor('/d/images/x/images/a.b.jpg')).toBe('/d/images/x/labels/a.b.txt');
    expect(labelPathFor('/d/pics/a.png')).toBe('/d/pics/a.txt');
  });
});
