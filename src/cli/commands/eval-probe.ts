// `tessera eval probe --model PRIOR`: flags for probePrior (src/metrics/probe.ts) — a linear probe of
// the frozen prior's block features against raw pixels and a random-init prior — and its printing.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'eval probe',
  summary: "linear probe of a prior's block features (vs raw pixels and a random-init prior)",
  description:
    "Runs the dataset's images through the frozen prior (unconditionally: null class; an autoregressive prior on its " +
    "teacher-forced sequence, MaskGIT with nothing masked), averages block k's layer-normalised outputs over the " +
    'sequence (iGPT), trains a linear softmax classifier on the training split (all of it, or --train-count images; its ' +
    'weight decay chosen on a held-out fifth of them) and reports top-1 accuracy on ' +
    "the validation split (--val-count, default the run's, else 500). Without --layer every block is probed and the " +
    'best on the held-out fifth reported (the validation split chooses neither block nor weight decay). Baselines: the same probe on raw pixels and on a randomly initialised prior of the same size.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'prior model file (autoregressive or MaskGIT)' },
    data: { type: 'string', metavar: 'spec', help: "labelled dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the model's)" },
    layer: {
      type: 'number',
      integer: true,
      metavar: 'k',
      help: 'probe only block k (1 = first); default: all blocks, the best on held-out training images reported',
    },
    valCount: { type: 'number', integer: true, min: 1, help: "size of the validation split (default: the run's, else 500)" },
    trainCount: {
      type: 'number',
      integer: true,
      min: 5,
      help: 'at most this many training images for the classifier, spread over the split (default: all of it; a fifth of them choose its weight decay)',
    },
    batchSize: { type: 'number', integer: true, min: 1, default: 64, help: 'images per forward' },
    seed: { type: 'number', integer: true, default: 0, help: 'seed of the random-init prior' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
  examples: [
    'tessera eval probe --model models/mnist-ar.safetensors --data mnist',
    'tessera eval probe --model models/emoji-maskgit.safetensors --layer 3 --json',
  ],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const { runEvaluation, pct } = await import('../eval-common.js');
    const { probePrior } = await import('../../metrics/probe.js');
    c.requireFile(o.model, 'model file');
    const data = o.data !== undefined ? c.canonicalDataSpec(o.data) : undefined;
    const r = await runEvaluation(ctx, o.json, (cb) =>
      probePrior({ ...cb, model: o.model, data, layer: o.layer, valCount: o.valCount, trainCount: o.trainCount, batchSize: o.batchSize, seed: o.seed }),
    );
    if (o.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      `${o.model} (${r.arch}, ${r.blocks} blocks) on ${r.data} at ${r.size}×${r.size}: ${r.classes} classes, ${c.formatCount(r.trainImages)} train / ${c.formatCount(r.valImages)} validation images`,
    );
    ctx.out('  features              block  dim    weight decay  train acc  held-out  val acc (top-1)');
    const line = (
      name: string,
      row: { layer: number | null; dim: number; weightDecay: number; heldOutAccuracy: number | null; trainAccuracy: number; accuracy: number },
    ) =>
      ctx.out(
        `  ${name.padEnd(20)}  ${String(row.layer ?? '-').padStart(5)}  ${String(row.dim).padStart(5)}  ${String(row.weightDecay).padStart(12)}  ${pct(row.trainAccuracy).padStart(9)}  ${(row.heldOutAccuracy === null ? '-' : pct(row.heldOutAccuracy)).padStart(8)}  ${pct(row.accuracy).padStart(9)}`,
      );
    for (const row of r.rows) line('prior', row);
    for (const row of r.randomRows) line('random-init prior', row);
    line('pixels', r.pixels);
    ctx.out(
      `best (on held-out training images): block ${r.best.layer} ${pct(r.best.accuracy)}; random-init best ${pct(r.randomBest.accuracy)}; pixels ${pct(r.pixels.accuracy)}`,
    );
    return 0;
  },
});
