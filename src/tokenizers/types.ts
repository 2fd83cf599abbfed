// The contract every image tokenizer implements. Images are NCHW float32 in [-1, 1].
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { QuantizeResult, Quantizer } from '../quantize/types.js';

export type TokenizerKind = 'vqvae' | 'vqgan' | 'movq';

export interface TokenizerOutput {
  recon: Tensor;
  quant: QuantizeResult;
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
  /** The decoder's last layer weight (VQGAN's adaptive GAN weight takes gradients here). */
  lastLayerWeight(): Tensor;
}
