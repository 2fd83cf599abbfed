// Training a prior (autoregressive or MaskGIT) over a frozen tokenizer's tokens. The dataset is
// encoded once up front (optionally with horizontally flipped copies), so each step is only the
// transformer. Every random choice is a function of (seed, step), like the data loader's, so a
// resumed run continues exactly. Plugs into runTraining().
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, EMA, warmupCosine, type LambdaLR } from '../optim/index.js';
import { Rng, imagesToGrid, writePng, type Dataset } from '../data/index.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { PriorModel, flattenTokens, type PriorModelConfig } from '../priors/index.js';
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

/** Encodes a dataset to flat token sequences [N, h·w·c] in batches (no gradients). */
export function encodeDataset(tokenizer: Tokenizer, ds: Dataset, opts: { flip?: boolean; batchSize?: number } = {}): { tokens: Tensor; labels: Tensor } {
  const bs = opts.batchSize ?? 128;
  const toks: Tensor[] = [];
  const labs: Tensor[] = [];
  tokenizer.eval();
  for (let s = 0; s < ds.size; s += bs) {
    const idx = Array.from({ length: Math.min(bs, ds.size - s) }, (_, i) => s + i);
    T.tidy(() => {
      const { images, labels } = ds.batch(idx);
      toks.push(flattenTokens(tokenizer.encode(images)).keep());
      labs.push(labels.keep());
      if (opts.flip) {
        toks.push(flattenTokens(tokenizer.encode(images.flip([3]).contiguous())).keep());
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
    const modelConfig: PriorModelConfig = {
      arch: c.arch,
      prior: { ...c.model, codebookSize: tok.codebookSize, grid, tokensPerPosition: tok.tokensPerPosition, numClasses: this.classNames.length },
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
      `encoded ${this.tokens.size(0).toLocaleString('en-US')} training images${c.flip ? ' (with mirrored copies)' : ''} to ${grid.join('×')}${tok.tokensPerPosition > 1 ? `×${tok.tokensPerPosition}` : ''} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (this.tokens.size(0) < c.batchSize) throw new Error(`${this.tokens.size(0)} training sequences give no batch of ${c.batchSize}`);
    T.manualSeed(c.seed);
    this.model = PriorModel.create(modelConfig, tok);
    tok.eval();
    for (const p of tok.parameters()) p.requiresGrad_(false);
    const prior = this.model.prior;
    // No weight decay on norms, biases and embeddings (GPT practice).
    const decay: Tensor[] = [];
    const noDecay: Tensor[] = [];
    for (const [name, p] of prior.namedParameters()) (p.shape.length >= 2 && !name.includes('emb') ? decay : noDecay).push(p);
    this.opt = new AdamW(
      [
        { params: decay, weightDecay: c.weightDecay },
        { params: noDecay, weightDecay: 0 },
      ],
      { lr: c.lr, betas: [0.9, 0.95] },
    );
    this.sched = warmupCosine(this.opt, { warmupSteps: Math.min(c.warmup, c.steps), totalSteps: c.steps, minFactor: 0.1 });
    this.ema = c.emaDecay === null ? null : new EMA(prior.parameters(), { decay: c.emaDecay });
    this.#order = this.#permutation(0);
  }

  get prior() {
    return this.model.prior;
  }

  #permutation(epoch: number): Int32Array {
    return new Rng(this.config.seed, 'prior-perm', epoch).permutation(this.tokens.size(0));
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
    const loss = this.prior.loss(tokens, labels, g);
    loss.backward();
    this.opt.step();
    this.sched.step();
    this.ema?.update(this.prior.parameters());
    return { loss: loss.item(), lr: this.opt.paramGroups[0]!.lr };
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
    return this.ema ? this.ema.withAveraged(this.prior.parameters(), fn) : fn();
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
