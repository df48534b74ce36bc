/**
 * Messages between the sweep process (the one database writer) and the worker processes that run
 * trials (node child_process.fork, one process per trial). The parent writes every report to the
 * tracker; an `epoch` report is acknowledged once stored, and training goes on only then.
 */
import type { TrialFinish, TrialStart } from '@ablate/tracker';
import type { DataChoice } from './experiment.js';
import type { TrialSpec } from './trials.js';

export interface TrialJob {
  trial: TrialSpec;
  data: DataChoice;
  /** Backend as asked for (auto, wasm, ...). */
  backend: string;
  threads: number;
  checkpointDir: string;
  /** Continue from `last.safetensors` in checkpointDir. */
  resume: boolean;
  /**
   * `all`: train, then benchmark (one worker: nothing else runs). `train`: train only and report
   * `trained`; the sweep benchmarks later (`bench`: the benchmark only, the model built from its YAML)
   * when no other trial trains, so parallel workers do not distort each other's FPS.
   */
  mode: 'all' | 'train' | 'bench';
  /** When this file exists, training stops after its current batch (checked between batches). */
  stopFile?: string;
  /** A queue worker's host:pid (absent in the local pool), for messages. */
  worker?: string;
}

export interface EpochMsg {
  /** 1-based, as @ablate/train reports it (the tracker stores it 0-based). */
  epoch: number;
  boxLoss: number;
  clsLoss: number;
  dflLoss: number;
  lr: number;
  precision: number;
  recall: number;
  map50: number;
  map50_95: number;
  fitness: number;
  seconds: number;
  /** Validation losses [box, cls, dfl] of the EMA model. */
  valLoss?: [number, number, number];
}

export type ToWorker = { type: 'run'; job: TrialJob } | { type: 'abort' } | { type: 'ack'; seq: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'started'; id: string; start: TrialStart; skipped: { file: string; line?: number; reason: string }[]; batches: number }
  | { type: 'batch'; id: string; epoch: number; epochs: number; batch: number; batches: number; loss: [number, number, number] }
  | { type: 'epoch'; id: string; seq: number; report: EpochMsg; epochs: number; replayed?: boolean }
  | { type: 'done'; id: string; finish: TrialFinish; epochsDone: number }
  | { type: 'trained'; id: string; finish: TrialFinish; epochsDone: number }
  | { type: 'benched'; id: string; fps: number; p50Ms: number; p90Ms: number; fused: boolean; nms: boolean }
  | { type: 'failed'; id: string; error: string }
  | { type: 'interrupted'; id: string; reason: string };
