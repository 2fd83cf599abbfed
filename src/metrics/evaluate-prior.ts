// `evaluatePrior`: samples N images from a prior model and measures them against a split of its
// dataset — FID (Fréchet distance of the feature Gaussians), KID, precision/recall (k-NN manifolds),
// Inception Score and, for class-conditional models, class accuracy (the share of samples the
// classifier assigns to the class they were asked for). With acceptance rates it also reports
// rejection sampling (VQGAN / ViT-VQGAN's acceptance rate): for each rate r it scores ⌈N / r⌉
// candidates with the classifier and keeps the best N, so every row is over N images. Samples are
// generated, measured and freed batch by batch; only their features are kept.
import * as T from '../torch/index.js';
import { checkNumber } from '../io/validate.js';
import { loadDataset, formatDatasetSpec, parseDatasetSpec } from '../data/index.js';
import { PriorModel, type GenerateOptions, type SamplingSettings } from '../priors/index.js';
import { collectFeatures } from './features.js';
import { rejectionSample } from './rejection.js';
import {
  EvalOptionsError,
  distributionMetrics,
  evalSplit,
  imageBatches,
  inceptionScoreOf,
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
  reference: { data: string; split: EvalSplit; valCount: number | null; size: number; images: number; skipped: number; is: IsResult | null };
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
    const requested: (number | null)[] = Array.from({ length: M }, (_, i) => (C > 0 ? i % C : null));
    const scores = new Float64Array(M);
    const correct = new Uint8Array(M);
    const generator = new T.Generator(a.seed);
    let sampleMs = 0;
    const sampleBatches = function* () {
      for (let j = 0; j + 1 < bounds.length; j++) {
        const lo = bounds[j]!;
        const hi = bounds[j + 1]!;
        const classes = C > 0 ? requested.slice(lo, hi) : undefined;
        const t0 = performance.now();
        const images = T.tidy(() => pm.sample({ ...settings, defaults: false, generator, classes, batch: hi - lo }).keep());
        sampleMs += performance.now() - t0;
        try {
          if (classifier) {
            T.tidy(() => {
              const probs = classifier.classify(images).probs.double().contiguous();
              const p = probs.data() as Float64Array;
              const K = probs.shape[1]!;
              for (let i = 0; i < hi - lo; i++) {
                const row = p.subarray(i * K, (i + 1) * K);
                let arg = 0;
                for (let c = 1; c < K; c++) if (row[c]! > row[arg]!) arg = c;
                const want = classMap && requested[lo + i] !== null ? classMap[requested[lo + i]!]! : undefined;
                scores[lo + i] = want === undefined ? row[arg]! : row[want]!;
                correct[lo + i] = want !== undefined && arg === want ? 1 : 0;
              }
            });
          }
          yield images;
        } finally {
          images.dispose();
        }
      }
    };
    const samples = collectFeatures(extractor, sampleBatches(), { onBatch: (done) => o.onProgress?.({ stage: 'samples', done, total: M }) });
    try {
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
          const classAccuracy = classifier && classMap ? kept.reduce((s, i) => s + correct[i]!, 0) / n : null;
          const meanScore = classifier ? kept.reduce((s, i) => s + scores[i]!, 0) / n : null;
          return { acceptance: rate, candidates, images: n, ...m, classAccuracy, meanScore };
        } finally {
          sel.dispose();
        }
      };
      const plain = evaluate(1);
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
        acceptance: rows,
      };
    } finally {
      samples.dispose();
    }
  } finally {
    ref.dispose();
  }
}
