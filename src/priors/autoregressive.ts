// Autoregressive prior (taming's GPT, LlamaGen; REFERENCE §7): a causal transformer over the
// image's tokens in raster order, with the class token first. Tokens of a multichannel tokenizer
// (h×w×c) are flattened position-major, channels innermost, so the sequence is h·w·c long.
//
// Ids in the input embedding: codes [0, K), classes [K, K + C), and one more id, K + C, that is
// the start token of an unconditional model and the "null class" of classifier-free guidance.
// The head predicts codes only, so a sample can never be a class or null id.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { Module, Embedding, Linear, init } from '../nn/index.js';
import { Transformer, KVCache, initTransformerWeights, sincos2d, type TransformerConfig } from './transformer.js';
import { guide, filterLogits, sampleCategorical, checkSamplingOptions, type SamplingOptions } from './sampling.js';
import { classIds, resolvePriorOptions, trainingPrefix, type PriorOptions, type PriorShape } from './common.js';

export interface ARPriorConfig extends TransformerConfig, PriorShape, PriorOptions {}

export interface ARSampleOptions extends SamplingOptions {
  /** One class id per image; null or omitted for an unconditional model (or the null class). */
  classes?: readonly (number | null)[];
  /** Number of images when `classes` is omitted. */
  batch?: number;
  /** Classifier-free guidance scale (1 = plain conditional sampling). */
  cfg?: number;
  generator?: Generator;
  /** Use the key/value cache (default true). Without it every step re-runs the whole prefix. */
  cache?: boolean;
  /** Known leading tokens [B, n0] (raster order) to continue from. */
  prompt?: Tensor;
}

export class ARPrior extends Module {
  readonly kind = 'ar' as const;
  readonly config: Required<Omit<ARPriorConfig, 'mlpRatio' | 'dropout'>> & TransformerConfig;
  /** Tokens per image: h·w·c. */
  readonly seqLen: number;
  readonly nullId: number;
  readonly tokEmb: Embedding;
  readonly posEmb: Tensor;
  readonly transformer: Transformer;
  readonly head: Linear;

  constructor(cfg: ARPriorConfig) {
    super();
    const { classDropout, positions } = resolvePriorOptions(cfg, 'ARPrior');
    this.config = { ...cfg, classDropout, positions };
    const [h, w] = cfg.grid;
    const c = cfg.tokensPerPosition;
    this.seqLen = h * w * c;
    this.nullId = cfg.codebookSize + cfg.numClasses;
    this.tokEmb = this.add('tok_emb', new Embedding(cfg.codebookSize + cfg.numClasses + 1, cfg.dim));
    if (positions === 'learned') {
      this.posEmb = this.param('pos_emb', T.zeros([this.seqLen, cfg.dim]));
    } else {
      // Input position j holds the token that precedes cell j; each gets its cell's sin-cos code.
      const grid = sincos2d(h, w, cfg.dim);
      this.posEmb = this.buffer('pos_emb', c === 1 ? grid : grid.repeatInterleave(c, 0), { persistent: false });
    }
    this.transformer = this.add('transformer', new Transformer(cfg));
    this.head = this.add('head', new Linear(cfg.dim, cfg.codebookSize));
    initTransformerWeights(this);
    T.noGrad(() => {
      init.normal_(this.tokEmb.weight, 0, 0.02);
      if (positions === 'learned') init.normal_(this.posEmb, 0, 0.02);
    });
  }

  get conditional(): boolean {
    return this.config.numClasses > 0;
  }

  /** Class ids → prefix token ids [B] (null / start id for null entries or unconditional models). */
  prefixIds(classes: readonly (number | null)[]): Tensor {
    return classIds(classes, this.config.numClasses, this.config.codebookSize, this.nullId, 'ARPrior');
  }

  /** Embeds input tokens [B, L] sitting at positions [start, start + L). */
  #embed(ids: Tensor, start: number): Tensor {
    const l = ids.size(1);
    return this.tokEmb.forward(ids).add(this.posEmb.narrow(0, start, l));
  }

  /**
   * Teacher-forced logits for every position: tokens [B, N] (codes), prefix [B] (prefix ids from
   * prefixIds) → [B, N, K]; logits[:, i] predicts tokens[:, i] from the prefix and tokens[:, <i].
   */
  forward(tokens: Tensor, prefix: Tensor): Tensor {
    if (tokens.shape.length !== 2 || tokens.size(1) !== this.seqLen) {
      throw new Error(`ARPrior.forward: expected tokens [B, ${this.seqLen}], got [${tokens.shape.join(', ')}]`);
    }
    const input = T.cat([prefix.unsqueeze(1), tokens.narrow(1, 0, this.seqLen - 1)], 1);
    return this.head.forward(this.transformer.forward(this.#embed(input, 0), { causal: true }));
  }

  /** Training loss: cross-entropy of every token; classes are dropped to the null class at classDropout. */
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator): Tensor {
    const c = this.config;
    const prefix = trainingPrefix(tokens.size(0), classes, { numClasses: c.numClasses, offset: c.codebookSize, nullId: this.nullId, classDropout: c.classDropout, training: this.training }, generator);
    const logits = this.forward(tokens, prefix);
    return T.crossEntropy(logits.reshape([-1, this.config.codebookSize]), tokens.reshape([-1]));
  }


  /** Samples token sequences [B, N] in raster order. */
  sample(o: ARSampleOptions = {}): Tensor {
    checkSamplingOptions(o);
    const classes = o.classes ?? Array.from({ length: o.batch ?? 1 }, () => null);
    const b = classes.length;
    if (b === 0) throw new Error('ARPrior.sample: nothing to sample (0 images)');
    // Any cfg (even 1) runs the doubled batch, so cfg 1 is checkably the same as no guidance.
    const cfg = o.cfg ?? 1;
    const guided = o.cfg !== undefined;
    if (cfg !== 1 && this.config.classDropout === 0) {
      throw new Error('ARPrior.sample: classifier-free guidance needs a model trained with class dropout (classDropout > 0)');
    }
    if (guided && !this.conditional) throw new Error('ARPrior.sample: classifier-free guidance needs a class-conditional model');
    const n = this.seqLen;
    const prompt = o.prompt;
    const n0 = prompt ? prompt.size(1) : 0;
    if (prompt && (prompt.shape.length !== 2 || prompt.size(0) !== b || n0 >= n)) {
      throw new Error(`ARPrior.sample: prompt must be [${b}, n] with n < ${n}, got [${prompt.shape.join(', ')}]`);
    }
    const wasTraining = this.training;
    this.eval();
    try {
      return T.noGrad(() =>
        T.tidy(() => {
          let prefix = this.prefixIds(classes);
          if (guided) prefix = T.cat([prefix, T.full([b], this.nullId, { dtype: 'int64' })]);
          const rows = prefix.size(0);
          // The sequence so far: prefix id, then the tokens sampled (or given) so far.
          let seq = prefix.unsqueeze(1);
          if (prompt) seq = T.cat([seq, guided ? T.cat([prompt, prompt]) : prompt], 1);
          const cache = o.cache === false ? null : new KVCache(rows, n, this.config);
          try {
            let fed = 0; // tokens of seq already in the cache
            for (let i = n0; i < n; i++) {
              const last = T.tidy(() => {
                let h: Tensor;
                if (cache) {
                  h = this.transformer.forward(this.#embed(seq.narrow(1, fed, seq.size(1) - fed), fed), { causal: true, cache });
                  fed = seq.size(1);
                } else {
                  h = this.transformer.forward(this.#embed(seq, 0), { causal: true });
                }
                let logits = this.head.forward(h.select(1, h.size(1) - 1));
                if (guided) logits = guide(logits, cfg);
                let next = sampleCategorical(filterLogits(logits, o), o.generator);
                if (guided) next = T.cat([next, next]);
                return T.cat([seq, next.unsqueeze(1)], 1);
              });
              seq.dispose();
              seq = last;
            }
          } finally {
            cache?.dispose();
          }
          return seq.narrow(0, 0, b).narrow(1, 1, n).contiguous();
        }),
      );
    } finally {
      this.train(wasTraining);
    }
  }

  /** Next-token logits at every position with the cache, one token per call (for tests and tools). */
  cachedLogits(tokens: Tensor, prefix: Tensor): Tensor {
    return T.noGrad(() =>
      T.tidy(() => {
        const seq = T.cat([prefix.unsqueeze(1), tokens.narrow(1, 0, this.seqLen - 1)], 1);
        const cache = new KVCache(seq.size(0), this.seqLen, this.config);
        try {
          const outs: Tensor[] = [];
          for (let i = 0; i < seq.size(1); i++) {
            outs.push(this.head.forward(this.transformer.forward(this.#embed(seq.narrow(1, i, 1), i), { causal: true, cache })));
          }
          return T.cat(outs, 1);
        } finally {
          cache.dispose();
        }
      }),
    );
  }
}
