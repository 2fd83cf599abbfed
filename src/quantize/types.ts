// The contract every quantizer implements. Latents are NCHW; tokens are raster-ordered.
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';

/** Codebook health for one batch (and, in `running`, since the last resetStats()). */
export interface CodebookStats {
  /** Share of the codebook used at least once. */
  utilization: number;
  /** exp(entropy of code frequencies): the effective number of codes in use. */
  perplexity: number;
  /** Codes replaced by dead-code restart during this call (in runningStats: since resetStats). */
  restarted?: number;
  /** Number of tokens the counts cover. */
  tokens?: number;
  /** Per-codebook stats when there are several (residual VQ with one codebook per depth). */
  perCodebook?: CodebookStats[];
}

export interface QuantizeResult {
  /** Quantized latent with straight-through gradients, same shape as the input [B, C, H, W]. */
  zq: Tensor;
  /**
   * int64 codes: [B, H, W] for one token per position, [B, H, W, K] when a position carries K
   * tokens (multichannel groups or residual depth).
   */
  indices: Tensor;
  /**
   * Scalar codebook + commitment loss. With an EMA codebook only the commitment term β·mse(z, sg[zq])
   * remains (the codebook learns by EMA, not by gradient).
   */
  loss: Tensor;
  stats: CodebookStats;
}

/** Quantizers are Modules (their codebooks live in the state dict under the tokenizer's `quantize.`). */
export interface Quantizer extends Module {
  /** Number of codes in the (shared) codebook. */
  readonly codebookSize: number;
  /** Channels of the latent the quantizer takes and returns. */
  readonly dim: number;
  /** Tokens per spatial position (1, or K for multichannel/residual). */
  readonly tokensPerPosition: number;
  quantize(z: Tensor): QuantizeResult;
  /** Codes → quantized latent [B, C, H, W] (the inverse of quantize's indices). */
  lookup(indices: Tensor): Tensor;
  /** Usage since the last resetStats() (utilization and perplexity over all calls). */
  runningStats(): CodebookStats;
  resetStats(): void;
}
