// SimVQ (Zhu et al., 2024, "Addressing Representation Collapse in Vector Quantized Models with One
// Linear Layer"): the code matrix C is frozen (a buffer, N(0, 1/d) as in the SimVQ reference) and one
// learned linear map W with bias is applied to all of it every forward, codes = W(C), so every code
// moves with every gradient step (no code can be stranded, unlike gradient-trained rows that only
// move when picked). Loss as the reference (legacy = false): β·mse(z, sg[W(C)_k]) + mse(W(C)_k, sg[z]).
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
// reference's names), plus `project_in/out` for a low-dim lookup.
import * as T from '../torch/index.js';
import { Tensor, noGrad } from '../torch/index.js';
import { Module, Linear } from '../nn/index.js';
import { checkNumber, checkPositiveInt } from '../io/validate.js';
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
}

export class SimVQ extends CodebookQuantizer {
  readonly embedding: FrozenCodebook;
  /** W: featureDim → codebookDim, applied to every code each forward. */
  readonly embeddingProj: ScaledLinear;
  readonly mapLrScale: number;

  constructor(opts: SimVQOptions, featureDim?: number) {
    super(opts);
    const who = this.constructor.name;
    this.mapLrScale = checkNumber(opts.mapLrScale ?? 1, `${who}: mapLrScale`, { min: 0, exclusiveMin: true });
    const fd = checkPositiveInt(featureDim ?? this.codebookDim, `${who}: featureDim`);
    this.embedding = this.add('embedding', new FrozenCodebook(this.codebookSize, fd));
    this.embeddingProj = this.add('embedding_proj', new ScaledLinear(fd, this.codebookDim, this.mapLrScale));
    this.addProjections();
  }

  /** W(C): the codes in use, with gradient to W. */
  codebook(): Tensor {
    return this.embeddingProj.forward(this.embedding.weight);
  }
  protected get codebookLearnsByGradient(): boolean {
    return true;
  }

  override extraRepr(): string {
    return super.extraRepr() + (this.mapLrScale !== 1 ? `, map_lr_scale=${this.mapLrScale}` : '');
  }
}
