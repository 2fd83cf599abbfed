// `evaluateTokenizer`: reconstruction quality (PSNR, SSIM, L1, rFID) and codebook use (utilization,
// perplexity) of a tokenizer on a dataset split. rFID is the Fréchet distance between the features of
// the reconstructions and of the originals of the same split: standard with FID Inception weights,
// else computed with the dataset's Tessera classifier and named after it (rFID-tessera-mnist). The
// validation split is the trainer's: the same deterministic hash split with the same count. Runs in
// batches; code counts are accumulated as it goes, so memory does not grow with the split.
import * as T from '../torch/index.js';
import { loadDataset, parseDatasetSpec, formatDatasetSpec, type Dataset } from '../data/index.js';
import { countCodes, codebookUsage } from '../quantize/stats.js';
import { loadTokenizer, type Tokenizer } from '../tokenizers/index.js';
import { RunningGaussian, frechetDistanceOf } from './distribution.js';
import { fidName, type FeatureExtractor } from './features.js';
import { psnrPerImage, ssimPerImage } from './image.js';
import {
  EvalOptionsError,
  evalSplit,
  labelledBatches,
  loadNetworks,
  mapClasses,
  runDefaults,
  type EvalCallbacks,
  type EvalProgress,
  type EvalSplit,
  type FeatureNetworkOptions,
} from './evaluate.js';

export interface EvaluateTokenizerOptions extends FeatureNetworkOptions, EvalCallbacks {
  /** A tokenizer model file, or a loaded tokenizer (left as it is: put it in eval mode). */
  model: string | Tokenizer;
  /** Dataset spec ('mnist', 'emoji:<vendor>[,…]', 'folder:<path>'); default: the run's (config.json next to the model file). */
  data?: string;
  /** Image side in pixels (default: the run's for the run's dataset, else the dataset's own; required for folders). */
  size?: number;
  /** Which images (default 'val'). */
  split?: EvalSplit;
  /** Size of the validation split (default: the run's for the run's dataset, else 500). */
  valCount?: number;
  /** Evaluate this many images, spread evenly over the split (stores may be ordered by class). */
  limit?: number;
  batchSize?: number;
  /** rFID (default true): skipped with a note when no feature network measures the data. */
  rfid?: boolean;
}

export interface TokenizerEvaluation {
  /** The model file (null for a loaded model). */
  model: string | null;
  kind: string;
  data: string;
  split: EvalSplit;
  valCount: number | null;
  size: number;
  /** Images evaluated, of `available` in the split. */
  images: number;
  available: number;
  /** Mean PSNR (dB) over the images with a finite PSNR (identical reconstructions are +∞ and left out); null when none. */
  psnr: number | null;
  /** Mean SSIM; null for images under the 11 px window. */
  ssim: number | null;
  /** Mean absolute error in [-1, 1] units. */
  l1: number | null;
  rfid: number | null;
  rfidName: string | null;
  rfidFeatures: string | null;
  /**
   * The classifier's accuracy on the originals and on their reconstructions (labelled data whose
   * classes the classifier knows; else null): how much of the class a token grid keeps — the ceiling
   * of a prior's class accuracy over this tokenizer, as judged by the same classifier.
   */
  classAccuracy: { originals: number; reconstructions: number } | null;
  downsample: number;
  codebookSize: number;
  used: number;
  /** Tokens counted (the code histogram's total). */
  tokens: number;
  utilization: number;
  perplexity: number;
  /** Codebook use per token level, coarsest first (one entry for single-level tokenizers; the top-level figures are the last level's). */
  levels: LevelUsage[];
  /** The defaults taken from the run's config.json: its path and the values used. */
  runDefaults: { path: string; data?: string; size?: number; valCount?: number } | null;
}

/** Measures a tokenizer on a dataset split; see TokenizerEvaluation for what each figure is. */
export async function evaluateTokenizer(o: EvaluateTokenizerOptions): Promise<TokenizerEvaluation> {
  const split = o.split ?? 'val';
  const batchSize = o.batchSize ?? 32;
  const file = typeof o.model === 'string' ? o.model : null;
  const run = file !== null ? runDefaults(file) : undefined;
  const dataSpec = o.data ?? run?.data;
  if (dataSpec === undefined) throw new EvalOptionsError('evaluateTokenizer: give the dataset (the model file has no run config.json next to it)');
  const data = formatDatasetSpec(parseDatasetSpec(dataSpec));
  // The run's size and validation count apply only to the run's dataset.
  const sameData = run !== undefined && data === run.data;
  const size = o.size ?? (sameData ? run.size : undefined);
  const valCount = o.valCount ?? (sameData ? run.valCount : undefined) ?? 500;
  if (size === undefined && data.startsWith('folder:')) throw new EvalOptionsError('evaluateTokenizer: folder datasets need an image size');
  const used = {
    data: o.data === undefined ? data : undefined,
    size: o.size === undefined && sameData ? run.size : undefined,
    valCount: o.valCount === undefined && sameData && split !== 'all' ? run.valCount : undefined,
  };

  const model = typeof o.model === 'string' ? loadTokenizer(o.model) : o.model;
  if (typeof o.model === 'string') model.eval();
  let nets: ReturnType<typeof loadNetworks> | undefined;
  try {
    if (o.rfid !== false) nets = loadNetworks(o, data, { classifier: 'unless-inception', missing: 'note', onNote: (l) => o.onNote?.(`rFID skipped: ${l}`) });
    const f = model.downsample;
    const channels = (model as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
    const ds = await loadDataset(data, { size, resize: size, channels, onWarning: o.onWarning });
    const side = ds.transform.size;
    if (side % f !== 0) {
      throw new EvalOptionsError(
        `images of ${side} px are not a multiple of the model's downsampling factor ${f}; use size ${Math.max(f, Math.round(side / f) * f)}`,
      );
    }
    const view = evalSplit(ds, split, valCount);
    const extractor = nets?.extractor;
    const clf = nets?.classifier;
    const classMap = clf && ds.classNames.length > 1 ? mapClasses(ds.classNames, clf.classNames) : undefined;
    const classifier = clf && classMap ? { net: clf, classMap } : undefined;
    const m = measureTokenizer(model, view, { limit: o.limit, batchSize, extractor, classifier, onProgress: o.onProgress });
    return {
      model: file,
      kind: model.kind,
      data,
      split,
      valCount: split === 'all' ? null : valCount,
      size: side,
      images: m.images,
      available: view.size,
      psnr: m.psnr,
      ssim: m.ssim,
      l1: m.l1,
      rfid: m.rfid,
      rfidName: extractor ? 'r' + fidName(extractor) : null,
      rfidFeatures: extractor ? (nets!.inception ? nets!.inceptionFile : nets!.classifierFile) : null,
      classAccuracy: m.classAccuracy,
      downsample: f,
      codebookSize: model.codebookSize,
      used: m.used,
      tokens: m.tokens,
      utilization: m.utilization,
      perplexity: m.perplexity,
      levels: m.levels,
      runDefaults: run && (used.data ?? used.size ?? used.valCount) !== undefined ? { path: run.path, ...used } : null,
    };
  } finally {
    nets?.dispose();
    if (typeof o.model === 'string') model.dispose();
  }
}

/** Codebook use of one token level on the evaluated images. */
export interface LevelUsage {
  name: string;
  codebookSize: number;
  used: number;
  tokens: number;
  utilization: number;
  perplexity: number;
}

/** What measureTokenizer measures (the figures of TokenizerEvaluation). */
export interface TokenizerMeasures {
  levels: LevelUsage[];
  images: number;
  psnr: number | null;
  ssim: number | null;
  l1: number | null;
  rfid: number | null;
  classAccuracy: { originals: number; reconstructions: number } | null;
  used: number;
  tokens: number;
  utilization: number;
  perplexity: number;
}

/**
 * The measuring part of evaluateTokenizer, synchronous, on images already loaded: `limit` images of
 * `view` spread evenly over it (stores may be ordered by class), encoded and decoded `batchSize` at a
 * time; rFID when an extractor is given, class accuracy of originals and reconstructions when a
 * classifier is (classMap: dataset class → classifier class). For callers holding a model and a
 * Dataset (benchmarks, a trainer's validation); the model is used as it is (put it in eval mode).
 */
export function measureTokenizer(
  model: Tokenizer,
  view: Dataset,
  o: {
    limit?: number;
    batchSize?: number;
    extractor?: FeatureExtractor;
    classifier?: { net: FeatureExtractor; classMap: readonly number[] };
    onProgress?: (p: EvalProgress) => void;
  } = {},
): TokenizerMeasures {
  const n = Math.min(view.size, o.limit ?? Infinity);
  const order = Array.from({ length: n }, (_, i) => Math.floor((i * view.size) / n));
  const extractor = o.extractor;
  const realStats = extractor ? new RunningGaussian(extractor.featureDim) : undefined;
  const reconStats = extractor ? new RunningGaussian(extractor.featureDim) : undefined;
  const withSsim = view.transform.size >= 11;
  const levels = model.levels;
  const counts = levels.map((l) => new Float64Array(l.codebookSize));
  let psnrSum = 0;
  let psnrFinite = 0;
  let ssimSum = 0;
  let l1Sum = 0;
  let rightOriginal = 0;
  let rightRecon = 0;
  let done = 0;
  const clf = o.classifier;
  const wanted = clf ? T.tensor([...clf.classMap], { dtype: 'int64' }).keep() : undefined;
  try {
    for (const { images: x, labels } of labelledBatches(view, o.batchSize ?? 32, order)) {
      T.tidy(() =>
        T.noGrad(() => {
          const codes = model.encodeLevels(x);
          const r = model.decodeLevels(codes).clamp(-1, 1);
          for (const v of psnrPerImage(x, r)) {
            if (!Number.isFinite(v)) continue;
            psnrSum += v;
            psnrFinite++;
          }
          if (withSsim) for (const v of ssimPerImage(x, r)) ssimSum += v;
          l1Sum += x.sub(r).abs().mean([1, 2, 3]).sum().item();
          const fx = extractor?.features(x);
          const fr = extractor?.features(r);
          if (fx && fr) {
            realStats!.update(fx.features);
            reconStats!.update(fr.features);
          }
          if (clf) {
            // The classifier is usually the rFID network too: reuse its forward then.
            const reuse = clf.net === extractor;
            const want = wanted!.indexSelect(0, labels);
            rightOriginal += (reuse ? fx! : clf.net.features(x)).logits.argmax(1).eq(want).sum().item();
            rightRecon += (reuse ? fr! : clf.net.features(r)).logits.argmax(1).eq(want).sum().item();
          }
          codes.forEach((level, li) => {
            const c = countCodes(level, levels[li]!.codebookSize);
            for (let i = 0; i < c.length; i++) counts[li]![i]! += c[i]!;
          });
        }),
      );
      done += x.size(0);
      o.onProgress?.({ stage: 'images', done, total: n });
    }
    const perLevel = levels.map((l, i) => ({ name: l.name, codebookSize: l.codebookSize, ...codebookUsage(counts[i]!) }));
    const usage = perLevel.at(-1)!;
    return {
      levels: perLevel.map((u) => ({
        name: u.name,
        codebookSize: u.codebookSize,
        used: u.used,
        tokens: u.tokens,
        utilization: u.utilization,
        perplexity: u.perplexity,
      })),
      images: n,
      psnr: psnrFinite ? psnrSum / psnrFinite : null,
      ssim: withSsim && n ? ssimSum / n : null,
      l1: n ? l1Sum / n : null,
      rfid: extractor && n >= 2 ? frechetDistanceOf(realStats!, reconStats!) : null,
      classAccuracy: clf && n ? { originals: rightOriginal / n, reconstructions: rightRecon / n } : null,
      used: usage.used,
      tokens: usage.tokens,
      utilization: usage.utilization,
      perplexity: usage.perplexity,
    };
  } finally {
    realStats?.dispose();
    reconStats?.dispose();
    wanted?.dispose();
  }
}
