// GAN objectives of taming-transformers' VQGAN training, and its two weighting rules: the
// `disc_start` gate (adopt_weight) and the adaptive generator weight (calculate_adaptive_weight).
// Logits are the discriminator's raw patch outputs; every loss is a 0-d tensor.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Discriminator hinge loss: 0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂))). */
export function hingeDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  const real = logitsReal.neg().add(1).relu().mean();
  const fake = logitsFake.add(1).relu().mean();
  return real.add(fake).mul(0.5);
}

/** Discriminator cross-entropy ("vanilla") loss: 0.5·(mean softplus(−D(x)) + mean softplus(D(x̂))). */
export function vanillaDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  const real = logitsReal.neg().softplus().mean();
  const fake = logitsFake.softplus().mean();
  return real.add(fake).mul(0.5);
}

/**
 * Generator loss paired with the hinge discriminator: −mean D(x̂). taming uses this one for both
 * discriminator losses (its VQLPIPSWithDiscriminator never switches it).
 */
export function hingeGLoss(logitsFake: Tensor): Tensor {
  return logitsFake.mean().neg();
}

/** Non-saturating generator loss: mean softplus(−D(x̂)) = −mean log σ(D(x̂)). */
export function nonSaturatingGLoss(logitsFake: Tensor): Tensor {
  return logitsFake.neg().softplus().mean();
}

export type DiscLossKind = 'hinge' | 'vanilla';
export type GenLossKind = 'hinge' | 'non-saturating';

export function discriminatorLossFn(kind: DiscLossKind): (real: Tensor, fake: Tensor) => Tensor {
  if (kind === 'hinge') return hingeDLoss;
  if (kind === 'vanilla') return vanillaDLoss;
  throw new Error(`unknown discriminator loss '${kind as string}' (hinge, vanilla)`);
}

export function generatorLossFn(kind: GenLossKind): (fake: Tensor) => Tensor {
  if (kind === 'hinge') return hingeGLoss;
  if (kind === 'non-saturating') return nonSaturatingGLoss;
  throw new Error(`unknown generator loss '${kind as string}' (hinge, non-saturating)`);
}

/**
 * taming's adopt_weight: `value` (0) while globalStep < threshold, `weight` from then on. Gates the
 * GAN terms until `disc_start`, so the autoencoder first learns to reconstruct.
 */
export function adoptWeight(weight: number, globalStep: number, threshold = 0, value = 0): number {
  return globalStep < threshold ? value : weight;
}

/**
 * taming's calculate_adaptive_weight: ‖∇nll‖ / (‖∇g‖ + 1e-4), both gradients taken w.r.t. the
 * generator's last layer (the decoder's `conv_out.weight`), clamped to [0, 1e4], detached, times
 * `discWeight`. It balances the two terms by the size of their pull on the output layer.
 *
 * Both gradients use retainGraph: the caller still backpropagates the total loss through the same
 * graph afterwards. Nothing is written to `.grad`. Returns a 0-d tensor without history.
 */
export function adaptiveGanWeight(nllLoss: Tensor, gLoss: Tensor, lastLayerWeight: Tensor, discWeight: number): Tensor {
  const [nllGrad] = T.autograd.grad(nllLoss, lastLayerWeight, { retainGraph: true });
  const [gGrad] = T.autograd.grad(gLoss, lastLayerWeight, { retainGraph: true });
  if (!nllGrad || !gGrad) throw new Error('adaptiveGanWeight: the losses do not depend on the given last layer');
  const ratio = T.norm(nllGrad).div(T.norm(gGrad).add(1e-4));
  return ratio.clamp(0, 1e4).detach().mul(discWeight);
}
