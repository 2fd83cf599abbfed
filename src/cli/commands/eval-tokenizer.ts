// `tessera eval tokenizer`: flags for evaluateTokenizer (src/metrics/evaluate-tokenizer.ts) —
// reconstruction quality (PSNR, SSIM, L1, rFID) and codebook use (utilization, perplexity) of a
// tokenizer on a dataset split — and the printing of its result.
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'eval tokenizer',
  summary: 'measure a tokenizer: PSNR, SSIM, L1, rFID, codebook utilization and perplexity',
  description:
    'Encodes and decodes a dataset split in batches and reports PSNR (dB), SSIM, L1 (in [-1, 1] units), ' +
    'the fraction of codebook entries used and the perplexity of the code distribution. --split val is the ' +
    'validation split the trainer held out (same --val-count). When the model file sits in a run directory, ' +
    'its config.json supplies the defaults for --data, --size and --val-count. rFID compares the features of the ' +
    "reconstructions with those of the originals of the evaluated split: --inception FILE (pytorch-fid's FID " +
    'Inception weights) gives the standard rFID; otherwise a Tessera classifier — --classifier FILE, or the shipped ' +
    'models/mnist-classifier.safetensors / models/emoji-classifier.safetensors for MNIST and emoji — gives ' +
    'rFID-tessera-mnist / rFID-tessera-emoji. Folder datasets without either skip rFID with a note.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer model file (.safetensors)' },
    data: { type: 'string', metavar: 'spec', help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the run's)" },
    size: { type: 'number', integer: true, min: 1, max: 2048, help: "image side in pixels (default: the run's, else the dataset's own)" },
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
    const { checkFeatureFiles, runEvaluation, na, pct } = await import('../eval-common.js');
    const { evaluateTokenizer } = await import('../../metrics/evaluate-tokenizer.js');
    c.requireFile(o.model, 'model file');
    if (o.noRfid && (o.classifier !== undefined || o.inception !== undefined)) throw new UsageError('--no-rfid contradicts --classifier/--inception');
    if (o.classifier !== undefined && o.inception !== undefined) throw new UsageError('give either --inception or --classifier for rFID, not both');
    checkFeatureFiles(o);
    const data = o.data !== undefined ? c.canonicalDataSpec(o.data) : undefined;
    const r = await runEvaluation(ctx, o.json, (cb) =>
      evaluateTokenizer({
        ...cb,
        model: o.model,
        data,
        size: o.size,
        split: o.split,
        valCount: o.valCount,
        limit: o.limit,
        batchSize: o.batchSize,
        classifier: o.classifier,
        inception: o.inception,
        rfid: !o.noRfid,
      }),
    );
    const d = r.runDefaults;
    if (d) {
      const used = [
        d.data !== undefined && `--data ${d.data}`,
        d.size !== undefined && `--size ${d.size}`,
        d.valCount !== undefined && `--val-count ${d.valCount}`,
      ].filter(Boolean);
      ctx.err(`note: using ${used.join(' ')} from ${d.path}`);
    }
    if (o.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    const of = `${c.formatCount(r.images)}${r.images < r.available ? ` of ${c.formatCount(r.available)}` : ''} images`;
    const splitText =
      r.split === 'all'
        ? `all ${of}`
        : r.split === 'val'
          ? `val split, ${of} (the ${r.valCount} the trainer holds out with --val-count ${r.valCount})`
          : `train split, ${of} (all but the ${r.valCount} validation images)`;
    c.printRows(ctx, [
      ['model', `${o.model} (${r.kind}, downsampling ${r.downsample}, ${r.codebookSize} codes)`],
      ['data', `${r.data} at ${r.size}×${r.size}: ${splitText}`],
      ['PSNR', r.psnr === null ? 'n/a' : `${r.psnr.toFixed(2)} dB`],
      ['SSIM', r.ssim === null && r.size < 11 ? 'n/a (images smaller than the 11 px window)' : na(r.ssim, 4)],
      ['L1', na(r.l1, 4)],
      ...(r.rfidName
        ? [
            [
              r.rfidName,
              `${na(r.rfid, 3)} (reconstructions vs the originals of this split; ${o.inception !== undefined ? 'FID Inception' : 'classifier'} ${r.rfidFeatures})`,
            ] as [string, string],
          ]
        : []),
      ...(r.classAccuracy
        ? [
            [
              'class accuracy',
              `${pct(r.classAccuracy.reconstructions)} of reconstructions, ${pct(r.classAccuracy.originals)} of originals (the classifier's; a prior over these tokens is judged by it)`,
            ] as [string, string],
          ]
        : []),
      ...r.levels.map((l): [string, string] => [
        r.levels.length > 1 ? `codebook ${l.name}` : 'codebook',
        `${l.used} of ${l.codebookSize} codes used (${(l.utilization * 100).toFixed(1)}%), perplexity ${l.perplexity.toFixed(1)}`,
      ]),
    ]);
    return 0;
  },
});
