// 2-d convolutions: Conv2d and ConvTranspose2d with PyTorch's parameter layout and default init.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { defaultLayerInit_ } from './init.js';

export type Size2 = number | readonly [number, number];
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

export const pair = (v: Size2): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const fmt = ([a, b]: readonly [number, number]): string => `(${a}, ${b})`;

export interface Conv2dOptions {
  stride?: Size2;
  /** A size, or 'valid' (= 0) / 'same' (output size = input size; stride must be 1). */
  padding?: Size2 | 'same' | 'valid';
  dilation?: Size2;
  groups?: number;
  bias?: boolean;
  paddingMode?: PaddingMode;
}

/** 2-d convolution over NCHW input. Weight [out, in/groups, kh, kw]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly paddingMode: PaddingMode;
  /** Symmetric padding applied by the convolution itself. */
  readonly padding: [number, number];
  readonly #paddingSpec: Size2 | 'same' | 'valid';
  // For 'same' with an even effective kernel the total padding is odd; PyTorch puts the extra
  // row/column at the bottom/right, done here by padding the input first. [left, right, top, bottom].
  readonly #extraPad: [number, number, number, number] | null = null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size2,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    this.paddingMode = opts.paddingMode ?? 'zeros';
    this.#paddingSpec = opts.padding ?? 0;
    if (inChannels % this.groups !== 0) throw new Error(`Conv2d: in_channels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0) throw new Error(`Conv2d: out_channels (${outChannels}) must be divisible by groups (${this.groups})`);

    const p = opts.padding ?? 0;
    if (p === 'valid') this.padding = [0, 0];
    else if (p === 'same') {
      if (this.stride[0] !== 1 || this.stride[1] !== 1) throw new Error("Conv2d: padding='same' is not supported for strided convolutions");
      const total = [0, 1].map((i) => this.dilation[i]! * (this.kernelSize[i]! - 1));
      const left = total.map((t) => Math.floor(t / 2)) as [number, number];
      this.padding = left;
      if (total[0]! % 2 || total[1]! % 2) this.#extraPad = [0, total[1]! - 2 * left[1], 0, total[0]! - 2 * left[0]];
    } else this.padding = pair(p);

    this.weight = this.param('weight', T.empty([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.bias = (opts.bias ?? true) ? this.param('bias', T.empty([outChannels])) : null;
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    let input = x;
    let padding = this.padding;
    if (this.paddingMode !== 'zeros') {
      // Non-zero padding modes pad explicitly ([w, w, h, h]), then convolve without padding.
      const [ph, pw] = this.padding;
      const extra = this.#extraPad ?? [0, 0, 0, 0];
      input = T.pad(x, [pw, pw + extra[1], ph, ph + extra[3]], this.paddingMode);
      padding = [0, 0];
    } else if (this.#extraPad) {
      input = T.pad(x, this.#extraPad);
    }
    return T.conv2d(input, this.weight, this.bias, this.stride, padding, this.dilation, this.groups);
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}`;
    if (typeof this.#paddingSpec === 'string') s += `, padding=${this.#paddingSpec}`;
    else if (this.padding[0] || this.padding[1]) s += `, padding=${fmt(this.padding)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${fmt(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    if (this.paddingMode !== 'zeros') s += `, padding_mode=${this.paddingMode}`;
    return s;
  }
}

export interface ConvTranspose2dOptions {
  stride?: Size2;
  padding?: Size2;
  outputPadding?: Size2;
  groups?: number;
  bias?: boolean;
  dilation?: Size2;
}

/**
 * Transposed 2-d convolution (the gradient of Conv2d w.r.t. its input; learned upsampling).
 * Weight [in, out/groups, kh, kw], as in PyTorch.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size2,
    opts: ConvTranspose2dOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.outputPadding = pair(opts.outputPadding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0) throw new Error(`ConvTranspose2d: in_channels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0) throw new Error(`ConvTranspose2d: out_channels (${outChannels}) must be divisible by groups (${this.groups})`);
    for (let i = 0; i < 2; i++) {
      if (this.outputPadding[i]! >= Math.max(this.stride[i]!, this.dilation[i]!)) {
        throw new Error('ConvTranspose2d: output padding must be smaller than either stride or dilation');
      }
    }
    this.weight = this.param('weight', T.empty([inChannels, outChannels / this.groups, ...this.kernelSize]));
    this.bias = (opts.bias ?? true) ? this.param('bias', T.empty([outChannels])) : null;
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return T.convTranspose2d(x, this.weight, this.bias, this.stride, this.padding, this.outputPadding, this.groups, this.dilation);
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}`;
    if (this.padding[0] || this.padding[1]) s += `, padding=${fmt(this.padding)}`;
    if (this.outputPadding[0] || this.outputPadding[1]) s += `, output_padding=${fmt(this.outputPadding)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${fmt(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}
