// Classifier-based rejection sampling (VQGAN's and ViT-VQGAN's "acceptance rate"): sample, score each
// sample with a classifier — the probability it gives the class the sample was asked for — and keep
// the best-scoring share. An acceptance rate of 0.5 keeps half the candidates. With `groups` (the
// requested class of each candidate) the kept count is shared out over the classes in proportion to
// their candidate counts and the best are kept within each class, so rejection never changes the class
// balance of the kept set.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface RejectionOptions {
  /** The group (requested class) of each candidate: keep the best share within every group. */
  groups?: ArrayLike<number>;
  /** How many to keep in all (default round(n · rate), at least 1). */
  keep?: number;
}

/**
 * Indices (ascending) of the candidates kept at acceptance `rate` ∈ (0, 1]: the highest `scores`
 * (ties: the earlier candidate), per group when `groups` is given. Rate 1 keeps everything.
 */
export function rejectionSample(scores: ArrayLike<number>, rate: number, opts: RejectionOptions = {}): number[] {
  const n = scores.length;
  if (!(rate > 0 && rate <= 1)) throw new Error(`rejection sampling: acceptance rate must be in (0, 1], got ${rate}`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i]!)) throw new Error(`rejection sampling: score ${i} is NaN`);
  const keep = opts.keep ?? Math.max(1, Math.round(n * rate));
  if (!Number.isInteger(keep) || keep < 0 || keep > n) throw new Error(`rejection sampling: cannot keep ${keep} of ${n} candidates`);
  if (n === 0) return [];
  const groups = opts.groups;
  if (groups && groups.length !== n) throw new Error(`rejection sampling: ${groups.length} groups for ${n} scores`);
  // Candidates of each group, in order.
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = groups ? groups[i]! : 0;
    let m = members.get(g);
    if (!m) members.set(g, (m = []));
    m.push(i);
  }
  // Share `keep` over the groups in proportion to their sizes (largest remainder; ties: smaller group id).
  const ids = [...members.keys()].sort((a, b) => a - b);
  const quota = new Map<number, number>();
  let given = 0;
  const rema: [number, number][] = [];
  for (const g of ids) {
    const exact = (members.get(g)!.length * keep) / n;
    const q = Math.floor(exact + 1e-9);
    quota.set(g, q);
    given += q;
    rema.push([g, exact - q]);
  }
  rema.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (let i = 0; given < keep; i++, given++) {
    const g = rema[i % rema.length]![0];
    quota.set(g, quota.get(g)! + 1);
  }
  const kept: number[] = [];
  for (const g of ids) {
    const m = members.get(g)!;
    const byScore = [...m].sort((a, b) => scores[b]! - scores[a]! || a - b);
    kept.push(...byScore.slice(0, quota.get(g)!));
  }
  return kept.sort((a, b) => a - b);
}

/**
 * The rejection score of each candidate from the classifier's probabilities [N, K]: the probability of
 * its requested class (`classes[i]`, a classifier class id), or — for unconditional samples (null or
 * no classes) — the classifier's confidence, its largest probability.
 */
export function rejectionScores(probs: Tensor, classes?: readonly (number | null)[]): number[] {
  if (probs.ndim !== 2) throw new Error(`rejectionScores: expected probabilities [N, K], got shape [${probs.shape.join(', ')}]`);
  const [n, k] = probs.shape as [number, number];
  if (classes && classes.length !== n) throw new Error(`rejectionScores: ${classes.length} classes for ${n} samples`);
  const p = T.tidy(() => probs.double().contiguous().data() as Float64Array);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = classes?.[i];
    if (c === null || c === undefined) {
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, p[i * k + j]!);
      out.push(m);
    } else {
      if (!Number.isInteger(c) || c < 0 || c >= k) throw new Error(`rejectionScores: class ${c} of sample ${i} is out of range [0, ${k})`);
      out.push(p[i * k + c]!);
    }
  }
  return out;
}
