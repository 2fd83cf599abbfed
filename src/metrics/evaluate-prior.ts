// `evaluatePrior`: samples N images from a prior model and measures them against a split of its
// dataset — FID (Fréchet distance of the feature Gaussians), KID, precision/recall (k-NN manifolds),
// Inception Score and, for class-conditional models, class accuracy (the share of samples the
// classifier assigns to the class they were asked for). With acceptance rates it also reports
// rejection sampling (VQGAN / ViT-VQGAN's acceptance rate): for each rate r it scores ⌈N / r⌉
// candidates with the classifier and keeps the best N, so every row is over N images. Samples are
// generated, measured and freed batch by batch; only their features are kept.
import * as T from '../torch/index.js';
import { checkNumber } from '../io/validate.js';
import { loadDataset, formatDatasetSpec, parseDatasetSpec, type Dataset } from '../data/index.js';
import { PriorModel, type GenerateOptions, type SamplingSettings } from '../priors/index.js';
import { collectFeatures } from './features.js';
import type { Classifier } from './classifier.js';
import { rejectionSample } from './rejection.js';
import {
  EvalOptionsError,
  distributionMetrics,
  evalSplit,
  imageBatches,
  inceptionScoreOf,
  labelledBatches,
  loadNetworks,
  mapClasses,
  metricNames,
  runDefaults,
  selectFeatures,
  type EvalCallbacks,
  type EvalSplit,
  type FeatureNetworkOptions,
  type IsResult,
  type KidResult,
} from './evaluate.js';

/** Sampling settings (no classes, batch, generator or editing: the evaluation chooses those). */
export type PriorSampling = Omit<GenerateOptions, 'classes' | 'batch' | 'generator' | 'known' | 'mask'>;

export interface EvaluatePriorOptions extends FeatureNetworkOptions, EvalCallbacks {
  /** A prior model file (`tessera train prior`), or a loaded PriorModel (not disposed). */
  model: string | PriorModel;
  /** Images to evaluate, per acceptance rate (default 1000; a conditional model gives image i class i mod C). */
  n?: number;
  /** Reference dataset spec (default: the model's). */
  data?: string;
  /** Side the reference images are loaded at (default: the model's image size). */
  size?: number;
  /** Which reference images (default 'val'). */
  split?: EvalSplit;
  /** Size of the validation split (default: the run's config.json next to the model file, else 500). */
  valCount?: number;
  /**
   * Sampling settings; each one not given is the model's recommended setting (PriorModel.samplingSettings),
   * else the sampler's default — `defaults: false` leaves the recommended settings out.
   */
  sampling?: PriorSampling;
  /** Seed of the sampling stream (default 0): the same seed gives the same images. */
  seed?: number;
  /** Images sampled and measured per batch (default 32). */
  batchSize?: number;
  /** Rejection sampling: acceptance rates in (0, 1]. */
  acceptance?: readonly number[];
  /** Neighbours for the precision/recall manifolds (default 3). */
  k?: number;
  /**
   * Which classes a class-conditional model is asked for. 'reference' (default): in proportion to the
   * reference images' labels, so a model that matched the data would score what the data scores (on an
   * imbalanced dataset, equal shares would put FID far from its floor even for real images);
   * 'uniform': every class equally often (image i gets class i mod C).
   */
  classes?: ClassMix;
  /**
   * Also measure N training images of the same classes, encoded and decoded by the model's tokenizer —
   * what a prior that reproduced its training data would score at this N (needs split 'val').
   */
  baseline?: boolean;
}

/** The figures of the data baseline (EvaluatePriorOptions.baseline). */
export interface PriorBaseline {
  images: number;
  fid: number | null;
  kid: KidResult | null;
  precision: number | null;
  recall: number | null;
  classAccuracy: number | null;
  /** Per class, in the model's class order: the share of its baseline images the classifier assigns to it (null without a classifier or images). */
  perClass: (number | null)[] | null;
}

/** How a class-conditional evaluation spreads its samples over the classes (see EvaluatePriorOptions.classes). */
export type ClassMix = 'reference' | 'uniform';
export const CLASS_MIXES: readonly ClassMix[] = ['reference', 'uniform'];

/** One class's samples in the plain evaluation (the first N). */
export interface PriorClassRow {
  name: string;
  /** Samples asked for this class. */
  images: number;
  /** The share of them the classifier assigns to it (null without a classifier for the model's classes). */
  accuracy: number | null;
}

/** The figures over one set of N kept images (rate 1: the first N samples). */
export interface PriorEvalRow {
  acceptance: number;
  candidates: number;
  images: number;
  fid: number | null;
  kid: KidResult | null;
  precision: number | null;
  recall: number | null;
  is: IsResult | null;
  classAccuracy: number | null;
  /** Mean rejection score of the kept images (probability of the requested class, or confidence). */
  meanScore: number | null;
}

export interface PriorEvaluation {
  /** The model file (null for a loaded model). */
  model: string | null;
  arch: string;
  imageSize: [number, number];
  classes: number;
  conditional: boolean;
  featureNetwork: { kind: 'inception' | 'classifier'; file: string | null; name: string };
  classifier: { file: string | null; name: string; default: boolean; classesMatch: boolean | null } | null;
  names: { fid: string; kid: string; is: string };
  reference: {
    data: string;
    split: EvalSplit;
    valCount: number | null;
    size: number;
    images: number;
    skipped: number;
    is: IsResult | null;
    /** The classifier's accuracy on the reference images themselves: the ceiling for the samples' (null when it cannot be measured). */
    classAccuracy: number | null;
  };
  sampling: {
    n: number;
    candidates: number;
    steps: number | null;
    temperature: number;
    topK: number | null;
    topP: number | null;
    cfg: number | null;
    schedule: string | null;
    /** VQ-Diffusion's truncation r (1 = off), else null. */
    truncation: number | null;
    /** The settings taken from the model file's recommended ones. */
    fromModel: string[];
    /** How the samples were spread over the classes (null for an unconditional model). */
    classes: ClassMix | null;
    seed: number;
    batchSize: number;
    seconds: number;
    secondsPerImage: number;
  };
  k: number;
  images: number;
  fid: number | null;
  kid: KidResult | null;
  precision: number | null;
  recall: number | null;
  is: IsResult | null;
  classAccuracy: number | null;
  /** Per class, the plain evaluation's samples and their accuracy (null for an unconditional model). */
  perClass: PriorClassRow[] | null;
  /** The data baseline, when asked for (null otherwise). */
  baseline: PriorBaseline | null;
  /** One row per acceptance rate asked for; null without rejection sampling. */
  acceptance: PriorEvalRow[] | null;
}

/** Samples a prior and measures the samples; see PriorEvaluation for the figures. */
export async function evaluatePrior(o: EvaluatePriorOptions): Promise<PriorEvaluation> {
  const N = o.n ?? 1000;
  const k = o.k ?? 3;
  const batchSize = o.batchSize ?? 32;
  const seed = o.seed ?? 0;
  const split = o.split ?? 'val';
  if (!Number.isInteger(N) || N < 2) throw new EvalOptionsError(`evaluatePrior: n must be an integer ≥ 2, got ${N}`);
  const rates = o.acceptance?.map((r, i) => checkNumber(r, `evaluatePrior: acceptance[${i}]`, { min: 0, max: 1, exclusiveMin: true }));
  if (rates && new Set(rates).size !== rates.length) throw new EvalOptionsError(`evaluatePrior: an acceptance rate is listed twice: ${rates.join(', ')}`);
  if (o.classes !== undefined && !CLASS_MIXES.includes(o.classes)) {
    throw new EvalOptionsError(`evaluatePrior: classes must be ${CLASS_MIXES.join(' or ')}, got '${String(o.classes)}'`);
  }
  if (o.baseline && split !== 'val')
    throw new EvalOptionsError(`evaluatePrior: the baseline is training images, so it needs the 'val' reference split, not '${split}'`);
  const file = typeof o.model === 'string' ? o.model : null;
  const pm = typeof o.model === 'string' ? PriorModel.load(o.model) : o.model;
  try {
    const dataSpec = o.data ?? pm.config.data;
    if (dataSpec === undefined) throw new EvalOptionsError(`${file ?? 'the prior'} does not record its dataset; give one`);
    const spec = formatDatasetSpec(parseDatasetSpec(dataSpec));
    const modelSpec = pm.config.data ?? spec;
    const run = file !== null ? runDefaults(file) : undefined;
    const valCount = o.valCount ?? (run && run.data === spec ? run.valCount : undefined) ?? 500;
    const [H, W] = pm.config.imageSize;
    const size = o.size ?? Math.min(H, W);
    // The caller's settings, then the model's recommended ones; options the prior does not take are refused here, before anything slow.
    const settings = pm.samplingSettings({ ...o.sampling }, 'evaluatePrior');
    const nets = loadNetworks(o, modelSpec, { classifier: 'always', missing: 'error', onNote: o.onNote });
    try {
      return await measure(o, pm, nets, settings, { N, k, batchSize, seed, split, rates, file, spec, valCount, size });
    } finally {
      nets.dispose();
    }
  } finally {
    if (typeof o.model === 'string') pm.dispose();
  }
}

async function measure(
  o: EvaluatePriorOptions,
  pm: PriorModel,
  nets: ReturnType<typeof loadNetworks>,
  { options: settings, fromModel }: SamplingSettings,
  a: {
    N: number;
    k: number;
    batchSize: number;
    seed: number;
    split: EvalSplit;
    rates?: number[];
    file: string | null;
    spec: string;
    valCount: number;
    size: number;
  },
): Promise<PriorEvaluation> {
  const { N, k, batchSize, rates } = a;
  const classifier = nets.classifier;
  const extractor = nets.extractor!;
  // Which classifier class each model class is, for class accuracy and rejection scores.
  const C = pm.classNames.length;
  const classMap = classifier && C > 0 ? mapClasses(pm.classNames, classifier.classNames) : undefined;
  /** Class accuracy is defined: a classifier whose classes map onto the model's. */
  const scoresClasses = Boolean(classifier && classMap);
  if (classifier && C > 0 && !classMap) {
    o.onNote?.(
      `no class accuracy: the classifier's classes (${classifier.classNames.slice(0, 4).join(', ')}, …) are not the model's (${pm.classNames.slice(0, 4).join(', ')}, …); rejection scores use its confidence`,
    );
  }
  if (rates?.some((r) => r < 1) && !classifier) throw new EvalOptionsError('evaluatePrior: acceptance rates below 1 need a classifier to score the samples');

  // ---- the reference data
  const channels: 1 | 3 = (pm.tokenizer as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
  const ds = await loadDataset(a.spec, { size: a.size, resize: a.size, channels, onWarning: o.onWarning });
  const view = evalSplit(ds, a.split, a.valCount);
  const ref = collectFeatures(extractor, imageBatches(view, batchSize), { onBatch: (done) => o.onProgress?.({ stage: 'reference', done, total: view.size }) });
  try {
    // ---- the samples: one stream of M candidates; batch boundaries also fall on every rate's
    // candidate count, so the first ⌈N / r⌉ are the same images whatever rates are asked for.
    const candidateCount = (r: number): number => (r === 1 ? N : Math.ceil(N / r - 1e-9));
    const counts = [N, ...(rates ?? []).map(candidateCount)];
    const M = Math.max(...counts);
    const cuts = new Set<number>(counts);
    for (let b = batchSize; b < M; b += batchSize) cuts.add(b);
    const bounds = [0, ...[...cuts].sort((x, y) => x - y)];
    const mix = C > 0 ? classWeights(o.classes ?? 'reference', pm.classNames, view, o.onNote) : null;
    const requested: (number | null)[] = mix ? spreadClasses(mix.weights, M) : new Array<null>(M).fill(null);
    const scores = new Float64Array(M);
    const correct = new Uint8Array(M);
    /** Classifies images lo… of a stream: the probability of their requested class (else the top one) and whether it is the top one. */
    const score = (images: T.Tensor, lo: number, scoresOut: Float64Array, correctOut: Uint8Array): void => {
      if (!classifier) return;
      T.tidy(() => {
        const probs = classifier.classify(images).probs.double().contiguous();
        const p = probs.data() as Float64Array;
        const K = probs.shape[1]!;
        for (let i = 0; i < probs.shape[0]!; i++) {
          const row = p.subarray(i * K, (i + 1) * K);
          let arg = 0;
          for (let c = 1; c < K; c++) if (row[c]! > row[arg]!) arg = c;
          const want = classMap && requested[lo + i] !== null ? classMap[requested[lo + i]!]! : undefined;
          scoresOut[lo + i] = want === undefined ? row[arg]! : row[want]!;
          correctOut[lo + i] = want !== undefined && arg === want ? 1 : 0;
        }
      });
    };
    /** Images lo…hi of a stream, one batch per pair of bounds, each scored into scoresOut/correctOut before it is yielded. */
    const scoredBatches = function* (
      cuts: readonly number[],
      make: (lo: number, hi: number) => T.Tensor,
      scoresOut: Float64Array,
      correctOut: Uint8Array,
    ): Generator<T.Tensor> {
      for (let j = 0; j + 1 < cuts.length; j++) {
        const images = make(cuts[j]!, cuts[j + 1]!);
        try {
          score(images, cuts[j]!, scoresOut, correctOut);
          yield images;
        } finally {
          images.dispose();
        }
      }
    };
    const generator = new T.Generator(a.seed);
    let sampleMs = 0;
    const sample = (lo: number, hi: number): T.Tensor => {
      const classes = C > 0 ? requested.slice(lo, hi) : undefined;
      const t0 = performance.now();
      const images = T.tidy(() => pm.sample({ ...settings, defaults: false, generator, classes, batch: hi - lo }).keep());
      sampleMs += performance.now() - t0;
      return images;
    };
    const samples = collectFeatures(extractor, scoredBatches(bounds, sample, scores, correct), {
      onBatch: (done) => o.onProgress?.({ stage: 'samples', done, total: M }),
    });
    try {
      /** Per model class: the share of the first N images asked for it that the classifier assigns to it (null: none asked). */
      const classShares = (hit: ArrayLike<number>): (number | null)[] =>
        pm.classNames.map((_, c) => {
          let images = 0;
          let hits = 0;
          for (let i = 0; i < N; i++) {
            if (requested[i] !== c) continue;
            images++;
            hits += hit[i]!;
          }
          return images > 0 ? hits / images : null;
        });
      // ---- the data baseline: training images of the same classes, through the model's tokenizer
      const measureBaseline = (): PriorBaseline => {
        const train = evalSplit(ds, 'train', a.valCount);
        const order = baselineOrder(train, pm.classNames, requested.slice(0, N));
        const correctB = new Uint8Array(N);
        const scoresB = new Float64Array(N);
        const throughTokenizer = (lo: number, hi: number): T.Tensor => {
          const b = train.batch(order.slice(lo, hi));
          const images = T.tidy(() => pm.decode(pm.encode(b.images)).keep());
          b.images.dispose();
          b.labels.dispose();
          return images;
        };
        const cutsB = Array.from({ length: Math.ceil(N / batchSize) + 1 }, (_, j) => Math.min(j * batchSize, N));
        const feats = collectFeatures(extractor, scoredBatches(cutsB, throughTokenizer, scoresB, correctB), {
          onBatch: (done) => o.onProgress?.({ stage: 'baseline', done, total: N }),
        });
        try {
          const m = distributionMetrics(ref, feats, k);
          return {
            images: N,
            fid: m.fid,
            kid: m.kid,
            precision: m.precision,
            recall: m.recall,
            classAccuracy: scoresClasses ? correctB.reduce((t, v) => t + v, 0) / N : null,
            perClass: scoresClasses ? classShares(correctB) : null,
          };
        } finally {
          feats.dispose();
        }
      };
      // ---- the metrics, per acceptance rate (rate 1 = the plain evaluation of the first N)
      const evaluate = (rate: number): PriorEvalRow => {
        const candidates = candidateCount(rate);
        const kept =
          rate === 1
            ? Array.from({ length: N }, (_, i) => i)
            : rejectionSample(scores.subarray(0, candidates), rate, { keep: N, groups: C > 0 ? (requested.slice(0, candidates) as number[]) : undefined });
        const sel = selectFeatures(samples, kept, extractor.featureDim);
        try {
          const m = distributionMetrics(ref, sel, k);
          const n = kept.length;
          const classAccuracy = scoresClasses ? kept.reduce((s, i) => s + correct[i]!, 0) / n : null;
          const meanScore = classifier ? kept.reduce((s, i) => s + scores[i]!, 0) / n : null;
          return { acceptance: rate, candidates, images: n, ...m, classAccuracy, meanScore };
        } finally {
          sel.dispose();
        }
      };
      const plain = evaluate(1);
      const baseline = o.baseline ? measureBaseline() : null;
      const sampleShares = classShares(correct);
      const perClass = mix
        ? pm.classNames.map((name, c): PriorClassRow => ({
            name,
            images: requested.slice(0, N).filter((r) => r === c).length,
            accuracy: scoresClasses ? sampleShares[c]! : null,
          }))
        : null;
      const rows = rates?.map((r) => (r === 1 ? plain : evaluate(r))) ?? null;
      // The reference is shuffled (fixed seed) before its IS splits: stores can be sorted by class (MNIST
      // is), which would leave one class per split.
      const refIs = T.tidy(() =>
        ref.count >= 1 ? inceptionScoreOf({ logits: ref.logits.indexSelect(0, T.randperm(ref.count, new T.Generator(0))), count: ref.count }) : null,
      );
      // A hierarchical prior's levels share one architecture: its MaskGIT levels take steps and a schedule.
      const maskgit = pm.arch === 'maskgit' || (pm.prior as { top?: { kind: string } }).top?.kind === 'maskgit';
      const diffusion = pm.arch === 'diffusion';
      return {
        model: a.file,
        arch: pm.arch,
        imageSize: [...pm.config.imageSize],
        classes: C,
        conditional: C > 0,
        featureNetwork: nets.describe(),
        classifier: classifier
          ? { file: nets.classifierFile, name: classifier.name, default: nets.classifierDefault, classesMatch: C > 0 ? classMap !== undefined : null }
          : null,
        names: metricNames(extractor),
        reference: {
          data: a.spec,
          split: a.split,
          valCount: a.split === 'all' ? null : a.valCount,
          size: ds.transform.size,
          images: ref.count,
          skipped: ds.info.skipped,
          is: refIs,
          classAccuracy: classifier ? referenceAccuracy(classifier, view, batchSize) : null,
        },
        sampling: {
          n: N,
          candidates: M,
          steps: maskgit ? (settings.steps ?? 8) : diffusion ? (settings.steps ?? (pm.prior.config as { timesteps: number }).timesteps) : null,
          truncation: diffusion ? (settings.truncation ?? 1) : null,
          temperature: settings.temperature ?? 1,
          topK: settings.topK ?? null,
          topP: settings.topP ?? null,
          cfg: settings.cfg ?? null,
          schedule: maskgit ? (settings.schedule ?? 'cosine') : null,
          fromModel,
          classes: mix?.mix ?? null,
          seed: a.seed,
          batchSize,
          seconds: sampleMs / 1000,
          secondsPerImage: sampleMs / 1000 / M,
        },
        k,
        images: plain.images,
        fid: plain.fid,
        kid: plain.kid,
        precision: plain.precision,
        recall: plain.recall,
        is: plain.is,
        classAccuracy: plain.classAccuracy,
        perClass,
        baseline,
        acceptance: rows,
      };
    } finally {
      samples.dispose();
    }
  } finally {
    ref.dispose();
  }
}

/**
 * The class of each of `count` samples, spread by smooth weighted round-robin: every prefix (the first
 * N samples, each rejection rate's candidates) holds each class within one image of its share, and
 * equal weights give class i mod C.
 */
export function spreadClasses(weights: readonly number[], count: number): number[] {
  const total = weights.reduce((s, w) => s + w, 0);
  if (!(total > 0) || weights.some((w) => !(w >= 0)))
    throw new EvalOptionsError(`spreadClasses: weights must be ≥ 0 with a positive sum, got ${weights.join(', ')}`);
  const credit = weights.map(() => 0);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    let pick = 0;
    for (let c = 0; c < weights.length; c++) {
      credit[c]! += weights[c]!;
      if (credit[c]! > credit[pick]!) pick = c;
    }
    credit[pick]! -= total;
    out.push(pick);
  }
  return out;
}

/**
 * The weight of each model class among the samples: its count among the reference images' labels, or
 * equal weights for 'uniform' — and, with a note, when the reference has no labels under the model's
 * class names (an unlabelled folder, another dataset).
 */
function classWeights(mix: ClassMix, modelNames: readonly string[], view: Dataset, onNote?: (m: string) => void): { mix: ClassMix; weights: number[] } {
  const equal = { mix: 'uniform' as const, weights: modelNames.map(() => 1) };
  if (mix === 'uniform') return equal;
  const ids = mapClasses(modelNames, view.classNames);
  const counts = new Array<number>(view.classNames.length).fill(0);
  for (const l of view.labels()) if (l >= 0 && l < counts.length) counts[l]!++;
  const weights = ids?.map((d) => counts[d]!);
  if (!weights || weights.every((w) => w === 0)) {
    onNote?.("samples spread evenly over the model's classes: the reference images carry none of its class names");
    return equal;
  }
  return { mix: 'reference', weights };
}

/** The classifier's top-1 accuracy on the reference images (null when their labels are not its classes). */
function referenceAccuracy(classifier: Classifier, view: Dataset, batchSize: number): number | null {
  const ids = mapClasses(view.classNames, classifier.classNames);
  if (!ids || view.size === 0) return null;
  let hits = 0;
  for (const { images, labels } of labelledBatches(view, batchSize)) {
    const want = (labels.toArray() as number[]).map((l) => ids[l]!);
    const got = T.tidy(() => classifier.classify(images).probs.argmax(1).toArray());
    got.forEach((g, i) => (hits += g === want[i] ? 1 : 0));
  }
  return hits / view.size;
}

/**
 * Training images for the baseline, one per sample: for a conditional model, sample i's requested class,
 * each class's images taken evenly through its list (repeating when it has fewer than asked for); else
 * N images evenly through the split.
 */
export function baselineOrder(train: Dataset, modelNames: readonly string[], requested: readonly (number | null)[]): number[] {
  const N = requested.length;
  if (requested.every((c) => c === null)) return Array.from({ length: N }, (_, i) => Math.floor((i * train.size) / N));
  const ids = mapClasses(modelNames, train.classNames);
  if (!ids)
    throw new EvalOptionsError(
      "evaluatePrior: the baseline needs training images labelled with the model's classes; the dataset's are " +
        (train.classNames.slice(0, 4).join(', ') || 'none'),
    );
  const byClass = ids.map(() => [] as number[]);
  const labels = train.labels();
  for (let i = 0; i < labels.length; i++) {
    const c = ids.indexOf(labels[i]!);
    if (c >= 0) byClass[c]!.push(i);
  }
  const asked = ids.map((_, c) => requested.filter((r) => r === c).length);
  const seen = ids.map(() => 0);
  return requested.map((c) => {
    const list = byClass[c!]!;
    if (list.length === 0) throw new EvalOptionsError(`evaluatePrior: the baseline has no training images of class '${modelNames[c!]}'`);
    return list[Math.floor((seen[c!]!++ * list.length) / asked[c!]!) % list.length]!;
  });
}
