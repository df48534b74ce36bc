import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Geometry } from './shapes.js';
import {
  ensureSyntheticCache,
  generateSyntheticImage,
  resolveSyntheticOptions,
  SYNTHETIC_DEFAULTS,
  syntheticDataset,
  syntheticFingerprint,
} from './synthetic.js';
import { decodeImage } from './ultralytics.js';

const tmpRoot = mkdtempSync(join(tmpdir(), 'ablate-data-synth-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** Inside test written independently of shapes.ts: winding number for polygons, distances for the rest. */
function naiveInside(g: Geometry, x: number, y: number): boolean {
  if (g.kind === 'polygon') {
    const p = g.points;
    const n = p.length / 2;
    let wn = 0;
    for (let i = 0; i < n; i++) {
      const ax = p[2 * i];
      const ay = p[2 * i + 1];
      const bx = p[(2 * i + 2) % p.length];
      const by = p[(2 * i + 3) % p.length];
      const cross = (bx - ax) * (y - ay) - (x - ax) * (by - ay);
      if (ay <= y && by > y && cross > 0) wn++;
      else if (ay > y && by <= y && cross < 0) wn--;
    }
    return wn !== 0;
  }
  if (g.kind === 'ellipse') {
    const dx = x - g.cx;
    const dy = y - g.cy;
    const u = dx * Math.cos(g.angle) + dy * Math.sin(g.angle);
    const v = -dx * Math.sin(g.angle) + dy * Math.cos(g.angle);
    return (u / g.rx) ** 2 + (v / g.ry) ** 2 <= 1;
  }
  throw new Error(`naiveInside: a labelled shape is never a ${g.kind}`);
}

describe('synthetic generator', () => {
  it('is deterministic: same seed -> identical bytes and labels; other seed or index -> different', () => {
    const a = generateSyntheticImage({ seed: 3 }, 'train', 5);
    const b = generateSyntheticImage({ seed: 3 }, 'train', 5);
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(true);
    expect(a.labels).toEqual(b.labels);
    const c = generateSyntheticImage({ seed: 4 }, 'train', 5);
    const d = generateSyntheticImage({ seed: 3 }, 'val', 5);
    expect(Buffer.from(a.image).equals(Buffer.from(c.image))).toBe(false);
    expect(Buffer.from(a.image).equals(Buffer.from(d.image))).toBe(false);
  });

  it('pins the default output (a change here means the drawing changed: bump SYNTHETIC_VERSION)', () => {
    const h = createHash('sha256');
    for (let i = 0; i < 4; i++) {
      const s = generateSyntheticImage({}, 'train', i);
      h.update(s.image);
      h.update(JSON.stringify(s.labels));
    }
    expect(h.digest('hex').slice(0, 16)).toBe(PINNED_DIGEST);
  });

  it("labels are the tight boxes of each shape's visible pixels (independent re-rasterisation)", () => {
    const opts = { objects: [2, 7] as [number, number], imgsz: 96 };
    const o = resolveSyntheticOptions(opts);
    let shapesSeen = 0;
    let worstBox = 0;
    let minVisible = 1;
    let minSide = Infinity;
    let occluded = 0;
    const sub = [0.25, 0.75];
    for (let i = 0; i < 16; i++) {
      const s = generateSyntheticImage(opts, 'train', i);
      const W = s.width;
      const owner = new Int16Array(W * W).fill(-1);
      const full: number[] = [];
      s.shapes.forEach((sh, k) => {
        let count = 0;
        // shapes may reach past the image: count their full area on a wider grid
        for (let y = -W; y < 2 * W; y++) {
          for (let x = -W; x < 2 * W; x++) {
            let n = 0;
            for (const sy of sub) for (const sx of sub) if (naiveInside(sh.geometry, x + sx, y + sy)) n++;
            if (n < 2) continue;
            count++;
            if (x >= 0 && y >= 0 && x < W && y < W) owner[y * W + x] = k;
          }
        }
        full.push(count);
      });
      expect(s.labels.length).toBe(s.shapes.length);
      s.shapes.forEach((sh, k) => {
        let x0 = W;
        let y0 = W;
        let x1 = -1;
        let y1 = -1;
        let vis = 0;
        for (let y = 0; y < W; y++)
          for (let x = 0; x < W; x++)
            if (owner[y * W + x] === k) {
              vis++;
              x0 = Math.min(x0, x);
              y0 = Math.min(y0, y);
              x1 = Math.max(x1, x + 1);
              y1 = Math.max(y1, y + 1);
            }
        const l = s.labels[k];
        expect(l.cls).toBe(sh.cls);
        const got = [(l.x - l.w / 2) * W, (l.y - l.h / 2) * W, (l.x + l.w / 2) * W, (l.y + l.h / 2) * W];
        [x0, y0, x1, y1].forEach((v, j) => {
          worstBox = Math.max(worstBox, Math.abs(v - got[j]));
        });
        minVisible = Math.min(minVisible, vis / full[k]);
        if (vis < full[k]) occluded++;
        minSide = Math.min(minSide, x1 - x0, y1 - y0);
        shapesSeen++;
      });
      expect(Array.from(owner)).toEqual(Array.from(s.owner));
    }
    expect(shapesSeen).toBeGreaterThan(40);
    expect(occluded).toBeGreaterThan(5); // overlaps do happen
    expect(worstBox).toBeLessThan(1e-9);
    expect(minVisible).toBeGreaterThanOrEqual(1 - o.maxOcclusion - 1e-9);
    expect(minSide).toBeGreaterThanOrEqual(o.minBox);
  });

  it('covers every class, with sizes within the options', () => {
    const counts = [0, 0, 0];
    const sides: number[] = [];
    for (let i = 0; i < 40; i++) {
      for (const l of generateSyntheticImage({}, 'val', i).labels) {
        counts[l.cls]++;
        sides.push(Math.max(l.w, l.h));
      }
    }
    for (const c of counts) expect(c).toBeGreaterThan(15);
    expect(Math.min(...sides) * 128).toBeGreaterThanOrEqual(SYNTHETIC_DEFAULTS.minBox);
    expect(Math.max(...sides)).toBeLessThanOrEqual(SYNTHETIC_DEFAULTS.size[1] * 1.2);
  });

  it('validates options', () => {
    expect(() => resolveSyntheticOptions({ clases: 3 } as never)).toThrow(/unknown option "clases"; known: classes, train/);
    expect(() => resolveSyntheticOptions({ classes: 9 })).toThrow(/"classes" must be an integer in \[1, 6\], got 9/);
    expect(() => resolveSyntheticOptions({ size: [0.5, 0.2] })).toThrow(/"size" = \[0.5, 0.2\] must satisfy/);
  });
});

describe('synthetic cache', () => {
  const opts = { train: 6, val: 3, imgsz: 64, seed: 1, cacheDir: join(tmpRoot, 'cache') };

  it('generates once into <cacheDir>/<hash>, atomically, as an Ultralytics data set; later runs read it', async () => {
    const first = await ensureSyntheticCache(opts);
    expect(first.generated).toBe(true);
    expect(first.dir).toBe(join(opts.cacheDir, syntheticFingerprint(resolveSyntheticOptions(opts))));
    expect(readdirSync(opts.cacheDir)).toEqual([syntheticFingerprint(resolveSyntheticOptions(opts))]); // no tmp left
    expect(readdirSync(join(first.dir, 'images', 'train'))).toHaveLength(6);
    expect(readFileSync(join(first.dir, 'data.yaml'), 'utf8')).toMatch(/names:\n {2}- circle\n {2}- square\n {2}- triangle/);
    const mtime = statSync(join(first.dir, 'manifest.json')).mtimeMs;
    const again = await ensureSyntheticCache(opts);
    expect(again.generated).toBe(false);
    expect(statSync(join(first.dir, 'manifest.json')).mtimeMs).toBe(mtime);

    const ds = await syntheticDataset(opts);
    expect(ds.names).toEqual(['circle', 'square', 'triangle']);
    expect([ds.train.length, ds.val.length]).toEqual([6, 3]);
    expect(ds.skipped).toEqual([]);
    expect(ds.description).toBe('synthetic shapes v1: 3 classes (circle, square, triangle), 6 train / 3 val, 64 px, seed 1');
    expect(ds.fingerprint).toMatch(/^synthetic-[0-9a-f]{16}$/);
    // the cache holds exactly what the generator draws (PNG is lossless; labels have 6 decimals)
    for (let i = 0; i < 3; i++) {
      const s = await ds.val.get(i);
      const g = generateSyntheticImage(opts, 'val', i);
      expect(Buffer.from(s.image).equals(Buffer.from(g.image))).toBe(true);
      expect(s.labels.length).toBe(g.labels.length);
      s.labels.forEach((l, k) => {
        expect(l.cls).toBe(g.labels[k].cls);
        for (const key of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(l[key] - g.labels[k][key])).toBeLessThanOrEqual(5e-7 + 1e-12);
      });
    }
    const other = await syntheticDataset({ ...opts, seed: 2 });
    expect(other.fingerprint).not.toBe(ds.fingerprint);
    expect(Buffer.from((await other.val.get(0)).image).equals(Buffer.from((await ds.val.get(0)).image))).toBe(false);
  });

  it('ignores leftovers of an interrupted generation and replaces a folder without manifest', async () => {
    const o = { ...opts, cacheDir: join(tmpRoot, 'cache2') };
    const fp = syntheticFingerprint(resolveSyntheticOptions(o));
    mkdirSync(join(o.cacheDir, `.tmp-${fp}-1-dead`, 'images'), { recursive: true });
    mkdirSync(join(o.cacheDir, fp, 'images', 'train'), { recursive: true });
    writeFileSync(join(o.cacheDir, fp, 'images', 'train', 'half.png'), 'partial');
    const r = await ensureSyntheticCache(o);
    expect(r.generated).toBe(true);
    expect(existsSync(join(r.dir, 'images', 'train', 'half.png'))).toBe(false);
    expect(existsSync(join(r.dir, 'manifest.json'))).toBe(true);
    const img = await decodeImage(join(r.dir, 'images', 'train', 'train_00000.png'));
    expect(Buffer.from(img.data).equals(Buffer.from(generateSyntheticImage(o, 'train', 0).image))).toBe(true);
  });

  it('uses $ABLATE_CACHE_DIR/synthetic by default', async () => {
    const prev = process.env.ABLATE_CACHE_DIR;
    process.env.ABLATE_CACHE_DIR = join(tmpRoot, 'env');
    try {
      const r = await ensureSyntheticCache({ train: 2, val: 1, imgsz: 48 });
      expect(r.dir.startsWith(join(tmpRoot, 'env', 'synthetic'))).toBe(true);
    } finally {
      if (prev === undefined) delete process.env.ABLATE_CACHE_DIR;
      else process.env.ABLATE_CACHE_DIR = prev;
    }
  });
});

const PINNED_DIGEST = '86200c288fc2539d';
