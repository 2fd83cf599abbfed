// Normalization layers: GroupNorm, LayerNorm, BatchNorm2d (PyTorch parameter/buffer names).
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

/** Python's float repr for small constants in descriptions (1e-05, not 0.00001). */
const pyFloat = (x: number): string => (x !== 0 && Math.abs(x) < 1e-4 ? x.toExponential().replace(/e([+-])(\d)$/, 'e$10$2') : String(x));

/** Normalizes each of numGroups channel groups per sample; affine weight/bias per channel. */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: num_channels (${numChannels}) must be divisible by num_groups (${numGroups})`);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.param('weight', T.ones([numChannels])) : null;
    this.bias = affine ? this.param('bias', T.zeros([numChannels])) : null;
  }

  forward(x: Tensor): Tensor {
    return T.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyFloat(this.eps)}, affine=${this.weight ? 'True' : 'False'}`;
  }
}

/** Normalizes over the trailing dims given by normalizedShape, with elementwise affine. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.param('weight', T.ones(this.normalizedShape)) : null;
    this.bias = affine ? this.param('bias', T.zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return T.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')}${this.normalizedShape.length === 1 ? ',' : ''}), eps=${pyFloat(this.eps)}, elementwise_affine=${this.weight ? 'True' : 'False'}`;
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average; null = cumulative average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * Batch normalization over (N, H, W) per channel of NCHW input. In training it normalizes with the
 * batch statistics and updates running_mean / running_var (unbiased variance) and
 * num_batches_tracked; in eval it uses the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    const affine = opts.affine ?? true;
    const track = opts.trackRunningStats ?? true;
    this.weight = affine ? this.param('weight', T.ones([numFeatures])) : null;
    this.bias = affine ? this.param('bias', T.zeros([numFeatures])) : null;
    this.runningMean = track ? this.buffer('running_mean', T.zeros([numFeatures])) : null;
    this.runningVar = track ? this.buffer('running_var', T.ones([numFeatures])) : null;
    this.numBatchesTracked = track ? this.buffer('num_batches_tracked', T.zeros([], { dtype: 'int64' })) : null;
  }

  /** Restores the initial running statistics. */
  resetRunningStats(): void {
    T.noGrad(() => {
      this.runningMean?.zero_();
      this.runningVar?.fill_(1);
      this.numBatchesTracked?.zero_();
    });
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d: expected 4D input (got ${x.ndim}D input)`);
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      T.noGrad(() => this.numBatchesTracked!.add_(1));
      if (this.momentum === null) factor = 1 / this.numBatchesTracked.item();
    }
    // Batch statistics in training, or when there are no running statistics to use.
    const useBatchStats = this.training || !this.runningMean;
    return T.batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, useBatchStats, factor, this.eps);
  }

  override extraRepr(): string {
    const m = this.momentum === null ? 'None' : String(this.momentum);
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${m}, affine=${this.weight ? 'True' : 'False'}, track_running_stats=${this.runningMean ? 'True' : 'False'}`;
  }
}
