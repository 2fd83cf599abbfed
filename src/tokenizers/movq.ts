// MoVQ (Zheng et al., "MoVQ: Modulating Quantized Vectors for High-Fidelity Image Generation"),
// checkpoint-compatible with SBER's MoVQGAN (ai-forever/MoVQGAN):
//   - the encoder, quant_conv and post_quant_conv are VQGAN's;
//   - the decoder is VQGAN's with every GroupNorm replaced by SpatialNorm, conditioned on the RAW
//     quantized latent zq (embedDim channels, before post_quant_conv), while decoder.conv_in takes
//     post_quant_conv(zq) as in VQGAN;
//   - multichannel quantization (the paper's (b), absent from SBER's code) is a quantizer option:
//     { type: 'multichannel', groups: G, … }. zq is then the full recombined latent, so the spatial
//     norms always see embedDim channels and the state-dict keys do not change.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Conv2d, GroupNorm } from '../nn/index.js';
import { Normalize } from './blocks.js';
import { TamingVQModel, resolveVQGANConfig, type VQGANConfig, type VQGANConfigInput } from './vqgan.js';

/**
 * MoVQ's spatially conditional normalization: GroupNorm(f)·conv_y(zq') + conv_b(zq'), where zq' is
 * the quantized latent resized (nearest) to f's h×w. The per-position scale and shift let
 * neighbouring identical tokens decode to different patches. `addConv` is SBER's optional 3×3
 * conv on zq' (off in every released config).
 */
export class SpatialNorm extends Module {
  readonly norm_layer: GroupNorm;
  readonly conv?: Conv2d;
  readonly conv_y: Conv2d;
  readonly conv_b: Conv2d;

  constructor(
    readonly channels: number,
    readonly zqChannels: number,
    opts: { addConv?: boolean } = {},
  ) {
    super();
    this.norm_layer = this.add('norm_layer', Normalize(channels));
    if (opts.addConv) this.conv = this.add('conv', new Conv2d(zqChannels, zqChannels, 3, { padding: 1 }));
    this.conv_y = this.add('conv_y', new Conv2d(zqChannels, channels, 1));
    this.conv_b = this.add('conv_b', new Conv2d(zqChannels, channels, 1));
  }

  forward(f: Tensor, zq?: Tensor): Tensor {
    if (!zq) throw new Error('SpatialNorm: the quantized latent zq is required (MoVQ decoder called without it)');
    let z = T.interpolate(zq, { size: [f.size(2), f.size(3)], mode: 'nearest' });
    if (this.conv) z = this.conv.forward(z);
    return this.norm_layer.forward(f).mul(this.conv_y.forward(z)).add(this.conv_b.forward(z));
  }
}

export interface MoVQConfig extends VQGANConfig {
  /** SBER's optional 3×3 conv on zq inside each SpatialNorm (`add_conv`; off in released models). */
  addConv: boolean;
}

export interface MoVQConfigInput extends VQGANConfigInput {
  addConv?: boolean;
}

export class MoVQ extends TamingVQModel {
  readonly kind = 'movq' as const;
  readonly config: MoVQConfig;

  constructor(config: MoVQConfigInput) {
    const base = resolveVQGANConfig(config, 'MoVQ', ['addConv']);
    const addConv = config.addConv ?? false;
    if (typeof addConv !== 'boolean') throw new Error('MoVQ: addConv must be a boolean');
    super(base, (c) => new SpatialNorm(c, base.embedDim, { addConv }));
    this.config = { ...base, addConv };
  }

  /** The decoder sees post_quant_conv(zq) as input and zq itself in every SpatialNorm. */
  decodeLatent(zq: Tensor): Tensor {
    return this.decoder.forward(this.post_quant_conv.forward(zq), zq);
  }
}
