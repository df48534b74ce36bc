import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { encodePng } from './png.js';
import { decodeImage } from './ultralytics.js';

describe('encodePng', () => {
  test('round-trips through the PNG decoder exactly', async () => {
    const w = 7;
    const h = 5;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) % 256;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'png-'));
    const file = path.join(dir, 'x.png');
    fs.writeFileSync(file, await encodePng({ data, width: w, height: h }));
    const back = await decodeImage(file);
    fs.rmSync(dir, { recursive: true, force: true });
    expect([back.width, back.height]).toEqual([w, h]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  test('refuses a buffer of the wrong size', async () => {
    await expect(encodePng({ data: new Uint8Array(5), width: 2, height: 2 })).rejects.toThrow(/expected 2x2x3 = 12 bytes/);
  });
});
