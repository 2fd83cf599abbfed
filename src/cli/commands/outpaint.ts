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
    top: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add above (at most TESSERA_MAX_OUTPAINT, default 64, per side)' },
    right: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add on the right' },
    bottom: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add below' },
    left: { type: 'number', integer: true, min: 0, default: 0, help: 'tokens to add on the left' },
    class: { type: 'string', metavar: 'name|id', help: 'class for the new content (default: none — the null class)' },
    out: { type: 'string', required: true, metavar: 'file.png', help: 'output image' },
    overwrite: { type: 'boolean', help: 'allow --out to be the --input file' },
    ...samplingOptions,
  },
  examples: ['tessera outpaint --model models/emoji-maskgit.safetensors --input face.png --right 2 --left 2 --out wide.png'],
  async run(o, _pos, ctx) {
    const { writePng, checkLimit } = await import('../../data/index.js');
    const { loadPrior, parseClass, generateOptions, readImageFor, inFlagTerms } = await import('../prior-common.js');
    const { refuseOverwritingInputs } = await import('../outputs.js');
    if (o.top + o.right + o.bottom + o.left === 0) throw new UsageError('give at least one of --top, --right, --bottom, --left (in tokens)');
    for (const side of ['top', 'right', 'bottom', 'left'] as const) checkLimit('outpaintTokens', o[side], `--${side} ${o[side]}`);
    refuseOverwritingInputs(o.out, [{ flag: '--input', path: o.input, what: 'image' }], o.overwrite);
    const pm = loadPrior(o.model);
    try {
      if (!pm.prior.editsAnywhere)
        throw new UsageError(`${o.model} is an ${pm.prior.label} prior; outpainting needs a prior that sees the whole image (MaskGIT)`);
      const cls = parseClass(pm, o.class);
      const [H, W] = pm.config.imageSize;
      const { image, resizedFrom } = await readImageFor(pm, o.input, [W, H]);
      if (resizedFrom) ctx.err(`note: resized ${o.input} from ${resizedFrom[0]}×${resizedFrom[1]} to the model's ${W}×${H}`);
      const g = generateOptions(o as SamplingFlags);
      let out;
      try {
        out = pm.outpaint(image, [o.top, o.right, o.bottom, o.left], { ...g, class: cls ?? null });
      } catch (e) {
        throw inFlagTerms(e);
      }
      await writePng(resolve(o.out), out.index(0));
      ctx.out(`wrote ${o.out} (${out.size(3)}×${out.size(2)} from ${W}×${H}; seed ${o.seed})`);
    } finally {
      pm.dispose();
    }
    return 0;
  },
});
