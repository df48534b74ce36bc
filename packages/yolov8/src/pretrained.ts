/**
 * Pretrained checkpoints for `pretrained:` (experiment key) and `--pretrained`: reading one, and loading
 * it into a variant through the insertion's index map (./transfer.ts) with a report that says what was
 * transferred and warns when fewer tensors than expected arrived.
 *
 * Formats (told apart by their first bytes):
 *  - safetensors with PyTorch/Ultralytics names `model.<i>.<rest>` (`best.safetensors` of @ablate/train,
 *    `model.saveWeights()`, an export);
 *  - a training checkpoint `last.safetensors` of @ablate/train (metadata format
 *    `ablate-train-checkpoint-v1`): its EMA entries `ema.model.<i>...` are used, as Ultralytics fine-tunes
 *    from a checkpoint's EMA;
 *  - a PyTorch/Ultralytics `.pt` (a zip: read by @ablate/core's readPt, nothing executed): its `ema`
 *    entry when not None, else `model`, as Ultralytics' attempt_load_weights; BatchNorm's
 *    `num_batches_tracked` counters are dropped (training counters; this BatchNorm uses its momentum).
 */
import * as fs from 'node:fs';
import { readPt, readSafetensors, type SafeTensor, toTfTensor } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { DetectionModel } from './model.js';
import { type TransferReport, transferWeights } from './transfer.js';

const TRAIN_CHECKPOINT = 'ablate-train-checkpoint-v1';

export interface PretrainedCheckpoint {
  file: string;
  /** `safetensors`, `ablate last.safetensors (EMA)`, ... */
  format: string;
  /** State dict under PyTorch/Ultralytics names (`model.<i>.<rest>`). */
  tensors: Map<string, SafeTensor>;
}

/** Reads a checkpoint of the base architecture; a file that is not one throws an error naming it. */
export function readPretrained(file: string): PretrainedCheckpoint {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the checkpoint ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePretrained(bytes, file);
}

/** `readPretrained` on bytes already read (`file` names them in messages). */
export function parsePretrained(bytes: Uint8Array, file: string): PretrainedCheckpoint {
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    // PyTorch / Ultralytics .pt: the EMA entry when there is one, else the model (attempt_load_weights)
    const pt = readPt(bytes, file);
    const tensors = new Map<string, SafeTensor>([...pt.tensors].filter(([k]) => !k.endsWith('.num_batches_tracked')));
    const dtypes = [...new Set([...pt.tensors.values()].filter((t) => t.dtype === 'F32').map((t) => t.torchDtype))].join('/');
    return check({ file, format: `PyTorch .pt (${pt.modelClass ?? 'state dict'}, \`${pt.entry}\` entry, ${dtypes})`, tensors });
  }
  let st: ReturnType<typeof readSafetensors>;
  try {
    st = readSafetensors(bytes, file);
  } catch (e) {
    throw new Error(`${file} is not a readable safetensors checkpoint: ${(e as Error).message}`);
  }
  let tensors = st.tensors;
  let format = 'safetensors';
  if (st.metadata.format === TRAIN_CHECKPOINT) {
    tensors = new Map([...st.tensors].filter(([k]) => k.startsWith('ema.')).map(([k, t]) => [k.slice(4), t]));
    format = 'ablate last.safetensors (EMA weights)';
  }
  return check({ file, format, tensors });
}

function check(ck: PretrainedCheckpoint): PretrainedCheckpoint {
  const { tensors, file } = ck;
  if (![...tensors.keys()].some((k) => /^model\.\d+\./.test(k))) {
    const some = [...tensors.keys()].slice(0, 3).join(', ');
    throw new Error(
      `${file} holds no YOLOv8 layer tensors (names model.<i>.<name>, as in Ultralytics' state dict); found ${tensors.size} tensor(s)${some ? `: ${some}, ...` : ''}`,
    );
  }
  return ck;
}

export interface PretrainedReport extends TransferReport {
  /** Tensors the checkpoint should give the model: every state-dict tensor of the base model. */
  expected: number;
  /** Set when fewer tensors than expected were transferred (shown with the trial, never silent). */
  warning: string | null;
}

/**
 * Loads `ck` into `model` (a variant of the base architecture; `indexMap` from `insertModuleMapped`,
 * omitted for the base model itself). `baseNames`: the state-dict names of the base model, for the
 * expected count. Tensors not transferred keep their initialisation.
 */
export function loadPretrained(
  model: DetectionModel,
  ck: PretrainedCheckpoint,
  baseNames: readonly string[],
  indexMap?: readonly number[],
): PretrainedReport {
  const source = new Map<string, tf.Tensor>();
  try {
    for (const [k, t] of ck.tensors) source.set(k, toTfTensor(t, k));
    const r = transferWeights(model, source, indexMap);
    const expected = baseNames.length;
    const fromCheckpoint = new Set(r.notTransferred.map((n) => n.name));
    const absent = baseNames.filter((n) => !ck.tensors.has(n) && !fromCheckpoint.has(n));
    let warning: string | null = null;
    if (r.transferred < expected || r.transferred < r.total) {
      const parts: string[] = [];
      if (r.notTransferred.length) parts.push(`${r.notTransferred.length} checkpoint tensor(s) not copied`);
      if (absent.length)
        parts.push(
          `${absent.length} base-model tensor(s) missing from the checkpoint (${absent.slice(0, 4).join(', ')}${absent.length > 4 ? ', ...' : ''})`,
        );
      warning = `fewer tensors than expected: ${r.transferred} transferred, the base model has ${expected}${parts.length ? `; ${parts.join('; ')}` : ''}; those layers start from their initialisation`;
    }
    return { ...r, expected, warning };
  } finally {
    for (const t of source.values()) t.dispose();
  }
}
