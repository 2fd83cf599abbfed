// SimVQ (Zhu et al., 2024, "Addressing Representation Collapse in Vector Quantized Models with One
// Linear Layer"): the code matrix C is frozen (a buffer, N(0, 1/d) as in the SimVQ reference) and one
// learned linear map W with bias is applied to all of it every forward, codes = W(C), so every code
// moves with every gradient step (no code can be stranded, unlike gradient-trained rows that only
// move when picked). Loss as the reference (legacy = false): β·mse(z, sg[W(C)_k]) + mse(W(C)_k, sg[z]).
//
// Checked against the reference (youngsheen/SimVQ taming/modules/vqvae/quantize.py and
// configs/imagenet_simvq_128_B.yaml): the same frozen N(0, 1/d) codes, nn.Linear's default init for
// W, legacy=False (β on the commitment, weight 1 on the codebook term), no projection or
// normalisation of the latent, Adam (0.5, 0.9) without weight decay — all as here. What differs is
// the schedule: ~1M steps of 64 images there, 1k of 8 here. Early on the encoder's latents collapse
// to a few directions and drift as a block (measured at 16,384 codes: 0.1% of the codes in a batch by
// step 80, latent RMS 0.13 → 0.76 against codes at 0.14), and the map, moved ~lr per step by Adam
// whatever the loss weight, cannot follow. Two options (not in the reference) close the gap:
//
// dataInit: fit W, b on the first training batch so the codes have its mean and covariance (the
// SimVQ analogue of k-means init): the codes start where the latents are.
//
// mapLrScale: Adam moves each entry of W by about lr per step whatever its gradient's size, while
// the encoder's output scale compounds over many layers. In a short run (1k steps, where the
// reference trains ~1M) the encoder's latents leave the frozen code cloud within ~100 steps and
// nearest-neighbour search then only reaches the cloud's hull: measured 17% of 16,384 codes used.
// W = s·V with V trained (V initialised to W/s) gives the map s× Adam's step: an lr multiplier for
// the map alone, without touching the optimizer. The state dict holds V and c (W/s, b/s; s is in
// the quantizer config); with s = 1 (the default) it is exactly the reference's W and b.
//
// Keys: `embedding.weight` [K, featureDim] (buffer), `embedding_proj.{weight,bias}` (the SimVQ
// reference's names), plus `project_in/out` for a low-dim lookup and `map_initted` with dataInit.
import * as T from '../torch/index.js';
import { Tensor, noGrad, tidy } from '../torch/index.js';
import { Module, Linear } from '../nn/index.js';
import { checkBoolean, checkNumber, checkPositiveInt } from '../io/validate.js';
import { CodebookQuantizer, type CodebookOptions } from './base.js';

/** A frozen code matrix held as a buffer (`weight`), under the name nn.Embedding would use. */
export class FrozenCodebook extends Module {
  readonly weight: Tensor;
  constructor(size: number, dim: number) {
    super();
    // N(0, 1/dim), as the SimVQ reference initializes its frozen codebook.
    this.weight = this.buffer('weight', T.randn([size, dim]).mul_(dim ** -0.5));
  }
  override extraRepr(): string {
    return `${this.weight.size(0)}, ${this.weight.size(1)}, frozen`;
  }
}

/** The map x ↦ s·(V x + c): V and c are the trained (and saved) tensors, initialised to W/s and b/s. */
export class ScaledLinear extends Linear {
  constructor(
    inFeatures: number,
    outFeatures: number,
    readonly scale: number,
  ) {
    super(inFeatures, outFeatures);
    if (scale !== 1) noGrad(() => (this.weight.div_(scale), this.bias!.div_(scale)));
  }
  override forward(x: Tensor): Tensor {
    const y = super.forward(x);
    return this.scale === 1 ? y : y.mul(this.scale);
  }
  override extraRepr(): string {
    return super.extraRepr() + (this.scale !== 1 ? `, lr_scale=${this.scale}` : '');
  }
}

export interface SimVQOptions extends CodebookOptions {
  /** Learning-rate multiplier of the map W (1 = the reference's single learning rate). */
  mapLrScale?: number;
  /**
   * Data-dependent map init (not in the reference): on the first training batch, set W and b so the
   * codes W(C) have that batch's mean and covariance (W = Σz^½ Σc^-½, b = μz − W μc). Default false.
   */
  dataInit?: boolean;
}

/** Symmetric square root (or inverse square root) of a covariance matrix; tiny eigenvalues are floored. */
function sqrtm(S: Tensor, inverse: boolean): Tensor {
  const [l, V] = T.linalgEigh(S);
  const s = l.clampMin(l.max().item() * 1e-6 + 1e-12).sqrt();
  return V.mul((inverse ? s.reciprocal() : s).unsqueeze(0)).matmul(V.t());
}

/** Mean [D] and covariance [D, D] of rows [N, D]. */
function moments(x: Tensor): { mean: Tensor; cov: Tensor } {
  const mean = x.mean(0);
  const c = x.sub(mean);
  return {
    mean,
    cov: c
      .t()
      .matmul(c)
      .div(Math.max(1, x.size(0) - 1)),
  };
}

export class SimVQ extends CodebookQuantizer {
  readonly embedding: FrozenCodebook;
  /** W: featureDim → codebookDim, applied to every code each forward. */
  readonly embeddingProj: ScaledLinear;
  readonly mapLrScale: number;
  /** 1 once the data-dependent map init has run (persistent buffer `map_initted`), or null without it. */
  readonly mapInitted: Tensor | null = null;

  constructor(opts: SimVQOptions, featureDim?: number) {
    super(opts);
    const who = this.constructor.name;
    this.mapLrScale = checkNumber(opts.mapLrScale ?? 1, `${who}: mapLrScale`, { min: 0, exclusiveMin: true });
    const fd = checkPositiveInt(featureDim ?? this.codebookDim, `${who}: featureDim`);
    this.embedding = this.add('embedding', new FrozenCodebook(this.codebookSize, fd));
    this.embeddingProj = this.add('embedding_proj', new ScaledLinear(fd, this.codebookDim, this.mapLrScale));
    this.addProjections();
    if (checkBoolean(opts.dataInit ?? false, `${who}: dataInit`)) this.mapInitted = this.buffer('map_initted', T.zeros([]));
  }

  /** @internal The data-dependent map init on the first training batch (rows in lookup space). */
  override trainBeforeAssign(x: Tensor): void {
    if (this.mapInitted && this.mapInitted.item() === 0) {
      this.fitMap(x);
      this.mapInitted.fill_(1);
    }
  }

  /** Sets W, b so that W(C) has the mean and covariance of rows x [N, codebookDim]. */
  fitMap(x: Tensor): void {
    noGrad(() =>
      tidy(() => {
        const z = moments(x.to('float32'));
        const c = moments(this.embedding.weight);
        const [D, F] = [this.codebookDim, this.embedding.weight.size(1)];
        const R = T.eye(Math.max(D, F)).narrow(0, 0, D).narrow(1, 0, F);
        const W = sqrtm(z.cov, false).matmul(R).matmul(sqrtm(c.cov, true));
        const b = z.mean.sub(W.matmul(c.mean));
        const s = this.mapLrScale;
        this.embeddingProj.weight.copy_(W.div(s));
        this.embeddingProj.bias!.copy_(b.div(s));
      }),
    );
  }

  /** W(C): the codes in use, with gradient to W. */
  codebook(): Tensor {
    return this.embeddingProj.forward(this.embedding.weight);
  }
  protected get codebookLearnsByGradient(): boolean {
    return true;
  }

  override extraRepr(): string {
    return super.extraRepr() + (this.mapLrScale !== 1 ? `, map_lr_scale=${this.mapLrScale}` : '') + (this.mapInitted ? ', data_init=True' : '');
  }
}
