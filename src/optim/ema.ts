// Exponential moving average of parameters, for evaluating/sampling with smoothed weights.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface EMAOptions {
  /** Target decay per update (default 0.9999). */
  decay?: number;
  /**
   * Ramp the decay up early in training: decay_n = min(decay, (1 + n) / (10 + n)) for the n-th
   * update (n from 0), so the average is not dominated by the random initial weights. Default true.
   */
  warmup?: boolean;
}

export interface EMAStateDict {
  /** `shadow.<i>`: the averaged copy of parameter i. */
  state: Record<string, Tensor>;
  meta: { format: 'tessera.ema/1'; decay: number; warmup: boolean; numUpdates: number };
}

const FORMAT = 'tessera.ema/1';
const isFloat = (t: Tensor): boolean => ['float32', 'float64', 'float16', 'bfloat16'].includes(t.dtype);

export class EMA {
  readonly decay: number;
  readonly warmup: boolean;
  /** Updates applied so far. */
  numUpdates = 0;
  /** Averaged copies of the parameters (kept tensors, same order as the constructor's params). */
  readonly shadow: Tensor[];
  #stored: Tensor[] | undefined;

  /** Starts the average at the parameters' current values. */
  constructor(params: readonly Tensor[], opts: EMAOptions = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.warmup = opts.warmup ?? true;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new RangeError(`EMA: decay must be in [0, 1], got ${this.decay}`);
    // Under noGrad the clones are plain tensors (no autograd history, requiresGrad false).
    this.shadow = T.noGrad(() => params.map((p) => p.clone().keep()));
  }

  /** The decay the next update will use. */
  currentDecay(): number {
    const n = this.numUpdates;
    return this.warmup ? Math.min(this.decay, (1 + n) / (10 + n)) : this.decay;
  }

  /**
   * shadow ← decay·shadow + (1−decay)·param, as one lerp toward the parameter (non-float
   * tensors, e.g. integer buffers, are copied). Returns the decay used.
   */
  update(params: readonly Tensor[]): number {
    this.checkLength(params, 'update');
    const d = this.currentDecay();
    T.noGrad(() => {
      params.forEach((p, i) => {
        const s = this.shadow[i]!;
        if (isFloat(s)) s.lerp_(p, 1 - d);
        else s.copy_(p);
      });
    });
    this.numUpdates += 1;
    return d;
  }

  /** Writes the averaged weights into params (in place). */
  copyTo(params: readonly Tensor[]): void {
    this.checkLength(params, 'copyTo');
    T.noGrad(() => params.forEach((p, i) => p.copy_(this.shadow[i]!)));
  }

  /** Saves copies of params' current values, for restore() after evaluating with copyTo(). */
  store(params: readonly Tensor[]): void {
    this.#stored?.forEach((t) => t.dispose());
    this.#stored = T.noGrad(() => params.map((p) => p.clone().keep()));
  }

  /** Puts back the values saved by store() and frees the copies. */
  restore(params: readonly Tensor[]): void {
    const stored = this.#stored;
    if (!stored) throw new Error('EMA.restore: nothing stored (call store() first)');
    if (stored.length !== params.length) throw new Error(`EMA.restore: stored ${stored.length} tensors, got ${params.length} params`);
    T.noGrad(() => params.forEach((p, i) => p.copy_(stored[i]!)));
    stored.forEach((t) => t.dispose());
    this.#stored = undefined;
  }

  /**
   * Runs fn with the averaged weights in params (evaluation, sampling, saving the model), then puts
   * the trained values back, even when fn throws.
   */
  withAveraged<R>(params: readonly Tensor[], fn: () => R): R {
    this.store(params);
    this.copyTo(params);
    try {
      return fn();
    } finally {
      this.restore(params);
    }
  }

  /** A copy of the state: the tensors are clones owned by the caller (current scope). */
  stateDict(): EMAStateDict {
    const state: Record<string, Tensor> = {};
    this.shadow.forEach((s, i) => {
      state[`shadow.${i}`] = T.noGrad(() => s.clone());
    });
    return { state, meta: { format: FORMAT, decay: this.decay, warmup: this.warmup, numUpdates: this.numUpdates } };
  }

  /** Restores the averages and the update count (the decay settings stay this object's). */
  loadStateDict(sd: EMAStateDict): void {
    if (sd.meta?.format !== FORMAT) throw new Error(`EMA.loadStateDict: not an EMA state dict (meta.format is ${String(sd.meta?.format)})`);
    const keys = Object.keys(sd.state);
    if (keys.length !== this.shadow.length) throw new Error(`EMA.loadStateDict: state has ${keys.length} tensors, this EMA tracks ${this.shadow.length}`);
    this.shadow.forEach((s, i) => {
      const t = sd.state[`shadow.${i}`];
      if (!t) throw new Error(`EMA.loadStateDict: missing 'shadow.${i}'`);
      const a = s.shape;
      const b = t.shape;
      if (a.length !== b.length || a.some((d, k) => d !== b[k])) {
        throw new Error(`EMA.loadStateDict: 'shadow.${i}' has shape [${b.join(', ')}], expected [${a.join(', ')}]`);
      }
    });
    T.noGrad(() => this.shadow.forEach((s, i) => s.copy_(sd.state[`shadow.${i}`]!)));
    this.numUpdates = sd.meta.numUpdates;
  }

  /** Frees the averaged (and any stored) tensors. */
  dispose(): void {
    this.shadow.forEach((t) => t.dispose());
    this.#stored?.forEach((t) => t.dispose());
    this.#stored = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  private checkLength(params: readonly Tensor[], what: string): void {
    if (params.length !== this.shadow.length) throw new Error(`EMA.${what}: expected ${this.shadow.length} tensors, got ${params.length}`);
  }
}
