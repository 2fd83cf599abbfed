// Variable rate by codebook tiers, after Mao et al., "Extreme Image Compression using Fine-tuned
// VQGANs" (DCC 2024, arXiv 2307.08265): a trained K-code codebook is reduced by k-means to smaller
// codebooks (e.g. 256 → 64 → 16 → 4 codes, log2 K bits per token), and each tier's codebook and
// post_quant_conv are fine-tuned while the encoder (with quant_conv) and the decoder stay frozen.
// The paper's released code also trains quant_conv; here it stays frozen so that every tier sees
// the same latents as the full model.
//
// Choices made here:
// - k-means runs on the base codebook weighted by how often each code is used on the fitting images
//   (every code counts once more, so unused codes still have a say and K distinct rows exist); it is
//   the k-means of the quantized latents, run on the codes rather than on every latent vector.
// - The encoder is frozen, so no straight-through estimator is needed: the decoder is fed the
//   gathered codes themselves and the reconstruction gradient reaches the codebook, plus the
//   quantizer's own codebook/commitment loss (with an EMA codebook only the commitment term, which is
//   constant here). The quantizer runs in eval mode, so no EMA update or dead-code restart happens.
// - An EMA quantizer keeps its EMA config: its tier codebook is trained by gradient like the rest,
//   and its EMA state is reset consistently around the result (cluster_size 1, embed_avg = codes).
import * as T from '../torch/index.js';
import { Generator, type Tensor } from '../torch/index.js';
import { Adam } from '../optim/index.js';
import { ConvTokenizer, createTokenizer, type Tokenizer, type TokenizerKind } from '../tokenizers/index.js';
import { VectorQuantizer, kmeans } from '../quantize/index.js';
import type { Conv2d } from '../nn/index.js';
import { checkInt, checkNumber, checkPositiveInt, isObject } from '../io/validate.js';

/**
 * One codebook tier: K codes, plus the tensors that replace the base tokenizer's, keyed by their
 * state-dict names relative to the tokenizer: every 'quantize.*' key and every 'post_quant_conv.*' key.
 */
export interface Tier {
  codebookSize: number;
  tensors: Record<string, Tensor>;
}

export interface FitTiersOptions {
  /** Fine-tuning steps per tier (300; 0 gives the k-means-only tiers). */
  steps?: number;
  /** Images per step (16). */
  batchSize?: number;
  /** Adam learning rate (1e-3; betas (0.5, 0.9) as taming and the paper). */
  lr?: number;
  /** Lloyd iterations of the k-means (20). */
  kmeansIters?: number;
  /** Randomness of the k-means seeding and the batches (default: a generator seeded 0). */
  generator?: Generator;
  onProgress?: (msg: string) => void;
}

const TIER_KINDS: readonly TokenizerKind[] = ['vqvae', 'vqgan', 'movq'];
const TIER_PREFIXES = ['quantize.', 'post_quant_conv.'];
const isTierKey = (k: string): boolean => TIER_PREFIXES.some((p) => k.startsWith(p));

/** A tokenizer that passed checkTierable: its conv pieces and its plain codebook quantizer. */
type TierableTokenizer = ConvTokenizer & { post_quant_conv: Conv2d; quantize: VectorQuantizer; config: { quantizer: { type: string } } };

/**
 * Throws one clear line unless `tok` can take codebook tiers: a single-level conv tokenizer (vqvae,
 * vqgan, movq) with a post_quant_conv whose quantizer is a plain VectorQuantizer (type 'vq' or 'multichannel').
 */
export function checkTierable(tok: Tokenizer): asserts tok is TierableTokenizer {
  const who = 'codebook tiers';
  if (!TIER_KINDS.includes(tok.kind) || !(tok instanceof ConvTokenizer) || tok.levels.length !== 1) {
    throw new Error(`${who}: a ${tok.kind} tokenizer cannot take codebook tiers (supported: single-level ${TIER_KINDS.join(', ')})`);
  }
  const post = (tok as unknown as { post_quant_conv?: unknown }).post_quant_conv;
  if (post === undefined) throw new Error(`${who}: the ${tok.kind} tokenizer has no post_quant_conv to fine-tune`);
  const type = (tok.config as { quantizer?: { type?: unknown } }).quantizer?.type;
  if (!(tok.quantize instanceof VectorQuantizer) || (type !== 'vq' && type !== 'multichannel')) {
    throw new Error(
      `${who}: the ${tok.kind} tokenizer's '${String(type)}' quantizer cannot be tiered (supported: a single codebook, quantizer type 'vq' or 'multichannel')`,
    );
  }
}

/** The base config with the quantizer's codebookSize set to k. */
function tierConfig(config: object, k: number): object {
  const q = (config as { quantizer?: unknown }).quantizer;
  if (!isObject(q)) throw new Error('codebook tiers: the tokenizer config has no quantizer');
  return { ...config, quantizer: { ...q, codebookSize: k } };
}

function build(kind: TokenizerKind, config: object): Tokenizer {
  return createTokenizer(kind as 'vqvae', config as never);
}

/**
 * A new tokenizer (same kind and config except quantizer codebookSize = tier.codebookSize) holding the
 * base weights with the tier's tensors swapped in; eval mode. The caller disposes it. A tier that
 * lacks a key or has a wrong shape gets one StateDictError.
 */
export function tierTokenizer(kind: TokenizerKind, config: object, baseStateDict: Record<string, Tensor>, tier: Tier): Tokenizer {
  if (!isObject(tier) || !isObject(tier.tensors)) throw new Error('tierTokenizer: tier must be { codebookSize, tensors }');
  const k = checkPositiveInt(tier.codebookSize, 'tierTokenizer: tier.codebookSize');
  const tok = build(kind, tierConfig(config, k));
  try {
    checkTierable(tok);
    const sd: Record<string, Tensor> = {};
    for (const [key, t] of Object.entries(baseStateDict)) if (!isTierKey(key)) sd[key] = t;
    for (const [key, t] of Object.entries(tier.tensors)) {
      if (!isTierKey(key)) throw new Error(`tierTokenizer: a tier holds only quantize.* and post_quant_conv.* tensors, got '${key}'`);
      sd[key] = t;
    }
    tok.loadStateDict(sd, { name: `${k}-code tier of the ${kind} tokenizer` });
    tok.eval();
    return tok;
  } catch (e) {
    tok.dispose();
    throw e;
  }
}

/** Latent [B, G·d, h, w] → token rows [B·h·w·G, d] (G tokens per position: multichannel groups). */
function tokenRows(z: Tensor, q: VectorQuantizer): Tensor {
  const g = q.tokensPerPosition;
  const s = z.shape;
  return z
    .reshape([s[0]!, g, q.tokenDim, ...s.slice(2)])
    .movedim(2, -1)
    .reshape([-1, q.tokenDim]);
}

function checkSizes(sizes: readonly number[], base: number): number[] {
  if (!Array.isArray(sizes) || sizes.length === 0) throw new Error('fitTiers: sizes must be a non-empty list of codebook sizes, e.g. [64, 16, 4]');
  const out = sizes.map((k) => checkInt(k, 'fitTiers: tier size', { min: 2 }));
  for (let i = 1; i < out.length; i++) {
    if (out[i]! >= out[i - 1]!) throw new Error(`fitTiers: tier sizes must be strictly decreasing, got ${out.join(', ')}`);
  }
  if (out[0]! >= base) throw new Error(`fitTiers: tier size ${out[0]} must be below the model's codebook size (${base})`);
  return out;
}

/**
 * Fits one tier per entry of `sizes` (strictly decreasing, each < tok.codebookSize): k-means of the
 * trained codebook weighted by code usage on `images` ([N, C, H, W] in [-1, 1]), then `steps` Adam
 * steps on the codebook and post_quant_conv minimising reconstruction MSE plus the quantizer's loss,
 * with the encoder and decoder frozen. `tok` is not changed. The tiers' tensors belong to the caller.
 */
export function fitTiers(tok: Tokenizer, images: Tensor, sizes: readonly number[], opts: FitTiersOptions = {}): Tier[] {
  checkTierable(tok);
  const ks = checkSizes(sizes, tok.codebookSize);
  tok.checkImages(images, 'fitTiers');
  const steps = checkInt(opts.steps ?? 300, 'fitTiers: steps', { min: 0 });
  const batchSize = checkPositiveInt(opts.batchSize ?? 16, 'fitTiers: batchSize');
  const lr = checkNumber(opts.lr ?? 1e-3, 'fitTiers: lr', { min: 0, exclusiveMin: true });
  const iters = checkInt(opts.kmeansIters ?? 20, 'fitTiers: kmeansIters', { min: 0 });
  const gen = opts.generator ?? new Generator(0);
  const n = images.size(0);
  if (n === 0) throw new Error('fitTiers: no images');
  const q = tok.quantize;

  // The frozen encoder's latents, once (the base model in eval mode, restored after).
  const wasTraining = tok.training;
  tok.eval();
  let latents: Tensor;
  try {
    const parts: Tensor[] = [];
    for (let s = 0; s < n; s += 64) parts.push(T.noGrad(() => T.tidy(() => tok.encodeLatent(images.narrow(0, s, Math.min(64, n - s))).keep())));
    latents = T.noGrad(() => T.cat(parts, 0)).keep();
    for (const p of parts) p.dispose();
  } finally {
    tok.train(wasTraining);
  }

  try {
    // Usage-weighted codebook: every code once plus once per use (in lookup space).
    const pool = T.noGrad(() =>
      T.tidy(() => {
        const codes = q.l2Normalize ? T.normalize(q.codebook(), -1) : q.codebook().clone();
        const idx = q.assign(q.toLookup(tokenRows(latents, q)), q.codebook());
        let used = codes.indexSelect(0, idx);
        // Bound the k-means cost on large fitting sets: a random subset of the uses.
        const cap = 1 << 16;
        if (used.size(0) > cap) used = used.indexSelect(0, T.randperm(used.size(0), gen, { dtype: 'int64' }).narrow(0, 0, cap));
        return T.cat([codes, used], 0).keep();
      }),
    );
    const baseSD = T.tidy(() => tok.stateDict());
    try {
      // Every tier's k-means first, so the k-means tiers do not depend on the fine-tuning steps.
      const centroids = ks.map((k) => kmeans(pool, k, { iters, generator: gen, spherical: q.l2Normalize }).keep());
      const tiers: Tier[] = [];
      try {
        ks.forEach((k, i) => {
          tiers.push(T.tidy(() => fitOne(tok, baseSD, latents, images, k, centroids[i]!, { steps, batchSize, lr, gen, onProgress: opts.onProgress })));
        });
        return tiers;
      } catch (e) {
        for (const t of tiers) for (const x of Object.values(t.tensors)) x.dispose();
        throw e;
      } finally {
        for (const c of centroids) c.dispose();
      }
    } finally {
      for (const t of Object.values(baseSD)) t.dispose();
      pool.dispose();
    }
  } finally {
    latents.dispose();
  }
}

function fitOne(
  base: TierableTokenizer,
  baseSD: Record<string, Tensor>,
  latents: Tensor,
  images: Tensor,
  k: number,
  centroids: Tensor,
  o: { steps: number; batchSize: number; lr: number; gen: Generator; onProgress?: (msg: string) => void },
): Tier {
  const tok = build(base.kind, tierConfig(base.config, k));
  try {
    checkTierable(tok);
    // The base weights; only the codebook-shaped quantizer tensors differ in shape.
    const r = tok.loadStateDict(baseSD, { strict: false });
    const bad = [...r.missing, ...r.unexpected, ...r.mismatched.map((m) => m.key).filter((key) => !key.startsWith('quantize.'))];
    if (bad.length > 0) throw new Error(`fitTiers: internal error: the ${k}-code tier does not take the base weights (${bad.join(', ')})`);
    const q = tok.quantize;
    q.setCodebook(centroids);
    tok.eval(); // no EMA update, dead-code restart or k-means init while fine-tuning
    if (o.steps > 0) {
      tok.requiresGrad_(false);
      const codebook = q.codebook();
      const emaCodebook = !codebook.requiresGrad;
      codebook.requiresGrad = true;
      const params = [codebook, ...(q.projectOut?.parameters() ?? []), ...tok.post_quant_conv.parameters()];
      for (const p of params) p.requiresGrad = true;
      const opt = new Adam(params, { lr: o.lr, betas: [0.5, 0.9] });
      const n = latents.size(0);
      const bs = Math.min(o.batchSize, n);
      const every = Math.max(1, Math.round(o.steps / 5));
      let recent = 0;
      for (let step = 1; step <= o.steps; step++) {
        recent += T.tidy(() => {
          const idx = T.randint(0, n, [bs], o.gen, { dtype: 'int64' });
          const x = images.indexSelect(0, idx);
          const res = q.quantize(latents.indexSelect(0, idx));
          // Frozen encoder: decode the codes themselves, so the reconstruction gradient reaches them.
          const rec = T.mseLoss(tok.decodeLatent(q.lookup(res.indices)), x);
          opt.zeroGrad();
          rec.add(res.loss).backward();
          opt.step();
          return rec.item();
        });
        if (step % every === 0 || step === o.steps) {
          o.onProgress?.(`tier ${k}: step ${step}/${o.steps}, reconstruction MSE ${(recent / (step % every || every)).toFixed(5)}`);
          recent = 0;
        }
      }
      opt.dispose();
      tok.zeroGrad();
      if (emaCodebook) {
        codebook.requiresGrad = false;
        const cb = T.noGrad(() => codebook.clone());
        T.noGrad(() => q.clusterSize?.fill_(1));
        q.setCodebook(cb); // embed_avg = codes · cluster_size again
        cb.dispose();
      }
    }
    q.resetStats();
    const tensors: Record<string, Tensor> = {};
    for (const [key, t] of Object.entries(tok.stateDict())) if (isTierKey(key)) tensors[key] = T.noGrad(() => t.clone());
    return { codebookSize: k, tensors };
  } finally {
    tok.dispose();
  }
}
