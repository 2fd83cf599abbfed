// `tessera train tokenizer`: trains a VQ-VAE / VQGAN / MoVQ on a dataset spec with the shared training
// loop. Flags, defaults and the resume rule come from the trainer's schema (src/train/tokenizer-config.ts).
import { defineCommand } from '../command.js';
import { runTrainCommand, trainOptions } from '../train-common.js';
import { TOKENIZER_SCHEMA } from '../../train/tokenizer-config.js';

export const command = defineCommand({
  name: 'train tokenizer',
  summary: 'train an image tokenizer (VQ-VAE, VQGAN, MoVQ) on a dataset',
  description:
    'Trains a tokenizer and writes into --out: model.safetensors (the usable model, EMA weights), ' +
    'checkpoint.safetensors (everything needed to resume exactly), config.json (the resolved configuration), ' +
    'log.jsonl (one record per step), loss.svg and recon-latest.png (validation images over their reconstructions). ' +
    'Ctrl-C (or SIGTERM) saves a checkpoint after the current step and exits with 130 (143); continue with --resume, ' +
    'which accepts flags equal to the saved run and a raised --steps, and refuses any other change.',
  options: trainOptions(TOKENIZER_SCHEMA),
  examples: [
    'tessera train tokenizer --arch vqvae --data mnist --size 16 --out runs/mnist-vq --steps 2000',
    'tessera train tokenizer --arch vqgan --data emoji:google --size 32 --codebook-size 512 --out runs/emoji',
    'tessera train tokenizer --out runs/emoji --resume --steps 4000',
  ],
  run: (opts, _pos, ctx) => runTrainCommand('tokenizer', opts, ctx),
});
