/**
 * `variableGradsAsync(f, vars)`: tf.variableGrads for a loss whose computation awaits in the middle
 * (reads a tensor with `await t.data()`, e.g. the YOLOv8 assigner reading the predictions). tfjs's
 * `variableGrads` needs a synchronous `f`; on the webgpu backend a synchronous read is impossible under
 * Node, and on every backend it stalls the pipeline.
 *
 * How: tfjs-core's engine records ops on its tape while its gradient depth is > 0. This opens the tape
 * (`engine.startTape()`), runs `f` (ops recorded across its awaits), then calls `tf.variableGrads` with
 * the finished loss while the tape is still open (so the engine filters the recorded tape from the
 * variables to the loss, exactly as for a synchronous `f`), then closes the tape and frees the tensors
 * saved for the backward pass (the engine frees them itself only at depth 0). Ops that other code runs
 * during `f`'s awaits are recorded too but are not on the path to the loss: they are ignored, and their
 * saved tensors freed at the end. Uses engine methods of tfjs-core 4.22 (startTape, endTape,
 * state.activeTape), checked at call time.
 *
 * `f` owns its intermediate tensors (use tf.tidy for synchronous parts): tensors saved for the backward
 * pass are kept by the engine regardless of disposal.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeEngine {
  startTape(): void;
  endTape(): void;
  state: { gradientDepth: number; activeTape: { saved?: tf.Tensor[] }[] | null };
}

function tapeEngine(): TapeEngine {
  const e = tf.engine() as unknown as Partial<TapeEngine>;
  if (typeof e.startTape !== 'function' || typeof e.endTape !== 'function' || !e.state || !('gradientDepth' in e.state)) {
    throw new Error('variableGradsAsync: this tfjs-core has no startTape/endTape (written for tfjs-core 4.22)');
  }
  return e as TapeEngine;
}

function closeTape(e: TapeEngine): void {
  e.endTape();
  if (e.state.gradientDepth === 0 && e.state.activeTape) {
    for (const node of e.state.activeTape) for (const t of node.saved ?? []) t.dispose();
    e.state.activeTape = null;
  }
}

async function withOpenTape<T>(f: () => Promise<tf.Scalar>, grads: (y: tf.Scalar) => T): Promise<T> {
  const e = tapeEngine();
  e.startTape();
  try {
    const y = await f();
    return grads(y);
  } finally {
    closeTape(e);
  }
}

/** Like tf.variableGrads, for an async loss function. The caller disposes `value` and `grads`. */
export function variableGradsAsync(
  f: () => Promise<tf.Scalar>,
  varList?: tf.Variable[],
): Promise<{ value: tf.Scalar; grads: tf.NamedTensorMap }> {
  return withOpenTape(f, (y) => tf.variableGrads(() => y, varList));
}

/**
 * Like tf.valueAndGrads(f)(xs), for an async loss of the tensors `xs` (which `f` closes over).
 * The caller disposes `value` and `grads`.
 */
export function valueAndGradsAsync(f: () => Promise<tf.Scalar>, xs: tf.Tensor[]): Promise<{ value: tf.Scalar; grads: tf.Tensor[] }> {
  return withOpenTape(f, (y) => tf.valueAndGrads((..._xs: tf.Tensor[]) => y)(xs) as { value: tf.Scalar; grads: tf.Tensor[] });
}
