// What the evaluations share — choosing the feature network, the reference split, the distribution
// metrics of two feature sets — and `evaluateFid`, which compares two image folders. The tokenizer and
// prior evaluations are in evaluate-tokenizer.ts and evaluate-prior.ts. Each evaluation is one call
// returning a typed, JSON-ready result; the `tessera eval *` commands print it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { ConfigError } from '../io/validate.js';
import { loadDataset, normalizeClassName, readImage, type Dataset } from '../data/index.js';
import { collectFeatures, fidName, type FeatureExtractor, type FeatureSet } from './features.js';
import { RunningGaussian, frechetDistanceOf, kernelInceptionDistance, precisionRecall, inceptionScore, defaultIsSplits } from './distribution.js';
import { Classifier, loadClassifier } from './classifier.js';
import { FidInceptionV3, INCEPTION_INPUT_SIZE, loadFidInception } from './inception.js';
import { shippedClassifier } from './shipped.js';

/** Bad evaluation options (no feature network for the data, …): a ConfigError the CLI reports as a usage error. */
export class EvalOptionsError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'EvalOptionsError';
  }
}

/** Progress of a long evaluation: `done` of `total` images of a stage ('reference', 'samples', 'images', or a folder). */
export interface EvalProgress {
  stage: string;
  done: number;
  total: number;
}

/** Callbacks every evaluation takes. */
export interface EvalCallbacks {
  onProgress?: (p: EvalProgress) => void;
  /** Dataset loading warnings (unreadable files skipped). */
  onWarning?: (line: string) => void;
  /** Why a metric is missing (no classifier for the model's classes, rFID skipped, …). */
  onNote?: (line: string) => void;
}

export type EvalSplit = 'val' | 'train' | 'all';

export interface KidResult {
  mean: number;
  std: number;
  subsets: number;
  subsetSize: number;
}
export interface IsResult {
  mean: number;
  std: number;
  splits: number;
}

/** FID, KID, precision/recall of a set against a reference, and the set's Inception Score; null when too few images. */
export interface DistributionMetrics {
  fid: number | null;
  kid: KidResult | null;
  precision: number | null;
  recall: number | null;
  is: IsResult | null;
}

/** The parts of a FeatureSet the metrics read. */
export type FeatureStats = Pick<FeatureSet, 'gaussian' | 'features' | 'logits' | 'count'>;

/** Inception Score of a feature set's logits (10 splits, fewer below 500 images: at least 50 per split); null when empty. */
export function inceptionScoreOf(set: Pick<FeatureSet, 'logits' | 'count'>): IsResult | null {
  return set.count >= 1 ? inceptionScore(set.logits, { splits: defaultIsSplits(set.count) }) : null;
}

/**
 * The distribution metrics of `other` against `ref`: FID (Gaussians), KID (100 subsets of up to 1000,
 * seed 0), precision/recall (k-NN manifolds; precision = share of `other` inside `ref`'s manifold) and
 * the Inception Score of `other`.
 */
export function distributionMetrics(ref: FeatureStats, other: FeatureStats, k: number): DistributionMetrics {
  const both2 = ref.count >= 2 && other.count >= 2;
  const pr = ref.count > k && other.count > k ? precisionRecall(ref.features, other.features, { k }) : null;
  return {
    fid: both2 ? frechetDistanceOf(ref.gaussian, other.gaussian) : null,
    kid: both2 ? kernelInceptionDistance(ref.features, other.features, { subsets: 100, subsetSize: 1000, seed: 0 }) : null,
    precision: pr?.precision ?? null,
    recall: pr?.recall ?? null,
    is: inceptionScoreOf(other),
  };
}

/** Rows `idx` of a feature set, as a FeatureStats with its own Gaussian (call dispose()). */
export function selectFeatures(set: FeatureStats, idx: readonly number[], featureDim: number): FeatureStats & { dispose(): void } {
  return T.tidy(() => {
    const i = T.tensor(idx as number[], { dtype: 'int64' });
    const features = set.features.indexSelect(0, i).keep();
    const logits = set.logits.indexSelect(0, i).keep();
    const gaussian = new RunningGaussian(featureDim).update(features);
    return {
      gaussian,
      features,
      logits,
      count: idx.length,
      dispose() {
        gaussian.dispose();
        features.dispose();
        logits.dispose();
      },
    };
  });
}

/** The metric names a feature network gives: FID/KID/IS for Inception, FID-<classifier name>/… otherwise. */
export function metricNames(extractor: Pick<FeatureExtractor, 'name'>): { fid: string; kid: string; is: string } {
  const fid = fidName(extractor);
  const suffix = fid.slice('FID'.length);
  return { fid, kid: `KID${suffix}`, is: `IS${suffix}` };
}

// ------------------------------------------------------------------ feature networks

/** A feature network or classifier given as a model file or already loaded (then the caller disposes it). */
export interface FeatureNetworkOptions {
  /** A Tessera classifier (`tessera train classifier`): a model file or a loaded Classifier. */
  classifier?: string | Classifier;
  /** pytorch-fid's FID Inception weights (.pth or .safetensors), or a loaded FidInceptionV3: the standard metrics. */
  inception?: string | FidInceptionV3;
}

/** Networks loaded for one evaluation; dispose() frees the ones it loaded, not the caller's. */
export class Networks {
  readonly #owned: { dispose(): void }[] = [];
  classifier?: Classifier;
  classifierFile: string | null = null;
  /** True when the classifier is the shipped default for the dataset. */
  classifierDefault = false;
  inception?: FidInceptionV3;
  inceptionFile: string | null = null;

  loadClassifier(c: string | Classifier, isDefault = false): Classifier {
    this.classifierFile = typeof c === 'string' ? c : null;
    this.classifierDefault = isDefault;
    this.classifier = typeof c === 'string' ? this.#own(loadClassifier(c)) : c;
    return this.classifier;
  }

  loadInception(i: string | FidInceptionV3): FidInceptionV3 {
    this.inceptionFile = typeof i === 'string' ? i : null;
    this.inception = typeof i === 'string' ? this.#own(loadFidInception(i)) : i;
    return this.inception;
  }

  /** The network the distribution metrics use: Inception when given, else the classifier. */
  get extractor(): FeatureExtractor | undefined {
    return this.inception ?? this.classifier;
  }

  /** The JSON description of the feature network. */
  describe(): { kind: 'inception' | 'classifier'; file: string | null; name: string } {
    return this.inception
      ? { kind: 'inception', file: this.inceptionFile, name: this.inception.name }
      : { kind: 'classifier', file: this.classifierFile, name: this.classifier!.name };
  }

  #own<M extends { dispose(): void }>(m: M): M {
    this.#owned.push(m);
    return m;
  }

  dispose(): void {
    for (const m of this.#owned.splice(0).reverse()) m.dispose();
  }
}

/**
 * Loads the networks for a dataset: Inception when given, and a classifier — the given one, else the
 * shipped one for MNIST/emoji when present; with `classifier: 'unless-inception'` none when Inception
 * is given. `missing` says what to do when nothing measures the data: 'error' (a ConfigError), or
 * 'note' (no extractor, explained through onNote).
 */
export function loadNetworks(
  o: FeatureNetworkOptions,
  dataSpec: string,
  opts: { classifier: 'always' | 'unless-inception'; missing: 'error' | 'note'; onNote?: (line: string) => void },
): Networks {
  const nets = new Networks();
  try {
    if (o.inception !== undefined) nets.loadInception(o.inception);
    if (o.inception !== undefined && opts.classifier === 'unless-inception') return nets;
    if (o.classifier !== undefined) {
      nets.loadClassifier(o.classifier);
    } else {
      const shipped = shippedClassifier(dataSpec);
      if (shipped?.exists) nets.loadClassifier(shipped.path, true);
      else if (o.inception === undefined) {
        const why = shipped ? `the shipped classifier for ${dataSpec} is missing (${shipped.path})` : `no feature network for ${dataSpec}`;
        const hint = `give a classifier (from \`tessera train classifier --data ${dataSpec}\`) or pytorch-fid's FID Inception weights`;
        if (opts.missing === 'error') throw new EvalOptionsError(`${why}: ${hint}`);
        opts.onNote?.(`${why}; ${hint}`);
      } else if (shipped) opts.onNote?.(`no class accuracy: the shipped classifier ${shipped.path} is missing`);
    }
    return nets;
  } catch (e) {
    nets.dispose();
    throw e;
  }
}

// ------------------------------------------------------------------ data

/** The dataset, image size and validation count of the training run a model file sits in (its config.json), if any. */
export function runDefaults(modelFile: string): { path: string; data: string; size?: number; valCount?: number } | undefined {
  const path = join(dirname(modelFile), 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown; size?: unknown; valCount?: unknown };
    if (typeof j.data !== 'string') return undefined;
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    return { path, data: j.data, size: num(j.size), valCount: num(j.valCount) };
  } catch {
    return undefined;
  }
}

/** A split of `ds` as the trainers make it: the deterministic hash split holding out `valCount` images. */
export function evalSplit(ds: Dataset, split: EvalSplit, valCount: number): Dataset {
  if (split === 'all') return ds;
  if (valCount >= ds.size)
    throw new EvalOptionsError(`${ds.spec} has ${ds.size} images: a validation split of ${valCount} leaves none for training; use a smaller validation count`);
  const parts = ds.split({ valCount });
  return split === 'val' ? parts.val : parts.train;
}

/** Each model (or dataset) class → the classifier's id for the same class name (exact, else normalised), or undefined when one has no match. */
export function mapClasses(modelNames: readonly string[], clfNames: readonly string[]): number[] | undefined {
  const ids = modelNames.map((n) => {
    const exact = clfNames.indexOf(n);
    return exact >= 0 ? exact : clfNames.findIndex((c) => normalizeClassName(c) === normalizeClassName(n));
  });
  return ids.every((i) => i >= 0) ? ids : undefined;
}

/** Batches of `view`'s images and labels at `order` (default: all, in order), each freed once the consumer moves on. */
export function* labelledBatches(view: Dataset, batchSize: number, order?: readonly number[]): Generator<{ images: Tensor; labels: Tensor }> {
  const n = order?.length ?? view.size;
  for (let start = 0; start < n; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => order?.[start + i] ?? start + i);
    const b = view.batch(idx);
    try {
      yield b;
    } finally {
      b.images.dispose();
      b.labels.dispose();
    }
  }
}

/** Batches of `view`'s images at `order` (default: all, in order), each freed once the consumer moves on. */
export function* imageBatches(view: Dataset, batchSize: number, order?: readonly number[]): Generator<Tensor> {
  for (const b of labelledBatches(view, batchSize, order)) yield b.images;
}

// ------------------------------------------------------------------ two folders

export interface EvaluateFidOptions extends FeatureNetworkOptions, EvalCallbacks {
  /** Reference images (e.g. real). */
  dirA: string;
  /** Images to evaluate (e.g. generated). */
  dirB: string;
  /** Side images are loaded at (default: the classifier's size; for Inception the first image's shorter side, at most 299). */
  size?: number;
  batchSize?: number;
  /** Neighbours for the precision/recall manifolds (default 3). */
  k?: number;
}

export interface FidEvaluation {
  featureNetwork: { kind: 'inception'; file: string | null } | { kind: 'classifier'; file: string | null; name: string };
  names: { fid: string; kid: string; is: string };
  size: number;
  a: { dir: string; images: number; skipped: number };
  b: { dir: string; images: number; skipped: number };
  fid: number | null;
  kid: KidResult | null;
  precision: number | null;
  recall: number | null;
  k: number;
  isA: IsResult | null;
  isB: IsResult | null;
}

const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

/** The first image file under `dir` (depth-first, sorted), if any. */
function firstImage(dir: string, depth = 0): string | undefined {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return undefined;
  }
  for (const e of entries) if (e.isFile() && IMAGE_EXT.test(e.name)) return join(dir, e.name);
  if (depth < 3) {
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const f = firstImage(join(dir, e.name), depth + 1);
      if (f) return f;
    }
  }
  return undefined;
}

/**
 * Compares two image folders through a feature network: FID, KID, precision/recall (B against A) and
 * the Inception Score of each. Images are read with the folder dataset loader (shorter side scaled to
 * `size`, centre-cropped); unreadable files are skipped and counted. Both folders are streamed in
 * batches; only the pooled features are kept.
 */
export async function evaluateFid(o: EvaluateFidOptions): Promise<FidEvaluation> {
  if ((o.inception === undefined) === (o.classifier === undefined)) {
    throw new EvalOptionsError('evaluateFid: give exactly one feature network: FID Inception weights (standard FID) or a Tessera classifier');
  }
  const k = o.k ?? 3;
  const batchSize = o.batchSize ?? 32;
  const nets = new Networks();
  try {
    let size = o.size;
    let channels: 1 | 3 = 3;
    if (o.inception !== undefined) {
      nets.loadInception(o.inception);
      if (size === undefined) {
        const first = firstImage(o.dirA);
        try {
          const img = first === undefined ? undefined : await readImage(first);
          if (img) size = Math.min(img.width, img.height, INCEPTION_INPUT_SIZE);
        } catch {
          // unreadable: the loader skips it; the caller must give a size
        }
        if (size === undefined) throw new EvalOptionsError(`cannot tell the image size from ${o.dirA}; give a size`);
      }
    } else {
      const clf = nets.loadClassifier(o.classifier!);
      size ??= clf.config.size;
      channels = clf.config.inChannels;
    }
    const extractor = nets.extractor!;
    const sets: { dir: string; set: FeatureSet; skipped: number }[] = [];
    try {
      for (const dir of [o.dirA, o.dirB]) {
        const ds = await loadDataset(`folder:${dir}`, { size, channels, cache: false, onWarning: o.onWarning });
        const set = collectFeatures(extractor, imageBatches(ds, batchSize), { onBatch: (done) => o.onProgress?.({ stage: dir, done, total: ds.size }) });
        sets.push({ dir, set, skipped: ds.info.skipped });
      }
      const [a, b] = sets as [(typeof sets)[0], (typeof sets)[0]];
      const m = distributionMetrics(a.set, b.set, k);
      const described = nets.describe();
      return {
        featureNetwork: described.kind === 'inception' ? { kind: 'inception', file: described.file } : described,
        names: metricNames(extractor),
        size,
        a: { dir: o.dirA, images: a.set.count, skipped: a.skipped },
        b: { dir: o.dirB, images: b.set.count, skipped: b.skipped },
        fid: m.fid,
        kid: m.kid,
        precision: m.precision,
        recall: m.recall,
        k,
        isA: inceptionScoreOf(a.set),
        isB: m.is,
      };
    } finally {
      for (const s of sets) s.set.dispose();
    }
  } finally {
    nets.dispose();
  }
}
