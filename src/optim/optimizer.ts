// The optimizer base: parameter groups, per-parameter state, zeroGrad and a state dict that
// round-trips exactly (a resumed run continues bit-identically). Subclasses implement only the
// update rule (updateGroup), following PyTorch 1.13's single-tensor code order of operations.
import { Tensor, enableGrad, noGrad, tidy } from '../torch/index.js';

/** Hyperparameters every optimizer has. */
export interface BaseHyperparams {
  lr: number;
}

/** A parameter group as held by an optimizer: its tensors plus every hyperparameter. */
export type ParamGroup<H extends BaseHyperparams = BaseHyperparams> = H & {
  params: Tensor[];
  /** Set by LR schedulers: the lr their schedules are relative to (PyTorch's `initial_lr`). */
  initialLr?: number;
};

/** A parameter group as passed in: hyperparameters it omits come from the optimizer's defaults. */
export type ParamGroupInit<H extends BaseHyperparams = BaseHyperparams> = Partial<H> & {
  params: readonly Tensor[];
  initialLr?: number;
};

/** Per-parameter optimizer state: the number of updates applied and named buffers (exp_avg, …). */
export interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

/** JSON-serializable part of an optimizer state dict (fits a safetensors `__metadata__` entry). */
export interface OptimizerStateMeta {
  format: 'tessera.optim/1';
  /** Optimizer class ('SGD', 'Adam', 'AdamW'); loading into another kind is an error. */
  optimizer: string;
  /** Each group's hyperparameters and the global indices of its parameters. */
  groups: (Record<string, unknown> & { params: number[] })[];
  /** Update count per parameter index, for parameters that have state. */
  steps: Record<string, number>;
}

/**
 * `state` holds tensors keyed `state.<paramIndex>.<buffer>` (PyTorch's buffer names, e.g.
 * `state.3.exp_avg`): together with `meta` as JSON it can be written to one safetensors file.
 * Parameter indices count through the groups in order, as in PyTorch.
 */
export interface OptimizerStateDict {
  state: Record<string, Tensor>;
  meta: OptimizerStateMeta;
}

const FORMAT = 'tessera.optim/1';

/** defaults overridden by the options that are set (an explicit `undefined` keeps the default). */
export function withDefaults<H extends object>(defaults: H, opts: Partial<H>): H {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
const KEY = /^state\.(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$/;

export abstract class Optimizer<H extends BaseHyperparams = BaseHyperparams> {
  readonly paramGroups: ParamGroup<H>[] = [];
  readonly defaults: Readonly<H>;
  /** State per parameter tensor (keyed by the parameter's Tensor object). Tensors are kept. */
  protected readonly state = new Map<Tensor, ParamState>();

  /** Class name stored in state dicts. */
  protected abstract readonly kind: string;
  /** Buffer names this optimizer may keep per parameter (validated on load). */
  protected abstract readonly bufferNames: readonly string[];

  constructor(params: readonly Tensor[] | readonly ParamGroupInit<H>[], defaults: H) {
    this.defaults = Object.freeze({ ...defaults });
    if (params.length === 0) throw new Error('optimizer got an empty parameter list');
    const groups: readonly ParamGroupInit<H>[] =
      params[0] instanceof Tensor ? [{ params: params as readonly Tensor[] } as ParamGroupInit<H>] : (params as readonly ParamGroupInit<H>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; hyperparameters it does not set come from the defaults. */
  addParamGroup(init: ParamGroupInit<H>): void {
    if (!init || !Array.isArray(init.params)) throw new TypeError('addParamGroup: a group needs a `params` array of Tensors');
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    for (const p of init.params) {
      if (!(p instanceof Tensor)) throw new TypeError('optimizer params must be Tensors');
      if (!p.isLeaf) throw new Error("optimizer can't optimize a non-leaf Tensor");
      if (seen.has(p)) throw new Error('some parameters appear in more than one parameter group (or twice in one)');
      seen.add(p);
    }
    for (const k of Object.keys(init)) {
      if (k !== 'params' && k !== 'initialLr' && !(k in this.defaults)) {
        throw new Error(`${this.constructor.name}: unknown hyperparameter '${k}' in a parameter group`);
      }
    }
    // Defaults are cloned so groups never share a mutable value (betas arrays).
    const { params, ...hyper } = init;
    const group = { ...withDefaults(structuredClone(this.defaults) as H, hyper as Partial<H>), params: [...params] } as ParamGroup<H>;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Throws on invalid hyperparameters. Called from the base constructor: must not use instance fields. */
  protected validateGroup(group: ParamGroup<H>): void {
    if (!(group.lr >= 0)) throw new RangeError(`invalid learning rate: ${group.lr}`);
  }

  /**
   * Applies one update to every parameter that has a gradient (others are skipped and get no
   * state). Runs without autograd, in place on the parameter tensors; temporaries are freed.
   * `closure`, if given, re-evaluates the loss (with grad enabled) before the update; its
   * result is returned.
   */
  step<R = undefined>(closure?: () => R): R | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    tidy(() =>
      noGrad(() => {
        for (const group of this.paramGroups) {
          const params: Tensor[] = [];
          const grads: Tensor[] = [];
          for (const p of group.params) {
            const g = p.grad;
            if (g !== undefined) {
              params.push(p);
              grads.push(g);
            }
          }
          if (params.length > 0) this.updateGroup(group, params, grads);
        }
      }),
    );
    return loss;
  }

  /** The update rule for one group's parameters that have gradients (runs in tidy + noGrad). */
  protected abstract updateGroup(group: ParamGroup<H>, params: Tensor[], grads: Tensor[]): void;

  /** The state of p, created (step 0, no buffers) on first use. */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, buffers: {} };
      this.state.set(p, s);
    }
    return s;
  }

  /** Stores t as a state buffer: kept, so enclosing scopes never free it. */
  protected setBuffer(s: ParamState, name: string, t: Tensor): Tensor {
    s.buffers[name]?.dispose();
    s.buffers[name] = t.keep();
    return t;
  }

  /** Clears gradients: removes them (default, like PyTorch's set_to_none) or zeroes them in place. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (setToNone) {
          p.grad = undefined;
        } else {
          tidy(() => noGrad(() => p.grad?.zero_()));
        }
      }
    }
  }

  /** A copy of the state: `state` tensors are clones owned by the caller (current scope). */
  stateDict(): OptimizerStateDict {
    const state: Record<string, Tensor> = {};
    const steps: Record<string, number> = {};
    let index = 0;
    const groups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const ids = params.map((p) => {
        const i = index++;
        const s = this.state.get(p);
        if (s) {
          steps[i] = s.step;
          for (const [name, t] of Object.entries(s.buffers)) state[`state.${i}.${name}`] = noGrad(() => t.clone());
        }
        return i;
      });
      return { ...(structuredClone(hyper) as Record<string, unknown>), params: ids };
    });
    return { state, meta: { format: FORMAT, optimizer: this.kind, groups, steps } };
  }

  /**
   * Restores hyperparameters (lr, betas, initialLr, …) and state from a state dict. The groups must
   * hold the same number of parameters as when it was saved, with the same shapes. Tensors are
   * copied (the dict stays the caller's). Everything is validated before anything changes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { state, meta } = sd;
    const who = `${this.kind}.loadStateDict`;
    if (!meta || meta.format !== FORMAT) throw new Error(`${who}: not an optimizer state dict (meta.format is ${String(meta?.format)})`);
    if (meta.optimizer !== this.kind) throw new Error(`${who}: the state dict was saved by ${meta.optimizer}, not ${this.kind}`);
    if (meta.groups.length !== this.paramGroups.length) {
      throw new Error(`${who}: the state dict has ${meta.groups.length} parameter groups, the optimizer has ${this.paramGroups.length}`);
    }
    // Global parameter index → parameter, through the saved index lists.
    const byIndex = new Map<number, Tensor>();
    meta.groups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      if (saved.params.length !== group.params.length) {
        throw new Error(`${who}: group ${gi} has ${saved.params.length} parameters in the state dict but ${group.params.length} in the optimizer`);
      }
      for (const k of Object.keys(saved)) {
        if (k !== 'params' && k !== 'initialLr' && !(k in this.defaults)) throw new Error(`${who}: group ${gi} has unknown hyperparameter '${k}'`);
      }
      saved.params.forEach((idx, j) => {
        if (byIndex.has(idx)) throw new Error(`${who}: parameter index ${idx} appears twice`);
        byIndex.set(idx, group.params[j]!);
      });
    });

    const pending = new Map<number, { step: number; buffers: Map<string, Tensor> }>();
    for (const [idx, step] of Object.entries(meta.steps)) {
      const i = Number(idx);
      if (!byIndex.has(i)) throw new Error(`${who}: step count for unknown parameter index ${idx}`);
      if (!Number.isInteger(step) || step < 0) throw new Error(`${who}: bad step count ${String(step)} for parameter ${idx}`);
      pending.set(i, { step, buffers: new Map() });
    }
    for (const [key, t] of Object.entries(state)) {
      const m = KEY.exec(key);
      if (!m) throw new Error(`${who}: unexpected state key '${key}' (expected state.<paramIndex>.<buffer>)`);
      const i = Number(m[1]);
      const name = m[2]!;
      const p = byIndex.get(i);
      if (!p) throw new Error(`${who}: state key '${key}' names unknown parameter index ${i}`);
      if (!this.bufferNames.includes(name)) throw new Error(`${who}: unknown buffer '${name}' in '${key}' (${this.kind} keeps ${this.bufferNames.join(', ')})`);
      const ps = p.shape;
      const ts = t.shape;
      if (ps.length !== ts.length || ps.some((d, k) => d !== ts[k])) {
        throw new Error(`${who}: '${key}' has shape [${ts.join(', ')}] but parameter ${i} has shape [${ps.join(', ')}]`);
      }
      const entry = pending.get(i);
      if (!entry) throw new Error(`${who}: '${key}' has no step count in meta.steps`);
      entry.buffers.set(name, t);
    }
    for (const [i, entry] of pending) {
      const gi = meta.groups.findIndex((g) => g.params.includes(i));
      const { params: _p, ...current } = this.paramGroups[gi]!;
      const { params: _s, ...saved } = meta.groups[gi]!;
      this.validateLoadedState(i, entry.buffers, { ...current, ...saved } as unknown as H);
    }

    // Commit: drop the old state, copy the new (cast to the parameter's dtype and device).
    this.disposeState();
    for (const [i, entry] of pending) {
      const p = byIndex.get(i)!;
      const s: ParamState = { step: entry.step, buffers: {} };
      for (const [name, t] of entry.buffers) {
        s.buffers[name] = noGrad(() => t.to({ dtype: p.dtype, device: p.device, copy: true })).keep();
      }
      this.state.set(p, s);
    }
    meta.groups.forEach((saved, gi) => {
      const { params: _ids, ...hyper } = saved;
      Object.assign(this.paramGroups[gi]!, structuredClone(hyper));
    });
  }

  /** Throws if a loaded parameter state lacks buffers its group's (loaded) hyperparameters need. */
  protected validateLoadedState(_index: number, _buffers: ReadonlyMap<string, Tensor>, _hyper: H): void {}

  /** The state of one parameter (read-only view), or undefined before its first update. */
  getState(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's state tensors (the optimizer can keep stepping: state restarts). */
  dispose(): void {
    this.disposeState();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
