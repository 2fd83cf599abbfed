// MaskGIT (Chang et al., 2022): a bidirectional transformer that predicts masked tokens, decoded in a few
// parallel steps — sample every masked token, keep the confident ones, re-mask the rest.
//
// Ids: codes [0, K), [MASK] = K, classes [K + 1, K + 1 + C), null class K + 1 + C (unconditional
// models and classifier-free guidance). The ranges are disjoint and the head predicts codes only.
//
// Multichannel tokens (MoVQ, h×w×c): the sequence has one slot per POSITION (1 + h·w long). A
// position's input is the sum of its c token embeddings, each plus a learned per-channel
// embedding; c heads predict the c channels. Masking and decoding work per channel token (a
// position can have some channels known and others masked), as the MoVQ paper masks per channel.
// Flat sequences are [B, h·w·c], channels innermost, like the tokenizer's [B, h, w, c].
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { Module, Embedding, Linear, init } from '../nn/index.js';
import { Transformer, initTransformerWeights, sincos2d, type TransformerConfig } from './transformer.js';
import { guide, filterLogits, sampleCategorical, gumbel, maskRatio, checkSchedule, MASK_SCHEDULES, type MaskSchedule } from './sampling.js';
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
import { checkEnum, checkInt, checkNumber, checkPositiveInt } from '../io/validate.js';

export interface MaskGITConfig extends TransformerConfig, PriorShape, PriorOptions {
  /** Label smoothing of the masked-token cross-entropy (default 0.1). */
  labelSmoothing?: number;
  /** Schedule the training mask ratio is drawn from (default cosine). */
  trainSchedule?: MaskSchedule;
  /** A coarser code this prior is conditioned on (VQ-VAE-2's bottom prior; see CodeCondition). */
  condition?: CodeConditionShape;
}

/** MaskGIT's own generate() options. */
export interface MaskGITExtras {
  /** Total steps T (default 8). */
  steps?: number;
  /** First step s to run (editing/inpainting starts later, e.g. 2 of 12; default 0). */
  startStep?: number;
  schedule?: MaskSchedule;
  /** τ: Gumbel noise on the confidences, scaled by τ(1 − r) each step (default 4.5). */
  choiceTemperature?: number;
}

export type MaskGITGenerateOptions = PriorGenerateOptions & MaskGITExtras & ConditionInput;

const MASKGIT_CONFIG_KEYS = ['labelSmoothing', 'trainSchedule', 'condition'] as const;

export class MaskGIT extends Module implements Prior<MaskGITExtras> {
  readonly kind = 'maskgit' as const;
  readonly label = 'MaskGIT';
  readonly extraOptions = ['steps', 'startStep', 'schedule', 'choiceTemperature'] as const;
  readonly editsAnywhere = true;

  readonly config: Required<Omit<MaskGITConfig, 'mlpRatio' | 'dropout' | 'condition'>> & TransformerConfig & Pick<MaskGITConfig, 'condition'>;
  /** Positions h·w and tokens N = h·w·c per image. */
  readonly positions: number;
  readonly seqLen: number;
  readonly maskId: number;
  readonly nullId: number;
  readonly tokEmb: Embedding;
  /** Per-channel embedding added to each channel token (multichannel only). */
  readonly chanEmb: Tensor | null;
  readonly posEmb: Tensor;
  readonly transformer: Transformer;
  readonly head: Linear;
  /** The coarse code's embedding on this grid (conditioned priors only). */
  readonly cond: CodeCondition | null;

  constructor(cfg: MaskGITConfig) {
    super();
    const { classDropout, positions } = resolvePriorOptions(cfg, 'MaskGIT', MASKGIT_CONFIG_KEYS);
    const labelSmoothing = checkNumber(cfg.labelSmoothing ?? 0.1, 'MaskGIT: labelSmoothing', { min: 0, max: 1, exclusiveMax: true });
    const trainSchedule = checkEnum(cfg.trainSchedule ?? 'cosine', MASK_SCHEDULES, 'MaskGIT: trainSchedule');
    this.config = { ...cfg, classDropout, labelSmoothing, positions, trainSchedule };
    const [h, w] = cfg.grid;
    const c = cfg.tokensPerPosition;
    const k = cfg.codebookSize;
    this.positions = h * w;
    this.seqLen = h * w * c;
    this.maskId = k;
    this.nullId = k + 1 + cfg.numClasses;
    this.tokEmb = this.add('tok_emb', new Embedding(k + 1 + cfg.numClasses + 1, cfg.dim));
    this.chanEmb = c > 1 ? this.param('chan_emb', T.zeros([c, cfg.dim])) : null;
    if (positions === 'learned') {
      this.posEmb = this.param('pos_emb', T.zeros([1 + this.positions, cfg.dim]));
    } else {
      // The class slot gets a zero position code; the grid gets 2-D sin-cos.
      this.posEmb = this.buffer('pos_emb', T.cat([T.zeros([1, cfg.dim]), sincos2d(h, w, cfg.dim)]), { persistent: false });
    }
    this.transformer = this.add('transformer', new Transformer(cfg));
    this.head = this.add('head', new Linear(cfg.dim, c * k));
    this.cond = cfg.condition ? this.add('cond', new CodeCondition(cfg.condition, cfg.grid, cfg.dim, 'MaskGIT')) : null;
    initTransformerWeights(this);
    T.noGrad(() => {
      init.normal_(this.tokEmb.weight, 0, 0.02);
      if (this.chanEmb) init.normal_(this.chanEmb, 0, 0.02);
      if (positions === 'learned') init.normal_(this.posEmb, 0, 0.02);
    });
  }

  /** MaskGIT's editing recipe: 12 steps, starting at step 2 (the paper's setting; earlier when fewer steps). */
  editDefaults(o: Partial<MaskGITExtras>): Partial<MaskGITExtras> {
    const steps = o.steps ?? 12;
    return { steps, startStep: o.startStep ?? Math.max(0, Math.min(2, steps - 1)) };
  }

  get conditional(): boolean {
    return this.config.numClasses > 0;
  }

  prefixIds(classes: readonly (number | null)[]): Tensor {
    return classIds(classes, this.config.numClasses, this.config.codebookSize + 1, this.nullId, 'MaskGIT');
  }

  /** The condition's embedding per grid position [B, h·w, D], or null for an unconditioned prior. */
  conditionEmbedding(condition: Tensor | undefined, b: number, who: string): Tensor | null {
    return CodeCondition.embed(this.cond, condition, b, who);
  }

  /** tokens [B, N] (codes or maskId), prefix ids [B] → code logits [B, N, K]; `condition`: the coarse tokens of a conditioned prior. */
  forward(tokens: Tensor, prefix: Tensor, condition?: Tensor): Tensor {
    const b = tokens.size(0);
    if (tokens.shape.length !== 2 || tokens.size(1) !== this.seqLen) {
      throw new Error(`MaskGIT.forward: expected tokens [B, ${this.seqLen}], got [${tokens.shape.join(', ')}]`);
    }
    const c = this.config.tokensPerPosition;
    const d = this.config.dim;
    let x = this.tokEmb.forward(tokens); // [B, N, D]
    if (this.chanEmb) x = x.view([b, this.positions, c, d]).add(this.chanEmb).sum([2]);
    const cond = this.conditionEmbedding(condition, b, 'MaskGIT.forward');
    if (cond) x = x.add(cond);
    x = T.cat([this.tokEmb.forward(prefix).unsqueeze(1), x], 1).add(this.posEmb);
    const hid = this.transformer.forward(x, { causal: false }).narrow(1, 1, this.positions);
    // [B, P, c·K] → [B, P·c, K]: channel heads in the same order as the flat tokens.
    return this.head.forward(hid).reshape([b, this.seqLen, this.config.codebookSize]);
  }

  /**
   * Masks a schedule-drawn share of each sequence: ratio = schedule(r), r ~ U(0, 1), at least one
   * token. Returns the boolean mask [B, N] (true = masked).
   */
  sampleTrainingMask(b: number, generator?: Generator): Tensor {
    const n = this.seqLen;
    const r = T.rand([b], generator ?? null).toArray();
    const counts = r.map((v) => Math.max(1, Math.ceil(maskRatio(this.config.trainSchedule, v, n) * n)));
    // A random order per row; the first `count` positions in it are masked.
    const rank = T.rand([b, n], generator ?? null)
      .argsort(-1)
      .argsort(-1);
    return rank.lt(T.tensor(counts, { dtype: 'int64' }).unsqueeze(1));
  }

  /** Training loss: label-smoothed cross-entropy on the masked tokens only. */
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator, condition?: Tensor): Tensor {
    const b = tokens.size(0);
    const mask = this.sampleTrainingMask(b, generator);
    const input = T.where(mask, T.full([b, this.seqLen], this.maskId, { dtype: 'int64' }), tokens);
    const c = this.config;
    const prefix = trainingPrefix(
      b,
      classes,
      { numClasses: c.numClasses, offset: c.codebookSize + 1, nullId: this.nullId, classDropout: c.classDropout, training: this.training },
      generator,
    );
    const logits = this.forward(input, prefix, condition);
    const k = this.config.codebookSize;
    const ce = T.crossEntropy(logits.reshape([-1, k]), tokens.reshape([-1]), null, 'none', -100, this.config.labelSmoothing);
    const m = mask.reshape([-1]).to('float32');
    return ce.mul(m).sum().div(m.sum());
  }

  /**
   * Iterative parallel decoding (MaskGIT paper §3.2). Every token to generate (all, or where `mask` is true
   * among `known` tokens) is filled; known tokens are never changed. Returns [B, N] codes.
   */
  generate(o: MaskGITGenerateOptions = {}): Tensor {
    rejectOptions(o, [...SHARED_GENERATE_KEYS, ...this.extraOptions, ...(this.cond ? ['condition'] : [])], 'MaskGIT.generate', this.label);
    const c = this.config;
    const { classes, b, guided, cfg, known, mask } = resolveGenerate(
      o,
      { seqLen: this.seqLen, codebookSize: c.codebookSize, conditional: this.conditional, classDropout: c.classDropout },
      'MaskGIT.generate',
    );
    const steps = checkPositiveInt(o.steps ?? 8, 'MaskGIT: steps');
    const start = checkInt(o.startStep ?? 0, 'MaskGIT: startStep', { min: 0, max: steps - 1 });
    const schedule = checkSchedule(o.schedule ?? 'cosine');
    const tau = checkNumber(o.choiceTemperature ?? 4.5, 'MaskGIT: choiceTemperature', { min: 0 });
    const n = this.seqLen;
    if (this.cond && o.condition === undefined) throw new Error('MaskGIT.generate: this prior is conditioned on the top code: give its tokens as condition');
    if (!this.cond && o.condition !== undefined) throw new Error('MaskGIT.generate: this prior is not conditioned on a coarser code; it takes no condition');
    const wasTraining = this.training;
    this.eval();
    try {
      return T.noGrad(() =>
        T.tidy(() => {
          const condition = o.condition && guided ? T.cat([o.condition, o.condition]) : o.condition;
          let prefix = this.prefixIds(classes);
          if (guided) prefix = T.cat([prefix, T.full([b], this.nullId, { dtype: 'int64' })]);
          let cur = !known
            ? T.full([b, n], this.maskId, { dtype: 'int64' })
            : mask
              ? T.where(mask, this.maskId, known)
              : T.full([b, n], this.maskId, { dtype: 'int64' });
          const n0 = cur.eq(this.maskId).sum([1]).toArray(); // masked at the start, per image
          for (let s = start; s < steps; s++) {
            const next = T.tidy(() => {
              const unknown = cur.eq(this.maskId);
              const maskedNow = unknown.sum([1]).toArray();
              if (maskedNow.every((m) => m === 0)) return { done: true, tokens: cur.clone() };
              let logits = this.forward(guided ? T.cat([cur, cur]) : cur, prefix, condition);
              if (guided) logits = guide(logits, cfg);
              logits = filterLogits(logits, o);
              const sampled = T.where(unknown, sampleCategorical(logits, o.generator), cur);
              if (s === steps - 1) return { done: true, tokens: sampled };
              // Confidence: log-probability of the sampled token; known tokens can't be re-masked.
              const logp = logits.logSoftmax(-1).gather(-1, sampled.unsqueeze(-1)).squeezeDim(-1);
              const r = (s + 1) / steps;
              const ratio = maskRatio(schedule, r, n);
              const conf = T.where(unknown, logp, Infinity).add(gumbel([b, n], o.generator).mul(tau * (1 - r)));
              const maskLen = maskedNow.map((m, i) => (m === 0 ? 0 : Math.max(1, Math.min(m - 1, Math.floor(n0[i]! * ratio)))));
              // Re-mask the maskLen least confident tokens of each image.
              const rank = conf.argsort(-1).argsort(-1);
              const remask = rank.lt(T.tensor(maskLen, { dtype: 'int64' }).unsqueeze(1));
              return { done: false, tokens: T.where(remask, this.maskId, sampled) };
            });
            cur.dispose();
            cur = next.tokens;
            o.onStep?.({ step: s, steps, masked: T.tidy(() => cur.eq(this.maskId).sum([1]).toArray()) });
            if (next.done) break;
          }
          return cur;
        }),
      );
    } finally {
      this.train(wasTraining);
    }
  }
}
