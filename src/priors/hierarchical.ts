// VQ-VAE-2's hierarchical prior (Razavi et al., 2019): a class-conditional prior over the coarse top
// code, and a prior over the fine bottom code conditioned on the top code. Both levels are the
// project's own priors (autoregressive with a KV cache, or MaskGIT — one architecture for both
// levels); the bottom one is built with a `condition` (CodeCondition in common.ts): the top code's
// embedding, nearest-upsampled to the bottom grid, added to every bottom position.
//
// Why an added embedding rather than cross-attention: the top code is spatially aligned with the
// bottom grid (each top cell covers a 2×2 block of bottom cells), so the aligned vector is exactly the
// context a bottom position needs, the bottom transformer's self-attention already spreads it
// globally, and it costs one lookup instead of a cross-attention layer per block (rosinality's
// PixelSNAIL bottom prior also conditions by adding an upsampled map of the top code).
//
// One flat token sequence per image, top level first then bottom ([B, Nt + Nb], each level
// flattened like a single-level prior's), so PriorModel, known tokens and masks keep one shape.
import * as T from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { Module } from '../nn/index.js';
import { ConfigError, checkEnum, isObject, rejectUnknownKeys } from '../io/validate.js';
import { ARPrior, type ARExtras, type ARPriorConfig } from './autoregressive.js';
import { MaskGIT, type MaskGITConfig, type MaskGITExtras } from './maskgit.js';
import { checkConditionShape, rejectOptions, SHARED_GENERATE_KEYS, type Prior, type PriorGenerateOptions, type StepInfo } from './common.js';

export const LEVEL_ARCHS = ['ar', 'maskgit'] as const;
export type LevelArch = (typeof LEVEL_ARCHS)[number];
export const PRIOR_LEVELS = ['top', 'bottom'] as const;
export type PriorLevel = (typeof PRIOR_LEVELS)[number];

export interface HierarchicalPriorConfig {
  /** Architecture of both levels. */
  arch: LevelArch;
  /** The top level's prior (its shape is the tokenizer's top level). */
  top: ARPriorConfig | MaskGITConfig;
  /** The bottom level's prior; its `condition` is derived from `top` and must not be given. */
  bottom: ARPriorConfig | MaskGITConfig;
}

type LevelPrior = ARPrior | MaskGIT;
export type HierarchicalExtras = ARExtras & MaskGITExtras;

export class HierarchicalPrior extends Module implements Prior<HierarchicalExtras> {
  readonly kind = 'hierarchical' as const;
  readonly label: string;
  readonly hconfig: HierarchicalPriorConfig;
  readonly top: LevelPrior;
  readonly bottom: LevelPrior;
  /** Tokens per image, both levels: Nt + Nb. */
  readonly seqLen: number;
  /** The levels loss() trains (both unless a trainer trains one level). */
  trainLevels: readonly PriorLevel[] = PRIOR_LEVELS;

  constructor(cfg: HierarchicalPriorConfig) {
    super();
    const who = 'hierarchical prior';
    if (!isObject(cfg)) throw new ConfigError(`${who}: config must be an object`);
    rejectUnknownKeys(cfg, ['arch', 'top', 'bottom'], who);
    const arch = checkEnum(cfg.arch, LEVEL_ARCHS, `${who}: arch`);
    for (const l of PRIOR_LEVELS) {
      if (!isObject(cfg[l])) throw new ConfigError(`${who}: ${l}: expected the level's prior config`);
      if ((cfg[l] as { condition?: unknown }).condition !== undefined)
        throw new ConfigError(`${who}: ${l}.condition: the levels' conditioning is derived (the bottom sees the top); remove it`);
    }
    const t = cfg.top;
    const b = cfg.bottom;
    if (t.numClasses !== b.numClasses) throw new ConfigError(`${who}: top has ${t.numClasses} classes but bottom ${b.numClasses}`);
    if (Array.isArray(t.grid) && Array.isArray(b.grid)) {
      checkConditionShape({ codebookSize: t.codebookSize, grid: t.grid, tokensPerPosition: t.tokensPerPosition }, b.grid, `${who}: bottom`);
    }
    this.hconfig = cfg;
    const make = (c: ARPriorConfig | MaskGITConfig): LevelPrior => (arch === 'ar' ? new ARPrior(c as ARPriorConfig) : new MaskGIT(c as MaskGITConfig));
    this.top = this.add('top', make(t));
    const condition = { codebookSize: t.codebookSize, grid: t.grid, tokensPerPosition: t.tokensPerPosition };
    this.bottom = this.add('bottom', make({ ...b, condition }));
    this.label = `hierarchical ${this.top.label}`;
    this.seqLen = this.top.seqLen + this.bottom.seqLen;
  }

  /** The top level's config: classes, class dropout and sampling checks go by it (both levels share them). */
  get config(): LevelPrior['config'] {
    return this.top.config;
  }
  get levels(): readonly LevelPrior[] {
    return [this.top, this.bottom];
  }
  get extraOptions(): readonly (keyof HierarchicalExtras & string)[] {
    return this.top.extraOptions as readonly (keyof HierarchicalExtras & string)[];
  }
  get editsAnywhere(): boolean {
    return this.top.editsAnywhere;
  }
  get conditional(): boolean {
    return this.top.conditional;
  }

  editDefaults(o: Partial<HierarchicalExtras>): Partial<HierarchicalExtras> {
    return this.top.editDefaults(o);
  }

  /** Sequences [B, Nt + Nb] → [top [B, Nt], bottom [B, Nb]]. */
  split(seq: Tensor): [Tensor, Tensor] {
    if (seq.shape.length !== 2 || seq.size(1) !== this.seqLen) {
      throw new Error(
        `hierarchical prior: expected tokens [B, ${this.seqLen}] (top ${this.top.seqLen} then bottom ${this.bottom.seqLen}), got [${seq.shape.join(', ')}]`,
      );
    }
    return [seq.narrow(1, 0, this.top.seqLen), seq.narrow(1, this.top.seqLen, this.bottom.seqLen)];
  }

  /** The training loss of each level in `levels`: the bottom one is conditioned on the true top code. */
  levelLosses(
    tokens: Tensor,
    classes: Tensor | null,
    generator?: Generator,
    levels: readonly PriorLevel[] = this.trainLevels,
  ): Partial<Record<PriorLevel, Tensor>> {
    const [top, bottom] = this.split(tokens);
    const out: Partial<Record<PriorLevel, Tensor>> = {};
    if (levels.includes('top')) out.top = this.top.loss(top, classes, generator);
    if (levels.includes('bottom')) out.bottom = this.bottom.loss(bottom, classes, generator, top);
    return out;
  }

  /** Sum of the trained levels' losses (each a mean cross-entropy). */
  loss(tokens: Tensor, classes: Tensor | null, generator?: Generator): Tensor {
    const l = this.levelLosses(tokens, classes, generator);
    return l.top && l.bottom ? l.top.add(l.bottom) : (l.top ?? l.bottom)!;
  }

  /**
   * Samples the top code, then the bottom code given it: [B, Nt + Nb]. Known tokens and masks span
   * both levels (top first); each level keeps its known tokens. Classes, guidance and the sampling
   * options apply to both levels.
   */
  generate(o: PriorGenerateOptions & Partial<HierarchicalExtras> = {}): Tensor {
    const who = 'HierarchicalPrior.generate';
    rejectOptions(o, [...SHARED_GENERATE_KEYS, ...this.extraOptions], who, this.label);
    const n = this.seqLen;
    for (const [name, t, dtype] of [
      ['known tokens', o.known, 'int64'],
      ['mask', o.mask, 'bool'],
    ] as const) {
      if (t === undefined) continue;
      const s = t.shape;
      if (s.length !== 2 || s[1] !== n || t.dtype !== dtype)
        throw new Error(
          `${who}: ${name} must be ${dtype} [B, ${n}] (top ${this.top.seqLen} then bottom ${this.bottom.seqLen}), got ${t.dtype} [${s.join(', ')}]`,
        );
    }
    if (o.mask && !o.known) throw new Error(`${who}: a mask needs the known tokens it applies to`);
    const [kt, kb] = o.known ? this.split(o.known) : [undefined, undefined];
    const [mt, mb] = o.mask ? this.split(o.mask) : [undefined, undefined];
    let topSteps = 0;
    const bottomSteps = this.bottom instanceof ARPrior ? this.bottom.seqLen : (o.steps ?? 8);
    const onTop = o.onStep
      ? (i: StepInfo) => {
          topSteps = i.steps;
          o.onStep!({ step: i.step, steps: i.steps + bottomSteps, masked: i.masked.map((m) => m + this.bottom.seqLen) });
        }
      : undefined;
    const onBottom = o.onStep ? (i: StepInfo) => o.onStep!({ step: topSteps + i.step, steps: topSteps + i.steps, masked: i.masked }) : undefined;
    return T.tidy(() => {
      const top = this.top.generate({ ...o, known: kt, mask: mt, onStep: onTop } as never);
      const bottom = this.bottom.generate({ ...o, known: kb, mask: mb, onStep: onBottom, condition: top } as never);
      return T.cat([top, bottom], 1);
    });
  }
}
