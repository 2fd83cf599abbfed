// `tessera import movq`: a SBER MoVQGAN checkpoint (state dict + YAML) → Tessera model file.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'import movq',
  summary: 'import a SBER MoVQGAN checkpoint as a model file',
  description:
    'Reads a MoVQGAN state dict with its YAML config, checks every weight against the config, drops the ' +
    'training loss (loss.*) and the EMA shadows (ema_*; --ema loads those as the weights instead) and ' +
    'writes a Tessera model file.',
  options: {
    checkpoint: { type: 'string', required: true, metavar: 'file', help: 'the checkpoint (.ckpt / .pth / .pt)' },
    config: { type: 'string', required: true, metavar: 'file.yaml', help: "the model's YAML config" },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (.safetensors)' },
    ema: { type: 'boolean', help: 'use the EMA weights stored in the checkpoint' },
  },
  examples: ['tessera import movq --checkpoint movqgan_67M.ckpt --config movqgan_67M.yaml --out movq.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    c.runImport('movq', o, ctx);
  },
});
