// Linear probe of a prior's features (iGPT, Chen et al. 2020; VIM, Yu et al. 2022): the prior stays
// frozen, each image's tokens go through it unconditionally (null class; an AR prior on its
// teacher-forced sequence, MaskGIT with nothing masked), block l's output is layer-normalised and
// averaged over the sequence (iGPT's f^l = mean_i n^l_i, n^l = layer_norm(h^l): the normalised input
// of the next block, or the final norm after the last one), and a linear softmax classifier trained
// on the training split is scored by top-1 accuracy on the validation split. Every block is probed
// unless one is asked for. Baselines: the same probe on raw pixels, and on a randomly initialised
// prior of the same configuration. The classifier's weight decay (per feature set) and the block
// reported are chosen on a held-out fifth of the training features, never on the validation split.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Adam } from '../optim/index.js';
import { loadDataset, formatDatasetSpec, parseDatasetSpec, type Dataset } from '../data/index.js';
import { PriorModel, PRIOR_ARCHS } from '../priors/index.js';
import { EvalOptionsError, evalSplit, runDefaults, type EvalCallbacks } from './evaluate.js';

/** The weight decays the probe chooses from (on held-out training features). */
export const PROBE_WEIGHT_DECAYS: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1];

export interface LinearProbeOptions {
  /** Full-batch Adam steps (300: on the MNIST AR prior's features and on pixels the loss is within 2% of its 3000-step value, accuracy within 0.6 points). */
  iters?: number;
  /** Adam learning rate (0.01). */
  lr?: number;
  /** L2 penalty on the weights; default: the best of PROBE_WEIGHT_DECAYS on a held-out fifth of the training features. */
  weightDecay?: number;
}

export interface LinearProbe {
  /** The weight decay it was trained with. */
  weightDecay: number;
  /** When the weight decay was chosen: the chosen one's accuracy on the held-out training features. */
  heldOutAccuracy: number | null;
  /** Top-1 accuracy on (x, y). */
  accuracy(x: Tensor, y: Tensor): number;
  /** Predicted classes [N] for features x [N, D]. */
  predict(x: Tensor): Tensor;
  dispose(): void;
}

/** Cross-entropy + wd·‖W‖² by full-batch Adam from zero weights (deterministic), features standardised with x's mean/std. */
function fitSoftmax(x: Tensor, y: Tensor, classes: number, iters: number, lr: number, wd: number, heldOut: number | null): LinearProbe {
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
    weightDecay: wd,
    heldOutAccuracy: heldOut,
    predict,
    accuracy: (f, t) => T.tidy(() => predict(f).eq(t).to('float32').mean().item()),
    dispose: () => {
      for (const t of [mean, std, w, b]) t.dispose();
    },
  };
}

/**
 * A linear softmax classifier on features x [N, D] with labels y [N] (int64, 0..classes−1):
 * features standardised with the training mean/std, cross-entropy + weightDecay·‖W‖², full-batch Adam.
 * Without a weightDecay, each of PROBE_WEIGHT_DECAYS is fitted on four fifths of (x, y) and scored on
 * the remaining fifth (every fifth row); the best (the smallest on ties) is refitted on all of (x, y).
 * Only the training data is seen, so the feature sets compared (a prior's blocks, pixels) are each
 * regularised as they need (a 2,352-pixel input overfits 2,000 images where 128 features do not).
 */
export function trainLinearProbe(x: Tensor, y: Tensor, classes: number, o: LinearProbeOptions = {}): LinearProbe {
  const iters = o.iters ?? 300;
  const lr = o.lr ?? 0.01;
  if (x.shape.length !== 2 || y.shape.length !== 1 || y.size(0) !== x.size(0)) {
    throw new Error(`trainLinearProbe: expected features [N, D] and labels [N], got [${x.shape.join(', ')}] and [${y.shape.join(', ')}]`);
  }
  if (!(classes >= 2)) throw new Error(`trainLinearProbe: need at least 2 classes, got ${classes}`);
  if (o.weightDecay !== undefined) return fitSoftmax(x, y, classes, iters, lr, o.weightDecay, null);
  const n = x.size(0);
  if (n < 5) throw new Error(`trainLinearProbe: choosing the weight decay holds out a fifth of the training features; need at least 5, got ${n}`);
  const rows = (keep: (i: number) => boolean) => T.tensor(Array.from({ length: n }, (_, i) => i).filter(keep), { dtype: 'int64' });
  let best = { wd: PROBE_WEIGHT_DECAYS[0]!, acc: -1 };
  T.tidy(() => {
    const fitIdx = rows((i) => i % 5 !== 0);
    const holdIdx = rows((i) => i % 5 === 0);
    const [xf, yf, xh, yh] = [x.indexSelect(0, fitIdx), y.indexSelect(0, fitIdx), x.indexSelect(0, holdIdx), y.indexSelect(0, holdIdx)];
    for (const wd of PROBE_WEIGHT_DECAYS) {
      const p = fitSoftmax(xf, yf, classes, iters, lr, wd, null);
      const acc = p.accuracy(xh, yh);
      p.dispose();
      if (acc > best.acc) best = { wd, acc };
    }
  });
  return fitSoftmax(x, y, classes, iters, lr, best.wd, best.acc);
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
  /** At most this many training images, spread over the split (default: the whole training split). */
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
  /** The classifier's weight decay, chosen on held-out training features. */
  weightDecay: number;
  /** Its accuracy on those held-out training features (null when the weight decay was given). */
  heldOutAccuracy: number | null;
  trainAccuracy: number;
  accuracy: number;
}

/**
 * The block a probe reports: the best on the held-out fifth of the training features (the first on
 * ties), so the validation split that scores it never chooses it, as it never chooses the weight
 * decay. Rows without a held-out accuracy (a weight decay was given) are chosen by validation accuracy.
 */
export function bestProbeRow(rows: readonly ProbeRow[]): ProbeRow {
  if (rows.length === 0) throw new Error('bestProbeRow: no rows');
  const score = rows.every((r) => r.heldOutAccuracy !== null) ? (r: ProbeRow) => r.heldOutAccuracy! : (r: ProbeRow) => r.accuracy;
  return rows.reduce((a, r) => (score(r) > score(a) ? r : a));
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
  /** The block chosen by bestProbeRow (on held-out training features). */
  best: ProbeRow;
  /** The random-init prior, one row per block probed. */
  randomRows: ProbeRow[];
  randomBest: ProbeRow;
  pixels: ProbeRow;
}

type Norm = { forward(x: Tensor): Tensor };
type FeaturePrior = {
  kind: string;
  config: { depth: number; dim: number };
  transformer: { captureBlocks(fn: () => unknown): Tensor[]; blocks: { at(i: number): { ln1: Norm } }; lnF: Norm };
  prefixIds(c: readonly (number | null)[]): Tensor;
  forward(t: Tensor, p: Tensor): Tensor;
  eval(): unknown;
};

/**
 * iGPT's features of each block for token sequences [B, N] → depth × [B, D]: block l's output h^l
 * through the LayerNorm that reads it in the model (block l+1's first norm; the final norm after the
 * last block), averaged over the sequence. Normalising each token first keeps a few large-norm
 * positions of the residual stream from dominating the average.
 */
export function blockFeatures(prior: FeaturePrior, tokens: Tensor): Tensor[] {
  return T.noGrad(() =>
    T.tidy(() => {
      const prefix = prior.prefixIds(Array.from({ length: tokens.size(0) }, () => null));
      const tr = prior.transformer;
      const hs = tr.captureBlocks(() => prior.forward(tokens, prefix));
      return hs.map((h, i) => (i + 1 < hs.length ? tr.blocks.at(i + 1).ln1 : tr.lnF).forward(h).mean([1]).keep());
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
    const trainIdx = spread(train.size, o.trainCount ?? train.size);
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
          return {
            features,
            layer,
            dim: xt.size(1),
            weightDecay: p.weightDecay,
            heldOutAccuracy: p.heldOutAccuracy,
            trainAccuracy: p.accuracy(xt, tr.labels),
            accuracy: p.accuracy(xv, va.labels),
          };
        } finally {
          p.dispose();
        }
      };
      const layers = o.layer !== undefined ? [o.layer] : Array.from({ length: depth }, (_, i) => i + 1);
      const rows = layers.map((l) => fit('prior', l, tr.trained[l - 1]!, va.trained[l - 1]!));
      const randomRows = layers.map((l) => fit('random-init prior', l, tr.rand[l - 1]!, va.rand[l - 1]!));
      const pixels = fit('pixels', null, tr.pixels, va.pixels);
      for (const t of [...tr.trained, ...tr.rand, tr.pixels, tr.labels, ...va.trained, ...va.rand, va.pixels, va.labels]) t.dispose();
      return {
        arch: pm.arch,
        data: spec,
        size,
        classes,
        blocks: depth,
        trainImages: trainIdx.length,
        valImages: valIdx.length,
        rows,
        best: bestProbeRow(rows),
        randomRows,
        randomBest: bestProbeRow(randomRows),
        pixels,
      };
    } finally {
      (random as unknown as { dispose?: () => void }).dispose?.();
    }
  } finally {
    if (typeof o.model === 'string') pm.dispose();
  }
}
