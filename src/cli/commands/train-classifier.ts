// `tessera train classifier`: trains the small CNN that serves as the feature network of the
// tessera-<dataset> metrics (FID-tessera-mnist, …) when the standard Inception weights are absent.
// Flags, defaults and the resume rule come from the trainer's schema (src/train/classifier-config.ts).
import { defineCommand } from '../command.js';
import { runTrainCommand, trainOptions } from '../train-common.js';
import { CLASSIFIER_SCHEMA } from '../../train/classifier-config.js';

export const command = defineCommand({
  name: 'train classifier',
  summary: 'train the classifier behind the tessera-<dataset> metrics (FID-tessera-mnist, …)',
  description:
    'Trains a small CNN to classify a labelled dataset (MNIST digits, emoji categories, class subfolders). ' +
    'Without the standard Inception weights, Tessera computes FID/IS/precision/recall on its penultimate features; ' +
    'those metrics are named after it (e.g. FID-tessera-mnist). Writes into --out: model.safetensors (the classifier), ' +
    'checkpoint.safetensors (everything needed to resume exactly), config.json, log.jsonl, loss.svg and ' +
    'metrics.json (accuracy on the held-out split). Ctrl-C (or SIGTERM) saves a checkpoint after the current step and exits with 130 (143); ' +
    'continue with --resume, which accepts flags equal to the saved run and a raised --steps, and refuses any other change.',
  options: trainOptions(CLASSIFIER_SCHEMA),
  examples: [
    'tessera train classifier --data mnist --size 28 --out runs/mnist-classifier --steps 2000',
    'tessera train classifier --data emoji:google --size 32 --out runs/emoji-classifier',
    'tessera train classifier --out runs/emoji-classifier --resume',
  ],
  run: (opts, _pos, ctx) => runTrainCommand('classifier', opts, ctx),
});
