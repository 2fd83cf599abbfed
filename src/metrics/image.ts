// Per-image reconstruction metrics, following skimage / torchmetrics conventions. Inputs are
// NCHW tensors in [-1, 1] (Tessera's image convention); results are averaged over images.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

function checkPair(a: Tensor, b: Tensor, what: string): void {
  if (a.ndim !== 4 || b.ndim !== 4 || a.shape.join() !== b.shape.join()) {
    throw new Error(`${what}: expected two NCHW tensors of the same shape, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
}

/** Per-image PSNR in dB for images in [-1, 1] (peak-to-peak 2, same as [0, 255] with peak 255). */
export function psnrPerImage(a: Tensor, b: Tensor): number[] {
  checkPair(a, b, 'psnr');
  return T.tidy(() => {
    const mse = a.double().sub(b.double()).square().mean([1, 2, 3]);
    // 10·log10(range² / mse) with range 2; identical images give +Infinity, as skimage does.
    return mse.toArray().map((m) => 10 * Math.log10(4 / m));
  });
}

export function psnr(a: Tensor, b: Tensor): number {
  const v = psnrPerImage(a, b);
  return v.reduce((s, x) => s + x, 0) / v.length;
}

function gaussianWindow(size: number, sigma: number): Tensor {
  const half = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  const k = g.map((x) => x / s);
  return T.tensor(
    k.flatMap((x) => k.map((y) => x * y)),
    { shape: [1, 1, size, size], dtype: 'float64' },
  );
}

/**
 * Mean SSIM per image: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, computed per channel over the
 * window positions that fit inside the image (skimage crops the reflect-padded border, which is the
 * same set of positions), then averaged over channels and positions.
 */
export function ssimPerImage(a: Tensor, b: Tensor, opts: { windowSize?: number; sigma?: number } = {}): number[] {
  checkPair(a, b, 'ssim');
  const size = opts.windowSize ?? 11;
  const sigma = opts.sigma ?? 1.5;
  const [n, c, h, w] = a.shape as [number, number, number, number];
  if (h < size || w < size) throw new Error(`ssim: images of ${h}×${w} are smaller than the ${size}×${size} window`);
  return T.tidy(() => {
    // Work in [0, 1] with data range 1.
    const x = a
      .double()
      .add(1)
      .div(2)
      .reshape([n * c, 1, h, w]);
    const y = b
      .double()
      .add(1)
      .div(2)
      .reshape([n * c, 1, h, w]);
    const win = gaussianWindow(size, sigma);
    const f = (t: Tensor) => T.conv2d(t, win);
    const mx = f(x);
    const my = f(y);
    const sxx = f(x.mul(x)).sub(mx.mul(mx));
    const syy = f(y.mul(y)).sub(my.mul(my));
    const sxy = f(x.mul(y)).sub(mx.mul(my));
    const c1 = 0.01 ** 2;
    const c2 = 0.03 ** 2;
    const num = mx.mul(my).mul(2).add(c1).mul(sxy.mul(2).add(c2));
    const den = mx.square().add(my.square()).add(c1).mul(sxx.add(syy).add(c2));
    return num.div(den).reshape([n, -1]).mean(1).toArray();
  });
}

export function ssim(a: Tensor, b: Tensor, opts: { windowSize?: number; sigma?: number } = {}): number {
  const v = ssimPerImage(a, b, opts);
  return v.reduce((s, x) => s + x, 0) / v.length;
}

/** Mean absolute error in [-1, 1] units. */
export function l1(a: Tensor, b: Tensor): number {
  checkPair(a, b, 'l1');
  return T.tidy(() => a.sub(b).abs().mean().item());
}

// Codebook use is computed in one place, next to the quantizers' running statistics.
export { codebookUsage, type CodebookUsage } from '../quantize/stats.js';

/** Bits per pixel of a bitstream for an H×W image. */
export function bitsPerPixel(bits: number, height: number, width: number): number {
  return bits / (height * width);
}
