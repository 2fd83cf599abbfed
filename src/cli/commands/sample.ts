// `tessera sample`: images from a trained prior (autoregressive or MaskGIT), as one grid plus
// one PNG per image. Same model, options, -n, --batch-size and seed ⇒ the same images. Images are
// generated --batch-size at a time (memory does not grow with -n) into a hidden staging folder that
// replaces the image folder only when everything is written.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

/** The names `sample` gives its images: 0000-<class>.png. */
const OUR_IMAGES = /^\d{4,}-[a-z0-9-]*\.png$/;

export const command = defineCommand({
  name: 'sample',
  summary: 'generate images with a trained prior (class-conditional or not)',
  description:
    'Samples token grids from a prior model file (tessera train prior) and decodes them with its tokenizer. ' +
    'Writes a grid to --out and every image to a folder beside it (grid.png → grid/0000-<class>.png); the folder ' +
    'then holds exactly this run’s images. Without --class, a class-conditional model cycles through its classes; ' +
    '--class none uses the null class (unconditional, for models trained with class dropout). Sampling flags left ' +
    'unset take the model file’s recommended settings when it has them (the output says which).',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'prior model file (.safetensors from tessera train prior)' },
    class: { type: 'string', metavar: 'name|id', help: "class to generate: a name (case-insensitive), an id, or 'none'" },
    n: { type: 'number', short: 'n', integer: true, min: 1, default: 16, help: 'number of images (at most TESSERA_MAX_SAMPLES, default 10000)' },
    out: { type: 'string', required: true, metavar: 'file.png', help: 'grid image to write' },
    nrow: { type: 'number', integer: true, min: 1, help: 'images per grid row (default: 8)' },
    batchSize: { type: 'number', integer: true, min: 1, default: 64, help: 'images generated at once (bounds memory)' },
    noCache: { type: 'boolean', help: 'autoregressive: recompute the whole prefix every step (slow; for comparison)' },
    ...samplingOptions,
  },
  examples: [
    'tessera sample --model models/mnist-maskgit.safetensors --class 7 -n 16 --out sevens.png',
    'tessera sample --model models/mnist-ar.safetensors --class 3 --top-k 32 --temperature 0.9 --seed 1 --out threes.png',
    "tessera sample --model models/emoji-maskgit.safetensors --class 'Animals & Nature' --cfg 2 --out animals.png",
  ],
  async run(o, _pos, ctx) {
    const T = await import('../../torch/index.js');
    const { writePng, tensorToImage, checkLimit } = await import('../../data/index.js');
    const { loadPrior, parseClass, generateOptions, describeSettings, inFlagTerms, GridCanvas } = await import('../prior-common.js');
    const { Staging, foreignEntries } = await import('../outputs.js');
    if (extname(o.out).toLowerCase() !== '.png') throw new UsageError(`--out must be a .png file, got ${o.out}`);
    checkLimit('samples', o.n, `-n ${o.n}`);
    const out = resolve(o.out);
    const dir = join(dirname(out), basename(out, extname(out)));
    // Everything that could stop the run is checked before anything is written.
    if (existsSync(out) && statSync(out).isDirectory()) throw new UsageError(`--out ${o.out} is a folder; give a .png file name`);
    if (existsSync(dir) && !statSync(dir).isDirectory())
      throw new UsageError(`--out ${o.out} writes its images to the folder ${dir}, but that is a file; choose another --out`);
    const foreign = foreignEntries(dir, OUR_IMAGES);
    if (foreign.length)
      throw new UsageError(`the image folder ${dir} holds files tessera sample did not write (${foreign.slice(0, 3).join(', ')}); choose another --out`);
    const pm = loadPrior(o.model);
    try {
      const cls = parseClass(pm, o.class);
      const names = pm.classNames;
      const classes = Array.from({ length: o.n }, (_, i) => (cls !== undefined ? cls : names.length ? i % names.length : null));
      const opts = { ...generateOptions(o as SamplingFlags), classes, ...(o.noCache ? { cache: false } : {}) };
      let settings;
      try {
        settings = pm.samplingSettings(opts);
      } catch (e) {
        throw inFlagTerms(e);
      }
      const [H, W] = pm.config.imageSize;
      const C = (pm.tokenizer as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
      const grid = new GridCanvas(o.n, o.nrow ?? Math.min(8, o.n), C, H, W);
      const slug = (c: number | null): string =>
        c === null
          ? 'none'
          : names[c]!.toLowerCase()
              .replace(/[^a-z0-9]+/g, '-')
              .replace(/^-|-$/g, '');
      const staging = new Staging(dir);
      const started = performance.now();
      try {
        for (const { start, images } of pm.sampleBatches(opts, o.batchSize)) {
          for (let i = 0; i < images.size(0); i++) {
            const img = T.tidy(() => tensorToImage(images.index(i)));
            grid.put(start + i, img);
            await writePng(staging.path(`${String(start + i).padStart(4, '0')}-${slug(classes[start + i]!)}.png`), img);
          }
          if (process.stderr.isTTY) process.stderr.write(`\r${Math.min(start + o.batchSize, o.n)}/${o.n}`);
        }
        if (process.stderr.isTTY) process.stderr.write('\n');
        await writePng(out, grid.image);
        staging.commitFolder();
      } catch (e) {
        staging.abort();
        throw e;
      }
      const secs = (performance.now() - started) / 1000;
      const which =
        cls === undefined
          ? names.length
            ? `classes cycled over ${names.length}`
            : 'unconditional'
          : cls === null
            ? 'null class'
            : `class ${cls} (${names[cls]})`;
      ctx.out(`wrote ${o.out} (${o.n} images, ${which}; ${describeSettings(pm, settings)}; seed ${o.seed}; ${secs.toFixed(2)} s) and ${o.n} PNGs in ${dir}`);
    } finally {
      pm.dispose();
    }
    return 0;
  },
});
