// Batch iteration with seeded per-epoch shuffling. Everything random is a pure function of
// (seed, epoch, step): the order of epoch e is a permutation drawn from Rng(seed, 'perm', e), and batch
// (e, s) augments with Rng(seed, 'batch', e, s). So the whole position is two integers, and restoring
// them reproduces the remaining batches exactly — no RNG state to snapshot.
import type { Batch, Dataset } from './dataset.js';
import { DatasetError } from './spec.js';
import { Rng, resolveSeed, type Seed } from './rng.js';

export interface DataLoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default true). */
  shuffle?: boolean;
  /** Drop the last, smaller batch of each epoch (default false). */
  dropLast?: boolean;
  seed?: Seed;
}

/** Plain JSON-able position of a DataLoader (store it in a training checkpoint). */
export interface DataLoaderState {
  epoch: number;
  /** Batches already produced in this epoch. */
  step: number;
  seed: number;
  /** Guards against restoring into a different setup. */
  size: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
}

export interface LoaderBatch extends Batch {
  /** Dataset indices of the rows. */
  indices: Int32Array;
  epoch: number;
  step: number;
}

export class DataLoader implements Iterable<LoaderBatch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  #seed: number;
  #epoch = 0;
  #step = 0;
  #perm: { epoch: number; order: Int32Array } | undefined;

  constructor(dataset: Dataset, opts: DataLoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
      throw new DatasetError(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.#seed = resolveSeed(opts.seed);
    if (this.stepsPerEpoch === 0) {
      throw new DatasetError(`DataLoader: ${dataset.size} items give no ${this.dropLast ? 'full ' : ''}batch of ${this.batchSize}`);
    }
  }

  get stepsPerEpoch(): number {
    const n = this.dataset.size;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }
  get epoch(): number {
    return this.#epoch;
  }
  /** Batches already produced in the current epoch. */
  get step(): number {
    return this.#step;
  }

  /** The item order of an epoch. */
  order(epoch: number): Int32Array {
    if (this.#perm?.epoch !== epoch) {
      const n = this.dataset.size;
      const order = this.shuffle ? new Rng(this.#seed, 'perm', epoch).permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
      this.#perm = { epoch, order };
    }
    return this.#perm.order;
  }

  /** Dataset indices of batch `step` of `epoch` (no side effects). */
  indices(epoch: number, step: number): Int32Array {
    const start = step * this.batchSize;
    return this.order(epoch).slice(start, Math.min(start + this.batchSize, this.dataset.size));
  }

  /** The next batch; rolls over into the next epoch after the last batch of one (an endless stream). */
  next(): LoaderBatch {
    const epoch = this.#epoch;
    const step = this.#step;
    const indices = this.indices(epoch, step);
    const b = this.dataset.batch(indices, { rng: new Rng(this.#seed, 'batch', epoch, step) });
    this.#step++;
    if (this.#step >= this.stepsPerEpoch) {
      this.#epoch++;
      this.#step = 0;
    }
    return { ...b, indices, epoch, step };
  }

  /** The remaining batches of the current epoch (all of them when at its start). */
  *[Symbol.iterator](): Iterator<LoaderBatch> {
    const epoch = this.#epoch;
    while (this.#epoch === epoch) yield this.next();
  }

  state(): DataLoaderState {
    return {
      epoch: this.#epoch,
      step: this.#step,
      seed: this.#seed,
      size: this.dataset.size,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /** Restores a position from state(); the loader must have the same dataset size and batching options. */
  setState(s: DataLoaderState): void {
    const mismatch = (['size', 'batchSize', 'shuffle', 'dropLast'] as const).filter((k) => s[k] !== this.state()[k]);
    if (mismatch.length > 0) {
      throw new DatasetError(
        `DataLoader.setState: state was saved with different ${mismatch.map((k) => `${k} (${String(s[k])} vs ${String(this.state()[k])})`).join(', ')}`,
      );
    }
    if (!Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.step) || s.step < 0 || s.step >= this.stepsPerEpoch) {
      throw new DatasetError(`DataLoader.setState: bad position epoch ${s.epoch}, step ${s.step} (${this.stepsPerEpoch} steps per epoch)`);
    }
    if (!Number.isFinite(s.seed)) throw new DatasetError('DataLoader.setState: bad seed');
    this.#seed = s.seed;
    this.#perm = undefined; // the cached order belongs to the old seed
    this.#epoch = s.epoch;
    this.#step = s.step;
  }
}
