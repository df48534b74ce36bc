// The .pt reader against checkpoints written by torch 2.13's torch.save with Ultralytics 8.0.230's model
// classes (fixtures/pt, made by scripts/make-pt-fixtures.py): every state-dict tensor read equals the saved
// one exactly (sha256 of its values as float32, as the script computed them in PyTorch), at fp16, fp32 and
// bf16; the EMA entry is chosen as Ultralytics does; unknown classes and a call to os.system are skipped by
// name, never executed; truncated and malformed files give clear errors.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type PtTensor, readPt, readPtFile } from './pt.js';

const dir = new URL('../../../../fixtures/pt/', import.meta.url).pathname;
const expected = JSON.parse(fs.readFileSync(`${dir}expected.json`, 'utf8')) as {
  torch: string;
  ultralytics: string;
  files: Record<string, { model: Record<string, [string, number[], string]>; ema: Record<string, [string, number[], string]> | null }>;
};

/** sha256 of the values as little-endian float32 (what the fixture script hashed). */
function hashOf(t: PtTensor): string {
  const f = new Float32Array(t.data.length);
  for (let i = 0; i < f.length; i++) f[i] = Number(t.data[i]);
  return createHash('sha256').update(new Uint8Array(f.buffer)).digest('hex');
}

function expectExact(got: Map<string, PtTensor>, want: Record<string, [string, number[], string]>) {
  expect([...got.keys()]).toEqual(Object.keys(want));
  const wrong: string[] = [];
  for (const [name, [dtype, shape, sha]] of Object.entries(want)) {
    const t = got.get(name) as PtTensor;
    if (t.torchDtype !== dtype || JSON.stringify(t.shape) !== JSON.stringify(shape) || hashOf(t) !== sha) wrong.push(name);
  }
  expect(wrong).toEqual([]);
}

describe('readPt: Ultralytics checkpoints', () => {
  it('yolov8n nc=3 in float16 (what yolov8n.pt holds): every tensor exact, Ultralytics names', () => {
    const ck = readPtFile(`${dir}yolov8n-fp16.pt`);
    expect(ck.entry).toBe('model'); // ema is None in a stripped checkpoint
    expect(ck.modelClass).toBe('ultralytics.nn.tasks.DetectionModel');
    expect(ck.meta.version).toBe(expected.ultralytics);
    const want = expected.files['yolov8n-fp16.pt'].model;
    // 57 Conv/BatchNorm pairs x 6 (conv weight; BN weight, bias, running mean, var, num_batches_tracked), Detect's convs, DFL
    expect(Object.keys(want)).toHaveLength(355);
    expectExact(ck.tensors, want);
    expect(ck.tensors.get('model.22.dfl.conv.weight')?.shape).toEqual([1, 16, 1, 1]);
    expect(ck.skipped).toEqual([]);
  });

  it('float32 and bfloat16 storages read exactly', () => {
    expectExact(readPtFile(`${dir}tiny-fp32.pt`).tensors, expected.files['tiny-fp32.pt'].model);
    const bf = readPtFile(`${dir}tiny-bf16.pt`);
    expect(bf.tensors.get('model.0.conv.weight')?.torchDtype).toBe('bfloat16');
    expectExact(bf.tensors, expected.files['tiny-bf16.pt'].model);
  });

  it('a training checkpoint: the EMA entry by default (attempt_load_weights), the model entry on request', () => {
    const f = `${dir}tiny-ema.pt`;
    const ema = readPtFile(f);
    expect(ema.entry).toBe('ema');
    expect(ema.meta).toMatchObject({ epoch: 3, updates: 12, best_fitness: 0.25 });
    expectExact(ema.tensors, expected.files['tiny-ema.pt'].ema as Record<string, [string, number[], string]>);
    const model = readPtFile(f, { entry: 'model' });
    expect(model.entry).toBe('model');
    expectExact(model.tensors, expected.files['tiny-ema.pt'].model);
    expect(hashOf(model.tensors.get('model.0.conv.weight') as PtTensor)).not.toBe(
      hashOf(ema.tensors.get('model.0.conv.weight') as PtTensor),
    );
    expect(() => readPtFile(`${dir}tiny-fp32.pt`, { entry: 'ema' })).toThrow(/no EMA entry \(ema is None\)/);
  });

  it('unknown classes are skipped by name and a pickled os.system call is never executed', () => {
    const marker = '/tmp/ablate-pt-reader-executed-code';
    fs.rmSync(marker, { force: true });
    const ck = readPtFile(`${dir}tiny-unknown-class.pt`);
    expect(ck.skipped).toEqual(['posix.system']);
    expect(ck.classes).toContain('__main__.StrangeArgs');
    expect(fs.existsSync(marker)).toBe(false);
    expectExact(ck.tensors, expected.files['tiny-unknown-class.pt'].model);
  });
});

describe('readPt: bad files get clear errors', () => {
  it('a truncated file', () => {
    expect(() => readPtFile(`${dir}tiny-truncated.pt`)).toThrow(/tiny-truncated\.pt: the zip container is truncated or corrupt/);
  });

  it('not a zip, a missing file, a legacy pickle', () => {
    expect(() => readPt(new TextEncoder().encode('hello world'), 'x.pt')).toThrow(/x\.pt: not a PyTorch \.pt checkpoint/);
    expect(() => readPtFile(`${dir}nope.pt`)).toThrow(/nope\.pt: cannot be read \(ENOENT\)/);
    expect(() => readPt(new Uint8Array([0x80, 2, 0x4e, 0x2e]), 'old.pt')).toThrow(/legacy \(pre-1\.6/);
  });

  it('malformed pickles inside a valid zip: errors, not crashes', async () => {
    const { zipSync } = await import('fflate');
    const zipOf = (pkl: number[], extra: Record<string, Uint8Array> = {}) =>
      zipSync({ 'a/data.pkl': new Uint8Array(pkl), 'a/byteorder': new TextEncoder().encode('little'), ...extra }, { level: 0 });
    const enc = (s: string) => [...new TextEncoder().encode(s)];
    // an unknown opcode
    expect(() => readPt(zipOf([0x80, 2, 0xff]), 'bad.pt')).toThrow(/bad\.pt: pickle: unknown opcode 0xff \(at byte 2/);
    // a pickle that ends without STOP
    expect(() => readPt(zipOf([0x80, 2, 0x7d]), 'cut.pt')).toThrow(/cut\.pt: pickle: truncated: no STOP opcode/);
    // a length beyond the end
    expect(() => readPt(zipOf([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f]), 'len.pt')).toThrow(/truncated: 2147483647 more byte/);
    // a memo key never stored
    expect(() => readPt(zipOf([0x80, 2, 0x68, 9, 0x2e]), 'memo.pt')).toThrow(/memo key 9 was never stored/);
    // a tensor that claims more elements than its storage holds: {'w': _rebuild_tensor_v2(storage(4 floats), 0, (100,), (1,))}
    const pkl = [
      0x80,
      2,
      0x7d, // {}
      0x8c,
      1,
      ...enc('w'),
      0x63,
      ...enc('torch._utils\n_rebuild_tensor_v2\n'),
      0x28, // MARK (args tuple)
      0x28,
      0x8c,
      7,
      ...enc('storage'),
      0x63,
      ...enc('torch\nFloatStorage\n'),
      0x8c,
      1,
      ...enc('0'),
      0x8c,
      3,
      ...enc('cpu'),
      0x4b,
      4,
      0x74,
      0x51, // BINPERSID
      0x4b,
      0,
      0x4b,
      100,
      0x85,
      0x4b,
      1,
      0x85,
      0x89,
      0x63,
      ...enc('collections\nOrderedDict\n'),
      0x29,
      0x52,
      0x74,
      0x52, // args tuple, REDUCE
      0x73,
      0x2e, // SETITEM, STOP
    ];
    expect(() => readPt(zipOf(pkl, { 'a/data/0': new Uint8Array(16) }), 'big.pt')).toThrow(
      /big\.pt: a tensor of size \[100\] .* reaches element 99 of storage 0, which has 4/,
    );
    // the same with its storage missing from the archive
    expect(() => readPt(zipOf(pkl), 'nostorage.pt')).toThrow(/storage 0 is missing from the archive/);
    // with a 100-float storage it reads (the opcode sequence itself is right)
    const ok = readPt(zipOf(pkl, { 'a/data/0': new Uint8Array(400) }), 'ok.pt');
    expect(ok.entry).toBe('(top)');
    expect(ok.tensors.get('w')?.shape).toEqual([100]);
  });
});
