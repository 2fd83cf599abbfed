// The logit-Laplace reconstruction likelihood (Ramesh et al., "Zero-Shot Text-to-Image Generation",
// appendix A.3), used by ViT-VQGAN (Yu et al., 2022) with weight 0.1. Pixels x ∈ [0, 1] are mapped
// into (ε, 1 − ε) by x → (1 − 2ε)x + ε, ε = 0.1, and scored under
//   f(x | μ, b) = 1 / (2·b·x·(1 − x)) · exp(−|logit(x) − μ| / b),
// so the per-value negative log-likelihood is ln 2 + ln b + ln x + ln(1 − x) + |logit(x) − μ| / b.
// The decoder predicts μ and ln b per channel. (The popular PyTorch port's "loglaplace" is plain L1.)
import type { Tensor } from '../torch/index.js';

export const LOGIT_LAPLACE_EPS = 0.1;
/** ViT-VQGAN's weight of the logit-Laplace NLL beside 1.0·L2. */
export const LOGIT_LAPLACE_WEIGHT = 0.1;

/** Images in [-1, 1] → the mapped pixels in (ε, 1 − ε). */
export function logitLaplaceMap(x: Tensor, eps = LOGIT_LAPLACE_EPS): Tensor {
  return x
    .add(1)
    .mul(0.5 * (1 - 2 * eps))
    .add(eps);
}

/**
 * Mean negative log-likelihood (nats per value) of `target` images in [-1, 1] under a logit-Laplace
 * with location `mu` and log-scale `logScale` (same shape as target).
 */
export function logitLaplaceNll(target: Tensor, mu: Tensor, logScale: Tensor, eps = LOGIT_LAPLACE_EPS): Tensor {
  const x = logitLaplaceMap(target.detach(), eps);
  const logX = x.log();
  const log1mX = x.neg().add(1).log();
  const logit = logX.sub(log1mX);
  return logit.sub(mu).abs().mul(logScale.neg().exp()).add(logScale).add(logX).add(log1mX).add(Math.LN2).mean();
}
