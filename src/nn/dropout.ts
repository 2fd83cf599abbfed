// Dropout: zeroes elements with probability p during training, scaling the rest by 1/(1-p).
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: probability has to be between 0 and 1, but got ${p}`);
  }

  /** Identity in eval mode (or when p = 0). */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return T.dropout(x, this.p, true);
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
