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
import type { Tensor } from '../torch/index.js';
import { Module, Sequential, Conv2d, BatchNorm2d, LeakyReLU, type UnaryModule } from '../nn/index.js';
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
