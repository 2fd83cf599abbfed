// ViT-VQGAN (Yu et al., "Vector-quantized Image Modeling with Improved VQGAN", ICLR 2022):
//   conv p×p stride p patch embedding + fixed 2-D sin-cos positions → pre-LN ViT (final LayerNorm)
//   → pre_quant Linear(width → codeDim) → l2-normalised nearest code (factorized lookup, straight-
//   through; src/quantize with l2Normalize) → post_quant Linear(codeDim → width) → + positions
//   → pre-LN ViT → ConvTranspose2d(kernel = stride = p) to pixels.
//
// Parameter names follow thuanz123/enhancing-transformers (ViTVQ) so its checkpoints load
// (import.ts renames only `quantizer.` → `quantize.`): encoder.to_patch_embedding.0,
// encoder.en_pos_embedding, encoder.transformer.layers.{i}.{0 = attention, 1 = feed-forward}.{norm,fn},
// encoder.transformer.norm, pre_quant, post_quant, decoder.de_pos_embedding, decoder.transformer.*,
// decoder.to_pixel.1.
//
// Where the tanh feed-forward goes (`tanhFfn`):
//   'output' (default, the paper: "at the output of transformer blocks, we apply a two-layer
//     feed-forward network with a tanh activation layer in the middle"): blocks use GELU MLPs and
//     each transformer ends with final LayerNorm → Linear → tanh → Linear (`transformer.out_ffn`);
//   'every-block' (the port): every block's MLP is Linear → tanh → Linear and there is no out_ffn.
// `pixelRange: 'unit'` is the port's [0, 1] image convention, converted at the model's boundary
// (Tessera images stay in [-1, 1]). `logitLaplace: true` makes the decoder predict μ and ln b per
// channel (2·C outputs) for the logit-Laplace likelihood (DALL-E, appendix A.3); the reconstruction
// is then the distribution's centre mapped back to pixels.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { scaledDotProductAttention } from '../torch/functional.js';
import { Module, Linear, LayerNorm, Conv2d, ConvTranspose2d, ModuleList, ModuleDict, init } from '../nn/index.js';
import { createQuantizer, type Quantizer, type QuantizerConfig } from '../quantize/index.js';
import { ConfigError, checkBoolean, checkEnum, checkPositiveInt, isObject, rejectUnknownKeys } from '../io/validate.js';
import { ConvTokenizer, resolveQuantizer, type QuantizerSpec } from './base.js';
import type { TokenizerOutput } from './types.js';
import { LOGIT_LAPLACE_EPS } from '../losses/logit-laplace.js';

export interface ViTSideConfig {
  /** Width of the residual stream. */
  dim: number;
  depth: number;
  heads: number;
  /** Hidden width of the block MLPs. */
  mlpDim: number;
  /** Per-head width; inner attention width = heads·headDim (default dim / heads; the port fixes 64). */
  headDim?: number;
}

export type TanhFfnPlacement = 'output' | 'every-block';

export interface ViTVQGANConfig {
  imageSize: number;
  patchSize: number;
  inChannels: number;
  encoder: Required<ViTSideConfig>;
  decoder: Required<ViTSideConfig>;
  /** Lookup dimension (the port's embed_dim): pre_quant maps the encoder width down to it. */
  codeDim: number;
  tanhFfn: TanhFfnPlacement;
  /** Decoder predicts μ and ln b per channel (logit-Laplace); recon = unmap(sigmoid(μ)). */
  logitLaplace: boolean;
  /** 'signed' = the model sees [-1, 1] (Tessera); 'unit' = [0, 1] at the model boundary (the port). */
  pixelRange: 'signed' | 'unit';
  /** The quantizer on codeDim-d vectors (default: l2-normalised VQ, β 0.25, the paper's). */
  quantizer: QuantizerConfig;
}

export interface ViTVQGANConfigInput {
  imageSize: number;
  patchSize: number;
  inChannels?: number;
  encoder: ViTSideConfig;
  decoder: ViTSideConfig;
  codeDim: number;
  tanhFfn?: TanhFfnPlacement;
  logitLaplace?: boolean;
  pixelRange?: 'signed' | 'unit';
  quantizer: QuantizerSpec;
}

const CONFIG_KEYS = ['imageSize', 'patchSize', 'inChannels', 'encoder', 'decoder', 'codeDim', 'tanhFfn', 'logitLaplace', 'pixelRange', 'quantizer'];
const SIDE_KEYS = ['dim', 'depth', 'heads', 'mlpDim', 'headDim'];

function resolveSide(c: ViTSideConfig, where: string): Required<ViTSideConfig> {
  if (!isObject(c)) throw new ConfigError(`${where}: expected {dim, depth, heads, mlpDim}`);
  rejectUnknownKeys(c, SIDE_KEYS, where);
  const dim = checkPositiveInt(c.dim, `${where}.dim`);
  const heads = checkPositiveInt(c.heads, `${where}.heads`);
  let headDim: number;
  if (c.headDim !== undefined) headDim = checkPositiveInt(c.headDim, `${where}.headDim`);
  else if (dim % heads !== 0) throw new ConfigError(`${where}: dim (${dim}) must be divisible by heads (${heads}), or give headDim`);
  else headDim = dim / heads;
  return { dim, depth: checkPositiveInt(c.depth, `${where}.depth`), heads, mlpDim: checkPositiveInt(c.mlpDim, `${where}.mlpDim`), headDim };
}

/** Validates a ViT-VQGAN config and fills its defaults; every error is one ConfigError line. */
export function resolveViTVQGANConfig(c: ViTVQGANConfigInput, who = 'ViTVQGAN'): ViTVQGANConfig {
  if (!isObject(c)) throw new ConfigError(`${who}: config must be an object`);
  rejectUnknownKeys(c, CONFIG_KEYS, `${who}: config`);
  const imageSize = checkPositiveInt(c.imageSize, `${who}: imageSize`);
  const patchSize = checkPositiveInt(c.patchSize, `${who}: patchSize`);
  if (imageSize % patchSize !== 0) {
    throw new ConfigError(`${who}: patchSize ${patchSize} does not divide imageSize ${imageSize} (the patch grid must tile the image exactly)`);
  }
  const encoder = resolveSide(c.encoder, `${who}: encoder`);
  const decoder = resolveSide(c.decoder, `${who}: decoder`);
  for (const [side, s] of [
    ['encoder', encoder],
    ['decoder', decoder],
  ] as const) {
    if (s.dim % 4 !== 0) throw new ConfigError(`${who}: ${side}.dim ${s.dim} must be a multiple of 4 (2-D sin-cos positions: sin and cos per axis)`);
  }
  const codeDim = checkPositiveInt(c.codeDim, `${who}: codeDim`);
  if (codeDim > encoder.dim) {
    throw new ConfigError(
      `${who}: codeDim (lookup dimension) ${codeDim} is larger than the encoder width ${encoder.dim}; the factorized lookup projects down (paper: 768 → 32 or 8)`,
    );
  }
  const quantizer = resolveQuantizer(c.quantizer, codeDim, who);
  return {
    imageSize,
    patchSize,
    inChannels: checkPositiveInt(c.inChannels ?? 3, `${who}: inChannels`),
    encoder,
    decoder,
    codeDim,
    tanhFfn: checkEnum(c.tanhFfn ?? 'output', ['output', 'every-block'] as const, `${who}: tanhFfn`),
    logitLaplace: checkBoolean(c.logitLaplace ?? false, `${who}: logitLaplace`),
    pixelRange: checkEnum(c.pixelRange ?? 'signed', ['signed', 'unit'] as const, `${who}: pixelRange`),
    quantizer,
  };
}

// ---------------------------------------------------------------- presets

/** The paper's sizes (Table 1) and small ones for a 2-core CPU. */
export const VITVQGAN_SIDES = {
  small: { dim: 512, depth: 8, heads: 8, mlpDim: 2048 },
  base: { dim: 768, depth: 12, heads: 12, mlpDim: 3072 },
  large: { dim: 1280, depth: 32, heads: 16, mlpDim: 5120 },
  /** CPU presets (this machine): 8×8 or 4×4 tokens from 64 / 32 px emoji with 8 px patches. */
  cpu: { dim: 256, depth: 4, heads: 4, mlpDim: 1024 },
  tiny: { dim: 128, depth: 2, heads: 4, mlpDim: 256 },
} as const satisfies Record<string, ViTSideConfig>;

export type ViTVQGANPreset = 'small' | 'base' | 'cpu-64' | 'cpu-32' | 'tiny-32';

/**
 * Named configs: 'small' / 'base' are the paper's SS / BB at 256 px (8×8 patches, 8192 codes,
 * 32-d l2-normalised lookup); 'cpu-64' (64 px → 8×8 tokens), 'cpu-32' and 'tiny-32' (32 px → 4×4).
 */
export function vitvqganPreset(name: ViTVQGANPreset, opts: { codebookSize?: number; codeDim?: number } = {}): ViTVQGANConfigInput {
  const make = (size: number, side: ViTSideConfig, k: number, d: number): ViTVQGANConfigInput => ({
    imageSize: size,
    patchSize: 8,
    encoder: { ...side },
    decoder: { ...side },
    codeDim: opts.codeDim ?? d,
    // The paper's codebook: l2-normalised codes, β 0.25, no k-means or restarts needed.
    quantizer: { type: 'vq', codebookSize: opts.codebookSize ?? k, beta: 0.25, l2Normalize: true },
  });
  switch (name) {
    case 'small':
      return make(256, VITVQGAN_SIDES.small, 8192, 32);
    case 'base':
      return make(256, VITVQGAN_SIDES.base, 8192, 32);
    case 'cpu-64':
      return make(64, VITVQGAN_SIDES.cpu, 1024, 16);
    case 'cpu-32':
      return make(32, VITVQGAN_SIDES.cpu, 1024, 16);
    case 'tiny-32':
      return make(32, VITVQGAN_SIDES.tiny, 512, 8);
    default:
      throw new ConfigError(`vitvqganPreset: unknown preset '${String(name)}' (small, base, cpu-64, cpu-32, tiny-32)`);
  }
}

// ---------------------------------------------------------------- positions

/**
 * Fixed 2-D sin-cos position embedding [1, g·g, dim] (MAE's get_2d_sincos_pos_embed): half the
 * channels encode the column, half the row, each as [sin(p·ω_k), cos(p·ω_k)] with ω_k = 10000^(−k/(D/4)).
 */
export function sincosPositions2d(dim: number, grid: number): Tensor {
  if (dim % 4 !== 0) throw new ConfigError(`sin-cos positions: width ${dim} must be a multiple of 4`);
  const q = dim / 4;
  const out = new Float32Array(grid * grid * dim);
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      const o = (r * grid + c) * dim;
      for (let k = 0; k < q; k++) {
        const w = 1 / 10000 ** (k / q);
        out[o + k] = Math.sin(c * w); // first half: column (MAE meshgrid puts w first)
        out[o + q + k] = Math.cos(c * w);
        out[o + 2 * q + k] = Math.sin(r * w);
        out[o + 3 * q + k] = Math.cos(r * w);
      }
    }
  }
  return T.tensor(out, { shape: [1, grid * grid, dim] });
}

// ---------------------------------------------------------------- transformer

/** Multi-head self-attention with the port's names: to_qkv (no bias), to_out (bias). */
export class Attention extends Module {
  readonly to_qkv: Linear;
  readonly to_out: Linear | null;
  constructor(
    dim: number,
    readonly heads: number,
    readonly headDim: number,
  ) {
    super();
    this.to_qkv = this.add('to_qkv', new Linear(dim, 3 * heads * headDim, { bias: false }));
    // The port (after lucidrains' vit-pytorch) drops the output projection for one head as wide as the model.
    this.to_out = heads === 1 && headDim === dim ? null : this.add('to_out', new Linear(heads * headDim, dim));
  }
  forward(x: Tensor): Tensor {
    const [b, n] = x.shape as [number, number, number];
    const split = (t: Tensor): Tensor => t.reshape([b, n, this.heads, this.headDim]).transpose(1, 2);
    const [q, k, v] = this.to_qkv.forward(x).chunk(3, -1).map(split) as [Tensor, Tensor, Tensor];
    const o = scaledDotProductAttention(q, k, v)
      .transpose(1, 2)
      .reshape([b, n, this.heads * this.headDim]);
    return this.to_out ? this.to_out.forward(o) : o;
  }
}

/** Two-layer MLP `net.0` → activation → `net.2` (the port's FeedForward keys). */
export class FeedForward extends Module {
  readonly net: ModuleDict<Linear>;
  readonly #hidden: Linear;
  readonly #out: Linear;
  constructor(
    dim: number,
    hidden: number,
    readonly activation: 'tanh' | 'gelu',
  ) {
    super();
    // Index 1 is the parameter-free activation, so keys are net.0.* and net.2.* as upstream.
    this.#hidden = new Linear(dim, hidden);
    this.#out = new Linear(hidden, dim);
    this.net = this.add(
      'net',
      new ModuleDict<Linear>([
        ['0', this.#hidden],
        ['2', this.#out],
      ]),
    );
  }
  forward(x: Tensor): Tensor {
    const a = this.#hidden.forward(x);
    return this.#out.forward(this.activation === 'tanh' ? a.tanh() : T.gelu(a));
  }
}

/** LayerNorm then fn (the port's PreNorm: keys `norm.*`, `fn.*`). */
export class PreNorm<M extends Attention | FeedForward> extends Module {
  readonly norm: LayerNorm;
  readonly fn: M;
  constructor(dim: number, fn: M) {
    super();
    this.norm = this.add('norm', new LayerNorm(dim));
    this.fn = fn;
    this.add('fn', fn);
  }
  forward(x: Tensor): Tensor {
    return this.fn.forward(this.norm.forward(x));
  }
}

/** Pre-LN blocks `layers.{i}.{0,1}`, final LayerNorm `norm`, and (tanhFfn 'output') the tanh FFN `out_ffn`. */
export class ViTTransformer extends Module {
  readonly layers: ModuleList<ModuleList>;
  readonly norm: LayerNorm;
  readonly out_ffn: FeedForward | null = null;
  constructor(c: Required<ViTSideConfig>, tanhFfn: TanhFfnPlacement) {
    super();
    this.layers = this.add('layers', new ModuleList<ModuleList>());
    for (let i = 0; i < c.depth; i++) {
      const block = new ModuleList();
      block.append(new PreNorm(c.dim, new Attention(c.dim, c.heads, c.headDim)));
      block.append(new PreNorm(c.dim, new FeedForward(c.dim, c.mlpDim, tanhFfn === 'every-block' ? 'tanh' : 'gelu')));
      this.layers.append(block);
    }
    // The author of the port: the final norm is "very, very, very important" for stability.
    this.norm = this.add('norm', new LayerNorm(c.dim));
    if (tanhFfn === 'output') this.out_ffn = this.add('out_ffn', new FeedForward(c.dim, c.dim, 'tanh'));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const block of this.layers) {
      const [attn, ff] = [block.at(0) as PreNorm<Attention>, block.at(1) as PreNorm<FeedForward>];
      h = attn.forward(h).add(h);
      h = ff.forward(h).add(h);
    }
    h = this.norm.forward(h);
    return this.out_ffn ? this.out_ffn.forward(h) : h;
  }
}

export class ViTEncoder extends Module {
  readonly to_patch_embedding: ModuleList<Conv2d>;
  readonly en_pos_embedding: Tensor;
  readonly transformer: ViTTransformer;
  constructor(c: ViTVQGANConfig) {
    super();
    const s = c.encoder;
    this.to_patch_embedding = this.add('to_patch_embedding', new ModuleList<Conv2d>([new Conv2d(c.inChannels, s.dim, c.patchSize, { stride: c.patchSize })]));
    this.en_pos_embedding = this.buffer('en_pos_embedding', sincosPositions2d(s.dim, c.imageSize / c.patchSize));
    this.transformer = this.add('transformer', new ViTTransformer(s, c.tanhFfn));
  }
  /** images [B, C, H, W] → tokens [B, h·w, dim]. */
  forward(x: Tensor): Tensor {
    const p = this.to_patch_embedding.at(0).forward(x);
    const tokens = p.flatten(2).transpose(1, 2);
    return this.transformer.forward(tokens.add(this.en_pos_embedding));
  }
}

export class ViTDecoder extends Module {
  readonly de_pos_embedding: Tensor;
  readonly transformer: ViTTransformer;
  readonly to_pixel: ModuleDict<ConvTranspose2d>;
  readonly conv: ConvTranspose2d;
  constructor(c: ViTVQGANConfig) {
    super();
    const s = c.decoder;
    const outCh = c.logitLaplace ? 2 * c.inChannels : c.inChannels;
    this.de_pos_embedding = this.buffer('de_pos_embedding', sincosPositions2d(s.dim, c.imageSize / c.patchSize));
    this.transformer = this.add('transformer', new ViTTransformer(s, c.tanhFfn));
    // Index 0 of the port's to_pixel is a parameter-free Rearrange: the conv is to_pixel.1.
    this.conv = new ConvTranspose2d(s.dim, outCh, c.patchSize, { stride: c.patchSize });
    this.to_pixel = this.add('to_pixel', new ModuleDict([['1', this.conv]]));
  }
  /** tokens [B, h·w, dim] → raw outputs [B, outCh, h·p, w·p]. The position embedding is added (the port's fix c3a947e). */
  forward(tokens: Tensor, h: number, w: number): Tensor {
    const x = this.transformer.forward(tokens.add(this.de_pos_embedding));
    return this.conv.forward(x.transpose(1, 2).reshape([x.size(0), x.size(2), h, w]));
  }
}

export class ViTVQGAN extends ConvTokenizer {
  readonly kind = 'vitvqgan' as const;
  readonly config: ViTVQGANConfig;
  readonly downsample: number;
  readonly inChannels: number;
  readonly encoder: ViTEncoder;
  readonly pre_quant: Linear;
  readonly quantize: Quantizer;
  readonly post_quant: Linear;
  readonly decoder: ViTDecoder;

  constructor(config: ViTVQGANConfigInput) {
    super();
    const c = resolveViTVQGANConfig(config);
    this.config = c;
    this.downsample = c.patchSize;
    this.inChannels = c.inChannels;
    this.encoder = this.add('encoder', new ViTEncoder(c));
    this.pre_quant = this.add('pre_quant', new Linear(c.encoder.dim, c.codeDim));
    this.quantize = this.add('quantize', createQuantizer(c.quantizer));
    this.post_quant = this.add('post_quant', new Linear(c.codeDim, c.decoder.dim));
    this.decoder = this.add('decoder', new ViTDecoder(c));
    // JAX ViT init (as the port): xavier-uniform Linear weights, zero biases.
    for (const part of [this.encoder, this.pre_quant, this.post_quant, this.decoder]) {
      for (const m of part.modules()) {
        if (!(m instanceof Linear)) continue;
        init.xavierUniform_(m.weight);
        if (m.bias) init.zeros_(m.bias);
      }
    }
  }

  override checkImages(images: Tensor, method: string): void {
    super.checkImages(images, method);
    const [h, w] = [images.size(2), images.size(3)];
    const s = this.config.imageSize;
    if (h !== s || w !== s) throw new Error(`ViTVQGAN.${method}: this model's position embeddings are for ${s}×${s} images, got ${h}×${w}`);
  }

  /** images [-1, 1] → codeDim latent [B, codeDim, h, w] (pre_quant output, before the quantizer's l2 normalisation). */
  encodeLatent(images: Tensor): Tensor {
    const x = this.config.pixelRange === 'unit' ? images.add(1).mul(0.5) : images;
    const g = this.config.imageSize / this.config.patchSize;
    const z = this.pre_quant.forward(this.encoder.forward(x));
    return z.transpose(1, 2).reshape([z.size(0), this.config.codeDim, g, g]);
  }

  /** The decoder's raw output [B, C or 2C, H, W] for a quantized latent [B, codeDim, h, w]. */
  decodeRaw(zq: Tensor): Tensor {
    const [b, d, h, w] = zq.shape as [number, number, number, number];
    const tokens = this.post_quant.forward(zq.reshape([b, d, h * w]).transpose(1, 2));
    return this.decoder.forward(tokens, h, w);
  }

  /** Raw decoder output → images in [-1, 1] (not clamped). */
  toImages(raw: Tensor): Tensor {
    if (this.config.logitLaplace) {
      const mu = raw.narrow(1, 0, this.inChannels);
      // Centre of the logit-Laplace: sigmoid(μ) in (ε, 1−ε), unmapped to [0, 1], then to [-1, 1].
      const e = LOGIT_LAPLACE_EPS;
      return mu
        .sigmoid()
        .sub(e)
        .mul(1 / (1 - 2 * e))
        .mul(2)
        .sub(1);
    }
    return this.config.pixelRange === 'unit' ? raw.mul(2).sub(1) : raw;
  }

  decodeLatent(zq: Tensor): Tensor {
    return this.toImages(this.decodeRaw(zq));
  }

  override forward(images: Tensor): TokenizerOutput {
    this.checkImages(images, 'forward');
    return T.tidy(() => {
      const quant = this.quantize.quantize(this.encodeLatent(images));
      const raw = this.decodeRaw(quant.zq);
      const out: TokenizerOutput = { recon: this.toImages(raw), quant };
      if (this.config.logitLaplace) out.logitLaplace = { mu: raw.narrow(1, 0, this.inChannels), logScale: raw.narrow(1, this.inChannels, this.inChannels) };
      return out;
    });
  }

  lastLayerWeight(): Tensor {
    return this.decoder.conv.weight;
  }
}
