// VQ-VAE-2 (Razavi, van den Oord & Vinyals, "Generating Diverse High-Fidelity Images with VQ-VAE-2",
// 2019): a two-level tokenizer. The bottom encoder downsamples ×4, the top encoder ×2 more; the top
// latent is quantized, decoded back to the bottom grid and concatenated into the bottom quantizer's
// input, so the bottom code only has to carry what the coarse top code (global structure) lacks. The
// final decoder sees the upsampled top code concatenated with the bottom code.
//
// Module and buffer names follow rosinality/vq-vae-2-pytorch (vqvae.py), the most-used port, so its
// checkpoints (e.g. vqvae_560.pt) load as they are: enc_b, enc_t, quantize_conv_t, quantize_t.{embed,
// cluster_size,embed_avg} (EMA codebook, `embed` stored [dim, K]), dec_t, quantize_conv_b, quantize_b,
// upsample_t, dec — each stack a Sequential `blocks` with ReLUs at their indices, residual blocks
// `conv.{1,3}` (ReLU → 3×3 → ReLU → 1×1, plus the input).
import type { Tensor } from '../torch/index.js';
import * as T from '../torch/index.js';
import { Module, Conv2d, ConvTranspose2d, ReLU, Sequential } from '../nn/index.js';
import { createQuantizer, type Quantizer, type QuantizerConfig, type CodebookStats } from '../quantize/index.js';
import { ConvTokenizer, resolveQuantizer, checkPositiveInt, type QuantizerSpec } from './base.js';
import type { TokenLevelInfo, TokenizerOutput } from './types.js';
import { ConfigError, checkInt, isObject, rejectUnknownKeys } from '../io/validate.js';

export interface VQVAE2Config {
  inChannels: number;
  /** Hidden width of the encoders and decoders (rosinality: channel, 128). */
  channel: number;
  /** Residual blocks per stack (n_res_block, 2) and their bottleneck width (n_res_channel, 32). */
  nResBlock: number;
  nResChannel: number;
  /** Code vector size of both levels (embed_dim, 64). */
  embedDim: number;
  /** One quantizer config, instantiated per level (each level has its own codebook). */
  quantizer: QuantizerConfig;
}

export interface VQVAE2ConfigInput extends Partial<Omit<VQVAE2Config, 'quantizer'>> {
  quantizer?: QuantizerSpec;
}

/** rosinality's defaults: 512 codes per level, EMA decay 0.99, ε 1e-5, β 0.25. */
export const DEFAULT_VQVAE2: Omit<VQVAE2Config, 'quantizer'> & { quantizer: QuantizerSpec } = {
  inChannels: 3,
  channel: 128,
  nResBlock: 2,
  nResChannel: 32,
  embedDim: 64,
  quantizer: { type: 'vq', codebookSize: 512, beta: 0.25, ema: { decay: 0.99, eps: 1e-5 } },
};

const KEYS = ['inChannels', 'channel', 'nResBlock', 'nResChannel', 'embedDim', 'quantizer'];

export function resolveVQVAE2Config(c: VQVAE2ConfigInput): VQVAE2Config {
  if (!isObject(c)) throw new ConfigError('VQVAE2: config must be an object');
  rejectUnknownKeys(c, KEYS, 'VQVAE2: config');
  const cfg = { ...DEFAULT_VQVAE2, ...c };
  for (const k of ['inChannels', 'channel', 'nResChannel', 'embedDim'] as const) checkPositiveInt(cfg[k], `VQVAE2: ${k}`);
  checkInt(cfg.nResBlock, 'VQVAE2: nResBlock', { min: 0 });
  if (cfg.channel % 2 !== 0) throw new ConfigError(`VQVAE2: channel must be even (the first convolutions use channel / 2), got ${cfg.channel}`);
  let quantizer = resolveQuantizer(cfg.quantizer, cfg.embedDim, 'VQVAE2');
  // An EMA vector quantizer takes rosinality's buffer layout, so its checkpoints load unchanged.
  if (quantizer.type === 'vq' && quantizer.ema && quantizer.layout === undefined) quantizer = { ...quantizer, layout: 'vqvae2' };
  return { ...cfg, quantizer };
}

/** x + conv(x), conv = ReLU → 3×3 (C → hidden) → ReLU → 1×1 (hidden → C) (keys conv.1, conv.3). */
export class ResBlock extends Module {
  readonly conv: Sequential;
  constructor(channels: number, hidden: number) {
    super();
    this.conv = this.add('conv', new Sequential(new ReLU(), new Conv2d(channels, hidden, 3, { padding: 1 }), new ReLU(), new Conv2d(hidden, channels, 1)));
  }
  forward(x: Tensor): Tensor {
    return x.add(this.conv.forward(x));
  }
}

const resBlocks = (c: VQVAE2Config): ResBlock[] => Array.from({ length: c.nResBlock }, () => new ResBlock(c.channel, c.nResChannel));

/** Downsamples ×stride (4 or 2): strided 4×4 convolutions, a 3×3, residual blocks, ReLU. */
export class Encoder extends Module {
  readonly blocks: Sequential;
  constructor(inCh: number, c: VQVAE2Config, stride: 2 | 4) {
    super();
    const half = c.channel / 2;
    const s2 = { stride: 2, padding: 1 };
    const head =
      stride === 4
        ? [new Conv2d(inCh, half, 4, s2), new ReLU(), new Conv2d(half, c.channel, 4, s2), new ReLU(), new Conv2d(c.channel, c.channel, 3, { padding: 1 })]
        : [new Conv2d(inCh, half, 4, s2), new ReLU(), new Conv2d(half, c.channel, 3, { padding: 1 })];
    this.blocks = this.add('blocks', new Sequential(...head, ...resBlocks(c), new ReLU()));
  }
  forward(x: Tensor): Tensor {
    return this.blocks.forward(x);
  }
}

/** Upsamples ×stride (4 or 2): a 3×3, residual blocks, ReLU, strided 4×4 transposed convolutions. */
export class Decoder extends Module {
  readonly blocks: Sequential;
  constructor(inCh: number, outCh: number, c: VQVAE2Config, stride: 2 | 4) {
    super();
    const s2 = { stride: 2, padding: 1 };
    const tail =
      stride === 4
        ? [new ConvTranspose2d(c.channel, c.channel / 2, 4, s2), new ReLU(), new ConvTranspose2d(c.channel / 2, outCh, 4, s2)]
        : [new ConvTranspose2d(c.channel, outCh, 4, s2)];
    this.blocks = this.add('blocks', new Sequential(new Conv2d(inCh, c.channel, 3, { padding: 1 }), ...resBlocks(c), new ReLU(), ...tail));
  }
  forward(x: Tensor): Tensor {
    return this.blocks.forward(x);
  }
}

/** Both levels' quantized latents and results (top first). */
interface LevelsForward {
  quantT: Tensor;
  quantB: Tensor;
  top: ReturnType<Quantizer['quantize']>;
  bottom: ReturnType<Quantizer['quantize']>;
}

export class VQVAE2 extends ConvTokenizer {
  readonly kind = 'vqvae2' as const;
  readonly config: VQVAE2Config;
  /** The top level's factor (8): image sides must be multiples of it. */
  readonly downsample = 8;
  readonly inChannels: number;
  readonly enc_b: Encoder;
  readonly enc_t: Encoder;
  readonly quantize_conv_t: Conv2d;
  readonly quantize_t: Quantizer;
  readonly dec_t: Decoder;
  readonly quantize_conv_b: Conv2d;
  readonly quantize_b: Quantizer;
  readonly upsample_t: ConvTranspose2d;
  readonly dec: Decoder;

  constructor(config: VQVAE2ConfigInput = {}) {
    super();
    this.config = resolveVQVAE2Config(config);
    const c = this.config;
    this.inChannels = c.inChannels;
    const e = c.embedDim;
    this.enc_b = this.add('enc_b', new Encoder(c.inChannels, c, 4));
    this.enc_t = this.add('enc_t', new Encoder(c.channel, c, 2));
    this.quantize_conv_t = this.add('quantize_conv_t', new Conv2d(c.channel, e, 1));
    this.quantize_t = this.add('quantize_t', createQuantizer(c.quantizer));
    this.dec_t = this.add('dec_t', new Decoder(e, e, c, 2));
    this.quantize_conv_b = this.add('quantize_conv_b', new Conv2d(e + c.channel, e, 1));
    this.quantize_b = this.add('quantize_b', createQuantizer(c.quantizer));
    this.upsample_t = this.add('upsample_t', new ConvTranspose2d(e, e, 4, { stride: 2, padding: 1 }));
    this.dec = this.add('dec', new Decoder(2 * e, c.inChannels, c, 4));
  }

  /** The bottom quantizer (the finer level): what single-level callers see as `quantize`. */
  get quantize(): Quantizer {
    return this.quantize_b;
  }

  override get levels(): readonly TokenLevelInfo[] {
    const level = (name: string, downsample: number, q: Quantizer): TokenLevelInfo => ({
      name,
      downsample,
      codebookSize: q.codebookSize,
      tokensPerPosition: q.tokensPerPosition,
    });
    return [level('top', 8, this.quantize_t), level('bottom', 4, this.quantize_b)];
  }

  #forwardLevels(images: Tensor): LevelsForward {
    const encB = this.enc_b.forward(images);
    const encT = this.enc_t.forward(encB);
    const top = this.quantize_t.quantize(this.quantize_conv_t.forward(encT));
    const decT = this.dec_t.forward(top.zq);
    const bottom = this.quantize_b.quantize(this.quantize_conv_b.forward(T.cat([decT, encB], 1)));
    return { quantT: top.zq, quantB: bottom.zq, top, bottom };
  }

  #decodeQuantized(quantT: Tensor, quantB: Tensor): Tensor {
    return this.dec.forward(T.cat([this.upsample_t.forward(quantT), quantB], 1));
  }

  /** images → [top [B, H/8, W/8], bottom [B, H/4, W/4]] int64, without updating the codebooks. */
  override encodeLevels(images: Tensor): Tensor[] {
    this.checkImages(images, 'encodeLevels');
    const quantizers = [this.quantize_t, this.quantize_b];
    const was = quantizers.map((q) => q.training);
    quantizers.forEach((q) => q.eval());
    try {
      return T.noGrad(() =>
        T.tidy(() => {
          const r = this.#forwardLevels(images);
          return [r.top.indices, r.bottom.indices];
        }),
      );
    } finally {
      quantizers.forEach((q, i) => q.train(was[i]));
    }
  }

  /** [top, bottom] index grids → images; the bottom grid must be twice the top's in each side. */
  override decodeLevels(indices: readonly Tensor[]): Tensor {
    const who = 'VQVAE2.decode';
    if (indices.length !== 2) throw new Error(`${who}: expected 2 token levels (top, bottom), got ${indices.length}`);
    const [top, bottom] = indices as [Tensor, Tensor];
    for (const [name, t] of [
      ['top', top],
      ['bottom', bottom],
    ] as const) {
      if (t.shape.length !== 3 || t.dtype !== 'int64')
        throw new Error(`${who}: the ${name} level must be int64 [B, h, w], got ${t.dtype} [${t.shape.join(', ')}]`);
    }
    const [b, h, w] = top.shape as [number, number, number];
    if (bottom.size(0) !== b || bottom.size(1) !== 2 * h || bottom.size(2) !== 2 * w) {
      throw new Error(
        `${who}: the bottom grid [${bottom.shape.join(', ')}] must be twice the top grid ${h}×${w} (${2 * h}×${2 * w}) for the same ${b} image(s)`,
      );
    }
    return T.tidy(() => this.#decodeQuantized(this.quantize_t.lookup(top), this.quantize_b.lookup(bottom)));
  }

  override encode(_images: Tensor): Tensor {
    throw new Error('VQVAE2.encode: VQ-VAE-2 has two token levels (top, bottom): use encodeLevels(images)');
  }
  override decode(_indices: Tensor): Tensor {
    throw new Error('VQVAE2.decode: VQ-VAE-2 has two token levels (top, bottom): use decodeLevels([top, bottom])');
  }
  encodeLatent(_images: Tensor): Tensor {
    throw new Error('VQVAE2: the latent is two levels; use forward or encodeLevels');
  }
  decodeLatent(_zq: Tensor): Tensor {
    throw new Error('VQVAE2: the latent is two levels; use decodeLevels');
  }

  /**
   * Training forward: reconstruction, and the two levels' quantizer results combined — loss =
   * β·commitment summed over the levels (rosinality: latent_loss = diff_t + diff_b), indices and
   * stats of the bottom level with both levels under stats.perCodebook (top first).
   */
  override forward(images: Tensor): TokenizerOutput {
    this.checkImages(images, 'forward');
    return T.tidy(() => {
      const r = this.#forwardLevels(images);
      const stats: CodebookStats = { ...r.bottom.stats, perCodebook: [r.top.stats, r.bottom.stats] };
      return {
        recon: this.#decodeQuantized(r.quantT, r.quantB),
        quant: { zq: r.quantB, indices: r.bottom.indices, loss: r.top.loss.add(r.bottom.loss), stats },
      };
    });
  }

  lastLayerWeight(): Tensor {
    return (this.dec.blocks.at(-1) as ConvTranspose2d).weight;
  }
}
