// The nearest-neighbour pipeline every single-codebook quantizer shares (VectorQuantizer, SimVQ,
// and through them MultichannelQuantizer): optional projection into a low-dimensional lookup space,
// optional l2 normalization, nearest code, straight-through estimator, codebook + commitment loss,
// usage stats. Subclasses say where the code matrix comes from and what training updates it gets.
import * as T from '../torch/index.js';
import { Tensor, noGrad, tidy } from '../torch/index.js';
import { Module, Linear } from '../nn/index.js';
import { checkBoolean, checkNumber, checkPositiveInt } from '../io/validate.js';
import type { CodebookStats, QuantizeResult, Quantizer } from './types.js';
import { toRows, fromRows, nearestCode } from './codebook.js';
import { countCodes, statsFromCounts, RunningCounts } from './stats.js';

/** Options every codebook quantizer takes. */
export interface CodebookOptions {
  /** Number of codes K. */
  codebookSize: number;
  /** Channels of each token vector the quantizer takes (the latent's C for a plain VQ). */
  dim: number;
  /**
   * Dimension of the lookup space. When it differs from `dim`, Linear maps `project_in` (dim →
   * codebookDim) and `project_out` (codebookDim → dim) factorize the lookup (ViT-VQGAN's low-dim codes).
   * Default: dim (no projection).
   */
  codebookDim?: number;
  /** Commitment weight β (0.25). */
  beta?: number;
  /**
   * taming's legacy β placement: mse(sg[zq], z) + β·mse(zq, sg[z]) (β on the codebook term).
   * Default false: the textbook β·mse(z, sg[zq]) + mse(sg[z], zq) (β on the commitment term).
   */
  legacy?: boolean;
  /** Cosine codes: l2-normalize inputs and codes before distances (ViT-VQGAN). */
  l2Normalize?: boolean;
}

/**
 * Codebook + commitment loss for inputs x and their codes e (same shape, lookup space).
 * With `codebookTerm: false` (EMA codebooks) only β·mse(x, sg[e]) remains.
 */
export function vqLoss(x: Tensor, e: Tensor, opts: { beta: number; legacy: boolean; codebookTerm: boolean }): Tensor {
  const commitment = x.sub(e.detach()).square().mean();
  if (!opts.codebookTerm) return commitment.mul(opts.beta);
  const codebook = e.sub(x.detach()).square().mean();
  return opts.legacy ? commitment.add(codebook.mul(opts.beta)) : commitment.mul(opts.beta).add(codebook);
}

export abstract class CodebookQuantizer extends Module implements Quantizer {
  readonly codebookSize: number;
  /** Size of one token vector on the latent side (the latent's channels for a plain VQ). */
  readonly tokenDim: number;
  /** Size of the code vectors (lookup space). */
  readonly codebookDim: number;
  readonly beta: number;
  readonly legacy: boolean;
  readonly l2Normalize: boolean;
  /** Low-dimensional lookup projections (registered by addProjections), or null. */
  projectIn: Linear | null = null;
  projectOut: Linear | null = null;
  protected readonly running: RunningCounts;

  constructor(opts: CodebookOptions) {
    super();
    const who = this.constructor.name;
    this.codebookSize = checkPositiveInt(opts.codebookSize, `${who}: codebookSize`);
    this.tokenDim = checkPositiveInt(opts.dim, `${who}: dim`);
    this.codebookDim = checkPositiveInt(opts.codebookDim ?? opts.dim, `${who}: codebookDim`);
    this.beta = checkNumber(opts.beta ?? 0.25, `${who}: beta`, { min: 0 });
    this.legacy = checkBoolean(opts.legacy ?? false, `${who}: legacy`);
    this.l2Normalize = checkBoolean(opts.l2Normalize ?? false, `${who}: l2Normalize`);
    this.running = new RunningCounts(this.codebookSize);
  }

  /** Registers project_in / project_out when the lookup space differs (call after the codebook, for key order). */
  protected addProjections(): void {
    if (this.codebookDim === this.tokenDim) return;
    this.projectIn = this.add('project_in', new Linear(this.tokenDim, this.codebookDim));
    this.projectOut = this.add('project_out', new Linear(this.codebookDim, this.tokenDim));
  }

  /** Channels of the latent taken and returned. */
  get dim(): number {
    return this.tokenDim;
  }
  get tokensPerPosition(): number {
    return 1;
  }

  /** The code matrix [K, codebookDim] before normalization (carries grad if codes train by gradient). */
  abstract codebook(): Tensor;
  /** Whether the codebook term enters the loss (false for EMA codebooks). */
  protected abstract get codebookLearnsByGradient(): boolean;
  /** @internal Training-mode hook before assignment (rows in lookup space, detached; under noGrad). */
  trainBeforeAssign(_x: Tensor): void {}
  /** @internal Training-mode hook after assignment; returns the number of codes restarted. */
  trainAfterAssign(_x: Tensor, _indices: Tensor): number {
    return 0;
  }

  // ---------------------------------------------------------------- lookup space
  /** @internal Rows [N, tokenDim] → lookup space [N, codebookDim] (projected, normalized). */
  toLookup(rows: Tensor): Tensor {
    const x = this.projectIn ? this.projectIn.forward(rows) : rows;
    return this.l2Normalize ? T.normalize(x, -1) : x;
  }
  /** @internal Lookup space [..., codebookDim] → token vectors [..., tokenDim]. */
  fromLookup(x: Tensor): Tensor {
    return this.projectOut ? this.projectOut.forward(x) : x;
  }
  /**
   * @internal Code vectors for indices of any shape → [..., codebookDim]. index_select (unlike
   * libtorch 1.13's embedding) keeps only the codebook's shape for backward, and rows are normalized
   * after gathering, so autograd never saves the codebook itself: in-place codebook updates after the
   * forward (EMA, restarts) leave the backward valid.
   */
  gather(codebook: Tensor, indices: Tensor): Tensor {
    const e = codebook.indexSelect(0, indices.reshape([-1])).reshape([...indices.shape, codebook.size(1)]);
    return this.l2Normalize ? T.normalize(e, -1) : e;
  }
  /** @internal Nearest code for rows already in lookup space. */
  assign(x: Tensor, codebook: Tensor): Tensor {
    return noGrad(() => nearestCode(x, this.l2Normalize ? T.normalize(codebook, -1) : codebook));
  }

  /** Code vectors (lookup space, normalized when l2Normalize) for indices of any shape → [..., codebookDim]. */
  indicesToCodes(indices: Tensor): Tensor {
    return tidy(() => this.gather(this.codebook(), indices));
  }
  /** Nearest code ids for vectors [..., codebookDim] in lookup space (normalized first when l2Normalize). */
  codesToIndices(codes: Tensor): Tensor {
    return tidy(() => {
      const rows = codes.reshape([-1, this.codebookDim]);
      const x = this.l2Normalize ? T.normalize(rows, -1) : rows;
      return this.assign(x, this.codebook()).reshape(codes.shape.slice(0, -1));
    });
  }

  // ---------------------------------------------------------------- forward
  /**
   * @internal Quantizes rows [N, tokenDim]: straight-through output rows, indices [N], loss and codes
   * restarted. Training-mode updates (k-means init, EMA, restarts) happen here, under noGrad.
   */
  quantizeRows(rows: Tensor): { out: Tensor; indices: Tensor; loss: Tensor; restarted: number } {
    const x = this.toLookup(rows);
    if (this.training) noGrad(() => this.trainBeforeAssign(x.detach()));
    const codebook = this.codebook();
    const indices = this.assign(x, codebook);
    const e = this.gather(codebook, indices);
    const loss = vqLoss(x, e, { beta: this.beta, legacy: this.legacy, codebookTerm: this.codebookLearnsByGradient });
    const out = this.fromLookup(x.add(e.sub(x).detach()));
    const restarted = this.training ? noGrad(() => this.trainAfterAssign(x.detach(), indices)) : 0;
    return { out, indices, loss, restarted };
  }

  /** z [B, C, …spatial] → zq (same shape, straight-through), indices [B, …spatial], loss, stats. */
  quantize(z: Tensor): QuantizeResult {
    return tidy(() => {
      const { rows, grid } = toRows(z, this.tokenDim, this.constructor.name);
      const r = this.quantizeRows(rows);
      const indices = r.indices.reshape(grid);
      return { zq: fromRows(r.out, grid), indices, loss: r.loss, stats: this.record(indices, r.restarted) };
    });
  }

  /** indices [B, …spatial] → zq [B, C, …spatial]: the forward values quantize() produced for them. */
  lookup(indices: Tensor): Tensor {
    return tidy(() => this.fromLookup(this.gather(this.codebook(), indices)).movedim(-1, 1).contiguous());
  }

  // ---------------------------------------------------------------- stats
  /** Counts a batch's indices into the running stats and returns the batch's stats. */
  protected record(indices: Tensor, restarted: number): CodebookStats {
    const counts = countCodes(indices, this.codebookSize);
    this.running.add(counts, restarted);
    return { ...statsFromCounts(counts), restarted };
  }
  runningStats(): CodebookStats {
    return this.running.stats();
  }
  resetStats(): void {
    this.running.reset();
  }

  override extraRepr(): string {
    const parts = [`codebook_size=${this.codebookSize}`, `dim=${this.dim}`];
    if (this.codebookDim !== this.tokenDim) parts.push(`codebook_dim=${this.codebookDim}`);
    parts.push(`beta=${this.beta}`);
    if (this.legacy) parts.push('legacy=True');
    if (this.l2Normalize) parts.push('l2_normalize=True');
    return parts.join(', ');
  }
}
