// `tessera eval prior --model P`: flags for evaluatePrior (src/metrics/evaluate-prior.ts), which samples
// N images from a prior model and measures them against a split of its dataset — FID, KID,
// precision/recall, Inception Score, class accuracy and, with --accept, rejection sampling — and the
// printing of its result.
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

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

export const command = defineCommand({
  name: 'eval prior',
  summary: 'measure a prior: FID, KID, IS, precision/recall and class accuracy of its samples',
  description:
    'Samples N images from a prior model and compares them with a split of its dataset through a feature network: ' +
    'FID, KID, precision/recall (k-NN manifolds, k = 3), the Inception Score of the samples (10 splits, fewer ' +
    'when there are under 500 images: at least 50 per split) and, for ' +
    'class-conditional models, class accuracy — the share of samples the classifier assigns to the class they ' +
    "were asked for, beside the classifier's accuracy on the reference images themselves, and per class. A " +
    "class-conditional model is asked for its classes in the reference images' proportions (--classes " +
    'reference), so a model that matched the data would score what the data scores; --classes uniform asks ' +
    'for every class equally often (image i gets class i mod C), which on an imbalanced dataset moves FID ' +
    'away from its floor even for real images. ' +
    "--inception FILE (pytorch-fid's FID Inception weights) gives the standard FID/KID/IS; " +
    'otherwise the metrics are computed with a Tessera classifier and named after it (FID-tessera-mnist, …): ' +
    '--classifier FILE, or by default the shipped models/mnist-classifier.safetensors or ' +
    'models/emoji-classifier.safetensors for MNIST and emoji models. With both, Inception measures the ' +
    'distributions and the classifier the class accuracy. The reference is the validation split the trainers ' +
    "hold out (--val-count, default the run's config.json, else 500), at the model's image size. " +
    "Sampling flags not given take the model file's recommended settings (the JSON lists them in sampling.fromModel). " +
    "--baseline also measures N training images of the same classes through the model's tokenizer, against " +
    'the same reference: the figures of a prior that reproduced its training data, the floor to read FID against, ' +
    "and, per class, the data's own class accuracy. " +
    '--accept r1,r2,… adds rejection sampling (the acceptance rate of VQGAN and ViT-VQGAN): for each rate r, ' +
    '⌈N / r⌉ candidates are sampled (the same stream for every rate: the first N are the plain evaluation), ' +
    "scored by the classifier's probability of their requested class (its confidence for unconditional " +
    'models), and the best N kept, in the same class proportions — so every row is measured over N images ' +
    'and rate 1 is the plain evaluation. Caveat: when the classifier is also the feature network, rejection ' +
    'selects on the very features FID-tessera-* is measured with, which flatters it; --inception gives an ' +
    'independent measure (VQGAN scored with a ResNet and measured with Inception).',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'prior model file (.safetensors from tessera train prior)' },
    n: { type: 'number', short: 'n', integer: true, min: 2, default: 1000, help: 'images to evaluate (per acceptance rate)' },
    classifier: { type: 'string', metavar: 'file', help: 'a Tessera classifier (default: the shipped one for MNIST/emoji models)' },
    inception: { type: 'string', metavar: 'file', help: "pytorch-fid's FID Inception weights (.pth or .safetensors): standard FID" },
    data: { type: 'string', metavar: 'spec', help: "reference dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the model's)" },
    size: { type: 'number', integer: true, min: 1, max: 2048, help: "side the reference images are loaded at (default: the model's image size)" },
    split: { type: 'enum', values: ['val', 'train', 'all'], default: 'val', help: 'which reference images' },
    valCount: { type: 'number', integer: true, min: 1, help: "size of the validation split (default: the run's, else 500)" },
    ...samplingOptions,
    batchSize: { type: 'number', integer: true, min: 1, default: 32, help: 'images sampled and measured per batch' },
    accept: { type: 'string', metavar: 'r1,r2,…', help: 'rejection sampling: acceptance rates in (0, 1], e.g. 1,0.5,0.25' },
    k: { type: 'number', integer: true, min: 1, default: 3, help: 'neighbours for the precision/recall manifolds' },
    baseline: {
      type: 'boolean',
      help: "also measure N training images of the same classes through the model's tokenizer: what a prior reproducing its training data would score",
    },
    classes: {
      type: 'enum',
      values: ['reference', 'uniform'],
      default: 'reference',
      help: "classes asked for: in the reference images' proportions, or each equally often",
    },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  examples: [
    'tessera eval prior --model models/mnist-maskgit.safetensors --n 1000',
    'tessera eval prior --model models/mnist-maskgit.safetensors --n 500 --accept 1,0.5,0.25 --json',
    'tessera eval prior --model runs/emoji-ar/model.safetensors --inception pt_inception-2015-12-05-6726825d.pth',
  ],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const { generateOptions, inFlagTerms } = await import('../prior-common.js');
    const { checkFeatureFiles, runEvaluation, na, small, pct } = await import('../eval-common.js');
    const { evaluatePrior } = await import('../../metrics/evaluate-prior.js');
    const accept = o.accept !== undefined ? parseRates(o.accept) : undefined;
    const { generator: _, ...sampling } = generateOptions(o as SamplingFlags); // the flags given; the seed is evaluatePrior's
    c.requireFile(o.model, 'model file');
    checkFeatureFiles(o);
    const data = o.data !== undefined ? c.canonicalDataSpec(o.data) : undefined;
    const r = await runEvaluation(ctx, o.json, (cb) =>
      evaluatePrior({
        ...cb,
        model: o.model,
        classifier: o.classifier,
        inception: o.inception,
        n: o.n,
        data,
        size: o.size,
        split: o.split,
        valCount: o.valCount,
        sampling,
        seed: o.seed,
        batchSize: o.batchSize,
        acceptance: accept,
        k: o.k,
        classes: o.classes,
        baseline: o.baseline,
      }),
    ).catch((e: unknown) => {
      throw inFlagTerms(e); // "option 'steps' does not apply to an autoregressive prior" → --steps
    });
    if (o.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    const { names, reference: ref, sampling: s } = r;
    const C = r.classes;
    const splitText =
      ref.split === 'all'
        ? `all ${c.formatCount(ref.images)} images`
        : ref.split === 'val'
          ? `val split, ${c.formatCount(ref.images)} images (--val-count ${ref.valCount}, as the trainers hold out)`
          : `train split, ${c.formatCount(ref.images)} images (all but the ${ref.valCount} validation images)`;
    const what =
      (r.arch === 'hierarchical'
        ? `hierarchical (top then bottom)${s.steps !== null ? `, ${s.steps} MaskGIT steps per level` : ''}`
        : r.arch === 'ar'
          ? 'autoregressive'
          : r.arch === 'maskgit'
            ? `MaskGIT, ${s.steps} steps`
            : `VQ-Diffusion, ${s.steps} steps${s.truncation !== null && s.truncation < 1 ? `, truncation ${s.truncation}` : ''}`) +
      (s.fromModel.length ? `; ${s.fromModel.join(', ')}: the model's recommended settings` : '');
    const fn = r.featureNetwork;
    c.printRows(ctx, [
      [
        'model',
        `${o.model} (${what}; ${C > 0 ? `${C} classes, asked for ${s.classes === 'reference' ? "in the reference images' proportions" : `equally often (image i gets class i mod ${C})`}` : 'unconditional'})`,
      ],
      ['reference', `${ref.data} at ${ref.size}×${ref.size}: ${splitText}${ref.skipped ? `, ${ref.skipped} unreadable skipped` : ''}`],
      ['features', fn.kind === 'inception' ? `FID Inception (${fn.file})` : `classifier ${fn.name} (${fn.file})`],
      ...(r.classifier && fn.kind === 'inception'
        ? [['classifier', `${r.classifier.name} (${r.classifier.file}) for class accuracy`] as [string, string]]
        : []),
      [
        'samples',
        `${c.formatCount(s.n)} (seed ${s.seed}); sampling ${((s.seconds * 1000) / s.candidates).toFixed(1)} ms per image (${c.formatCount(s.candidates)} sampled in ${s.seconds.toFixed(1)} s)`,
      ],
      [names.fid, na(r.fid, 3)],
      [names.kid, r.kid ? `${small(r.kid.mean)} ± ${small(r.kid.std)}` : 'n/a'],
      ['precision', r.precision === null ? 'n/a' : `${r.precision.toFixed(4)} (share of samples inside the data manifold, k = ${r.k})`],
      ['recall', r.recall === null ? 'n/a' : `${r.recall.toFixed(4)} (share of data inside the samples' manifold)`],
      [names.is, r.is ? `${r.is.mean.toFixed(3)} ± ${r.is.std.toFixed(3)} (data: ${ref.is ? ref.is.mean.toFixed(3) : 'n/a'})` : 'n/a'],
      ...(C > 0
        ? [
            [
              'class accuracy',
              r.classifier?.classesMatch
                ? `${pct(r.classAccuracy)} (samples the classifier assigns to their requested class; the reference images: ${pct(ref.classAccuracy)})`
                : "n/a (no classifier for the model's classes)",
            ] as [string, string],
            ...(r.classifier?.classesMatch && r.perClass
              ? [
                  [
                    'per class',
                    r.perClass
                      .map((p, c) => ({ ...p, data: r.baseline?.perClass?.[c] }))
                      .filter((p) => p.images > 0)
                      .map((p) => `${p.name} ${pct(p.accuracy)} of ${p.images}${p.data == null ? '' : ` (baseline ${pct(p.data)})`}`)
                      .join(', '),
                  ] as [string, string],
                ]
              : []),
          ]
        : []),
    ]);
    if (r.baseline) {
      const b = r.baseline;
      ctx.out('');
      ctx.out(`baseline: ${c.formatCount(b.images)} training images of the same classes through the tokenizer (a prior reproducing its training data):`);
      c.printRows(ctx, [
        [names.fid, na(b.fid, 3)],
        ['precision', na(b.precision, 4)],
        ['recall', na(b.recall, 4)],
        ...(C > 0 ? [['class accuracy', pct(b.classAccuracy)] as [string, string]] : []),
      ]);
    }
    if (r.acceptance) {
      ctx.out('');
      ctx.out(`rejection sampling (best N of ⌈N / rate⌉ by the classifier's probability of the ${C > 0 ? 'requested class' : 'top class'}):`);
      const head = ['acceptance', 'candidates', names.fid, 'precision', 'recall', names.is, ...(C > 0 ? ['class acc.'] : [])];
      const lines = r.acceptance.map((a) => [
        a.acceptance.toString(),
        c.formatCount(a.candidates),
        na(a.fid, 3),
        na(a.precision, 4),
        na(a.recall, 4),
        a.is ? a.is.mean.toFixed(3) : 'n/a',
        ...(C > 0 ? [pct(a.classAccuracy)] : []),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
      for (const l of [head, ...lines]) ctx.out('  ' + l.map((v, i) => v.padStart(widths[i]!)).join('  '));
    }
    return 0;
  },
});
