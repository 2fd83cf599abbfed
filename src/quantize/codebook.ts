// Shared codebook math: layout moves, squared distances, nearest code, EMA update, k-means.
// Everything here except toRows/fromRows runs without gradients.
import * as T from '../torch/index.js';
import { Tensor, Generator, noGrad, tidy } from '../torch/index.js';

/**
 * A latent [B, C, …spatial] → rows [N, C] (channel last, positions in raster order), plus the
 * token grid shape [B, …spatial] that indices take.
 */
export function toRows(z: Tensor, channels: number, who: string): { rows: Tensor; grid: number[] } {
  const s = z.shape;
  if (s.length < 2 || s[1] !== channels) {
    throw new Error(`${who}: expected a latent [B, ${channels}, H, W], got [${s.join(', ')}]`);
  }
  return { rows: z.movedim(1, -1).reshape([-1, channels]), grid: [s[0]!, ...s.slice(2)] };
}

/** Rows [N, C] → latent [B, C, …spatial] (contiguous). */
export function fromRows(rows: Tensor, grid: readonly number[]): Tensor {
  return rows
    .reshape([...grid, rows.size(-1)])
    .movedim(-1, 1)
    .contiguous();
}

// Keep each distance block near 2^24 elements (64 MB in float32): N×K is large at 16k codes.
const BLOCK_ELEMENTS = 1 << 24;

/** ‖x‖² + ‖e‖² − 2 x·e for rows x [N, D] and codes e [K, D] → [N, K]. */
export function squaredDistances(x: Tensor, e: Tensor): Tensor {
  return tidy(() => {
    const xx = x.square().sum(1, true);
    const ee = e.square().sum(1).unsqueeze(0);
    return T.addmm(xx.add(ee), x, e.t(), 1, -2);
  });
}

/** Index of the nearest code (squared Euclidean) for every row: x [N, D], e [K, D] → int64 [N]. */
export function nearestCode(x: Tensor, e: Tensor): Tensor {
  return noGrad(() =>
    tidy(() => {
      const n = x.size(0);
      const block = Math.max(1, Math.floor(BLOCK_ELEMENTS / Math.max(1, e.size(0))));
      if (n <= block) return squaredDistances(x, e).argmin(1);
      const parts: Tensor[] = [];
      for (let i = 0; i < n; i += block) parts.push(squaredDistances(x.narrow(0, i, Math.min(block, n - i)), e).argmin(1));
      return T.cat(parts, 0);
    }),
  );
}

/** Per-code assignment counts [K] and sums of assigned rows [K, D] (in x's dtype). */
export function clusterSums(x: Tensor, indices: Tensor, size: number): { counts: Tensor; sums: Tensor } {
  return noGrad(() =>
    tidy(() => {
      const counts = indices.bincount(null, size).to(x.dtype);
      const sums = T.zeros([size, x.size(1)], { dtype: x.dtype, device: x.device }).indexAdd_(0, indices, x);
      return { counts, sums };
    }),
  );
}

export interface EmaState {
  /** The codebook [K, D], overwritten with embedAvg / smoothed cluster size. */
  weight: Tensor;
  /** N_k [K]. */
  clusterSize: Tensor;
  /** m_k [K, D]. */
  embedAvg: Tensor;
}

/**
 * One EMA codebook step (VQ-VAE-2 / taming's EMAVectorQuantizer), in place:
 * N_k ← γN_k + (1−γ)n_k;  m_k ← γm_k + (1−γ)Σ_{i→k} x_i;  Ñ_k = (N_k + ε)/(N + Kε)·N;  e_k = m_k/Ñ_k.
 * The Laplace smoothing keeps Ñ_k > 0 for codes nobody picks, so e_k stays finite.
 */
export function emaUpdate(state: EmaState, x: Tensor, indices: Tensor, decay: number, eps: number): void {
  noGrad(() =>
    tidy(() => {
      const K = state.weight.size(0);
      const { counts, sums } = clusterSums(x, indices, K);
      state.clusterSize.mul_(decay).add_(counts, 1 - decay);
      state.embedAvg.mul_(decay).add_(sums, 1 - decay);
      const n = state.clusterSize.sum();
      const smoothed = state.clusterSize
        .add(eps)
        .div(n.add(K * eps))
        .mul(n);
      state.weight.copy_(state.embedAvg.div(smoothed.unsqueeze(1)));
    }),
  );
}

/** `count` random rows of x (without replacement when x has enough rows). */
export function sampleRows(x: Tensor, count: number, generator: Generator | null): Tensor {
  return noGrad(() =>
    tidy(() => {
      const n = x.size(0);
      const pick =
        n >= count
          ? T.randperm(n, generator, { dtype: 'int64', device: x.device }).narrow(0, 0, count)
          : T.randint(0, n, [count], generator, { dtype: 'int64', device: x.device });
      return x.indexSelect(0, pick);
    }),
  );
}

export interface KmeansOptions {
  iters: number;
  generator: Generator | null;
  /** Spherical k-means: centroids renormalized to unit length after each step (cosine codes). */
  spherical?: boolean;
}

// k-means++ seeding picks one centre per pass; above this many codes it picks ceil(K / MAX_ROUNDS)
// per pass (D²-weighted, without replacement), bounding the cost at MAX_ROUNDS passes.
const MAX_ROUNDS = 256;

/**
 * k-means++ seeding (D² sampling): each new centre is a row drawn with probability ∝ its squared
 * distance to the nearest centre so far. Random rows (with replacement) when x has fewer rows than K.
 */
export function kmeansPlusPlus(x: Tensor, size: number, generator: Generator | null): Tensor {
  return noGrad(() =>
    tidy(() => {
      const n = x.size(0);
      if (n <= size) return sampleRows(x, size, generator);
      const perRound = Math.ceil(size / MAX_ROUNDS);
      const first = T.randint(0, n, [1], generator, { dtype: 'int64', device: x.device });
      const picked: Tensor[] = [first];
      let count = 1;
      let d2 = squaredDistances(x, x.indexSelect(0, first)).reshape([-1]).clampMin(0);
      while (count < size) {
        const r = Math.min(perRound, size - count);
        const next = tidy(() => {
          // A tiny floor keeps every row drawable, so duplicates of chosen centres never starve multinomial.
          const w = d2.add(d2.max().mul(1e-12).clampMin(1e-30));
          return w.multinomial(r, false, generator);
        });
        picked.push(next);
        count += r;
        const prev = d2;
        d2 = tidy(() => T.minimum(prev, squaredDistances(x, x.indexSelect(0, next)).amin(1).clampMin(0)));
        prev.dispose();
      }
      return x.indexSelect(0, T.cat(picked, 0));
    }),
  );
}

/**
 * Lloyd's k-means on rows x [N, D] → centroids [K, D], seeded by k-means++. A cluster that loses all
 * its points keeps its previous centroid.
 */
export function kmeans(x: Tensor, size: number, opts: KmeansOptions): Tensor {
  return noGrad(() =>
    tidy(() => {
      let c = kmeansPlusPlus(x, size, opts.generator);
      if (opts.spherical) c = T.normalize(c, -1);
      for (let it = 0; it < opts.iters; it++) {
        const prev = c;
        c = tidy(() => {
          const idx = nearestCode(x, prev);
          const { counts, sums } = clusterSums(x, idx, size);
          const means = sums.div(counts.clampMin(1).unsqueeze(1));
          const next = T.where(counts.gt(0).unsqueeze(1), means, prev);
          return opts.spherical ? T.normalize(next, -1) : next;
        });
        prev.dispose();
      }
      return c;
    }),
  );
}
