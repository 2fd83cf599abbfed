// What every convolutional tokenizer shares: input checks, encode (images → indices), decode
// (indices → images) and the training forward, on top of three model-specific pieces — the path to
// the pre-quantization latent, the path from the quantized latent back to pixels, and the quantizer.
import { Tensor, noGrad, tidy } from '../torch/index.js';
import { Module } from '../nn/index.js';
import type { QuantizerConfig, Quantizer } from '../quantize/index.js';
import { checkPositiveInt } from '../io/validate.js';
import type { TokenLevelInfo, Tokenizer, TokenizerKind, TokenizerOutput } from './types.js';

/** A quantizer config whose `dim` may be left out: the tokenizer fills in its embedDim. */
export type QuantizerSpec = QuantizerConfig extends infer C ? (C extends { dim: number } ? Omit<C, 'dim'> & { dim?: number } : never) : never;

/** Fills the quantizer's dim from embedDim (and rejects a contradicting one). */
export function resolveQuantizer(spec: QuantizerSpec, embedDim: number, who: string): QuantizerConfig {
  if (spec === null || typeof spec !== 'object' || typeof (spec as { type?: unknown }).type !== 'string') {
    throw new Error(`${who}: config.quantizer must be an object with a 'type' (vq, multichannel, residual, simvq)`);
  }
  if (spec.dim !== undefined && spec.dim !== embedDim) {
    throw new Error(`${who}: quantizer.dim (${spec.dim}) must equal embedDim (${embedDim}): the quantizer takes the latent after quant_conv`);
  }
  return { ...spec, dim: embedDim } as QuantizerConfig;
}

/** The one positive-integer check (src/io/validate.ts), re-exported for the tokenizer configs. */
export { checkPositiveInt };

export abstract class ConvTokenizer extends Module implements Tokenizer {
  abstract readonly kind: TokenizerKind;
  abstract readonly config: object;
  abstract readonly downsample: number;
  abstract readonly inChannels: number;
  /** Registered by the subclass under `quantize` (checkpoint key `quantize.embedding.weight`). */
  abstract readonly quantize: Quantizer;

  /** images [B, inChannels, H, W] → latent [B, embedDim, H/f, W/f], ready for the quantizer. */
  abstract encodeLatent(images: Tensor): Tensor;
  /** quantized latent [B, embedDim, h, w] → images [B, outCh, h·f, w·f]. */
  abstract decodeLatent(zq: Tensor): Tensor;
  abstract lastLayerWeight(): Tensor;

  get codebookSize(): number {
    return this.quantize.codebookSize;
  }
  get tokensPerPosition(): number {
    return this.quantize.tokensPerPosition;
  }

  /** Throws a clear error unless images is [B, inChannels, H, W] with H, W multiples of f. */
  checkImages(images: Tensor, method: string): void {
    const who = `${this.constructor.name}.${method}`;
    const s = images.shape;
    if (s.length !== 4 || s[1] !== this.inChannels) {
      throw new Error(`${who}: expected images [B, ${this.inChannels}, H, W], got [${s.join(', ')}]`);
    }
    if (!images.dtype.startsWith('float') && images.dtype !== 'bfloat16') {
      throw new Error(`${who}: expected floating-point images in [-1, 1], got ${images.dtype}`);
    }
    const f = this.downsample;
    const [h, w] = [s[2]!, s[3]!];
    if (h % f !== 0 || w % f !== 0) {
      // Not a multiple: the asymmetric downsampling would round and the reconstruction would not
      // match the input size, so refuse rather than silently return a different-sized image.
      const up = (n: number): number => Math.ceil(n / f) * f;
      throw new Error(
        `${who}: image size ${h}×${w} is not a multiple of the downsampling factor ${f}; pad or resize to ${up(h)}×${up(w)} (or crop to ${Math.floor(h / f) * f}×${Math.floor(w / f) * f})`,
      );
    }
  }

  /** Throws unless indices is int64 [B, h, w] (or [B, h, w, K] with K tokens per position). */
  checkIndices(indices: Tensor): void {
    const who = `${this.constructor.name}.decode`;
    const k = this.tokensPerPosition;
    const want = k === 1 ? '[B, h, w]' : `[B, h, w, ${k}]`;
    const s = indices.shape;
    if (s.length !== (k === 1 ? 3 : 4) || (k !== 1 && s[3] !== k)) throw new Error(`${who}: expected indices ${want}, got [${s.join(', ')}]`);
    if (indices.dtype !== 'int64') throw new Error(`${who}: expected int64 indices, got ${indices.dtype}`);
  }

  /**
   * images → int64 indices [B, h, w] (or [B, h, w, K]). Runs without gradients, and with the
   * quantizer in eval mode so encoding never updates an EMA codebook or restarts codes.
   */
  encode(images: Tensor): Tensor {
    this.checkImages(images, 'encode');
    const wasTraining = this.quantize.training;
    this.quantize.eval();
    try {
      return noGrad(() => tidy(() => this.quantize.quantize(this.encodeLatent(images)).indices));
    } finally {
      this.quantize.train(wasTraining);
    }
  }

  /** indices → images [B, outCh, h·f, w·f] (not clamped). Differentiable w.r.t. the decoder. */
  decode(indices: Tensor): Tensor {
    this.checkIndices(indices);
    return tidy(() => this.decodeLatent(this.quantize.lookup(indices)));
  }

  /** A single level named 'tokens'; hierarchical tokenizers override the three level members. */
  get levels(): readonly TokenLevelInfo[] {
    return [{ name: 'tokens', downsample: this.downsample, codebookSize: this.codebookSize, tokensPerPosition: this.tokensPerPosition }];
  }
  encodeLevels(images: Tensor): Tensor[] {
    return [this.encode(images)];
  }
  decodeLevels(indices: readonly Tensor[]): Tensor {
    if (indices.length !== 1) throw new Error(`${this.constructor.name}.decode: this tokenizer has one token level, got ${indices.length}`);
    return this.decode(indices[0]!);
  }

  /** Training forward: reconstruction plus the quantizer's output (loss, indices, stats). */
  forward(images: Tensor): TokenizerOutput {
    this.checkImages(images, 'forward');
    return tidy(() => {
      const quant = this.quantize.quantize(this.encodeLatent(images));
      return { recon: this.decodeLatent(quant.zq), quant };
    });
  }
}
