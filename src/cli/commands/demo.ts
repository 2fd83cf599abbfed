// `tessera demo`: the README's main job. Trains a small VQ-VAE tokenizer on the bundled MNIST digits
// (500 steps), then shows what a tokenizer does: a reconstruction grid, one digit
// as token ids and back, and the run's loss curve — all written to ./tessera-demo/.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'demo',
  summary: 'train a small tokenizer on MNIST and write reconstructions and tokens to ./tessera-demo/',
  description:
    'Trains a VQ-VAE (f4, 512 codes) on the bundled MNIST digits, then writes a reconstruction grid of ' +
    'held-out digits, one digit encoded to token ids and decoded back, the model file and the loss curve ' +
    'to the output directory, and prints validation PSNR/SSIM and codebook use.',
  options: {
    out: { type: 'string', default: 'tessera-demo', metavar: 'dir', help: 'output directory (replaced)' },
    steps: { type: 'number', integer: true, min: 1, default: 500, help: 'training steps' },
  },
  examples: ['tessera demo', 'tessera demo --out /tmp/demo --steps 300'],
  async run(o, _pos, ctx) {
    const T = await import('../../torch/index.js');
    const { loadDataset, imagesToGrid, writePng } = await import('../../data/index.js');
    const { TokenizerTrainer, defaultTokenizerConfig } = await import('../../train/tokenizer.js');
    const { runTraining } = await import('../../train/run.js');
    const { tokensToJson } = await import('../tokenizer-common.js');
    const { codebookUsage } = await import('../../metrics/image.js');

    const out = resolve(o.out);
    rmSync(join(out, 'run'), { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const started = performance.now();
    const ds = await loadDataset('mnist', { size: 28 });
    const { train, val } = ds.split({ valCount: 500 });
    ctx.out(`MNIST: ${train.size} training / ${val.size} held-out digits at 28×28`);
    const model = defaultTokenizerConfig('vqvae', { size: 28, codebookSize: 512, downsample: 4, groups: 1, ch: 32 });
    const trainer = new TokenizerTrainer({
      config: { arch: 'vqvae', model, batchSize: 32, lr: 1e-3, warmup: 50, emaDecay: 0.99, recLoss: 'l2', gan: null, seed: 0 },
      train,
      val,
    });
    const runDir = join(out, 'run');
    await runTraining(trainer, { outDir: runDir, steps: o.steps, logEvery: 100, imageEvery: o.steps, checkpointEvery: o.steps, log: (l) => ctx.err(l) });

    const written: string[] = [];
    await trainer.withEma(async () => {
      trainer.model.eval();
      // Reconstructions of 16 held-out digits spread over the classes: originals on top.
      const idx = Array.from({ length: 16 }, (_, i) => Math.floor((i * val.size) / 16));
      const grid = T.tidy(() =>
        T.noGrad(() => {
          const x = val.batch(idx).images;
          const r = trainer.model.forward(x).recon.clamp(-1, 1);
          return imagesToGrid(T.cat([x, r]), { nrow: 16 }).keep();
        }),
      );
      await writePng(join(out, 'reconstructions.png'), grid);
      written.push('reconstructions.png (top: held-out digits, bottom: decoded from their tokens)');
      // One digit → token ids → image.
      const one = val.batch([idx[7]!]).images;
      const ids = T.noGrad(() => trainer.model.encode(one));
      writeFileSync(join(out, 'digit.tokens.json'), tokensToJson(ids) + '\n');
      await writePng(join(out, 'digit.png'), one.index(0));
      const dec = T.noGrad(() => trainer.model.decode(ids).clamp(-1, 1));
      await writePng(join(out, 'digit.decoded.png'), dec.index(0));
      written.push(`digit.png → digit.tokens.json (${ids.shape.slice(1).join('×')} ids) → digit.decoded.png`);
      // Validation metrics and codebook use over all held-out digits.
      const q = trainer.quickEval(val.size);
      const counts = new Float64Array(trainer.model.codebookSize);
      T.tidy(() =>
        T.noGrad(() => {
          const all = Array.from({ length: val.size }, (_, i) => i);
          const c = T.bincount(trainer.model.encode(val.batch(all).images).flatten(), null, counts.length).toArray();
          c.forEach((v, i) => (counts[i] = v));
        }),
      );
      const u = codebookUsage(counts);
      ctx.out(`held-out digits: PSNR ${q.psnr.toFixed(2)} dB, SSIM ${q.ssim.toFixed(3)}, codebook use ${(u.utilization * 100).toFixed(1)}% (perplexity ${u.perplexity.toFixed(0)})`);
      trainer.model.train();
    });
    written.push('run/model.safetensors (the tokenizer: tessera encode/decode/reconstruct --model …)', 'run/loss.svg, run/log.jsonl');
    ctx.out(`wrote to ${out}/ in ${((performance.now() - started) / 1000).toFixed(0)} s:`);
    for (const w of written) ctx.out(`  ${w}`);
  },
});
