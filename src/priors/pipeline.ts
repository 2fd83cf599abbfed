// A prior and its tokenizer as one usable generator: class names, sampling to images (in bounded
// batches), inpainting and outpainting — saved together as one model file (kind "prior"), so
// `tessera sample --model P` needs nothing else. The file may also carry recommended sampling
// settings (config.sampling), applied to every option a caller leaves unset.
import { readFileSync } from 'node:fs';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { saveModelFile, buildFromModelFile, writeFileAtomic, MODEL_KEYS } from '../io/index.js';
import { ConfigError, checkEnum, checkInt, checkNumber, checkPositiveInt, checkString, isObject, rejectUnknownKeys } from '../io/validate.js';
import { resolveClass } from '../data/classes.js';
import { checkLimit } from '../data/limits.js';
import { createTokenizer, type Tokenizer, type TokenizerKind } from '../tokenizers/index.js';
import { ARPrior, type ARExtras, type ARPriorConfig } from './autoregressive.js';
import { MaskGIT, type MaskGITConfig, type MaskGITExtras } from './maskgit.js';
import { HierarchicalPrior, type HierarchicalPriorConfig } from './hierarchical.js';
import { VQDiffusion, type VQDiffusionConfig, type VQDiffusionExtras } from './vq-diffusion.js';
import { MASK_SCHEDULES } from './sampling.js';
import { flattenTokens, rejectOptions, unflattenTokens, SHARED_GENERATE_KEYS, type Prior, type PriorGenerateOptions } from './common.js';

/** The prior architectures a model file can hold, by config.arch. A new prior registers here. */
export const PRIOR_ARCHS = {
  ar: (cfg: object): ARPrior => new ARPrior(cfg as ARPriorConfig),
  maskgit: (cfg: object): MaskGIT => new MaskGIT(cfg as MaskGITConfig),
  hierarchical: (cfg: object): HierarchicalPrior => new HierarchicalPrior(cfg as HierarchicalPriorConfig),
  diffusion: (cfg: object): VQDiffusion => new VQDiffusion(cfg as VQDiffusionConfig),
} as const;
export type PriorArch = keyof typeof PRIOR_ARCHS;
export type AnyPrior = ReturnType<(typeof PRIOR_ARCHS)[PriorArch]>;
export const PRIOR_KIND = 'prior';

/**
 * Recommended sampling settings stored with a model (chosen when it was trained or evaluated).
 * Shared keys for every prior, plus the prior's own extras (MaskGIT: steps, schedule, choiceTemperature;
 * VQ-Diffusion: steps, truncation).
 */
export interface SamplingDefaults {
  cfg?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  steps?: number;
  schedule?: MaskGITExtras['schedule'];
  choiceTemperature?: number;
  truncation?: number;
  purity?: boolean;
  /** Where the settings come from, e.g. the evaluation that chose them. */
  note?: string;
}

export interface PriorModelConfig {
  arch: PriorArch;
  prior: ARPriorConfig | MaskGITConfig | VQDiffusionConfig | HierarchicalPriorConfig;
  tokenizer: { kind: TokenizerKind; config: object };
  /** Image side(s) the prior's token grid decodes to: [H, W]. */
  imageSize: [number, number];
  /** Class names by id (empty for unconditional models). */
  classNames: string[];
  /** Dataset spec it was trained on, for reference. */
  data?: string;
  /** Recommended sampling settings (see SamplingDefaults). */
  sampling?: SamplingDefaults;
}

const CONFIG_KEYS = ['arch', 'prior', 'tokenizer', 'imageSize', 'classNames', 'data', 'sampling'] as const;
const SHARED_DEFAULT_KEYS = ['cfg', 'temperature', 'topK', 'topP'] as const;

/**
 * Options of PriorModel's sampling calls: the shared prior options (classes may be names), plus
 * every prior's extras — an extra the model's prior does not take is an error, never ignored.
 */
export interface GenerateOptions extends Omit<PriorGenerateOptions, 'classes'>, ARExtras, MaskGITExtras, VQDiffusionExtras {
  /** Class per image: an id, a class name, or null (unconditional / null class). */
  classes?: readonly (number | string | null)[];
  /** Fill options left unset from the model file's recommended settings (default true). */
  defaults?: boolean;
}

/** Options of inpaint/outpaint: one class for the new content, blending, and the prior's extras. */
export type EditOptions = Omit<GenerateOptions, 'classes' | 'batch' | 'known' | 'mask' | 'defaults'> & {
  /** Class to steer the new content toward (default: the null class). */
  class?: number | string | null;
  /** Pixels over which the result is blended into the original (default max(1, round(f / 2))). */
  band?: number;
};
export type InpaintOptions = EditOptions & {
  /** Tokens the token mask is widened by (default 1). */
  widen?: number;
};

/** Resolved sampling settings and which of them came from the model file. */
export interface SamplingSettings {
  options: GenerateOptions;
  /** Keys filled from the model's recommended settings. */
  fromModel: string[];
}

export class PriorModel {
  constructor(
    readonly config: PriorModelConfig,
    readonly tokenizer: Tokenizer,
    readonly prior: AnyPrior,
  ) {}

  static create(config: PriorModelConfig, tokenizer?: Tokenizer): PriorModel {
    checkModelConfig(config);
    const tok = tokenizer ?? (createTokenizer(config.tokenizer.kind, config.tokenizer.config as never) as Tokenizer);
    const prior = PRIOR_ARCHS[config.arch](config.prior);
    if (prior instanceof HierarchicalPrior) {
      checkLevels(prior, tok, config);
      if (config.sampling !== undefined) checkSamplingDefaults(config.sampling, prior, 'sampling');
      return new PriorModel(config, tok, prior);
    }
    if (tok.levels.length > 1) {
      throw new Error(
        `the ${tok.kind} tokenizer has ${tok.levels.length} token levels (${tok.levels.map((l) => l.name).join(', ')}): its prior must be hierarchical, one level per token level`,
      );
    }
    const p = prior.config;
    if (p.codebookSize !== tok.codebookSize) throw new Error(`prior codebookSize ${p.codebookSize} ≠ tokenizer's ${tok.codebookSize}`);
    if (p.tokensPerPosition !== tok.tokensPerPosition) throw new Error(`prior tokensPerPosition ${p.tokensPerPosition} ≠ tokenizer's ${tok.tokensPerPosition}`);
    const [H, W] = config.imageSize;
    if (p.grid[0] * tok.downsample !== H || p.grid[1] * tok.downsample !== W) {
      throw new Error(`prior grid ${p.grid.join('×')} × downsampling ${tok.downsample} ≠ image size ${H}×${W}`);
    }
    if (config.classNames.length !== p.numClasses) throw new Error(`${config.classNames.length} class names for ${p.numClasses} classes`);
    if (config.sampling !== undefined) checkSamplingDefaults(config.sampling, prior, 'sampling');
    return new PriorModel(config, tok, prior);
  }

  get arch(): PriorArch {
    return this.config.arch;
  }
  get classNames(): readonly string[] {
    return this.config.classNames;
  }
  get conditional(): boolean {
    return this.config.classNames.length > 0;
  }
  /** The model's recommended sampling settings ({} when it has none). */
  get samplingDefaults(): SamplingDefaults {
    return this.config.sampling ?? {};
  }

  /** A class name or id → id (src/data/classes.ts: the one resolver). */
  classIndex(c: number | string): number {
    return resolveClass(this.config.classNames, c);
  }

  #classIds(classes: readonly (number | string | null)[]): (number | null)[] {
    return classes.map((c) => (c === null ? null : this.classIndex(c)));
  }

  /**
   * The options a sampling call runs with: the caller's, then the model's recommended settings for
   * every one left unset (unless `defaults: false`). Options the prior does not take are refused.
   */
  samplingSettings(o: GenerateOptions = {}, who = 'sample'): SamplingSettings {
    const prior: Prior = this.prior;
    rejectOptions(o, [...SHARED_GENERATE_KEYS, ...prior.extraOptions, 'defaults'], who, prior.label);
    const options: GenerateOptions = { ...o };
    const fromModel: string[] = [];
    if (o.defaults !== false) {
      for (const [k, v] of Object.entries(this.samplingDefaults)) {
        if (k === 'note' || v === undefined || (options as Record<string, unknown>)[k] !== undefined) continue;
        (options as Record<string, unknown>)[k] = v;
        fromModel.push(k);
      }
    }
    delete options.defaults;
    return { options, fromModel };
  }

  /** Token sequences [B, N] from the prior, with the model's recommended settings for unset options. */
  sampleTokens(o: GenerateOptions = {}): Tensor {
    const { options } = this.samplingSettings(o);
    const { classes, ...rest } = options;
    return this.prior.generate({ ...rest, classes: classes ? this.#classIds(classes) : undefined });
  }

  /** Token sequences [B, N] → images [B, C, H, W] in [-1, 1] (hierarchical: N = Nt + Nb, top first). */
  decode(seq: Tensor): Tensor {
    const prior = this.prior;
    if (prior instanceof HierarchicalPrior) {
      return T.noGrad(() =>
        T.tidy(() => this.tokenizer.decodeLevels(prior.split(seq).map((s, i) => unflattenTokens(s, prior.levels[i]!.config))).clamp(-1, 1)),
      );
    }
    return T.noGrad(() => T.tidy(() => this.tokenizer.decode(unflattenTokens(seq, prior.config)).clamp(-1, 1)));
  }

  /** Images → flat token sequences [B, N] as the prior models them (hierarchical: every level, top first). */
  encode(images: Tensor): Tensor {
    return T.noGrad(() =>
      T.tidy(() =>
        this.prior instanceof HierarchicalPrior
          ? T.cat(this.tokenizer.encodeLevels(images).map(flattenTokens), 1)
          : flattenTokens(this.tokenizer.encode(images)),
      ),
    );
  }

  /** Sampled images [B, C, H, W] in [-1, 1], all in one batch (see sampleBatches for many images). */
  sample(o: GenerateOptions = {}): Tensor {
    return T.tidy(() => this.decode(this.sampleTokens(o)));
  }

  /**
   * Samples `classes.length` (or `batch`) images `batchSize` at a time, so memory does not grow with
   * the count: yields { start, images [b, C, H, W] } in order; each batch is disposed when the
   * consumer asks for the next. One generator runs through all batches, so a seed, a count and a
   * batch size give the same images every time.
   */
  *sampleBatches(o: GenerateOptions, batchSize: number): Generator<{ start: number; images: Tensor }> {
    checkPositiveInt(batchSize, 'sampleBatches: batchSize');
    const { options } = this.samplingSettings(o);
    if (options.known || options.mask) throw new Error('sampleBatches: editing (known, mask) works on one batch: use sampleTokens');
    const total = options.classes?.length ?? options.batch ?? 1;
    checkPositiveInt(total, 'sampleBatches: number of images');
    const classes = options.classes ? this.#classIds(options.classes) : null;
    for (let start = 0; start < total; start += batchSize) {
      const b = Math.min(batchSize, total - start);
      const images = T.tidy(() =>
        this.decode(
          this.prior.generate({ ...options, defaults: undefined, classes: classes ? classes.slice(start, start + b) : undefined, batch: b } as never),
        ).keep(),
      );
      try {
        yield { start, images };
      } finally {
        images.dispose();
      }
    }
  }

  /** The prior, when it can generate tokens among known ones on all sides (inpaint, outpaint). */
  #editingPrior(what: string): Prior {
    const prior: Prior = this.prior;
    if (!prior.editsAnywhere)
      throw new Error(`${what} needs a prior that sees the whole image, such as MaskGIT; this model is ${prior.label} (it can only sample)`);
    return prior;
  }

  /** Shared checks of an edit call; returns the generate() options and the class id. */
  #editOptions(o: EditOptions, who: string, own: readonly string[]): { gen: PriorGenerateOptions; cls: number | null } {
    const prior = this.#editingPrior(who === 'inpaint' ? 'inpainting' : 'outpainting');
    const shared = SHARED_GENERATE_KEYS.filter((k) => !['classes', 'batch', 'known', 'mask'].includes(k));
    rejectOptions(o, [...shared, ...prior.extraOptions, 'class', 'band', ...own], who, prior.label);
    if (o.band !== undefined) checkInt(o.band, `${who}: band`, { min: 0 });
    const { class: c, band: _band, widen: _widen, ...rest } = o as InpaintOptions;
    const gen: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) gen[k] = v;
    Object.assign(gen, prior.editDefaults(gen));
    const cls = c === undefined || c === null ? null : this.classIndex(c);
    return { gen: gen as PriorGenerateOptions, cls };
  }

  /**
   * Regenerates the masked part of an image. image [1, C, H, W] at the model's image size; mask
   * [H, W] (nonzero = regenerate). The token mask covers every token touching the mask, widened by
   * `widen` tokens; decoding uses the prior's editing defaults (MaskGIT: from step 2 of 12, the
   * paper's editing recipe); the result is pasted over the original through the mask blurred over
   * `band` pixels, so pixels farther than `band` from the mask are the input's exactly.
   */
  inpaint(image: Tensor, mask: Tensor, o: InpaintOptions = {}): { image: Tensor; tokenMask: Tensor } {
    const { gen, cls } = this.#editOptions(o, 'inpaint', ['widen']);
    if (o.widen !== undefined) checkInt(o.widen, 'inpaint: widen', { min: 0 });
    const [H, W] = this.config.imageSize;
    const f = this.tokenizer.downsample;
    checkImage(image, H, W, 'inpaint');
    if (mask.shape.length !== 2 || mask.size(0) !== H || mask.size(1) !== W) {
      throw new Error(`inpaint: mask must be ${H}×${W} like the image, got [${mask.shape.join(', ')}]`);
    }
    const pix = T.tidy(() => mask.ne(0).to('float32'));
    try {
      if (T.tidy(() => pix.sum().item()) === 0) throw new Error('inpaint: the mask is empty: nothing to regenerate');
      return T.noGrad(() =>
        T.tidy(() => {
          const known = this.encode(image);
          // One token mask per level (hierarchical: every level's cells touching the mask), top first;
          // the finest level's mask is returned and its cell size sets the blending band.
          const hier = this.prior instanceof HierarchicalPrior ? this.prior : null;
          const grids = (hier ? this.tokenizer.levels : [{ downsample: f }]).map((l) => tokenMaskFromPixels(pix, l.downsample, o.widen ?? 1));
          const levelMasks = grids.map((tm, i) => {
            const c = hier ? hier.levels[i]!.config.tokensPerPosition : this.prior.config.tokensPerPosition;
            const m = tm.reshape([1, -1]);
            return c > 1
              ? m
                  .unsqueeze(-1)
                  .expand([1, m.size(1), c])
                  .reshape([1, -1])
              : m;
          });
          const tokenMask = grids[grids.length - 1]!;
          const fine = hier ? Math.min(...this.tokenizer.levels.map((l) => l.downsample)) : f;
          const m = T.cat(levelMasks, 1);
          const out = this.prior.generate({ ...gen, known, mask: m, classes: [cls] });
          const decoded = this.decode(out);
          const soft = softMask(pix, o.band ?? Math.max(1, Math.round(fine / 2)));
          return { image: blend(image, decoded, soft), tokenMask };
        }),
      );
    } finally {
      pix.dispose();
    }
  }

  /**
   * Extends an image by whole tokens on each side: pad = [top, right, bottom, left] in tokens. The
   * new area is generated window by window (planOutpaint: windows of the prior's grid, each chosen
   * to hold as many known tokens as possible), then decoded whole; the original pixels are pasted back.
   * The padding per side and the output size are checked against limits.ts first.
   */
  outpaint(image: Tensor, pad: [number, number, number, number], o: EditOptions = {}): Tensor {
    const { gen, cls } = this.#editOptions(o, 'outpaint', []);
    if (this.prior instanceof HierarchicalPrior)
      throw new Error('outpaint: not available for a hierarchical prior yet (its windows cover one token grid); use inpaint');
    const f = this.tokenizer.downsample;
    const [gh, gw] = this.prior.config.grid;
    if (pad.length !== 4 || pad.some((p) => !Number.isInteger(p) || p < 0) || pad.every((p) => p === 0)) {
      throw new Error(`outpaint: padding must be whole tokens ≥ 0 with at least one > 0, got ${pad.join(',')}`);
    }
    const s = image.shape;
    if (s.length !== 4 || s[0] !== 1) throw new Error(`outpaint: expected one image [1, C, H, W], got [${s.join(', ')}]`);
    const [H, W] = [s[2]!, s[3]!];
    if (H % f || W % f) throw new Error(`outpaint: image size ${H}×${W} must be a multiple of ${f} pixels`);
    const [top, right, bottom, left] = pad;
    ['top', 'right', 'bottom', 'left'].forEach((side, i) => checkLimit('outpaintTokens', pad[i]!, `outpainting ${pad[i]} tokens on the ${side}`));
    const ch = H / f + top + bottom;
    const cw = W / f + left + right;
    checkLimit('pixels', ch * f * cw * f, `the outpainted ${cw * f}×${ch * f} image`);
    if (ch < gh || cw < gw) throw new Error(`outpaint: the extended canvas (${ch}×${cw} tokens) must be at least the model's ${gh}×${gw} tokens`);
    const c = this.prior.config.tokensPerPosition;
    const windows = planOutpaint([ch, cw], [top, left, H / f, W / f], [gh, gw]);
    return T.noGrad(() =>
      T.tidy(() => {
        // Canvas of tokens [ch, cw, c]; -1 = not generated yet.
        const orig = this.tokenizer
          .encode(image)
          .reshape([H / f, W / f, c])
          .toArray();
        const canvas = new Int32Array(ch * cw * c).fill(-1);
        for (let y = 0; y < H / f; y++)
          for (let x = 0; x < W / f; x++) for (let k = 0; k < c; k++) canvas[((y + top) * cw + x + left) * c + k] = orig[(y * (W / f) + x) * c + k]!;
        for (const [y0, x0] of windows) {
          const known: number[] = [];
          const gen1: number[] = [];
          for (let y = y0; y < y0 + gh; y++) {
            for (let x = x0; x < x0 + gw; x++) {
              for (let k = 0; k < c; k++) {
                const v = canvas[(y * cw + x) * c + k]!;
                known.push(Math.max(v, 0));
                gen1.push(v < 0 ? 1 : 0);
              }
            }
          }
          const filled = T.tidy(() =>
            this.prior
              .generate({
                ...gen,
                known: T.tensor(known, { dtype: 'int64' }).unsqueeze(0),
                mask: T.tensor(gen1, { dtype: 'int64' }).gt(0).unsqueeze(0),
                classes: [cls],
              })
              .toArray(),
          );
          let i = 0;
          for (let y = y0; y < y0 + gh; y++) for (let x = x0; x < x0 + gw; x++) for (let k = 0; k < c; k++) canvas[(y * cw + x) * c + k] = filled[i++]!;
        }
        const grid = T.tensor(canvas, { dtype: 'int64' }).reshape(c === 1 ? [1, ch, cw] : [1, ch, cw, c]);
        const decoded = this.tokenizer.decode(grid).clamp(-1, 1);
        // Paste the original back into its place, blending over a band at its border.
        const placed = T.zeros(decoded.shape);
        placed.index(':', ':', `${top * f}:${top * f + H}`, `${left * f}:${left * f + W}`).copy_(image);
        const newArea = T.ones([ch * f, cw * f]);
        newArea.index(`${top * f}:${top * f + H}`, `${left * f}:${left * f + W}`).fill_(0);
        const soft = softMask(newArea, o.band ?? Math.max(1, Math.round(f / 2)));
        return blend(placed, decoded, soft);
      }),
    );
  }

  save(path: string, extra?: Record<string, string>): void {
    T.tidy(() => {
      const sd: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(this.prior.stateDict())) sd[`prior.${k}`] = v;
      for (const [k, v] of Object.entries(this.tokenizer.stateDict())) sd[`tokenizer.${k}`] = v;
      saveModelFile(path, { kind: PRIOR_KIND, config: this.config, stateDict: sd, extra });
    });
  }

  static load(path: string): PriorModel {
    // The one model-file loader; the weights are split between the prior (prior.*) and its tokenizer (tokenizer.*).
    const { model } = buildFromModelFile(path, PRIOR_KIND, (config: PriorModelConfig) => PriorModel.create(config), {
      what: 'prior',
      wrongKind: 'not a prior (train one with: tessera train prior)',
      parts: (m) => ({ prior: m.prior as unknown as Module, tokenizer: m.tokenizer as unknown as Module }),
    });
    model.prior.eval();
    model.tokenizer.eval();
    return model;
  }

  dispose(): void {
    this.prior.dispose();
    this.tokenizer.dispose();
  }
}

/** A hierarchical prior's levels against the tokenizer's: one prior level per token level, same shapes. */
function checkLevels(prior: HierarchicalPrior, tok: Tokenizer, config: PriorModelConfig): void {
  const lv = tok.levels;
  if (lv.length !== prior.levels.length) {
    throw new Error(
      `a hierarchical prior has ${prior.levels.length} levels (top, bottom) but the ${tok.kind} tokenizer has ${lv.length} (${lv.map((l) => l.name).join(', ')})`,
    );
  }
  const [H, W] = config.imageSize;
  prior.levels.forEach((p, i) => {
    const l = lv[i]!;
    const name = `${['top', 'bottom'][i]} prior`;
    const c = p.config;
    if (c.codebookSize !== l.codebookSize) throw new Error(`${name} codebookSize ${c.codebookSize} ≠ the tokenizer's ${l.name} level's ${l.codebookSize}`);
    if (c.tokensPerPosition !== l.tokensPerPosition)
      throw new Error(`${name} tokensPerPosition ${c.tokensPerPosition} ≠ the tokenizer's ${l.name} level's ${l.tokensPerPosition}`);
    if (c.grid[0] * l.downsample !== H || c.grid[1] * l.downsample !== W) {
      throw new Error(`${name} grid ${c.grid.join('×')} × the ${l.name} level's downsampling ${l.downsample} ≠ image size ${H}×${W}`);
    }
  });
  if (config.classNames.length !== prior.config.numClasses) throw new Error(`${config.classNames.length} class names for ${prior.config.numClasses} classes`);
}

function checkImage(image: Tensor, H: number, W: number, who: string): void {
  const s = image.shape;
  if (s.length !== 4 || s[0] !== 1 || s[2] !== H || s[3] !== W)
    throw new Error(`${who}: expected one image [1, C, ${H}, ${W}] at the model's size, got [${s.join(', ')}]`);
}

/**
 * Pixel mask [H, W] (1 = regenerate) → token mask [h, w] (bool): every token whose f×f cell touches
 * the mask, dilated by `widen` tokens (MaskGIT widens edits by one token so seams are regenerated).
 */
export function tokenMaskFromPixels(mask: Tensor, f: number, widen = 1): Tensor {
  return T.tidy(() => {
    let m = T.maxPool2d(mask.to('float32').unsqueeze(0).unsqueeze(0), [f, f], [f, f]);
    if (widen > 0) m = T.maxPool2d(m, [2 * widen + 1, 2 * widen + 1], [1, 1], [widen, widen]);
    return m.squeezeDim(0).squeezeDim(0).gt(0.5);
  });
}

/**
 * A mask [H, W] in [0, 1] blurred outward over `band` pixels: 1 on the mask, falling to exactly 0
 * at more than `band` pixels from it (a truncated Gaussian, so the far outside is untouched).
 */
export function softMask(mask: Tensor, band: number): Tensor {
  return T.tidy(() => {
    const m = mask.to('float32').unsqueeze(0).unsqueeze(0);
    if (band <= 0) return m;
    const sigma = band / 2;
    const taps = Array.from({ length: 2 * band + 1 }, (_, i) => Math.exp(-((i - band) ** 2) / (2 * sigma * sigma)));
    const sum = taps.reduce((a, b) => a + b, 0);
    const k1 = T.tensor(taps.map((t) => t / sum));
    const blurred = T.conv2d(T.conv2d(m, k1.view([1, 1, 1, -1]), null, [1, 1], [0, band]), k1.view([1, 1, -1, 1]), null, [1, 1], [band, 0]);
    return T.maximum(m, blurred.mul(2).clamp(0, 1));
  });
}

/** soft·generated + (1 − soft)·original; soft [1, 1, H, W] broadcasts over channels. */
function blend(original: Tensor, generated: Tensor, soft: Tensor): Tensor {
  const g = generated.size(1) === original.size(1) ? generated : generated.expand(original.shape);
  return original.mul(soft.neg().add(1)).add(g.mul(soft));
}

// ------------------------------------------------------------------ config checks

function checkModelConfig(c: PriorModelConfig): void {
  if (!isObject(c)) throw new ConfigError('prior model config: expected an object');
  rejectUnknownKeys(c, CONFIG_KEYS, 'prior model config');
  checkEnum(c.arch, Object.keys(PRIOR_ARCHS) as PriorArch[], 'arch');
  if (!isObject(c.prior)) throw new ConfigError('prior: expected an object');
  if (!isObject(c.tokenizer)) throw new ConfigError('tokenizer: expected an object');
  if (!Array.isArray(c.imageSize) || c.imageSize.length !== 2) throw new ConfigError(`imageSize: expected [H, W], got ${JSON.stringify(c.imageSize)}`);
  c.imageSize.forEach((v, i) => checkPositiveInt(v, `imageSize[${i}]`));
  if (!Array.isArray(c.classNames)) throw new ConfigError('classNames: expected a list of names');
  c.classNames.forEach((n, i) => checkString(n, `classNames[${i}]`, { nonEmpty: true }));
  if (new Set(c.classNames).size !== c.classNames.length) throw new ConfigError('classNames: a name appears twice');
  if (c.data !== undefined) checkString(c.data, 'data');
}

/** Checks recommended sampling settings against what the prior takes. */
export function checkSamplingDefaults(d: SamplingDefaults, prior: Prior, where: string): void {
  if (!isObject(d)) throw new ConfigError(`${where}: expected an object`);
  const own = (prior.extraOptions as readonly string[]).filter((k) => ['steps', 'schedule', 'choiceTemperature', 'truncation', 'purity'].includes(k));
  rejectUnknownKeys(d, [...SHARED_DEFAULT_KEYS, ...own, 'note'], `${where} (${prior.label})`);
  if (d.cfg !== undefined) checkNumber(d.cfg, `${where}.cfg`, { min: 0 });
  if (d.temperature !== undefined) checkNumber(d.temperature, `${where}.temperature`, { min: 0, exclusiveMin: true });
  if (d.topK !== undefined) checkInt(d.topK, `${where}.topK`, { min: 0 });
  if (d.topP !== undefined) checkNumber(d.topP, `${where}.topP`, { min: 0, max: 1, exclusiveMin: true });
  if (d.steps !== undefined) checkPositiveInt(d.steps, `${where}.steps`);
  if (d.schedule !== undefined) checkEnum(d.schedule, MASK_SCHEDULES, `${where}.schedule`);
  if (d.choiceTemperature !== undefined) checkNumber(d.choiceTemperature, `${where}.choiceTemperature`, { min: 0 });
  if (d.truncation !== undefined) checkNumber(d.truncation, `${where}.truncation`, { min: 0, max: 1, exclusiveMin: true });
  if (d.purity !== undefined && typeof d.purity !== 'boolean') throw new ConfigError(`${where}.purity: expected true or false`);
  if (d.note !== undefined) checkString(d.note, `${where}.note`);
  if (d.cfg !== undefined && d.cfg !== 1 && (!prior.conditional || prior.config.classDropout === 0)) {
    throw new ConfigError(`${where}.cfg: guidance needs a class-conditional model trained with class dropout`);
  }
}

/**
 * Stores recommended sampling settings in a prior model file (or removes them: undefined), changing
 * only its metadata: the safetensors header is rewritten and the tensor bytes after it are copied
 * unchanged (offsets in the header are relative to the data, so they stay valid).
 */
export function writeSamplingDefaults(path: string, sampling: SamplingDefaults | undefined): void {
  // Validate through the one loader first: the file must be a usable prior.
  const model = PriorModel.load(path);
  try {
    if (sampling !== undefined) checkSamplingDefaults(sampling, model.prior, 'sampling');
  } finally {
    model.dispose();
  }
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as { __metadata__: Record<string, string> };
  const config = JSON.parse(header.__metadata__[MODEL_KEYS.config]!) as PriorModelConfig;
  if (sampling === undefined) delete config.sampling;
  else config.sampling = sampling;
  header.__metadata__[MODEL_KEYS.config] = JSON.stringify(config);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned, as writers do
  const head = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  writeFileAtomic(path, len, head, bytes.subarray(8 + n));
}

// ------------------------------------------------------------------ outpainting plan

/**
 * The windows outpainting generates, in order (a pure function of the sizes). canvas [ch, cw] in
 * tokens; the original sits at [top, left] with size [h, w]; windows are the prior's grid [gh, gw].
 * Each step picks, among windows that still hold an unknown token, the one with the most known
 * tokens (first in raster order on ties); all its unknown tokens then become known. Returns the
 * windows' top-left corners [y0, x0].
 */
export function planOutpaint(canvas: [number, number], original: [number, number, number, number], window: [number, number]): [number, number][] {
  const [ch, cw] = canvas;
  const [top, left, h, w] = original;
  const [gh, gw] = window;
  if (ch < gh || cw < gw) throw new Error(`planOutpaint: the canvas ${ch}×${cw} is smaller than the window ${gh}×${gw}`);
  if (top < 0 || left < 0 || top + h > ch || left + w > cw) throw new Error('planOutpaint: the original does not fit on the canvas');
  const known = new Uint8Array(ch * cw);
  for (let y = top; y < top + h; y++) known.fill(1, y * cw + left, y * cw + left + w);
  const full = gh * gw;
  const plan: [number, number][] = [];
  // Summed-area table of `known`, rebuilt after each window: O(canvas) per window.
  const sat = new Int32Array((ch + 1) * (cw + 1));
  for (;;) {
    for (let y = 0; y < ch; y++) {
      let row = 0;
      for (let x = 0; x < cw; x++) {
        row += known[y * cw + x]!;
        sat[(y + 1) * (cw + 1) + x + 1] = sat[y * (cw + 1) + x + 1]! + row;
      }
    }
    let best: [number, number] | null = null;
    let bestKnown = -1;
    for (let y0 = 0; y0 + gh <= ch; y0++) {
      for (let x0 = 0; x0 + gw <= cw; x0++) {
        const k = sat[(y0 + gh) * (cw + 1) + x0 + gw]! - sat[y0 * (cw + 1) + x0 + gw]! - sat[(y0 + gh) * (cw + 1) + x0]! + sat[y0 * (cw + 1) + x0]!;
        if (k < full && k > bestKnown) {
          bestKnown = k;
          best = [y0, x0];
        }
      }
    }
    if (!best) return plan;
    plan.push(best);
    for (let y = best[0]; y < best[0] + gh; y++) known.fill(1, y * cw + best[1], y * cw + best[1] + gw);
  }
}
