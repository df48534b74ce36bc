/**
 * Helpers shared by this package's tests (not exported from the package).
 */
import { Generator } from '@ablate/core';
import type { Image } from './image.js';

export function randomImage(width: number, height: number, seed: number): Image {
  const g = new Generator(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = g.int(256);
  return { data, width, height };
}

/** An image of `bg` grey with the pixel-aligned rectangle [x0, x1) x [y0, y1) filled with 255. */
export function rectImage(width: number, height: number, rect: [number, number, number, number], bg = 0): Image {
  const data = new Uint8Array(width * height * 3).fill(bg);
  for (let y = rect[1]; y < rect[3]; y++)
    for (let x = rect[0]; x < rect[2]; x++) data.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { data, width, height };
}

/** Tight pixel box [x0, y0, x1, y1) of pixels whose first channel is >= thr, or null. */
export function maskBox(
  img: Image,
  thr = 128,
  skip?: (r: number, g: number, b: number) => boolean,
): [number, number, number, number] | null {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const p = (y * img.width + x) * 3;
      if (skip?.(img.data[p], img.data[p + 1], img.data[p + 2])) continue;
      if (img.data[p] < thr) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}
