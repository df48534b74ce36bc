/**
 * Training checkpoints as safetensors, written atomically (temp file + rename):
 *  - `last.safetensors`: everything a resume needs, float32 and exact: `model.<name>` (model state dict),
 *    `ema.<name>` (EMA state dict), `optimizer.<param name>.<momentum_buffer | exp_avg | exp_avg_sq>`, all in
 *    PyTorch names and layouts; metadata `ablate.train` = JSON `CheckpointState` (completed epochs, EMA
 *    updates, optimizer hyper-parameters and step count, last optimizer step, best fitness, early-stopping
 *    state, the epoch reports so far, training seconds, a key of the settings).
 *  - `best.safetensors`: the EMA weights of the best epoch in PyTorch names (`model.loadWeights(file)` loads
 *    them), metadata `epoch` and `fitness`.
 * (Ultralytics stores the EMA in half precision and resumes from it; here the model, EMA and optimizer are
 * stored separately in float32 so a resumed run continues exactly.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSafetensorsFile, type Module, type SafetensorsFile, saveSafetensorsFileAsync, toTfTensor } from '@ablate/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelEMA } from './ema.js';
import type { Optimizer } from './optimizer.js';
import type { EpochReport } from './types.js';

export const CHECKPOINT_FORMAT = 'ablate-train-checkpoint-v1';
export const LAST = 'last.safetensors';
export const BEST = 'best.safetensors';

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Completed epochs (the next epoch index to run). */
  epoch: number;
  lastOptStep: number;
  emaUpdates: number;
  optimizer: ReturnType<Optimizer['hyperState']>;
  /** Ultralytics' trainer.best_fitness (null before the first validation). */
  bestFitness: number | null;
  /** EarlyStopping state. */
  stopper: { bestFitness: number; bestEpoch: number };
  epochs: EpochReport[];
  trainSeconds: number;
  /** Canonical JSON of the settings that matter for continuing (a resume with others is refused). */
  settingsKey: string;
  stoppedEarly: boolean;
}

function disposeMap(m: Map<string, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}

/** Writes `last.safetensors` into `dir` (reads asynchronously: every backend, webgpu included). */
export async function saveLast(dir: string, model: Module, ema: ModelEMA, opt: Optimizer, state: CheckpointState): Promise<string> {
  const all = new Map<string, tf.Tensor>();
  const parts = [model.stateDict(), ema.stateDict(), opt.stateTensors()];
  try {
    const prefixes = ['model.', 'ema.', 'optimizer.'];
    parts.forEach((m, i) => {
      for (const [k, t] of m) all.set(prefixes[i] + k, t);
    });
    const file = path.join(dir, LAST);
    await saveSafetensorsFileAsync(file, all, { format: CHECKPOINT_FORMAT, 'ablate.train': JSON.stringify(state) });
    return file;
  } finally {
    parts.forEach(disposeMap);
  }
}

/** Writes `best.safetensors` (EMA weights) into `dir`. */
export async function saveBest(dir: string, ema: ModelEMA, epoch: number, fitness: number): Promise<string> {
  const sd = ema.stateDict();
  try {
    const file = path.join(dir, BEST);
    await saveSafetensorsFileAsync(file, sd, { format: 'ablate-ema-weights-v1', epoch: String(epoch), fitness: String(fitness) });
    return file;
  } finally {
    disposeMap(sd);
  }
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  file: SafetensorsFile;
}

/** Reads `last.safetensors` from `dir`, or null when there is none. Throws on a file that is not a checkpoint. */
export function readLast(dir: string): LoadedCheckpoint | null {
  const file = path.join(dir, LAST);
  if (!fs.existsSync(file)) return null;
  const st = loadSafetensorsFile(file);
  if (st.metadata.format !== CHECKPOINT_FORMAT || !st.metadata['ablate.train']) {
    throw new Error(
      `${file}: not a training checkpoint (metadata format ${JSON.stringify(st.metadata.format)}, expected ${CHECKPOINT_FORMAT})`,
    );
  }
  const state = JSON.parse(st.metadata['ablate.train']) as CheckpointState;
  return { state, file: st };
}

/** Restores model, EMA and optimizer from a checkpoint read by `readLast`. */
export function restore(ck: LoadedCheckpoint, model: Module, ema: ModelEMA, opt: Optimizer): void {
  const made: tf.Tensor[] = [];
  const get = (prefix: string) => (name: string) => {
    const t = ck.file.tensors.get(prefix + name);
    if (!t) return undefined;
    const x = toTfTensor(t, prefix + name);
    made.push(x);
    return x;
  };
  try {
    const sd = new Map<string, tf.Tensor>();
    for (const k of ck.file.tensors.keys()) if (k.startsWith('model.')) sd.set(k.slice(6), get('')(k) as tf.Tensor);
    model.loadStateDict(sd, { strict: true });
    ema.loadStateDict(get('ema.'));
    ema.updates = ck.state.emaUpdates;
    opt.loadState(ck.state.optimizer, get('optimizer.'));
  } finally {
    for (const t of made) t.dispose();
  }
}
