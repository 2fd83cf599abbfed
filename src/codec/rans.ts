// A byte-wise range asymmetric numeral system coder (rANS: Duda, "Asymmetric numeral systems", 2013;
// the layout of Giesen's public-domain ryg_rans): 32-bit state in [2^23, 2^31), one byte out at a
// time, symbols coded with caller-supplied integer frequencies summing to 2^scaleBits. Every value
// stays below 2^31, so plain JS numbers are exact. Symbols are encoded last-to-first and decoded
// first-to-last; the encoder's initial state is the decoder's final one, which is checked, so a
// corrupted or truncated stream is detected rather than silently decoded.

const L = 1 << 23;

export class CodecError extends Error {
  override name = 'CodecError';
}

/** Integer frequencies of K symbols summing to 2^scaleBits, with cumulative starts. */
export interface Frequencies {
  scaleBits: number;
  freq: Uint32Array;
  /** cum[i] = freq[0] + … + freq[i−1]; cum[K] = 2^scaleBits. */
  cum: Uint32Array;
}

/** Scale bits for a K-symbol alphabet: room for ≥ 64 steps per symbol on average, 16–22 bits. */
export function scaleBitsFor(k: number): number {
  return Math.min(22, Math.max(16, Math.ceil(Math.log2(Math.max(2, k))) + 6));
}

function withCum(freq: Uint32Array, scaleBits: number): Frequencies {
  const cum = new Uint32Array(freq.length + 1);
  for (let i = 0; i < freq.length; i++) cum[i + 1] = cum[i]! + freq[i]!;
  return { scaleBits, freq, cum };
}

/**
 * Probabilities (or counts) → frequencies: every symbol gets at least 1 so any symbol stays codable,
 * the rest is shared in proportion, and the rounding remainder goes to the first most likely symbol.
 * Pure integer/double arithmetic in a fixed order: the same input gives the same table everywhere.
 */
export function quantizeFrequencies(p: ArrayLike<number>, scaleBits: number): Frequencies {
  const k = p.length;
  const total = 2 ** scaleBits;
  if (k < 1 || k > total / 2) throw new CodecError(`cannot code ${k} symbols with ${scaleBits}-bit frequencies`);
  let sum = 0;
  let best = 0;
  for (let i = 0; i < k; i++) {
    const v = p[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw new CodecError(`symbol ${i} has probability ${v}: expected a finite value ≥ 0`);
    sum += v;
    if (v > p[best]!) best = i;
  }
  const spare = total - k;
  const freq = new Uint32Array(k);
  let used = 0;
  for (let i = 0; i < k; i++) {
    const f = 1 + (sum > 0 ? Math.floor((p[i]! / sum) * spare) : 0);
    freq[i] = f;
    used += f;
  }
  if (sum === 0) {
    // No information: uniform.
    return uniformFrequencies(k, scaleBits);
  }
  freq[best] = freq[best]! + (total - used);
  return withCum(freq, scaleBits);
}

/** As equal as possible frequencies: ≈ log2 K bits per symbol (exactly, when K is a power of two). */
export function uniformFrequencies(k: number, scaleBits: number = scaleBitsFor(k)): Frequencies {
  const total = 2 ** scaleBits;
  if (k < 1 || k > total) throw new CodecError(`cannot code ${k} symbols with ${scaleBits}-bit frequencies`);
  const freq = new Uint32Array(k);
  const base = Math.floor(total / k);
  const extra = total - base * k;
  for (let i = 0; i < k; i++) freq[i] = base + (i < extra ? 1 : 0);
  return withCum(freq, scaleBits);
}

/** The symbol whose interval holds `slot` (binary search over cum). */
export function findSymbol(f: Frequencies, slot: number): number {
  let lo = 0;
  let hi = f.freq.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (f.cum[mid]! <= slot) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Collects (start, freq) per symbol in coding order; finish() encodes them last-to-first. */
export class RansEncoder {
  #start: number[] = [];
  #freq: number[] = [];
  #bits: number[] = [];

  /** Queues symbol `s` under table `f`. */
  put(f: Frequencies, s: number): void {
    const fr = f.freq[s];
    if (fr === undefined || fr === 0) throw new CodecError(`symbol ${s} is not codable (frequency 0 or out of range)`);
    this.#start.push(f.cum[s]!);
    this.#freq.push(fr);
    this.#bits.push(f.scaleBits);
  }

  /** The estimated cost so far in bits (−log2 of each symbol's probability). */
  get bits(): number {
    let b = 0;
    for (let i = 0; i < this.#freq.length; i++) b += this.#bits[i]! - Math.log2(this.#freq[i]!);
    return b;
  }

  finish(): Uint8Array {
    const out: number[] = [];
    let x = L;
    for (let i = this.#freq.length - 1; i >= 0; i--) {
      const freq = this.#freq[i]!;
      const bits = this.#bits[i]!;
      const xmax = (L / 2 ** bits) * 256 * freq;
      while (x >= xmax) {
        out.push(x & 0xff);
        x = Math.floor(x / 256);
      }
      x = Math.floor(x / freq) * 2 ** bits + (x % freq) + this.#start[i]!;
    }
    out.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
    return Uint8Array.from(out.reverse());
  }
}

/** Decodes a stream made by RansEncoder.finish(), symbol by symbol with the same tables. */
export class RansDecoder {
  #x: number;
  #pos = 4;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length < 4) throw new CodecError('the coded payload is truncated (shorter than the coder state)');
    this.#x = bytes[0]! * 2 ** 24 + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
    if (this.#x < L || this.#x >= 2 ** 31) throw new CodecError('the coded payload is corrupt (bad initial coder state)');
  }

  get(f: Frequencies): number {
    const total = 2 ** f.scaleBits;
    const slot = this.#x % total;
    const s = findSymbol(f, slot);
    const freq = f.freq[s]!;
    let x = freq * Math.floor(this.#x / total) + slot - f.cum[s]!;
    while (x < L) {
      if (this.#pos >= this.bytes.length) throw new CodecError('the coded payload is truncated');
      x = x * 256 + this.bytes[this.#pos++]!;
    }
    this.#x = x;
    return s;
  }

  /** Checks the stream ended where the encoder began: all bytes used, state back at its start. */
  finish(): void {
    if (this.#pos !== this.bytes.length || this.#x !== L)
      throw new CodecError('the coded payload does not decode cleanly (corrupt, or coded with other probabilities)');
  }
}
