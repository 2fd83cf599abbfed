// `tessera train codec`: what the static entropy model and the variable rate need, stored with the
// model — code frequencies over a dataset and, optionally, k-means codebook tiers fine-tuned with
// encoder and decoder frozen (src/codec/tiers.ts). The output is still a normal model file.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'train codec',
  summary: 'add code frequencies and codebook tiers to a model for tessera compress',
  description:
    "Counts how often the model's codes occur on --data's training split (the static entropy model) and, with " +
    "--tiers, fits smaller codebooks by k-means of the trained one, fine-tuning each tier's codebook and " +
    'post-quantization layer with the encoder and decoder frozen (Mao et al., 2023). Writes --out: the model file ' +
    'plus its codec section; tokenizer and prior commands read it as before.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer or prior model file' },
    data: { type: 'string', required: true, metavar: 'spec', help: 'dataset: mnist, emoji:google, or a folder' },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (may equal --model)' },
    tiers: { type: 'string', metavar: 'K,K,…', help: 'codebook tiers to fit, e.g. 64,16,4' },
    tierSteps: { type: 'number', integer: true, min: 0, help: 'fine-tuning steps per tier' },
    limit: { type: 'number', integer: true, min: 1, default: 2000, help: 'training images used' },
    seed: { type: 'number', integer: true, min: 0, default: 0, help: 'random seed (k-means, batches)' },
  },
  examples: [
    'tessera train codec --model models/mnist-ar.safetensors --data mnist --out runs/mnist-ar-codec.safetensors',
    'tessera train codec --model models/mnist-vqvae.safetensors --data mnist --tiers 64,16,4 --out runs/mnist-vqvae-codec.safetensors',
  ],
  async run(o, _pos, ctx) {
    const { trainCodec } = await import('../../codec/index.js');
    const { UsageError } = await import('../args.js');
    const tiers = o.tiers === undefined ? [] : o.tiers.split(',').map((s) => Number(s.trim()));
    if (tiers.some((k) => !Number.isInteger(k) || k < 1)) throw new UsageError(`--tiers must list positive integers, e.g. 64,16,4; got '${o.tiers}'`);
    const section = await trainCodec({
      model: o.model,
      data: o.data,
      out: o.out,
      tiers,
      tierSteps: o.tierSteps,
      limit: o.limit,
      seed: o.seed,
      onProgress: (m) => ctx.err(m),
      onWarning: (l) => ctx.err(l),
    });
    ctx.out(`${o.out}: code frequencies over ${section.images} images${section.tiers.length ? `; codebook tiers ${section.tiers.join(', ')}` : ''}`);
  },
});
