// VQ-Diffusion (Gu et al., "Vector Quantized Diffusion Model for Text-to-Image Synthesis", CVPR 2022)
// with the learned null class of Improved VQ-Diffusion (Tang et al., 2022): a discrete diffusion over
// token ids. The forward process corrupts x₀ in T steps — a token stays, is replaced by a uniformly
// random code, or becomes the absorbing [MASK] — and a bidirectional transformer, told the timestep
// and the class through adaptive LayerNorm, predicts x̃₀ from x_t. Sampling starts from all [MASK] and
// draws x_{t'} from the posterior q(x_{t'} | x_t, x̃₀); visiting fewer timesteps (t' < t − 1) is the
// paper's fast "reparameterised" sampler.
//
// State ids: codes [0, K), [MASK] = K. Classes [0, C) with the null class C (classifier-free guidance).
// Two schedules (cumulative probabilities at step t of T):
//   'mask'  — the released code's: ᾱ falls linearly 0.99999 → 0.000009 and γ̄ (mask) rises 0.000009 →
//             0.99999, so β̄ = (1 − ᾱ − γ̄)/K is ≈ 1e-6/K: in effect absorbing (mask-only) diffusion.
//   'paper' — the paper's mask-and-replace: γ̄ rises to 0.9 and K·β̄ to 0.1.
// Everything below the network is in log space (the posterior mixes probabilities down to ~1e-30).
//
// Multichannel tokens (MoVQ h×w×c) are handled as MaskGIT handles them: one transformer slot per
// position (sum of its c token embeddings plus a per-channel embedding), c heads, noise per token.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { Module, Embedding, Linear, init } from '../nn/index.js';
import { Transformer, initTransformerWeights, sincos2d, type TransformerConfig } from './transformer.js';
import { filterLogits, guide, gumbel } from './sampling.js';
import {
  classIds,
  rejectOptions,
  resolveGenerate,
  resolvePriorOptions,
  SHARED_GENERATE_KEYS,
  type Prior,
  type PriorGenerateOptions,
  type PriorOptions,
  type PriorShape,
} from './common.js';
import { checkEnum, checkInt, checkNumber, checkPositiveInt } from '../io/validate.js';

export const DIFFUSION_SCHEDULES = ['mask', 'paper'] as const;
export type DiffusionSchedule = (typeof DIFFUSION_SCHEDULES)[number];

export interface VQDiffusionConfig extends TransformerConfig, PriorShape, PriorOptions {
  /** Diffusion steps T (default 100). */
  timesteps?: number;
  /** Noise schedule (default 'mask', the released code's; 'paper' = true mask-and-replace). */
  schedule?: DiffusionSchedule;
  /** Weight λ of the auxiliary x₀ cross-entropy; multiplied by (1 − t/T) + 1 as published (default 1e-3). */
  auxWeight?: number;
}

/** generate() extras. */
export interface VQDiffusionExtras {
  /** Timesteps visited while sampling (default T: every step; fewer = strided fast sampling). */
  steps?: number;
  /** Truncation r: keep the most likely x̃₀ codes up to cumulative probability r (default 1: off). */
  truncation?: number;
  /**
   * Purity-prior ordering (Improved VQ-Diffusion): reveal as many masked tokens per step as the
   * posterior expects, choosing the ones whose x̃₀ prediction is most confident rather than at random;
   * revealed tokens then stay fixed (default false).
   */
  purity?: boolean;
}

export type VQDiffusionGenerateOptions = PriorGenerateOptions & VQDiffusionExtras;

const CONFIG_KEYS = ['timesteps', 'schedule', 'auxWeight'] as const;
/** log(0) stand-in, as the reference implementation clamps (keeps exp/log finite). */
const LOG_ZERO = -70;
const TINY = 1e-30;

/** Cumulative probabilities of the forward process: at step t (0-based, t < T) a code stays (ᾱ), is masked (γ̄), or each other code (β̄). */
export interface ScheduleTables {
  alphaBar: Float64Array;
  gammaBar: Float64Array;
  betaBar: Float64Array;
}

/** The schedule's cumulative tables for T steps and K codes. */
export function diffusionSchedule(schedule: DiffusionSchedule, steps: number, k: number): ScheduleTables {
  const alphaBar = new Float64Array(steps);
  const gammaBar = new Float64Array(steps);
  const betaBar = new Float64Array(steps);
  const lin = (a: number, b: number, t: number): number => (steps === 1 ? b : a + ((b - a) * t) / (steps - 1));
  for (let t = 0; t < steps; t++) {
    if (schedule === 'mask') {
      alphaBar[t] = lin(0.99999, 0.000009, t);
      gammaBar[t] = lin(0.000009, 0.99999, t);
    } else {
      gammaBar[t] = lin(0.000009, 0.9, t);
      alphaBar[t] = 1 - gammaBar[t]! - lin(0.000009, 0.1, t);
    }
    betaBar[t] = Math.max(0, (1 - alphaBar[t]! - gammaBar[t]!) / k);
  }
  return { alphaBar, gammaBar, betaBar };
}

/** Cumulative (ᾱ, β̄, γ̄) at step t; t = −1 is x₀ itself (ᾱ = 1). */
function cumulative(s: ScheduleTables, t: number): [number, number, number] {
  return t < 0 ? [1, 0, 0] : [s.alphaBar[t]!, s.betaBar[t]!, s.gammaBar[t]!];
}

/**
 * q(x_t | x_u) for u < t (one step when u = t − 1, several when striding): a code stays with
 * α + β, becomes each other code with β, is masked with γ; [MASK] stays [MASK].
 */
export function transition(s: ScheduleTables, t: number, u: number, k: number): [alpha: number, beta: number, gamma: number] {
  const [at, , gt] = cumulative(s, t);
  const [au, , gu] = cumulative(s, u);
  const alpha = at / au;
  const gamma = 1 - (1 - gt) / (1 - gu);
  return [alpha, Math.max(0, (1 - alpha - gamma) / k), gamma];
}

const lg = (p: number): number => Math.log(Math.max(p, TINY));

/**
 * log q(x_t | x₀) for every state: logX0 [B, N, K+1] (log-probabilities over x₀, [MASK] last) →
 * [B, N, K+1]. The closed form: mix x₀'s distribution with (ᾱ, β̄, γ̄) of step t.
 */
export function logMarginal(logX0: Tensor, s: ScheduleTables, t: number, k: number): Tensor {
  const [a, b, g] = cumulative(s, t);
  return T.tidy(() => {
    const codes = logX0.narrow(-1, 0, k);
    const maskP = logX0.narrow(-1, k, 1);
    // p(code j) = ᾱ·p₀(j) + β̄·Σ_codes p₀; p(mask) = γ̄·Σ_codes p₀ + p₀(mask).
    const codeMass = codes.logsumexp([-1], true);
    const onCodes = T.stack([codes.add(lg(a)), codeMass.add(lg(b)).expandAs(codes)], 0).logsumexp([0]);
    const onMask = T.stack([codeMass.add(lg(g)), maskP], 0).logsumexp([0]);
    return T.cat([onCodes, onMask], -1).clamp(LOG_ZERO, 0);
  });
}

/** Per-row log coefficients [B, 1, 1] of a scalar function of (t, u) (one value for every row when t is a number). */
function rowLogs(ts: readonly number[], us: readonly number[], f: (t: number, u: number) => number): Tensor {
  return T.tensor(
    ts.map((t, i) => lg(f(t, us[i]!))),
    { dtype: 'float32' },
  ).view([-1, 1, 1]);
}

/**
 * The posterior Σ_x̃₀ q(x_u | x_t, x̃₀)·p(x̃₀), u < t: xt int64 [B, N] (codes or K), logX0 [B, N, K]
 * (log p(x̃₀) over codes) → log-probabilities over x_u's K + 1 states [B, N, K+1], normalized.
 * Bayes per x̃₀: q(x_u | x_t, x₀) = q(x_t | x_u)·q(x_u | x₀) / q(x_t | x₀), written out for the two
 * cases of x_t (a code, or [MASK]) so everything stays a logsumexp. t and u are one step for the
 * whole batch or one per row.
 */
export function logPosterior(xt: Tensor, logX0: Tensor, s: ScheduleTables, t: number | readonly number[], u: number | readonly number[], k: number): Tensor {
  return T.tidy(() => {
    const b = xt.size(0);
    const ts = typeof t === 'number' ? Array.from({ length: b }, () => t) : t;
    const us = typeof u === 'number' ? Array.from({ length: b }, () => u) : u;
    const L = (f: (t: number, u: number) => number): Tensor => rowLogs(ts, us, f);
    const isMask = xt.eq(k).unsqueeze(-1); // [B, N, 1]
    const onehot = T.oneHot(xt.clampMax(k - 1), k).to('bool'); // x_t's code (ignored where masked)
    // w(x₀) = p(x₀) / q(x_t | x₀).
    const qtGivenX0 = T.where(
      isMask,
      L((t) => cumulative(s, t)[2]),
      T.where(
        onehot,
        L((t) => cumulative(s, t)[0] + cumulative(s, t)[1]),
        L((t) => cumulative(s, t)[1]),
      ),
    );
    const logW = logX0.sub(qtGivenX0);
    const logS = logW.logsumexp([-1], true);
    // Σ_x₀ p(x₀) q(x_u | x₀) / q(x_t | x₀): for a code j: ᾱ_u·w(j) + β̄_u·S; for [MASK]: γ̄_u·S.
    const codes = T.stack([logW.add(L((_, u) => cumulative(s, u)[0])), logS.add(L((_, u) => cumulative(s, u)[1])).expandAs(logW)], 0).logsumexp([0]);
    const mask = logS.add(L((_, u) => cumulative(s, u)[2]));
    // × q(x_t | x_u): x_t masked: a code → γ, [MASK] → 1; x_t = code j: j → α + β, other codes → β, [MASK] → 0.
    const step = (i: number): Tensor => L((t, u) => (i === 3 ? transition(s, t, u, k)[0] + transition(s, t, u, k)[1] : transition(s, t, u, k)[i]!));
    const stepCodes = T.where(isMask, step(2), T.where(onehot, step(3), step(1)));
    const stepMask = T.where(isMask, 0, LOG_ZERO);
    const joint = T.cat([codes.add(stepCodes), mask.add(stepMask)], -1);
    return joint.sub(joint.logsumexp([-1], true)).clamp(LOG_ZERO, 0);
  });
}

/** Samples x_t ~ q(x_t | x₀) for codes x0 [B, N] at per-row steps t. */
function noise(x0: Tensor, s: ScheduleTables, t: readonly number[], k: number, generator?: Generator): Tensor {
  return T.tidy(() => {
    const [b, n] = [x0.size(0), x0.size(1)];
    const col = (f: (ti: number) => number): Tensor => T.tensor(t.map(f), { dtype: 'float32' }).unsqueeze(1);
    const gamma = col((ti) => s.gammaBar[ti]!);
    const replace = col((ti) => k * s.betaBar[ti]!);
    const u = T.rand([b, n], generator ?? null);
    const random = T.randint(0, k, [b, n], generator ?? null);
    return T.where(u.lt(gamma), k, T.where(u.lt(gamma.add(replace)), random, x0));
  });
}

export class VQDiffusion extends Module implements Prior<VQDiffusionExtras> {
  readonly kind = 'diffusion' as const;
  readonly label = 'VQ-Diffusion';
  readonly extraOptions = ['steps', 'truncation', 'purity'] as const;
  readonly editsAnywhere = true;

  readonly config: Required<Omit<VQDiffusionConfig, 'mlpRatio' | 'dropout'>> & TransformerConfig;
  readonly positions: number;
  readonly seqLen: number;
  readonly maskId: number;
  readonly tables: ScheduleTables;
  /** Code embeddings and [MASK] (K + 1 rows). */
  readonly tokEmb: Embedding;
  readonly chanEmb: Tensor | null;
  readonly posEmb: Tensor;
  readonly timeEmb: Embedding;
  /** Classes plus the learned null class (row C); unconditional models have only the null row. */
  readonly classEmb: Embedding;
  readonly transformer: Transformer;
  readonly head: Linear;
  /** Importance sampling of timesteps: EMA of the squared loss per step, and how often each was seen. */
  readonly ltHistory: Tensor;
  readonly ltCount: Tensor;

  constructor(cfg: VQDiffusionConfig) {
    super();
    const { classDropout, positions } = resolvePriorOptions(cfg, 'VQDiffusion', CONFIG_KEYS);
    const timesteps = checkInt(cfg.timesteps ?? 100, 'VQDiffusion: timesteps', { min: 2, max: 10000 });
    const schedule = checkEnum(cfg.schedule ?? 'mask', DIFFUSION_SCHEDULES, 'VQDiffusion: schedule');
    const auxWeight = checkNumber(cfg.auxWeight ?? 1e-3, 'VQDiffusion: auxWeight', { min: 0 });
    this.config = { ...cfg, classDropout, positions, timesteps, schedule, auxWeight };
    const [h, w] = cfg.grid;
    const c = cfg.tokensPerPosition;
    const k = cfg.codebookSize;
    this.positions = h * w;
    this.seqLen = h * w * c;
    this.maskId = k;
    this.tables = diffusionSchedule(schedule, timesteps, k);
    this.tokEmb = this.add('tok_emb', new Embedding(k + 1, cfg.dim));
    this.chanEmb = c > 1 ? this.param('chan_emb', T.zeros([c, cfg.dim])) : null;
    this.posEmb =
      positions === 'learned'
        ? this.param('pos_emb', T.zeros([this.positions, cfg.dim]))
        : this.buffer('pos_emb', sincos2d(h, w, cfg.dim), { persistent: false });
    this.timeEmb = this.add('time_emb', new Embedding(timesteps, cfg.dim));
    this.classEmb = this.add('class_emb', new Embedding(cfg.numClasses + 1, cfg.dim));
    this.transformer = this.add('transformer', new Transformer(cfg, true));
    this.head = this.add('head', new Linear(cfg.dim, c * k));
    this.ltHistory = this.buffer('lt_history', T.zeros([timesteps], { dtype: 'float64' }));
    this.ltCount = this.buffer('lt_count', T.zeros([timesteps], { dtype: 'float64' }));
    initTransformerWeights(this);
    T.noGrad(() => {
      for (const e of [this.tokEmb.weight, this.timeEmb.weight, this.classEmb.weight]) init.normal_(e, 0, 0.02);
      if (this.chanEmb) init.normal_(this.chanEmb, 0, 0.02);
      if (positions === 'learned') init.normal_(this.posEmb, 0, 0.02);
      for (const b of this.transformer.blocks) for (const a of [b.ada1!, b.ada2!]) init.zeros_(a.linear.weight);
    });
  }

  /** Inpainting needs no start step: known tokens stay fixed from the first (all-[MASK]) step. */
  editDefaults(_o: Partial<VQDiffusionExtras>): Partial<VQDiffusionExtras> {
    return {};
  }

  get conditional(): boolean {
    return this.config.numClasses > 0;
  }
  get nullClass(): number {
    return this.config.numClasses;
  }

  /** x_t [B, N] (codes or maskId), steps t [B], class ids [B] (null = C) → log p(x̃₀ | x_t) over codes [B, N, K]. */
  forward(xt: Tensor, t: Tensor, classes: Tensor): Tensor {
    const b = xt.size(0);
    if (xt.shape.length !== 2 || xt.size(1) !== this.seqLen) {
      throw new Error(`VQDiffusion.forward: expected tokens [B, ${this.seqLen}], got [${xt.shape.join(', ')}]`);
    }
    const { tokensPerPosition: c, dim: d, codebookSize: k } = this.config;
    let x = this.tokEmb.forward(xt);
    if (this.chanEmb) x = x.view([b, this.positions, c, d]).add(this.chanEmb).sum([2]);
    x = x.add(this.posEmb);
    // As the official class-conditional model: the timestep modulates the norm before attention, the class the one before the MLP.
    const hid = this.transformer.forward(x, { causal: false, cond: { attn: this.timeEmb.forward(t), mlp: this.classEmb.forward(classes) } });
    return this.head.forward(hid).reshape([b, this.seqLen, k]).logSoftmax(-1);
  }

  /** Training steps t [B]: uniform until every step was seen 10 times, then ∝ sqrt(E[L_t²]) (importance sampling). */
  sampleSteps(b: number, generator?: Generator): { t: number[]; pt: Tensor } {
    const steps = this.config.timesteps;
    if (T.tidy(() => this.ltCount.lt(10).any().item())) {
      return { t: T.randint(0, steps, [b], generator ?? null).toArray() as number[], pt: T.full([b], 1 / steps) };
    }
    return T.tidy(() => {
      const w = this.ltHistory.add(1e-10).sqrt().add(1e-4);
      w.indexPut([T.tensor([0], { dtype: 'int64' })], w.index(1).clone()); // as published: step 0's weight copies step 1's
      const p = w.div(w.sum()).to('float32');
      const t = T.multinomial(p, b, true, generator ?? null);
      return { t: t.toArray() as number[], pt: p.gather(0, t).keep() };
    });
  }

  /**
   * Loss: the variational bound KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)) (the decoder NLL at t = 0)
   * divided by the step's sampling probability, plus λ·((1 − t/T) + 1)·KL(x₀ ‖ p_θ(x̃₀)), per token.
   */
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator): Tensor {
    const b = tokens.size(0);
    const { codebookSize: k, timesteps: steps, auxWeight, numClasses, classDropout } = this.config;
    const { t, pt } = this.sampleSteps(b, generator);
    const xt = noise(tokens, this.tables, t, k, generator);
    let cls = classes && numClasses > 0 ? classes : T.full([b], this.nullClass, { dtype: 'int64' });
    if (classes && numClasses > 0 && classDropout > 0 && this.training) {
      cls = T.where(T.rand([b], generator ?? null).lt(classDropout), this.nullClass, cls);
    }
    const logX0 = this.forward(xt, T.tensor(t, { dtype: 'int64' }), cls);
    const onehotLog = T.oneHot(tokens, k).to('float32').sub(1).mul(-LOG_ZERO); // 0 at x₀, −70 elsewhere
    const prev = t.map((ti) => ti - 1);
    const pred = logPosterior(xt, logX0, this.tables, t, prev, k);
    const q = logPosterior(xt, onehotLog, this.tables, t, prev, k);
    const kl = q.exp().mul(q.sub(pred)).sum([-1]); // [B, N]
    // At t = 0 the bound's term is the decoder NLL −log p(x₀ | x₁).
    const nll = pred.narrow(-1, 0, k).mul(onehotLog.exp()).sum([-1]).neg();
    const first = T.tensor(
      t.map((ti) => ti === 0),
      { dtype: 'bool' },
    ).unsqueeze(1);
    const vb = T.where(first, nll, kl).sum([1]); // per image
    // Importance-sampling statistics (training only): EMA of the squared per-image bound per step.
    if (this.training) {
      T.noGrad(() =>
        T.tidy(() => {
          const idx = T.tensor(t, { dtype: 'int64' });
          const lt2 = vb.detach().to('float64').square();
          const prev = this.ltHistory.gather(0, idx);
          this.ltHistory.indexPut([idx], lt2.mul(0.1).add(prev.mul(0.9)));
          this.ltCount.indexAdd_(0, idx, T.ones([b], { dtype: 'float64' }));
        }),
      );
    }
    const aux = logX0.mul(onehotLog.exp()).sum([-1]).neg().sum([1]); // cross-entropy per image
    const auxScale = T.tensor(
      t.map((ti) => auxWeight * (1 - ti / steps + 1)),
      { dtype: 'float32' },
    );
    return vb
      .div(pt)
      .add(aux.mul(auxScale).div(pt))
      .sum()
      .div(b * this.seqLen);
  }

  /** CFG on the x̃₀ log-probabilities (Improved VQ-Diffusion), renormalized; then truncation and the shared filters. */
  #predict(cur: Tensor, t: number, cls: Tensor, guided: boolean, cfg: number, truncation: number, o: VQDiffusionGenerateOptions): Tensor {
    const b = cur.size(0);
    const tt = T.full([guided ? 2 * b : b], t, { dtype: 'int64' });
    let logp = this.forward(guided ? T.cat([cur, cur]) : cur, tt, cls);
    if (guided) logp = guide(logp, cfg).logSoftmax(-1);
    if (truncation < 1) {
      // Keep the most likely codes while the cumulative probability before them is < r (the top one always).
      const [sorted, order] = T.sort(logp, -1, true);
      const before = sorted.exp().cumsum(-1).sub(sorted.exp());
      const drop = T.zerosLike(logp).to('bool').scatter(-1, order, before.ge(truncation));
      logp = T.where(drop, LOG_ZERO, logp).logSoftmax(-1);
    }
    return filterLogits(logp, o).logSoftmax(-1);
  }

  /** Purity ordering: per image, reveal the expected number of masked tokens, most confident x̃₀ first. */
  #revealByPurity(cur: Tensor, logX0: Tensor, logQ: Tensor, last: boolean, o: VQDiffusionGenerateOptions): Tensor {
    const k = this.config.codebookSize;
    const masked = cur.eq(this.maskId);
    const codes = logX0.add(gumbel(logX0.shape, o.generator)).argmax(-1);
    const stillMasked = logQ.narrow(-1, k, 1).squeezeDim(-1).exp();
    const expected = masked.to('float32').mul(stillMasked.neg().add(1)).sum([1]).toArray();
    const counts = masked.sum([1]).toArray();
    const reveal = expected.map((e, i) => (last ? counts[i]! : Math.min(counts[i]!, Math.round(e))));
    const purity = T.where(masked, logX0.amax([-1]), -Infinity);
    const rank = purity.argsort(-1, true).argsort(-1);
    const chosen = rank.lt(T.tensor(reveal, { dtype: 'int64' }).unsqueeze(1));
    return T.where(chosen, codes, cur);
  }

  /**
   * Samples from all [MASK] at t = T − 1 down to x₀, visiting `steps` timesteps evenly spaced (every
   * step by default) and drawing x_{t'} from q(x_{t'} | x_t, x̃₀) in between. Known tokens (editing)
   * are fixed from the start and never change. Returns codes [B, N].
   */
  generate(o: VQDiffusionGenerateOptions = {}): Tensor {
    rejectOptions(o, [...SHARED_GENERATE_KEYS, ...this.extraOptions], 'VQDiffusion.generate', this.label);
    const c = this.config;
    const { classes, b, guided, cfg, known, mask } = resolveGenerate(
      o,
      { seqLen: this.seqLen, codebookSize: c.codebookSize, conditional: this.conditional, classDropout: c.classDropout },
      'VQDiffusion.generate',
    );
    const total = c.timesteps;
    const steps = checkPositiveInt(o.steps ?? total, 'VQDiffusion: steps');
    if (steps > total) throw new Error(`VQDiffusion: steps (${steps}) must be at most the model's ${total} diffusion steps`);
    const truncation = checkNumber(o.truncation ?? 1, 'VQDiffusion: truncation', { min: 0, max: 1, exclusiveMin: true });
    // Visited timesteps: T − 1 down to 0, evenly spaced.
    const visit = Array.from({ length: steps }, (_, i) => (steps === 1 ? total - 1 : Math.round(((total - 1) * (steps - 1 - i)) / (steps - 1))));
    const k = c.codebookSize;
    const n = this.seqLen;
    const wasTraining = this.training;
    this.eval();
    try {
      return T.noGrad(() =>
        T.tidy(() => {
          // Class rows of class_emb: the class itself, or the null class C (the shared range check).
          let cls = classIds(classes, c.numClasses, 0, this.nullClass, 'VQDiffusion');
          if (guided) cls = T.cat([cls, T.full([b], this.nullClass, { dtype: 'int64' })]);
          const fixed = known ? (mask ? mask.logicalNot() : T.zeros([b, n], { dtype: 'bool' })) : null;
          let cur = fixed ? T.where(fixed, known!, this.maskId) : T.full([b, n], this.maskId, { dtype: 'int64' });
          for (let i = 0; i < steps; i++) {
            const t = visit[i]!;
            const u = i + 1 < steps ? visit[i + 1]! : -1;
            const next = T.tidy(() => {
              const logX0 = this.#predict(cur, t, cls, guided, cfg, truncation, o);
              const logQ = logPosterior(cur, logX0, this.tables, t, u, k);
              const sampled = o.purity ? this.#revealByPurity(cur, logX0, logQ, u < 0, o) : logQ.add(gumbel(logQ.shape, o.generator)).argmax(-1);
              return fixed ? T.where(fixed, cur, sampled) : sampled;
            });
            cur.dispose();
            cur = next;
            o.onStep?.({ step: i, steps, masked: T.tidy(() => cur.eq(this.maskId).sum([1]).toArray()) });
          }
          return cur;
        }),
      );
    } finally {
      this.train(wasTraining);
    }
  }
}
