// What every prior knows about the tokens it models, and conversions between the tokenizer's
// index grids and the priors' flat sequences.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { checkTransformerConfig, TRANSFORMER_KEYS, type TransformerConfig } from './transformer.js';
import { checkSamplingOptions, type SamplingOptions } from './sampling.js';
import { Module, Embedding, init } from '../nn/index.js';
import { ConfigError, checkEnum, checkInt, checkNumber, checkPositiveInt, isObject, rejectUnknownKeys } from '../io/validate.js';

export interface PriorShape {
  /** Codebook entries K of the tokenizer. */
  codebookSize: number;
  /** Token grid [h, w] per image. */
  grid: [number, number];
  /** Tokens per grid position c (MoVQ multichannel: c > 1). */
  tokensPerPosition: number;
  /** Classes C for class-conditional models; 0 = unconditional. */
  numClasses: number;
}

export const PRIOR_SHAPE_KEYS = ['codebookSize', 'grid', 'tokensPerPosition', 'numClasses'] as const;

export function checkPriorShape(c: PriorShape, who: string): void {
  checkPositiveInt(c.codebookSize, `${who}: codebookSize`);
  if (!Array.isArray(c.grid) || c.grid.length !== 2) throw new ConfigError(`${who}: grid: expected [h, w], got ${JSON.stringify(c.grid)}`);
  c.grid.forEach((v, i) => checkPositiveInt(v, `${who}: grid[${i}]`));
  checkPositiveInt(c.tokensPerPosition, `${who}: tokensPerPosition`);
  checkInt(c.numClasses, `${who}: numClasses`, { min: 0 });
}

/**
 * Class ids (or null) → prefix token ids: `offset + class`, or `nullId` for null entries and for
 * unconditional models. Out-of-range classes are an error naming the valid range.
 */
export function classIds(classes: readonly (number | null)[], numClasses: number, offset: number, nullId: number, who: string): Tensor {
  const ids = classes.map((c) => {
    if (c === null) return nullId;
    if (numClasses === 0) throw new Error(`${who}: this model is unconditional; it takes no class (got ${c})`);
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`${who}: class ${c} is out of range: this model has classes 0–${numClasses - 1}`);
    return offset + c;
  });
  return T.tensor(ids, { dtype: 'int64' });
}

/** Tokenizer indices [B, h, w] or [B, h, w, c] → sequences [B, h·w·c] (channels innermost). */
export function flattenTokens(indices: Tensor): Tensor {
  return indices.reshape([indices.size(0), -1]);
}

/** Sequences [B, h·w·c] → tokenizer indices [B, h, w] (c = 1) or [B, h, w, c]. */
export function unflattenTokens(seq: Tensor, shape: PriorShape): Tensor {
  const [h, w] = shape.grid;
  const c = shape.tokensPerPosition;
  return seq.reshape(c === 1 ? [seq.size(0), h, w] : [seq.size(0), h, w, c]);
}

// ------------------------------------------------------------------ conditioning on a coarser code

/**
 * A coarser token grid a prior is conditioned on (VQ-VAE-2's bottom prior sees the top code:
 * Razavi et al., 2019). The condition grid must divide the prior's own grid.
 */
export interface CodeConditionShape {
  codebookSize: number;
  grid: [number, number];
  tokensPerPosition: number;
}

export function checkConditionShape(c: CodeConditionShape, grid: [number, number], who: string): [number, number] {
  if (!isObject(c)) throw new ConfigError(`${who}: condition: expected { codebookSize, grid, tokensPerPosition }`);
  rejectUnknownKeys(c, ['codebookSize', 'grid', 'tokensPerPosition'], `${who}: condition`);
  checkPriorShape({ ...c, numClasses: 0 }, `${who}: condition`);
  const [h, w] = grid;
  const [ch, cw] = c.grid;
  if (h % ch !== 0 || w % cw !== 0 || h < ch || w < cw) {
    throw new ConfigError(`${who}: the grid ${h}×${w} is not a whole multiple of the conditioning (top) grid ${ch}×${cw}`);
  }
  return [h / ch, w / cw];
}

/**
 * The condition's embedding at every position of the prior's grid: each coarse code gets a learned
 * embedding (summed over its channels), nearest-upsampled to the fine grid, to be added to the input
 * of every fine position. The coarse cell above a fine position holds the code that describes it,
 * so one added vector gives each position its aligned global context at no extra attention cost
 * (rosinality's PixelSNAIL bottom prior likewise adds an upsampled map of the top code).
 */
export class CodeCondition extends Module {
  readonly emb: Embedding;
  readonly factor: [number, number];
  readonly seqLen: number;

  constructor(
    readonly shape: CodeConditionShape,
    readonly grid: [number, number],
    readonly dim: number,
    readonly who: string,
  ) {
    super();
    this.factor = checkConditionShape(shape, grid, who);
    this.seqLen = shape.grid[0] * shape.grid[1] * shape.tokensPerPosition;
    this.emb = this.add('emb', new Embedding(shape.codebookSize, dim));
    T.noGrad(() => init.normal_(this.emb.weight, 0, 0.02));
  }

  /**
   * The checked pairing of a prior and the condition a caller gives: `cond` is the prior's
   * CodeCondition (null when unconditioned). Returns the embedding [B, H·W, dim], or null.
   */
  static embed(cond: CodeCondition | null, condition: Tensor | undefined, b: number, who: string): Tensor | null {
    if (!cond) {
      if (condition !== undefined) throw new Error(`${who}: this prior is not conditioned on a coarser code; it takes no condition`);
      return null;
    }
    if (condition === undefined) throw new Error(`${who}: this prior is conditioned on the top code: give its tokens as condition`);
    if (condition.shape[0] !== b) throw new Error(`${who}: ${condition.shape[0]} condition rows for ${b} images`);
    return cond.forward(condition);
  }

  /** Coarse tokens [B, h·w·c] (int64 codes) → [B, H·W, dim] on the prior's grid (position-major). */
  forward(tokens: Tensor): Tensor {
    const s = tokens.shape;
    if (s.length !== 2 || s[1] !== this.seqLen || tokens.dtype !== 'int64') {
      throw new Error(`${this.who}: the condition (top) tokens must be int64 [B, ${this.seqLen}], got ${tokens.dtype} [${s.join(', ')}]`);
    }
    const bad = T.tidy(() => tokens.lt(0).logicalOr(tokens.ge(this.shape.codebookSize)).any().item());
    if (bad) throw new Error(`${this.who}: the condition (top) tokens must be codes in [0, ${this.shape.codebookSize})`);
    const [h, w] = this.shape.grid;
    const b = s[0]!;
    let e = this.emb.forward(tokens).view([b, h, w, this.shape.tokensPerPosition, this.dim]).sum([3]);
    e = e.repeatInterleave(this.factor[0], 1).repeatInterleave(this.factor[1], 2);
    return e.reshape([b, this.grid[0] * this.grid[1], this.dim]);
  }
}

/** generate() input of a prior built with a `condition`: the coarse tokens [B, h·w·c] it is conditioned on. */
export interface ConditionInput {
  condition?: Tensor;
}

/** Options both priors take on top of their token shape. */
export interface PriorOptions {
  /** Share of training examples whose class is replaced by the null class (enables --cfg). */
  classDropout?: number;
  /** 'learned' (default) or fixed 2-D sin-cos position embeddings. */
  positions?: 'learned' | 'sincos2d';
}

const PRIOR_OPTION_KEYS = ['classDropout', 'positions'] as const;

/**
 * Validates a prior's whole config (unknown keys included: `extraKeys` are the prior's own) and fills
 * the shared defaults.
 */
export function resolvePriorOptions(
  cfg: TransformerConfig & PriorShape & PriorOptions,
  who: string,
  extraKeys: readonly string[] = [],
): Required<PriorOptions> {
  if (!isObject(cfg)) throw new ConfigError(`${who}: config must be an object`);
  rejectUnknownKeys(cfg, [...TRANSFORMER_KEYS, ...PRIOR_SHAPE_KEYS, ...PRIOR_OPTION_KEYS, ...extraKeys], who);
  checkTransformerConfig(cfg, who);
  checkPriorShape(cfg, who);
  const classDropout = checkNumber(cfg.classDropout ?? 0, `${who}: classDropout`, { min: 0, max: 1, exclusiveMax: true });
  const positions = checkEnum(cfg.positions ?? 'learned', ['learned', 'sincos2d'] as const, `${who}: positions`);
  return { classDropout, positions };
}

// ------------------------------------------------------------------ the one prior interface

/** Progress of one generation step (an AR token or a MaskGIT decoding step). */
export interface StepInfo {
  /** Step just finished, 0-based, and the total steps of this run. */
  step: number;
  steps: number;
  /** Tokens per image still to generate after this step. */
  masked: number[];
}

/** Options every prior's generate() takes; each prior adds its own typed extras. */
export interface PriorGenerateOptions extends SamplingOptions {
  /** One class id per image; null (or omitted) for the null class / an unconditional model. */
  classes?: readonly (number | null)[];
  /** Number of images when neither `classes` nor `known` gives it (default 1). */
  batch?: number;
  /** Classifier-free guidance scale (1 = plain conditional sampling). */
  cfg?: number;
  generator?: Generator;
  /** Editing: known tokens [B, N] (codes in [0, K)); the tokens where `mask` is true are generated. */
  known?: Tensor;
  /** Editing: bool [B, N], true = generate this token (needs `known`; default: all true). */
  mask?: Tensor;
  /** Called after every step. */
  onStep?: (info: StepInfo) => void;
}

export const SHARED_GENERATE_KEYS = ['classes', 'batch', 'cfg', 'generator', 'known', 'mask', 'onStep', 'temperature', 'topK', 'topP'] as const;

/**
 * What PriorModel needs of a prior, whatever its architecture (autoregressive, MaskGIT, and later
 * discrete diffusion or hierarchical priors): one generate() with the shared options plus typed
 * extras `X`, whose names are listed so options that do not apply can be refused.
 */
export interface Prior<X extends object = Record<string, unknown>> {
  readonly kind: string;
  /** Human name for messages: 'autoregressive', 'MaskGIT'. */
  readonly label: string;
  readonly config: PriorShape & TransformerConfig & Required<PriorOptions>;
  /** Tokens per image h·w·c. */
  readonly seqLen: number;
  readonly conditional: boolean;
  /** Names of the extra options generate() takes. */
  readonly extraOptions: readonly (keyof X & string)[];
  /**
   * Whether generated tokens can sit anywhere among known ones with context from both sides
   * (inpainting, outpainting); an autoregressive prior only sees what comes before.
   */
  readonly editsAnywhere: boolean;
  /** Extras for editing (inpaint/outpaint) given the caller's, e.g. MaskGIT's 12 steps from step 2. */
  editDefaults(o: Partial<X>): Partial<X>;
  generate(o?: PriorGenerateOptions & X): Tensor;
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator): Tensor;
}

/**
 * Refuses options a prior does not take (only keys whose value is not undefined count):
 * "inpaint: 'cache' does not apply to a MaskGIT prior (it takes: steps, …)".
 */
export function rejectOptions(o: object, allowed: readonly string[], who: string, label: string): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || allowed.includes(k)) continue;
    throw new Error(`${who}: option '${k}' does not apply to ${/^[aeiou]/i.test(label) ? 'an' : 'a'} ${label} prior (it takes: ${allowed.join(', ')})`);
  }
}

/**
 * The shared part of generate(): validates sampling options, classes, batch and the editing pair
 * (known, mask). Returns the class list, the batch size and the mask (true = generate), all checked.
 */
export function resolveGenerate(
  o: PriorGenerateOptions,
  p: { seqLen: number; codebookSize: number; conditional: boolean; classDropout: number },
  who: string,
): { classes: readonly (number | null)[]; b: number; guided: boolean; cfg: number; known: Tensor | null; mask: Tensor | null } {
  checkSamplingOptions(o);
  const n = p.seqLen;
  const bGiven = o.classes?.length ?? o.known?.size(0) ?? o.batch ?? 1;
  if (o.batch !== undefined) checkInt(o.batch, `${who}: batch`, { min: 1 });
  const classes = o.classes ?? Array.from({ length: bGiven }, () => null);
  const b = classes.length;
  if (b === 0) throw new Error(`${who}: nothing to generate (0 images)`);
  if (o.batch !== undefined && o.batch !== b) throw new Error(`${who}: batch ${o.batch} ≠ ${b} classes given`);
  // Any cfg (even 1) runs the doubled batch, so cfg 1 is checkably the same as no guidance.
  const guided = o.cfg !== undefined;
  const cfg = o.cfg ?? 1;
  if (guided) checkNumber(o.cfg, `${who}: cfg`, { min: 0 });
  if (guided && !p.conditional) throw new Error(`${who}: classifier-free guidance needs a class-conditional model`);
  if (cfg !== 1 && p.classDropout === 0) throw new Error(`${who}: classifier-free guidance needs a model trained with class dropout (classDropout > 0)`);
  if (o.mask && !o.known) throw new Error(`${who}: a mask needs the known tokens it applies to`);
  let known: Tensor | null = null;
  let mask: Tensor | null = null;
  if (o.known) {
    const s = o.known.shape;
    if (s.length !== 2 || s[0] !== b || s[1] !== n || o.known.dtype !== 'int64') {
      throw new Error(`${who}: known tokens must be int64 [${b}, ${n}], got ${o.known.dtype} [${s.join(', ')}]`);
    }
    known = o.known;
    mask = o.mask ?? null;
    if (mask) {
      const m = mask.shape;
      if (m.length !== 2 || m[0] !== b || m[1] !== n || mask.dtype !== 'bool')
        throw new Error(`${who}: mask must be bool [${b}, ${n}], got ${mask.dtype} [${m.join(', ')}]`);
    }
    const bad = T.tidy(() => {
      const out = known!.lt(0).logicalOr(known!.ge(p.codebookSize));
      return (mask ? out.logicalAnd(mask.logicalNot()) : out).any().item();
    });
    if (bad) throw new Error(`${who}: known tokens must be codes in [0, ${p.codebookSize})`);
  }
  return { classes, b, guided, cfg, known, mask };
}

/**
 * Prefix ids for a training batch: `offset + class`, each replaced by the null id with probability
 * classDropout while training (classifier-free guidance), or all null for unconditional training.
 */
export function trainingPrefix(
  b: number,
  classes: Tensor | null,
  p: { numClasses: number; offset: number; nullId: number; classDropout: number; training: boolean },
  generator?: Generator,
): Tensor {
  const nulls = T.full([b], p.nullId, { dtype: 'int64' });
  if (p.numClasses === 0 || classes === null) return nulls;
  const ids = classes.add(p.offset);
  if (p.classDropout === 0 || !p.training) return ids;
  return T.where(T.rand([b], generator ?? null).lt(p.classDropout), nulls, ids);
}
