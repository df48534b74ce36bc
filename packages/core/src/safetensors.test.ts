import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from './backend/index.js';
import {
  fromTfTensor,
  loadSafetensorsFile,
  readSafetensors,
  type SafeTensor,
  saveSafetensorsFile,
  toTfTensor,
  writeSafetensors,
} from './safetensors.js';

const golden = (f: string) => new URL(`../../../fixtures/golden/${f}`, import.meta.url).pathname;

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

describe('safetensors', () => {
  test('F32, I32 and I64 round-trip bit-exactly with metadata, 8-byte aligned data', () => {
    const t = new Map<string, SafeTensor>([
      ['b.f32', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3e-38, Number.NaN, 0, -0]) }],
      ['a.i32', { dtype: 'I32', shape: [3], data: Int32Array.from([-2147483648, 0, 2147483647]) }],
      ['c.i64', { dtype: 'I64', shape: [2, 1], data: BigInt64Array.from([-(2n ** 40n), 7n]) }],
      ['d.empty', { dtype: 'F32', shape: [0, 6], data: new Float32Array(0) }],
    ]);
    const bytes = writeSafetensors(t, { case: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const back = readSafetensors(bytes);
    expect(back.metadata).toEqual({ case: 'x' });
    expect([...back.tensors.keys()].sort()).toEqual([...t.keys()].sort());
    for (const [k, v] of t) {
      const r = back.tensors.get(k) as SafeTensor;
      expect(r.dtype).toBe(v.dtype);
      expect(r.shape).toEqual(v.shape);
      expect(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength)).toEqual(
        new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength),
      );
    }
  });

  test('reads F16 and BF16, widened to float32', () => {
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, 2^-24 (subnormal) = 0x0001
    // BF16: 1.0 = 0x3f80, -3.5 = 0xc060
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
    });
    const hb = new TextEncoder().encode(header);
    const out = new Uint8Array(8 + hb.length + 12);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    const dv = new DataView(out.buffer, 8 + hb.length);
    for (const [i, v] of [0x3c00, 0xc000, 0x7bff, 0x0001, 0x3f80, 0xc060].entries()) dv.setUint16(2 * i, v, true);
    const r = readSafetensors(out);
    expect(Array.from(r.tensors.get('h')?.data as Float32Array)).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(r.tensors.get('b')?.data as Float32Array)).toEqual([1, -3.5]);
  });

  test('reads the golden files (F32 and I64) and converts to tf tensors', () => {
    const f = loadSafetensorsFile(golden('attention/msdeformattn_d32_l3_h4_p4_b2_8x8-4x4-2x2.safetensors'));
    const shapes = f.tensors.get('input.input_spatial_shapes') as SafeTensor;
    expect(shapes.dtype).toBe('I64');
    const before = tf.memory().numTensors;
    const t = toTfTensor(shapes);
    expect(t.dtype).toBe('int32');
    expect(Array.from(t.dataSync())).toEqual([8, 8, 4, 4, 2, 2]);
    t.dispose();
    expect(f.metadata.case).toBeDefined();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('file helpers write atomically and read back tf tensors exactly', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    const file = path.join(dir, 'sub', 'w.safetensors');
    const before = tf.memory().numTensors;
    const a = tf.tensor([
      [1.25, -3],
      [4, 5e-7],
    ]);
    const b = tf.tensor([1, 2, 3], [3], 'int32');
    saveSafetensorsFile(file, { a, b }, { epoch: '3' });
    const back = loadSafetensorsFile(file);
    expect(back.metadata.epoch).toBe('3');
    expect(Array.from(back.tensors.get('a')?.data as Float32Array)).toEqual(Array.from(a.dataSync()));
    expect(fromTfTensor(b, 'I64').data).toEqual(BigInt64Array.from([1n, 2n, 3n]));
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(fs.readdirSync(path.join(dir, 'sub'))).toEqual(['w.safetensors']);
  });

  test('bad files give errors naming the problem', () => {
    expect(() => readSafetensors(new Uint8Array(3), 'x.safetensors')).toThrow(/x.safetensors: too short/);
    const bad = writeSafetensors({ t: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) } });
    expect(() => readSafetensors(bad.subarray(0, bad.length - 4), 'y')).toThrow(/"t".*data_offsets/);
    expect(() => writeSafetensors({ t: { dtype: 'F32', shape: [3], data: Float32Array.from([1, 2]) } })).toThrow(
      /2 values for shape \[3\]/,
    );
    const i64 = { dtype: 'I64' as const, shape: [1], data: BigInt64Array.from([2n ** 40n]) };
    expect(() => toTfTensor(i64, 'big')).toThrow(/"big" has I64 value .* outside int32/);
  });
});
