// Learning-rate schedules that write `group.lr` on an optimizer's parameter groups.
//
// Usage follows PyTorch: construct the scheduler (which sets the epoch-0 learning rate), then call
// optimizer.step() and scheduler.step() once per iteration. Each schedule is evaluated in closed
// form from its epoch and the groups' base learning rates, so its state is just an epoch counter
// (resuming is exact) and values agree with PyTorch's chainable updates to rounding (~1e-16).

/** What a scheduler needs from an optimizer: its groups' learning rates. */
export interface HasParamGroups {
  readonly paramGroups: { lr: number; initialLr?: number }[];
}

export interface SchedulerState {
  lastEpoch: number;
  baseLrs: number[];
  /** SequentialLR: the children's states. */
  schedulers?: SchedulerState[];
}

export abstract class LRScheduler {
  readonly optimizer: HasParamGroups;
  /** Learning rates the schedules scale: each group's `initialLr` (its lr when first scheduled). */
  baseLrs: number[];
  /** Epochs (scheduler steps) taken; 0 right after construction. */
  lastEpoch = -1;
  protected lastLrs: number[] = [];

  /** Subclasses set their fields, then call `this.initialStep()` (fields are not set during super()). */
  constructor(optimizer: HasParamGroups) {
    this.optimizer = optimizer;
    // Several schedulers on one optimizer (SequentialLR) share the lr of whichever came first.
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  protected initialStep(): void {
    this.lastEpoch = -1;
    this.step();
  }

  /** Advances one epoch and sets every group's lr. */
  step(): void {
    this.lastEpoch += 1;
    this.apply(this.lrsAt(this.lastEpoch));
  }

  /** The learning rate of every group at `epoch` (does not change anything). */
  lrsAt(epoch: number): number[] {
    return this.baseLrs.map((base, i) => this.lrAt(epoch, base, i));
  }

  /** The schedule: group `group`'s lr at `epoch` given its base lr. */
  protected abstract lrAt(epoch: number, baseLr: number, group: number): number;

  protected apply(lrs: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i]!;
    });
    this.lastLrs = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The learning rates set by the last step (PyTorch's get_last_lr). */
  getLastLr(): number[] {
    return [...this.lastLrs];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restores the epoch and base lrs and re-applies the learning rates for that epoch. */
  loadStateDict(s: SchedulerState): void {
    this.restoreState(s);
    this.apply(this.lrsAt(this.lastEpoch));
  }

  /** Restores the epoch and base lrs without touching the optimizer. */
  restoreState(s: SchedulerState): void {
    const n = this.optimizer.paramGroups.length;
    if (!Number.isInteger(s.lastEpoch)) throw new Error(`${this.constructor.name}.loadStateDict: bad lastEpoch ${String(s.lastEpoch)}`);
    if (!Array.isArray(s.baseLrs) || s.baseLrs.length !== n) {
      throw new Error(`${this.constructor.name}.loadStateDict: state has ${s.baseLrs?.length} base lrs, the optimizer has ${n} groups`);
    }
    this.lastEpoch = s.lastEpoch;
    this.baseLrs = [...s.baseLrs];
  }
}

/** lr = base · lambda(epoch); one function for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  readonly lambdas: ((epoch: number) => number)[];
  constructor(optimizer: HasParamGroups, lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[]) {
    super(optimizer);
    const n = optimizer.paramGroups.length;
    if (Array.isArray(lrLambda) && lrLambda.length !== n) throw new Error(`LambdaLR: expected ${n} lr lambdas, got ${lrLambda.length}`);
    this.lambdas = Array.isArray(lrLambda) ? [...lrLambda] : Array.from({ length: n }, () => lrLambda);
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number, group: number): number {
    return baseLr * this.lambdas[group]!(epoch);
  }
}

/** Multiplies the lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(
    optimizer: HasParamGroups,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** Multiplies the lr by gamma at each milestone epoch (a repeated milestone counts twice). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  constructor(
    optimizer: HasParamGroups,
    milestones: readonly number[],
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** bisectRight(this.milestones, epoch);
  }
}

/** lr = base · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(
    optimizer: HasParamGroups,
    readonly gamma: number,
  ) {
    super(optimizer);
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** epoch;
  }
}

/**
 * Scales the lr linearly from startFactor to endFactor over totalIters epochs, then holds it:
 * a linear warmup with the defaults' shape (startFactor < 1, endFactor 1).
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  constructor(optimizer: HasParamGroups, opts: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer);
    this.startFactor = opts.startFactor ?? 1 / 3;
    this.endFactor = opts.endFactor ?? 1;
    this.totalIters = opts.totalIters ?? 5;
    if (!(this.startFactor >= 0 && this.startFactor <= 1)) throw new RangeError('LinearLR: startFactor must be in [0, 1]');
    if (!(this.endFactor >= 0 && this.endFactor <= 1)) throw new RangeError('LinearLR: endFactor must be in [0, 1]');
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number): number {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return baseLr * (s + ((e - s) * Math.min(n, epoch)) / n);
  }
}

/**
 * Cosine annealing from the base lr to etaMin over tMax epochs (SGDR without restarts). Past
 * tMax the cosine continues (rising again), as PyTorch's does.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(
    optimizer: HasParamGroups,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    this.initialStep();
  }
  protected lrAt(epoch: number, baseLr: number): number {
    return this.etaMin + ((baseLr - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/**
 * Runs schedulers one after another: scheduler k takes over at milestones[k-1] and counts its
 * epochs from there. The children must share this optimizer; construct them first.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  readonly milestones: number[];
  constructor(optimizer: HasParamGroups, schedulers: LRScheduler[], milestones: readonly number[]) {
    super(optimizer);
    if (schedulers.length === 0) throw new Error('SequentialLR: needs at least one scheduler');
    if (schedulers.some((s) => s.optimizer !== optimizer)) throw new Error('SequentialLR: every scheduler must belong to the same optimizer');
    if (milestones.length !== schedulers.length - 1) {
      throw new Error(`SequentialLR: expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones.length}`);
    }
    for (let i = 1; i < milestones.length; i++) if (milestones[i]! < milestones[i - 1]!) throw new Error('SequentialLR: milestones must be increasing');
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.initialStep();
  }

  override lrsAt(epoch: number): number[] {
    const k = bisectRight(this.milestones, epoch);
    return this.schedulers[k]!.lrsAt(epoch - (k > 0 ? this.milestones[k - 1]! : 0));
  }
  protected lrAt(epoch: number, _baseLr: number, group: number): number {
    return this.lrsAt(epoch)[group]!;
  }

  override step(): void {
    this.lastEpoch += 1;
    // Keep the active child's epoch in step so its own stateDict/getLastLr stay meaningful.
    const k = bisectRight(this.milestones, this.lastEpoch);
    const child = this.schedulers[k]!;
    child.lastEpoch = this.lastEpoch - (k > 0 ? this.milestones[k - 1]! : 0);
    this.apply(child.lrsAt(child.lastEpoch));
  }

  override stateDict(): SchedulerState {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  override loadStateDict(s: SchedulerState): void {
    if (!s.schedulers || s.schedulers.length !== this.schedulers.length) {
      throw new Error(`SequentialLR.loadStateDict: expected states for ${this.schedulers.length} schedulers`);
    }
    this.schedulers.forEach((c, i) => c.restoreState(s.schedulers![i]!));
    super.loadStateDict(s);
  }
}

/**
 * Linear warmup then cosine decay, as a LambdaLR: factor (step+1)/warmupSteps for the first
 * warmupSteps steps (so the first step already trains), then minFactor + (1-minFactor)·½(1+cos(π·p))
 * with p = (step-warmupSteps)/(totalSteps-warmupSteps) clamped to 1.
 */
export function warmupCosine(optimizer: HasParamGroups, opts: { warmupSteps: number; totalSteps: number; minFactor?: number }): LambdaLR {
  const { warmupSteps, totalSteps } = opts;
  const minFactor = opts.minFactor ?? 0;
  if (!(warmupSteps >= 0) || !(totalSteps >= warmupSteps)) throw new RangeError('warmupCosine: need 0 <= warmupSteps <= totalSteps');
  return new LambdaLR(optimizer, (step) => {
    if (step < warmupSteps) return (step + 1) / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  });
}

/** Index of the first element > x in sorted a (Python's bisect.bisect_right). */
function bisectRight(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < a[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
