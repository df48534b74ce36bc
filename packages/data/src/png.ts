/**
 * PNG encoding (sharp) of the small pictures the trainer writes beside its checkpoints: validation
 * images as the model saw them (letterboxed).
 */
import sharp from 'sharp';
import type { Image } from './image.js';

/** Encodes an RGB image (HWC uint8) as PNG bytes. */
export async function encodePng(img: Image): Promise<Uint8Array> {
  const { width: w, height: h, data } = img;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || data.length !== w * h * 3) {
    throw new Error(`encodePng: expected ${w}x${h}x3 = ${w * h * 3} bytes of RGB, got ${data.length}`);
  }
  const buf = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
