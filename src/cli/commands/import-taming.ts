// `tessera import taming`: a taming-transformers VQGAN checkpoint (.ckpt + its YAML) → Tessera model file.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'import taming',
  summary: 'import a taming-transformers VQGAN checkpoint as a model file',
  description:
    'Reads a taming-transformers VQModel checkpoint (Lightning .ckpt) with the YAML config it was trained ' +
    'with, checks every weight against the config, drops the training loss (loss.*: discriminator, LPIPS) ' +
    'and writes a Tessera model file.',
  options: {
    checkpoint: { type: 'string', required: true, metavar: 'file', help: 'the .ckpt (e.g. last.ckpt)' },
    config: { type: 'string', required: true, metavar: 'file.yaml', help: "the model's YAML config (model.params.ddconfig, n_embed, embed_dim)" },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (.safetensors)' },
  },
  examples: ['tessera import taming --checkpoint last.ckpt --config model.yaml --out vqgan.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    c.runImport('taming', o, ctx);
  },
});
