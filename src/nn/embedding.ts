// Embedding: a lookup table of learned vectors indexed by integer ids.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { normal_ } from './init.js';

/** Weight [num, dim] ~ N(0, 1); the paddingIdx row starts at zero and receives no gradient. */
export class Embedding extends Module {
  readonly weight: Tensor;
  /** Normalized to a non-negative index, or null. */
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { paddingIdx?: number } = {},
  ) {
    super();
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (pad >= numEmbeddings || pad < -numEmbeddings) throw new RangeError(`Embedding: padding_idx ${pad} must be within num_embeddings (${numEmbeddings})`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = this.param('weight', T.empty([numEmbeddings, embeddingDim]));
    normal_(this.weight);
    if (pad !== null) T.noGrad(() => this.weight.indexPut([pad], 0));
  }

  /** indices: integer tensor of any shape → [...indices.shape, embeddingDim]. */
  forward(indices: Tensor): Tensor {
    return T.embedding(this.weight, indices, this.paddingIdx ?? -1);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}
