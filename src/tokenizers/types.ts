// The contract every image tokenizer implements. Images are NCHW float32 in [-1, 1].
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { QuantizeResult, Quantizer } from '../quantize/types.js';

export type TokenizerKind = 'vqvae' | 'vqgan' | 'movq' | 'vitvqgan' | 'vqvae2';

/**
 * One level of a tokenizer's token grids. Single-level tokenizers have one level named 'tokens';
 * hierarchical ones (VQ-VAE-2) list theirs coarsest first, e.g. 'top' (f = 8) then 'bottom' (f = 4).
 */
export interface TokenLevelInfo {
  name: string;
  /** Spatial downsampling of this level: an H×W image gives (H/f)×(W/f) positions. */
  downsample: number;
  codebookSize: number;
  tokensPerPosition: number;
}

export interface TokenizerOutput {
  recon: Tensor;
  quant: QuantizeResult;
  /** Decoders that predict a logit-Laplace per channel (ViT-VQGAN): location μ and ln b, [B, C, H, W] each. */
  logitLaplace?: { mu: Tensor; logScale: Tensor };
}

export interface Tokenizer extends Module {
  readonly kind: TokenizerKind;
  /** The typed config it was built from (saved as JSON in the model file). */
  readonly config: object;
  /** Spatial downsampling factor f: an H×W image gives (H/f)×(W/f) positions. */
  readonly downsample: number;
  readonly codebookSize: number;
  readonly tokensPerPosition: number;
  /** The quantizer (state-dict prefix `quantize.`): codebook stats, lookups for priors. */
  readonly quantize: Quantizer;
  /** images → int64 indices [B, h, w] or [B, h, w, K]. */
  encode(images: Tensor): Tensor;
  /** indices → images [B, 3, H, W] in [-1, 1] (not clamped). */
  decode(indices: Tensor): Tensor;
  /** Training forward: reconstruction plus the quantizer's output (loss, stats). */
  forward(images: Tensor): TokenizerOutput;
  /** The token levels, coarsest first (one level for single-level tokenizers). */
  readonly levels: readonly TokenLevelInfo[];
  /** images → one int64 index tensor per level ([B, h, w] or [B, h, w, c]), in `levels` order. */
  encodeLevels(images: Tensor): Tensor[];
  /** One index tensor per level (in `levels` order) → images [B, 3, H, W] (not clamped). */
  decodeLevels(indices: readonly Tensor[]): Tensor;
  /** The decoder's last layer weight (VQGAN's adaptive GAN weight takes gradients here). */
  lastLayerWeight(): Tensor;
}
