// `tessera reconstruct`: image(s) → tokens → image(s), i.e. decode(encode(x)), exactly what
// `tessera encode` + `tessera decode` give. A directory is processed recursively into a mirror tree
// of PNGs; unreadable files (and, without --resize, wrongly sized ones) are skipped and counted once.
import { statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'reconstruct',
  summary: 'reconstruct images through a tokenizer (encode, then decode)',
  description:
    'Writes decode(encode(x)) as PNG for one image, or for every image in a directory (recursively, same ' +
    'relative names with a .png extension). Prints the PSNR against the input. Unreadable files are skipped ' +
    'and counted. An output never replaces an input image unless --overwrite is given; a directory run writes ' +
    'into a hidden staging folder and moves the results into --out only when it succeeds.',
  options: {
    model: { type: 'string', required: true, metavar: 'file', help: 'tokenizer model file (.safetensors)' },
    input: { type: 'string', required: true, metavar: 'file|dir', help: 'an image, or a directory of images' },
    out: { type: 'string', required: true, metavar: 'file|dir', help: 'output PNG (a directory when --input is one)' },
    resize: { type: 'boolean', help: 'resize images to the nearest multiple of the downsampling factor instead of failing' },
    overwrite: { type: 'boolean', help: 'allow outputs to replace input images (--out equal to --input)' },
  },
  examples: [
    'tessera reconstruct --model runs/emoji/model.safetensors --input smile.png --out smile-recon.png',
    'tessera reconstruct --model runs/emoji/model.safetensors --input photos/ --out recon/ --resize',
  ],
  async run(o, _pos, ctx) {
    const c = await import('../tokenizer-common.js');
    const T = await import('../../torch/index.js');
    const { writePng } = await import('../../data/index.js');
    const { psnr } = await import('../../metrics/image.js');
    const { refuseOverwritingInputs, canonicalPath, sameFile, Staging } = await import('../outputs.js');

    const inputIsDir = (await import('../tokenizer-common.js')).inputIsDirectory(o.input);
    const model = c.loadModel(o.model);
    const f = model.downsample;

    let resized = 0;
    /** Reconstructs one file; returns its PSNR. */
    const one = async (src: string, dst: string): Promise<number> => {
      const img = await c.readModelImage(src, model, o.resize);
      const note = c.resizeNote(src, img, f);
      if (note) resized++;
      if (note && !inputIsDir) ctx.err(note);
      const [recon, db] = T.tidy(() => {
        const r = c.reconstruct(model, img.image);
        return [r.index(0).contiguous(), psnr(img.image, r)] as const;
      });
      img.image.dispose();
      c.ensureParentDir(dst);
      await writePng(dst, recon);
      recon.dispose();
      return db;
    };

    if (!inputIsDir) {
      let dst = o.out;
      try {
        if (statSync(o.out).isDirectory()) dst = join(o.out, basename(o.input, extname(o.input)) + '.png');
      } catch {
        /* a new file */
      }
      refuseOverwritingInputs(dst, [{ flag: '--input', path: o.input, what: 'image' }], o.overwrite);
      const db = await one(o.input, dst);
      ctx.out(`${dst}: reconstruction, PSNR ${db.toFixed(2)} dB`);
      return 0;
    }

    if (!o.overwrite && sameFile(o.out, o.input)) {
      throw new UsageError(`--out ${o.out} is the --input folder: the reconstructions would replace the originals; choose another --out or pass --overwrite`);
    }
    const { listImageFiles } = await import('../../data/index.js');
    const files = listImageFiles(o.input, resolve(o.out));
    if (!files.length) throw new Error(`no images found in ${o.input} (looked for .png, .jpg, .jpeg, .webp, …)`);
    const used = new Set<string>();
    const plan: [string, string][] = [];
    for (const rel of files) {
      // a.jpg and a.png would both become a.png: keep the second one's full name.
      let outRel = rel.slice(0, rel.length - extname(rel).length) + '.png';
      if (used.has(outRel)) outRel = rel + '.png';
      used.add(outRel);
      plan.push([rel, outRel]);
    }
    // Refuse up front when an output would land on an input image (e.g. --out equal to --input).
    if (!o.overwrite) {
      const inputs = new Set(files.map((rel) => canonicalPath(join(o.input, rel))));
      const clash = plan.find(([, outRel]) => inputs.has(canonicalPath(join(o.out, outRel))));
      if (clash) {
        throw new UsageError(
          `--out ${o.out} would replace the input image ${join(o.input, clash[1])} with its reconstruction; choose another --out or pass --overwrite`,
        );
      }
    }
    const staging = new Staging(o.out);
    let done = 0;
    let sum = 0;
    let finite = 0;
    const unreadable: string[] = [];
    const badSize: string[] = [];
    try {
      for (const [rel, outRel] of plan) {
        try {
          const src = join(o.input, rel);
          const db = await one(src, staging.path(outRel));
          if (Number.isFinite(db)) {
            sum += db;
            finite++;
          }
          done++;
          if (process.stderr.isTTY) process.stderr.write(`\r${done}/${files.length}`);
        } catch (e) {
          if (e instanceof c.ImageSizeError) badSize.push(rel);
          else if (e instanceof c.ImageReadError) unreadable.push(`${rel}: ${e.reason}`);
          else throw e;
        }
      }
      if (done) staging.commitInto();
      else staging.abort();
    } catch (e) {
      staging.abort();
      throw e;
    }
    if (process.stderr.isTTY && done) process.stderr.write('\n');
    if (resized) ctx.err(`note: resized ${resized} image${resized === 1 ? '' : 's'} to the nearest multiple of the downsampling factor ${f}`);
    if (unreadable.length) ctx.err(`skipped ${unreadable.length} unreadable file${unreadable.length === 1 ? '' : 's'} (first: ${unreadable[0]})`);
    if (badSize.length) {
      ctx.err(
        `skipped ${badSize.length} image${badSize.length === 1 ? '' : 's'} whose size is not a multiple of the downsampling factor ${f} (first: ${badSize[0]}); pass --resize to include them`,
      );
    }
    if (!done) throw new Error(`no image in ${o.input} could be reconstructed`);
    ctx.out(
      `reconstructed ${done} image${done === 1 ? '' : 's'} into ${o.out} (mean PSNR ${finite ? (sum / finite).toFixed(2) + ' dB' : 'inf: every reconstruction is exact'})`,
    );
    return 0;
  },
});
