// `tessera import vitvqgan`: a thuanz123/enhancing-transformers ViTVQ checkpoint (Lightning .ckpt +
// OmegaConf YAML) → Tessera model file.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'import vitvqgan',
  summary: 'import a ViT-VQGAN checkpoint (thuanz123/enhancing-transformers) as a model file',
  description:
    "Reads the port's Lightning checkpoint with its YAML config (model.params: image_size, patch_size, " +
    'encoder, decoder, quantizer), checks every weight against the config, drops the training loss ' +
    '(loss.*) and writes a Tessera model file. The port works on [0, 1] images; the imported model ' +
    'converts at its boundary, so it takes and returns [-1, 1] images like every Tessera tokenizer. ' +
    'The decoder position embedding is applied (the released weights need it).',
  options: {
    checkpoint: { type: 'string', required: true, metavar: 'file', help: 'the checkpoint (last.ckpt)' },
    config: { type: 'string', required: true, metavar: 'file.yaml', help: "the model's YAML config (e.g. imagenet_vitvq_base.yaml)" },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (.safetensors)' },
  },
  examples: ['tessera import vitvqgan --checkpoint last.ckpt --config imagenet_vitvq_base.yaml --out vitvq-base.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    c.runImport('vitvqgan', o, ctx);
  },
});
