// A small convolutional VQ-VAE (van den Oord et al., "Neural Discrete Representation Learning"):
// the baseline the GAN-trained tokenizers are compared against. No normalization, no attention:
//   encoder: numDownsamples × (4×4 stride-2 conv, ReLU) → 3×3 conv → residual stack → ReLU
//   quant_conv (1×1 → embedDim) → quantize → post_quant_conv (1×1 → ch)
//   decoder: 3×3 conv → residual stack → ReLU → numDownsamples × 4×4 stride-2 transposed conv
//            (ReLU between them; the last one outputs the image).
// Residual layer: x + conv1×1(ReLU(conv3×3(ReLU(x)))), with a narrower hidden width resCh.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Conv2d, ConvTranspose2d, ModuleList } from '../nn/index.js';
import { createQuantizer, type Quantizer, type QuantizerConfig } from '../quantize/index.js';
import { ConvTokenizer, resolveQuantizer, checkPositiveInt, type QuantizerSpec } from './base.js';
import { ConfigError, checkInt, isObject, rejectUnknownKeys } from '../io/validate.js';

export interface VQVAEConfig {
  inChannels: number;
  outCh: number;
  /** Hidden width of both convolution stacks. */
  ch: number;
  /** Stride-2 convolutions; the downsampling factor is 2^numDownsamples. */
  numDownsamples: number;
  numResBlocks: number;
  /** Bottleneck width inside each residual layer. */
  resCh: number;
  embedDim: number;
  quantizer: QuantizerConfig;
}

export interface VQVAEConfigInput extends Partial<Omit<VQVAEConfig, 'quantizer' | 'embedDim'>> {
  embedDim: number;
  quantizer: QuantizerSpec;
}

export const DEFAULT_VQVAE: Omit<VQVAEConfig, 'embedDim' | 'quantizer'> = {
  inChannels: 3,
  outCh: 3,
  ch: 128,
  numDownsamples: 2,
  numResBlocks: 2,
  resCh: 32,
};

const KEYS = ['inChannels', 'outCh', 'ch', 'numDownsamples', 'numResBlocks', 'resCh', 'embedDim', 'quantizer'];

export function resolveVQVAEConfig(c: VQVAEConfigInput): VQVAEConfig {
  if (!isObject(c)) throw new ConfigError('VQVAE: config must be an object');
  rejectUnknownKeys(c, KEYS, 'VQVAE: config');
  const cfg = { ...DEFAULT_VQVAE, ...c } as VQVAEConfigInput & typeof DEFAULT_VQVAE;
  for (const k of ['inChannels', 'outCh', 'ch', 'numDownsamples', 'resCh', 'embedDim'] as const) checkPositiveInt(cfg[k], `VQVAE: ${k}`);
  checkInt(cfg.numResBlocks, 'VQVAE: numResBlocks', { min: 0 });
  return { ...cfg, quantizer: resolveQuantizer(c.quantizer, cfg.embedDim, 'VQVAE') };
}

/** x + conv2(ReLU(conv1(ReLU(x)))): 3×3 to resCh, 1×1 back. */
export class ResidualLayer extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;

  constructor(channels: number, hidden: number) {
    super();
    this.conv1 = this.add('conv1', new Conv2d(channels, hidden, 3, { padding: 1 }));
    this.conv2 = this.add('conv2', new Conv2d(hidden, channels, 1));
  }

  forward(x: Tensor): Tensor {
    return x.add(this.conv2.forward(T.relu(this.conv1.forward(T.relu(x)))));
  }
}

const resStack = (c: VQVAEConfig): ModuleList<ResidualLayer> => new ModuleList(Array.from({ length: c.numResBlocks }, () => new ResidualLayer(c.ch, c.resCh)));

export class VQVAEEncoder extends Module {
  readonly down: ModuleList<Conv2d>;
  readonly conv: Conv2d;
  readonly res: ModuleList<ResidualLayer>;

  constructor(c: VQVAEConfig) {
    super();
    const convs = Array.from({ length: c.numDownsamples }, (_, i) => new Conv2d(i === 0 ? c.inChannels : c.ch, c.ch, 4, { stride: 2, padding: 1 }));
    this.down = this.add('down', new ModuleList(convs));
    this.conv = this.add('conv', new Conv2d(c.ch, c.ch, 3, { padding: 1 }));
    this.res = this.add('res', resStack(c));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const conv of this.down) h = T.relu(conv.forward(h));
    h = this.conv.forward(h);
    for (const layer of this.res) h = layer.forward(h);
    return T.relu(h);
  }
}

export class VQVAEDecoder extends Module {
  readonly conv: Conv2d;
  readonly res: ModuleList<ResidualLayer>;
  readonly up: ModuleList<ConvTranspose2d>;

  constructor(c: VQVAEConfig) {
    super();
    this.conv = this.add('conv', new Conv2d(c.ch, c.ch, 3, { padding: 1 }));
    this.res = this.add('res', resStack(c));
    const n = c.numDownsamples;
    const ups = Array.from({ length: n }, (_, i) => new ConvTranspose2d(c.ch, i === n - 1 ? c.outCh : c.ch, 4, { stride: 2, padding: 1 }));
    this.up = this.add('up', new ModuleList(ups));
  }

  forward(x: Tensor): Tensor {
    let h = this.conv.forward(x);
    for (const layer of this.res) h = layer.forward(h);
    for (let i = 0; i < this.up.length; i++) {
      h = this.up.at(i).forward(T.relu(h));
    }
    return h;
  }
}

export class VQVAE extends ConvTokenizer {
  readonly kind = 'vqvae' as const;
  readonly config: VQVAEConfig;
  readonly downsample: number;
  readonly inChannels: number;
  readonly encoder: VQVAEEncoder;
  readonly decoder: VQVAEDecoder;
  readonly quantize: Quantizer;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;

  constructor(config: VQVAEConfigInput) {
    super();
    this.config = resolveVQVAEConfig(config);
    const c = this.config;
    this.downsample = 2 ** c.numDownsamples;
    this.inChannels = c.inChannels;
    this.encoder = this.add('encoder', new VQVAEEncoder(c));
    this.decoder = this.add('decoder', new VQVAEDecoder(c));
    this.quantize = this.add('quantize', createQuantizer(c.quantizer));
    this.quant_conv = this.add('quant_conv', new Conv2d(c.ch, c.embedDim, 1));
    this.post_quant_conv = this.add('post_quant_conv', new Conv2d(c.embedDim, c.ch, 1));
  }

  encodeLatent(images: Tensor): Tensor {
    return this.quant_conv.forward(this.encoder.forward(images));
  }

  decodeLatent(zq: Tensor): Tensor {
    return this.decoder.forward(this.post_quant_conv.forward(zq));
  }

  lastLayerWeight(): Tensor {
    return this.decoder.up.at(-1).weight;
  }
}
