// nn.MultiheadAttention with PyTorch's parameter names (in_proj_weight, in_proj_bias, out_proj.*),
// init and forward semantics, so PyTorch checkpoints load and outputs match.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { constant_, xavierUniform_ } from './init.js';

export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights (training only). */
  dropout?: number;
  bias?: boolean;
  /** Key / value feature sizes when they differ from embedDim (separate projection weights). */
  kdim?: number;
  vdim?: number;
  /** Inputs and output are (N, L, E) instead of (L, N, E). */
  batchFirst?: boolean;
}

export interface MultiheadAttentionForwardOptions {
  /**
   * (N, S): true (bool) marks keys to ignore; a float mask is added to the scores.
   * Note the polarity: PyTorch's MHA masks with true = NOT allowed.
   */
  keyPaddingMask?: Tensor;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** (L, S) or (N·numHeads, L, S): bool true = NOT allowed, or float added to the scores. */
  attnMask?: Tensor;
  /** Average the returned weights over heads → (N, L, S); otherwise (N, numHeads, L, S). */
  averageAttnWeights?: boolean;
}

export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  /** Packed [Wq; Wk; Wv] (3E, E) when kdim = vdim = embedDim, else null. */
  readonly inProjWeight: Tensor | null = null;
  /** Separate projections when kdim or vdim differ from embedDim, else null. */
  readonly qProjWeight: Tensor | null = null;
  readonly kProjWeight: Tensor | null = null;
  readonly vProjWeight: Tensor | null = null;
  readonly inProjBias: Tensor | null;
  readonly outProj: Linear;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    opts: MultiheadAttentionOptions = {},
  ) {
    super();
    this.kdim = opts.kdim ?? embedDim;
    this.vdim = opts.vdim ?? embedDim;
    this.dropout = opts.dropout ?? 0;
    this.batchFirst = opts.batchFirst ?? false;
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim) throw new Error(`MultiheadAttention: embed_dim (${embedDim}) must be divisible by num_heads (${numHeads})`);
    const bias = opts.bias ?? true;

    // Registration order gives PyTorch's state-dict order.
    if (this.sameEmbedDim) {
      this.inProjWeight = this.param('in_proj_weight', T.empty([3 * embedDim, embedDim]));
    } else {
      this.qProjWeight = this.param('q_proj_weight', T.empty([embedDim, embedDim]));
      this.kProjWeight = this.param('k_proj_weight', T.empty([embedDim, this.kdim]));
      this.vProjWeight = this.param('v_proj_weight', T.empty([embedDim, this.vdim]));
    }
    this.inProjBias = bias ? this.param('in_proj_bias', T.empty([3 * embedDim])) : null;
    // Linear draws its own default init first — PyTorch's RNG order, kept for identical seeded init.
    this.outProj = this.add('out_proj', new Linear(embedDim, embedDim, { bias }));

    for (const w of [this.inProjWeight, this.qProjWeight, this.kProjWeight, this.vProjWeight]) if (w) xavierUniform_(w);
    if (this.inProjBias) {
      constant_(this.inProjBias, 0);
      constant_(this.outProj.bias!, 0);
    }
  }

  get sameEmbedDim(): boolean {
    return this.kdim === this.embedDim && this.vdim === this.embedDim;
  }

  /**
   * Attention of query over key/value. Shapes (L, N, E) / (S, N, kdim) / (S, N, vdim), or batch
   * first, or unbatched (L, E). Returns [output like query, weights or null].
   */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const batched = query.ndim === 3;
    let q = query;
    let k = key;
    let v = value;
    let kpm = opts.keyPaddingMask;
    if (!batched) {
      if (query.ndim !== 2) throw new Error(`MultiheadAttention: query should be unbatched 2D or batched 3D, got ${query.ndim}-D`);
      [q, k, v] = [q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)];
      kpm = kpm?.unsqueeze(0);
    } else if (this.batchFirst) {
      [q, k, v] = [q.transpose(1, 0), k.transpose(1, 0), v.transpose(1, 0)];
    }

    const [tgtLen, bsz, embedDim] = q.shape as [number, number, number];
    const srcLen = k.size(0);
    if (embedDim !== this.embedDim) throw new Error(`MultiheadAttention: expected query feature size ${this.embedDim}, got ${embedDim}`);
    const H = this.numHeads;
    const hd = this.headDim;

    // In-projection.
    const [bq, bk, bv] = this.inProjBias ? this.inProjBias.chunk(3) : [null, null, null];
    const [wq, wk, wv] = this.inProjWeight ? this.inProjWeight.chunk(3) : [this.qProjWeight!, this.kProjWeight!, this.vProjWeight!];
    q = T.linear(q, wq!, bq);
    k = T.linear(k, wk!, bk);
    v = T.linear(v, wv!, bv);

    // (len, N, E) → (N·H, len, hd)
    q = q.reshape([tgtLen, bsz * H, hd]).transpose(0, 1);
    k = k.reshape([srcLen, bsz * H, hd]).transpose(0, 1);
    v = v.reshape([srcLen, bsz * H, hd]).transpose(0, 1);

    const mask = this.#additiveMask(opts.attnMask, kpm, bsz, tgtLen, srcLen, q.dtype);

    const qScaled = q.div(Math.sqrt(hd));
    const scores = mask ? T.baddbmm(mask, qScaled, k.transpose(-2, -1)) : T.bmm(qScaled, k.transpose(-2, -1));
    let weights = scores.softmax(-1);
    if (this.training && this.dropout > 0) weights = T.dropout(weights, this.dropout, true);

    let out = T.bmm(weights, v); // (N·H, L, hd)
    out = out.transpose(0, 1).reshape([tgtLen * bsz, embedDim]);
    out = this.outProj.forward(out).view([tgtLen, bsz, embedDim]);

    let w: Tensor | null = null;
    if (opts.needWeights ?? true) {
      w = weights.view([bsz, H, tgtLen, srcLen]);
      if (opts.averageAttnWeights ?? true) w = w.sum(1).div(H);
      if (!batched) w = w.squeezeDim(0);
    }
    if (!batched) out = out.squeezeDim(1);
    else if (this.batchFirst) out = out.transpose(1, 0);
    return [out, w];
  }

  /** attnMask and keyPaddingMask merged into one float mask (N·H or 1, L, S) added to the scores. */
  #additiveMask(attnMask: Tensor | undefined, kpm: Tensor | undefined, bsz: number, tgtLen: number, srcLen: number, dtype: T.DType): Tensor | null {
    const toFloat = (m: Tensor): Tensor =>
      m.dtype === 'bool' || m.dtype === 'uint8' ? T.zeros(m.shape, { dtype }).maskedFill(m.bool(), -Infinity) : m.to(dtype);
    let mask: Tensor | null = null;
    if (attnMask) {
      const H = this.numHeads;
      if (attnMask.ndim === 2) {
        if (attnMask.size(0) !== tgtLen || attnMask.size(1) !== srcLen)
          throw new Error(`MultiheadAttention: the 2D attn_mask is [${attnMask.shape}], but should be [${tgtLen}, ${srcLen}]`);
        mask = toFloat(attnMask).unsqueeze(0);
      } else if (attnMask.ndim === 3) {
        const want = [bsz * H, tgtLen, srcLen];
        if (attnMask.shape.some((d, i) => d !== want[i]))
          throw new Error(`MultiheadAttention: the 3D attn_mask is [${attnMask.shape}], but should be [${want}]`);
        mask = toFloat(attnMask);
      } else throw new Error(`MultiheadAttention: attn_mask's dimension ${attnMask.ndim} is not supported`);
    }
    if (kpm) {
      if (kpm.ndim !== 2 || kpm.size(0) !== bsz || kpm.size(1) !== srcLen)
        throw new Error(`MultiheadAttention: expecting key_padding_mask shape [${bsz}, ${srcLen}], got [${kpm.shape}]`);
      const pad = toFloat(kpm)
        .view([bsz, 1, 1, srcLen])
        .expand([-1, this.numHeads, -1, -1])
        .reshape([bsz * this.numHeads, 1, srcLen]);
      mask = mask ? mask.add(pad) : pad;
    }
    return mask;
  }
}
