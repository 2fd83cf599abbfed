// `tessera eval fid DIR_A DIR_B`: compares two image folders through a feature network — FID
// (Fréchet distance of the feature Gaussians), KID, precision/recall (k-NN manifolds, k = 3) and the
// Inception Score of each folder. With --inception (pytorch-fid's weights) the numbers are the standard
// FID/KID/IS; with --classifier (a Tessera classifier) they carry its name, e.g. FID-tessera-mnist.
// Both folders are streamed through the network in batches; only the pooled features are kept.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';

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
    '(k-NN manifolds, k = 3; precision: share of DIR_B inside DIR_A\'s manifold) and the Inception Score of ' +
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
    size: { type: 'number', integer: true, min: 8, help: "side images are loaded at (default: the classifier's size; for Inception the first image's shorter side, at most 299)" },
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
    const { loadDataset } = await import('../../data/index.js');
    const { collectFeatures, fidName } = await import('../../metrics/features.js');
    const { frechetDistanceOf, kernelInceptionDistance, precisionRecall, inceptionScore, defaultIsSplits } = await import('../../metrics/distribution.js');

    // The feature network.
    let extractor: import('../../metrics/features.js').FeatureExtractor & { dispose(): void };
    let size = o.size;
    let channels: 1 | 3 = 3;
    if (o.inception !== undefined) {
      const { loadFidInception, INCEPTION_INPUT_SIZE } = await import('../../metrics/inception.js');
      extractor = loadFidInception(o.inception);
      if (size === undefined) {
        const first = firstImage(dirA);
        if (first !== undefined) {
          const sharp = (await import('sharp')).default;
          try {
            const m = await sharp(first).metadata();
            if (m.width && m.height) size = Math.min(m.width, m.height, INCEPTION_INPUT_SIZE);
          } catch {
            // unreadable: the loader will skip it; ask for --size below
          }
        }
        if (size === undefined) throw new UsageError(`cannot tell the image size from ${dirA}; pass --size`);
      }
    } else {
      const { loadClassifier } = await import('../../metrics/classifier.js');
      const clf = loadClassifier(o.classifier!);
      extractor = clf;
      size ??= clf.config.size;
      channels = clf.config.inChannels;
    }
    const fid = fidName(extractor);
    const suffix = fid.slice('FID'.length); // '' or '-tessera-mnist'

    try {
      const load = (dir: string) => loadDataset(`folder:${dir}`, { size, channels, cache: false, onWarning: (l) => ctx.err(`warning: ${l}`) });
      const sets = [];
      for (const dir of [dirA, dirB]) {
        const ds = await load(dir);
        const n = ds.size;
        // One batch tensor at a time: made here, freed when the extractor is done with it.
        const batches = function* () {
          for (let start = 0; start < n; start += o.batchSize) {
            const idx = Array.from({ length: Math.min(o.batchSize, n - start) }, (_, i) => start + i);
            const images = ds.batch(idx).images;
            try {
              yield images;
            } finally {
              images.dispose();
            }
          }
        };
        const progress = process.stderr.isTTY && !o.json;
        const set = collectFeatures(extractor, batches(), { onBatch: (done) => progress && process.stderr.write(`\r${dir}: ${done}/${n}`) });
        if (progress) process.stderr.write('\r' + ' '.repeat(Math.min(79, dir.length + 24)) + '\r');
        sets.push({ dir, set, skipped: ds.info.skipped });
      }
      const [a, b] = sets as [(typeof sets)[0], (typeof sets)[0]];
      try {
        const fd = a.set.count >= 2 && b.set.count >= 2 ? frechetDistanceOf(a.set.gaussian, b.set.gaussian) : null;
        const kid = a.set.count >= 2 && b.set.count >= 2 ? kernelInceptionDistance(a.set.features, b.set.features, { subsets: 100, subsetSize: 1000, seed: 0 }) : null;
        const pr = a.set.count > o.k && b.set.count > o.k ? precisionRecall(a.set.features, b.set.features, { k: o.k }) : null;
        const is = (s: typeof a.set) => (s.count >= 1 ? inceptionScore(s.logits, { splits: defaultIsSplits(s.count) }) : null);
        const isA = is(a.set);
        const isB = is(b.set);
        const result = {
          featureNetwork: o.inception !== undefined ? { kind: 'inception', file: o.inception } : { kind: 'classifier', file: o.classifier, name: extractor.name },
          names: { fid, kid: `KID${suffix}`, is: `IS${suffix}` },
          size,
          a: { dir: dirA, images: a.set.count, skipped: a.skipped },
          b: { dir: dirB, images: b.set.count, skipped: b.skipped },
          fid: fd,
          kid,
          precision: pr?.precision ?? null,
          recall: pr?.recall ?? null,
          k: o.k,
          isA,
          isB,
        };
        if (o.json) {
          ctx.out(JSON.stringify(result, null, 2));
          return 0;
        }
        const { printRows } = await import('../tokenizer-common.js');
        const count = (s: { images: number; skipped: number }) => `${s.images} images${s.skipped ? ` (${s.skipped} unreadable skipped)` : ''}`;
        const na = (v: number | null, d: number) => (v === null ? 'n/a (too few images)' : v.toFixed(d));
        const small = (v: number) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(5));
        printRows(ctx, [
          ['features', o.inception !== undefined ? `FID Inception (${o.inception}), images at ${size} px` : `classifier ${extractor.name} (${o.classifier}), images at ${size} px`],
          ['A', `${dirA}: ${count(result.a)}`],
          ['B', `${dirB}: ${count(result.b)}`],
          [fid, na(fd, 3)],
          [`KID${suffix}`, kid ? `${small(kid.mean)} ± ${small(kid.std)} (${kid.subsets} subsets of ${kid.subsetSize})` : 'n/a (too few images)'],
          ['precision', pr ? `${pr.precision.toFixed(4)} (share of B inside A's manifold, k = ${o.k})` : `n/a (needs more than k = ${o.k} images per folder)`],
          ['recall', pr ? `${pr.recall.toFixed(4)} (share of A inside B's manifold)` : 'n/a'],
          [`IS${suffix} A`, isA ? `${isA.mean.toFixed(3)} ± ${isA.std.toFixed(3)} (${isA.splits} splits)` : 'n/a'],
          [`IS${suffix} B`, isB ? `${isB.mean.toFixed(3)} ± ${isB.std.toFixed(3)} (${isB.splits} splits)` : 'n/a'],
        ]);
        return 0;
      } finally {
        a.set.dispose();
        b.set.dispose();
      }
    } finally {
      extractor.dispose();
    }
  },
});
