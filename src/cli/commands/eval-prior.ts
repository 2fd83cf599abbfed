// `tessera eval prior --model P`: samples N images from a prior model and measures them against a
// split of its dataset — FID (Fréchet distance of the feature Gaussians), KID, precision/recall
// (k-NN manifolds, k = 3), Inception Score and, for class-conditional models, class accuracy (the
// share of samples the classifier assigns to the class they were asked for). With --accept it also
// reports rejection sampling (VQGAN / ViT-VQGAN's acceptance rate): for each rate r it scores
// ⌈N / r⌉ candidates with the classifier and keeps the best N, so every row is over N images.
// Samples are generated, measured and freed batch by batch; only their features are kept.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

/** A training run's config.json next to the model file, if any (for its --val-count). */
function runConfigNextTo(model: string): { path: string; data: string; valCount?: number } | undefined {
  const path = join(dirname(model), 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown; valCount?: unknown };
    if (typeof j.data !== 'string') return undefined;
    return { path, data: j.data, valCount: typeof j.valCount === 'number' ? j.valCount : undefined };
  } catch {
    return undefined;
  }
}

/** '1,0.5,0.25' → [1, 0.5, 0.25]. */
function parseRates(s: string): number[] {
  const parts = s.split(',').map((p) => p.trim());
  const rates = parts.map(Number);
  if (parts.some((p) => p === '') || rates.some((r) => !(r > 0 && r <= 1))) {
    throw new UsageError(`--accept takes acceptance rates in (0, 1] separated by commas, e.g. 1,0.5,0.25; got '${s}'`);
  }
  if (new Set(rates).size !== rates.length) throw new UsageError(`--accept lists a rate twice: '${s}'`);
  return rates;
}

const norm = (s: string): string => s.toLowerCase().replace(/[\s&_-]+/g, '');

/** Each model class → the classifier's id for the same class name, or undefined when a name has no match. */
function mapClasses(modelNames: readonly string[], clfNames: readonly string[]): number[] | undefined {
  const ids = modelNames.map((n) => {
    const exact = clfNames.indexOf(n);
    return exact >= 0 ? exact : clfNames.findIndex((c) => norm(c) === norm(n));
  });
  return ids.every((i) => i >= 0) ? ids : undefined;
}


interface Row {
  acceptance: number;
  candidates: number;
  images: number;
  fid: number | null;
  kid: { mean: number; std: number; subsets: number; subsetSize: number } | null;
  precision: number | null;
  recall: number | null;
  is: { mean: number; std: number; splits: number } | null;
  classAccuracy: number | null;
  /** Mean rejection score of the kept images (probability of the requested class, or confidence). */
  meanScore: number | null;
}

export const command = defineCommand({
  name: 'eval prior',
  summary: 'measure a prior: FID, KID, IS, precision/recall and class accuracy of its samples',
  description:
    'Samples N images from a prior model (a class-conditional model spreads them evenly over its classes: ' +
    'image i gets class i mod C) and compares them with a split of its dataset through a feature network: ' +
    'FID, KID, precision/recall (k-NN manifolds, k = 3), the Inception Score of the samples (10 splits, fewer ' +
    'when there are under 500 images: at least 50 per split) and, for ' +
    'class-conditional models, class accuracy — the share of samples the classifier assigns to the class they ' +
    "were asked for. --inception FILE (pytorch-fid's FID Inception weights) gives the standard FID/KID/IS; " +
    'otherwise the metrics are computed with a Tessera classifier and named after it (FID-tessera-mnist, …): ' +
    '--classifier FILE, or by default the shipped models/mnist-classifier.safetensors or ' +
    'models/emoji-classifier.safetensors for MNIST and emoji models. With both, Inception measures the ' +
    'distributions and the classifier the class accuracy. The reference is the validation split the trainers ' +
    'hold out (--val-count, default the run\'s config.json, else 500), at the model\'s image size. ' +
    '--accept r1,r2,… adds rejection sampling (the acceptance rate of VQGAN and ViT-VQGAN): for each rate r, ' +
    '⌈N / r⌉ candidates are sampled (the same stream for every rate: the first N are the plain evaluation), ' +
    'scored by the classifier\'s probability of their requested class (its confidence for unconditional ' +
    'models), and the best N kept, in the same class proportions — so every row is measured over N images ' +
    'and rate 1 is the plain evaluation. Caveat: when the classifier is also the feature network, rejection ' +
    'selects on the very features FID-tessera-* is measured with, which flatters it; --inception gives an ' +
    'independent measure (VQGAN scored with a ResNet and measured with Inception).',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'prior model file (.safetensors from tessera train prior)' },
    n: { type: 'number', short: 'n', integer: true, min: 2, default: 1000, help: 'images to evaluate (per acceptance rate)' },
    classifier: { type: 'string', metavar: 'file', help: "a Tessera classifier (default: the shipped one for MNIST/emoji models)" },
    inception: { type: 'string', metavar: 'file', help: "pytorch-fid's FID Inception weights (.pth or .safetensors): standard FID" },
    data: { type: 'string', metavar: 'spec', help: "reference dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the model's)" },
    size: { type: 'number', integer: true, min: 1, help: "side the reference images are loaded at (default: the model's image size)" },
    split: { type: 'enum', values: ['val', 'train', 'all'], default: 'val', help: 'which reference images' },
    valCount: { type: 'number', integer: true, min: 1, help: "size of the validation split (default: the run's, else 500)" },
    ...samplingOptions,
    batchSize: { type: 'number', integer: true, min: 1, default: 32, help: 'images sampled and measured per batch' },
    accept: { type: 'string', metavar: 'r1,r2,…', help: 'rejection sampling: acceptance rates in (0, 1], e.g. 1,0.5,0.25' },
    k: { type: 'number', integer: true, min: 1, default: 3, help: 'neighbours for the precision/recall manifolds' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  examples: [
    'tessera eval prior --model models/mnist-maskgit.safetensors --n 1000',
    'tessera eval prior --model models/mnist-maskgit.safetensors --n 500 --accept 1,0.5,0.25 --json',
    'tessera eval prior --model runs/emoji-ar/model.safetensors --inception pt_inception-2015-12-05-6726825d.pth',
  ],
  async run(o, _pos, ctx) {
    const T = await import('../../torch/index.js');
    const c = await import('../tokenizer-common.js');
    const { loadPrior, generateOptions } = await import('../prior-common.js');
    const { loadDataset } = await import('../../data/index.js');
    const { collectFeatures, fidName } = await import('../../metrics/features.js');
    const { RunningGaussian, frechetDistanceOf, kernelInceptionDistance, precisionRecall, inceptionScore, defaultIsSplits } = await import('../../metrics/distribution.js');
    const { rejectionSample } = await import('../../metrics/rejection.js');
    const { shippedClassifier } = await import('../../metrics/shipped.js');
    const { loadClassifier } = await import('../../metrics/classifier.js');
    type Classifier = import('../../metrics/classifier.js').Classifier;
    type FeatureExtractor = import('../../metrics/features.js').FeatureExtractor;

    const rates = o.accept !== undefined ? parseRates(o.accept) : undefined;
    const N = o.n;
    const flags = o as SamplingFlags;
    generateOptions(flags); // validates the sampling flags before anything slow
    if (o.classifier !== undefined) c.requireFile(o.classifier, 'classifier file');
    if (o.inception !== undefined) {
      const { missingWeightsMessage } = await import('../../metrics/inception.js');
      if (!existsSync(o.inception)) throw new Error(missingWeightsMessage(o.inception));
    }
    const pm = loadPrior(o.model);
    const disposers: (() => void)[] = [() => pm.dispose()];
    try {
      // ---- the reference data
      const dataSpec = o.data ?? pm.config.data;
      if (dataSpec === undefined) throw new UsageError(`${o.model} does not record its dataset; pass --data`);
      const spec = c.canonicalDataSpec(dataSpec);
      const [H, W] = pm.config.imageSize;
      const size = o.size ?? Math.min(H, W);
      const run = runConfigNextTo(o.model);
      const runValCount = run && run.data === spec ? run.valCount : undefined;
      const valCount = o.valCount ?? runValCount ?? 500;
      const modelSpec = pm.config.data ?? spec;

      // ---- the networks: features (Inception or classifier) and the classifier for class accuracy / rejection
      let classifier: Classifier | undefined;
      let classifierFile: string | undefined;
      let classifierDefault = false;
      const notes: string[] = [];
      if (o.classifier !== undefined) {
        classifierFile = o.classifier;
      } else {
        const shipped = shippedClassifier(modelSpec);
        if (shipped?.exists) {
          classifierFile = shipped.path;
          classifierDefault = true;
        } else if (o.inception === undefined) {
          throw new UsageError(
            shipped
              ? `the shipped classifier for ${modelSpec} is missing (${shipped.path}); pass --classifier FILE (tessera train classifier) or --inception FILE`
              : `no feature network for ${modelSpec}: pass --classifier FILE (a model from \`tessera train classifier --data ${modelSpec}\`) or --inception FILE (pytorch-fid's weights)`,
          );
        } else if (shipped) {
          notes.push(`no class accuracy: the shipped classifier ${shipped.path} is missing`);
        }
      }
      if (classifierFile !== undefined) {
        classifier = loadClassifier(classifierFile);
        disposers.push(() => classifier!.dispose());
      }
      let extractor: FeatureExtractor;
      if (o.inception !== undefined) {
        const { loadFidInception } = await import('../../metrics/inception.js');
        const net = loadFidInception(o.inception);
        disposers.push(() => net.dispose());
        extractor = net;
      } else {
        extractor = classifier!;
      }
      const fid = fidName(extractor);
      const suffix = fid.slice('FID'.length);

      // Which classifier class each model class is, for class accuracy and rejection scores.
      const C = pm.classNames.length;
      let classMap: number[] | undefined;
      if (classifier && C > 0) {
        classMap = mapClasses(pm.classNames, classifier.classNames);
        if (!classMap) notes.push(`no class accuracy: the classifier's classes (${classifier.classNames.slice(0, 4).join(', ')}, …) are not the model's (${pm.classNames.slice(0, 4).join(', ')}, …); rejection scores use its confidence`);
      }
      if (rates && rates.some((r) => r < 1) && !classifier) throw new UsageError('--accept below 1 needs a classifier to score the samples: pass --classifier FILE');
      for (const n of notes) ctx.err(`note: ${n}`);

      const progress = process.stderr.isTTY && !o.json;
      const channels: 1 | 3 = (pm.tokenizer as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
      const ds = await loadDataset(spec, { size, resize: size, channels, onWarning: (l) => ctx.err(`warning: ${l}`) });
      let view = ds;
      if (o.split !== 'all') {
        const parts = c.splitOrExplain(ds, valCount);
        view = o.split === 'val' ? parts.val : parts.train;
      }
      const refN = view.size;
      const refBatches = function* () {
        for (let start = 0; start < refN; start += o.batchSize) {
          const idx = Array.from({ length: Math.min(o.batchSize, refN - start) }, (_, i) => start + i);
          const images = view.batch(idx).images;
          try {
            yield images;
          } finally {
            images.dispose();
          }
        }
      };
      const ref = collectFeatures(extractor, refBatches(), { onBatch: (d) => progress && process.stderr.write(`\rreference: ${d}/${refN}`) });
      disposers.push(() => ref.dispose());
      if (progress) process.stderr.write('\r' + ' '.repeat(40) + '\r');

      // ---- the samples: one stream of M candidates; batch boundaries also fall on every rate's
      // candidate count, so the first ⌈N / r⌉ are the same images whatever rates are asked for.
      const candidateCount = (r: number): number => (r === 1 ? N : Math.ceil(N / r - 1e-9));
      const counts = [N, ...(rates ?? []).map(candidateCount)];
      const M = Math.max(...counts);
      const cuts = new Set<number>(counts);
      for (let b = o.batchSize; b < M; b += o.batchSize) cuts.add(b);
      const bounds = [0, ...[...cuts].sort((a, b) => a - b)];
      const requested: (number | null)[] = Array.from({ length: M }, (_, i) => (C > 0 ? i % C : null));
      const scores = new Float64Array(M);
      const correct = new Uint8Array(M);
      const gen = generateOptions(flags);
      let sampleMs = 0;
      const sampleBatches = function* () {
        for (let j = 0; j + 1 < bounds.length; j++) {
          const lo = bounds[j]!;
          const hi = bounds[j + 1]!;
          const classes = C > 0 ? requested.slice(lo, hi) : undefined;
          const t0 = performance.now();
          const images = T.tidy(() => pm.sample({ ...gen, classes, batch: hi - lo }).keep());
          sampleMs += performance.now() - t0;
          try {
            if (classifier) {
              T.tidy(() => {
                const probs = classifier!.classify(images).probs.double().contiguous();
                const p = probs.data() as Float64Array;
                const K = probs.shape[1]!;
                for (let i = 0; i < hi - lo; i++) {
                  const row = p.subarray(i * K, (i + 1) * K);
                  let arg = 0;
                  for (let k = 1; k < K; k++) if (row[k]! > row[arg]!) arg = k;
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
      const samples = collectFeatures(extractor, sampleBatches(), { onBatch: (d) => progress && process.stderr.write(`\rsamples: ${d}/${M}`) });
      disposers.push(() => samples.dispose());
      if (progress) process.stderr.write('\r' + ' '.repeat(40) + '\r');

      // ---- the metrics, per acceptance rate (rate 1 = the plain evaluation of the first N)
      const evaluate = (rate: number): Row => {
        const candidates = candidateCount(rate);
        const kept =
          rate === 1
            ? Array.from({ length: N }, (_, i) => i)
            : rejectionSample(scores.subarray(0, candidates), rate, { keep: N, groups: C > 0 ? (requested.slice(0, candidates) as number[]) : undefined });
        return T.tidy(() => {
          const idx = T.tensor(kept, { dtype: 'int64' });
          const feats = samples.features.indexSelect(0, idx);
          const logits = samples.logits.indexSelect(0, idx);
          const g = new RunningGaussian(extractor.featureDim).update(feats);
          try {
            const n = kept.length;
            const fd = ref.count >= 2 && n >= 2 ? frechetDistanceOf(ref.gaussian, g) : null;
            const kid = ref.count >= 2 && n >= 2 ? kernelInceptionDistance(ref.features, feats, { subsets: 100, subsetSize: 1000, seed: 0 }) : null;
            const pr = ref.count > o.k && n > o.k ? precisionRecall(ref.features, feats, { k: o.k }) : null;
            const is = inceptionScore(logits, { splits: defaultIsSplits(n) });
            const acc = classifier && classMap ? kept.reduce((s, i) => s + correct[i]!, 0) / n : null;
            const meanScore = classifier ? kept.reduce((s, i) => s + scores[i]!, 0) / n : null;
            return { acceptance: rate, candidates, images: n, fid: fd, kid, precision: pr?.precision ?? null, recall: pr?.recall ?? null, is, classAccuracy: acc, meanScore };
          } finally {
            g.dispose();
          }
        });
      };
      const plain = evaluate(1);
      const rows = rates?.map((r) => (r === 1 ? plain : evaluate(r)));
      // The reference is shuffled (fixed seed) before its IS splits: stores can be sorted by class (MNIST
      // is), which would leave one class per split.
      const refIs = ref.count >= 1 ? T.tidy(() => inceptionScore(ref.logits.indexSelect(0, T.randperm(ref.count, new T.Generator(0))), { splits: defaultIsSplits(ref.count) })) : null;
      const steps = pm.arch === 'maskgit' ? (o.steps ?? 8) : null;
      const result = {
        model: o.model,
        arch: pm.arch,
        imageSize: [H, W],
        classes: C,
        conditional: C > 0,
        featureNetwork: o.inception !== undefined ? { kind: 'inception', file: o.inception, name: 'inception' } : { kind: 'classifier', file: classifierFile!, name: extractor.name },
        classifier: classifier ? { file: classifierFile!, name: classifier.name, default: classifierDefault, classesMatch: C > 0 ? classMap !== undefined : null } : null,
        names: { fid, kid: `KID${suffix}`, is: `IS${suffix}` },
        reference: {
          data: spec,
          split: o.split,
          valCount: o.split === 'all' ? null : valCount,
          size: ds.transform.size,
          images: ref.count,
          skipped: ds.info.skipped,
          is: refIs,
        },
        sampling: {
          n: N,
          candidates: M,
          steps,
          temperature: o.temperature ?? 1,
          topK: o.topK ?? null,
          topP: o.topP ?? null,
          cfg: o.cfg ?? null,
          schedule: pm.arch === 'maskgit' ? (o.schedule ?? 'cosine') : null,
          seed: o.seed,
          batchSize: o.batchSize,
          seconds: sampleMs / 1000,
          secondsPerImage: sampleMs / 1000 / M,
        },
        k: o.k,
        images: plain.images,
        fid: plain.fid,
        kid: plain.kid,
        precision: plain.precision,
        recall: plain.recall,
        is: plain.is,
        classAccuracy: plain.classAccuracy,
        acceptance: rows ?? null,
      };
      if (o.json) {
        ctx.out(JSON.stringify(result, null, 2));
        return 0;
      }
      const na = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));
      const small = (v: number) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(5));
      const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
      const splitText =
        o.split === 'all'
          ? `all ${c.formatCount(ref.count)} images`
          : o.split === 'val'
            ? `val split, ${c.formatCount(ref.count)} images (--val-count ${valCount}, as the trainers hold out)`
            : `train split, ${c.formatCount(ref.count)} images (all but the ${valCount} validation images)`;
      const what = pm.arch === 'ar' ? 'autoregressive' : `MaskGIT, ${steps} steps`;
      c.printRows(ctx, [
        ['model', `${o.model} (${what}; ${C > 0 ? `${C} classes, image i gets class i mod ${C}` : 'unconditional'})`],
        ['reference', `${spec} at ${ds.transform.size}×${ds.transform.size}: ${splitText}${ds.info.skipped ? `, ${ds.info.skipped} unreadable skipped` : ''}`],
        ['features', o.inception !== undefined ? `FID Inception (${o.inception})` : `classifier ${extractor.name} (${classifierFile})`],
        ...(classifier && o.inception !== undefined ? [['classifier', `${classifier.name} (${classifierFile}) for class accuracy`] as [string, string]] : []),
        ['samples', `${c.formatCount(N)} (seed ${o.seed}); sampling ${(sampleMs / M).toFixed(1)} ms per image (${c.formatCount(M)} sampled in ${(sampleMs / 1000).toFixed(1)} s)`],
        [fid, na(plain.fid, 3)],
        [`KID${suffix}`, plain.kid ? `${small(plain.kid.mean)} ± ${small(plain.kid.std)}` : 'n/a'],
        ['precision', plain.precision === null ? 'n/a' : `${plain.precision.toFixed(4)} (share of samples inside the data manifold, k = ${o.k})`],
        ['recall', plain.recall === null ? 'n/a' : `${plain.recall.toFixed(4)} (share of data inside the samples' manifold)`],
        [`IS${suffix}`, plain.is ? `${plain.is.mean.toFixed(3)} ± ${plain.is.std.toFixed(3)} (data: ${refIs ? refIs.mean.toFixed(3) : 'n/a'})` : 'n/a'],
        ...(C > 0 ? [['class accuracy', classMap ? `${pct(plain.classAccuracy)} (samples the classifier assigns to their requested class)` : 'n/a (no classifier for the model\'s classes)'] as [string, string]] : []),
      ]);
      if (rows) {
        ctx.out('');
        ctx.out(`rejection sampling (best N of ⌈N / rate⌉ by the classifier's probability of the ${C > 0 ? 'requested class' : 'top class'}):`);
        const head = ['acceptance', 'candidates', fid, 'precision', 'recall', `IS${suffix}`, ...(C > 0 ? ['class acc.'] : [])];
        const lines = rows.map((r) => [r.acceptance.toString(), c.formatCount(r.candidates), na(r.fid, 3), na(r.precision, 4), na(r.recall, 4), r.is ? r.is.mean.toFixed(3) : 'n/a', ...(C > 0 ? [pct(r.classAccuracy)] : [])]);
        const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
        for (const l of [head, ...lines]) ctx.out('  ' + l.map((v, i) => v.padStart(widths[i]!)).join('  '));
      }
      return 0;
    } finally {
      for (const d of disposers.reverse()) d();
    }
  },
});
