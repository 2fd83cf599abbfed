// Stochastic gradient descent with momentum, following PyTorch 1.13's _single_tensor_sgd.
import type { Tensor } from '../torch/index.js';
import { Optimizer, withDefaults, type ParamGroup, type ParamGroupInit } from './optimizer.js';

export interface SGDHyperparams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}
export type SGDOptions = Partial<SGDHyperparams> & { lr: number };

export class SGD extends Optimizer<SGDHyperparams> {
  protected readonly kind = 'SGD';
  protected readonly bufferNames = ['momentum_buffer'] as const;

  constructor(params: readonly Tensor[] | readonly ParamGroupInit<SGDHyperparams>[], opts: SGDOptions) {
    super(params, withDefaults<SGDHyperparams>({ lr: opts.lr, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, opts));
  }

  protected override validateGroup(g: ParamGroup<SGDHyperparams>): void {
    super.validateGroup(g);
    if (!(g.momentum >= 0)) throw new RangeError(`invalid momentum value: ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new RangeError(`invalid weightDecay value: ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error('Nesterov momentum requires a momentum and zero dampening');
  }

  protected updateGroup(group: ParamGroup<SGDHyperparams>, params: Tensor[], grads: Tensor[]): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    params.forEach((param, i) => {
      let dp = maximize ? grads[i]!.neg() : grads[i]!;
      const s = this.stateOf(param);
      s.step += 1;
      // Weight decay as an L2 term folded into the gradient (out of place: the grad is untouched).
      if (weightDecay !== 0) dp = dp.add(param, weightDecay);
      if (momentum !== 0) {
        let buf = s.buffers['momentum_buffer'];
        if (buf === undefined) {
          // First step: the buffer starts as the gradient itself (no dampening), as in PyTorch.
          buf = this.setBuffer(s, 'momentum_buffer', dp.clone());
        } else {
          buf.mul_(momentum).add_(dp, 1 - dampening);
        }
        dp = nesterov ? dp.add(buf, momentum) : buf;
      }
      param.add_(dp, -lr);
    });
  }
}
