// Datasets: a decoded uint8 store (in memory, mirrored on disk) and cheap typed views over it — subsets,
// train/val splits, and transforms (crop size, flips, channels) applied when a sample is read.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { tensor, type Tensor } from '../torch/index.js';
import { cacheKey, cachePath, defaultCacheDir, readCache, writeCache, type Store } from './cache.js';
import { decodeSquare, resizeSquares, U8_TO_UNIT, type RawImage } from './images.js';
import { Rng, resolveSeed, type Seed } from './rng.js';
import { openSource, type Source, type SourceItem } from './sources.js';
import { DatasetError, parseDatasetSpec } from './spec.js';
import { checkPositiveInt } from '../io/validate.js';

export interface Transform {
  /** Output square side. */
  size: number;
  /** 3 (RGB) or 1 (grey). Grey sources (MNIST) are replicated to 3. */
  channels: 1 | 3;
  /** Crop the `size` window at a random position of the stored square (else: centred). */
  randomCrop: boolean;
  /** Mirror left–right with probability ½. */
  hflip: boolean;
}

export interface LoadOptions {
  /** Output square side. Default: `resize`, else the source's own side (MNIST 28, emoji 64); folders need one. */
  size?: number;
  /**
   * Side the images are decoded and stored at: shorter side scaled to it, then centre-cropped to a
   * square. Default `size`. Larger than `size` leaves room for `randomCrop` (like Resize(resize) +
   * RandomCrop(size) in torchvision).
   */
  resize?: number;
  randomCrop?: boolean;
  hflip?: boolean;
  /** 3 (default) or 1. */
  channels?: 1 | 3;
  /** Seeds augmentation for direct get()/batch() calls (DataLoader derives its own per batch). */
  seed?: Seed;
  /** Receives the single warning line of a load (skipped files, ignored files, cache rebuilt). Default: console.warn. */
  onWarning?: (line: string) => void;
  /** false: no disk cache; a string: the cache directory; default `$TESSERA_CACHE/datasets` or `~/.cache/tessera/datasets`. */
  cache?: boolean | string;
  /** Images decoded at once (sharp runs on libuv's thread pool; more only queues). Default: CPUs, 2–8. */
  concurrency?: number;
}

export interface LoadInfo {
  spec: string;
  /** 'hit': read from disk; 'miss': decoded and written; 'rebuilt': the cache file was corrupt; 'off': no disk cache. */
  cache: 'hit' | 'miss' | 'rebuilt' | 'off';
  cachePath?: string;
  /** Files that could not be decoded. */
  skipped: number;
  /** The warning line emitted for this load, if any. */
  warning?: string;
  /** Wall time of loadDataset. */
  ms: number;
}

export interface Sample {
  /** float32 CHW in [-1, 1]. */
  image: Float32Array;
  shape: [number, number, number];
  label: number;
  id: string;
}

export interface Batch {
  /** float32 [B, C, H, W] in [-1, 1]. */
  images: Tensor;
  /** int64 [B]. */
  labels: Tensor;
}

export interface SplitOptions {
  /** Fraction of items for validation (default 0.1). */
  valFraction?: number;
  /** Exact number of validation items (overrides valFraction). */
  valCount?: number;
  /** Changes which items are held out (default ''). */
  salt?: string;
}

/** A view of a decoded dataset. Views share the pixel store: subset/split/withTransform copy nothing big. */
export class Dataset {
  readonly #store: Store;
  /** Store index of each of this view's items. */
  readonly #indices: Int32Array;
  readonly #seed: number;
  /** Augmentation stream for get()/batch() calls without an explicit rng. */
  readonly #rng: Rng;
  readonly transform: Readonly<Transform>;
  readonly info: LoadInfo;

  /** @internal Use loadDataset(). */
  constructor(store: Store, indices: Int32Array, transform: Transform, seed: number, info: LoadInfo) {
    if (transform.size > store.side || !Number.isInteger(transform.size) || transform.size < 1) {
      throw new DatasetError(`${store.spec}: size ${transform.size} must be an integer in [1, ${store.side}] (the stored side; raise 'resize' to crop larger)`);
    }
    if (transform.channels !== 1 && transform.channels !== 3) throw new DatasetError(`${store.spec}: channels must be 1 or 3`);
    if (transform.channels === 1 && store.channels === 3) {
      throw new DatasetError(`${store.spec}: this dataset was decoded in colour; load it with channels: 1 for grey`);
    }
    Object.freeze(store.classNames); // handed out by the classNames getter: callers must not edit it
    this.#store = store;
    this.#indices = indices;
    this.#seed = seed;
    this.#rng = new Rng(seed, 'augment');
    this.transform = Object.freeze({ ...transform });
    this.info = info;
  }

  /** Number of items. */
  get size(): number {
    return this.#indices.length;
  }
  get classNames(): readonly string[] {
    return this.#store.classNames;
  }
  get numClasses(): number {
    return this.#store.classNames.length;
  }
  /** False for a folder without class subfolders (every label is 0). */
  get labelled(): boolean {
    return this.#store.labelled;
  }
  get spec(): string {
    return this.#store.spec;
  }
  /** [C, H, W] of get() and of each batch row. */
  get imageShape(): [number, number, number] {
    return [this.transform.channels, this.transform.size, this.transform.size];
  }
  /** The side images are stored at (≥ size). */
  get storedSide(): number {
    return this.#store.side;
  }
  /** The seed augmentation streams derive from. */
  get seed(): number {
    return this.#seed;
  }

  #check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.#indices.length) {
      throw new RangeError(`${this.#store.spec}: index ${i} out of range [0, ${this.#indices.length})`);
    }
    return this.#indices[i]!;
  }

  /** Stable identity of item i (file path relative to the folder, 'google/1f600.png', 'mnist/3/17'). */
  id(i: number): string {
    return this.#store.ids[this.#check(i)]!;
  }
  label(i: number): number {
    return this.#store.labels[this.#check(i)]!;
  }
  /** All labels of this view, in order. */
  labels(): Int32Array {
    return Int32Array.from(this.#indices, (s) => this.#store.labels[s]!);
  }

  /** Writes store item `s`, transformed, as CHW floats at out[off…]. Draws crop, then flip, from rng. */
  #render(s: number, out: Float32Array, off: number, rng: Rng): void {
    const { pixels, side: R, channels: Cs } = this.#store;
    const { size: S, channels: C, randomCrop, hflip } = this.transform;
    const slack = R - S;
    let ox = slack >> 1;
    let oy = slack >> 1;
    if (randomCrop) {
      ox = rng.int(slack + 1);
      oy = rng.int(slack + 1);
    }
    const flip = hflip && rng.next() < 0.5;
    const plane = S * S;
    const base = s * R * R * Cs;
    for (let y = 0; y < S; y++) {
      const row = base + ((oy + y) * R + ox) * Cs;
      const o = off + y * S;
      for (let x = 0; x < S; x++) {
        const p = row + (flip ? S - 1 - x : x) * Cs;
        // Grey store → every output channel reads channel 0 (replication).
        for (let c = 0; c < C; c++) out[o + c * plane + x] = U8_TO_UNIT[pixels[Cs === 1 ? p : p + c]!]!;
      }
    }
  }

  /** Item i as float32 CHW in [-1, 1]. Augmentations draw from `rng`, else from the dataset's own seeded stream. */
  get(i: number, opts: { rng?: Rng } = {}): Sample {
    const s = this.#check(i);
    const [C, H, W] = this.imageShape;
    const image = new Float32Array(C * H * W);
    this.#render(s, image, 0, opts.rng ?? this.#rng);
    return { image, shape: [C, H, W], label: this.#store.labels[s]!, id: this.#store.ids[s]! };
  }

  /** Items as one float32 [B, C, H, W] tensor in [-1, 1] and int64 [B] labels (synchronous: pixels are in memory). */
  batch(indices: ArrayLike<number>, opts: { rng?: Rng } = {}): Batch {
    const rng = opts.rng ?? this.#rng;
    const [C, H, W] = this.imageShape;
    const per = C * H * W;
    const b = indices.length;
    const images = new Float32Array(b * per);
    const labels = new BigInt64Array(b);
    for (let k = 0; k < b; k++) {
      const s = this.#check(indices[k]!);
      this.#render(s, images, k * per, rng);
      labels[k] = BigInt(this.#store.labels[s]!);
    }
    return { images: tensor(images, { shape: [b, C, H, W] }), labels: tensor(labels, { shape: [b] }) };
  }

  /** A view of some of this view's items (indices into this view), e.g. for a small debug set. */
  subset(indices: ArrayLike<number>): Dataset {
    const idx = Int32Array.from(indices, (i) => this.#check(i));
    return new Dataset(this.#store, idx, { ...this.transform }, this.#seed, this.info);
  }

  /** The same items with another transform (size ≤ storedSide; channels 1 only if stored grey). */
  withTransform(t: Partial<Transform>): Dataset {
    return new Dataset(this.#store, this.#indices, { ...this.transform, ...t }, this.#seed, this.info);
  }

  /**
   * Deterministic, disjoint train/validation views. Items are ranked by SHA-256 of (salt, id) and the
   * lowest-ranked `valCount` (default round(valFraction·size), at least 1 when valFraction > 0) are
   * held out. It depends only on item identities — not load order, seeds or the machine — and adding
   * files moves only a handful of others. Validation views get no augmentation.
   */
  split(opts: SplitOptions = {}): { train: Dataset; val: Dataset } {
    const n = this.size;
    const frac = opts.valFraction ?? 0.1;
    if (!(frac >= 0 && frac < 1)) throw new DatasetError(`split: valFraction must be in [0, 1), got ${frac}`);
    let k = opts.valCount ?? Math.round(frac * n);
    if (opts.valCount === undefined && frac > 0 && n > 1) k = Math.max(k, 1);
    if (!Number.isInteger(k) || k < 0 || k >= n) {
      throw new DatasetError(`split: ${k} validation items requested from ${n} (need 0 ≤ valCount < size)`);
    }
    const salt = opts.salt ?? '';
    const ranked = Array.from({ length: n }, (_, i) => {
      const id = this.#store.ids[this.#indices[i]!]!;
      // 48 bits of the hash as a number: exact in a double, ties (≈ never) broken by id.
      return { i, id, r: createHash('sha256').update(`${salt}\0${id}`).digest().readUIntBE(0, 6) };
    });
    ranked.sort((a, b) => a.r - b.r || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const isVal = new Uint8Array(n);
    for (let j = 0; j < k; j++) isVal[ranked[j]!.i] = 1;
    const train: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) (isVal[i] ? val : train).push(i);
    return {
      train: this.subset(train),
      val: this.subset(val).withTransform({ randomCrop: false, hflip: false }),
    };
  }
}

// ---------------------------------------------------------------- loading

/** An optional positive integer option (the one check, src/io/validate.ts), as a DatasetError. */
function positiveInt(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return checkPositiveInt(v, what);
  } catch (e) {
    throw new DatasetError((e as Error).message);
  }
}

/** Decodes every item into one [n, side, side, channels] buffer with a bounded number of sharp jobs in flight. */
async function decodeAll(source: Source, items: SourceItem[], side: number, channels: 1 | 3, concurrency: number): Promise<Store> {
  const raws = items.map((it) => it.input).filter((x): x is RawImage => typeof x !== 'string');
  const w = raws[0]?.width;
  if (raws.length === items.length && raws.every((r) => r.width === w && r.height === w && r.channels === channels)) {
    // In-memory squares (MNIST): one batched resize instead of thousands of sharp calls.
    return {
      spec: source.spec,
      n: items.length,
      side,
      channels,
      pixels: resizeSquares(raws, side),
      labels: Int32Array.from(items, (it) => it.label),
      ids: items.map((it) => it.id),
      classNames: source.classNames,
      labelled: source.labelled,
      skipped: { count: 0, first: '' },
    };
  }
  const per = side * side * channels;
  const pixels = new Uint8Array(items.length * per);
  const errors: (string | undefined)[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const { input, id } = items[i]!;
      try {
        pixels.set(await decodeSquare(input, side, channels), i * per);
      } catch (e) {
        errors[i] = `${id}: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));

  // Drop the failures, keeping order. "first" is by item order, not completion order, so the warning
  // text is the same on every run.
  const keep: number[] = [];
  for (let i = 0; i < items.length; i++) if (errors[i] === undefined) keep.push(i);
  for (let j = 0; j < keep.length; j++) if (keep[j] !== j) pixels.copyWithin(j * per, keep[j]! * per, (keep[j]! + 1) * per);
  const failed = items.length - keep.length;
  return {
    spec: source.spec,
    n: keep.length,
    side,
    channels,
    pixels: pixels.subarray(0, keep.length * per), // a view: the few failed slots are not worth a copy
    labels: Int32Array.from(keep, (i) => items[i]!.label),
    ids: keep.map((i) => items[i]!.id),
    classNames: source.classNames,
    labelled: source.labelled,
    skipped: { count: failed, first: errors.find((e) => e !== undefined) ?? '' },
  };
}

/**
 * Loads a dataset from a spec ('mnist', 'emoji:google,apple', 'folder:/data/pets'): from the disk cache
 * when its files are unchanged, else by decoding (then caching). Unreadable images are skipped and
 * reported in ONE warning line; an empty result is a DatasetError.
 */
export async function loadDataset(specString: string, opts: LoadOptions = {}): Promise<Dataset> {
  const t0 = performance.now();
  const spec = parseDatasetSpec(specString);
  const size = positiveInt(opts.size, 'size');
  const resize = positiveInt(opts.resize, 'resize');
  const concurrency = positiveInt(opts.concurrency, 'concurrency') ?? Math.max(2, Math.min(8, availableParallelism()));
  const channels = opts.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new DatasetError(`channels must be 1 or 3, got ${String(channels)}`);
  const seed = resolveSeed(opts.seed);
  const warn = opts.onWarning ?? ((line: string) => console.warn(`tessera: ${line}`));

  const source = openSource(spec);
  const side = resize ?? size ?? source.nativeSide;
  if (side === undefined) throw new DatasetError(`${source.spec}: images may differ in size; give opts.size (and optionally resize)`);
  if (size !== undefined && size > side) throw new DatasetError(`${source.spec}: size ${size} is larger than resize ${side}`);
  const storeChannels = source.storeChannels(channels);

  const notes = [...source.notes];
  const dir = opts.cache === false ? undefined : typeof opts.cache === 'string' ? opts.cache : defaultCacheDir();
  const key = cacheKey({ spec: source.spec, fingerprint: source.fingerprint, side, channels: storeChannels });
  const path = dir === undefined ? undefined : cachePath(dir, source.spec, side, storeChannels, key);
  let status: LoadInfo['cache'] = 'off';
  let store: Store | undefined;
  if (path !== undefined) {
    const r = readCache(path, key);
    if (typeof r === 'object') {
      store = r;
      status = 'hit';
    } else {
      status = r === 'corrupt' ? 'rebuilt' : 'miss';
      if (r === 'corrupt') notes.push(`cache file ${path} was unreadable or corrupt; rebuilt it`);
    }
  }
  if (store === undefined) {
    const items = await source.items();
    if (items.length === 0) {
      throw new DatasetError(`${source.spec}: no images found${spec.kind === 'folder' ? ' (looked for .png, .jpg, .jpeg, .webp files)' : ''}`);
    }
    store = await decodeAll(source, items, side, storeChannels, concurrency);
    if (store.n === 0) {
      throw new DatasetError(`${source.spec}: none of the ${items.length} images could be read (first: ${store.skipped.first})`);
    }
    if (path !== undefined && dir !== undefined) {
      try {
        writeCache(dir, path, key, store);
      } catch (e) {
        // A read-only or full disk must not stop training: the data is in memory already.
        notes.push(`could not write cache ${path}: ${String((e as Error).message).split('\n')[0]}`);
      }
    }
  }

  const parts: string[] = [];
  const k = store.skipped.count;
  if (k > 0) parts.push(`skipped ${k} unreadable file${k === 1 ? '' : 's'} (first: ${store.skipped.first})`);
  parts.push(...notes);
  const warning = parts.length > 0 ? `${source.spec}: ${parts.join('; ')}` : undefined;
  if (warning !== undefined) warn(warning);

  const transform: Transform = { size: size ?? side, channels, randomCrop: opts.randomCrop ?? false, hflip: opts.hflip ?? false };
  const info: LoadInfo = { spec: source.spec, cache: status, cachePath: path, skipped: k, warning, ms: performance.now() - t0 };
  return new Dataset(
    store,
    Int32Array.from({ length: store.n }, (_, i) => i),
    transform,
    seed,
    info,
  );
}
