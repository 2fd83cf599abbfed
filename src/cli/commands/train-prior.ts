// `tessera train prior`: trains an autoregressive or MaskGIT prior over a trained tokenizer's tokens
// with the shared training loop. Flags, defaults and the resume rule come from the trainer's schema
// (src/train/prior-config.ts).
import { defineCommand } from '../command.js';
import { runTrainCommand, trainOptions } from '../train-common.js';
import { PRIOR_SCHEMA } from '../../train/prior-config.js';

export const command = defineCommand({
  name: 'train prior',
  summary: 'train an autoregressive, MaskGIT or VQ-Diffusion prior over a tokenizer’s tokens',
  description:
    'Encodes the dataset once with the (frozen) tokenizer, then trains a transformer prior on the tokens: ' +
    '--arch ar predicts them in raster order after a class token; --arch maskgit learns to fill masked tokens ' +
    '(decoded in a few parallel steps); --arch diffusion learns to denoise masked-and-replaced tokens (VQ-Diffusion, sampled in --steps timesteps). Writes into --out: model.safetensors (prior + tokenizer in one file, ' +
    'EMA weights: use it with tessera sample / inpaint / outpaint), samples-latest.png (one row per class), ' +
    'checkpoint.safetensors, config.json, log.jsonl and loss.svg. Ctrl-C (or SIGTERM) saves a checkpoint and exits with 130 (143); ' +
    'continue with --resume, which accepts flags equal to the saved run and a raised --steps, and refuses any other change. ' +
    'The validation split (--val-count) is held out as in train tokenizer.',
  options: trainOptions(PRIOR_SCHEMA),
  examples: [
    'tessera train prior --arch maskgit --tokenizer runs/mnist-tok/model.safetensors --out runs/mnist-maskgit',
    'tessera train prior --arch ar --tokenizer runs/mnist-tok/model.safetensors --data mnist --size 28 --steps 4000 --out runs/mnist-ar',
    'tessera train prior --out runs/mnist-ar --resume',
  ],
  run: (opts, _pos, ctx) => runTrainCommand('prior', opts, ctx),
});
