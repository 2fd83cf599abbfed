// `tessera eval fid DIR_A DIR_B`: flags for evaluateFid (src/metrics/evaluate.ts), which compares two
// image folders through a feature network — FID, KID, precision/recall and the Inception Score of each
// folder — and the printing of its result. With --inception (pytorch-fid's weights) the numbers are
// the standard FID/KID/IS; with --classifier (a Tessera classifier) they carry its name.
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';

function requireDir(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  if (!statSync(path).isDirectory()) throw new UsageError(`${what} is not a directory: ${path}`);
}

export const command = defineCommand({
  name: 'eval fid',
  summary: 'compare two image folders: FID, KID, precision/recall, Inception Score',
  description:
    'Streams both folders through a feature network and reports the Fréchet distance of the feature ' +
    'Gaussians (FID), KID (unbiased cubic-kernel MMD², 100 subsets of up to 1000), precision and recall ' +
    "(k-NN manifolds, k = 3; precision: share of DIR_B inside DIR_A's manifold) and the Inception Score of " +
    "each folder. --inception FILE uses pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth) " +
    'and gives the standard metrics; --classifier FILE uses a classifier trained by `tessera train classifier` ' +
    'and names the metrics after it (FID-tessera-mnist, …), so they are never mistaken for standard FID. ' +
    'Images are read with the folder dataset loader (PNG/JPEG/WebP, shorter side scaled to --size and ' +
    'centre-cropped); unreadable files are skipped and counted. The Inception network then resizes to 299 px ' +
    'bilinearly, as pytorch-fid does; square images up to 299 px therefore match pytorch-fid exactly, while ' +
    'larger ones are first downscaled by the loader (antialiased) and non-square ones are cropped, not stretched.',
  positionals: [
    { name: 'DIR_A', help: 'reference images (e.g. real)', required: true },
    { name: 'DIR_B', help: 'images to evaluate (e.g. generated)', required: true },
  ],
  options: {
    inception: { type: 'string', metavar: 'file', help: "pytorch-fid's FID Inception weights (.pth or .safetensors): standard FID" },
    classifier: { type: 'string', metavar: 'file', help: 'a Tessera classifier model file: FID-<classifier name>' },
    size: {
      type: 'number',
      integer: true,
      min: 8,
      max: 2048,
      help: "side images are loaded at (default: the classifier's size; for Inception the first image's shorter side, at most 299)",
    },
    batchSize: { type: 'number', integer: true, min: 1, default: 32, help: 'images per batch' },
    k: { type: 'number', integer: true, min: 1, default: 3, help: 'neighbours for the precision/recall manifolds' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  examples: [
    'tessera eval fid real/ samples/ --inception pt_inception-2015-12-05-6726825d.pth',
    'tessera eval fid mnist-val/ samples/ --classifier models/classifier-mnist.safetensors --json',
  ],
  async run(o, pos, ctx) {
    const [dirA, dirB] = pos as [string, string];
    if (o.inception === undefined && o.classifier === undefined) {
      throw new UsageError(
        "choose a feature network: --inception FILE (pytorch-fid's pt_inception-2015-12-05-6726825d.pth; standard FID) " +
          'or --classifier FILE (a model from `tessera train classifier`; reported as FID-<name>)',
      );
    }
    if (o.inception !== undefined && o.classifier !== undefined) throw new UsageError('give either --inception or --classifier, not both');
    requireDir(dirA, 'DIR_A');
    requireDir(dirB, 'DIR_B');
    const { checkFeatureFiles, runEvaluation, na, small } = await import('../eval-common.js');
    const { evaluateFid } = await import('../../metrics/evaluate.js');
    checkFeatureFiles(o);
    const r = await runEvaluation(ctx, o.json, (cb) =>
      evaluateFid({ ...cb, dirA, dirB, classifier: o.classifier, inception: o.inception, size: o.size, batchSize: o.batchSize, k: o.k }),
    );
    if (o.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    const { printRows } = await import('../tokenizer-common.js');
    const { names, kid, isA, isB } = r;
    const count = (s: { images: number; skipped: number }) => `${s.images} images${s.skipped ? ` (${s.skipped} unreadable skipped)` : ''}`;
    const few = 'n/a (too few images)';
    printRows(ctx, [
      [
        'features',
        r.featureNetwork.kind === 'inception'
          ? `FID Inception (${o.inception}), images at ${r.size} px`
          : `classifier ${r.featureNetwork.name} (${o.classifier}), images at ${r.size} px`,
      ],
      ['A', `${dirA}: ${count(r.a)}`],
      ['B', `${dirB}: ${count(r.b)}`],
      [names.fid, na(r.fid, 3, few)],
      [names.kid, kid ? `${small(kid.mean)} ± ${small(kid.std)} (${kid.subsets} subsets of ${kid.subsetSize})` : few],
      [
        'precision',
        r.precision !== null ? `${r.precision.toFixed(4)} (share of B inside A's manifold, k = ${r.k})` : `n/a (needs more than k = ${r.k} images per folder)`,
      ],
      ['recall', r.recall !== null ? `${r.recall.toFixed(4)} (share of A inside B's manifold)` : 'n/a'],
      [`${names.is} A`, isA ? `${isA.mean.toFixed(3)} ± ${isA.std.toFixed(3)} (${isA.splits} splits)` : 'n/a'],
      [`${names.is} B`, isB ? `${isB.mean.toFixed(3)} ± ${isB.std.toFixed(3)} (${isB.splits} splits)` : 'n/a'],
    ]);
    return 0;
  },
});
