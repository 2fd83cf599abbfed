// Codebook usage statistics: per-batch and running (since resetStats) utilization and perplexity.
import { Tensor, noGrad } from '../torch/index.js';
import type { CodebookStats } from './types.js';

/** How often each of `size` codes occurs in `indices` (any shape, int64), as JS numbers. */
export function countCodes(indices: Tensor, size: number): Float64Array {
  return noGrad(() => {
    const flat = indices.reshape([-1]);
    const counts = flat.bincount(null, size);
    const out = Float64Array.from(counts.toArray());
    flat.dispose();
    counts.dispose();
    if (out.length > size) throw new RangeError(`quantize: index ${out.length - 1} out of range for a codebook of ${size}`);
    return out;
  });
}

/** A code histogram's use: codes used at least once, their share, perplexity and the token count. */
export interface CodebookUsage {
  used: number;
  utilization: number;
  perplexity: number;
  tokens: number;
}

/**
 * Utilization (share of codes with a non-zero count) and perplexity (exp of the entropy in nats) of
 * a code histogram — the one computation behind training logs, `eval tokenizer` and the benches. An
 * empty histogram uses no code: utilization 0 and perplexity 0 (perplexity never exceeds the number
 * of codes used, and exp(0) = 1 would claim one).
 */
export function codebookUsage(counts: ArrayLike<number>): CodebookUsage {
  let total = 0;
  let used = 0;
  for (let i = 0; i < counts.length; i++) {
    total += counts[i]!;
    if (counts[i]! > 0) used++;
  }
  if (total === 0) return { used: 0, utilization: 0, perplexity: 0, tokens: 0 };
  let entropy = 0;
  for (let i = 0; i < counts.length; i++) {
    const p = counts[i]! / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return { used, utilization: used / counts.length, perplexity: Math.exp(entropy), tokens: total };
}

/** codebookUsage as the quantizers report it (CodebookStats). */
export function statsFromCounts(counts: ArrayLike<number>): CodebookStats {
  const { utilization, perplexity, tokens } = codebookUsage(counts);
  return { utilization, perplexity, tokens };
}

/** Running code counts in plain JS (not part of the state dict; cleared by reset()). */
export class RunningCounts {
  #counts: Float64Array;
  #restarted = 0;

  constructor(readonly size: number) {
    this.#counts = new Float64Array(size);
  }

  add(counts: ArrayLike<number>, restarted = 0): void {
    for (let i = 0; i < this.size; i++) this.#counts[i]! += counts[i]!;
    this.#restarted += restarted;
  }

  stats(): CodebookStats {
    return { ...statsFromCounts(this.#counts), restarted: this.#restarted };
  }

  /** A copy of the accumulated counts. */
  counts(): Float64Array {
    return this.#counts.slice();
  }

  reset(): void {
    this.#counts.fill(0);
    this.#restarted = 0;
  }
}

/** Averages per-codebook stats (residual VQ with one codebook per depth), keeping them in `perCodebook`. */
export function averageStats(parts: CodebookStats[]): CodebookStats {
  const mean = (f: (s: CodebookStats) => number) => parts.reduce((a, s) => a + f(s), 0) / Math.max(parts.length, 1);
  const restarted = parts.reduce((a, s) => a + (s.restarted ?? 0), 0);
  const tokens = parts.reduce((a, s) => a + (s.tokens ?? 0), 0);
  return { utilization: mean((s) => s.utilization), perplexity: mean((s) => s.perplexity), restarted, tokens, perCodebook: parts };
}
