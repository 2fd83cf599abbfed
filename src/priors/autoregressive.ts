// Autoregressive prior (taming-transformers' GPT, Esser et al., 2021; LlamaGen, Sun et al., 2024): a causal transformer over the
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
import { guide, filterLogits, sampleCategorical } from './sampling.js';
import {
  CodeCondition,
  classIds,
  rejectOptions,
  resolveGenerate,
  resolvePriorOptions,
  trainingPrefix,
  SHARED_GENERATE_KEYS,
  type Prior,
  type PriorGenerateOptions,
  type PriorOptions,
  type PriorShape,
  type CodeConditionShape,
  type ConditionInput,
} from './common.js';

function chunk(flat: number[], n: number): number[][] {
  return Array.from({ length: flat.length / n }, (_, i) => flat.slice(i * n, (i + 1) * n));
}

export interface ARPriorConfig extends TransformerConfig, PriorShape, PriorOptions {
  /** A coarser code this prior is conditioned on (VQ-VAE-2's bottom prior; see CodeCondition). */
  condition?: CodeConditionShape;
}

/** The autoregressive prior's own generate() options. */
export interface ARExtras {
  /** Use the key/value cache (default true). Without it every step re-runs the whole prefix. */
  cache?: boolean;
}

export type ARGenerateOptions = PriorGenerateOptions & ARExtras & ConditionInput;

const AR_CONFIG_KEYS: readonly string[] = ['condition'];

export class ARPrior extends Module implements Prior<ARExtras> {
  readonly kind = 'ar' as const;
  readonly label = 'autoregressive';
  readonly extraOptions = ['cache'] as const;
  readonly editsAnywhere = false;
  readonly config: Required<Omit<ARPriorConfig, 'mlpRatio' | 'dropout' | 'condition'>> & TransformerConfig & Pick<ARPriorConfig, 'condition'>;
  /** Tokens per image: h·w·c. */
  readonly seqLen: number;
  readonly nullId: number;
  readonly tokEmb: Embedding;
  readonly posEmb: Tensor;
  readonly transformer: Transformer;
  readonly head: Linear;
  /** The coarse code's embedding on this grid (conditioned priors only). */
  readonly cond: CodeCondition | null;

  constructor(cfg: ARPriorConfig) {
    super();
    const { classDropout, positions } = resolvePriorOptions(cfg, 'ARPrior', AR_CONFIG_KEYS);
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
    this.cond = cfg.condition ? this.add('cond', new CodeCondition(cfg.condition, cfg.grid, cfg.dim, 'ARPrior')) : null;
    initTransformerWeights(this);
    T.noGrad(() => {
      init.normal_(this.tokEmb.weight, 0, 0.02);
      if (positions === 'learned') init.normal_(this.posEmb, 0, 0.02);
    });
  }

  editDefaults(): Partial<ARExtras> {
    return {};
  }

  get conditional(): boolean {
    return this.config.numClasses > 0;
  }

  /** Class ids → prefix token ids [B] (null / start id for null entries or unconditional models). */
  prefixIds(classes: readonly (number | null)[]): Tensor {
    return classIds(classes, this.config.numClasses, this.config.codebookSize, this.nullId, 'ARPrior');
  }

  /** Embeds input tokens [B, L] sitting at positions [start, start + L); `cond` [B, N, D] is the condition per position. */
  #embed(ids: Tensor, start: number, cond: Tensor | null = null): Tensor {
    const l = ids.size(1);
    const x = this.tokEmb.forward(ids).add(this.posEmb.narrow(0, start, l));
    return cond ? x.add(cond.narrow(1, start, l)) : x;
  }

  /**
   * The condition's embedding per input position [B, N, D] (input j predicts token j, so it gets the
   * coarse code above token j's cell), or null for an unconditioned prior. Checks the pairing.
   */
  conditionEmbedding(condition: Tensor | undefined, b: number, who: string): Tensor | null {
    const e = CodeCondition.embed(this.cond, condition, b, who);
    const c = this.config.tokensPerPosition;
    return e === null || c === 1 ? e : e.repeatInterleave(c, 1);
  }

  /**
   * Teacher-forced logits for every position: tokens [B, N] (codes), prefix [B] (prefix ids from
   * prefixIds) → [B, N, K]; logits[:, i] predicts tokens[:, i] from the prefix and tokens[:, <i].
   */
  forward(tokens: Tensor, prefix: Tensor, condition?: Tensor): Tensor {
    if (tokens.shape.length !== 2 || tokens.size(1) !== this.seqLen) {
      throw new Error(`ARPrior.forward: expected tokens [B, ${this.seqLen}], got [${tokens.shape.join(', ')}]`);
    }
    const cond = this.conditionEmbedding(condition, tokens.size(0), 'ARPrior.forward');
    const input = T.cat([prefix.unsqueeze(1), tokens.narrow(1, 0, this.seqLen - 1)], 1);
    return this.head.forward(this.transformer.forward(this.#embed(input, 0, cond), { causal: true }));
  }

  /** Training loss: cross-entropy of every token; classes are dropped to the null class at classDropout. */
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator, condition?: Tensor): Tensor {
    const c = this.config;
    const prefix = trainingPrefix(
      tokens.size(0),
      classes,
      { numClasses: c.numClasses, offset: c.codebookSize, nullId: this.nullId, classDropout: c.classDropout, training: this.training },
      generator,
    );
    const logits = this.forward(tokens, prefix, condition);
    return T.crossEntropy(logits.reshape([-1, this.config.codebookSize]), tokens.reshape([-1]));
  }

  /**
   * Samples token sequences [B, N] in raster order. With `known` tokens, every token whose `mask` is
   * false is taken as given instead of sampled (a known leading run is fed in one pass, like a prompt);
   * later tokens see the given ones, earlier ones cannot.
   */
  generate(o: ARGenerateOptions = {}): Tensor {
    rejectOptions(o, [...SHARED_GENERATE_KEYS, ...this.extraOptions, ...(this.cond ? ['condition'] : [])], 'ARPrior.generate', this.label);
    const c = this.config;
    const { classes, b, guided, cfg, known, mask } = resolveGenerate(
      o,
      { seqLen: this.seqLen, codebookSize: c.codebookSize, conditional: this.conditional, classDropout: c.classDropout },
      'ARPrior.generate',
    );
    const n = this.seqLen;
    // Which tokens to generate, per image; the leading run known in every image is fed at once.
    const genFlat: number[] | null = known ? T.tidy(() => (mask ?? T.ones([b, n]).gt(0)).to('int32').reshape([-1]).toArray()) : null;
    const genRows = genFlat ? chunk(genFlat, n) : null;
    let n0 = 0;
    if (genRows) while (n0 < n && genRows.every((r) => !r[n0])) n0++;
    const remaining = (i: number): number[] =>
      genRows ? genRows.map((r) => r.slice(i + 1).filter(Boolean).length) : Array.from({ length: b }, () => n - i - 1);
    const wasTraining = this.training;
    this.eval();
    try {
      return T.noGrad(() =>
        T.tidy(() => {
          let prefix = this.prefixIds(classes);
          if (guided) prefix = T.cat([prefix, T.full([b], this.nullId, { dtype: 'int64' })]);
          const rows = prefix.size(0);
          const both = (t: Tensor): Tensor => (guided ? T.cat([t, t]) : t);
          const c0 = this.conditionEmbedding(o.condition, b, 'ARPrior.generate');
          const cond = c0 ? both(c0) : null;
          // The sequence so far: prefix id, then the tokens sampled (or given) so far.
          let seq = prefix.unsqueeze(1);
          if (n0 > 0) seq = T.cat([seq, both(known!.narrow(1, 0, n0))], 1);
          const cache = o.cache === false ? null : new KVCache(rows, n, this.config);
          try {
            let fed = 0; // tokens of seq already in the cache
            for (let i = n0; i < n; i++) {
              const last = T.tidy(() => {
                let next: Tensor;
                if (genRows !== null && genRows.every((r) => !r[i])) {
                  // Known in every image: nothing to predict; the next forward feeds it with the rest.
                  next = known!.select(1, i);
                } else {
                  let h: Tensor;
                  if (cache) {
                    h = this.transformer.forward(this.#embed(seq.narrow(1, fed, seq.size(1) - fed), fed, cond), { causal: true, cache });
                    fed = seq.size(1);
                  } else {
                    h = this.transformer.forward(this.#embed(seq, 0, cond), { causal: true });
                  }
                  let logits = this.head.forward(h.select(1, h.size(1) - 1));
                  if (guided) logits = guide(logits, cfg);
                  next = sampleCategorical(filterLogits(logits, o), o.generator);
                  if (mask) next = T.where(mask.select(1, i), next, known!.select(1, i));
                }
                return T.cat([seq, both(next).unsqueeze(1)], 1);
              });
              seq.dispose();
              seq = last;
              o.onStep?.({ step: i - n0, steps: n - n0, masked: remaining(i) });
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

  /**
   * Next-token logits one token at a time with the KV cache, for B sequences in step — what an entropy
   * coder needs, since its decoder learns each token only after using the previous one's logits. The
   * first next() feeds the prefix ids [B]; each later call feeds the token [B] chosen for the previous
   * position. Returns logits [B, K]. Dispose the stepper when done.
   */
  stepper(prefix: Tensor, condition?: Tensor): ARStepper {
    const b = prefix.size(0);
    const cond = T.noGrad(() => this.conditionEmbedding(condition, b, 'ARPrior.stepper'))?.keep() ?? null;
    const cache = new KVCache(b, this.seqLen, this.config);
    let i = 0;
    return {
      next: (token?: Tensor): Tensor => {
        if ((i === 0) !== (token === undefined)) throw new Error('ARPrior.stepper: the first step takes no token, every later step one');
        if (i >= this.seqLen) throw new Error(`ARPrior.stepper: all ${this.seqLen} positions were already stepped`);
        const ids = (i === 0 ? prefix : token!).reshape([b, 1]);
        const pos = i++;
        return T.noGrad(() => T.tidy(() => this.head.forward(this.transformer.forward(this.#embed(ids, pos, cond), { causal: true, cache })).select(1, 0)));
      },
      dispose: () => {
        cache.dispose();
        cond?.dispose();
      },
    };
  }

  /** Next-token logits at every position with the cache, one token per call (for tests and tools): [B, N, K]. */
  cachedLogits(tokens: Tensor, prefix: Tensor, condition?: Tensor): Tensor {
    const st = this.stepper(prefix, condition);
    try {
      const outs = [st.next()];
      for (let i = 1; i < this.seqLen; i++) outs.push(T.tidy(() => st.next(tokens.select(1, i - 1))));
      return T.tidy(() => T.stack(outs, 1));
    } finally {
      st.dispose();
    }
  }
}

/** ARPrior.stepper's handle: logits for one position per call. */
export interface ARStepper {
  next(token?: Tensor): Tensor;
  dispose(): void;
}
