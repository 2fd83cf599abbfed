// What every prior knows about the tokens it models, and conversions between the tokenizer's
// index grids and the priors' flat sequences.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { checkTransformerConfig, type TransformerConfig } from './transformer.js';

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

export function checkPriorShape(c: PriorShape, who: string): void {
  const posInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  if (!posInt(c.codebookSize)) throw new Error(`${who}: codebookSize must be a positive integer, got ${JSON.stringify(c.codebookSize)}`);
  if (!Array.isArray(c.grid) || c.grid.length !== 2 || !c.grid.every(posInt)) throw new Error(`${who}: grid must be [h, w] of positive integers, got ${JSON.stringify(c.grid)}`);
  if (!posInt(c.tokensPerPosition)) throw new Error(`${who}: tokensPerPosition must be a positive integer, got ${JSON.stringify(c.tokensPerPosition)}`);
  if (!(Number.isInteger(c.numClasses) && c.numClasses >= 0)) throw new Error(`${who}: numClasses must be an integer ≥ 0, got ${JSON.stringify(c.numClasses)}`);
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

/** Options both priors take on top of their token shape. */
export interface PriorOptions {
  /** Share of training examples whose class is replaced by the null class (enables --cfg). */
  classDropout?: number;
  /** 'learned' (default) or fixed 2-D sin-cos position embeddings. */
  positions?: 'learned' | 'sincos2d';
}

/** Validates a prior's whole config and fills the shared defaults. */
export function resolvePriorOptions(cfg: TransformerConfig & PriorShape & PriorOptions, who: string): Required<PriorOptions> {
  checkTransformerConfig(cfg, who);
  checkPriorShape(cfg, who);
  const classDropout = cfg.classDropout ?? 0;
  if (!(classDropout >= 0 && classDropout < 1)) throw new Error(`${who}: classDropout must be in [0, 1), got ${classDropout}`);
  const positions = cfg.positions ?? 'learned';
  if (positions !== 'learned' && positions !== 'sincos2d') throw new Error(`${who}: positions must be 'learned' or 'sincos2d', got '${String(positions)}'`);
  return { classDropout, positions };
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
