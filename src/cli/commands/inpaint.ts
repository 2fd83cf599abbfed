// `tessera inpaint`: regenerate a region of an image with a MaskGIT prior. The region comes from a
// mask image (white = regenerate) or a --box; its tokens, widened by one, are masked and decoded
// from a later step (MaskGIT's editing recipe), and the result is pasted back through a blurred mask.
import { resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

export const command = defineCommand({
  name: 'inpaint',
  summary: 'regenerate a masked region of an image with a MaskGIT prior',
  description:
    'Reads --input (resized to the model’s image size if needed), masks every token that touches the region ' +
    '(--mask: white pixels, or --box x,y,w,h in pixels of the model-sized image) widened by one token, lets ' +
    'the prior fill them in (decoding from step --start-step of --steps), and pastes the result over the input ' +
    'through a mask blurred over a few pixels: pixels away from the region are the input’s exactly.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'MaskGIT prior model file' },
    input: { type: 'string', required: true, metavar: 'image', help: 'image to edit (PNG/JPEG/WebP)' },
    mask: { type: 'string', metavar: 'mask.png', help: 'region to regenerate: white (≥ 128) on black' },
    box: { type: 'string', metavar: 'x,y,w,h', help: 'region to regenerate, in pixels of the model-sized image' },
    class: { type: 'string', metavar: 'name|id', help: 'class to steer the new content toward (default: none — the null class)' },
    startStep: { type: 'number', integer: true, min: 0, help: 'first decoding step (default: 2, or steps − 1 when fewer; editing starts late)' },
    out: { type: 'string', required: true, metavar: 'file.png', help: 'output image' },
    overwrite: { type: 'boolean', help: 'allow --out to be the --input or --mask file' },
    ...samplingOptions,
  },
  examples: [
    'tessera inpaint --model models/mnist-maskgit.safetensors --input digit.png --box 8,8,12,12 --class 3 --out edited.png',
    'tessera inpaint --model models/emoji-maskgit.safetensors --input face.png --mask mouth.png --out new-mouth.png',
  ],
  async run(o, _pos, ctx) {
    const T = await import('../../torch/index.js');
    const { writePng } = await import('../../data/index.js');
    const { loadPrior, parseClass, generateOptions, readImageFor, boxMask, readMask, inFlagTerms } = await import('../prior-common.js');
    const { refuseOverwritingInputs } = await import('../outputs.js');
    if ((o.mask === undefined) === (o.box === undefined)) throw new UsageError('give exactly one of --mask mask.png or --box x,y,w,h');
    const inputs = [{ flag: '--input', path: o.input, what: 'image' }, ...(o.mask !== undefined ? [{ flag: '--mask', path: o.mask, what: 'image' }] : [])];
    refuseOverwritingInputs(o.out, inputs, o.overwrite);
    // Defaults (MaskGIT: steps 2–11 of 12) come from the prior's editing defaults in the library.
    if (o.startStep !== undefined && o.startStep >= (o.steps ?? 12)) throw new UsageError(`--start-step ${o.startStep} must be below --steps ${o.steps ?? 12}`);
    const pm = loadPrior(o.model);
    try {
      if (!pm.prior.editsAnywhere)
        throw new UsageError(`${o.model} is an ${pm.prior.label} prior; inpainting needs a prior that sees the whole image (MaskGIT)`);
      const cls = parseClass(pm, o.class);
      const [H, W] = pm.config.imageSize;
      const { image, resizedFrom } = await readImageFor(pm, o.input, [W, H]);
      if (resizedFrom) ctx.err(`note: resized ${o.input} from ${resizedFrom[0]}×${resizedFrom[1]} to the model's ${W}×${H}`);
      const mask = o.box !== undefined ? boxMask(o.box, H, W) : await readMask(o.mask!, H, W);
      const g = generateOptions(o as SamplingFlags);
      let res;
      try {
        res = pm.inpaint(image, mask, { ...g, ...(o.startStep !== undefined ? { startStep: o.startStep } : {}), class: cls ?? null });
      } catch (e) {
        throw inFlagTerms(e);
      }
      await writePng(resolve(o.out), res.image.index(0));
      const d = pm.prior.editDefaults({
        ...(o.steps !== undefined ? { steps: o.steps } : {}),
        ...(o.startStep !== undefined ? { startStep: o.startStep } : {}),
      }) as {
        steps?: number;
        startStep?: number;
      };
      const decoding =
        d.steps !== undefined && d.startStep !== undefined
          ? `steps ${d.startStep}–${d.steps - 1} of ${d.steps}`
          : `${pm.prior.label}${o.steps !== undefined ? `, ${o.steps} steps` : ''}`;
      const masked = T.tidy(() => res.tokenMask.sum().item());
      ctx.out(`wrote ${o.out}: regenerated ${masked} of ${res.tokenMask.numel} tokens (region widened by one token; ${decoding}; seed ${o.seed})`);
    } finally {
      pm.dispose();
    }
    return 0;
  },
});
