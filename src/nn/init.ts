// PyTorch's torch.nn.init: in-place initializers that draw from the default generator (seed it with
// manualSeed) or from an explicit Generator. The arithmetic follows PyTorch's step for step, so with
// the same seed a layer gets bit-identical weights to PyTorch's.
import { Tensor, Generator, noGrad, tensor } from '../torch/index.js';

export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

export type FanMode = 'fan_in' | 'fan_out';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5.0 / 3;
    case 'relu':
      return Math.sqrt(2.0);
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      // a * a, not a ** 2: matches Python's float result exactly.
      return Math.sqrt(2.0 / (1 + slope * slope));
    }
    case 'selu':
      return 3.0 / 4;
    default:
      throw new Error(`calculateGain: unsupported nonlinearity '${nonlinearity as string}'`);
  }
}

/**
 * [fanIn, fanOut] of a weight: dim 1 and dim 0 times the receptive field (product of dims ≥ 2).
 * For a ConvTranspose weight [in, out/groups, kh, kw] this gives PyTorch's (transposed) convention.
 */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`Fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape [${s.join(', ')}])`);
  let receptive = 1;
  for (let i = 2; i < s.length; i++) receptive *= s[i]!;
  return [s[1]! * receptive, s[0]! * receptive];
}

function correctFan(t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  if (mode === 'fan_in') return fanIn;
  if (mode === 'fan_out') return fanOut;
  throw new Error(`init: mode must be 'fan_in' or 'fan_out', got '${mode as string}'`);
}

/** U(a, b) in place. */
export function uniform_(t: Tensor, a = 0, b = 1, generator?: Generator): Tensor {
  return noGrad(() => t.uniform_(a, b, generator ?? null));
}

/** N(mean, std²) in place. */
export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return noGrad(() => t.normal_(mean, std, generator ?? null));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
export function zeros_(t: Tensor): Tensor {
  return noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return noGrad(() => t.fill_(1));
}

/** Glorot uniform: U(-a, a) with a = gain·√(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a, generator);
}

/** Glorot normal: N(0, std²) with std = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  return normal_(t, 0, std, generator);
}

export interface KaimingOptions {
  /** Negative slope of the following leaky_relu (only used with 'leaky_relu'). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

/**
 * He uniform: U(-bound, bound) with bound = gain·√(3 / fan). With a = √5 (the nn.Linear / nn.Conv2d
 * default) the bound is 1/√fanIn.
 */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  if (t.numel === 0) return t; // PyTorch warns and skips
  const fan = correctFan(t, opts.mode ?? 'fan_in');
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const std = gain / Math.sqrt(fan);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound, opts.generator);
}

/** He normal: N(0, std²) with std = gain/√fan. */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  if (t.numel === 0) return t;
  const fan = correctFan(t, opts.mode ?? 'fan_in');
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const std = gain / Math.sqrt(fan);
  return normal_(t, 0, std, opts.generator);
}

/** erf of one double, through libtorch (JS has no Math.erf; this keeps truncNormal_ identical to PyTorch). */
function erf(x: number): number {
  const t = tensor([x], { dtype: 'float64' });
  const e = t.erf();
  const v = e.item();
  t.dispose();
  e.dispose();
  return v;
}

/**
 * N(mean, std²) truncated to [a, b] (absolute bounds, as in PyTorch), by inverse-CDF sampling:
 * uniform in CDF space, then erfinv.
 */
export function truncNormal_(t: Tensor, opts: { mean?: number; std?: number; a?: number; b?: number; generator?: Generator } = {}): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2 } = opts;
  const normCdf = (x: number) => (1 + erf(x / Math.sqrt(2))) / 2;
  const l = normCdf((a - mean) / std);
  const u = normCdf((b - mean) / std);
  return noGrad(() => {
    t.uniform_(2 * l - 1, 2 * u - 1, opts.generator ?? null);
    t.erfinv_();
    t.mul_(std * Math.sqrt(2));
    t.add_(mean);
    t.clamp_(a, b);
    return t;
  });
}

/**
 * The default init of nn.Linear / nn.Conv*d (reset_parameters): weight He-uniform with a = √5,
 * i.e. U(±1/√fanIn), then bias U(±1/√fanIn). Draw order (weight, then bias) matches PyTorch.
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, generator?: Generator): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, generator);
  }
}
