// `tessera compress`: image(s) → .tsr bitstream(s) through a tokenizer and an entropy coder
// (src/codec). A directory is compressed recursively into a mirror tree of .tsr files.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'compress',
  summary: 'compress images to .tsr bitstreams (VQ tokens, entropy-coded)',
  description:
    'Encodes each image into token indices and codes them with --entropy uniform (log2 K bits per token), static ' +
    "(the model's stored code frequencies: see tessera train codec) or prior (the prior's next-token probabilities; " +
    'needs a prior model file). Any image size is padded and tiled, and restored exactly by tessera decompress. ' +
    '--codebook picks a smaller stored codebook tier (lower rate). The stream records a fingerprint of the model: ' +
    'decompressing with another model is refused.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer or prior model file (.safetensors)' },
    input: { type: 'string', required: true, metavar: 'file|dir', help: 'an image, or a directory of images' },
    out: { type: 'string', required: true, metavar: 'file.tsr|dir', help: 'output stream (a directory when --input is one)' },
    entropy: { type: 'enum', values: ['uniform', 'static', 'prior'] as const, help: 'entropy model (default: prior for prior files, uniform for tokenizers)' },
    codebook: { type: 'number', integer: true, min: 1, metavar: 'K', help: 'codebook tier to use (default: the full codebook)' },
    targetBpp: { type: 'number', exclusiveMin: true, min: 0, metavar: 'x', help: 'use the largest codebook tier whose stream fits in x bits per pixel' },
  },
  examples: [
    'tessera compress --model models/mnist-ar.safetensors --input digit.png --out digit.tsr',
    'tessera compress --model models/emoji-movq.safetensors --input photos/ --out streams/ --entropy uniform',
  ],
  async run(o, _pos, ctx) {
    const { Codec, compressFile, compressDirectory } = await import('../../codec/index.js');
    const isDir = (await import('../tokenizer-common.js')).inputIsDirectory(o.input);
    const codec = Codec.load(o.model);
    try {
      const entropy = o.entropy ?? (codec.prior ? 'prior' : 'uniform');
      const opts = { entropy, codebook: o.codebook, targetBpp: o.targetBpp };
      if (!isDir) {
        const r = await compressFile(codec, o.input, o.out, opts);
        ctx.out(
          `${o.out}: ${r.bytes.length} bytes, ${r.bpp.toFixed(4)} bpp for a ${r.width}×${r.height} image (${r.tokens} tokens of ${r.codebookSize} codes, ${entropy} coding)`,
        );
        return 0;
      }
      const { done, failed } = await compressDirectory(codec, o.input, o.out, opts);
      const bytes = done.reduce((a, d) => a + d.result.bytes.length, 0);
      const pixels = done.reduce((a, d) => a + d.result.width * d.result.height, 0);
      ctx.out(`${o.out}: ${done.length} images, ${bytes} bytes, ${((bytes * 8) / Math.max(1, pixels)).toFixed(4)} bpp (${entropy} coding)`);
      for (const f of failed) ctx.err(`skipped ${f.file}: ${f.error}`);
      return failed.length ? 1 : 0;
    } finally {
      codec.dispose();
    }
  },
});
