// `tessera encode`: one image → its token ids as JSON {"shape": [h, w] or [h, w, k], "indices": [...]}
// in raster order (row-major over shape), the format `tessera decode` reads.
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'encode',
  summary: 'encode an image into token ids (JSON)',
  description:
    'Encodes an image with a tokenizer model file and writes {"shape": [h, w], "indices": [...]} ' +
    '([h, w, k] for models with k tokens per position), ids in raster order. The image size must be a ' +
    'multiple of the downsampling factor unless --resize is given; images over TESSERA_MAX_PIXELS (default ' +
    '2048×2048 = 4,194,304 pixels) are refused before decoding.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer model file (.safetensors)' },
    input: { type: 'string', required: true, metavar: 'image', help: 'image to encode (PNG, JPEG, WebP)' },
    out: { type: 'string', required: true, metavar: 'file.json', help: 'where to write the tokens' },
    resize: { type: 'boolean', help: 'resize to the nearest multiple of the downsampling factor instead of failing' },
    overwrite: { type: 'boolean', help: 'allow --out to be the --input file' },
  },
  examples: ['tessera encode --model runs/mnist/model.safetensors --input digit.png --out tokens.json'],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const T = await import('../../torch/index.js');
    const { refuseOverwritingInputs } = await import('../outputs.js');
    refuseOverwritingInputs(o.out, [{ flag: '--input', path: o.input, what: 'image' }], o.overwrite);
    const model = c.loadModel(o.model);
    const img = await c.readModelImage(o.input, model, o.resize);
    const note = c.resizeNote(o.input, img, model.downsample);
    if (note) ctx.err(note);
    const json = T.tidy(() => c.tokensToJson(model, model.encodeLevels(img.image)));
    c.writeTextFile(o.out, json);
    const grids = c.parseTokens(json, o.out, model).levels.map((l, i) => {
      const name = model.levels.length > 1 ? `${l.name} ` : '';
      return `${name}${l.shape.join('×')} tokens (ids in [0, ${model.levels[i]!.codebookSize}))`;
    });
    ctx.out(`${o.out}: ${grids.join(' + ')} for a ${img.size[0]}×${img.size[1]} image`);
  },
});
