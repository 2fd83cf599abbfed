// `tessera decompress`: .tsr bitstream(s) → PNG(s), with the model that compressed them.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'decompress',
  summary: 'decompress .tsr bitstreams to PNG',
  description:
    'Decodes streams written by tessera compress, with the same model file (another model is refused by the ' +
    "stream's fingerprint). Every segment's indices are checked against their CRC-32: corruption is an error, " +
    'never wrong pixels — unless --recover names a MaskGIT prior (trained on the same tokenizer), which then fills ' +
    "the damaged segments' tokens. --drop p simulates losing a share p of the tokens (with --recover).",
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'the tokenizer or prior model file used to compress' },
    input: { type: 'string', required: true, metavar: 'file.tsr|dir', help: 'a stream, or a directory of .tsr files' },
    out: { type: 'string', required: true, metavar: 'file.png|dir', help: 'output PNG (a directory when --input is one)' },
    recover: { type: 'string', metavar: 'file', help: 'MaskGIT prior model file that fills lost tokens' },
    drop: { type: 'number', min: 0, max: 1, metavar: 'p', help: 'simulate losing this share of tokens (needs --recover)' },
    seed: { type: 'number', integer: true, min: 0, default: 0, help: 'random seed for --drop and recovery' },
  },
  examples: [
    'tessera decompress --model models/mnist-ar.safetensors --input digit.tsr --out digit.png',
    'tessera decompress --model models/mnist-ar.safetensors --input digit.tsr --out digit.png --recover models/mnist-maskgit.safetensors --drop 0.2',
  ],
  async run(o, _pos, ctx) {
    const { Codec, decompressFile, decompressDirectory } = await import('../../codec/index.js');
    const { loadPrior } = await import('../prior-common.js');
    const T = await import('../../torch/index.js');
    const isDir = (await import('../tokenizer-common.js')).inputIsDirectory(o.input);
    const codec = Codec.load(o.model);
    const recover = o.recover !== undefined ? loadPrior(o.recover) : undefined;
    try {
      const opts = { recover, drop: o.drop, generator: new T.Generator(o.seed) };
      if (!isDir) {
        const r = await decompressFile(codec, o.input, o.out, opts);
        const note = r.lost > 0 ? `; ${r.lost} of ${r.tokens} tokens lost and filled by the prior` : '';
        ctx.out(`${o.out}: ${r.header.width}×${r.header.height} image (${r.header.entropy} coding, ${r.header.codebookSize} codes${note})`);
        return 0;
      }
      const { done, failed } = await decompressDirectory(codec, o.input, o.out, opts);
      const lost = done.reduce((a, d) => a + d.result.lost, 0);
      ctx.out(`${o.out}: ${done.length} of ${done.length + failed.length} images decoded${lost ? `; ${lost} tokens recovered` : ''}`);
      for (const f of failed) ctx.err(`failed ${f.file}: ${f.error}`);
      return failed.length ? 1 : 0;
    } finally {
      codec.dispose();
      recover?.dispose();
    }
  },
});
