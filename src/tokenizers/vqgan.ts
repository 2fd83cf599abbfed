// VQGAN (Esser et al., "Taming Transformers for High-Resolution Image Synthesis"), checkpoint-
// compatible with CompVis taming-transformers' VQModel:
//   encoder → quant_conv (1×1, z_channels → embed_dim) → quantize → post_quant_conv (1×1) → decoder.
// The adversarial/perceptual training loss lives elsewhere; lastLayerWeight() is where its
// adaptive weight takes gradients.
import type { Tensor } from '../torch/index.js';
import { Conv2d } from '../nn/index.js';
import { createQuantizer, type Quantizer, type QuantizerConfig } from '../quantize/index.js';
import { Encoder, Decoder, resolveDDConfig, downsampleFactor, type DDConfig, type DDConfigInput, type NormFactory } from './blocks.js';
import { ConvTokenizer, resolveQuantizer, checkPositiveInt, type QuantizerSpec } from './base.js';
import { ConfigError, isObject, rejectUnknownKeys } from '../io/validate.js';

export interface VQGANConfig {
  ddconfig: DDConfig;
  /** Channels of the quantized latent (taming's embed_dim). */
  embedDim: number;
  /** The quantizer on the embedDim-channel latent (taming: { type: 'vq', codebookSize: n_embed, legacy: true }). */
  quantizer: QuantizerConfig;
}

export interface VQGANConfigInput {
  ddconfig: DDConfigInput;
  embedDim: number;
  quantizer: QuantizerSpec;
}

const CONFIG_KEYS = ['ddconfig', 'embedDim', 'quantizer'];

/** Validates a VQGAN/MoVQ-style config and fills defaults. `extraKeys` are allowed top-level fields. */
export function resolveVQGANConfig(c: VQGANConfigInput, who: string, extraKeys: string[] = []): VQGANConfig {
  if (!isObject(c)) throw new ConfigError(`${who}: config must be an object`);
  rejectUnknownKeys(c, [...CONFIG_KEYS, ...extraKeys], `${who}: config`);
  const ddconfig = resolveDDConfig(c.ddconfig, `${who}: ddconfig`);
  if (ddconfig.doubleZ) throw new Error(`${who}: ddconfig.doubleZ must be false for a VQ model (quant_conv takes zChannels)`);
  const embedDim = checkPositiveInt(c.embedDim, `${who}: embedDim`);
  return { ddconfig, embedDim, quantizer: resolveQuantizer(c.quantizer, embedDim, who) };
}

/**
 * taming's VQModel layout — encoder → quant_conv → quantize → post_quant_conv → decoder, registered
 * in that attribute order so state-dict keys come out as upstream. VQGAN and MoVQ differ only in the
 * decoder's normalization and in what the decoder is given, so both build on this.
 */
export abstract class TamingVQModel extends ConvTokenizer {
  readonly downsample: number;
  readonly inChannels: number;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantize: Quantizer;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;

  protected constructor(config: VQGANConfig, decoderNorm?: NormFactory) {
    super();
    const { ddconfig: dd, embedDim } = config;
    this.downsample = downsampleFactor(dd);
    this.inChannels = dd.inChannels;
    this.encoder = this.add('encoder', new Encoder(dd));
    this.decoder = this.add('decoder', new Decoder(dd, decoderNorm ? { norm: decoderNorm } : {}));
    this.quantize = this.add('quantize', createQuantizer(config.quantizer));
    this.quant_conv = this.add('quant_conv', new Conv2d(dd.zChannels, embedDim, 1));
    this.post_quant_conv = this.add('post_quant_conv', new Conv2d(embedDim, dd.zChannels, 1));
  }

  encodeLatent(images: Tensor): Tensor {
    return this.quant_conv.forward(this.encoder.forward(images));
  }

  lastLayerWeight(): Tensor {
    return this.decoder.conv_out.weight;
  }
}

export class VQGAN extends TamingVQModel {
  readonly kind = 'vqgan' as const;
  readonly config: VQGANConfig;

  constructor(config: VQGANConfigInput) {
    const resolved = resolveVQGANConfig(config, 'VQGAN');
    super(resolved);
    this.config = resolved;
  }

  decodeLatent(zq: Tensor): Tensor {
    return this.decoder.forward(this.post_quant_conv.forward(zq));
  }
}
