// The convolutional building blocks of taming-transformers' VQGAN (the "diffusionmodules" encoder
// and decoder), with taming's exact attribute names so official state dicts load unchanged.
// MoVQ reuses the same Decoder: its normalization layer is pluggable (`NormFactory`), and every
// block forwards an optional conditioning tensor `zq` to its norms. Plain GroupNorm ignores it;
// MoVQ's SpatialNorm (movq.ts) needs it.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, Conv2d, GroupNorm, Dropout, ModuleList } from '../nn/index.js';
import { ConfigError, checkBoolean, checkInt, checkNumber, checkPositiveInt, isObject, rejectUnknownKeys } from '../io/validate.js';

/** The fields of taming's `ddconfig` that shape the encoder and decoder (camelCase here). */
export interface DDConfig {
  /** Base channel count; level i has ch·chMult[i] channels. */
  ch: number;
  /** Channel multiplier per resolution level; f = 2^(levels − 1). */
  chMult: number[];
  numResBlocks: number;
  /** Feature-map sizes (relative to `resolution`) at which attention blocks are inserted. */
  attnResolutions: number[];
  /** Nominal training resolution: only used to decide where attention goes. */
  resolution: number;
  zChannels: number;
  inChannels: number;
  outCh: number;
  dropout: number;
  /** Encoder emits 2·zChannels (mean and log-variance, for KL autoencoders). False for VQ models. */
  doubleZ: boolean;
  /** Strided conv / conv after upsampling (true) or avg-pool / plain nearest upsampling (false). */
  resampWithConv: boolean;
}

export const DEFAULT_DDCONFIG: Omit<DDConfig, 'ch' | 'chMult' | 'numResBlocks' | 'attnResolutions' | 'resolution' | 'zChannels'> = {
  inChannels: 3,
  outCh: 3,
  dropout: 0,
  doubleZ: false,
  resampWithConv: true,
};

/** A DDConfig where the fields with defaults may be left out. */
export type DDConfigInput = Partial<DDConfig> & Pick<DDConfig, 'ch' | 'chMult' | 'numResBlocks' | 'attnResolutions' | 'resolution' | 'zChannels'>;

const DDCONFIG_KEYS = new Set([
  'ch',
  'chMult',
  'numResBlocks',
  'attnResolutions',
  'resolution',
  'zChannels',
  'inChannels',
  'outCh',
  'dropout',
  'doubleZ',
  'resampWithConv',
]);

/** Checks a DDConfig and fills defaults; errors name the offending field. */
export function resolveDDConfig(c: DDConfigInput, what = 'ddconfig'): DDConfig {
  if (!isObject(c)) throw new ConfigError(`${what}: expected an object, got ${JSON.stringify(c)}`);
  rejectUnknownKeys(c, [...DDCONFIG_KEYS], what);
  for (const k of ['ch', 'chMult', 'numResBlocks', 'attnResolutions', 'resolution', 'zChannels'] as const) {
    if (c[k] === undefined) throw new Error(`${what}.${k} is required`);
  }
  const list = (v: unknown, k: string): number[] => {
    if (!Array.isArray(v)) throw new Error(`${what}.${k} must be a list of integers, got ${JSON.stringify(v)}`);
    return [...(v as number[])];
  };
  const cfg: DDConfig = { ...DEFAULT_DDCONFIG, ...c, chMult: list(c.chMult, 'chMult'), attnResolutions: list(c.attnResolutions, 'attnResolutions') };
  for (const k of ['ch', 'resolution', 'zChannels', 'inChannels', 'outCh'] as const) checkPositiveInt(cfg[k], `${what}.${k}`);
  checkInt(cfg.numResBlocks, `${what}.numResBlocks`, { min: 0 });
  if (cfg.chMult.length === 0) throw new ConfigError(`${what}.chMult: must be a non-empty list of integers`);
  cfg.chMult.forEach((m, i) => checkPositiveInt(m, `${what}.chMult[${i}]`));
  cfg.attnResolutions.forEach((r, i) => checkPositiveInt(r, `${what}.attnResolutions[${i}]`));
  // Every block normalizes with GroupNorm(32): each level's width must split into 32 groups.
  for (const m of [1, ...cfg.chMult]) {
    if ((cfg.ch * m) % 32 !== 0) throw new Error(`${what}: ch·chMult (${cfg.ch}·${m} = ${cfg.ch * m}) must be a multiple of 32 (GroupNorm with 32 groups)`);
  }
  checkNumber(cfg.dropout, `${what}.dropout`, { min: 0, max: 1, exclusiveMax: true });
  checkBoolean(cfg.doubleZ, `${what}.doubleZ`);
  checkBoolean(cfg.resampWithConv, `${what}.resampWithConv`);
  return cfg;
}

/** Spatial downsampling factor of the encoder: one halving per level but the last. */
export const downsampleFactor = (cfg: Pick<DDConfig, 'chMult'>): number => 2 ** (cfg.chMult.length - 1);

// ---------------------------------------------------------------- normalization

/** A normalization layer inside the blocks; `zq` is the optional conditioning (MoVQ). */
export type NormLayer = Module & { forward(x: Tensor, zq?: Tensor): Tensor };
/** Builds the normalization layer for a feature map of `channels` channels. */
export type NormFactory = (channels: number) => NormLayer;

/** taming's Normalize: GroupNorm with 32 groups and eps 1e-6 (not PyTorch's 1e-5). */
export function Normalize(channels: number): GroupNorm {
  return new GroupNorm(32, channels, { eps: 1e-6 });
}

/** x·sigmoid(x). */
export const swish = (x: Tensor): Tensor => T.silu(x);

// ---------------------------------------------------------------- blocks

/** norm1 → swish → conv1 → norm2 → swish → dropout → conv2, plus the (1×1-projected) input. */
export class ResnetBlock extends Module {
  readonly norm1: NormLayer;
  readonly conv1: Conv2d;
  readonly norm2: NormLayer;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly nin_shortcut?: Conv2d;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    opts: { dropout?: number; norm?: NormFactory } = {},
  ) {
    super();
    const norm = opts.norm ?? Normalize;
    // Registration order = taming's attribute order = state-dict key order.
    this.norm1 = this.add('norm1', norm(inChannels));
    this.conv1 = this.add('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    this.norm2 = this.add('norm2', norm(outChannels));
    this.dropout = this.add('dropout', new Dropout(opts.dropout ?? 0));
    this.conv2 = this.add('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1 }));
    if (inChannels !== outChannels) this.nin_shortcut = this.add('nin_shortcut', new Conv2d(inChannels, outChannels, 1));
  }

  forward(x: Tensor, zq?: Tensor): Tensor {
    let h = this.conv1.forward(swish(this.norm1.forward(x, zq)));
    h = this.conv2.forward(this.dropout.forward(swish(this.norm2.forward(h, zq))));
    const skip = this.nin_shortcut ? this.nin_shortcut.forward(x) : x;
    return skip.add(h);
  }
}

/** Single-head self-attention over all h·w positions with 1×1 convs for q, k, v and the output. */
export class AttnBlock extends Module {
  readonly norm: NormLayer;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly proj_out: Conv2d;

  constructor(
    readonly channels: number,
    opts: { norm?: NormFactory } = {},
  ) {
    super();
    this.norm = this.add('norm', (opts.norm ?? Normalize)(channels));
    this.q = this.add('q', new Conv2d(channels, channels, 1));
    this.k = this.add('k', new Conv2d(channels, channels, 1));
    this.v = this.add('v', new Conv2d(channels, channels, 1));
    this.proj_out = this.add('proj_out', new Conv2d(channels, channels, 1));
  }

  forward(x: Tensor, zq?: Tensor): Tensor {
    const h_ = this.norm.forward(x, zq);
    const [b, c, h, w] = x.shape as [number, number, number, number];
    // [b, c, hw]; reshape copies a channels_last input into the layout the matmuls need.
    const q = this.q.forward(h_).reshape([b, c, h * w]);
    const k = this.k.forward(h_).reshape([b, c, h * w]);
    const v = this.v.forward(h_).reshape([b, c, h * w]);
    // attn[b, i, j] = softmax_j(q_i · k_j / √c); out[b, :, i] = Σ_j attn[b, i, j] v[b, :, j]
    const attn = T.bmm(q.transpose(1, 2), k)
      .mul(c ** -0.5)
      .softmax(2);
    const out = T.bmm(v, attn.transpose(1, 2)).reshape([b, c, h, w]);
    return x.add(this.proj_out.forward(out));
  }
}

/** Halves h and w: zero-pad right and bottom by one, then a 3×3 stride-2 conv (taming's asymmetric pad). */
export class Downsample extends Module {
  readonly conv?: Conv2d;

  constructor(
    readonly channels: number,
    readonly withConv = true,
  ) {
    super();
    if (withConv) this.conv = this.add('conv', new Conv2d(channels, channels, 3, { stride: 2 }));
  }

  forward(x: Tensor): Tensor {
    if (!this.conv) return T.avgPool2d(x, 2, 2);
    return this.conv.forward(T.pad(x, [0, 1, 0, 1]));
  }
}

/** Doubles h and w: nearest-neighbour ×2, then a 3×3 conv. */
export class Upsample extends Module {
  readonly conv?: Conv2d;

  constructor(
    readonly channels: number,
    readonly withConv = true,
  ) {
    super();
    if (withConv) this.conv = this.add('conv', new Conv2d(channels, channels, 3, { padding: 1 }));
  }

  forward(x: Tensor): Tensor {
    const y = T.interpolate(x, { scaleFactor: 2, mode: 'nearest' });
    return this.conv ? this.conv.forward(y) : y;
  }
}

/** One resolution level: `block.j`, `attn.j` (possibly empty), and `downsample` / `upsample`. */
export class Level extends Module {
  readonly block: ModuleList<ResnetBlock>;
  readonly attn: ModuleList<AttnBlock>;
  resample?: Downsample | Upsample;

  constructor(blocks: ResnetBlock[], attns: AttnBlock[]) {
    super();
    this.block = this.add('block', new ModuleList(blocks));
    this.attn = this.add('attn', new ModuleList(attns));
  }

  setResample(name: 'downsample' | 'upsample', m: Downsample | Upsample): void {
    this.resample = this.add(name, m);
  }

  /** The level's blocks, each followed by its attention when the level has attention. */
  forward(x: Tensor, zq?: Tensor): Tensor {
    let h = x;
    for (let j = 0; j < this.block.length; j++) {
      h = this.block.at(j).forward(h, zq);
      if (this.attn.length > 0) h = this.attn.at(j).forward(h, zq);
    }
    return h;
  }
}

/** `mid`: ResnetBlock → AttnBlock → ResnetBlock at the lowest resolution. */
export class MidBlock extends Module {
  readonly block_1: ResnetBlock;
  readonly attn_1: AttnBlock;
  readonly block_2: ResnetBlock;

  constructor(channels: number, opts: { dropout?: number; norm?: NormFactory } = {}) {
    super();
    this.block_1 = this.add('block_1', new ResnetBlock(channels, channels, opts));
    this.attn_1 = this.add('attn_1', new AttnBlock(channels, { norm: opts.norm }));
    this.block_2 = this.add('block_2', new ResnetBlock(channels, channels, opts));
  }

  forward(x: Tensor, zq?: Tensor): Tensor {
    return this.block_2.forward(this.attn_1.forward(this.block_1.forward(x, zq), zq), zq);
  }
}

// ---------------------------------------------------------------- encoder / decoder

/** Image [B, inChannels, H, W] → latent [B, zChannels (×2 if doubleZ), H/f, W/f]. */
export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down: ModuleList<Level>;
  readonly mid: MidBlock;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(readonly cfg: DDConfig) {
    super();
    const { ch, chMult, numResBlocks, attnResolutions, dropout } = cfg;
    this.conv_in = this.add('conv_in', new Conv2d(cfg.inChannels, ch, 3, { padding: 1 }));
    this.down = this.add('down', new ModuleList<Level>());
    let res = cfg.resolution;
    let blockIn = ch;
    for (let i = 0; i < chMult.length; i++) {
      const blockOut = ch * chMult[i]!;
      const blocks: ResnetBlock[] = [];
      const attns: AttnBlock[] = [];
      for (let j = 0; j < numResBlocks; j++) {
        blocks.push(new ResnetBlock(blockIn, blockOut, { dropout }));
        blockIn = blockOut;
        if (attnResolutions.includes(res)) attns.push(new AttnBlock(blockIn));
      }
      const level = new Level(blocks, attns);
      if (i !== chMult.length - 1) {
        level.setResample('downsample', new Downsample(blockIn, cfg.resampWithConv));
        res = Math.floor(res / 2);
      }
      this.down.append(level);
    }
    this.mid = this.add('mid', new MidBlock(blockIn, { dropout }));
    this.norm_out = this.add('norm_out', Normalize(blockIn));
    this.conv_out = this.add('conv_out', new Conv2d(blockIn, cfg.doubleZ ? 2 * cfg.zChannels : cfg.zChannels, 3, { padding: 1 }));
  }

  forward(x: Tensor): Tensor {
    let h = this.conv_in.forward(x);
    for (const level of this.down) {
      h = level.forward(h);
      if (level.resample) h = level.resample.forward(h);
    }
    h = this.mid.forward(h);
    return this.conv_out.forward(swish(this.norm_out.forward(h)));
  }
}

/**
 * Latent [B, zChannels, h, w] → image [B, outCh, h·f, w·f] (no tanh). `norm` picks the normalization
 * (taming: GroupNorm; MoVQ: SpatialNorm, which then needs `zq` in forward).
 */
export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly mid: MidBlock;
  readonly up: ModuleList<Level>;
  readonly norm_out: NormLayer;
  readonly conv_out: Conv2d;

  constructor(
    readonly cfg: DDConfig,
    opts: { norm?: NormFactory } = {},
  ) {
    super();
    const norm = opts.norm ?? Normalize;
    const { ch, chMult, numResBlocks, attnResolutions, dropout } = cfg;
    const levels = chMult.length;
    let blockIn = ch * chMult[levels - 1]!;
    let res = Math.floor(cfg.resolution / 2 ** (levels - 1));
    this.conv_in = this.add('conv_in', new Conv2d(cfg.zChannels, blockIn, 3, { padding: 1 }));
    this.mid = this.add('mid', new MidBlock(blockIn, { dropout, norm }));
    // Built from the lowest resolution up, but stored so that up.0 is the highest resolution
    // (taming prepends each level), which is what the checkpoint keys expect.
    const built: Level[] = [];
    for (let i = levels - 1; i >= 0; i--) {
      const blockOut = ch * chMult[i]!;
      const blocks: ResnetBlock[] = [];
      const attns: AttnBlock[] = [];
      for (let j = 0; j < numResBlocks + 1; j++) {
        blocks.push(new ResnetBlock(blockIn, blockOut, { dropout, norm }));
        blockIn = blockOut;
        if (attnResolutions.includes(res)) attns.push(new AttnBlock(blockIn, { norm }));
      }
      const level = new Level(blocks, attns);
      if (i !== 0) {
        level.setResample('upsample', new Upsample(blockIn, cfg.resampWithConv));
        res *= 2;
      }
      built.unshift(level);
    }
    this.up = this.add('up', new ModuleList(built));
    this.norm_out = this.add('norm_out', norm(blockIn));
    this.conv_out = this.add('conv_out', new Conv2d(blockIn, cfg.outCh, 3, { padding: 1 }));
  }

  forward(z: Tensor, zq?: Tensor): Tensor {
    let h = this.mid.forward(this.conv_in.forward(z), zq);
    for (let i = this.up.length - 1; i >= 0; i--) {
      const level = this.up.at(i);
      h = level.forward(h, zq);
      if (level.resample) h = level.resample.forward(h);
    }
    return this.conv_out.forward(swish(this.norm_out.forward(h, zq)));
  }
}
