// Pieces of token sampling shared by the priors: classifier-free guidance, temperature, top-k and
// top-p filtering, seeded categorical draws, Gumbel noise and MaskGIT's mask schedules.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { checkInt, checkNumber } from '../io/validate.js';

export interface SamplingOptions {
  /** Divides the logits (default 1). Lower is more conservative. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 or undefined: all). */
  topP?: number;
}

export function checkSamplingOptions(o: SamplingOptions): void {
  if (o.temperature !== undefined) checkNumber(o.temperature, 'temperature', { min: 0, exclusiveMin: true });
  if (o.topK !== undefined) checkInt(o.topK, 'top-k', { min: 0 });
  if (o.topP !== undefined) checkNumber(o.topP, 'top-p', { min: 0, max: 1, exclusiveMin: true });
}

/**
 * Classifier-free guidance on logits from a doubled batch: rows [0, B) conditional, [B, 2B)
 * unconditional → uncond + scale·(cond − uncond). Scale 1 returns the conditional logits.
 */
export function guide(logits: Tensor, scale: number): Tensor {
  const [cond, uncond] = logits.chunk(2, 0) as [Tensor, Tensor];
  return uncond.add(cond.sub(uncond).mul(scale));
}

/** Temperature, then top-k, then top-p (filtered entries become −∞), over the last dim. */
export function filterLogits(logits: Tensor, o: SamplingOptions): Tensor {
  let l = o.temperature !== undefined && o.temperature !== 1 ? logits.div(o.temperature) : logits;
  const vocab = l.size(-1);
  if (o.topK && o.topK < vocab) {
    const [vals] = l.topk(o.topK, -1);
    const kth = vals.narrow(-1, o.topK - 1, 1);
    l = l.maskedFill(l.lt(kth), -Infinity);
  }
  if (o.topP !== undefined && o.topP < 1) {
    const [sorted, order] = l.sort(-1, true);
    const probs = sorted.softmax(-1);
    // Drop a token when the tokens before it already reach p (the most likely one always stays).
    const dropSorted = probs.cumsum(-1).sub(probs).ge(o.topP);
    const drop = T.zeros(dropSorted.shape).scatter(-1, order, dropSorted.to('float32')).gt(0.5);
    l = l.maskedFill(drop, -Infinity);
  }
  return l;
}

/** One draw per row from softmax(logits) over the last dim: [..., V] → int64 [...]. */
export function sampleCategorical(logits: Tensor, generator?: Generator): Tensor {
  const shape = logits.shape.slice(0, -1);
  const probs = logits.reshape([-1, logits.size(-1)]).softmax(-1);
  return probs.multinomial(1, true, generator ?? null).reshape(shape);
}

/** Standard Gumbel noise −log(−log u), u ~ U(0, 1), kept away from 0 and 1. */
export function gumbel(shape: readonly number[], generator?: Generator): Tensor {
  const u = T.rand(shape, generator ?? null).clamp(1e-20, 1 - 1e-7);
  return u.log().neg().log().neg();
}

export const MASK_SCHEDULES = ['cosine', 'linear', 'square', 'cubic', 'log', 'exp'] as const;
export type MaskSchedule = (typeof MASK_SCHEDULES)[number];

/**
 * Share of tokens still masked at progress r ∈ (0, 1] (MaskGIT paper §3.3), clipped to [1e-6, 1].
 * `n` is the number of tokens (used by log and exp).
 */
export function maskRatio(schedule: MaskSchedule, r: number, n: number): number {
  let v: number;
  switch (schedule) {
    case 'cosine':
      v = Math.cos((Math.PI / 2) * r);
      break;
    case 'linear':
      v = 1 - r;
      break;
    case 'square':
      v = 1 - r * r;
      break;
    case 'cubic':
      v = 1 - r * r * r;
      break;
    case 'log':
      v = -Math.log2(r) / Math.log2(n);
      break;
    case 'exp':
      v = 1 - Math.pow(2, -Math.log2(n) * (1 - r));
      break;
    default:
      throw new Error(`unknown mask schedule '${String(schedule)}' (${MASK_SCHEDULES.join(', ')})`);
  }
  return Math.min(1, Math.max(1e-6, v));
}

export function checkSchedule(s: string): MaskSchedule {
  if (!(MASK_SCHEDULES as readonly string[]).includes(s)) throw new Error(`unknown mask schedule '${s}' (${MASK_SCHEDULES.join(', ')})`);
  return s as MaskSchedule;
}
