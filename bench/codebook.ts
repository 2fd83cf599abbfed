// Codebook health at 16,384 (and 65,536) codes: the same small VQ-VAE trained with different
// quantizers, and the share of codes its validation tokens use (utilization) and their perplexity.
//
//   node dist/bench/codebook.js [--data emoji:google] [--size 64] [--steps 1000] [--codebook-size 16384[,65536,…]]
//        [--val-count 1000] [--only plain,kmeans-restart] [--map-lr-scale 100] [--init-from model.safetensors]
//        [--out bench/results/codebook]
//
// Rows are keyed by variant name at 16,384 codes and `name@K` at other sizes, with `/N steps` appended
// when the budget is not the table's 1,000 steps (each row keeps the date it was measured; rows of
// earlier invocations stay in results.json). The `lc` row needs a
// trained tokenizer with 32-channel latents to cluster (--init-from; default: the model of the first
// non-lc row this invocation trained).
//
// Writes <out>/results.json and prints a Markdown table (the README's codebook table comes from it).
import { mkdirSync, writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, type Dataset } from '../src/data/index.js';
import { TokenizerTrainer } from '../src/train/tokenizer.js';
import type { QuantizerSpec } from '../src/tokenizers/base.js';
import { runTraining } from '../src/train/run.js';
import { measureTokenizer } from '../src/metrics/evaluate-tokenizer.js';
import { initCodebookFrom } from '../src/train/codebook-init.js';

let mapLrScale = 100;
const lowdim = (d: number) => ({
  note: `factorized ${d}-d l2-normalized codes + dead-code restart (ViT-VQGAN style)`,
  quantizer: (k: number): QuantizerSpec => ({ type: 'vq', codebookSize: k, codebookDim: d, l2Normalize: true, deadCodeRestart: { threshold: 0.02 } }),
});
const VARIANTS: Record<string, { note: string; quantizer: (k: number) => QuantizerSpec }> = {
  plain: { note: 'nearest-neighbour VQ, random init', quantizer: (k) => ({ type: 'vq', codebookSize: k }) },
  'kmeans-restart': {
    note: 'k-means init + dead-code restart',
    quantizer: (k) => ({ type: 'vq', codebookSize: k, kmeansInit: { iters: 10, batches: 4 }, deadCodeRestart: { threshold: 0.02 } }),
  },
  'lowdim-l2-restart': lowdim(8),
  'lowdim16-l2-restart': lowdim(16),
  'lowdim32-l2-restart': lowdim(32),
  'simvq-reference': {
    note: 'SimVQ as the reference trains it: frozen Gaussian codes, one learned linear map, one learning rate',
    quantizer: (k) => ({ type: 'simvq', codebookSize: k }),
  },
  simvq: {
    get note() {
      return `SimVQ + data-dependent map init (codes fitted to the first batch's mean and covariance) + the map's learning rate ×${mapLrScale}`;
    },
    quantizer: (k) => ({ type: 'simvq', codebookSize: k, dataInit: true, mapLrScale }),
  },
  'simvq-maplr': {
    get note() {
      return `SimVQ with the map's learning rate ×${mapLrScale}`;
    },
    quantizer: (k) => ({ type: 'simvq', codebookSize: k, mapLrScale }),
  },
  lc: {
    get note() {
      return `VQGAN-LC style: frozen k-means centres of a trained tokenizer's latents + trained projector (data-dependent init, lr ×${mapLrScale})`;
    },
    quantizer: (k) => ({ type: 'lc', codebookSize: k, featureDim: 32, dataInit: true, mapLrScale }),
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'emoji:google' },
      size: { type: 'string', default: '64' },
      steps: { type: 'string', default: '1000' },
      'batch-size': { type: 'string', default: '8' },
      'codebook-size': { type: 'string', default: '16384' },
      'val-count': { type: 'string', default: '1000' },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results/codebook' },
      runs: { type: 'string', default: 'runs/bench-codebook' },
      'map-lr-scale': { type: 'string', default: '100' },
      'init-from': { type: 'string' },
    },
  });
  mapLrScale = Number(values['map-lr-scale']);
  let initFrom = values['init-from'];
  const size = Number(values.size);
  const sizes = values['codebook-size']!.split(',').map(Number);
  const steps = Number(values.steps);
  mkdirSync(values.out!, { recursive: true });
  const resultsPath = join(values.out!, 'results.json');
  const results: Record<string, unknown> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  const ds = await loadDataset(values.data!, { size, resize: size });
  const { train, val } = ds.split({ valCount: Number(values['val-count']) });
  console.log(`${values.data}: ${train.size} train / ${val.size} validation images; ${sizes.join(', ')} codes; ${steps} steps of ${values['batch-size']}`);
  const only = values.only?.split(',');
  const order = only ? only.filter((n) => VARIANTS[n]) : Object.keys(VARIANTS);
  for (const k of sizes)
    for (const [name, v] of order.map((n) => [n, VARIANTS[n]!] as const)) {
      const key = (k === 16384 ? name : `${name}@${k}`) + (steps === 1000 ? '' : ` /${steps} steps`);
      const model = { ch: 32, numDownsamples: 2, numResBlocks: 2, resCh: 16, embedDim: 32, quantizer: v.quantizer(k) };
      const trainer = new TokenizerTrainer({
        config: { arch: 'vqvae', model, batchSize: Number(values['batch-size']), lr: 2e-4, warmup: 100, emaDecay: null, recLoss: 'l2', gan: null, seed: 0 },
        train,
        val,
      });
      const runDir = join(values.runs!, key);
      rmSync(runDir, { recursive: true, force: true });
      if (name === 'lc') {
        if (!initFrom) throw new Error('bench codebook: the lc row needs --init-from (or a non-lc row before it)');
        const r = initCodebookFrom(trainer.model, initFrom, train, { seed: 0 });
        console.log(`lc: codebook = k-means of ${r.rows} latent rows of ${initFrom}`);
      }
      await runTraining(trainer, { outDir: runDir, steps, logEvery: 250, imageEvery: steps, checkpointEvery: steps });
      if (name !== 'lc') initFrom ??= join(runDir, 'model.safetensors');
      results[key] = { ...measure(trainer, val), note: v.note, codebookSize: k, steps, valImages: val.size, date: new Date().toISOString() };
      writeFileSync(resultsPath, JSON.stringify({ ...results, _meta: { data: values.data, size, date: new Date().toISOString() } }, null, 2));
      console.log(key, JSON.stringify(results[key]));
    }
  console.log('| quantizer | code use (val) | perplexity | PSNR (dB) |\n|---|---|---|---|');
  for (const [n, r] of Object.entries(results).filter(([n]) => !n.startsWith('_')) as [string, Record<string, number>][]) {
    console.log(`| ${n} | ${(r.utilization! * 100).toFixed(1)}% | ${r.perplexity!.toFixed(0)} | ${r.psnr!.toFixed(2)} |`);
  }
}

/** Code use of the validation tokens and PSNR (the library's measureTokenizer). */
function measure(t: TokenizerTrainer, val: Dataset): Record<string, number | null> {
  t.model.eval();
  try {
    const m = measureTokenizer(t.model, val, { batchSize: 64 });
    return { utilization: m.utilization, perplexity: m.perplexity, tokens: m.tokens, psnr: m.psnr };
  } finally {
    t.model.train();
  }
}

await main();
