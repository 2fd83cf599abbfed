// `tessera outpaint`: extend an image by whole tokens on any side with a MaskGIT prior. The new
// area is generated window by window (each window the prior's token grid, chosen to overlap as much
// known content as possible), decoded whole, and the original is pasted back over its place.
import { resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

export const command = defineCommand({
  name: 'outpaint',
  summary: 'extend an image beyond its borders with a MaskGIT prior',
  description:
    'Reads --input at the model’s image size and extends it by --top/--right/--bottom/--left tokens ' +
    '(one token = the tokenizer’s downsampling factor in pixels). Writes the larger image to --out.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'MaskGIT prior model file' },
    input: { type: 'string', required: true, metavar: 'image', help: 'image to extend' },
    top: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add above' },
    right: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add on the right' },
    bottom: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add below' },
    left: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add on the left' },
    class: { type: 'string', metavar: 'name|id', help: "class for the new content (default: none — the null class)" },
    out: { type: 'string', required: true, metavar: 'file.png', help: 'output image' },
    ...samplingOptions,
  },
  examples: ['tessera outpaint --model models/emoji-maskgit.safetensors --input face.png --right 2 --left 2 --out wide.png'],
  async run(o, _pos, ctx) {
    const { writePng } = await import('../../data/index.js');
    const { loadPrior, parseClass, generateOptions, readImageFor } = await import('../prior-common.js');
    if (o.top + o.right + o.bottom + o.left === 0) throw new UsageError('give at least one of --top, --right, --bottom, --left (in tokens)');
    const pm = loadPrior(o.model);
    if (pm.arch !== 'maskgit') throw new UsageError(`${o.model} is an autoregressive prior; outpainting needs a MaskGIT prior`);
    const cls = parseClass(pm, o.class);
    const [H, W] = pm.config.imageSize;
    const { image, resizedFrom } = await readImageFor(pm, o.input, [W, H]);
    if (resizedFrom) ctx.err(`note: resized ${o.input} from ${resizedFrom[0]}×${resizedFrom[1]} to the model's ${W}×${H}`);
    const g = generateOptions(o as SamplingFlags);
    const out = pm.outpaint(image, [o.top, o.right, o.bottom, o.left], { ...g, class: cls ?? null });
    await writePng(resolve(o.out), out.index(0));
    ctx.out(`wrote ${o.out} (${out.size(3)}×${out.size(2)} from ${W}×${H}; seed ${o.seed})`);
    pm.dispose();
    return 0;
  },
});
