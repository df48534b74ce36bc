/**
 * safetensors read and write (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length n; n bytes of UTF-8 JSON mapping each name to
 * `{dtype, shape, data_offsets: [begin, end)}` (offsets from the first byte after the header) plus an
 * optional `__metadata__` (string -> string); then the raw little-endian, C-order data.
 *
 * Read: F32, F64, F16, BF16 (widened to float32), I32, I64 (BigInt64Array), I16, I8, U8, BOOL.
 * Write: F32, I32, I64. The header is padded with spaces so the data block starts 8-byte aligned.
 *
 * API:
 *   readSafetensors(bytes) -> { tensors: Map<name, SafeTensor>, metadata }
 *   writeSafetensors(tensors, metadata?) -> Uint8Array
 *   toTfTensor(safeTensor) / fromTfTensor(tfTensor, dtype?)       conversions (float -> float32, ints -> int32)
 *   loadSafetensorsFile(path) / saveSafetensorsFile(path, ...)     Node file helpers
 *   stateDictToSafetensors(module) / loadModuleSafetensors(module, path, opts)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LoadOptions, LoadResult, Module } from './nn/module.js';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export type SafeData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** F16 and BF16 are widened to Float32Array on read. */
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafeDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parses a safetensors file. Throws with the tensor name on any inconsistency. */
export function readSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new Error(`${source}: too short to be a safetensors file (${bytes.byteLength} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.byteLength)
    throw new Error(`${source}: header length ${n} does not fit the file (${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  const base = 8 + n;
  const dataLen = bytes.byteLength - base;
  const tensors = new Map<string, SafeTensor>();
  const metadata = (header.__metadata__ as Record<string, string>) ?? {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets } = info as { dtype: SafeDType; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES))
      throw new Error(`${source}: tensor "${name}" has unsupported dtype ${dtype}; known: ${Object.keys(BYTES).join(', ')}`);
    const [b, e] = data_offsets;
    const count = shape.reduce((a, d) => a * d, 1);
    if (e - b !== count * BYTES[dtype] || b < 0 || e > dataLen) {
      throw new Error(`${source}: tensor "${name}" (${dtype} [${shape}]) has data_offsets [${b}, ${e}] that do not fit`);
    }
    // Copy into a fresh, aligned buffer (the source may be unaligned; Buffer#slice would not copy).
    const raw = Uint8Array.prototype.slice.call(bytes, base + b, base + e);
    const buf = raw.buffer;
    let data: SafeData;
    switch (dtype) {
      case 'F32':
        data = new Float32Array(buf);
        break;
      case 'F64':
        data = new Float64Array(buf);
        break;
      case 'I32':
        data = new Int32Array(buf);
        break;
      case 'I64':
        data = new BigInt64Array(buf);
        break;
      case 'I16':
        data = new Int16Array(buf);
        break;
      case 'I8':
        data = new Int8Array(buf);
        break;
      case 'U8':
      case 'BOOL':
        data = new Uint8Array(buf);
        break;
      case 'F16': {
        const h = new Uint16Array(buf);
        data = Float32Array.from(h, f16ToF32);
        break;
      }
      case 'BF16': {
        const h = new Uint16Array(buf);
        const out = new Float32Array(h.length);
        const u = new Uint32Array(out.buffer);
        for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
        data = out;
        break;
      }
    }
    tensors.set(name, { dtype, shape: [...shape], data });
  }
  return { tensors, metadata };
}

/** Serialises tensors (F32, I32 or I64 data) with optional string metadata. Keys are written sorted. */
export function writeSafetensors(
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    if (t.dtype !== 'F32' && t.dtype !== 'I32' && t.dtype !== 'I64') {
      throw new Error(`writeSafetensors: "${name}" has dtype ${t.dtype}; writable: F32, I32, I64`);
    }
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== count) throw new Error(`writeSafetensors: "${name}" has ${t.data.length} values for shape [${t.shape}]`);
    const len = count * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.byteLength % 8)) % 8;
  json += ' '.repeat(pad);
  hb = enc.encode(json);
  const out = new Uint8Array(8 + hb.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.byteLength), true);
  out.set(hb, 8);
  let pos = 8 + hb.byteLength;
  for (const [, t] of entries) {
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}

/** A tf tensor from a safetensor: floats -> float32, integers -> int32 (I64 checked to fit). */
export function toTfTensor(t: SafeTensor, name = 'tensor'): tf.Tensor {
  const d = t.data;
  if (d instanceof Float32Array) return tf.tensor(d, t.shape, 'float32');
  if (d instanceof Float64Array) return tf.tensor(Float32Array.from(d), t.shape, 'float32');
  if (d instanceof BigInt64Array) {
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v > 2147483647n || v < -2147483648n) throw new Error(`toTfTensor: "${name}" has I64 value ${v} outside int32`);
      out[i] = Number(v);
    }
    return tf.tensor(out, t.shape, 'int32');
  }
  if (t.dtype === 'BOOL') return tf.tensor(Int32Array.from(d as Uint8Array), t.shape, 'bool');
  return tf.tensor(Int32Array.from(d as Int32Array), t.shape, 'int32');
}

/** A safetensor from a tf tensor (reads its data synchronously). */
export function fromTfTensor(t: tf.Tensor, dtype?: 'F32' | 'I32' | 'I64'): SafeTensor {
  const want = dtype ?? (t.dtype === 'float32' ? 'F32' : 'I32');
  const v = t.dataSync();
  if (want === 'F32') return { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(v as Float32Array) };
  if (want === 'I32') return { dtype: 'I32', shape: [...t.shape], data: Int32Array.from(v as Int32Array) };
  return { dtype: 'I64', shape: [...t.shape], data: BigInt64Array.from(Array.from(v as Int32Array), (x) => BigInt(Math.round(x))) };
}

/** fromTfTensor with an asynchronous read (`await data()`): works on webgpu, which cannot read synchronously. */
export async function fromTfTensorAsync(t: tf.Tensor, dtype?: 'F32' | 'I32' | 'I64'): Promise<SafeTensor> {
  const want = dtype ?? (t.dtype === 'float32' ? 'F32' : 'I32');
  const v = await t.data();
  if (want === 'F32') return { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(v as Float32Array) };
  if (want === 'I32') return { dtype: 'I32', shape: [...t.shape], data: Int32Array.from(v as Int32Array) };
  return { dtype: 'I64', shape: [...t.shape], data: BigInt64Array.from(Array.from(v as Int32Array), (x) => BigInt(Math.round(x))) };
}

export function loadSafetensorsFile(file: string): SafetensorsFile {
  return readSafetensors(fs.readFileSync(file), file);
}

function writeAtomically(file: string, bytes: Uint8Array): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

/** Writes tf tensors (float32 -> F32, int32 -> I32) atomically (temp file + rename). */
export function saveSafetensorsFile(
  file: string,
  tensors: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): void {
  const st = new Map<string, SafeTensor>();
  for (const [k, t] of tensors instanceof Map ? tensors : Object.entries(tensors)) st.set(k, fromTfTensor(t));
  writeAtomically(file, writeSafetensors(st, metadata));
}

/** saveSafetensorsFile with asynchronous reads (every backend, webgpu included). */
export async function saveSafetensorsFileAsync(
  file: string,
  tensors: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const st = new Map<string, SafeTensor>();
  for (const [k, t] of tensors instanceof Map ? tensors : Object.entries(tensors)) st.set(k, await fromTfTensorAsync(t));
  writeAtomically(file, writeSafetensors(st, metadata));
}

/** The module's state dict (PyTorch names and layouts) as safetensors bytes. */
export function stateDictToSafetensors(module: Module, metadata: Record<string, string> = {}): Uint8Array {
  const sd = module.stateDict();
  try {
    const st = new Map<string, SafeTensor>();
    for (const [k, t] of sd) st.set(k, fromTfTensor(t));
    return writeSafetensors(st, metadata);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}

/**
 * Loads a safetensors state dict into a module. `prefix` selects and strips a key prefix
 * (e.g. `param.` in the golden files). Non-strict loads report what was skipped.
 */
export function loadModuleSafetensors(
  module: Module,
  source: string | Uint8Array | SafetensorsFile,
  opts: LoadOptions & { prefix?: string } = {},
): LoadResult {
  const file = typeof source === 'string' ? loadSafetensorsFile(source) : source instanceof Uint8Array ? readSafetensors(source) : source;
  const prefix = opts.prefix ?? '';
  const sd = new Map<string, tf.Tensor>();
  try {
    for (const [k, t] of file.tensors) if (k.startsWith(prefix)) sd.set(k.slice(prefix.length), toTfTensor(t, k));
    return module.loadStateDict(sd, opts);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}
