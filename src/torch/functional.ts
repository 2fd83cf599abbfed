// Compositions over the generated ops that PyTorch exposes as single functions.
import { Tensor } from './tensor.js';
import * as ops from './ops.generated.js';

export type InterpolateMode = 'nearest' | 'bilinear' | 'bicubic';

/** F.interpolate for 4-d NCHW input: give `size` ([h, w]) or `scaleFactor`. */
export function interpolate(
  input: Tensor,
  opts: { size?: readonly [number, number]; scaleFactor?: number | readonly [number, number]; mode?: InterpolateMode; alignCorners?: boolean },
): Tensor {
  if (input.ndim !== 4) throw new Error(`interpolate: expected NCHW input, got shape [${input.shape.join(', ')}]`);
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) throw new Error('interpolate: give exactly one of size or scaleFactor');
  const size = opts.size ? [...opts.size] : null;
  const scale = opts.scaleFactor === undefined ? null : typeof opts.scaleFactor === 'number' ? [opts.scaleFactor, opts.scaleFactor] : [...opts.scaleFactor];
  const mode = opts.mode ?? 'nearest';
  if (mode === 'nearest') return ops.upsampleNearest2d(input, size, scale);
  if (mode === 'bilinear') return ops.upsampleBilinear2d(input, size, opts.alignCorners ?? false, scale);
  if (mode === 'bicubic') return ops.upsampleBicubic2d(input, size, opts.alignCorners ?? false, scale);
  throw new Error(`interpolate: unknown mode '${mode as string}' (nearest, bilinear, bicubic)`);
}

/**
 * softmax(q·kᵀ/√d + mask)·v over the last two dims. `mask` is a boolean tensor where true means
 * "may attend", or `causal: true` for a lower-triangular mask.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { mask?: Tensor; causal?: boolean; dropout?: number; training?: boolean } = {},
): Tensor {
  const d = q.size(-1);
  let scores = ops.matmul(q, k.transpose(-2, -1)).mul(1 / Math.sqrt(d));
  if (opts.causal) {
    const lq = q.size(-2);
    const lk = k.size(-2);
    // Query i (aligned to the end of the keys) may see keys j <= i + (lk - lq).
    const allowed = ops.ones([lq, lk], { dtype: 'bool' }).tril(lk - lq);
    scores = scores.maskedFill(allowed.logicalNot(), -Infinity);
  }
  if (opts.mask) scores = scores.maskedFill(opts.mask.logicalNot(), -Infinity);
  let p = scores.softmax(-1);
  if (opts.dropout && opts.training) p = ops.dropout(p, opts.dropout, true);
  return ops.matmul(p, v);
}

/** x / max(‖x‖₂, eps) along dim (F.normalize). */
export function normalize(x: Tensor, dim = -1, eps = 1e-12): Tensor {
  return x.div(x.norm(2, [dim], true).clampMin(eps));
}
