// Distribution metrics over feature sets: streaming Gaussian statistics, the Fréchet distance (FID),
// Inception Score, Kernel Inception Distance and k-NN precision/recall. Everything numeric runs in
// float64; features may arrive as float32 tensors.
import * as T from '../torch/index.js';
import { Tensor } from '../torch/index.js';

/** A vector or matrix given as a tensor or as row-major float64 values. */
export type Float64Like = Tensor | Float64Array | readonly number[];

function asDouble(x: Float64Like, shape: readonly number[]): Tensor {
  if (x instanceof Tensor) {
    if (x.numel !== shape.reduce((a, b) => a * b, 1)) throw new Error(`expected ${shape.join('×')} values, got a tensor of shape [${x.shape.join(', ')}]`);
    return x.double().reshape(shape);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (x.length !== n) throw new Error(`expected ${shape.join('×')} values, got ${x.length}`);
  return T.tensor(x instanceof Float64Array ? x : Float64Array.from(x), { shape });
}

function checkFeatures(x: Tensor, what: string): [number, number] {
  if (x.ndim !== 2) throw new Error(`${what}: expected features [N, D], got shape [${x.shape.join(', ')}]`);
  return x.shape as [number, number];
}

// ---------------------------------------------------------------- streaming statistics
/**
 * Mean and covariance of D-dim features accumulated batch by batch (Chan et al.'s parallel
 * update: each batch's mean and centred scatter matrix are merged into the running ones), in
 * float64. Holds a D×D matrix, never the features. Call dispose() when done.
 */
export class RunningGaussian {
  #n = 0;
  #dim: number | undefined;
  #mean: Tensor | undefined; // [D] float64
  #m2: Tensor | undefined; // [D, D] float64: Σ (x − mean)(x − mean)ᵀ

  constructor(dim?: number) {
    this.#dim = dim;
  }

  /** Samples seen. */
  get count(): number {
    return this.#n;
  }
  /** Feature dimension (undefined until the first update when not given). */
  get dim(): number | undefined {
    return this.#dim;
  }

  /** Adds a batch of features [N, D]. */
  update(features: Tensor): this {
    const [n, d] = checkFeatures(features, 'RunningGaussian.update');
    if (this.#dim !== undefined && d !== this.#dim) throw new Error(`RunningGaussian.update: features have ${d} dims, expected ${this.#dim}`);
    if (n === 0) return this;
    this.#dim = d;
    const [mean, m2] = T.tidy(() =>
      T.noGrad(() => {
        const x = features.detach().double();
        const mb = x.mean(0);
        const xc = x.sub(mb);
        return [mb, xc.t().mm(xc)];
      }),
    );
    this.#mergeStats(n, mean!, m2!);
    return this;
  }

  /** Adds another accumulator's samples to this one (the other is unchanged). */
  merge(other: RunningGaussian): this {
    if (other.#n === 0) return this;
    if (this.#dim !== undefined && other.#dim !== this.#dim) throw new Error(`RunningGaussian.merge: dims differ (${this.#dim} vs ${other.#dim})`);
    this.#dim = other.#dim;
    this.#mergeStats(other.#n, other.#mean!.clone(), other.#m2!.clone());
    return this;
  }

  /** Takes ownership of mean/m2 of a group of nb samples. */
  #mergeStats(nb: number, mean: Tensor, m2: Tensor): void {
    if (this.#n === 0) {
      this.#mean = mean.keep();
      this.#m2 = m2.keep();
      this.#n = nb;
      return;
    }
    const na = this.#n;
    const n = na + nb;
    const [newMean, newM2] = T.tidy(() =>
      T.noGrad(() => {
        const delta = mean.sub(this.#mean!);
        return [this.#mean!.add(delta.mul(nb / n)), this.#m2!.add(m2).add(T.outer(delta, delta).mul((na * nb) / n))];
      }),
    );
    mean.dispose();
    m2.dispose();
    this.#mean!.dispose();
    this.#m2!.dispose();
    this.#mean = newMean!.keep();
    this.#m2 = newM2!.keep();
    this.#n = n;
  }

  /** Mean [D] as a float64 tensor (a new tensor in the current scope). */
  meanTensor(): Tensor {
    if (this.#n === 0) throw new Error('RunningGaussian: no samples yet');
    return this.#mean!.clone();
  }

  /** Unbiased covariance [D, D] (divides by N − 1, like numpy.cov) as a float64 tensor. */
  covarianceTensor(): Tensor {
    if (this.#n < 2) throw new Error(`RunningGaussian: the covariance needs at least 2 samples, have ${this.#n}`);
    return this.#m2!.div(this.#n - 1);
  }

  mean(): Float64Array {
    return T.tidy(() => this.meanTensor().data() as Float64Array);
  }

  /** Row-major D×D. */
  covariance(): Float64Array {
    return T.tidy(() => this.covarianceTensor().data() as Float64Array);
  }

  dispose(): void {
    this.#mean?.dispose();
    this.#m2?.dispose();
    this.#mean = this.#m2 = undefined;
    this.#n = 0;
  }
}

// ---------------------------------------------------------------- Fréchet distance
/** Symmetric PSD square root through eigh, negative (round-off) eigenvalues clamped to 0. */
function sqrtPsd(s: Tensor): Tensor {
  const [w, v] = T.linalgEigh(s.add(s.t()).mul(0.5));
  return v.mul(w!.clampMin(0).sqrt().unsqueeze(0)).mm(v!.t());
}

/**
 * Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2): ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½).
 * Tr((Σ1Σ2)^½) is computed as Σ √λ over the eigenvalues λ of Σ1^½ Σ2 Σ1^½, which is symmetric PSD
 * and similar to Σ1Σ2 — so no complex arithmetic, and singular covariances (fewer samples than
 * dimensions) need no regularising offset. float64 throughout.
 */
export function frechetDistance(mu1: Float64Like, sigma1: Float64Like, mu2: Float64Like, sigma2: Float64Like): number {
  const d = mu1 instanceof Tensor ? mu1.numel : mu1.length;
  return T.tidy(() =>
    T.noGrad(() => {
      const m1 = asDouble(mu1, [d]);
      const m2 = asDouble(mu2, [d]);
      const s1 = asDouble(sigma1, [d, d]);
      const s2 = asDouble(sigma2, [d, d]);
      const diff = m1.sub(m2);
      const r1 = sqrtPsd(s1);
      const m = r1.mm(s2).mm(r1);
      const lambda = T.linalgEigh(m.add(m.t()).mul(0.5))[0];
      const trSqrt = lambda.clampMin(0).sqrt().sum().item();
      return diff.square().sum().item() + s1.trace().item() + s2.trace().item() - 2 * trSqrt;
    }),
  );
}

/** Fréchet distance between two accumulated feature distributions (FID when the features are Inception pool3). */
export function frechetDistanceOf(a: RunningGaussian, b: RunningGaussian): number {
  return T.tidy(() => frechetDistance(a.meanTensor(), a.covarianceTensor(), b.meanTensor(), b.covarianceTensor()));
}

// ---------------------------------------------------------------- Inception Score
export interface InceptionScoreOptions {
  /** Number of consecutive chunks the score is computed on (default 10). */
  splits?: number;
  /** What the scores are: 'logits' (default; softmax is applied) or 'probs' (rows sum to 1). */
  input?: 'logits' | 'probs';
}

/**
 * Inception Score exp(E_x KL(p(y|x) ‖ p(y))) on each of `splits` consecutive chunks (OpenAI's
 * convention, no shuffling; torch-fidelity's without its shuffle), → mean and population std over chunks.
 */
export function inceptionScore(scores: Tensor, opts: InceptionScoreOptions = {}): { mean: number; std: number; splits: number } {
  const splits = opts.splits ?? 10;
  const [n, c] = checkFeatures(scores, 'inceptionScore');
  if (!Number.isInteger(splits) || splits < 1) throw new Error(`inceptionScore: splits must be a positive integer, got ${splits}`);
  if (n < splits) throw new Error(`inceptionScore: ${n} samples cannot be cut into ${splits} splits; pass fewer splits or more samples`);
  if (c < 2) throw new Error(`inceptionScore: need at least 2 classes, got ${c}`);
  const values = T.tidy(() =>
    T.noGrad(() => {
      const x = scores.detach().double();
      let logp: Tensor;
      if ((opts.input ?? 'logits') === 'logits') logp = x.logSoftmax(1);
      else {
        if (x.lt(0).any().item()) throw new Error('inceptionScore: probabilities must be non-negative (pass input: "logits" for logits)');
        logp = x.log();
      }
      const p = logp.exp();
      const out: number[] = [];
      for (let i = 0; i < splits; i++) {
        const lo = Math.floor((i * n) / splits);
        const hi = Math.floor(((i + 1) * n) / splits);
        const pp = p.narrow(0, lo, hi - lo);
        const lp = logp.narrow(0, lo, hi - lo);
        const logPy = pp.mean(0, true).log();
        // p·(log p − log p_y), with 0·log 0 = 0.
        const term = pp.mul(lp.sub(logPy));
        const kl = T.where(pp.gt(0), term, T.zerosLike(term)).sum(1).mean().item();
        out.push(Math.exp(kl));
      }
      return out;
    }),
  );
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  return { mean, std, splits };
}

// ---------------------------------------------------------------- KID
/**
 * Unbiased MMD² between two equally sized sets with the cubic polynomial kernel
 * k(x, y) = (x·y / d + 1)³ (Bińkowski et al. 2018), in float64.
 */
export function polynomialMmd(a: Tensor, b: Tensor): number {
  const [m, d] = checkFeatures(a, 'polynomialMmd');
  const [mb, db] = checkFeatures(b, 'polynomialMmd');
  if (m !== mb || d !== db) throw new Error(`polynomialMmd: sets must have the same shape, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  if (m < 2) throw new Error('polynomialMmd: need at least 2 samples per set');
  return T.tidy(() =>
    T.noGrad(() => {
      const x = a.detach().double();
      const y = b.detach().double();
      const k = (u: Tensor, v: Tensor) => u.mm(v.t()).div(d).add(1).pow(3);
      const kxx = k(x, x);
      const kyy = k(y, y);
      const kxy = k(x, y);
      const sxx = kxx.sum().item() - kxx.trace().item();
      const syy = kyy.sum().item() - kyy.trace().item();
      const sxy = kxy.sum().item();
      return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
    }),
  );
}

export interface KidOptions {
  /** Random subsets averaged over (default 100). */
  subsets?: number;
  /** Samples per subset, drawn without replacement from each set (default 1000; capped at the smaller set). */
  subsetSize?: number;
  /** Seeds the subset draws (default 0). */
  seed?: number;
}

/**
 * Kernel Inception Distance: the unbiased polynomial-kernel MMD² averaged over random subsets of
 * both feature sets (torch-fidelity's defaults: 100 subsets of 1000) → mean and population std.
 */
export function kernelInceptionDistance(
  featsA: Tensor,
  featsB: Tensor,
  opts: KidOptions = {},
): { mean: number; std: number; subsets: number; subsetSize: number } {
  const [na, d] = checkFeatures(featsA, 'kernelInceptionDistance');
  const [nb, db] = checkFeatures(featsB, 'kernelInceptionDistance');
  if (d !== db) throw new Error(`kernelInceptionDistance: feature dims differ (${d} vs ${db})`);
  const subsets = opts.subsets ?? 100;
  if (!Number.isInteger(subsets) || subsets < 1) throw new Error(`kernelInceptionDistance: subsets must be a positive integer, got ${subsets}`);
  const m = Math.min(opts.subsetSize ?? 1000, na, nb);
  if (m < 2) throw new Error(`kernelInceptionDistance: need at least 2 samples in each set (have ${na} and ${nb})`);
  const gen = new T.Generator(opts.seed ?? 0);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    values.push(
      T.tidy(() => {
        const ia = T.randperm(na, gen).narrow(0, 0, m);
        const ib = T.randperm(nb, gen).narrow(0, 0, m);
        return polynomialMmd(featsA.indexSelect(0, ia), featsB.indexSelect(0, ib));
      }),
    );
  }
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return { mean, std, subsets, subsetSize: m };
}

// ---------------------------------------------------------------- precision / recall
/** Rows per distance block: keeps each [rows, N] float64 block near 32 MB. */
function blockRows(n: number): number {
  return Math.max(1, Math.floor(4_000_000 / Math.max(1, n)));
}

/** Distance from each row of `x` to its k-th nearest other row (k-NN radius), in blocks. */
export function knnRadii(x: Tensor, k: number): Tensor {
  const [n] = checkFeatures(x, 'knnRadii');
  if (n <= k) throw new Error(`precision/recall: need more than k = ${k} samples per set, have ${n}`);
  return T.tidy(() =>
    T.noGrad(() => {
      const xd = x.detach().double();
      const b = blockRows(n);
      const parts: Tensor[] = [];
      for (let lo = 0; lo < n; lo += b) {
        const rows = Math.min(b, n - lo);
        // k + 1 smallest: the row itself (distance 0) is among them.
        parts.push(
          T.tidy(() =>
            T.cdist(xd.narrow(0, lo, rows), xd)
              .topk(k + 1, 1, false, true)[0]
              .select(1, k),
          ),
        );
      }
      return T.cat(parts, 0);
    }),
  );
}

/** Share of `points` inside at least one ball (centres, radii), in blocks. */
function coverage(points: Tensor, centres: Tensor, radii: Tensor): number {
  const [n] = points.shape as [number];
  const [m] = centres.shape as [number];
  return T.tidy(() =>
    T.noGrad(() => {
      const r = radii.unsqueeze(0);
      const b = blockRows(m);
      let inside = 0;
      for (let lo = 0; lo < n; lo += b) {
        const rows = Math.min(b, n - lo);
        inside += T.tidy(() =>
          T.cdist(points.narrow(0, lo, rows), centres)
            .le(r)
            .anyDim(1)
            .sum()
            .item(),
        );
      }
      return inside / n;
    }),
  );
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019): each real sample's ball has the radius
 * of its k-th nearest other real sample; precision is the share of fake samples inside some real
 * ball, recall the share of real samples inside some fake ball (fake radii from the fake set).
 * Distances are computed in blocks, so memory stays O(block × N).
 */
export function precisionRecall(real: Tensor, fake: Tensor, opts: { k?: number } = {}): { precision: number; recall: number; k: number } {
  const k = opts.k ?? 3;
  if (!Number.isInteger(k) || k < 1) throw new Error(`precisionRecall: k must be a positive integer, got ${k}`);
  const [, d] = checkFeatures(real, 'precisionRecall');
  const [, df] = checkFeatures(fake, 'precisionRecall');
  if (d !== df) throw new Error(`precisionRecall: feature dims differ (${d} vs ${df})`);
  return T.tidy(() => {
    const r = real.detach().double();
    const f = fake.detach().double();
    const realRadii = knnRadii(r, k);
    const fakeRadii = knnRadii(f, k);
    return { precision: coverage(f, r, realRadii), recall: coverage(r, f, fakeRadii), k };
  });
}

/** IS splits: 10 (the usual number) but never fewer than 50 images per split — with a handful of images per split, IS is ≈ 1 whatever the images. */
export const defaultIsSplits = (n: number): number => Math.max(1, Math.min(10, Math.floor(n / 50)));
