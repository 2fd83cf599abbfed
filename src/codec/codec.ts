// Images to a bitstream and back: a VQ tokenizer turns the image into token indices and an entropy
// coder (rANS, ./rans.ts) writes them in −log2 p bits each, with p from one of three models —
//   uniform  every code equally likely: log2 K bits per token (the baseline of Mao et al., "Extreme
//            image compression using fine-tuned VQGANs", 2023, whose code stores plain indices);
//   static   the codes' frequencies over a dataset, stored with the model (`fitCodec`);
//   prior    the prior's next-token distribution (autoregressive with its KV cache, or MaskGIT's
//            prediction for the next raster position with every later one masked), i.e. an
//            arithmetic-coded language model over tokens.
// The decoder must compute bit-identical probabilities. It runs the very same ops as the encoder —
// batch 1, one position per step, float32 — on one intra-op thread (a different thread count may
// split reductions differently), and each segment's CRC-32 of its indices catches any mismatch.
// Images of any size are padded by edge replication to whole tiles (fixed-size models: the prior's
// image size) or to whole downsampling factors (convolutional tokenizers), coded tile by tile, and
// cropped back exactly.
import { createHash } from 'node:crypto';
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { loadModelFile, modelTensors, CODEC_PREFIX, saveModelFile, MODEL_KEYS } from '../io/index.js';
import { imageToTensor, tensorToImage, type RawImage } from '../data/images.js';
import { loadDataset } from '../data/dataset.js';
import { loadTokenizer, TOKENIZER_KINDS, type Tokenizer } from '../tokenizers/index.js';
import { ARPrior, MaskGIT, HierarchicalPrior, PriorModel, PRIOR_KIND, VQDiffusion, flattenTokens, unflattenTokens } from '../priors/index.js';
import { CodecError, RansDecoder, RansEncoder, quantizeFrequencies, scaleBitsFor, uniformFrequencies, type Frequencies } from './rans.js';
import { crc32Indices } from './crc32.js';
import { readStream, writeStream, hex, ENTROPY_MODES, FINGERPRINT_BYTES, type EntropyMode, type Segment, type StreamHeader } from './format.js';
import { checkTierable, fitTiers, tierTokenizer, type Tier } from './tiers.js';

export { CodecError };

/** What `fitCodec` stores with a model (metadata key "codec"; tier tensors under `codec.tiers.<K>.`). */
export interface CodecSection {
  version: 1;
  /** Code counts per codebook size (the full one and every tier), one array per token level. */
  counts: Record<string, number[][]>;
  /** Codebook sizes of the stored tiers, largest first. */
  tiers: number[];
  /** Images the counts were taken over. */
  images: number;
  data?: string;
}
export const CODEC_META_KEY = 'codec';

/** Largest tile side for convolutional tokenizers, which take any multiple of their factor. */
const MAX_TILE = 256;

export interface CompressOptions {
  entropy?: EntropyMode;
  /** Codebook size: the full codebook (default) or a tier stored with the model. */
  codebook?: number;
  /**
   * Instead of `codebook`: the largest codebook (best quality) whose stream fits in this many bits per
   * pixel, else the smallest tier (prior coding: always the full codebook, the only one it codes).
   */
  targetBpp?: number;
}

export interface CompressResult {
  bytes: Uint8Array;
  /** Codebook size used. */
  codebookSize: number;
  /** Coded payload bits per token level (sum over tiles), excluding the header. */
  payloadBits: number;
  /** File bits per pixel of the original image. */
  bpp: number;
  tokens: number;
}

export interface DecompressOptions {
  /**
   * Fill lost tokens — segments whose CRC fails, plus `drop` — with this MaskGIT prior (its tokenizer
   * must be the stream's) instead of failing.
   */
  recover?: PriorModel;
  /** Simulate loss: mark this share of tokens lost after decoding (needs `recover`). */
  drop?: number;
  generator?: Generator;
}

export interface DecompressResult {
  image: RawImage;
  header: StreamHeader;
  /** Tokens marked lost (damaged segments and simulated drops), and how many there were in all. */
  lost: number;
  tokens: number;
}

interface Tile {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Where each tile lies in the padded image. */
export function tileLayout(
  width: number,
  height: number,
  tile: [number, number],
  fixed: boolean,
  factor: number,
): { width: number; height: number; tiles: Tile[] } {
  const pad = (n: number, m: number): number => Math.ceil(n / m) * m;
  const pw = fixed ? pad(width, tile[1]) : pad(width, factor);
  const ph = fixed ? pad(height, tile[0]) : pad(height, factor);
  const tiles: Tile[] = [];
  for (let y = 0; y < ph; y += tile[0]) for (let x = 0; x < pw; x += tile[1]) tiles.push({ x, y, w: Math.min(tile[1], pw - x), h: Math.min(tile[0], ph - y) });
  return { width: pw, height: ph, tiles };
}

/** One tile of `img` as [1, C, h, w] in [-1, 1]; pixels beyond the image repeat its edge. */
function cutTile(img: RawImage, t: Tile): Tensor {
  const c = img.channels;
  const data = new Uint8Array(t.w * t.h * c);
  for (let y = 0; y < t.h; y++) {
    const sy = Math.min(t.y + y, img.height - 1);
    for (let x = 0; x < t.w; x++) {
      const sx = Math.min(t.x + x, img.width - 1);
      for (let k = 0; k < c; k++) data[(y * t.w + x) * c + k] = img.data[(sy * img.width + sx) * c + k]!;
    }
  }
  return T.tidy(() => imageToTensor({ data, width: t.w, height: t.h, channels: c }).unsqueeze(0));
}

function pasteTile(out: RawImage, tile: RawImage, t: Tile): void {
  const c = out.channels;
  for (let y = 0; y < t.h && t.y + y < out.height; y++) {
    for (let x = 0; x < t.w && t.x + x < out.width; x++) {
      for (let k = 0; k < c; k++) out.data[((t.y + y) * out.width + t.x + x) * c + k] = tile.data[(y * t.w + x) * c + k]!;
    }
  }
}

/** The per-position tables of one segment, in coding order; `next(prev)` sees the previous symbol. */
interface SegmentModel {
  next(prev: number | null): Frequencies;
  dispose(): void;
}

const constantModel = (f: Frequencies): SegmentModel => ({ next: () => f, dispose: () => {} });

function probsToFrequencies(logits: Tensor, scaleBits: number): Frequencies {
  const p = T.tidy(() => T.softmax(logits.reshape([-1]), -1).data() as Float32Array);
  return quantizeFrequencies(p, scaleBits);
}

/** An autoregressive level: the prior's stepper, fed the null class then each coded token. */
function arModel(prior: ARPrior, condition: Tensor | undefined): SegmentModel {
  const st = prior.stepper(T.tensor([prior.nullId], { dtype: 'int64' }), condition);
  const bits = scaleBitsFor(prior.config.codebookSize);
  return {
    next: (prev) => T.tidy(() => probsToFrequencies(prev === null ? st.next() : st.next(T.tensor([prev], { dtype: 'int64' })), bits)),
    dispose: () => st.dispose(),
  };
}

/** A MaskGIT level as a raster-order model: p(x_i | x_<i) with x_≥i masked — one forward per token. */
function maskgitModel(prior: MaskGIT, condition: Tensor | undefined): SegmentModel {
  const n = prior.seqLen;
  const seq = new Array<number>(n).fill(prior.maskId);
  const prefix = T.tensor([prior.prefixIds([null]).item() as number], { dtype: 'int64' }).keep();
  const bits = scaleBitsFor(prior.config.codebookSize);
  let i = 0;
  return {
    next: (prev) => {
      if (prev !== null) seq[i - 1] = prev;
      const pos = i++;
      return T.noGrad(() => T.tidy(() => probsToFrequencies(prior.forward(T.tensor([seq], { dtype: 'int64' }), prefix, condition).select(1, pos), bits)));
    },
    dispose: () => prefix.dispose(),
  };
}

/** Runs fn on one intra-op thread, so the prior's probabilities do not depend on the machine's core count. */
function singleThreaded<R>(fn: () => R): R {
  const n = T.getNumThreads();
  T.setNumThreads(1);
  try {
    return fn();
  } finally {
    T.setNumThreads(n);
  }
}

export class Codec {
  readonly #fingerprints = new Map<string, Uint8Array>();
  readonly #tiers = new Map<number, Tokenizer>();

  private constructor(
    /** The model file it was loaded from. */
    readonly path: string,
    readonly tokenizer: Tokenizer,
    readonly prior: PriorModel | null,
    readonly section: CodecSection | null,
    readonly tierTensors: Record<string, Tensor>,
  ) {}

  /** Loads a tokenizer or prior model file (a prior file brings its tokenizer), with its codec section if any. */
  static load(path: string): Codec {
    const file = loadModelFile(path);
    const kind = file.kind;
    let tokenizer: Tokenizer;
    let prior: PriorModel | null = null;
    if (kind === PRIOR_KIND) {
      prior = PriorModel.load(path);
      tokenizer = prior.tokenizer;
    } else if ((TOKENIZER_KINDS as readonly string[]).includes(kind)) {
      tokenizer = loadTokenizer(path);
      tokenizer.eval();
    } else {
      throw new CodecError(`${path} holds a '${kind}' model: compression needs a tokenizer or a prior model file`);
    }
    const raw = file.metadata[CODEC_META_KEY];
    let section: CodecSection | null = null;
    if (raw !== undefined) {
      try {
        section = JSON.parse(raw) as CodecSection;
      } catch {
        throw new CodecError(`${path}: its codec section is not valid JSON`);
      }
    }
    const tierTensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(file.stateDict)) if (k.startsWith(CODEC_PREFIX)) tierTensors[k] = t.keep();
    for (const t of Object.values(modelTensors(file.stateDict))) t.dispose();
    return new Codec(path, tokenizer, prior, section, tierTensors);
  }

  dispose(): void {
    if (this.prior) this.prior.dispose();
    else this.tokenizer.dispose();
    for (const t of this.#tiers.values()) t.dispose();
    for (const t of Object.values(this.tierTensors)) t.dispose();
  }

  get channels(): 1 | 3 {
    return (this.tokenizer as { inChannels?: number }).inChannels === 1 ? 1 : 3;
  }

  /** Codebook sizes it can code with: the full codebook, then any stored tiers. */
  get codebookSizes(): number[] {
    return [this.tokenizer.codebookSize, ...(this.section?.tiers ?? [])];
  }

  /** Tile size and whether every tile must have exactly that size (fixed-grid priors and ViT tokenizers). */
  get tiling(): { tile: [number, number]; fixed: boolean; factor: number } {
    const factor = Math.max(...this.tokenizer.levels.map((l) => l.downsample));
    if (this.prior) return { tile: [...this.prior.config.imageSize], fixed: true, factor };
    const s = (this.tokenizer.config as { imageSize?: number }).imageSize;
    if (s !== undefined) return { tile: [s, s], fixed: true, factor };
    const side = Math.max(factor, Math.floor(MAX_TILE / factor) * factor);
    return { tile: [side, side], fixed: false, factor };
  }

  /** The tokenizer for a codebook size: the model's own, or a stored tier's. */
  tokenizerFor(k: number): Tokenizer {
    if (k === this.tokenizer.codebookSize) return this.tokenizer;
    const cached = this.#tiers.get(k);
    if (cached) return cached;
    if (!this.section?.tiers.includes(k)) {
      throw new CodecError(
        `this model has no ${k}-code tier: its codebook sizes are ${this.codebookSizes.join(', ')}${this.section ? '' : ' (add tiers with `tessera train codec`)'}`,
      );
    }
    const tier: Tier = { codebookSize: k, tensors: {} };
    const p = `${CODEC_PREFIX}tiers.${k}.`;
    for (const [key, t] of Object.entries(this.tierTensors)) if (key.startsWith(p)) tier.tensors[key.slice(p.length)] = t;
    const tok = T.tidy(() => tierTokenizer(this.tokenizer.kind, this.tokenizer.config, this.tokenizer.stateDict(), tier));
    this.#tiers.set(k, tok);
    return tok;
  }

  /**
   * The first bytes of SHA-256 over everything decoding in this mode depends on: the tokenizer's kind, config
   * and weights (the tier's when one is used), and the entropy model (stored counts or the prior).
   */
  fingerprint(mode: EntropyMode, k: number): Uint8Array {
    const key = `${mode}:${k}`;
    const hit = this.#fingerprints.get(key);
    if (hit) return hit;
    const h = createHash('sha256');
    const feed = (name: string, m: { stateDict(): Record<string, Tensor> }): void =>
      T.tidy(() => {
        const sd = m.stateDict();
        for (const k2 of Object.keys(sd).sort()) {
          const t = sd[k2]!.contiguous();
          h.update(`${name}.${k2}:${t.dtype}:${t.shape.join(',')};`);
          const d = t.data();
          h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
        }
      });
    h.update('tessera-codec-1;');
    h.update(JSON.stringify({ kind: this.tokenizer.kind, config: this.tokenizer.config, k, mode }));
    feed('tokenizer', this.tokenizerFor(k));
    if (mode === 'static') h.update(JSON.stringify(this.#counts(k)));
    if (mode === 'prior') {
      const prior = this.#priorFor(k);
      h.update(JSON.stringify(prior.config));
      feed('prior', prior.prior as unknown as { stateDict(): Record<string, Tensor> });
    }
    const fp = new Uint8Array(h.digest().subarray(0, FINGERPRINT_BYTES));
    this.#fingerprints.set(key, fp);
    return fp;
  }

  #counts(k: number): number[][] {
    const c = this.section?.counts[String(k)];
    if (!c) {
      throw new CodecError(
        `static coding needs the model's code frequencies${k === this.tokenizer.codebookSize ? '' : ` for the ${k}-code tier`}: add them with \`tessera train codec --model ${this.path} --data <images> --out <file>\``,
      );
    }
    return c;
  }

  #priorFor(k: number): PriorModel {
    if (!this.prior) throw new CodecError(`prior coding needs a prior model file; ${this.path} holds a tokenizer (use --entropy uniform or static)`);
    if (k !== this.tokenizer.codebookSize)
      throw new CodecError(`prior coding uses the prior's full ${this.tokenizer.codebookSize}-code codebook; tiers are coded with --entropy uniform or static`);
    if (this.prior.prior instanceof VQDiffusion)
      throw new CodecError('prior coding needs an autoregressive or MaskGIT prior; VQ-Diffusion gives no per-token sequential probabilities');
    return this.prior;
  }

  /** The per-level segment models for one tile; `tokens` are the levels coded so far (for conditioning). */
  #levelModel(mode: EntropyMode, k: number, level: number, coarser: Int32Array[]): SegmentModel {
    if (mode === 'uniform') return constantModel(uniformFrequencies(k));
    if (mode === 'static') return constantModel(quantizeFrequencies(this.#counts(k)[level]!, scaleBitsFor(k)));
    const p = this.#priorFor(k).prior;
    const levelPrior = p instanceof HierarchicalPrior ? p.levels[level]! : (p as ARPrior | MaskGIT);
    const condition = level > 0 ? T.tensor([Array.from(coarser[level - 1]!)], { dtype: 'int64' }) : undefined;
    const m = levelPrior instanceof ARPrior ? arModel(levelPrior, condition) : maskgitModel(levelPrior, condition);
    return {
      next: m.next,
      dispose: () => {
        m.dispose();
        condition?.dispose();
      },
    };
  }

  /** Compresses one image (uint8 HWC with this model's channel count) to a .tsr stream. */
  compress(img: RawImage, o: CompressOptions = {}): CompressResult {
    if (o.targetBpp !== undefined) {
      if (o.codebook !== undefined) throw new CodecError('give a codebook size or a target bpp, not both');
      if (!(o.targetBpp > 0)) throw new CodecError(`target bpp must be > 0, got ${o.targetBpp}`);
      // Prior coding has the full codebook only; the other modes try every tier.
      const sizes = o.entropy === 'prior' ? [this.tokenizer.codebookSize] : [...this.codebookSizes].sort((a, b) => b - a);
      let r: CompressResult | undefined;
      for (const k of sizes) {
        r = this.compress(img, { entropy: o.entropy, codebook: k });
        if (r.bpp <= o.targetBpp) break;
      }
      return r!;
    }
    const mode = o.entropy ?? 'uniform';
    if (!ENTROPY_MODES.includes(mode)) throw new CodecError(`unknown entropy mode '${String(mode)}' (expected ${ENTROPY_MODES.join(', ')})`);
    if (img.channels !== this.channels) throw new CodecError(`the image has ${img.channels} channels; this model codes ${this.channels}`);
    const k = o.codebook ?? this.tokenizer.codebookSize;
    const tok = this.tokenizerFor(k);
    const fp = this.fingerprint(mode, k);
    const { tile, fixed, factor } = this.tiling;
    const layout = tileLayout(img.width, img.height, tile, fixed, factor);
    const segments: Segment[] = [];
    let payloadBits = 0;
    let tokens = 0;
    const run = (): void => {
      for (const t of layout.tiles) {
        const levels = T.noGrad(() =>
          T.tidy(() => {
            const x = cutTile(img, t);
            return tok.encodeLevels(x).map((l) => Int32Array.from(flattenTokens(l).toArray()));
          }),
        );
        levels.forEach((ids, li) => {
          const enc = new RansEncoder();
          const model = this.#levelModel(mode, k, li, levels);
          try {
            for (let i = 0; i < ids.length; i++) enc.put(model.next(i === 0 ? null : ids[i - 1]!), ids[i]!);
          } finally {
            model.dispose();
          }
          payloadBits += enc.bits;
          tokens += ids.length;
          segments.push({ bytes: enc.finish(), crc: crc32Indices(ids) });
        });
      }
    };
    if (mode === 'prior') singleThreaded(run);
    else run();
    const bytes = writeStream(
      { entropy: mode, channels: this.channels, fingerprint: fp, width: img.width, height: img.height, tile, codebookSize: k },
      segments,
    );
    return { bytes, codebookSize: k, payloadBits, bpp: (bytes.length * 8) / (img.width * img.height), tokens };
  }

  /** Decodes a .tsr stream made with this model; a stream from another model, truncated or corrupt, is a CodecError. */
  decompress(bytes: Uint8Array, o: DecompressOptions = {}): DecompressResult {
    const { header, segments } = readStream(bytes);
    const k = header.codebookSize;
    if (!this.codebookSizes.includes(k)) {
      throw new CodecError(`the stream uses a ${k}-code codebook; this model has ${this.codebookSizes.join(', ')}: it was compressed with another model`);
    }
    const fp = this.fingerprint(header.entropy, k);
    if (hex(fp) !== hex(header.fingerprint)) {
      throw new CodecError(
        `the stream was compressed with another model (fingerprint ${hex(header.fingerprint)}; ${this.path} in ${header.entropy} mode is ${hex(fp)})`,
      );
    }
    if (header.channels !== this.channels) throw new CodecError(`corrupt header: ${header.channels} channels for a ${this.channels}-channel model`);
    const { tile, fixed, factor } = this.tiling;
    if (header.tile[0] !== tile[0] || header.tile[1] !== tile[1])
      throw new CodecError(`corrupt header: tile ${header.tile.join('×')} (this model codes ${tile.join('×')} tiles)`);
    const layout = tileLayout(header.width, header.height, tile, fixed, factor);
    const tok = this.tokenizerFor(k);
    const nLevels = tok.levels.length;
    if (segments.length !== layout.tiles.length * nLevels) {
      throw new CodecError(`corrupt stream: ${segments.length} segments for ${layout.tiles.length} tiles × ${nLevels} levels`);
    }
    if (o.drop !== undefined && !(o.drop >= 0 && o.drop <= 1)) throw new CodecError(`drop must be in [0, 1], got ${o.drop}`);
    if ((o.drop ?? 0) > 0 && !o.recover) throw new CodecError('simulated loss (drop) needs a MaskGIT prior to recover the tokens');
    if (o.recover) this.#checkRecoveryPrior(o.recover, nLevels);
    const out: RawImage = {
      data: new Uint8Array(header.width * header.height * this.channels),
      width: header.width,
      height: header.height,
      channels: this.channels,
    };
    let lost = 0;
    let tokens = 0;
    const run = (): void => {
      layout.tiles.forEach((t, ti) => {
        const shapes = tok.levels.map((l) => [t.h / l.downsample, t.w / l.downsample, l.tokensPerPosition] as const);
        const levels: Int32Array[] = [];
        const lostMask: Uint8Array[] = [];
        shapes.forEach((s, li) => {
          const n = s[0] * s[1] * s[2];
          const seg = segments[ti * nLevels + li]!;
          let ids: Int32Array | null = new Int32Array(n);
          try {
            const dec = new RansDecoder(seg.bytes);
            const model = this.#levelModel(header.entropy, k, li, levels);
            try {
              for (let i = 0; i < n; i++) ids[i] = dec.get(model.next(i === 0 ? null : ids[i - 1]!));
            } finally {
              model.dispose();
            }
            dec.finish();
            if (crc32Indices(ids) !== seg.crc) throw new CodecError('CRC mismatch');
          } catch (e) {
            if (!(e instanceof CodecError) || !o.recover) {
              if (e instanceof CodecError) {
                throw new CodecError(
                  `corrupt stream: segment ${ti * nLevels + li + 1} of ${segments.length} (tile at ${t.x},${t.y}${nLevels > 1 ? `, level ${tok.levels[li]!.name}` : ''}) does not decode to its CRC (${e.message}); decompress --recover fills damaged tokens`,
                );
              }
              throw e;
            }
            ids = null;
          }
          const m = new Uint8Array(n);
          if (ids === null) {
            m.fill(1);
            ids = new Int32Array(n);
          } else if ((o.drop ?? 0) > 0) {
            const r = T.tidy(() => T.rand([n], o.generator ?? null).toArray());
            for (let i = 0; i < n; i++) if (r[i]! < o.drop!) m[i] = 1;
          }
          levels.push(ids);
          lostMask.push(m);
          tokens += n;
          lost += m.reduce((a, b) => a + b, 0);
        });
        if (o.recover && lostMask[0]!.some((v) => v)) levels[0] = this.#recover(o.recover, levels[0]!, lostMask[0]!, o.generator);
        const pixels = T.noGrad(() =>
          T.tidy(() => {
            const idx = levels.map((ids, li) => {
              const [h, w, c] = shapes[li]!;
              return unflattenTokens(T.tensor([Array.from(ids)], { dtype: 'int64' }), { codebookSize: k, grid: [h, w], tokensPerPosition: c, numClasses: 0 });
            });
            return tensorToImage(tok.decodeLevels(idx).clamp(-1, 1).select(0, 0));
          }),
        );
        pasteTile(out, pixels, t);
      });
    };
    if (header.entropy === 'prior') singleThreaded(run);
    else run();
    return { image: out, header, lost, tokens };
  }

  #checkRecoveryPrior(pm: PriorModel, nLevels: number): void {
    if (!(pm.prior instanceof MaskGIT)) throw new CodecError(`recovery needs a MaskGIT prior model file; this one is ${pm.prior.label}`);
    if (nLevels !== 1) throw new CodecError('recovery supports single-level tokenizers');
    const same = T.tidy(() => {
      const a = this.tokenizer.stateDict();
      const b = pm.tokenizer.stateDict();
      const keys = Object.keys(a);
      return (
        keys.length === Object.keys(b).length &&
        keys.every((key) => b[key] !== undefined && a[key]!.shape.join() === b[key]!.shape.join() && a[key]!.allclose(b[key]!, 0, 0))
      );
    });
    if (!same) throw new CodecError("the recovery prior was trained on another tokenizer than the stream's");
    const [h, w] = pm.config.imageSize;
    const { tile } = this.tiling;
    if (h !== tile[0] || w !== tile[1]) throw new CodecError(`the recovery prior makes ${h}×${w} images; the stream's tiles are ${tile.join('×')}`);
  }

  #recover(pm: PriorModel, ids: Int32Array, lost: Uint8Array, generator?: Generator): Int32Array {
    return T.noGrad(() =>
      T.tidy(() => {
        const known = T.tensor([Array.from(ids)], { dtype: 'int64' });
        const mask = T.tensor([Array.from(lost)], { dtype: 'int64' }).gt(0);
        const seq = pm.sampleTokens({ classes: [null], known, mask, generator, defaults: true });
        return Int32Array.from(seq.toArray());
      }),
    );
  }
}

/**
 * Counts how often each code is used on `images` (per level; for the full codebook and every tier),
 * fits `tiers` (k-means + fine-tuning, ./tiers.ts) first when asked, and writes `out`: the model file
 * with its codec section, which tokenizer and prior loaders ignore.
 */
export function fitCodec(
  path: string,
  images: Tensor,
  out: string,
  o: { tiers?: readonly number[]; tierSteps?: number; data?: string; generator?: Generator; onProgress?: (msg: string) => void } = {},
): CodecSection {
  const codec = Codec.load(path);
  try {
    const file = loadModelFile(path);
    const base = codec.tokenizer;
    const tiers: Tier[] = [];
    if (o.tiers && o.tiers.length > 0) {
      checkTierable(base);
      tiers.push(...fitTiers(base, images, o.tiers, { steps: o.tierSteps, generator: o.generator, onProgress: o.onProgress }));
    }
    const counts: Record<string, number[][]> = {};
    const count = (tok: Tokenizer, k: number): void => {
      const per = tok.levels.map(() => new Array<number>(k).fill(0));
      const n = images.size(0);
      for (let s = 0; s < n; s += 64) {
        const levels = T.noGrad(() => T.tidy(() => tok.encodeLevels(images.narrow(0, s, Math.min(64, n - s))).map((l) => l.reshape([-1]).toArray())));
        levels.forEach((ids, li) => {
          for (const i of ids) per[li]![i] = per[li]![i]! + 1;
        });
      }
      counts[String(k)] = per;
    };
    count(base, base.codebookSize);
    const tensors: Record<string, Tensor> = { ...modelTensors(file.stateDict) };
    for (const tier of tiers) {
      const tok = tierTokenizer(
        base.kind,
        base.config,
        T.tidy(() => base.stateDict()),
        tier,
      );
      try {
        count(tok, tier.codebookSize);
      } finally {
        tok.dispose();
      }
      for (const [k, t] of Object.entries(tier.tensors)) tensors[`${CODEC_PREFIX}tiers.${tier.codebookSize}.${k}`] = t;
    }
    const section: CodecSection = { version: 1, counts, tiers: tiers.map((t) => t.codebookSize), images: images.size(0), ...(o.data ? { data: o.data } : {}) };
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(file.metadata)) if (!k.startsWith('tessera.') && k !== CODEC_META_KEY) extra[k] = v;
    extra[CODEC_META_KEY] = JSON.stringify(section);
    saveModelFile(out, { kind: file.kind, config: JSON.parse(file.metadata[MODEL_KEYS.config]!) as object, stateDict: tensors, extra });
    return section;
  } finally {
    codec.dispose();
  }
}

export interface TrainCodecOptions {
  /** Tokenizer or prior model file. */
  model: string;
  /** Dataset spec (mnist, emoji:google, a folder…): its training split is used. */
  data: string;
  out: string;
  /** Codebook tiers to fit (strictly decreasing, below the model's codebook size). */
  tiers?: readonly number[];
  tierSteps?: number;
  /** Training images used (spread evenly over the split; default 2000). */
  limit?: number;
  /** Validation images held out, as the trainers do (default 500). */
  valCount?: number;
  seed?: number;
  onProgress?: (msg: string) => void;
  onWarning?: (line: string) => void;
}

/** `tessera train codec`: fitCodec on a dataset's training split at the model's tile size. */
export async function trainCodec(o: TrainCodecOptions): Promise<CodecSection> {
  const probe = Codec.load(o.model);
  const { tile, fixed, factor } = probe.tiling;
  const channels = probe.channels;
  probe.dispose();
  const side = fixed ? tile[0] : undefined;
  const ds = await loadDataset(o.data, { ...(side !== undefined ? { size: side, resize: side } : {}), channels, onWarning: o.onWarning });
  const s = ds.transform.size;
  if (s % factor !== 0) throw new CodecError(`${o.data} gives ${s} px images, not a multiple of the model's downsampling factor ${factor}`);
  const { train } = ds.split({ valCount: o.valCount ?? 500 });
  const n = Math.min(o.limit ?? 2000, train.size);
  const idx = Array.from({ length: n }, (_, i) => Math.floor((i * train.size) / n));
  const images = train.batch(idx).images;
  try {
    return fitCodec(o.model, images, o.out, {
      tiers: o.tiers,
      tierSteps: o.tierSteps,
      data: o.data,
      generator: new T.Generator(o.seed ?? 0),
      onProgress: o.onProgress,
    });
  } finally {
    images.dispose();
  }
}
