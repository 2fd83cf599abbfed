// The VQGAN training objective — taming-transformers' VQLPIPSWithDiscriminator as a plain class:
//
//   generator step:     rec = |x − x̂| (or (x − x̂)²) + perceptualWeight·LPIPS(x, x̂)
//                       nll = mean(rec);  g = −mean D(x̂)
//                       total = nll + d_weight·disc_factor·g + codebookWeight·mean(q_loss)
//   discriminator step: d_loss = disc_factor·(hinge | vanilla)(D(x), D(x̂)) on detached images
//
// d_weight is the adaptive weight (gan.ts) at the decoder's last layer; disc_factor is discFactor
// from `discStart` on, 0 before. Not a Module: the trainable part is `discriminator` (give its
// parameters to the discriminator's optimizer); the perceptual network is frozen. A taming
// checkpoint's discriminator loads with
//   loss.discriminator.loadStateDict(io.stateDictFrom(ckpt, { prefix: 'loss.discriminator.' })).
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { NLayerDiscriminator, StyleGAN2Discriminator, r1Penalty } from './discriminator.js';
import { logitLaplaceNll } from './logit-laplace.js';
import { adaptiveGanWeight, adoptWeight, discriminatorLossFn, generatorLossFn, type DiscLossKind, type GenLossKind } from './gan.js';
import type { PerceptualLoss } from './lpips.js';
import { ConfigError, checkBoolean, checkEnum, checkInt, checkNumber, checkPositiveInt, isObject, rejectUnknownKeys } from '../io/validate.js';

export interface VQGANLossConfig {
  /** Pixel reconstruction term: 'l1' (taming) or 'l2' (MoVQ). Default 'l1'. */
  recLoss?: 'l1' | 'l2';
  /** Weight of LPIPS inside rec (1.0; MoVQ 0.1). Ignored when no perceptual network is given. */
  perceptualWeight?: number;
  /** Weight of the quantizer loss (1.0). */
  codebookWeight?: number;
  /** First global step with the GAN terms on (0). taming's ImageNet configs use tens of thousands. */
  discStart?: number;
  /**
   * Steps over which disc_factor ramps linearly from 0 to discFactor after discStart (0 = switch
   * on at once, as taming). A ramp softens the reconstruction drop when the GAN term appears.
   */
  discRampSteps?: number;
  /** Multiplies the adaptive weight (taming's default 1.0; its ImageNet configs use 0.8). */
  discWeight?: number;
  /** Scale of both GAN terms once on (1.0). */
  discFactor?: number;
  /** Discriminator objective: 'hinge' (default) or 'vanilla' (cross-entropy). */
  discLoss?: DiscLossKind;
  /**
   * Generator objective: 'hinge' = −mean D(x̂) (default; taming uses it with either discriminator
   * loss) or 'non-saturating' = mean softplus(−D(x̂)).
   */
  genLoss?: GenLossKind;
  /** Discriminator stride-2 stages (3; MoVQ 2). */
  discNumLayers?: number;
  /** Discriminator base width (64). */
  discNdf?: number;
  /** Image channels seen by the discriminator (3). */
  discInChannels?: number;
  /**
   * true (default): d_weight = adaptive weight × discWeight, as taming. false: d_weight = discWeight,
   * a fixed GAN weight (MoVQ trains with a fixed 0.1).
   */
  adaptiveWeight?: boolean;
  /**
   * Weight of the logit-Laplace NLL (ViT-VQGAN: 0.1), added to nll. Needs a decoder that predicts
   * μ and ln b (generatorLoss's `logitLaplace`). Default 0.
   */
  logLaplaceWeight?: number;
  /** 'patchgan' (taming's NLayerDiscriminator, default) or 'stylegan2' (ViT-VQGAN's; needs discImageSize). */
  discArch?: 'patchgan' | 'stylegan2';
  /** Image side the StyleGAN2 discriminator is built for (0 = set by the trainer from the data). */
  discImageSize?: number;
  /** R1 penalty γ on real images in the discriminator step (0 = off; StyleGAN2 / the port use 10). */
  r1Gamma?: number;
  /** Lazy R1: apply it every this many steps, scaled by the interval (StyleGAN2: 16). */
  r1Every?: number;
}

export type ResolvedVQGANLossConfig = Required<VQGANLossConfig>;

/** Every key of VQGANLossConfig; any other key is rejected (a typo must not silently change the objective). */
export const VQGAN_LOSS_KEYS = [
  'recLoss',
  'perceptualWeight',
  'codebookWeight',
  'discStart',
  'discRampSteps',
  'discWeight',
  'discFactor',
  'discLoss',
  'genLoss',
  'discNumLayers',
  'discNdf',
  'discInChannels',
  'adaptiveWeight',
  'logLaplaceWeight',
  'discArch',
  'discImageSize',
  'r1Gamma',
  'r1Every',
] as const satisfies readonly (keyof VQGANLossConfig)[];

/**
 * Fills the defaults and validates every field: unknown keys, wrong types, out-of-range values and
 * non-finite numbers are a ConfigError "<where>.<key>: …" (e.g. "gan: unknown key 'discStrat' (did
 * you mean 'discStart'? …)"). `where` names the config in messages (default "VQGANLoss").
 */
export function resolveVQGANLossConfig(c: VQGANLossConfig = {}, where = 'VQGANLoss'): ResolvedVQGANLossConfig {
  if (!isObject(c)) throw new ConfigError(`${where}: expected an object of loss settings, got ${JSON.stringify(c) ?? String(c)}`);
  rejectUnknownKeys(c, VQGAN_LOSS_KEYS, where);
  const at = (k: keyof VQGANLossConfig): string => `${where}.${k}`;
  const opt = <T>(k: keyof VQGANLossConfig, dflt: T, check: (v: unknown, w: string) => T): T => (c[k] === undefined ? dflt : check(c[k], at(k)));
  const weight = (v: unknown, w: string): number => checkNumber(v, w, { min: 0 });
  const count = (v: unknown, w: string): number => checkInt(v, w, { min: 0 });
  return {
    recLoss: opt('recLoss', 'l1' as const, (v, w) => checkEnum(v, ['l1', 'l2'] as const, w)),
    perceptualWeight: opt('perceptualWeight', 1.0, weight),
    codebookWeight: opt('codebookWeight', 1.0, weight),
    discStart: opt('discStart', 0, count),
    discRampSteps: opt('discRampSteps', 0, count),
    discWeight: opt('discWeight', 1.0, weight),
    discFactor: opt('discFactor', 1.0, weight),
    discLoss: opt('discLoss', 'hinge' as const, (v, w) => checkEnum(v, ['hinge', 'vanilla'] as const, w)),
    genLoss: opt('genLoss', 'hinge' as const, (v, w) => checkEnum(v, ['hinge', 'non-saturating'] as const, w)),
    discNumLayers: opt('discNumLayers', 3, (v, w) => checkPositiveInt(v, w)),
    discNdf: opt('discNdf', 64, (v, w) => checkPositiveInt(v, w)),
    discInChannels: opt('discInChannels', 3, (v, w) => checkPositiveInt(v, w)),
    adaptiveWeight: opt('adaptiveWeight', true, checkBoolean),
    logLaplaceWeight: opt('logLaplaceWeight', 0, weight),
    discArch: opt('discArch', 'patchgan' as const, (v, w) => checkEnum(v, ['patchgan', 'stylegan2'] as const, w)),
    discImageSize: opt('discImageSize', 0, count),
    r1Gamma: opt('r1Gamma', 0, weight),
    r1Every: opt('r1Every', 16, (v, w) => checkPositiveInt(v, w)),
  };
}

/** Values of one generator step, as numbers (taming's log keys without the split prefix). */
export interface GeneratorLossLog {
  total: number;
  nll: number;
  /** Mean pixel term alone (taming logs rec + perceptual here, which equals nll). */
  rec: number;
  /** Mean LPIPS distance (0 without the perceptual term). */
  p: number;
  /** Mean logit-Laplace NLL per value (0 when its weight is 0). */
  ll: number;
  q: number;
  g: number;
  /** 0 while disc_factor is 0 (not computed: it would cost a backward pass through LPIPS) and in no-grad evaluation. */
  d_weight: number;
  disc_factor: number;
}

export interface DiscriminatorLossLog {
  d_loss: number;
  logits_real: number;
  logits_fake: number;
  disc_factor: number;
  /** The R1 penalty applied this step (0 when off or not due). */
  r1: number;
}

export interface GeneratorLossInputs {
  /** Real images [N, C, H, W] in [-1, 1]. */
  inputs: Tensor;
  /** Reconstructions, same shape, with autograd history back to the decoder. */
  recon: Tensor;
  /** The quantizer loss (averaged here). */
  qloss: Tensor;
  globalStep: number;
  /** The decoder's last-layer weight (`decoder.conv_out.weight`); needed for the adaptive weight. */
  lastLayer?: Tensor;
  /** The decoder's logit-Laplace outputs (μ, ln b), required when logLaplaceWeight > 0. */
  logitLaplace?: { mu: Tensor; logScale: Tensor };
}

export class VQGANLoss {
  readonly config: ResolvedVQGANLossConfig;
  readonly discriminator: NLayerDiscriminator | StyleGAN2Discriminator;
  /** The frozen LPIPS, or null: then the perceptual term is left out (see tryLoadLpips). */
  readonly perceptual: PerceptualLoss | null;
  readonly #dLoss: (real: Tensor, fake: Tensor) => Tensor;
  readonly #gLoss: (fake: Tensor) => Tensor;

  constructor(config: VQGANLossConfig = {}, opts: { perceptual?: PerceptualLoss | null; discriminator?: NLayerDiscriminator | StyleGAN2Discriminator } = {}) {
    this.config = resolveVQGANLossConfig(config);
    const c = this.config;
    // Validate the loss kinds before allocating the discriminator.
    this.#dLoss = discriminatorLossFn(c.discLoss);
    this.#gLoss = generatorLossFn(c.genLoss);
    this.perceptual = opts.perceptual ?? null;
    if (opts.discriminator) this.discriminator = opts.discriminator;
    else if (c.discArch === 'stylegan2') {
      if (!c.discImageSize) throw new ConfigError('VQGANLoss.discImageSize: the StyleGAN2 discriminator needs the image side');
      this.discriminator = new StyleGAN2Discriminator({ size: c.discImageSize, inputChannels: c.discInChannels, channels: c.discNdf });
    } else this.discriminator = new NLayerDiscriminator({ inputChannels: c.discInChannels, ndf: c.discNdf, nLayers: c.discNumLayers });
  }

  /** Whether LPIPS contributes to rec. */
  get perceptualActive(): boolean {
    return this.perceptual !== null && this.config.perceptualWeight > 0;
  }

  /** disc_factor at a step: 0 before discStart, then discFactor (reached linearly over discRampSteps). */
  discFactorAt(globalStep: number): number {
    const f = adoptWeight(this.config.discFactor, globalStep, this.config.discStart);
    const ramp = this.config.discRampSteps;
    return ramp > 0 ? f * Math.min(1, (globalStep - this.config.discStart + 1) / ramp) : f;
  }

  /**
   * The autoencoder's loss (taming's optimizer_idx 0). Backpropagate `loss`; it also reaches the
   * discriminator's parameters through D(x̂), so clear their gradients before the discriminator step
   * (or step only the autoencoder's optimizer with them), as Lightning does upstream.
   */
  generatorLoss({ inputs, recon, qloss, globalStep, lastLayer, logitLaplace }: GeneratorLossInputs): { loss: Tensor; log: GeneratorLossLog } {
    const c = this.config;
    const diff = inputs.sub(recon);
    const pixel = c.recLoss === 'l1' ? diff.abs() : diff.square();
    let rec = pixel;
    let p: Tensor | null = null;
    if (this.perceptualActive) {
      p = this.perceptual!.forward(inputs, recon); // [N, 1, 1, 1], broadcast over the pixels
      rec = pixel.add(p.mul(c.perceptualWeight));
    }
    let nll = rec.mean();
    let ll: Tensor | null = null;
    if (c.logLaplaceWeight > 0) {
      if (!logitLaplace)
        throw new Error(
          "VQGANLoss.generatorLoss: logLaplaceWeight > 0 needs a decoder that predicts the logit-Laplace (μ, ln b); set the model's logitLaplace",
        );
      ll = logitLaplaceNll(inputs, logitLaplace.mu, logitLaplace.logScale);
      nll = nll.add(ll.mul(c.logLaplaceWeight));
    }
    const q = qloss.mean();
    const discFactor = this.discFactorAt(globalStep);

    let g: Tensor;
    let dWeight: Tensor | number = 0;
    let total: Tensor;
    if (discFactor > 0) {
      g = this.#gLoss(this.discriminator.forward(recon));
      if (!c.adaptiveWeight) dWeight = c.discWeight;
      else if (T.isGradEnabled() && nll.requiresGrad && g.requiresGrad) {
        if (!lastLayer) throw new Error("VQGANLoss.generatorLoss: lastLayer (the decoder's conv_out.weight) is needed for the adaptive GAN weight");
        dWeight = adaptiveGanWeight(nll, g, lastLayer, c.discWeight);
      }
      // Without gradients (validation) taming's weight falls back to 0, and so does this one.
      const gan = typeof dWeight === 'number' ? g.mul(dWeight * discFactor) : dWeight.mul(discFactor).mul(g);
      total = nll.add(gan).add(q.mul(c.codebookWeight));
    } else {
      // The GAN term is off: g is only logged, so no graph is kept for it.
      g = T.noGrad(() => this.#gLoss(this.discriminator.forward(recon)));
      total = nll.add(q.mul(c.codebookWeight));
    }

    const log: GeneratorLossLog = {
      total: total.item(),
      nll: nll.item(),
      rec: T.noGrad(() => pixel.mean().item()),
      p: p ? T.noGrad(() => p.mean().item()) : 0,
      ll: ll ? ll.item() : 0,
      q: q.item(),
      g: g.item(),
      d_weight: typeof dWeight === 'number' ? dWeight : dWeight.item(),
      disc_factor: discFactor,
    };
    return { loss: total, log };
  }

  /**
   * The discriminator's loss (taming's optimizer_idx 1) on detached images; backpropagate it into
   * `discriminator.parameters()`. It is 0 (with zero gradients) before discStart, as upstream.
   */
  discriminatorLoss({ inputs, recon, globalStep }: { inputs: Tensor; recon: Tensor; globalStep: number }): { loss: Tensor; log: DiscriminatorLossLog } {
    const c = this.config;
    const logitsReal = this.discriminator.forward(inputs.detach());
    const logitsFake = this.discriminator.forward(recon.detach());
    const discFactor = this.discFactorAt(globalStep);
    let loss = this.#dLoss(logitsReal, logitsFake).mul(discFactor);
    // Lazy R1 (StyleGAN2): every r1Every steps, scaled by the interval.
    let r1 = 0;
    if (c.r1Gamma > 0 && discFactor > 0 && globalStep % c.r1Every === 0 && T.isGradEnabled()) {
      const pen = r1Penalty(this.discriminator, inputs, c.r1Gamma);
      r1 = pen.item();
      loss = loss.add(pen.mul(c.r1Every));
    }
    const log: DiscriminatorLossLog = T.noGrad(() => ({
      d_loss: loss.item(),
      logits_real: logitsReal.mean().item(),
      logits_fake: logitsFake.mean().item(),
      disc_factor: discFactor,
      r1,
    }));
    return { loss, log };
  }

  /** Frees the discriminator and the perceptual network. */
  dispose(): void {
    this.discriminator.dispose();
    this.perceptual?.dispose();
  }
}
