// Training a Tessera classifier (the feature network of the tessera-<dataset> metrics) on a labelled
// dataset: cross-entropy, AdamW with linear warmup then cosine decay, light augmentation (a small
// random translation, optionally a horizontal flip). Plugs into runTraining(); everything random is a
// function of (seed, step), so --resume continues bit-exactly.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, warmupCosine, type LambdaLR } from '../optim/index.js';
import { DataLoader, Rng, type Dataset, type DataLoaderState } from '../data/index.js';
import { writeFileAtomic } from '../io/index.js';
import { Classifier, saveClassifier } from '../metrics/classifier.js';
import type { CheckpointParts } from './checkpoint.js';
import type { Trainable } from './run.js';
import { checkpointMismatch } from './config.js';
import type { ClassifierTrainConfig } from './classifier-config.js';

export type { ClassifierTrainConfig } from './classifier-config.js';

export interface Evaluation {
  /** Top-1 accuracy in [0, 1]. */
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
  /** Images evaluated. */
  count: number;
}

export interface ClassifierTrainerOptions {
  config: ClassifierTrainConfig;
  train: Dataset;
  val: Dataset;
}

/** The file writeArtifacts keeps up to date: the latest validation result and its history. */
export const METRICS_FILE = 'metrics.json';

export class ClassifierTrainer implements Trainable {
  readonly config: ClassifierTrainConfig;
  readonly model: Classifier;
  readonly opt: AdamW;
  readonly sched: LambdaLR;
  readonly loader: DataLoader;
  readonly val: Dataset;

  constructor(o: ClassifierTrainerOptions) {
    const c = o.config;
    this.config = c;
    const [ch, h] = o.train.imageShape;
    if (ch !== c.model.inChannels || h !== c.model.size) {
      throw new Error(`classifier trainer: the data is ${ch}×${h}×${h} but the model takes ${c.model.inChannels}×${c.model.size}×${c.model.size}`);
    }
    if (o.train.numClasses !== c.model.classNames.length) {
      throw new Error(`classifier trainer: the data has ${o.train.numClasses} classes but the model ${c.model.classNames.length}`);
    }
    T.manualSeed(c.seed);
    this.model = new Classifier(c.model);
    const named = this.model.namedParameters();
    const decay = named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p);
    const noDecay = named.filter(([, p]) => p.ndim < 2).map(([, p]) => p);
    this.opt = new AdamW(
      [
        { params: decay, weightDecay: c.weightDecay },
        { params: noDecay, weightDecay: 0 },
      ],
      { lr: c.lr },
    );
    this.sched = warmupCosine(this.opt, { warmupSteps: Math.min(c.warmup, c.steps), totalSteps: c.steps });
    this.loader = new DataLoader(o.train, { batchSize: c.batchSize, dropLast: true, seed: c.seed });
    this.val = o.val;
  }

  /** Random translation by up to `shift` px (replicate padding) and optional flips; a function of (seed, step). */
  augment(images: Tensor, step: number): Tensor {
    const { shift, hflip } = this.config;
    if (shift === 0 && !hflip) return images;
    const rng = new Rng(this.config.seed, 'classifier-augment', step);
    const [b, , hh, ww] = images.shape as [number, number, number, number];
    const padded = shift > 0 ? T.pad(images, [shift, shift, shift, shift], 'replicate') : images;
    const rows: Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const dx = rng.int(2 * shift + 1);
      const dy = rng.int(2 * shift + 1);
      let r = padded.narrow(0, i, 1).narrow(2, dy, hh).narrow(3, dx, ww);
      if (hflip && rng.next() < 0.5) r = r.flip([3]);
      rows.push(r);
    }
    return T.cat(rows).contiguous();
  }

  trainStep(step: number): Record<string, number> {
    const { images, labels } = this.loader.next();
    const x = this.augment(images, step);
    const logits = this.model.forward(x);
    const loss = T.crossEntropy(logits, labels);
    this.opt.zeroGrad();
    loss.backward();
    this.opt.step();
    const lr = this.opt.paramGroups[0]!.lr;
    this.sched.step();
    const acc = T.noGrad(() => logits.argmax(1).eq(labels).float().mean().item());
    return { loss: loss.item(), acc, lr };
  }

  checkpointParts(): CheckpointParts {
    return { modules: { model: this.model }, optimizers: { model: this.opt }, schedulers: { lr: this.sched } };
  }

  extraState(): unknown {
    return { loader: this.loader.state(), config: this.config };
  }

  loadExtraState(extra: unknown): void {
    const e = extra as { loader?: DataLoaderState; config?: unknown };
    if (!e?.loader || !e.config) throw new Error('--resume: the checkpoint holds no classifier training state (was it written by another trainer?)');
    // Everything but the length must match; a raised --steps stretches the cosine schedule.
    const diff = checkpointMismatch(e.config, this.config);
    if (diff !== undefined) throw new Error(`--resume: the checkpoint was trained with another configuration (${diff} differs from config.json)`);
    this.loader.setState(e.loader);
  }

  /** Accuracy and loss on `ds` (default: the held-out split), at the trained size, in batches. */
  evaluate(ds: Dataset = this.val, batchSize = 256): Evaluation {
    let correct = 0;
    let lossSum = 0;
    const n = ds.size;
    for (let i = 0; i < n; i += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, n - i) }, (_, k) => i + k);
      const [c, l] = T.tidy(() =>
        T.noGrad(() => {
          const { images, labels } = ds.batch(idx);
          const logits = this.model.forward(images);
          return [logits.argmax(1).eq(labels).sum().item(), T.crossEntropy(logits, labels, null, 'sum').item()];
        }),
      );
      correct += c;
      lossSum += l;
    }
    return { accuracy: n ? correct / n : NaN, loss: n ? lossSum / n : NaN, count: n };
  }

  /** Validation accuracy into metrics.json (latest result plus the history of earlier evaluations). */
  writeArtifacts(dir: string, step: number): void {
    const ev = this.evaluate();
    const path = join(dir, METRICS_FILE);
    let history: ({ step: number } & Evaluation)[] = [];
    if (existsSync(path)) {
      try {
        const prev = JSON.parse(readFileSync(path, 'utf8')) as { history?: ({ step: number } & Evaluation)[] };
        // A resumed run drops evaluations past its checkpoint, as the JSONL log does.
        history = (prev.history ?? []).filter((h) => h.step < step);
      } catch {
        history = [];
      }
    }
    history.push({ step, ...ev });
    const doc = {
      classifier: this.model.name,
      dataset: this.config.model.dataset,
      step,
      valAccuracy: ev.accuracy,
      valLoss: ev.loss,
      valCount: ev.count,
      history,
    };
    writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(doc, null, 2) + '\n'));
  }

  writeModel(dir: string): void {
    saveClassifier(join(dir, 'model.safetensors'), this.model);
  }
}
