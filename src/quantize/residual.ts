// ResidualQuantizer (RQ-VAE): quantize z, then what is left of it, D times; a position's tokens are
// the D codes [B, H, W, D] and zq is their sum (straight-through: zq = z + sg[Σ e_d − z]).
//
// Loss: the mean over depths of vqLoss(z, ẑ_d) with ẑ_d = sg[ẑ_{d−1}] + e_d, the running sum after
// depth d. Its commitment part is mse(z, sg[ẑ_d]) (RQ-VAE's commitment to every partial sum), its
// codebook part mse(ẑ_d, sg[z]) has e_d's gradient of mse(e_d, sg[r_d]) — each code is pulled towards
// the residual r_d it quantized. β placement (legacy / textbook) as in VectorQuantizer; with EMA only
// β·commitment. Averaging (not summing) keeps the loss on the scale of a single VQ's for any depth.
//
// Keys: `layers.<d>.embedding.weight` (one codebook per depth), or only `layers.0.*` when shared.
import * as T from '../torch/index.js';
import { Tensor, noGrad, tidy } from '../torch/index.js';
import { Module, ModuleList } from '../nn/index.js';
import type { CodebookStats, QuantizeResult, Quantizer } from './types.js';
import { VectorQuantizer, type VectorQuantizerOptions } from './vq.js';
import { vqLoss } from './base.js';
import { checkPositiveInt } from '../io/validate.js';
import { toRows, fromRows } from './codebook.js';
import { countCodes, statsFromCounts, averageStats, RunningCounts } from './stats.js';

export interface ResidualQuantizerOptions extends Omit<VectorQuantizerOptions, 'codebookDim' | 'l2Normalize'> {
  /** Number of quantization steps D (tokens per position). */
  depth: number;
  /**
   * One codebook for every depth (false: one per depth). A shared EMA / restart codebook gets one
   * update per depth per step.
   */
  sharedCodebook?: boolean;
}

export class ResidualQuantizer extends Module implements Quantizer {
  readonly codebookSize: number;
  readonly dim: number;
  readonly depth: number;
  readonly sharedCodebook: boolean;
  readonly beta: number;
  readonly legacy: boolean;
  readonly layers: ModuleList<VectorQuantizer>;
  readonly #running: RunningCounts[];
  #restartedTotal = 0;

  constructor(opts: ResidualQuantizerOptions) {
    super();
    checkPositiveInt(opts.depth, 'ResidualQuantizer: depth');
    const o = opts as VectorQuantizerOptions;
    if (o.codebookDim !== undefined && o.codebookDim !== opts.dim)
      throw new Error('ResidualQuantizer: residuals live in the latent space; codebookDim is not supported');
    if (o.l2Normalize) throw new Error('ResidualQuantizer: l2Normalize is not supported (residuals are not unit vectors)');
    const { depth, sharedCodebook, ...vq } = opts;
    this.depth = depth;
    this.sharedCodebook = sharedCodebook ?? false;
    this.codebookSize = opts.codebookSize;
    this.dim = opts.dim;
    this.beta = opts.beta ?? 0.25;
    this.legacy = opts.legacy ?? false;
    const n = this.sharedCodebook ? 1 : depth;
    this.layers = this.add('layers', new ModuleList(Array.from({ length: n }, () => new VectorQuantizer(vq))));
    this.#running = Array.from({ length: n }, () => new RunningCounts(this.codebookSize));
  }

  get tokensPerPosition(): number {
    return this.depth;
  }

  /** The quantizer used at depth d. */
  layer(d: number): VectorQuantizer {
    return this.layers.at(this.sharedCodebook ? 0 : d);
  }

  /** z [B, C, …s] → zq (sum of the D codes, straight-through), indices [B, …s, D]. */
  quantize(z: Tensor): QuantizeResult {
    return tidy(() => {
      const { rows: x, grid } = toRows(z, this.dim, 'ResidualQuantizer');
      let residual = noGrad(() => x.detach());
      let partial: Tensor | null = null; // sg[ẑ_{d−1}]
      const losses: Tensor[] = [];
      const indices: Tensor[] = [];
      let restarted = 0;
      for (let d = 0; d < this.depth; d++) {
        const q = this.layer(d);
        const r = residual;
        if (this.training) noGrad(() => q.trainBeforeAssign(r));
        const codebook = q.codebook();
        const idx = q.assign(r, codebook);
        const e = q.gather(codebook, idx);
        const sum: Tensor = partial ? partial.add(e) : e;
        losses.push(vqLoss(x, sum, { beta: this.beta, legacy: this.legacy, codebookTerm: q.ema === null }));
        if (this.training) restarted += noGrad(() => q.trainAfterAssign(r, idx));
        partial = noGrad(() => sum.detach());
        residual = noGrad(() => r.sub(e));
        indices.push(idx);
      }
      const zqRows = x.add(partial!.sub(x).detach());
      const idx = T.stack(indices, -1).reshape([...grid, this.depth]);
      const loss = T.stack(losses, 0).mean();
      return { zq: fromRows(zqRows, grid), indices: idx, loss, stats: this.#record(idx, restarted) };
    });
  }

  /** indices [B, …s, D] → Σ_d code_d, [B, C, …s]. */
  lookup(indices: Tensor): Tensor {
    if (indices.size(-1) !== this.depth)
      throw new Error(`ResidualQuantizer: indices must end in the depth axis (${this.depth}), got [${indices.shape.join(', ')}]`);
    return tidy(() => {
      let sum: Tensor | null = null;
      for (let d = 0; d < this.depth; d++) {
        const q = this.layer(d);
        const e = q.gather(q.codebook(), indices.select(-1, d));
        sum = sum ? sum.add(e) : e;
      }
      return sum!.movedim(-1, 1).contiguous();
    });
  }

  /**
   * Partial reconstructions: the latent from the first 1, 2, …, D codes ([B, C, …s] each) — for
   * measuring how the error falls with depth.
   */
  lookupPartial(indices: Tensor): Tensor[] {
    return tidy(() => {
      const out: Tensor[] = [];
      let sum: Tensor | null = null;
      for (let d = 0; d < this.depth; d++) {
        const q = this.layer(d);
        const e = q.gather(q.codebook(), indices.select(-1, d));
        sum = sum ? sum.add(e) : e;
        out.push(sum.movedim(-1, 1).contiguous());
      }
      return out;
    });
  }

  #record(indices: Tensor, restarted: number): CodebookStats {
    if (this.sharedCodebook) {
      const counts = countCodes(indices, this.codebookSize);
      this.#running[0]!.add(counts, restarted);
      return { ...statsFromCounts(counts), restarted };
    }
    const parts = Array.from({ length: this.depth }, (_, d) => {
      const counts = countCodes(indices.select(-1, d), this.codebookSize);
      this.#running[d]!.add(counts);
      return statsFromCounts(counts);
    });
    // Restarts are counted once for the whole quantizer.
    this.#restartedTotal += restarted;
    return { ...averageStats(parts), restarted };
  }

  /** Shared codebook: stats over all tokens. One codebook per depth: the mean over depths, each in perCodebook. */
  runningStats(): CodebookStats {
    if (this.sharedCodebook) return this.#running[0]!.stats();
    return { ...averageStats(this.#running.map((r) => r.stats())), restarted: this.#restartedTotal };
  }
  resetStats(): void {
    for (const r of this.#running) r.reset();
    this.#restartedTotal = 0;
  }

  override extraRepr(): string {
    return `codebook_size=${this.codebookSize}, dim=${this.dim}, depth=${this.depth}${this.sharedCodebook ? ', shared_codebook=True' : ''}`;
  }
}
