// Training a prior (autoregressive or MaskGIT) over a frozen tokenizer's tokens. The dataset is
// encoded once up front (optionally with horizontally flipped copies), so each step is only the
// transformer. Every random choice is a function of (seed, step), like the data loader's, so a
// resumed run continues exactly. Plugs into runTraining().
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, EMA, warmupCosine, type LambdaLR } from '../optim/index.js';
import { Rng, classBalancedOrder, imagesToGrid, writePng, type Dataset } from '../data/index.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { PriorModel, HierarchicalPrior, PRIOR_LEVELS, flattenTokens, type PriorModelConfig } from '../priors/index.js';
import type { CheckpointParts } from './checkpoint.js';
import type { Trainable } from './run.js';
import { checkpointMismatch } from './config.js';
import type { PriorTrainConfig } from './prior-config.js';

export type { PriorTrainConfig } from './prior-config.js';

export interface PriorTrainerOptions {
  config: PriorTrainConfig;
  tokenizer: Tokenizer;
  train: Dataset;
  /** Dataset spec, recorded in the model file. */
  data: string;
  log?: (line: string) => void;
}

/** An image batch → flat token sequences [B, N]: every level of a multi-level tokenizer, top first, like a hierarchical prior's. */
function encodeFlat(tokenizer: Tokenizer, images: Tensor): Tensor {
  return tokenizer.levels.length > 1 ? T.cat(tokenizer.encodeLevels(images).map(flattenTokens), 1) : flattenTokens(tokenizer.encode(images));
}

/** Encodes a dataset to flat token sequences [N, h·w·c] (multi-level: all levels, top first) in batches (no gradients). */
export function encodeDataset(tokenizer: Tokenizer, ds: Dataset, opts: { flip?: boolean; batchSize?: number } = {}): { tokens: Tensor; labels: Tensor } {
  const bs = opts.batchSize ?? 128;
  const toks: Tensor[] = [];
  const labs: Tensor[] = [];
  tokenizer.eval();
  for (let s = 0; s < ds.size; s += bs) {
    const idx = Array.from({ length: Math.min(bs, ds.size - s) }, (_, i) => s + i);
    T.tidy(() => {
      const { images, labels } = ds.batch(idx);
      toks.push(encodeFlat(tokenizer, images).keep());
      labs.push(labels.keep());
      if (opts.flip) {
        toks.push(encodeFlat(tokenizer, images.flip([3]).contiguous()).keep());
        labs.push(labels.clone().keep());
      }
    });
  }
  const out = T.tidy(() => ({ tokens: T.cat(toks).keep(), labels: T.cat(labs).keep() }));
  for (const t of [...toks, ...labs]) t.dispose();
  return out;
}

export class PriorTrainer implements Trainable {
  readonly config: PriorTrainConfig;
  readonly model: PriorModel;
  readonly opt: AdamW;
  readonly sched: LambdaLR;
  readonly ema: EMA | null;
  readonly tokens: Tensor;
  readonly labels: Tensor;
  readonly classNames: string[];
  #epoch = 0;
  #pos = 0;
  #order: Int32Array;
  /** Each training sequence's class, for class-balanced epochs (--class-balance); null otherwise. */
  readonly #classOf: number[] | null;
  /** The parameters this run trains (a hierarchical prior's --level: that level's only). */
  readonly #trained: Tensor[];

  constructor(o: PriorTrainerOptions) {
    const c = o.config;
    this.config = c;
    const tok = o.tokenizer;
    const size = o.train.get(0).shape;
    const imageSize: [number, number] = [size[1], size[2]];
    const grid: [number, number] = [imageSize[0] / tok.downsample, imageSize[1] / tok.downsample];
    this.classNames = c.conditional ? [...o.train.classNames] : [];
    if (c.conditional && this.classNames.length < 2) {
      throw new Error(`the dataset has ${this.classNames.length} class(es): a class-conditional prior needs labels (use --unconditional)`);
    }
    // A multi-level tokenizer (VQ-VAE-2) gets a hierarchical prior: one c.arch prior per level, same size.
    const levels = tok.levels;
    const hier = levels.length > 1;
    if (!hier && c.level !== null) {
      throw new Error(`--level applies to hierarchical priors, over a multi-level tokenizer such as vqvae2; this ${tok.kind} tokenizer has one token level`);
    }
    if (hier && levels.length !== PRIOR_LEVELS.length)
      throw new Error(`a hierarchical prior has ${PRIOR_LEVELS.length} levels; this tokenizer has ${levels.length}`);
    if (hier && c.arch === 'diffusion') throw new Error('a hierarchical prior has autoregressive or MaskGIT levels (--arch ar|maskgit)');
    for (const l of hier ? levels : []) {
      if (imageSize[0] % l.downsample || imageSize[1] % l.downsample)
        throw new Error(`image size ${imageSize.join('×')} is not a multiple of the ${l.name} level's downsampling factor ${l.downsample}`);
    }
    const numClasses = this.classNames.length;
    const levelPrior = (l: (typeof levels)[number]) => ({
      ...c.model,
      codebookSize: l.codebookSize,
      grid: [imageSize[0] / l.downsample, imageSize[1] / l.downsample] as [number, number],
      tokensPerPosition: l.tokensPerPosition,
      numClasses,
    });
    const modelConfig: PriorModelConfig = {
      arch: hier ? 'hierarchical' : c.arch,
      prior: hier
        ? { arch: c.arch as 'ar' | 'maskgit', top: levelPrior(levels[0]!), bottom: levelPrior(levels[1]!) }
        : { ...c.model, codebookSize: tok.codebookSize, grid, tokensPerPosition: tok.tokensPerPosition, numClasses },
      tokenizer: { kind: tok.kind, config: tok.config },
      imageSize,
      classNames: this.classNames,
      data: o.data,
    };
    const t0 = performance.now();
    const enc = encodeDataset(tok, o.train, { flip: c.flip });
    this.tokens = enc.tokens;
    this.labels = enc.labels;
    o.log?.(
      `encoded ${this.tokens.size(0).toLocaleString('en-US')} training images${c.flip ? ' (with mirrored copies)' : ''} to ${hier ? levels.map((l) => `${l.name} ${imageSize[0] / l.downsample}×${imageSize[1] / l.downsample}`).join(' + ') : grid.join('×')}${tok.tokensPerPosition > 1 ? `×${tok.tokensPerPosition}` : ''} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (this.tokens.size(0) < c.batchSize) throw new Error(`${this.tokens.size(0)} training sequences give no batch of ${c.batchSize}`);
    const balance = c.classBalance ?? 0;
    if (balance > 0 && !c.conditional) throw new Error('class-balanced epochs need class labels; this prior is unconditional');
    this.#classOf = balance > 0 ? this.labels.toArray() : null;
    T.manualSeed(c.seed);
    this.model = PriorModel.create(modelConfig, tok);
    tok.eval();
    for (const p of tok.parameters()) p.requiresGrad_(false);
    const prior = this.model.prior;
    if (c.from !== null) this.#startFrom(c.from);
    // --level: only that level learns; the other keeps its weights (from --from, or as initialised).
    const trainedLevels = c.level === null ? PRIOR_LEVELS : [c.level];
    if (prior instanceof HierarchicalPrior) prior.trainLevels = trainedLevels;
    const isTrained = (name: string): boolean => !(prior instanceof HierarchicalPrior) || trainedLevels.some((l) => name.startsWith(`${l}.`));
    // No weight decay on norms, biases and embeddings (GPT practice).
    const decay: Tensor[] = [];
    const noDecay: Tensor[] = [];
    this.#trained = [];
    for (const [name, p] of prior.namedParameters()) {
      if (!isTrained(name)) {
        p.requiresGrad_(false);
        continue;
      }
      this.#trained.push(p);
      (p.shape.length >= 2 && !name.includes('emb') ? decay : noDecay).push(p);
    }
    this.opt = new AdamW(
      [
        { params: decay, weightDecay: c.weightDecay },
        { params: noDecay, weightDecay: 0 },
      ],
      { lr: c.lr, betas: [0.9, 0.95] },
    );
    this.sched = warmupCosine(this.opt, { warmupSteps: Math.min(c.warmup, c.steps), totalSteps: c.steps, minFactor: 0.1 });
    this.ema = c.emaDecay === null ? null : new EMA(this.#trained, { decay: c.emaDecay });
    this.#order = this.#permutation(0);
  }

  /** --from: the prior weights of an earlier run over the same tokenizer, prior shape and classes (a level trained before, or a prior fine-tuned on other data). */
  #startFrom(path: string): void {
    const from = PriorModel.load(path);
    try {
      const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
      if (from.arch !== this.model.arch || !same(from.config.prior, this.model.config.prior)) {
        throw new Error(
          `--from ${path}: its prior (${from.arch}) is not the one this run builds (${this.model.arch}, same sizes and classes): give a run of the same tokenizer and --dim/--depth/--heads`,
        );
      }
      if (!same(from.config.tokenizer, this.model.config.tokenizer) || !same(from.config.classNames, this.classNames)) {
        throw new Error(`--from ${path}: it was trained over another tokenizer or other classes`);
      }
      const sd = from.tokenizer.stateDict();
      const mine = this.model.tokenizer.stateDict();
      const differs = Object.keys(mine).some((k) => !sd[k] || !T.tidy(() => sd[k]!.equal(mine[k]!)));
      if (differs) throw new Error(`--from ${path}: its tokenizer weights differ from --tokenizer's`);
      T.noGrad(() => this.model.prior.loadStateDict(from.prior.stateDict()));
    } finally {
      from.dispose();
    }
  }

  get prior() {
    return this.model.prior;
  }

  #permutation(epoch: number): Int32Array {
    const rng = new Rng(this.config.seed, 'prior-perm', epoch);
    if (this.#classOf) return classBalancedOrder(this.#classOf, this.classNames.length, this.config.classBalance!, rng);
    return rng.permutation(this.tokens.size(0));
  }

  #nextIndices(): Int32Array {
    const bs = this.config.batchSize;
    if (this.#pos + bs > this.#order.length) {
      this.#epoch++;
      this.#pos = 0;
      this.#order = this.#permutation(this.#epoch);
    }
    const idx = this.#order.slice(this.#pos, this.#pos + bs);
    this.#pos += bs;
    return idx;
  }

  trainStep(step: number): Record<string, number> {
    const idx = T.tensor(BigInt64Array.from(this.#nextIndices(), (i) => BigInt(i)));
    const tokens = this.tokens.indexSelect(0, idx);
    const labels = this.config.conditional ? this.labels.indexSelect(0, idx) : null;
    // Masks and label dropout drawn from (seed, step): exact on resume.
    const g = new T.Generator(new Rng(this.config.seed, 'prior-step', step).nextU32());
    this.prior.train();
    this.opt.zeroGrad();
    const prior = this.prior;
    const parts = prior instanceof HierarchicalPrior ? prior.levelLosses(tokens, labels, g) : null;
    const loss = parts ? (parts.top && parts.bottom ? parts.top.add(parts.bottom) : (parts.top ?? parts.bottom)!) : prior.loss(tokens, labels, g);
    loss.backward();
    this.opt.step();
    this.sched.step();
    this.ema?.update(this.#trained);
    const out: Record<string, number> = { loss: loss.item(), lr: this.opt.paramGroups[0]!.lr };
    if (parts?.top) out.loss_top = parts.top.item();
    if (parts?.bottom) out.loss_bottom = parts.bottom.item();
    return out;
  }

  checkpointParts(): CheckpointParts {
    const parts: CheckpointParts = { modules: { prior: this.prior }, optimizers: { prior: this.opt }, schedulers: { lr: this.sched } };
    if (this.ema) parts.emas = { prior: this.ema };
    return parts;
  }

  extraState(): unknown {
    return { epoch: this.#epoch, pos: this.#pos, config: this.config };
  }

  loadExtraState(extra: unknown): void {
    const e = extra as { epoch: number; pos: number; config: unknown };
    // Everything but the length must match; a raised --steps stretches the cosine schedule.
    const diff = checkpointMismatch(e.config, this.config);
    if (diff !== undefined) throw new Error(`--resume: the checkpoint was trained with another configuration (${diff} differs from config.json)`);
    this.#epoch = e.epoch;
    this.#pos = e.pos;
    this.#order = this.#permutation(e.epoch);
  }

  withEma<R>(fn: () => R): R {
    return this.ema ? this.ema.withAveraged(this.#trained, fn) : fn();
  }

  /** A sample grid: one row per class (up to 10 classes, 8 samples each), or 4 rows unconditional. */
  sampleGrid(opts: { perClass?: number; seed?: number } = {}): Tensor {
    const per = opts.perClass ?? 8;
    const rows = this.classNames.length ? Math.min(10, this.classNames.length) : 4;
    const classes = Array.from({ length: rows * per }, (_, i) => (this.classNames.length ? Math.floor(i / per) : null));
    return this.withEma(() =>
      T.tidy(() => {
        const imgs = this.model.sample({ classes, generator: new T.Generator(opts.seed ?? 0) });
        this.prior.train();
        return imagesToGrid(imgs, { nrow: per }).keep();
      }),
    );
  }

  async writeArtifacts(dir: string, step: number): Promise<void> {
    const grid = this.sampleGrid();
    mkdirSync(join(dir, 'samples'), { recursive: true });
    await writePng(join(dir, 'samples', `samples-${String(step).padStart(6, '0')}.png`), grid);
    await writePng(join(dir, 'samples-latest.png'), grid);
    grid.dispose();
  }

  writeModel(dir: string): void {
    this.withEma(() => this.model.save(join(dir, 'model.safetensors')));
  }
}
