/**
 * Parameter-free activations with PyTorch's definitions: SiLU x*sigmoid(x), GELU (exact erf form:
 * x/2 * (1 + erf(x/sqrt 2))), ReLU, Sigmoid, Tanh, Softplus (beta=1, threshold=20), Identity.
 * Status: Softplus uses tf.softplus without the explicit threshold branch: for x > 20 PyTorch returns
 * x and tf.softplus returns x + log1p(exp(-x)) with exp(-20) = 2e-9, below float32 resolution at 20,
 * so the values and gradients are the same in float32 (and no mask op needs a gradient).
 * GELU uses tf.erf (a rational approximation, |error| < 1.5e-7).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer } from '../module.js';

export class SiLU extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  }
}

export class GELU extends Layer {
  constructor(opts: { approximate?: 'none' } = {}) {
    super();
    if (opts.approximate !== undefined && opts.approximate !== 'none') {
      throw new Error(`GELU: unknown approximate "${opts.approximate}"; known: none`);
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
  }
}

export class ReLU extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

export class Sigmoid extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.sigmoid(x);
  }
}

export class Tanh extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tanh(x);
  }
}

export class Softplus extends Layer {
  constructor(opts: { beta?: number; threshold?: number } = {}) {
    super();
    if ((opts.beta ?? 1) !== 1 || (opts.threshold ?? 20) !== 20) {
      throw new Error(`Softplus: only beta=1, threshold=20 (PyTorch's defaults) are supported, got ${JSON.stringify(opts)}`);
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.softplus(x);
  }
}

/** Returns its input (the same tensor). */
export class Identity extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return x;
  }
}
