// The transformer both priors share: pre-norm blocks (LayerNorm → self-attention → residual,
// LayerNorm → GELU MLP → residual), a final LayerNorm, and an optional key/value cache for
// one-token-at-a-time decoding. Token embeddings and output heads belong to each prior, because
// their token layouts differ (AR: [class, codes…] shifted right; MaskGIT: [class, codes or MASK…]).
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { scaledDotProductAttention } from '../torch/functional.js';
import { Module, Linear, LayerNorm, Dropout, ModuleList, init } from '../nn/index.js';
import { ConfigError, checkNumber, checkPositiveInt } from '../io/validate.js';

export interface TransformerConfig {
  /** Width of the residual stream. */
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden width = mlpRatio · dim (default 4). */
  mlpRatio?: number;
  /** Dropout on attention outputs and MLP outputs while training (default 0). */
  dropout?: number;
}

export const TRANSFORMER_KEYS = ['dim', 'depth', 'heads', 'mlpRatio', 'dropout'] as const;

/** Checks the transformer's fields (the caller rejects unknown keys of the config they sit in). */
export function checkTransformerConfig(c: TransformerConfig, who: string): void {
  for (const k of ['dim', 'depth', 'heads'] as const) checkPositiveInt(c[k], `${who}: ${k}`);
  if (c.dim % c.heads !== 0) throw new ConfigError(`${who}: dim (${c.dim}) must be divisible by heads (${c.heads})`);
  if (c.mlpRatio !== undefined) checkNumber(c.mlpRatio, `${who}: mlpRatio`, { min: 0, exclusiveMin: true });
  if (c.dropout !== undefined) checkNumber(c.dropout, `${who}: dropout`, { min: 0, max: 1, exclusiveMax: true });
}

/**
 * Keys and values of every layer for `batch` sequences of up to `maxLen` tokens, allocated once.
 * `length` tokens are filled; each forward with the cache appends its tokens.
 */
export class KVCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  length = 0;

  constructor(
    readonly batch: number,
    readonly maxLen: number,
    cfg: TransformerConfig,
    dtype: 'float32' | 'float64' = 'float32',
  ) {
    const shape = [batch, cfg.heads, maxLen, cfg.dim / cfg.heads];
    this.keys = Array.from({ length: cfg.depth }, () => T.zeros(shape, { dtype }).keep());
    this.values = Array.from({ length: cfg.depth }, () => T.zeros(shape, { dtype }).keep());
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}

/** Multi-head self-attention; with a cache, new keys/values are written into it at `cache.length`. */
export class SelfAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly drop: Dropout;

  constructor(
    readonly dim: number,
    readonly heads: number,
    dropout: number,
  ) {
    super();
    this.qkv = this.add('qkv', new Linear(dim, 3 * dim));
    this.proj = this.add('proj', new Linear(dim, dim));
    this.drop = this.add('drop', new Dropout(dropout));
  }

  forward(x: Tensor, causal: boolean, cache?: { kv: KVCache; layer: number }): Tensor {
    const [b, l] = [x.size(0), x.size(1)];
    const hd = this.dim / this.heads;
    // [B, L, 3D] → three [B, H, L, hd]
    const [q, k, v] = this.qkv.forward(x).view([b, l, 3, this.heads, hd]).permute([2, 0, 3, 1, 4]).unbind(0) as [Tensor, Tensor, Tensor];
    let keys = k;
    let values = v;
    if (cache) {
      const { kv, layer } = cache;
      const start = kv.length;
      if (start + l > kv.maxLen) throw new Error(`KVCache: ${start} + ${l} tokens exceed its capacity of ${kv.maxLen}`);
      const span = `${start}:${start + l}`;
      kv.keys[layer]!.index(':', ':', span).copy_(k);
      kv.values[layer]!.index(':', ':', span).copy_(v);
      keys = kv.keys[layer]!.index(':', ':', `0:${start + l}`);
      values = kv.values[layer]!.index(':', ':', `0:${start + l}`);
    }
    // Queries are the last l positions of the keys, so the causal mask lines up with the cache.
    const y = scaledDotProductAttention(q, keys, values, { causal: causal && l > 1 });
    return this.drop.forward(this.proj.forward(y.transpose(1, 2).reshape([b, l, this.dim])));
  }
}

export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(dim: number, hidden: number, dropout: number) {
    super();
    this.fc1 = this.add('fc1', new Linear(dim, hidden));
    this.fc2 = this.add('fc2', new Linear(hidden, dim));
    this.drop = this.add('drop', new Dropout(dropout));
  }

  forward(x: Tensor): Tensor {
    return this.drop.forward(this.fc2.forward(this.fc1.forward(x).gelu()));
  }
}

/**
 * Adaptive LayerNorm conditioning (VQ-Diffusion's AdaLayerNorm): a vector per sequence, through SiLU
 * and a linear map, gives (scale, shift) and the normalized stream becomes ln(x)·(1 + scale) + shift.
 * The map starts at zero, so a new block is the plain block until training moves it.
 */
export class AdaNorm extends Module {
  readonly linear: Linear;
  constructor(dim: number) {
    super();
    this.linear = this.add('linear', new Linear(dim, 2 * dim));
  }
  /** normalized [B, L, D], cond [B, D] → modulated [B, L, D]. */
  forward(normalized: Tensor, cond: Tensor): Tensor {
    const [scale, shift] = this.linear.forward(cond.silu()).unsqueeze(1).chunk(2, -1) as [Tensor, Tensor];
    return normalized.mul(scale.add(1)).add(shift);
  }
}

/** Per-block conditioning vectors [B, D]: one before attention, one before the MLP (VQ-Diffusion: timestep, class). */
export interface BlockConditioning {
  attn: Tensor;
  mlp: Tensor;
}

export class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: SelfAttention;
  readonly ln2: LayerNorm;
  readonly mlp: MLP;
  /** With `adaptive`: the AdaNorms after ln1 and ln2. */
  readonly ada1: AdaNorm | null = null;
  readonly ada2: AdaNorm | null = null;

  constructor(cfg: TransformerConfig, adaptive = false) {
    super();
    const dropout = cfg.dropout ?? 0;
    this.ln1 = this.add('ln1', new LayerNorm(cfg.dim));
    this.attn = this.add('attn', new SelfAttention(cfg.dim, cfg.heads, dropout));
    this.ln2 = this.add('ln2', new LayerNorm(cfg.dim));
    this.mlp = this.add('mlp', new MLP(cfg.dim, Math.round((cfg.mlpRatio ?? 4) * cfg.dim), dropout));
    if (adaptive) {
      this.ada1 = this.add('ada1', new AdaNorm(cfg.dim));
      this.ada2 = this.add('ada2', new AdaNorm(cfg.dim));
    }
  }

  forward(x: Tensor, causal: boolean, cache?: { kv: KVCache; layer: number }, cond?: BlockConditioning): Tensor {
    const n1 = this.ln1.forward(x);
    const h = x.add(this.attn.forward(this.ada1 && cond ? this.ada1.forward(n1, cond.attn) : n1, causal, cache));
    const n2 = this.ln2.forward(h);
    return h.add(this.mlp.forward(this.ada2 && cond ? this.ada2.forward(n2, cond.mlp) : n2));
  }
}

/** The stack of blocks and the final LayerNorm: [B, L, D] → [B, L, D]. */
export class Transformer extends Module {
  readonly blocks: ModuleList<Block>;
  readonly lnF: LayerNorm;

  #captured: Tensor[] | null = null;

  /**
   * Runs fn (a prior's forward) and returns each block's output [B, L, D] from the forwards it makes
   * (depth per forward), for feature probes (iGPT / VIM linear probe). The caller owns the tensors.
   */
  captureBlocks(fn: () => unknown): Tensor[] {
    const out: Tensor[] = [];
    this.#captured = out;
    try {
      fn();
    } finally {
      this.#captured = null;
    }
    return out;
  }

  /** `adaptive`: every block takes conditioning vectors through AdaNorm (forward's `cond`). */
  constructor(
    readonly cfg: TransformerConfig,
    readonly adaptive = false,
  ) {
    super();
    checkTransformerConfig(cfg, 'Transformer');
    this.blocks = this.add('blocks', new ModuleList(Array.from({ length: cfg.depth }, () => new Block(cfg, adaptive))));
    this.lnF = this.add('ln_f', new LayerNorm(cfg.dim));
  }

  /**
   * causal: each position sees only itself and earlier ones. With `cache`, x holds the tokens that
   * follow the cache's `length` (prefill: several, decoding: one) and the cache grows by x's length.
   */
  forward(x: Tensor, opts: { causal: boolean; cache?: KVCache; cond?: BlockConditioning }): Tensor {
    if (this.adaptive !== (opts.cond !== undefined))
      throw new Error(`Transformer: ${this.adaptive ? 'an adaptive transformer needs' : 'only an adaptive transformer takes'} conditioning vectors`);
    let h = x;
    const kv = opts.cache;
    for (let i = 0; i < this.cfg.depth; i++) {
      h = this.blocks.at(i).forward(h, opts.causal, kv ? { kv, layer: i } : undefined, opts.cond);
      this.#captured?.push(h);
    }
    if (kv) kv.length += x.size(1);
    return this.lnF.forward(h);
  }
}

/** GPT-style init: N(0, 0.02) weights, zero biases, unit LayerNorms (the residual stream stays small). */
export function initTransformerWeights(m: Module): void {
  T.noGrad(() => {
    for (const mod of m.modules()) {
      if (mod instanceof Linear) {
        init.normal_(mod.weight, 0, 0.02);
        if (mod.bias) init.zeros_(mod.bias);
      }
    }
  });
}

/**
 * Fixed 2-D sin-cos position embeddings for an h×w grid: [h·w, dim] (half the channels encode the
 * row, half the column; MAE/ViT-VQGAN style).
 */
export function sincos2d(h: number, w: number, dim: number): Tensor {
  if (dim % 4 !== 0) throw new Error(`sin-cos positions need dim divisible by 4, got ${dim}`);
  const quarter = dim / 4;
  const out = new Float32Array(h * w * dim);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * dim;
      for (let i = 0; i < quarter; i++) {
        const freq = 1 / Math.pow(10000, i / quarter);
        out[o + i] = Math.sin(y * freq);
        out[o + quarter + i] = Math.cos(y * freq);
        out[o + 2 * quarter + i] = Math.sin(x * freq);
        out[o + 3 * quarter + i] = Math.cos(x * freq);
      }
    }
  }
  return T.tensor(out, { shape: [h * w, dim] });
}
