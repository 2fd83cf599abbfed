// SimVQ: the code matrix C is frozen (Gaussian init, a buffer) and one learned linear map W is
// applied to all of it every forward, codes = W(C), so every code moves with every gradient step
// (no code can be stranded, unlike gradient-trained rows that only move when picked).
// Keys: `embedding.weight` [K, codebookDim] (buffer), `embedding_proj.{weight,bias}` (the SimVQ
// reference's names), plus `project_in/out` for a low-dim lookup.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Linear } from '../nn/index.js';
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

export type SimVQOptions = CodebookOptions;

export class SimVQ extends CodebookQuantizer {
  readonly embedding: FrozenCodebook;
  /** W: codebookDim → codebookDim, applied to every code each forward. */
  readonly embeddingProj: Linear;

  constructor(opts: SimVQOptions) {
    super(opts);
    this.embedding = this.add('embedding', new FrozenCodebook(this.codebookSize, this.codebookDim));
    this.embeddingProj = this.add('embedding_proj', new Linear(this.codebookDim, this.codebookDim));
    this.addProjections();
  }

  /** W(C): the codes in use, with gradient to W. */
  codebook(): Tensor {
    return this.embeddingProj.forward(this.embedding.weight);
  }
  protected get codebookLearnsByGradient(): boolean {
    return true;
  }
}
