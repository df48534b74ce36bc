/**
 * Pretrained weights across insertion. Ultralytics transfers a checkpoint by matching names and shapes
 * (`intersect_dicts`), so after an inserted layer every later index shifts and most of the head silently
 * stays random. Here the insertion's index map (`insertModuleMapped(...).indexMap`) renames each base
 * tensor `model.<i>.<rest>` to `model.<indexMap[i]>.<rest>` first; then tensors whose name and shape match
 * are copied and everything else (the inserted modules, a Detect head with another nc) keeps the values it
 * was initialised with. The report says what moved and what did not, so nothing is silent.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { DetectionModel } from './model.js';

export interface TransferReport {
  /** Tensors of the checkpoint copied into the model. */
  transferred: number;
  /** Tensors in the checkpoint. */
  total: number;
  /** Elements (parameters and buffers) copied. */
  parameters: number;
  /** Checkpoint tensors not copied, each with the reason (original names). */
  notTransferred: { name: string; reason: string }[];
  /** Model tensors no checkpoint tensor filled (they keep their initialisation): the inserted modules, etc. */
  initialised: string[];
  /** `transferred X of Y tensors (Z parameters)`. */
  summary: string;
}

/** One line: `transferred X of Y tensors (Z parameters)`, plus what was not when anything was left. */
export function describeTransfer(r: Pick<TransferReport, 'transferred' | 'total' | 'parameters' | 'notTransferred'>): string {
  const head = `transferred ${r.transferred} of ${r.total} tensors (${r.parameters.toLocaleString('en-US')} parameters)`;
  if (!r.notTransferred.length) return head;
  const list = r.notTransferred.slice(0, 8).map((n) => `${n.name} (${n.reason})`);
  return `${head}; not transferred: ${list.join(', ')}${r.notTransferred.length > 8 ? `, ... ${r.notTransferred.length - 8} more` : ''}`;
}

/**
 * Copies a base-architecture state dict (PyTorch/Ultralytics names `model.<i>.<rest>`) into `model`,
 * moving layer i to `indexMap[i]` (identity when omitted: the baseline itself).
 */
export function transferWeights(model: DetectionModel, source: Map<string, tf.Tensor>, indexMap?: readonly number[]): TransferReport {
  const moved = new Map<string, tf.Tensor>();
  const origin = new Map<string, string>();
  const notTransferred: { name: string; reason: string }[] = [];
  for (const [name, t] of source) {
    const m = /^model\.(\d+)\.(.+)$/.exec(name);
    if (!m) {
      notTransferred.push({ name, reason: 'not a layer tensor (model.<i>.<name>)' });
      continue;
    }
    const i = Number(m[1]);
    const to = indexMap ? indexMap[i] : i;
    if (to === undefined) {
      notTransferred.push({ name, reason: `layer ${i} is not in the base model (${indexMap?.length ?? 0} layers)` });
      continue;
    }
    const target = `model.${to}.${m[2]}`;
    moved.set(target, t);
    origin.set(target, name);
  }
  const r = model.loadWeights(moved);
  for (const s of r.skipped)
    notTransferred.push({ name: origin.get(s.name) ?? s.name, reason: s.reason.replace('not in the model', `no ${s.name} in the model`) });
  let parameters = 0;
  for (const n of r.loaded) parameters += (moved.get(n) as tf.Tensor).size;
  const report = { transferred: r.loaded.length, total: source.size, parameters, notTransferred, initialised: r.missing };
  return { ...report, summary: describeTransfer(report) };
}
