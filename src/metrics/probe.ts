// Linear probe of a prior's features (iGPT, Chen et al. 2020; VIM, Yu et al. 2022): the prior stays
// frozen, each image's tokens go through it unconditionally (null class; an AR prior on its
// teacher-forced sequence, MaskGIT with nothing masked), block k's outputs are averaged over the
// sequence, and a linear softmax classifier trained on the training split is scored by top-1
// accuracy on the validation split. Every block is probed unless one is asked for. Baselines: the
// same probe on raw pixels, and on a randomly initialised prior of the same configuration.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Adam } from '../optim/index.js';
import { loadDataset, formatDatasetSpec, parseDatasetSpec, type Dataset } from '../data/index.js';
import { PriorModel, PRIOR_ARCHS } from '../priors/index.js';
import { EvalOptionsError, evalSplit, runDefaults, type EvalCallbacks } from './evaluate.js';

export interface LinearProbeOptions {
  /** Full-batch Adam steps (300). */
  iters?: number;
  /** Adam learning rate (0.01). */
  lr?: number;
  /** L2 penalty on the weights (1e-3). */
  weightDecay?: number;
}

export interface LinearProbe {
  /** Top-1 accuracy on (x, y). */
  accuracy(x: Tensor, y: Tensor): number;
  /** Predicted classes [N] for features x [N, D]. */
  predict(x: Tensor): Tensor;
  dispose(): void;
}

/**
 * A linear softmax classifier on features x [N, D] with labels y [N] (int64, 0..classes−1):
 * features standardised with the training mean/std, cross-entropy + weightDecay·‖W‖², full-batch Adam.
 */
export function trainLinearProbe(x: Tensor, y: Tensor, classes: number, o: LinearProbeOptions = {}): LinearProbe {
  const iters = o.iters ?? 300;
  const lr = o.lr ?? 0.01;
  const wd = o.weightDecay ?? 1e-3;
  if (x.shape.length !== 2 || y.shape.length !== 1 || y.size(0) !== x.size(0)) {
    throw new Error(`trainLinearProbe: expected features [N, D] and labels [N], got [${x.shape.join(', ')}] and [${y.shape.join(', ')}]`);
  }
  if (!(classes >= 2)) throw new Error(`trainLinearProbe: need at least 2 classes, got ${classes}`);
  const d = x.size(1);
  const mean = T.noGrad(() => x.mean([0], true).keep());
  const std = T.noGrad(() => x.std([0], true, true).clampMin(1e-6).keep());
  const w = T.zeros([d, classes]).requiresGrad_(true).keep();
  const b = T.zeros([classes]).requiresGrad_(true).keep();
  const opt = new Adam([w, b], { lr });
  const norm = (f: Tensor): Tensor => f.sub(mean).div(std);
  const xs = T.noGrad(() => norm(x).keep());
  for (let i = 0; i < iters; i++) {
    T.tidy(() => {
      opt.zeroGrad();
      const loss = T.crossEntropy(T.addmm(b, xs, w), y).add(w.square().sum().mul(wd));
      loss.backward();
      opt.step();
    });
  }
  xs.dispose();
  const predict = (f: Tensor): Tensor => T.noGrad(() => T.tidy(() => T.addmm(b, norm(f), w).argmax(1)));
  return {
    predict,
    accuracy: (f, t) => T.tidy(() => predict(f).eq(t).to('float32').mean().item()),
    dispose: () => {
      for (const t of [mean, std, w, b]) t.dispose();
    },
  };
}

export interface ProbeOptions extends EvalCallbacks {
  /** A prior model file or a loaded PriorModel (AR or MaskGIT). */
  model: string | PriorModel;
  /** Dataset with class labels (default: the model's). */
  data?: string;
  /** Probe only this block (1-based); default: every block, the best reported. */
  layer?: number;
  /** Validation split size (default: the run's --val-count, else 500). */
  valCount?: number;
  /** At most this many training images, spread over the split (2000). */
  trainCount?: number;
  batchSize?: number;
  /** Seed of the random-init baseline prior (0). */
  seed?: number;
  probe?: LinearProbeOptions;
}

export interface ProbeRow {
  features: 'prior' | 'random-init prior' | 'pixels';
  /** Block (1-based), or null for pixels. */
  layer: number | null;
  dim: number;
  trainAccuracy: number;
  accuracy: number;
}

export interface ProbeResult {
  arch: string;
  data: string;
  size: number;
  classes: number;
  blocks: number;
  trainImages: number;
  valImages: number;
  /** The trained prior, one row per block probed. */
  rows: ProbeRow[];
  best: ProbeRow;
  /** The random-init prior, one row per block probed. */
  randomRows: ProbeRow[];
  randomBest: ProbeRow;
  pixels: ProbeRow;
}

type FeaturePrior = {
  kind: string;
  config: { depth: number; dim: number };
  transformer: { captureBlocks(fn: () => unknown): Tensor[] };
  prefixIds(c: readonly (number | null)[]): Tensor;
  forward(t: Tensor, p: Tensor): Tensor;
  eval(): unknown;
};

/** Mean over the sequence of each block's output for token sequences [B, N] → depth × [B, D]. */
export function blockFeatures(prior: FeaturePrior, tokens: Tensor): Tensor[] {
  return T.noGrad(() =>
    T.tidy(() => {
      const prefix = prior.prefixIds(Array.from({ length: tokens.size(0) }, () => null));
      const hs = prior.transformer.captureBlocks(() => prior.forward(tokens, prefix));
      return hs.map((h) => h.mean([1]).keep());
    }),
  );
}

function asFeaturePrior(prior: unknown, who: string): FeaturePrior {
  const p = prior as FeaturePrior & { kind: string; cond?: unknown };
  if ((p.kind !== 'ar' && p.kind !== 'maskgit') || p.cond) {
    throw new EvalOptionsError(
      `${who}: the probe reads an autoregressive or MaskGIT prior over one token level; this one is '${p.kind}'${p.cond ? ' conditioned on a coarser code' : ''}`,
    );
  }
  return p;
}

/** Evenly spread `n` of view's indices (stores may be ordered by class). */
function spread(size: number, n: number): number[] {
  const m = Math.min(size, n);
  return Array.from({ length: m }, (_, i) => Math.floor((i * size) / m));
}

export async function probePrior(o: ProbeOptions): Promise<ProbeResult> {
  const who = 'probe';
  const pm = typeof o.model === 'string' ? PriorModel.load(o.model) : o.model;
  try {
    const prior = asFeaturePrior(pm.prior, who);
    const depth = prior.config.depth;
    if (o.layer !== undefined && !(Number.isInteger(o.layer) && o.layer >= 1 && o.layer <= depth)) {
      throw new EvalOptionsError(`${who}: layer must be a block between 1 and ${depth} (the prior has ${depth} blocks), got ${o.layer}`);
    }
    const dataSpec = o.data ?? pm.config.data;
    if (dataSpec === undefined) throw new EvalOptionsError(`${who}: the model does not record its dataset; give one`);
    const spec = formatDatasetSpec(parseDatasetSpec(dataSpec));
    const run = typeof o.model === 'string' ? runDefaults(o.model) : undefined;
    const valCount = o.valCount ?? (run && run.data === spec ? run.valCount : undefined) ?? 500;
    const size = Math.min(...pm.config.imageSize);
    const channels: 1 | 3 = (pm.tokenizer as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
    const ds = await loadDataset(spec, { size, resize: size, channels, onWarning: o.onWarning });
    if (ds.numClasses < 2) throw new EvalOptionsError(`${who}: ${spec} has ${ds.numClasses} class(es); the probe needs labelled data with at least 2`);
    const train = evalSplit(ds, 'train', valCount);
    const val = evalSplit(ds, 'val', valCount);
    const trainIdx = spread(train.size, o.trainCount ?? 2000);
    const valIdx = spread(val.size, val.size);
    const batchSize = o.batchSize ?? 64;

    T.manualSeed(o.seed ?? 0);
    const random = asFeaturePrior(PRIOR_ARCHS[pm.arch](pm.config.prior as never), who);
    pm.prior.eval();
    random.eval();
    try {
      const collect = (view: Dataset, idx: number[], stage: string) => {
        const trained: Tensor[][] = Array.from({ length: depth }, () => []);
        const rand: Tensor[][] = Array.from({ length: depth }, () => []);
        const pixels: Tensor[] = [];
        const labels: Tensor[] = [];
        for (let s = 0; s < idx.length; s += batchSize) {
          T.tidy(() => {
            const { images, labels: y } = view.batch(idx.slice(s, s + batchSize));
            const tokens = pm.encode(images);
            blockFeatures(prior, tokens).forEach((f, i) => trained[i]!.push(f));
            blockFeatures(random, tokens).forEach((f, i) => rand[i]!.push(f));
            pixels.push(images.reshape([images.size(0), -1]).keep());
            labels.push(y.keep());
          });
          o.onProgress?.({ stage, done: Math.min(s + batchSize, idx.length), total: idx.length });
        }
        const cat = (ts: Tensor[]) => {
          const c = T.cat(ts, 0).keep();
          for (const t of ts) t.dispose();
          return c;
        };
        return { trained: trained.map(cat), rand: rand.map(cat), pixels: cat(pixels), labels: cat(labels) };
      };
      const tr = collect(train, trainIdx, 'train features');
      const va = collect(val, valIdx, 'validation features');
      const classes = ds.numClasses;
      const fit = (features: ProbeRow['features'], layer: number | null, xt: Tensor, xv: Tensor): ProbeRow => {
        const p = trainLinearProbe(xt, tr.labels, classes, o.probe);
        try {
          return { features, layer, dim: xt.size(1), trainAccuracy: p.accuracy(xt, tr.labels), accuracy: p.accuracy(xv, va.labels) };
        } finally {
          p.dispose();
        }
      };
      const layers = o.layer !== undefined ? [o.layer] : Array.from({ length: depth }, (_, i) => i + 1);
      const rows = layers.map((l) => fit('prior', l, tr.trained[l - 1]!, va.trained[l - 1]!));
      const randomRows = layers.map((l) => fit('random-init prior', l, tr.rand[l - 1]!, va.rand[l - 1]!));
      const pixels = fit('pixels', null, tr.pixels, va.pixels);
      for (const t of [...tr.trained, ...tr.rand, tr.pixels, tr.labels, ...va.trained, ...va.rand, va.pixels, va.labels]) t.dispose();
      const best = (rs: ProbeRow[]) => rs.reduce((a, r) => (r.accuracy > a.accuracy ? r : a));
      return {
        arch: pm.arch,
        data: spec,
        size,
        classes,
        blocks: depth,
        trainImages: trainIdx.length,
        valImages: valIdx.length,
        rows,
        best: best(rows),
        randomRows,
        randomBest: best(randomRows),
        pixels,
      };
    } finally {
      (random as unknown as { dispose?: () => void }).dispose?.();
    }
  } finally {
    if (typeof o.model === 'string') pm.dispose();
  }
}
