// Training an image tokenizer (VQ-VAE, VQGAN, MoVQ) on a dataset spec: reconstruction + codebook
// loss, and for VQGAN/MoVQ the PatchGAN term from `discStart`. Plugs into runTraining().
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Adam, EMA, LambdaLR } from '../optim/index.js';
import { DataLoader, imagesToGrid, writePng, type Dataset, type DataLoaderState } from '../data/index.js';
import { createTokenizer, saveTokenizer, type Tokenizer } from '../tokenizers/index.js';
import { VQGANLoss, tryLoadLpips, logitLaplaceNll, LOGIT_LAPLACE_WEIGHT, type LpipsFiles } from '../losses/index.js';
import { psnr, ssim } from '../metrics/image.js';
import type { CheckpointParts } from './checkpoint.js';
import type { Trainable } from './run.js';
import { checkpointMismatch } from './config.js';
import type { TokenizerArchModel, TokenizerTrainConfig } from './tokenizer-config.js';

export { defaultTokenizerConfig, type TokenizerTrainConfig, type TokenizerDefaults, type TokenizerArchModel } from './tokenizer-config.js';

/** The tokenizer a config describes (each arch with its own typed config). */
export function buildTokenizer(c: TokenizerArchModel): Tokenizer {
  switch (c.arch) {
    case 'vqvae':
      return createTokenizer('vqvae', c.model);
    case 'vqgan':
      return createTokenizer('vqgan', c.model);
    case 'movq':
      return createTokenizer('movq', c.model);
    case 'vitvqgan':
      return createTokenizer('vitvqgan', c.model);
    case 'vqvae2':
      return createTokenizer('vqvae2', c.model);
  }
}

export interface TokenizerTrainerOptions {
  config: TokenizerTrainConfig;
  train: Dataset;
  val: Dataset;
  lpips?: LpipsFiles;
}

export class TokenizerTrainer implements Trainable {
  readonly config: TokenizerTrainConfig;
  readonly model: Tokenizer;
  readonly loss: VQGANLoss | null;
  readonly opt: Adam;
  readonly optD: Adam | null;
  readonly sched: LambdaLR;
  readonly ema: EMA | null;
  readonly loader: DataLoader;
  readonly val: Dataset;
  /** Fixed validation images for the reconstruction grids. */
  readonly #gridImages: Tensor;

  constructor(o: TokenizerTrainerOptions) {
    const c = o.config;
    this.config = c;
    T.manualSeed(c.seed);
    this.model = buildTokenizer(c);
    this.model.to('channels_last');
    this.opt = new Adam(
      this.model.parameters().filter((p) => p.requiresGrad),
      { lr: c.lr, betas: [0.5, 0.9] },
    );
    this.sched = new LambdaLR(this.opt, (step) => Math.min(1, (step + 1) / Math.max(1, c.warmup)));
    if (c.gan) {
      // Without weight files this notices once and trains without the perceptual term.
      const perceptual = tryLoadLpips({ ...(o.lpips ?? {}) });
      // The StyleGAN2 discriminator is sized by the images (its stack ends at 4×4).
      const discImageSize = c.gan.discArch === 'stylegan2' && !c.gan.discImageSize ? o.train.batch([0]).images.size(-1) : c.gan.discImageSize;
      this.loss = new VQGANLoss({ ...c.gan, recLoss: c.recLoss, ...(discImageSize ? { discImageSize } : {}) }, { perceptual });
      this.loss.discriminator.to('channels_last');
      this.optD = new Adam(this.loss.discriminator.parameters(), { lr: c.lr, betas: [0.5, 0.9] });
    } else {
      this.loss = null;
      this.optD = null;
    }
    this.ema = c.emaDecay === null ? null : new EMA(this.model.parameters(), { decay: c.emaDecay });
    this.loader = new DataLoader(o.train, { batchSize: c.batchSize, dropLast: true, seed: c.seed });
    this.val = o.val;
    // Spread over the split (stores may be ordered by class).
    const n = Math.min(8, o.val.size);
    this.#gridImages = o.val.batch(Array.from({ length: n }, (_, i) => Math.floor((i * o.val.size) / n))).images.keep();
  }

  trainStep(step: number): Record<string, number> {
    const { images } = this.loader.next();
    const x = images.to({ memoryFormat: 'channels_last' });
    const out = this.model.forward(x);
    const metrics: Record<string, number> = {};
    this.opt.zeroGrad();
    if (this.loss) {
      const g = this.loss.generatorLoss({
        inputs: x,
        recon: out.recon,
        qloss: out.quant.loss,
        globalStep: step,
        lastLayer: this.model.lastLayerWeight(),
        logitLaplace: out.logitLaplace,
      });
      g.loss.backward();
      this.opt.step();
      Object.assign(metrics, { loss: g.log.total, rec: g.log.rec, q: g.log.q });
      if (this.loss.config.logLaplaceWeight > 0) metrics.ll = g.log.ll;
      if (g.log.disc_factor > 0) {
        this.optD!.zeroGrad(); // the generator's backward also reached D's parameters
        const d = this.loss.discriminatorLoss({ inputs: x, recon: out.recon.detach(), globalStep: step });
        d.loss.backward();
        this.optD!.step();
        Object.assign(metrics, { g: g.log.g, d: d.log.d_loss });
      }
    } else {
      const rec = this.config.recLoss === 'l1' ? T.l1Loss(out.recon, x) : T.mseLoss(out.recon, x);
      let loss = rec.add(out.quant.loss);
      // A decoder with a logit-Laplace head (ViT-VQGAN) keeps its likelihood term without the GAN
      // loss too; otherwise its ln b outputs would never be trained.
      if (out.logitLaplace) {
        const ll = logitLaplaceNll(x, out.logitLaplace.mu, out.logitLaplace.logScale);
        loss = loss.add(ll.mul(LOGIT_LAPLACE_WEIGHT));
        metrics.ll = ll.item();
      }
      loss.backward();
      this.opt.step();
      Object.assign(metrics, { loss: loss.item(), rec: rec.item(), q: out.quant.loss.item() });
    }
    this.sched.step();
    this.ema?.update(this.model.parameters());
    metrics.use = out.quant.stats.utilization;
    metrics.lr = this.opt.paramGroups[0]!.lr;
    return metrics;
  }

  checkpointParts(): CheckpointParts {
    const parts: CheckpointParts = { modules: { model: this.model }, optimizers: { model: this.opt }, schedulers: { lr: this.sched } };
    if (this.loss) {
      parts.modules.disc = this.loss.discriminator;
      parts.optimizers!.disc = this.optD!;
    }
    if (this.ema) parts.emas = { model: this.ema };
    return parts;
  }

  extraState(): unknown {
    return { loader: this.loader.state(), config: this.config };
  }

  loadExtraState(extra: unknown): void {
    const e = extra as { loader: DataLoaderState; config: unknown };
    const diff = checkpointMismatch(e.config, this.config);
    if (diff !== undefined) throw new Error(`--resume: the checkpoint was trained with another configuration (${diff} differs from config.json)`);
    this.loader.setState(e.loader);
  }

  /** Runs fn with the EMA weights swapped in (if any). */
  withEma<R>(fn: () => R): R {
    return this.ema ? this.ema.withAveraged(this.model.parameters(), fn) : fn();
  }

  /** Top row: validation images; bottom row: reconstructions (EMA weights). */
  async writeArtifacts(dir: string, step: number): Promise<void> {
    const grid = this.withEma(() =>
      T.tidy(() =>
        T.noGrad(() => {
          this.model.eval();
          try {
            const recon = this.model
              .forward(this.#gridImages.to({ memoryFormat: 'channels_last' }))
              .recon.clamp(-1, 1)
              .contiguous();
            return imagesToGrid(T.cat([this.#gridImages, recon]), { nrow: this.#gridImages.size(0) }).keep();
          } finally {
            this.model.train();
          }
        }),
      ),
    );
    mkdirSync(join(dir, 'samples'), { recursive: true });
    await writePng(join(dir, 'samples', `recon-${String(step).padStart(6, '0')}.png`), grid);
    await writePng(join(dir, 'recon-latest.png'), grid);
    grid.dispose();
  }

  writeModel(dir: string): void {
    this.withEma(() => saveTokenizer(join(dir, 'model.safetensors'), this.model));
  }

  /** PSNR/SSIM of the (EMA) model on up to `n` validation images. */
  quickEval(n = 64): { psnr: number; ssim: number } {
    return this.withEma(() =>
      T.tidy(() =>
        T.noGrad(() => {
          this.model.eval();
          try {
            const idx = Array.from({ length: Math.min(n, this.val.size) }, (_, i) => i);
            const x = this.val.batch(idx).images;
            const r = this.model.forward(x).recon.clamp(-1, 1);
            return { psnr: psnr(x, r), ssim: ssim(x, r) };
          } finally {
            this.model.train();
          }
        }),
      ),
    );
  }
}
