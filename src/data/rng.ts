// A small seedable PRNG for data order and augmentation. It lives in JS (not libtorch's generator) so
// shuffles and crops depend only on (seed, epoch, step) — identical across libtorch builds and cheap to
// re-derive, which is what makes exact mid-epoch resume trivial.
import { createHash } from 'node:crypto';
import { Generator, randint, tidy } from '../torch/index.js';

/** sfc32: 128-bit state, passes PractRand/BigCrush, and its whole state is four plain numbers. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds from any list of numbers/strings, e.g. `new Rng(seed, 'perm', epoch)`; equal parts ⇒ equal stream. */
  constructor(...parts: (number | string)[]) {
    // SHA-256 of the parts spreads nearby seeds (0, 1, 2…) across the whole state space.
    const h = createHash('sha256').update(JSON.stringify(parts)).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12) | 1; // never the all-zero state
    for (let i = 0; i < 12; i++) this.nextU32(); // warm-up, as the reference implementation does
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), n ≤ 2^32 (bias < n / 2^32: negligible for image sizes and dataset counts). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  state(): [number, number, number, number] {
    return [this.#a >>> 0, this.#b >>> 0, this.#c >>> 0, this.#d >>> 0];
  }

  setState(s: readonly number[]): this {
    if (s.length !== 4 || !s.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) {
      throw new Error('Rng.setState: expected four unsigned 32-bit integers');
    }
    [this.#a, this.#b, this.#c, this.#d] = [s[0]! | 0, s[1]! | 0, s[2]! | 0, s[3]! | 0];
    return this;
  }
}

/** A seed given as a number or drawn once from a torch Generator (so callers can pass either). */
export type Seed = number | Generator;

export function resolveSeed(seed: Seed | undefined): number {
  if (seed === undefined) return 0;
  if (seed instanceof Generator) return tidy(() => randint(0, 2 ** 31 - 1, [1], seed, { dtype: 'int64' }).item());
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number or a Generator, got ${String(seed)}`);
  return seed;
}
