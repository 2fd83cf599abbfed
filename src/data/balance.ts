// Class-balanced epochs: an epoch's order of training items in which each class's share is set by a
// power of its count, for datasets whose classes are very unequal (emoji: 1,952 People & Body
// images against 73 Activities). Power 0 keeps the data's frequencies; 1 gives every class an equal
// share (rare classes repeat, common ones are subsampled); between them, shares ∝ count^(1−power) —
// the "square-root sampling" of long-tailed recognition at 0.5 (Mahajan et al., 2018).
import type { Rng } from './rng.js';

/** Each class's share of an epoch: count^(1−power), normalized; a class with no items gets none. */
export function balancedShares(counts: readonly number[], power: number): number[] {
  if (!(power >= 0 && power <= 1)) throw new RangeError(`class balance must be in [0, 1], got ${power}`);
  const w = counts.map((n) => (n > 0 ? Math.pow(n, 1 - power) : 0));
  const total = w.reduce((s, x) => s + x, 0);
  if (!(total > 0)) throw new RangeError('class balance: no class has any items');
  return w.map((x) => x / total);
}

/**
 * One epoch of `labels.length` item indices with class shares from balancedShares(): counts by
 * largest remainder, each class's items taken in fresh random passes (so within a class every item
 * appears ⌊q/n⌋ or ⌈q/n⌉ times), then the whole epoch shuffled. A function of `rng` only.
 */
export function classBalancedOrder(labels: ArrayLike<number>, numClasses: number, power: number, rng: Rng): Int32Array {
  const byClass = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < numClasses)) throw new RangeError(`class balance: item ${i} has label ${c}, outside 0..${numClasses - 1}`);
    byClass[c]!.push(i);
  }
  const N = labels.length;
  const shares = balancedShares(
    byClass.map((l) => l.length),
    power,
  );
  const quota = shares.map((s) => Math.floor(s * N));
  const byRemainder = shares.map((s, c) => [s * N - quota[c]!, c] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0, left = N - quota.reduce((s, q) => s + q, 0); k < left; k++) quota[byRemainder[k]![1]]!++;
  const out = new Int32Array(N);
  let o = 0;
  for (let c = 0; c < numClasses; c++) {
    const items = byClass[c]!;
    for (let taken = 0; taken < quota[c]!;) {
      const pass = rng.permutation(items.length);
      for (let j = 0; j < pass.length && taken < quota[c]!; j++, taken++) out[o++] = items[pass[j]!]!;
    }
  }
  const shuffle = rng.permutation(N);
  return Int32Array.from(shuffle, (j) => out[j]!);
}
