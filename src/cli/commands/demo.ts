// `tessera demo`: the README's main job. With the models shipped in models/ (trained by Tessera's
// own commands; see models/README.md) it writes, to ./tessera-demo/: class-conditional sample grids
// from the MNIST MaskGIT, autoregressive, VQ-VAE-2 (hierarchical) and VQ-Diffusion priors, the
// emoji MaskGIT prior and the emoji ViT-VQGAN's autoregressive prior (VIM), an inpainting example on
// held-out digits, tokenizer reconstructions of held-out images and a compression example — in about
// a minute on 2 cores, printing what it wrote.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'demo',
  summary: 'generate, inpaint and reconstruct with the shipped models; writes ./tessera-demo/',
  description:
    'Uses the models shipped in models/: MNIST digits (VQ-VAE tokenizer with class-conditional MaskGIT, ' +
    'autoregressive and VQ-Diffusion priors; VQ-VAE-2 with a hierarchical prior) and emoji (MoVQ tokenizer with ' +
    'multichannel tokens, category-conditional MaskGIT; ViT-VQGAN at 64 px with a category-conditional autoregressive ' +
    'prior). Writes one row of samples per class for each prior, an ' +
    'inpainting example on held-out digits (original, region, result), reconstructions of held-out images and ' +
    'held-out digits compressed with the autoregressive prior as entropy model, then prints what it wrote.',
  options: {
    out: { type: 'string', default: 'tessera-demo', metavar: 'dir', help: 'output directory' },
    seed: { type: 'number', integer: true, min: 0, default: 0, help: 'random seed' },
    models: { type: 'string', metavar: 'dir', help: 'directory holding the shipped models (default: the package’s models/)' },
  },
  examples: ['tessera demo', 'tessera demo --out /tmp/demo --seed 3'],
  async run(o, _pos, ctx) {
    const T = await import('../../torch/index.js');
    const { loadDataset, imagesToGrid, writePng } = await import('../../data/index.js');
    const { PriorModel } = await import('../../priors/index.js');
    const { packageRoot } = await import('../../metrics/shipped.js');
    const models = resolve(o.models ?? join(packageRoot(), 'models'));
    // One sample grid per prior; the reconstruction and compression examples reuse these files.
    const sampled = [
      ['mnist-maskgit.safetensors', 'samples-mnist-maskgit.png'],
      ['mnist-ar.safetensors', 'samples-mnist-ar.png'],
      ['mnist-vqvae2.safetensors', 'samples-mnist-vqvae2.png'],
      ['mnist-diffusion.safetensors', 'samples-mnist-diffusion.png'],
      ['emoji-maskgit.safetensors', 'samples-emoji-maskgit.png'],
      ['emoji-vit-ar.safetensors', 'samples-emoji-vit-ar.png'],
    ] as const;
    const need = sampled.map(([file]) => file);
    const missing = need.filter((f) => !existsSync(join(models, f)));
    if (missing.length) throw new Error(`the demo needs the shipped models; missing in ${models}: ${missing.join(', ')}`);
    const out = resolve(o.out);
    mkdirSync(out, { recursive: true });
    const started = performance.now();
    const written: string[] = [];
    const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

    // 1. Class-conditional samples: one row per class, 8 per row, with each model's recommended settings.
    const perClass = 8;
    const { describeSettings } = await import('../prior-common.js');
    for (const [file, name] of sampled) {
      const t0 = performance.now();
      const pm = PriorModel.load(join(models, file));
      const rows = pm.classNames.length;
      const classes = Array.from({ length: rows * perClass }, (_, i) => Math.floor(i / perClass));
      const opts = { classes, generator: new T.Generator(o.seed) };
      const grid = T.tidy(() => imagesToGrid(pm.sample(opts), { nrow: perClass }).keep());
      await writePng(join(out, name), grid);
      grid.dispose();
      written.push(
        `${name}  ${rows} rows (${pm.classNames.join(', ')}) × ${perClass} samples; ${describeSettings(pm, pm.samplingSettings(opts))}; ${seconds(t0)}`,
      );
      pm.dispose();
    }

    // 2. Inpainting held-out digits: the middle third is regenerated as a different digit.
    {
      const t0 = performance.now();
      const pm = PriorModel.load(join(models, 'mnist-maskgit.safetensors'));
      const ds = await loadDataset('mnist', { size: 28 });
      const { val } = ds.split({ valCount: 500 });
      const [H, W] = pm.config.imageSize;
      const idx = Array.from({ length: 8 }, (_, i) => Math.floor((i * val.size) / 8));
      const { images, labels } = val.batch(idx);
      const lab = labels.toArray();
      const mask = T.zeros([H, W]);
      mask.index('8:20', '0:28').fill_(1);
      const rowsOut: import('../../torch/index.js').Tensor[] = [];
      const targets: number[] = [];
      for (let i = 0; i < idx.length; i++) {
        const target = (lab[i]! + 5) % 10;
        targets.push(target);
        rowsOut.push(
          T.tidy(() => pm.inpaint(images.index(i).unsqueeze(0), mask, { class: target, cfg: 3, generator: new T.Generator(o.seed + i) }).image.keep()),
        );
      }
      const shown = T.tidy(() => images.mul(mask.eq(0).to('float32')).add(mask.mul(0.3))); // region greyed
      const grid = T.tidy(() => imagesToGrid(T.cat([images, shown, ...rowsOut]), { nrow: 8 }).keep());
      await writePng(join(out, 'inpaint-mnist.png'), grid);
      written.push(
        `inpaint-mnist.png  rows: held-out digits ${lab.join(' ')} / the region regenerated (rows 8–19) / MaskGIT inpainting as ${targets.join(' ')}; ${seconds(t0)}`,
      );
      for (const t of [grid, shown, mask, images, labels, ...rowsOut]) t.dispose();
      pm.dispose();
    }

    // 3. Reconstructions of held-out images by the shipped tokenizers.
    for (const [file, data, size, name] of [
      ['mnist-maskgit.safetensors', 'mnist', 28, 'reconstructions-mnist.png'],
      ['emoji-maskgit.safetensors', 'emoji:google', 32, 'reconstructions-emoji.png'],
      ['emoji-vit-ar.safetensors', 'emoji:google', 64, 'reconstructions-emoji-vit.png'],
    ] as const) {
      const t0 = performance.now();
      const pm = PriorModel.load(join(models, file));
      const { val } = (await loadDataset(data, { size, resize: size })).split({ valCount: 500 });
      const idx = Array.from({ length: 16 }, (_, i) => Math.floor((i * val.size) / 16));
      const grid = T.tidy(() =>
        T.noGrad(() => {
          const x = val.batch(idx).images;
          const r = pm.decode(pm.encode(x)); // every token level (hierarchical models too), clamped
          return imagesToGrid(T.cat([x, r]), { nrow: 16 }).keep();
        }),
      );
      await writePng(join(out, name), grid);
      grid.dispose();
      const t = pm.tokenizer;
      const grid2 = `${size / t.downsample}×${size / t.downsample}${t.tokensPerPosition > 1 ? `×${t.tokensPerPosition}` : ''}`;
      written.push(`${name}  top: held-out ${data} images; bottom: decoded from their ${grid2} tokens (${t.kind}, ${t.codebookSize} codes); ${seconds(t0)}`);
      pm.dispose();
    }

    // 4. Compression: held-out digits coded with the autoregressive prior's probabilities.
    {
      const t0 = performance.now();
      const { Codec } = await import('../../codec/index.js');
      const { tensorToImage } = await import('../../data/index.js');
      const codec = Codec.load(join(models, 'mnist-ar.safetensors'));
      const { val } = (await loadDataset('mnist', { size: 28 })).split({ valCount: 500 });
      const idx = Array.from({ length: 16 }, (_, i) => Math.floor((i * val.size) / 16) + 1);
      const x = val.batch(idx).images;
      let priorBits = 0;
      let uniformBits = 0;
      const decoded: import('../../torch/index.js').Tensor[] = [];
      for (let i = 0; i < idx.length; i++) {
        const img = T.tidy(() => tensorToImage(x.index(i)));
        const r = codec.compress(img, { entropy: 'prior' });
        priorBits += r.bytes.length * 8;
        uniformBits += codec.compress(img, { entropy: 'uniform' }).bytes.length * 8;
        const d = codec.decompress(r.bytes).image;
        decoded.push(T.tidy(() => T.fromBytes(d.data, [28, 28, 3], 'uint8').permute([2, 0, 1]).float().div(127.5).sub(1).unsqueeze(0)));
      }
      const grid = T.tidy(() => imagesToGrid(T.cat([x, ...decoded]), { nrow: 16 }).keep());
      await writePng(join(out, 'compress-mnist.png'), grid);
      written.push(
        `compress-mnist.png  top: held-out digits; bottom: decompressed from ${(priorBits / 8 / idx.length).toFixed(1)} bytes each (${(priorBits / idx.length / 784).toFixed(3)} bpp; uniform coding ${(uniformBits / 8 / idx.length).toFixed(1)} bytes) with the autoregressive prior as entropy model; ${seconds(t0)}`,
      );
      for (const t of [grid, x, ...decoded]) t.dispose();
      codec.dispose();
    }

    ctx.out(`wrote to ${out}/ in ${seconds(started)}:`);
    for (const w of written) ctx.out(`  ${w}`);
    ctx.out('next: tessera sample --model models/mnist-maskgit.safetensors --class 7 --out sevens.png   (tessera --help lists every command)');
  },
});
