/**
 * PyTorch `.pt` checkpoints read without Python (torch.save's zip format, PyTorch >= 1.6; Ultralytics
 * checkpoints such as yolov8n.pt). Reference: torch/serialization.py (_save / _load,
 * persistent_id / persistent_load) and torch/_utils.py (_rebuild_tensor_v2, _rebuild_parameter) of
 * PyTorch 2.x; Ultralytics 8.0.230 engine/trainer.py `save_model` and nn/tasks.py `attempt_load_weights`
 * for the checkpoint dict (`model` / `ema` entries holding the model object, half precision).
 *
 * The container: a zip (read with fflate) holding `<name>/data.pkl` (the pickled object), one entry
 * `<name>/data/<key>` per storage (raw little-endian bytes) and `<name>/byteorder`. The pickle is
 * evaluated by ./pickle.ts, which never executes anything: storages come from the persistent ids
 * ('storage', <Type>Storage, key, location, numel), tensors from `torch._utils._rebuild_tensor_v2`
 * (storage, offset, size, stride: strided views are copied out), parameters from `_rebuild_parameter`;
 * every other class is kept as its name (a `PyObject`) and reported in `skipped`. The state dict is
 * then read from the object graph the way `nn.Module.state_dict()` walks it: `_parameters`, the
 * persistent `_buffers`, then `_modules`, names joined with `.`.
 *
 * Status: storages float16 / bfloat16 (widened exactly to float32), float32, float64, int64, int32,
 * int16, int8, uint8, bool; the legacy (pre-1.6, non-zip) format and TorchScript archives are refused
 * with an error; big-endian files are refused.
 */
import * as fs from 'node:fs';
import { unzipSync } from 'fflate';
import type { SafeTensor } from '../safetensors.js';
import { describe, PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple, unpickle } from './pickle.js';

export type PtDType = 'float16' | 'bfloat16' | 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGES: Record<string, { dtype: PtDType; bytes: number }> = {
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

/** A tensor of the checkpoint: its torch dtype, and its values as a safetensors-style tensor (floats as float32). */
export interface PtTensor extends SafeTensor {
  torchDtype: PtDType;
}

export interface PtCheckpoint {
  /** State dict (PyTorch names) of the chosen entry. */
  tensors: Map<string, PtTensor>;
  /** Which entry the state dict comes from: `ema`, `model`, `state_dict`, or `(top)` for a bare module / dict. */
  entry: string;
  /** Functions the pickle asked to call that were not called (kept as inert records; sorted, unique). */
  skipped: string[];
  /** Classes of the objects in the pickle (made inert: only their stored state is read; sorted, unique). */
  classes: string[];
  /** Class of the model object (e.g. ultralytics.nn.tasks.DetectionModel), when the entry is one. */
  modelClass: string | null;
  /** Scalar metadata of an Ultralytics checkpoint dict: version, epoch, date, best_fitness, updates. */
  meta: Record<string, string | number | null>;
  /** The top-level keys of the checkpoint dict (empty when it is not a dict). */
  keys: string[];
}

export interface PtReadOptions {
  /** `auto` (default): `ema` when present and not None, else `model` (Ultralytics' attempt_load_weights). */
  entry?: 'auto' | 'model' | 'ema';
}

/** A storage reference from a persistent id; its bytes are read from the zip when a tensor uses it. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: PtDType,
    readonly elementBytes: number,
    readonly bytes: Uint8Array,
  ) {}
  get numel(): number {
    return Math.floor(this.bytes.length / this.elementBytes);
  }
}

/** A tensor as rebuilt by `_rebuild_tensor_v2`: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export class PtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PtError';
  }
}

/** Reads a `.pt` file; errors name the file and what is wrong (never a crash, never code execution). */
export function readPtFile(file: string, opts: PtReadOptions = {}): PtCheckpoint {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new PtError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return readPt(bytes, file, opts);
}

/** `readPtFile` on bytes (`source` names them in messages). */
export function readPt(bytes: Uint8Array, source = '.pt', opts: PtReadOptions = {}): PtCheckpoint {
  if (!(bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    const legacy = bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5;
    throw new PtError(
      legacy
        ? `${source}: a legacy (pre-1.6, non-zip) torch.save file; re-save it with a recent PyTorch (torch.save(torch.load(f), f))`
        : `${source}: not a PyTorch .pt checkpoint (no zip header)`,
    );
  }
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new PtError(`${source}: the zip container is truncated or corrupt (${(e as Error).message})`);
  }
  const pkl = Object.keys(entries).find((k) => /^[^/]+\/data\.pkl$/.test(k) || k === 'data.pkl');
  if (!pkl) {
    const torchscript = Object.keys(entries).some((k) => k.endsWith('/constants.pkl'));
    throw new PtError(
      `${source}: no data.pkl in the archive${torchscript ? ' (a TorchScript archive: export the weights with torch.save(model.state_dict()) instead)' : ''}`,
    );
  }
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = entries[`${prefix}byteorder`];
  if (order && new TextDecoder().decode(order).trim() !== 'little') {
    throw new PtError(`${source}: big-endian storages are not supported`);
  }

  const skipped = new Set<string>();
  const classes = new Set<string>();
  const storages = new Map<string, StorageRef>();
  let root: unknown;
  try {
    root = unpickle(entries[pkl], {
      persistentLoad(pid) {
        if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw new PtError(`unknown persistent id ${describe(pid)}`);
        const [, type, key] = pid.items;
        if (!(type instanceof PyGlobal) || typeof key !== 'string') throw new PtError(`malformed storage id ${describe(pid)}`);
        const kind = STORAGES[type.name];
        if (!kind) throw new PtError(`storage type ${type.qualified} is not supported (known: ${Object.keys(STORAGES).join(', ')})`);
        const cached = storages.get(key);
        if (cached) return cached;
        const data = entries[`${prefix}data/${key}`];
        if (!data) throw new PtError(`storage ${key} is missing from the archive (data/${key})`);
        const ref = new StorageRef(key, kind.dtype, kind.bytes, data);
        storages.set(key, ref);
        return ref;
      },
      reduce(fn, args) {
        switch (fn.qualified) {
          case 'torch._utils._rebuild_tensor_v2':
          case 'torch._utils._rebuild_tensor':
            return rebuildTensor(args);
          case 'torch._utils._rebuild_parameter':
          case 'torch._utils._rebuild_parameter_with_state':
            if (!(args[0] instanceof TensorRef)) throw new PtError(`${fn.qualified} of ${describe(args[0])}`);
            return args[0];
          case 'collections.OrderedDict':
            return new PyDict();
          case 'builtins.set':
          case '__builtin__.set':
          case 'builtins.frozenset':
            return new PySet(Array.isArray(args[0]) ? [...args[0]] : []);
          case 'copyreg._reconstructor':
            // object.__new__(cls) for classes pickled by protocol < 2
            if (args[0] instanceof PyGlobal) return new PyObject(args[0], [], 'newobj');
            return undefined;
          default:
            // never called: kept as an inert record of its name and arguments
            skipped.add(fn.qualified);
            return undefined;
        }
      },
      onObject(cls) {
        classes.add(cls.qualified);
      },
    });
  } catch (e) {
    if (e instanceof PickleError || e instanceof PtError) throw new PtError(`${source}: ${e.message}`);
    throw new PtError(`${source}: the pickle could not be read: ${(e as Error).message}`);
  }

  // Which object holds the weights.
  let entry = '(top)';
  let obj: unknown = root;
  const keys: string[] = [];
  const meta: PtCheckpoint['meta'] = {};
  if (root instanceof Map) {
    for (const k of root.keys()) if (typeof k === 'string') keys.push(k);
    for (const k of ['version', 'epoch', 'date', 'best_fitness', 'updates']) {
      const v = root.get(k);
      if (v === null || typeof v === 'string' || typeof v === 'number') meta[k] = v;
    }
    const want = opts.entry ?? 'auto';
    const ema = root.get('ema');
    const model = root.get('model');
    if (want === 'ema' || (want === 'auto' && ema !== undefined && ema !== null)) {
      if (ema === undefined || ema === null)
        throw new PtError(`${source}: the checkpoint has no EMA entry (ema is ${ema === null ? 'None' : 'absent'})`);
      entry = 'ema';
      obj = ema;
    } else if (model !== undefined && model !== null) {
      entry = 'model';
      obj = model;
    } else if (want === 'model') {
      throw new PtError(`${source}: the checkpoint has no model entry; keys: ${keys.join(', ')}`);
    } else if (root.get('state_dict') instanceof Map) {
      entry = 'state_dict';
      obj = root.get('state_dict');
    }
  }

  const tensors = new Map<string, PtTensor>();
  const collect = (name: string, t: unknown) => {
    if (t instanceof TensorRef) tensors.set(name, materialize(t, name, source));
  };
  let modelClass: string | null = null;
  if (obj instanceof PyObject) {
    modelClass = obj.cls.qualified;
    walkModule(obj, '', collect, source);
  } else if (obj instanceof Map) {
    // a state dict: name -> tensor
    for (const [k, v] of obj) if (typeof k === 'string') collect(k, v);
  } else {
    throw new PtError(
      `${source}: the ${entry === '(top)' ? 'file' : `\`${entry}\` entry`} holds ${describe(obj)}, not a model or a state dict`,
    );
  }
  if (!tensors.size) throw new PtError(`${source}: no tensors found in the ${entry} entry`);
  return { tensors, entry, skipped: [...skipped].sort(), classes: [...classes].sort(), modelClass, meta, keys };
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new PtError(`_rebuild_tensor_v2 of ${describe(storage)}, not a storage`);
  const ints = (v: unknown, what: string): number[] => {
    if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0))
      throw new PtError(`_rebuild_tensor_v2: ${what} must be a tuple of integers >= 0, got ${describe(v)}`);
    return v.items as number[];
  };
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (shape.length !== strides.length) throw new PtError(`_rebuild_tensor_v2: size ${shape} and stride ${strides} differ in length`);
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0)
    throw new PtError(`_rebuild_tensor_v2: storage offset ${describe(offset)}`);
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel > 0) {
    const last = offset + shape.reduce((a, d, i) => a + (d - 1) * strides[i], 0);
    if (last >= storage.numel)
      throw new PtError(
        `a tensor of size [${shape}] (offset ${offset}, stride [${strides}]) reaches element ${last} of storage ${storage.key}, which has ${storage.numel}`,
      );
  }
  return new TensorRef(storage, offset, shape, strides);
}

/** The state-dict walk of nn.Module: own parameters, persistent buffers, then submodules. */
function walkModule(m: PyObject, prefix: string, out: (name: string, t: unknown) => void, source: string, depth = 0): void {
  if (depth > 200) throw new PtError(`${source}: modules nested more than 200 deep`);
  const st = m.state;
  if (!(st instanceof Map)) return; // not an nn.Module (no __dict__ state): nothing to collect
  const params = st.get('_parameters');
  const buffers = st.get('_buffers');
  const modules = st.get('_modules');
  const nonPersistent = st.get('_non_persistent_buffers_set');
  const skip = new Set<unknown>(nonPersistent instanceof PySet ? nonPersistent.items : []);
  if (params instanceof Map) for (const [k, v] of params) out(`${prefix}${String(k)}`, v);
  if (buffers instanceof Map) for (const [k, v] of buffers) if (!skip.has(k)) out(`${prefix}${String(k)}`, v);
  if (modules instanceof Map) {
    for (const [k, v] of modules) if (v instanceof PyObject) walkModule(v, `${prefix}${String(k)}.`, out, source, depth + 1);
  }
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Copies the strided view out into a dense C-order array (floats widened to float32, exactly for fp16/bf16). */
function materialize(t: TensorRef, name: string, source: string): PtTensor {
  const { storage, shape, stride, offset } = t;
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = storage.bytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eb = storage.elementBytes;
  let read: (i: number) => number | bigint;
  let out: Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  let dtype: SafeTensor['dtype'];
  switch (storage.dtype) {
    case 'float16':
      read = (i) => f16(dv.getUint16(i * eb, true));
      out = new Float32Array(n);
      dtype = 'F32';
      break;
    case 'bfloat16': {
      const u = new Uint32Array(1);
      const f = new Float32Array(u.buffer);
      read = (i) => {
        u[0] = dv.getUint16(i * eb, true) << 16;
        return f[0];
      };
      out = new Float32Array(n);
      dtype = 'F32';
      break;
    }
    case 'float32':
      read = (i) => dv.getFloat32(i * eb, true);
      out = new Float32Array(n);
      dtype = 'F32';
      break;
    case 'float64':
      read = (i) => dv.getFloat64(i * eb, true);
      out = new Float64Array(n);
      dtype = 'F64';
      break;
    case 'int64':
      read = (i) => dv.getBigInt64(i * eb, true);
      out = new BigInt64Array(n);
      dtype = 'I64';
      break;
    case 'int32':
      read = (i) => dv.getInt32(i * eb, true);
      out = new Int32Array(n);
      dtype = 'I32';
      break;
    case 'int16':
      read = (i) => dv.getInt16(i * eb, true);
      out = new Int16Array(n);
      dtype = 'I16';
      break;
    case 'int8':
      read = (i) => dv.getInt8(i * eb);
      out = new Int8Array(n);
      dtype = 'I8';
      break;
    case 'uint8':
    case 'bool':
      read = (i) => bytes[i * eb];
      out = new Uint8Array(n);
      dtype = storage.dtype === 'bool' ? 'BOOL' : 'U8';
      break;
    default:
      throw new PtError(`${source}: ${name}: dtype ${storage.dtype as string} is not supported`);
  }
  // C-order walk over the view
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = offset;
  for (let k = 0; k < n; k++) {
    (out as unknown as { [i: number]: number | bigint })[k] = read(src);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < shape[d]) break;
      src -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return { dtype, shape: [...shape], data: out, torchDtype: storage.dtype };
}
