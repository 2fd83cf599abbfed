// `tessera sample`: images from a trained prior (autoregressive or MaskGIT), as one grid plus
// one PNG per image. Same model, options and seed ⇒ the same images.
import { mkdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { samplingOptions, type SamplingFlags } from '../sampling-options.js';

export const command = defineCommand({
  name: 'sample',
  summary: 'generate images with a trained prior (class-conditional or not)',
  description:
    'Samples token grids from a prior model file (tessera train prior) and decodes them with its tokenizer. ' +
    'Writes a grid to --out and every image to a folder beside it (grid.png → grid/0000-<class>.png). ' +
    'Without --class, a class-conditional model cycles through its classes; --class none uses the null class ' +
    '(unconditional, for models trained with class dropout).',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'prior model file (.safetensors from tessera train prior)' },
    class: { type: 'string', metavar: 'name|id', help: "class to generate: a name (case-insensitive) or id, or 'none'" },
    n: { type: 'number', short: 'n', integer: true, min: 1, default: 16, help: 'number of images' },
    out: { type: 'string', required: true, metavar: 'file.png', help: 'grid image to write' },
    nrow: { type: 'number', integer: true, min: 1, help: 'images per grid row (default: 8)' },
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
    const { imagesToGrid, writePng } = await import('../../data/index.js');
    const { loadPrior, parseClass, generateOptions } = await import('../prior-common.js');
    if (extname(o.out).toLowerCase() !== '.png') throw new UsageError(`--out must be a .png file, got ${o.out}`);
    const pm = loadPrior(o.model);
    const cls = parseClass(pm, o.class);
    const names = pm.classNames;
    const classes = Array.from({ length: o.n }, (_, i) => (cls !== undefined ? cls : names.length ? i % names.length : null));
    const g = generateOptions(o as SamplingFlags);
    const started = performance.now();
    const images = T.tidy(() => pm.sample({ ...g, classes, cache: !o.noCache }).keep());
    const secs = (performance.now() - started) / 1000;
    const out = resolve(o.out);
    await writePng(out, T.tidy(() => imagesToGrid(images, { nrow: o.nrow ?? Math.min(8, o.n) })));
    const dir = join(dirname(out), basename(out, extname(out)));
    mkdirSync(dir, { recursive: true });
    const slug = (c: number | null): string => (c === null ? 'none' : names[c]!.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''));
    for (let i = 0; i < o.n; i++) await writePng(join(dir, `${String(i).padStart(4, '0')}-${slug(classes[i]!)}.png`), images.index(i));
    images.dispose();
    const what = pm.arch === 'ar' ? `autoregressive${o.noCache ? ', no cache' : ''}` : `MaskGIT, ${o.steps ?? 8} steps`;
    const which = cls === undefined ? (names.length ? `classes cycled over ${names.length}` : 'unconditional') : cls === null ? 'null class' : `class ${cls} (${names[cls]})`;
    ctx.out(`wrote ${o.out} (${o.n} images, ${which}; ${what}; seed ${o.seed}; ${secs.toFixed(2)} s) and ${o.n} PNGs in ${dir}`);
    pm.dispose();
    return 0;
  },
});
