// `tessera eval tokenizer`: reconstruction quality (PSNR, SSIM, L1, rFID) and codebook use
// (utilization, perplexity) of a tokenizer on a dataset split. rFID is the Fréchet distance between the
// features of the reconstructions and of the originals of the same split: standard with --inception,
// else computed with the dataset's Tessera classifier and named after it (rFID-tessera-mnist). The validation split is the trainer's: the same
// deterministic hash split with the same --val-count. Runs in batches; code counts are accumulated
// as it goes, so memory does not grow with the split.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';

/** A run's config.json next to the model file (written by `tessera train tokenizer`), if any. */
function runConfigNextTo(model: string): { path: string; data?: string; size?: number; valCount?: number } | undefined {
  const path = join(dirname(model), 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown; size?: unknown; valCount?: unknown; arch?: unknown };
    if (typeof j.arch !== 'string' || typeof j.data !== 'string') return undefined;
    return {
      path,
      data: j.data,
      size: typeof j.size === 'number' ? j.size : undefined,
      valCount: typeof j.valCount === 'number' ? j.valCount : undefined,
    };
  } catch {
    return undefined;
  }
}

export const command = defineCommand({
  name: 'eval tokenizer',
  summary: 'measure a tokenizer: PSNR, SSIM, L1, rFID, codebook utilization and perplexity',
  description:
    'Encodes and decodes a dataset split in batches and reports PSNR (dB), SSIM, L1 (in [-1, 1] units), ' +
    'the fraction of codebook entries used and the perplexity of the code distribution. --split val is the ' +
    "validation split the trainer held out (same --val-count). When the model file sits in a run directory, " +
    "its config.json supplies the defaults for --data, --size and --val-count. rFID compares the features of the " +
    'reconstructions with those of the originals of the evaluated split: --inception FILE (pytorch-fid\'s FID ' +
    "Inception weights) gives the standard rFID; otherwise a Tessera classifier — --classifier FILE, or the shipped " +
    'models/mnist-classifier.safetensors / models/emoji-classifier.safetensors for MNIST and emoji — gives ' +
    'rFID-tessera-mnist / rFID-tessera-emoji. Folder datasets without either skip rFID with a note.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer model file (.safetensors)' },
    data: { type: 'string', metavar: 'spec', help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the run's)" },
    size: { type: 'number', integer: true, min: 1, help: "image side in pixels (default: the run's, else the dataset's own)" },
    split: { type: 'enum', values: ['val', 'train', 'all'], default: 'val', help: 'which images' },
    valCount: { type: 'number', integer: true, min: 1, help: "size of the validation split (default: the run's, else 500)" },
    limit: { type: 'number', integer: true, min: 1, help: 'evaluate N images spread evenly over the split' },
    batchSize: { type: 'number', integer: true, min: 1, default: 32, help: 'images per batch' },
    classifier: { type: 'string', metavar: 'file', help: 'rFID with this Tessera classifier (default: the shipped one for MNIST/emoji)' },
    inception: { type: 'string', metavar: 'file', help: "rFID with pytorch-fid's FID Inception weights (.pth or .safetensors): standard rFID" },
    noRfid: { type: 'boolean', help: 'skip rFID' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  examples: [
    'tessera eval tokenizer --model runs/mnist/model.safetensors',
    'tessera eval tokenizer --model vqgan.safetensors --data folder:photos --size 256 --split all --json',
  ],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const T = await import('../../torch/index.js');
    const { loadDataset, parseDatasetSpec, formatDatasetSpec, DatasetError } = await import('../../data/index.js');
    const { psnrPerImage, ssimPerImage, codebookUsage } = await import('../../metrics/image.js');
    const { splitOrExplain } = c;

    c.requireFile(o.model, 'model file');
    if (o.noRfid && (o.classifier !== undefined || o.inception !== undefined)) throw new UsageError('--no-rfid contradicts --classifier/--inception');
    if (o.classifier !== undefined && o.inception !== undefined) throw new UsageError('give either --inception or --classifier for rFID, not both');
    if (o.classifier !== undefined) c.requireFile(o.classifier, 'classifier file');
    if (o.inception !== undefined && !existsSync(o.inception)) {
      const { missingWeightsMessage } = await import('../../metrics/inception.js');
      throw new Error(missingWeightsMessage(o.inception));
    }
    const run = runConfigNextTo(o.model);
    const dataSpec = o.data ?? run?.data;
    if (dataSpec === undefined) throw new UsageError('missing required option --data (no run config.json next to the model)');
    let spec;
    try {
      spec = parseDatasetSpec(dataSpec);
    } catch (e) {
      if (e instanceof DatasetError) throw new UsageError(`--data: ${e.message}`);
      throw e;
    }
    // The run's size applies only to the run's dataset.
    const sameData = run?.data !== undefined && formatDatasetSpec(spec) === run.data;
    const size = o.size ?? (sameData ? run?.size : undefined);
    const valCount = o.valCount ?? (sameData ? run?.valCount : undefined) ?? 500;
    if (size === undefined && spec.kind === 'folder') throw new UsageError('--size is required for folder datasets');
    const defaults = [o.data === undefined && `--data ${dataSpec}`, o.size === undefined && sameData && size !== undefined && `--size ${size}`, o.valCount === undefined && sameData && run?.valCount !== undefined && o.split !== 'all' && `--val-count ${valCount}`].filter(Boolean);
    if (defaults.length && run) ctx.err(`note: using ${defaults.join(' ')} from ${run.path}`);

    const model = c.loadModel(o.model);
    const f = model.downsample;
    const ds = await loadDataset(dataSpec, {
      size,
      resize: size,
      channels: model.inChannels === 1 ? 1 : 3,
      onWarning: (l) => ctx.err(`warning: ${l}`),
    });
    const side = ds.transform.size;
    if (side % f !== 0) {
      throw new Error(`images of ${side} px are not a multiple of the model's downsampling factor ${f}; pass --size ${c.nearestMultiple(side, f)}`);
    }
    let view = ds;
    if (o.split !== 'all') {
      const parts = splitOrExplain(ds, valCount);
      view = o.split === 'val' ? parts.val : parts.train;
    }
    const n = Math.min(view.size, o.limit ?? Infinity);

    // rFID's feature network: --inception, --classifier, or the dataset's shipped classifier.
    type Extractor = import('../../metrics/features.js').FeatureExtractor & { dispose(): void };
    let extractor: Extractor | undefined;
    let rfidNote: string | undefined;
    let rfidFile: string | undefined;
    if (!o.noRfid) {
      if (o.inception !== undefined) {
        const { loadFidInception } = await import('../../metrics/inception.js');
        extractor = loadFidInception(o.inception);
        rfidFile = o.inception;
      } else {
        const { shippedClassifier } = await import('../../metrics/shipped.js');
        const shipped = o.classifier === undefined ? shippedClassifier(formatDatasetSpec(spec)) : undefined;
        rfidFile = o.classifier ?? (shipped?.exists ? shipped.path : undefined);
        if (rfidFile !== undefined) {
          const { loadClassifier } = await import('../../metrics/classifier.js');
          extractor = loadClassifier(rfidFile);
        } else {
          rfidNote = shipped
            ? `rFID skipped: the shipped classifier ${shipped.path} is missing (pass --classifier FILE or --inception FILE)`
            : `rFID skipped: no feature network for ${formatDatasetSpec(spec)} (pass --classifier FILE from \`tessera train classifier\`, or --inception FILE)`;
        }
      }
    }
    if (rfidNote) ctx.err(`note: ${rfidNote}`);
    const { RunningGaussian, frechetDistanceOf } = await import('../../metrics/distribution.js');
    const { fidName } = await import('../../metrics/features.js');
    const realStats = extractor ? new RunningGaussian(extractor.featureDim) : undefined;
    const reconStats = extractor ? new RunningGaussian(extractor.featureDim) : undefined;
    // Spread a --limit over the whole split: stores may be ordered by class (MNIST is).
    const order = Array.from({ length: n }, (_, i) => Math.floor((i * view.size) / n));
    const withSsim = side >= 11;

    const counts = new Float64Array(model.codebookSize);
    let psnrSum = 0;
    let psnrFinite = 0;
    let ssimSum = 0;
    let l1Sum = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const idx = order.slice(start, start + o.batchSize);
      T.tidy(() =>
        T.noGrad(() => {
          const x = view.batch(idx).images;
          const codes = model.encode(x);
          const r = model.decode(codes).clamp(-1, 1);
          for (const v of psnrPerImage(x, r)) if (Number.isFinite(v)) (psnrSum += v), psnrFinite++;
          if (withSsim) for (const v of ssimPerImage(x, r)) ssimSum += v;
          l1Sum += x.sub(r).abs().mean([1, 2, 3]).sum().item();
          if (extractor) {
            realStats!.update(extractor.features(x).features);
            reconStats!.update(extractor.features(r).features);
          }
          const ids = codes.data() as BigInt64Array;
          for (let i = 0; i < ids.length; i++) counts[Number(ids[i])]!++;
        }),
      );
      if (process.stderr.isTTY && !o.json) process.stderr.write(`\r${Math.min(start + o.batchSize, n)}/${n}`);
    }
    if (process.stderr.isTTY && !o.json) process.stderr.write('\r' + ' '.repeat(24) + '\r');
    const usage = codebookUsage(counts);
    const rfid = extractor && n >= 2 ? frechetDistanceOf(realStats!, reconStats!) : null;
    const rfidName = extractor ? 'r' + fidName(extractor) : null;
    realStats?.dispose();
    reconStats?.dispose();
    extractor?.dispose();
    const result = {
      model: o.model,
      kind: model.kind,
      data: formatDatasetSpec(spec),
      split: o.split,
      valCount: o.split === 'all' ? null : valCount,
      size: side,
      images: n,
      psnr: psnrFinite ? psnrSum / psnrFinite : null,
      ssim: withSsim && n ? ssimSum / n : null,
      l1: n ? l1Sum / n : null,
      rfid,
      rfidName,
      rfidFeatures: rfidFile ?? null,
      codebookSize: model.codebookSize,
      used: usage.used,
      utilization: usage.utilization,
      perplexity: usage.perplexity,
    };
    if (o.json) {
      ctx.out(JSON.stringify(result, null, 2));
      return 0;
    }
    const of = `${c.formatCount(n)}${n < view.size ? ` of ${c.formatCount(view.size)}` : ''} images`;
    const splitText =
      o.split === 'all'
        ? `all ${of}`
        : o.split === 'val'
          ? `val split, ${of} (the ${valCount} the trainer holds out with --val-count ${valCount})`
          : `train split, ${of} (all but the ${valCount} validation images)`;
    const fmt = (v: number | null, d: number, unit = '') => (v === null ? 'n/a' : v.toFixed(d) + unit);
    c.printRows(ctx, [
      ['model', `${o.model} (${model.kind}, downsampling ${f}, ${model.codebookSize} codes)`],
      ['data', `${result.data} at ${side}×${side}: ${splitText}`],
      ['PSNR', fmt(result.psnr, 2, ' dB')],
      ['SSIM', withSsim ? fmt(result.ssim, 4) : 'n/a (images smaller than the 11 px window)'],
      ['L1', fmt(result.l1, 4)],
      ...(rfidName ? [[rfidName, `${fmt(rfid, 3)} (reconstructions vs the originals of this split; ${o.inception !== undefined ? 'FID Inception' : 'classifier'} ${rfidFile})`] as [string, string]] : []),
      ['codebook', `${usage.used} of ${model.codebookSize} codes used (${(usage.utilization * 100).toFixed(1)}%), perplexity ${usage.perplexity.toFixed(1)}`],
    ]);
    return 0;
  },
});
