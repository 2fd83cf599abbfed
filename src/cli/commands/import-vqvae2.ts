// `tessera import vqvae2`: a rosinality/vq-vae-2-pytorch checkpoint (plain state dict) → Tessera model file.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'import vqvae2',
  summary: 'import a VQ-VAE-2 checkpoint (rosinality/vq-vae-2-pytorch) as a model file',
  description:
    'Reads a VQ-VAE-2 state dict as train_vqvae.py saves it (e.g. vqvae_560.pt), reads the architecture from ' +
    'the tensor shapes, checks every weight against it (one error lists any missing or unexpected key) and ' +
    'writes a Tessera model file with both token levels (top f8, bottom f4). PixelSNAIL prior checkpoints are refused.',
  options: {
    checkpoint: { type: 'string', required: true, metavar: 'file', help: 'the checkpoint (.pt / .pth)' },
    out: { type: 'string', required: true, metavar: 'file', help: 'model file to write (.safetensors)' },
    decay: { type: 'number', min: 0, max: 1, exclusiveMax: true, help: 'EMA decay of the codebooks if you train on (default: 0.99, as upstream)' },
    eps: { type: 'number', min: 0, exclusiveMin: true, help: 'Laplace smoothing of the EMA cluster sizes (default: 1e-5)' },
  },
  examples: ['tessera import vqvae2 --checkpoint vqvae_560.pt --out ffhq-vqvae2.safetensors'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const { importVqvae2, saveTokenizer } = await import('../../tokenizers/index.js');
    const { refuseOverwritingInputs } = await import('../outputs.js');
    refuseOverwritingInputs(o.out, [{ flag: '--checkpoint', path: o.checkpoint, what: 'file' }], false);
    c.requireFile(o.checkpoint, 'checkpoint');
    let model;
    try {
      model = importVqvae2(o.checkpoint, { decay: o.decay, eps: o.eps }).model;
    } catch (e) {
      throw c.withMessage(e, `cannot import ${c.describeError(e)}`);
    }
    try {
      c.ensureParentDir(o.out);
      saveTokenizer(o.out, model, { imported_from: `vqvae2 checkpoint ${o.checkpoint.split('/').pop()}` });
      const cfg = model.config;
      ctx.out(
        `${o.out}: VQ-VAE-2 (channel ${cfg.channel}, ${cfg.nResBlock} residual blocks of ${cfg.nResChannel}, ${cfg.embedDim}-d codes, ` +
          `${model.levels.map((l) => `${l.name} f${l.downsample} ${l.codebookSize} codes`).join(', ')}) from ${o.checkpoint}`,
      );
    } finally {
      model.dispose();
    }
  },
});
