// VectorQuantizer: VQ-VAE (van den Oord et al., 2017) / taming's nearest-neighbour quantizer with
// codebook techniques as options — EMA codebook (VQ-VAE-2, Razavi et al., 2019), k-means init and
// dead-code restart (Łańcucki et al., 2020), cosine codes and low-dimensional (factorized) lookup
// (ViT-VQGAN, Yu et al., 2022).
//
// State-dict keys: `embedding.weight` [K, codebookDim] (taming's `quantize.embedding.weight` when the
// tokenizer registers this as `quantize`); with EMA also `embedding.cluster_size` [K] and
// `embedding.embed_avg` [K, codebookDim] (taming's EMAVectorQuantizer keys); with a low-dim lookup
// `project_in.*` / `project_out.*`; with k-means init `initted` (so a loaded codebook is not re-initialized).
// With `layout: 'vqvae2'` (EMA only) the state is rosinality/vq-vae-2-pytorch's instead: `embed` [codebookDim, K]
// (transposed), `cluster_size` [K] and `embed_avg` [codebookDim, K], so its checkpoints load as they are.
import * as T from '../torch/index.js';
import { Tensor, Generator, noGrad, tidy } from '../torch/index.js';
import { Embedding } from '../nn/index.js';
import { CodebookQuantizer, type CodebookOptions } from './base.js';
import { ConfigError, checkEnum, checkInt, checkNumber, checkPositiveInt } from '../io/validate.js';
import { emaUpdate, kmeans, sampleRows } from './codebook.js';

export interface EmaOptions {
  /** γ in N ← γN + (1−γ)n (0.99). */
  decay?: number;
  /** Laplace smoothing ε (1e-5). */
  eps?: number;
}

export interface KmeansInitOptions {
  /** Lloyd iterations (10). */
  iters?: number;
  /** Training batches whose encoder outputs are pooled before clustering (1). */
  batches?: number;
  /** Cap on pooled rows (random subset per batch beyond it; 65536). */
  maxSamples?: number;
  /** Seed of the generator used for the initial centroids; default: the global RNG. */
  seed?: number;
}

export interface DeadCodeRestartOptions {
  /**
   * A code is dead when its usage — an EMA of its per-batch assignment count, starting at 1 — falls
   * below this (1, as Jukebox). Keep it under the expected count per code, batch tokens / K.
   */
  threshold?: number;
  /** Decay of the usage EMA (0.99). */
  decay?: number;
  /** Check every this many training steps (1). */
  every?: number;
  /** Seed of the generator picking replacement rows; default: the global RNG. */
  seed?: number;
}

export interface VectorQuantizerOptions extends CodebookOptions {
  /** EMA codebook (VQ-VAE-2): the codebook is a buffer-like non-trained weight; loss = β·commitment. */
  ema?: boolean | EmaOptions;
  /** Initialize the codebook by k-means on the first training batch(es) of encoder outputs. */
  kmeansInit?: boolean | KmeansInitOptions;
  /** Replace codes that fall out of use by random encoder outputs from the current batch. */
  deadCodeRestart?: boolean | DeadCodeRestartOptions;
  /** State-dict layout: 'taming' (default) or 'vqvae2' (rosinality's EMA buffers; needs `ema`). */
  layout?: 'taming' | 'vqvae2';
}

function checkOptions(q: VectorQuantizer): void {
  const w = (what: string): string => `VectorQuantizer: ${what}`;
  if (q.ema) {
    checkNumber(q.ema.decay, w('ema.decay'), { min: 0, max: 1, exclusiveMax: true });
    checkNumber(q.ema.eps, w('ema.eps'), { min: 0, exclusiveMin: true });
  }
  const km = q.kmeansInit;
  if (km) {
    checkInt(km.iters, w('kmeansInit.iters'), { min: 0 });
    checkPositiveInt(km.batches, w('kmeansInit.batches'));
    checkPositiveInt(km.maxSamples, w('kmeansInit.maxSamples'));
  }
  const dr = q.deadCodeRestart;
  if (dr) {
    checkNumber(dr.threshold, w('deadCodeRestart.threshold'), { min: 0 });
    checkNumber(dr.decay, w('deadCodeRestart.decay'), { min: 0, max: 1, exclusiveMax: true });
    checkPositiveInt(dr.every, w('deadCodeRestart.every'));
  }
  checkNumber(q.beta, w('beta'), { min: 0 });
}

const opt = <O extends object>(v: boolean | O | undefined): O | null => (v === true ? ({} as O) : v ? v : null);

export class VectorQuantizer extends CodebookQuantizer {
  readonly embedding: Embedding;
  readonly ema: Readonly<Required<EmaOptions>> | null;
  readonly kmeansInit: Readonly<Required<Omit<KmeansInitOptions, 'seed'>>> | null;
  readonly deadCodeRestart: Readonly<Required<Omit<DeadCodeRestartOptions, 'seed'>>> | null;
  /** EMA state (buffers inside `embedding`), or null. */
  readonly clusterSize: Tensor | null = null;
  readonly embedAvg: Tensor | null = null;
  /** Dead-code usage EMA (non-persistent buffer), or null. */
  readonly usage: Tensor | null = null;
  /** 1 once k-means init has run (persistent buffer), or null without k-means init. */
  readonly initted: Tensor | null = null;
  #kmeansGen: Generator | null = null;
  #restartGen: Generator | null = null;
  #pending: Tensor[] = [];
  #pendingRows = 0;
  #steps = 0;

  constructor(opts: VectorQuantizerOptions) {
    super(opts);
    const K = this.codebookSize;
    const D = this.codebookDim;
    const layout = checkEnum(opts.layout ?? 'taming', ['taming', 'vqvae2'] as const, 'VectorQuantizer: layout');
    const ema = opt(opts.ema);
    if (layout === 'vqvae2' && !ema) throw new ConfigError("VectorQuantizer: layout 'vqvae2' is rosinality's EMA codebook: it needs ema");
    // The vqvae2 layout keeps the code matrix unregistered and registers transposed views of it.
    this.embedding = layout === 'taming' ? this.add('embedding', new Embedding(K, D)) : new Embedding(K, D);
    // taming: uniform(−1/K, 1/K).
    noGrad(() => this.embedding.weight.uniform_(-1 / K, 1 / K));

    this.ema = ema ? { decay: ema.decay ?? 0.99, eps: ema.eps ?? 1e-5 } : null;
    if (this.ema) {
      this.embedding.weight.requiresGrad = false;
      // N starts at 1 and m at the codes (e = m/N holds from the start); with N = 0 an unused code
      // would be divided by ~ε on the first update and blow up.
      if (layout === 'taming') {
        this.clusterSize = this.embedding.registerBuffer('cluster_size', T.ones([K]));
        this.embedAvg = this.embedding.registerBuffer(
          'embed_avg',
          noGrad(() => this.embedding.weight.clone()),
        );
      } else {
        this.buffer('embed', this.embedding.weight.t());
        this.clusterSize = this.buffer('cluster_size', T.ones([K]));
        this.embedAvg = noGrad(() => this.embedding.weight.clone()).keep(); // the registered buffer is its transposed view
        this.buffer('embed_avg', this.embedAvg.t());
      }
    }

    const km = opt(opts.kmeansInit);
    this.kmeansInit = km ? { iters: km.iters ?? 10, batches: km.batches ?? 1, maxSamples: km.maxSamples ?? 65536 } : null;
    if (km) {
      this.initted = this.buffer('initted', T.zeros([]));
      if (km.seed !== undefined) this.#kmeansGen = new Generator(km.seed);
    }

    const dr = opt(opts.deadCodeRestart);
    this.deadCodeRestart = dr ? { threshold: dr.threshold ?? 1, decay: dr.decay ?? 0.99, every: dr.every ?? 1 } : null;
    checkOptions(this);
    if (dr) {
      this.usage = this.buffer('usage', T.ones([K]), { persistent: false });
      if (dr.seed !== undefined) this.#restartGen = new Generator(dr.seed);
    }

    this.addProjections();
  }

  codebook(): Tensor {
    return this.embedding.weight;
  }
  protected get codebookLearnsByGradient(): boolean {
    return this.ema === null;
  }

  /** Sets the codebook (and the EMA state consistently with it) to `codes` [K, codebookDim]. */
  setCodebook(codes: Tensor): void {
    noGrad(() => {
      this.embedding.weight.copy_(codes);
      if (this.embedAvg && this.clusterSize) tidy(() => this.embedAvg!.copy_(codes.mul(this.clusterSize!.unsqueeze(1))));
      this.initted?.fill_(1);
    });
  }

  /** @internal k-means init: pool the first batches' rows, then cluster. */
  override trainBeforeAssign(x: Tensor): void {
    const km = this.kmeansInit;
    if (!km || this.initted!.item() !== 0) return;
    tidy(() => {
      const room = km.maxSamples - this.#pendingRows;
      if (room > 0) {
        const rows = x.size(0) > room ? sampleRows(x, room, this.#kmeansGen) : x.clone();
        this.#pending.push(rows.keep());
        this.#pendingRows += rows.size(0);
      }
      if (this.#pending.length < km.batches && room > 0) return;
      const pool = T.cat(this.#pending, 0);
      this.setCodebook(kmeans(pool, this.codebookSize, { iters: km.iters, generator: this.#kmeansGen, spherical: this.l2Normalize }));
      for (const t of this.#pending) t.dispose();
      this.#pending = [];
      this.#pendingRows = 0;
    });
  }

  /** @internal EMA update, then dead-code restart. */
  override trainAfterAssign(x: Tensor, indices: Tensor): number {
    return tidy(() => {
      this.#steps++;
      if (this.ema)
        emaUpdate({ weight: this.embedding.weight, clusterSize: this.clusterSize!, embedAvg: this.embedAvg! }, x, indices, this.ema.decay, this.ema.eps);
      const dr = this.deadCodeRestart;
      if (!dr) return 0;
      const counts = indices.bincount(null, this.codebookSize).to(this.usage!.dtype);
      this.usage!.mul_(dr.decay).add_(counts, 1 - dr.decay);
      if (this.#steps % dr.every !== 0) return 0;
      const dead = this.usage!.lt(dr.threshold).nonzero().reshape([-1]);
      const n = dead.size(0);
      if (n === 0) return 0;
      const fresh = sampleRows(x, n, this.#restartGen);
      this.embedding.weight.indexPut([dead], fresh);
      if (this.ema) {
        this.embedAvg!.indexPut([dead], fresh);
        this.clusterSize!.indexPut([dead], 1);
      }
      this.usage!.indexPut([dead], 1);
      return n;
    });
  }

  override extraRepr(): string {
    const parts = [super.extraRepr()];
    if (this.ema) parts.push(`ema(decay=${this.ema.decay}, eps=${this.ema.eps})`);
    if (this.kmeansInit) parts.push(`kmeans_init(iters=${this.kmeansInit.iters})`);
    if (this.deadCodeRestart) parts.push(`dead_code_restart(threshold=${this.deadCodeRestart.threshold})`);
    return parts.join(', ');
  }
}
