// VQGAN-LC-style codebook (Zhu, Wei, Lu, Chen, NeurIPS 2024, "Scaling the Codebook Size of VQGAN to
// 100,000 with a Utilization Rate of 99%"): a large FROZEN codebook of k-means centres of features from
// an already-trained network, and one trained projector (Linear with bias) from feature space into
// the lookup space, applied to the whole codebook every forward. The reference clusters CLIP patch
// features; Tessera clusters the latents of a trained Tessera tokenizer (see featureRows in
// src/tokenizers) or any [N, featureDim] features — CLIP is not available here.
//
// It is SimVQ's pipeline (frozen C, trained map, codes = P(C)) with C from data instead of a Gaussian,
// and featureDim free. `initted` (persistent) marks a codebook set from features, so a saved model
// never needs the features again; training an LC quantizer whose codebook was never set is refused.
//
// Keys: `embedding.weight` [K, featureDim] (buffer), `embedding_proj.{weight,bias}`, `initted`.
import * as T from '../torch/index.js';
import { Tensor, Generator, noGrad, tidy } from '../torch/index.js';
import { checkInt, checkPositiveInt } from '../io/validate.js';
import { SimVQ, type SimVQOptions } from './simvq.js';
import { kmeans, sampleRows } from './codebook.js';

export interface LCQuantizerOptions extends SimVQOptions {
  /** Channels of the features the codebook is clustered from (the projector's input). */
  featureDim: number;
}

export interface FeatureInitOptions {
  /** Lloyd iterations (5). */
  iters?: number;
  /** Cap on the rows clustered (random subset beyond it; max(65536, 2·K)). */
  maxSamples?: number;
  /** Seed of the k-means++ seeding and subsampling. */
  seed?: number;
}

export class LCQuantizer extends SimVQ {
  readonly featureDim: number;
  readonly initted: Tensor;

  constructor(opts: LCQuantizerOptions) {
    super(opts, checkPositiveInt(opts.featureDim, 'LCQuantizer: featureDim'));
    this.featureDim = opts.featureDim;
    this.initted = this.buffer('initted', T.zeros([]));
  }

  /** Sets the frozen codebook to the k-means centres of feature rows [N, featureDim]. */
  initFromFeatures(rows: Tensor, o: FeatureInitOptions = {}): void {
    if (rows.shape.length !== 2 || rows.size(1) !== this.featureDim) {
      throw new Error(`LCQuantizer: expected feature rows [N, ${this.featureDim}], got [${rows.shape.join(', ')}]`);
    }
    const K = this.codebookSize;
    if (rows.size(0) < K) throw new Error(`LCQuantizer: ${rows.size(0)} feature rows cannot give ${K} distinct k-means centres; give at least ${K}`);
    const iters = checkInt(o.iters ?? 5, 'LCQuantizer: iters', { min: 0 });
    const cap = checkPositiveInt(o.maxSamples ?? Math.max(65536, 2 * K), 'LCQuantizer: maxSamples');
    const gen = o.seed !== undefined ? new Generator(o.seed) : null;
    noGrad(() =>
      tidy(() => {
        const x = rows.size(0) > cap ? sampleRows(rows, cap, gen) : rows;
        this.embedding.weight.copy_(kmeans(x.to('float32'), K, { iters, generator: gen }));
        this.initted.fill_(1);
      }),
    );
  }

  /** @internal Refuses to train on a codebook that was never set from features. */
  override trainBeforeAssign(x: Tensor): void {
    if (this.initted.item() === 0) {
      throw new Error('LCQuantizer: the codebook has not been initialised from features (initFromFeatures / --codebook-init-from) before training');
    }
    super.trainBeforeAssign(x);
  }

  override extraRepr(): string {
    return super.extraRepr() + `, feature_dim=${this.featureDim}`;
  }
}
