// MultichannelQuantizer (MoVQ): the latent's C channels split into G groups of C/G, every group
// quantized against ONE shared codebook, so a position carries G tokens. It is a VectorQuantizer with
// token vectors of C/G channels (same options, same state-dict keys: `embedding.weight` [K, C/G]) that
// folds the groups into an extra token axis: indices [B, H, W, G], group g = channels g·C/G … (g+1)·C/G − 1.
import { Tensor, tidy } from '../torch/index.js';
import type { QuantizeResult } from './types.js';
import { ConfigError, checkPositiveInt } from '../io/validate.js';
import { VectorQuantizer, type VectorQuantizerOptions } from './vq.js';

export interface MultichannelQuantizerOptions extends Omit<VectorQuantizerOptions, 'dim'> {
  /** Channels C of the latent. */
  dim: number;
  /** Groups G (tokens per position); C must be divisible by G. */
  groups: number;
}

export class MultichannelQuantizer extends VectorQuantizer {
  readonly groups: number;

  constructor(opts: MultichannelQuantizerOptions) {
    const g = opts.groups;
    checkPositiveInt(g, 'MultichannelQuantizer: groups');
    if (checkPositiveInt(opts.dim, 'MultichannelQuantizer: dim') % g !== 0) {
      throw new ConfigError(`MultichannelQuantizer: dim (${opts.dim}) must be divisible by groups (${g})`);
    }
    super({ ...opts, dim: opts.dim / g });
    this.groups = g;
  }

  override get dim(): number {
    return this.tokenDim * this.groups;
  }
  override get tokensPerPosition(): number {
    return this.groups;
  }

  /** [B, C, …s] → [B, C/G, …s, G]: every group becomes a token vector along a trailing axis. */
  #split(z: Tensor): Tensor {
    const s = z.shape;
    if (s.length < 2 || s[1] !== this.dim) throw new Error(`MultichannelQuantizer: expected a latent [B, ${this.dim}, H, W], got [${s.join(', ')}]`);
    return z.reshape([s[0]!, this.groups, this.tokenDim, ...s.slice(2)]).movedim(1, -1);
  }
  /** Inverse of #split. */
  #merge(t: Tensor): Tensor {
    const s = t.shape;
    return t.movedim(-1, 1).reshape([s[0]!, this.dim, ...s.slice(2, -1)]);
  }

  /** z [B, C, H, W] → zq [B, C, H, W], indices [B, H, W, G] (one shared codebook). */
  override quantize(z: Tensor): QuantizeResult {
    return tidy(() => {
      const r = super.quantize(this.#split(z));
      return { ...r, zq: this.#merge(r.zq).contiguous() };
    });
  }

  /** indices [B, H, W, G] → zq [B, C, H, W]. */
  override lookup(indices: Tensor): Tensor {
    if (indices.size(-1) !== this.groups)
      throw new Error(`MultichannelQuantizer: indices must end in the group axis (${this.groups}), got [${indices.shape.join(', ')}]`);
    return tidy(() => this.#merge(super.lookup(indices)).contiguous());
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, groups=${this.groups}`;
  }
}
