// Pretrained checkpoints into variants: an Ultralytics yolov8n .pt (float16, fixtures/pt, made with torch
// 2.13 and Ultralytics 8.0.230 by scripts/make-pt-fixtures.py) fills every tensor of ablate's yolov8n with a
// module inserted at the neck (exact counts, values equal to the file's), our own safetensors and a
// training checkpoint's EMA entries load the same way, and a checkpoint that gives fewer tensors than the
// base model has gets a warning.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, manualSeed, readPtFile, writeSafetensors } from '@ablate/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, standInPlugin } from './builtins.js';
import { insertModuleMapped } from './insert.js';
import { buildModel } from './model.js';
import { loadPretrained, parsePretrained, readPretrained } from './pretrained.js';

const registry = createRegistry(standInPlugin);
const standIn = { name: 'StandIn', args: (p: { channels: number }) => [p.channels] };
const pt = new URL('../../../fixtures/pt/yolov8n-fp16.pt', import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-pretrained-'));

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function baseNames(nc: number): string[] {
  const base = buildModel('yolov8n.yaml', { nc, registry });
  const sd = base.stateDict();
  const names = [...sd.keys()];
  for (const t of sd.values()) t.dispose();
  base.dispose();
  return names;
}

describe('pretrained checkpoints', () => {
  it("Ultralytics' yolov8n .pt (fp16) into yolov8n + a module at the neck: every base tensor, exact values", () => {
    const ck = readPretrained(pt);
    expect(ck.format).toBe('PyTorch .pt (ultralytics.nn.tasks.DetectionModel, `model` entry, float16)');
    // torch's state dict has 355 entries; the 57 BatchNorm num_batches_tracked counters are dropped
    expect(ck.tensors.size).toBe(355 - 57);
    const names = baseNames(3);
    expect(names.length).toBe(298);
    const { yaml, indexMap } = insertModuleMapped('yolov8n.yaml', standIn, 'neck', { registry });
    manualSeed(0);
    const m = buildModel(yaml, { nc: 3, registry });
    try {
      const r = loadPretrained(m, ck, names, indexMap);
      expect(r.transferred).toBe(298);
      expect(r.total).toBe(298);
      expect(r.expected).toBe(298);
      expect(r.notTransferred).toEqual([]);
      expect(r.warning).toBeNull();
      expect(r.summary).toBe(`transferred 298 of 298 tensors (${r.parameters.toLocaleString('en-US')} parameters)`);
      // the stand-in (new layer 13: weight + bias) is all that kept its initialisation
      expect(r.initialised).toEqual(['model.13.conv.weight', 'model.13.conv.bias']);
      // values: the head (base layer 22 -> 23) holds the file's numbers exactly (fp16 widened)
      const raw = readPtFile(pt).tensors.get('model.22.cv2.0.2.weight');
      const sd = m.stateDict();
      const got = sd.get('model.23.cv2.0.2.weight');
      expect(got?.shape).toEqual(raw?.shape);
      expect(Array.from(got?.dataSync() ?? [])).toEqual(Array.from(raw?.data as Float32Array));
      for (const t of sd.values()) t.dispose();
    } finally {
      m.dispose();
    }
  });

  it('our safetensors and a training checkpoint (its EMA entries) load the same way', () => {
    manualSeed(1);
    const base = buildModel('yolov8n.yaml', { nc: 3, registry });
    const file = path.join(tmp, 'best.safetensors');
    base.saveWeights(file);
    const sd = base.stateDict();
    const last = new Map<string, import('@ablate/core').SafeTensor>();
    for (const [k, t] of sd) {
      last.set(`ema.${k}`, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
      last.set(`model.${k}`, { dtype: 'F32', shape: t.shape, data: new Float32Array(t.size) });
      t.dispose();
    }
    const lastFile = path.join(tmp, 'last.safetensors');
    fs.writeFileSync(lastFile, writeSafetensors(last, { format: 'ablate-train-checkpoint-v1', 'ablate.train': '{}' }));
    const names = baseNames(3);
    for (const f of [file, lastFile]) {
      const ck = readPretrained(f);
      expect(ck.format).toBe(f === file ? 'safetensors' : 'ablate last.safetensors (EMA weights)');
      const m = buildModel('yolov8n.yaml', { nc: 3, registry });
      try {
        const r = loadPretrained(m, ck, names);
        expect([r.transferred, r.total, r.expected, r.warning]).toEqual([298, 298, 298, null]);
        const a = base.stateDict().get('model.22.cv3.2.2.bias');
        const b = m.stateDict().get('model.22.cv3.2.2.bias');
        expect(Array.from(b?.dataSync() ?? [])).toEqual(Array.from(a?.dataSync() ?? []));
        a?.dispose();
        b?.dispose();
      } finally {
        m.dispose();
      }
    }
    base.dispose();
  });

  it('fewer tensors than expected: a warning (a head with another nc), never silent', () => {
    manualSeed(2);
    const base80 = buildModel('yolov8n.yaml', { nc: 80, registry });
    const bytes = base80.saveWeights();
    base80.dispose();
    const ck = parsePretrained(bytes, 'coco80.safetensors');
    const m = buildModel('yolov8n.yaml', { nc: 3, registry });
    try {
      const r = loadPretrained(m, ck, baseNames(3));
      expect(r.transferred).toBe(298 - 36);
      expect(r.notTransferred).toHaveLength(36);
      expect(r.warning).toBe(
        'fewer tensors than expected: 262 transferred, the base model has 298; 36 checkpoint tensor(s) not copied; those layers start from their initialisation',
      );
    } finally {
      m.dispose();
    }
  });

  it('files that are not checkpoints: clear errors naming them', () => {
    expect(() => readPretrained(path.join(tmp, 'missing.safetensors'))).toThrow(
      /cannot read the checkpoint .*missing\.safetensors: ENOENT/,
    );
    expect(() => parsePretrained(new Uint8Array(3), 'x.safetensors')).toThrow(/x\.safetensors is not a readable safetensors checkpoint/);
    const other = writeSafetensors(new Map([['encoder.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) }]]));
    expect(() => parsePretrained(other, 'bert.safetensors')).toThrow(/bert\.safetensors holds no YOLOv8 layer tensors .*encoder\.weight/);
    expect(() => readPretrained(new URL('../../../fixtures/pt/tiny-truncated.pt', import.meta.url).pathname)).toThrow(
      /tiny-truncated\.pt: the zip container is truncated or corrupt/,
    );
  });
});
