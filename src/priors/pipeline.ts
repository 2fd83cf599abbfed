// A prior and its tokenizer as one usable generator: class names, sampling to images,
// inpainting and outpainting — saved together as one model file (kind "prior"), so
// `tessera sample --model P` needs nothing else.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { StateDictError } from '../nn/index.js';
import { saveModelFile, loadModelFile } from '../io/index.js';
import { createTokenizer, type Tokenizer, type TokenizerKind } from '../tokenizers/index.js';
import { ARPrior, type ARPriorConfig, type ARSampleOptions } from './autoregressive.js';
import { MaskGIT, type MaskGITConfig, type MaskGITDecodeOptions } from './maskgit.js';
import { flattenTokens, unflattenTokens } from './common.js';

export type PriorArch = 'ar' | 'maskgit';
export const PRIOR_KIND = 'prior';

export interface PriorModelConfig {
  arch: PriorArch;
  prior: ARPriorConfig | MaskGITConfig;
  tokenizer: { kind: TokenizerKind; config: object };
  /** Image side(s) the prior's token grid decodes to: [H, W]. */
  imageSize: [number, number];
  /** Class names by id (empty for unconditional models). */
  classNames: string[];
  /** Dataset spec it was trained on, for reference. */
  data?: string;
}

/** Options shared by sampling calls, for either architecture. */
export interface GenerateOptions {
  /** Class per image: an id, a class name, or null (unconditional / null class). */
  classes?: readonly (number | string | null)[];
  batch?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  cfg?: number;
  generator?: Generator;
  /** MaskGIT: decoding steps (default 8). */
  steps?: number;
  /** MaskGIT: mask schedule. */
  schedule?: MaskGITDecodeOptions['schedule'];
  /** MaskGIT: Gumbel temperature on the confidences (default 4.5). */
  choiceTemperature?: number;
  /** AR: use the key/value cache (default true). */
  cache?: boolean;
}

export class PriorModel {
  constructor(
    readonly config: PriorModelConfig,
    readonly tokenizer: Tokenizer,
    readonly prior: ARPrior | MaskGIT,
  ) {}

  static create(config: PriorModelConfig, tokenizer?: Tokenizer): PriorModel {
    const tok = tokenizer ?? (createTokenizer(config.tokenizer.kind, config.tokenizer.config as never) as Tokenizer);
    const prior = config.arch === 'ar' ? new ARPrior(config.prior as ARPriorConfig) : new MaskGIT(config.prior as MaskGITConfig);
    const p = prior.config;
    if (p.codebookSize !== tok.codebookSize) throw new Error(`prior codebookSize ${p.codebookSize} ≠ tokenizer's ${tok.codebookSize}`);
    if (p.tokensPerPosition !== tok.tokensPerPosition) throw new Error(`prior tokensPerPosition ${p.tokensPerPosition} ≠ tokenizer's ${tok.tokensPerPosition}`);
    const [H, W] = config.imageSize;
    if (p.grid[0] * tok.downsample !== H || p.grid[1] * tok.downsample !== W) {
      throw new Error(`prior grid ${p.grid.join('×')} × downsampling ${tok.downsample} ≠ image size ${H}×${W}`);
    }
    if (config.classNames.length !== p.numClasses) throw new Error(`${config.classNames.length} class names for ${p.numClasses} classes`);
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

  /**
   * A class name or id → id. Unknown names and out-of-range ids are errors listing the valid
   * classes; names match case-insensitively, ignoring spaces, '&' and '-'.
   */
  classIndex(c: number | string): number {
    const names = this.config.classNames;
    if (names.length === 0) throw new Error('this model is unconditional: it takes no class');
    const list = names.map((n, i) => `${i} ${n}`).join(', ');
    if (typeof c === 'number' || /^\d+$/.test(c.trim())) {
      const id = Number(c);
      if (!Number.isInteger(id) || id < 0 || id >= names.length) throw new Error(`unknown class ${c}; valid classes: ${list}`);
      return id;
    }
    const norm = (s: string): string => s.toLowerCase().replace(/[\s&_-]+/g, '');
    const i = names.findIndex((n) => norm(n) === norm(c));
    if (i < 0) throw new Error(`unknown class '${c}'; valid classes: ${list}`);
    return i;
  }

  #classIds(classes: readonly (number | string | null)[]): (number | null)[] {
    return classes.map((c) => (c === null ? null : this.classIndex(c)));
  }

  /** Token sequences [B, N] from the prior. */
  sampleTokens(o: GenerateOptions = {}): Tensor {
    const classes = o.classes ? this.#classIds(o.classes) : undefined;
    if (this.prior instanceof ARPrior) {
      const ar: ARSampleOptions = { classes, batch: o.batch, temperature: o.temperature, topK: o.topK, topP: o.topP, cfg: o.cfg, generator: o.generator, cache: o.cache };
      return this.prior.sample(ar);
    }
    return this.prior.generate({ ...maskgitOptions(o), classes, batch: o.batch });
  }

  /** Token sequences [B, N] → images [B, C, H, W] in [-1, 1]. */
  decode(seq: Tensor): Tensor {
    return T.noGrad(() => T.tidy(() => this.tokenizer.decode(unflattenTokens(seq, this.prior.config)).clamp(-1, 1)));
  }

  /** Sampled images [B, C, H, W] in [-1, 1]. */
  sample(o: GenerateOptions = {}): Tensor {
    return T.tidy(() => this.decode(this.sampleTokens(o)));
  }

  #requireMaskGIT(what: string): MaskGIT {
    if (!(this.prior instanceof MaskGIT)) throw new Error(`${what} needs a MaskGIT prior; this model is autoregressive (it can only sample)`);
    return this.prior;
  }

  /**
   * Regenerates the masked part of an image. image [1, C, H, W] at the model's image size; mask
   * [H, W] (nonzero = regenerate). The token mask covers every token touching the mask, widened by
   * `widen` tokens; decoding starts at `startStep` of `steps` (MaskGIT's editing recipe, 2 of 12);
   * the result is pasted over the original through the mask blurred over `band` pixels, so pixels
   * farther than `band` from the mask are the input's exactly.
   */
  inpaint(image: Tensor, mask: Tensor, o: GenerateOptions & { startStep?: number; widen?: number; band?: number; class?: number | string | null } = {}): { image: Tensor; tokenMask: Tensor } {
    const prior = this.#requireMaskGIT('inpainting');
    const [H, W] = this.config.imageSize;
    const f = this.tokenizer.downsample;
    checkImage(image, H, W, 'inpaint');
    if (mask.shape.length !== 2 || mask.size(0) !== H || mask.size(1) !== W) {
      throw new Error(`inpaint: mask must be ${H}×${W} like the image, got [${mask.shape.join(', ')}]`);
    }
    const pix = T.tidy(() => mask.ne(0).to('float32'));
    try {
      if (T.tidy(() => pix.sum().item()) === 0) throw new Error('inpaint: the mask is empty: nothing to regenerate');
      return T.tidy(() => {
        const tokenMask = tokenMaskFromPixels(pix, f, o.widen ?? 1);
        const steps = o.steps ?? 12;
        const start = o.startStep ?? Math.min(2, steps - 1);
        const known = flattenTokens(this.tokenizer.encode(image));
        const c = prior.config.tokensPerPosition;
        let m = tokenMask.reshape([1, -1]);
        if (c > 1) m = m.unsqueeze(-1).expand([1, m.size(1), c]).reshape([1, -1]);
        const tokens = T.where(m, prior.maskId, known);
        const cls = o.class === undefined || o.class === null ? null : this.classIndex(o.class);
        const out = prior.generate({ ...maskgitOptions(o), tokens, classes: [cls], steps, startStep: start });
        const decoded = this.decode(out);
        const soft = softMask(pix, o.band ?? Math.max(1, Math.round(f / 2)));
        return { image: blend(image, decoded, soft), tokenMask };
      });
    } finally {
      pix.dispose();
    }
  }

  /**
   * Extends an image by whole tokens on each side: pad = [top, right, bottom, left] in tokens. The
   * new area is generated window by window (windows of the prior's grid, each chosen to hold as
   * many known tokens as possible), then decoded whole; the original pixels are pasted back.
   */
  outpaint(image: Tensor, pad: [number, number, number, number], o: GenerateOptions & { class?: number | string | null; band?: number } = {}): Tensor {
    const prior = this.#requireMaskGIT('outpainting');
    const f = this.tokenizer.downsample;
    const [gh, gw] = prior.config.grid;
    if (pad.some((p) => !Number.isInteger(p) || p < 0) || pad.every((p) => p === 0)) {
      throw new Error(`outpaint: padding must be whole tokens ≥ 0 with at least one > 0, got ${pad.join(',')}`);
    }
    const s = image.shape;
    if (s.length !== 4 || s[0] !== 1) throw new Error(`outpaint: expected one image [1, C, H, W], got [${s.join(', ')}]`);
    const [H, W] = [s[2]!, s[3]!];
    if (H % f || W % f) throw new Error(`outpaint: image size ${H}×${W} must be a multiple of ${f} pixels`);
    const [top, right, bottom, left] = pad;
    const ch = H / f + top + bottom;
    const cw = W / f + left + right;
    if (ch < gh || cw < gw) throw new Error(`outpaint: the extended canvas (${ch}×${cw} tokens) must be at least the model's ${gh}×${gw} tokens`);
    const c = prior.config.tokensPerPosition;
    const cls = o.class === undefined || o.class === null ? null : this.classIndex(o.class);
    return T.noGrad(() =>
      T.tidy(() => {
        // Canvas of tokens [ch, cw, c]; -1 = not generated yet.
        const orig = this.tokenizer.encode(image).reshape([H / f, W / f, c]).toArray();
        const canvas = new Int32Array(ch * cw * c).fill(-1);
        for (let y = 0; y < H / f; y++) for (let x = 0; x < W / f; x++) for (let k = 0; k < c; k++) canvas[((y + top) * cw + x + left) * c + k] = orig[(y * (W / f) + x) * c + k]!;
        const known = (y: number, x: number): boolean => canvas[(y * cw + x) * c]! >= 0;
        for (;;) {
          let best: [number, number] | null = null;
          let bestKnown = -1;
          for (let y0 = 0; y0 + gh <= ch; y0++) {
            for (let x0 = 0; x0 + gw <= cw; x0++) {
              let k = 0;
              for (let y = y0; y < y0 + gh; y++) for (let x = x0; x < x0 + gw; x++) if (known(y, x)) k++;
              if (k < gh * gw && k > bestKnown) {
                bestKnown = k;
                best = [y0, x0];
              }
            }
          }
          if (!best) break;
          const [y0, x0] = best;
          const win: number[] = [];
          for (let y = y0; y < y0 + gh; y++) for (let x = x0; x < x0 + gw; x++) for (let k = 0; k < c; k++) win.push(known(y, x) ? canvas[(y * cw + x) * c + k]! : prior.maskId);
          const filled = T.tidy(() =>
            prior
              .generate({ ...maskgitOptions(o), tokens: T.tensor(win, { dtype: 'int64' }).unsqueeze(0), classes: [cls], steps: o.steps ?? 12 })
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
    return T.tidy(() => {
      const file = loadModelFile<PriorModelConfig>(path);
      if (file.kind !== PRIOR_KIND) throw new Error(`${path} holds a '${file.kind}' model, not a prior (train one with: tessera train prior)`);
      let model: PriorModel;
      try {
        model = PriorModel.create(file.config);
      } catch (e) {
        throw new Error(`${path}: bad prior config: ${(e as Error).message}`);
      }
      const parts: Record<'prior' | 'tokenizer', Record<string, Tensor>> = { prior: {}, tokenizer: {} };
      const stray: string[] = [];
      for (const [k, v] of Object.entries(file.stateDict)) {
        const dot = k.indexOf('.');
        const head = k.slice(0, dot);
        if (dot > 0 && (head === 'prior' || head === 'tokenizer')) parts[head][k.slice(dot + 1)] = v;
        else stray.push(k);
      }
      if (stray.length) throw new Error(`${path}: unexpected tensors outside prior.* and tokenizer.*: ${stray.slice(0, 5).join(', ')}`);
      try {
        model.prior.loadStateDict(parts.prior);
        model.tokenizer.loadStateDict(parts.tokenizer);
      } catch (e) {
        if (e instanceof StateDictError) throw new StateDictError(e.result, `prior model ${path}`);
        throw e;
      }
      model.prior.eval();
      model.tokenizer.eval();
      return model;
    });
  }

  dispose(): void {
    this.prior.dispose();
    this.tokenizer.dispose();
  }
}

/** The MaskGIT decoding options carried by GenerateOptions. */
function maskgitOptions(o: GenerateOptions): MaskGITDecodeOptions {
  const { temperature, topK, topP, cfg, generator, steps, schedule, choiceTemperature } = o;
  return { temperature, topK, topP, cfg, generator, steps, schedule, choiceTemperature };
}

function checkImage(image: Tensor, H: number, W: number, who: string): void {
  const s = image.shape;
  if (s.length !== 4 || s[0] !== 1 || s[2] !== H || s[3] !== W) throw new Error(`${who}: expected one image [1, C, ${H}, ${W}] at the model's size, got [${s.join(', ')}]`);
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
