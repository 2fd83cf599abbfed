// Gradient clipping with PyTorch 1.13's torch.nn.utils.clip_grad_norm_ / clip_grad_value_ semantics.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/**
 * Scales all gradients in place so their joint `normType`-norm is at most maxNorm, and returns
 * that norm (before clipping). The total is the norm of the per-parameter norms; the scale is
 * min(1, maxNorm / (total + 1e-6)), computed in the gradients' dtype as PyTorch does, so clipped
 * gradients match PyTorch bit for bit. Parameters without gradients are ignored.
 */
export function clipGradNorm(params: Tensor | readonly Tensor[], maxNorm: number, normType = 2, opts: { errorIfNonfinite?: boolean } = {}): number {
  const list = Array.isArray(params) ? (params as readonly Tensor[]) : [params as Tensor];
  return T.tidy(() =>
    T.noGrad(() => {
      const grads = list.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
      if (grads.length === 0) return 0;
      const norms = grads.map((g) => T.norm(g, normType));
      // For the max norm PyTorch takes max(stack(norms)); norm(·, inf) of non-negative values is the same max.
      const total = T.norm(T.stack(norms), normType);
      const totalValue = total.item();
      if (opts.errorIfNonfinite && !Number.isFinite(totalValue)) {
        throw new Error(`the total norm of order ${normType} for gradients is non-finite, so it cannot be clipped`);
      }
      // `max_norm / (total + 1e-6)` on a tensor is reciprocal(total + 1e-6) * max_norm in PyTorch.
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
      return totalValue;
    }),
  );
}

/** Clamps every gradient in place to [-clipValue, clipValue]. */
export function clipGradValue(params: Tensor | readonly Tensor[], clipValue: number): void {
  const list = Array.isArray(params) ? (params as readonly Tensor[]) : [params as Tensor];
  T.tidy(() =>
    T.noGrad(() => {
      for (const p of list) p.grad?.clamp_(-clipValue, clipValue);
    }),
  );
}
