// taming-transformers' PatchGAN discriminator (NLayerDiscriminator, the BatchNorm variant), with its
// exact nn.Sequential layout so `loss.discriminator.*` keys of a taming checkpoint load unchanged:
//
//   main.0  Conv2d(in, ndf, 4, stride 2, pad 1)            + bias
//   main.1  LeakyReLU(0.2)
//   for n = 1 … nLayers-1:   Conv2d(ndf·m_{n-1}, ndf·m_n, 4, stride 2, pad 1, no bias), BatchNorm2d, LeakyReLU
//   then:                    Conv2d(ndf·m_{L-1}, ndf·m_L, 4, stride 1, pad 1, no bias), BatchNorm2d, LeakyReLU
//   last    Conv2d(ndf·m_L, 1, 4, stride 1, pad 1)          + bias          (m_n = min(2^n, 8))
//
// The output is a map of patch logits ([N, 1, h, w]; 6×6 for a 64×64 input with 3 layers).
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Sequential, Conv2d, BatchNorm2d, LeakyReLU, Linear, type UnaryModule } from '../nn/index.js';
import * as init from '../nn/init.js';

export interface NLayerDiscriminatorOptions {
  /** Image channels (3). */
  inputChannels?: number;
  /** Width of the first layer (64). */
  ndf?: number;
  /** Number of stride-2 stages (3 for taming's VQGAN; MoVQ uses 2). */
  nLayers?: number;
  /**
   * Apply taming's `weights_init` after construction (default true): conv weights N(0, 0.02),
   * BatchNorm weights N(1, 0.02) and biases 0. Conv biases keep PyTorch's default init, as upstream.
   */
  init?: boolean;
}

export class NLayerDiscriminator extends Module {
  readonly main: Sequential;
  readonly inputChannels: number;
  readonly ndf: number;
  readonly nLayers: number;

  constructor(opts: NLayerDiscriminatorOptions = {}) {
    super();
    this.inputChannels = opts.inputChannels ?? 3;
    this.ndf = opts.ndf ?? 64;
    this.nLayers = opts.nLayers ?? 3;
    if (!Number.isInteger(this.nLayers) || this.nLayers < 1) throw new RangeError(`NLayerDiscriminator: nLayers must be an integer >= 1, got ${this.nLayers}`);
    const kw = 4;
    const padding = 1;
    const ndf = this.ndf;
    const seq: UnaryModule[] = [new Conv2d(this.inputChannels, ndf, kw, { stride: 2, padding }), new LeakyReLU(0.2)];
    let mult = 1;
    for (let n = 1; n < this.nLayers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      // No conv bias before BatchNorm: its shift would be cancelled anyway (taming's use_bias = False).
      seq.push(new Conv2d(ndf * prev, ndf * mult, kw, { stride: 2, padding, bias: false }), new BatchNorm2d(ndf * mult), new LeakyReLU(0.2));
    }
    const prev = mult;
    mult = Math.min(2 ** this.nLayers, 8);
    seq.push(new Conv2d(ndf * prev, ndf * mult, kw, { stride: 1, padding, bias: false }), new BatchNorm2d(ndf * mult), new LeakyReLU(0.2));
    seq.push(new Conv2d(ndf * mult, 1, kw, { stride: 1, padding }));
    this.main = this.add('main', new Sequential(...seq));
    if (opts.init ?? true) this.apply(tamingWeightsInit_);
  }

  /** Patch logits [N, 1, h, w] for images [N, C, H, W]. */
  forward(x: Tensor): Tensor {
    return this.main.forward(x);
  }

  override extraRepr(): string {
    return `input_nc=${this.inputChannels}, ndf=${this.ndf}, n_layers=${this.nLayers}`;
  }
}

/**
 * taming's `weights_init`, for use with Module.apply: convolutions get N(0, 0.02) weights, BatchNorm
 * N(1, 0.02) weights and zero bias. Draws from the global generator in apply's order (children
 * first), which is PyTorch's order too, so a seeded construction reproduces upstream's weights.
 */
export function tamingWeightsInit_(m: Module): void {
  if (m instanceof Conv2d) init.normal_(m.weight, 0, 0.02);
  else if (m instanceof BatchNorm2d) {
    if (m.weight) init.normal_(m.weight, 1, 0.02);
    if (m.bias) init.zeros_(m.bias);
  }
}

// ---------------------------------------------------------------- StyleGAN2-style discriminator

export interface StyleGAN2DiscriminatorOptions {
  /** Input side in pixels (a power of two ≥ 8); the residual stack halves it down to 4×4. */
  size: number;
  inputChannels?: number;
  /** Width at full resolution; doubles per halving up to maxChannels (64 / 256). */
  channels?: number;
  maxChannels?: number;
  /** Minibatch-stddev group size (4, as StyleGAN2). */
  stddevGroup?: number;
}

/** One residual down block: conv3×3 → lrelu → conv3×3 → avgpool 2 → lrelu, skip avgpool → 1×1; sum / √2. */
class StyleGAN2ResBlock extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly skip: Conv2d;
  constructor(cin: number, cout: number) {
    super();
    this.conv1 = this.add('conv1', new Conv2d(cin, cin, 3, { padding: 1 }));
    this.conv2 = this.add('conv2', new Conv2d(cin, cout, 3, { padding: 1 }));
    this.skip = this.add('skip', new Conv2d(cin, cout, 1, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    const h = T.avgPool2d(this.conv2.forward(this.conv1.forward(x).leakyRelu(0.2)), 2).leakyRelu(0.2);
    return h.add(this.skip.forward(T.avgPool2d(x, 2))).mul(Math.SQRT1_2);
  }
}

/**
 * A StyleGAN2-style residual discriminator (Karras et al., 2020; the one ViT-VQGAN trains with):
 * fromRGB 1×1 → residual down blocks to 4×4 → minibatch stddev → conv3×3 → linear → linear → one
 * logit per image [N, 1]. Simplified for small images: no blur kernel and no equalized learning
 * rate (PyTorch default init), which keep the layout and the R1-regularised objective.
 */
export class StyleGAN2Discriminator extends Module {
  readonly from_rgb: Conv2d;
  readonly blocks: Sequential;
  readonly final_conv: Conv2d;
  readonly final_linear: Linear;
  readonly out: Linear;
  readonly stddevGroup: number;

  constructor(opts: StyleGAN2DiscriminatorOptions) {
    super();
    const size = opts.size;
    const levels = Math.log2(size);
    if (!Number.isInteger(levels) || size < 8) throw new RangeError(`StyleGAN2Discriminator: size must be a power of two ≥ 8, got ${size}`);
    const base = opts.channels ?? 64;
    const maxCh = opts.maxChannels ?? 256;
    this.stddevGroup = opts.stddevGroup ?? 4;
    const width = (i: number): number => Math.min(maxCh, base * 2 ** i);
    this.from_rgb = this.add('from_rgb', new Conv2d(opts.inputChannels ?? 3, width(0), 1));
    const blocks: StyleGAN2ResBlock[] = [];
    for (let i = 0; i < levels - 2; i++) blocks.push(new StyleGAN2ResBlock(width(i), width(i + 1)));
    this.blocks = this.add('blocks', new Sequential(...blocks));
    const c = width(levels - 2);
    this.final_conv = this.add('final_conv', new Conv2d(c + 1, c, 3, { padding: 1 }));
    this.final_linear = this.add('final_linear', new Linear(c * 16, c));
    this.out = this.add('out', new Linear(c, 1));
  }

  /** Minibatch standard deviation: one extra channel with the mean per-group feature stddev. */
  minibatchStddev(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    let g = Math.min(this.stddevGroup, n);
    while (n % g !== 0) g--;
    const y = x.reshape([g, n / g, c, h, w]);
    const std = y
      .sub(y.mean([0], true))
      .square()
      .mean([0])
      .add(1e-8)
      .sqrt()
      .mean([1, 2, 3], true); // [n/g, 1, 1, 1]
    const s = std
      .reshape([1, n / g, 1, 1, 1])
      .expand([g, n / g, 1, h, w])
      .reshape([n, 1, h, w]);
    return T.cat([x, s], 1);
  }

  /** One logit per image [N, 1]. */
  forward(x: Tensor): Tensor {
    let h = this.blocks.forward(this.from_rgb.forward(x).leakyRelu(0.2));
    h = this.final_conv.forward(this.minibatchStddev(h)).leakyRelu(0.2);
    return this.out.forward(this.final_linear.forward(h.flatten(1)).leakyRelu(0.2));
  }
}

/**
 * R1 gradient penalty (Mescheder et al., 2018): (γ/2)·E‖∇ₓD(x)‖² on real images. Built with
 * createGraph so its backward reaches the discriminator's parameters.
 */
export function r1Penalty(discriminator: { forward(x: Tensor): Tensor }, real: Tensor, gamma: number): Tensor {
  const x = real.detach().requiresGrad_(true);
  const logits = discriminator.forward(x);
  const [g] = T.autograd.grad(logits.sum(), x, { createGraph: true });
  if (!g) throw new Error('r1Penalty: the discriminator output does not depend on its input');
  return g
    .square()
    .flatten(1)
    .sum(1)
    .mean()
    .mul(gamma / 2);
}
