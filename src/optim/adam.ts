// Adam (L2 weight decay) and AdamW (decoupled weight decay), following PyTorch 1.13's
// _single_tensor_adam / _single_tensor_adamw (non-capturable path) operation by operation, so
// float32 trajectories match PyTorch's to rounding.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Optimizer, withDefaults, type ParamGroup, type ParamGroupInit } from './optimizer.js';

export interface AdamHyperparams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}
export type AdamOptions = Partial<AdamHyperparams>;

export class Adam extends Optimizer<AdamHyperparams> {
  protected readonly kind: string = 'Adam';
  protected readonly bufferNames = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const;
  /** AdamW: decay the weights directly instead of adding weightDecay·param to the gradient. */
  protected readonly decoupledWeightDecay: boolean = false;

  constructor(params: readonly Tensor[] | readonly ParamGroupInit<AdamHyperparams>[], opts: AdamOptions = {}) {
    super(params, withDefaults<AdamHyperparams>({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false }, opts));
  }

  protected override validateGroup(g: ParamGroup<AdamHyperparams>): void {
    super.validateGroup(g);
    if (!(g.eps >= 0)) throw new RangeError(`invalid epsilon value: ${g.eps}`);
    const [b1, b2] = g.betas;
    if (!(b1 >= 0 && b1 < 1)) throw new RangeError(`invalid beta parameter at index 0: ${b1}`);
    if (!(b2 >= 0 && b2 < 1)) throw new RangeError(`invalid beta parameter at index 1: ${b2}`);
    if (!(g.weightDecay >= 0)) throw new RangeError(`invalid weightDecay value: ${g.weightDecay}`);
  }

  protected override validateLoadedState(index: number, buffers: ReadonlyMap<string, Tensor>): void {
    for (const name of ['exp_avg', 'exp_avg_sq']) {
      if (!buffers.has(name)) throw new Error(`${this.kind}.loadStateDict: parameter ${index} has a step count but no '${name}'`);
    }
  }

  protected updateGroup(group: ParamGroup<AdamHyperparams>, params: Tensor[], grads: Tensor[]): void {
    const { lr, eps, weightDecay, amsgrad, maximize } = group;
    const [beta1, beta2] = group.betas;
    params.forEach((param, i) => {
      let grad = maximize ? grads[i]!.neg() : grads[i]!;
      const s = this.stateOf(param);
      // Zero-initialised moments (same strides as the parameter, like torch.zeros_like).
      const expAvg = s.buffers['exp_avg'] ?? this.setBuffer(s, 'exp_avg', T.zerosLike(param));
      const expAvgSq = s.buffers['exp_avg_sq'] ?? this.setBuffer(s, 'exp_avg_sq', T.zerosLike(param));
      s.step += 1;

      if (this.decoupledWeightDecay) {
        // PyTorch multiplies even when weightDecay is 0; x·1 is exact, so skipping changes nothing.
        if (weightDecay !== 0) param.mul_(1 - lr * weightDecay);
      } else if (weightDecay !== 0) {
        grad = grad.add(param, weightDecay);
      }

      // Running averages of the gradient and its square.
      expAvg.mul_(beta1).add_(grad, 1 - beta1);
      expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

      // Bias corrections in double precision on the host, exactly as PyTorch's Python code.
      const step = s.step;
      const biasCorrection1 = 1 - beta1 ** step;
      const biasCorrection2 = 1 - beta2 ** step;
      const stepSize = lr / biasCorrection1;
      const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);

      let denom: Tensor;
      if (amsgrad) {
        const maxSq = s.buffers['max_exp_avg_sq'] ?? this.setBuffer(s, 'max_exp_avg_sq', T.zerosLike(param));
        // Keep the largest second moment seen so far and normalise by it.
        maxSq.copy_(T.maximum(maxSq, expAvgSq));
        denom = maxSq.sqrt().div(biasCorrection2Sqrt).add_(eps);
      } else {
        denom = expAvgSq.sqrt().div(biasCorrection2Sqrt).add_(eps);
      }
      param.addcdiv_(expAvg, denom, -stepSize);
    });
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default weightDecay 1e-2. */
export class AdamW extends Adam {
  protected override readonly kind: string = 'AdamW';
  protected override readonly decoupledWeightDecay: boolean = true;

  constructor(params: readonly Tensor[] | readonly ParamGroupInit<AdamHyperparams>[], opts: AdamOptions = {}) {
    super(params, withDefaults<AdamOptions>({ weightDecay: 1e-2 }, opts));
  }
}
