// `tessera decode`: token JSON (as written by `tessera encode`) → PNG. The JSON is checked against the
// model before anything runs: shape vs number of ids, integer ids inside the codebook, tokens per position.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'decode',
  summary: 'decode token ids (JSON) into an image',
  description:
    'Decodes {"shape": [h, w] or [h, w, k], "indices": [...]} (raster order, as written by tessera encode) ' +
    'with a tokenizer model file and writes the image as PNG. Grids over TESSERA_MAX_GRID positions (default ' +
    '256×256 = 65,536) or images over TESSERA_MAX_PIXELS (default 4,194,304) are refused before decoding.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer model file (.safetensors)' },
    tokens: { type: 'string', required: true, metavar: 'file.json', help: 'token ids from tessera encode' },
    out: { type: 'string', required: true, metavar: 'image.png', help: 'where to write the PNG' },
    overwrite: { type: 'boolean', help: 'allow --out to be the --tokens file' },
  },
  examples: ['tessera decode --model runs/mnist/model.safetensors --tokens tokens.json --out digit.png'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const T = await import('../../torch/index.js');
    const { writePng, checkLimit } = await import('../../data/index.js');
    const { refuseOverwritingInputs } = await import('../outputs.js');
    refuseOverwritingInputs(o.out, [{ flag: '--tokens', path: o.tokens, what: 'file' }], o.overwrite);
    const model = c.loadModel(o.model);
    const tokens = c.readTokens(o.tokens, model);
    // Decoding is one pass over the whole grid (the decoder's attention is global), so its size is checked first.
    const finest = tokens.levels.at(-1)!;
    const [gh, gw] = finest.shape as [number, number];
    const f = model.levels.at(-1)!.downsample;
    checkLimit('gridTokens', gh * gw, `the ${gh}×${gw} token grid`);
    checkLimit('pixels', gh * gw * f * f, `the decoded ${gw * f}×${gh * f} image`);
    const image = T.tidy(() =>
      T.noGrad(() => {
        const idx = tokens.levels.map((l) =>
          T.tensor(
            BigInt64Array.from(l.indices, (v) => BigInt(v)),
            { shape: [1, ...l.shape] },
          ),
        );
        return model.decodeLevels(idx).clamp(-1, 1).index(0).contiguous().keep();
      }),
    );
    c.ensureParentDir(o.out);
    await writePng(o.out, image);
    const [, h, w] = image.shape;
    image.dispose();
    ctx.out(
      `${o.out}: ${w}×${h} image from ${tokens.levels.map((l) => (tokens.levels.length > 1 ? `${l.name} ` : '') + l.shape.join('×')).join(' + ')} tokens`,
    );
  },
});
