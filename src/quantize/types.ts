// The contract every quantizer implements. Latents are NCHW; tokens are raster-ordered.
import type { Tensor } from '../torch/index.js';

/** Codebook health for one batch (and, in `running`, since the last resetStats()). */
export interface CodebookStats {
  /** Share of the codebook used at least once. */
  utilization: number;
  /** exp(entropy of code frequencies): the effective number of codes in use. */
  perplexity: number;
  /** Codes replaced by dead-code restart during this call. */
  restarted?: number;
}

export interface QuantizeResult {
  /** Quantized latent with straight-through gradients, same shape as the input [B, C, H, W]. */
  zq: Tensor;
  /**
   * int64 codes: [B, H, W] for one token per position, [B, H, W, K] when a position carries K
   * tokens (multichannel groups or residual depth).
   */
  indices: Tensor;
  /** Scalar codebook + commitment loss (zero-valued when the codebook learns by EMA only). */
  loss: Tensor;
  stats: CodebookStats;
}

export interface Quantizer {
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
