// Codebook health at 16,384 codes: the same small VQ-VAE trained with different quantizers, and the
// share of codes its validation tokens use (utilization) and their perplexity.
//
//   node dist/bench/codebook.js [--data emoji:google] [--size 64] [--steps 1500] [--codebook-size 16384]
//        [--val-count 1000] [--only plain,kmeans-restart] [--out bench/results/codebook]
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

const VARIANTS: Record<string, { note: string; quantizer: (k: number) => QuantizerSpec }> = {
  plain: { note: 'nearest-neighbour VQ, random init', quantizer: (k) => ({ type: 'vq', codebookSize: k }) },
  'kmeans-restart': {
    note: 'k-means init + dead-code restart',
    quantizer: (k) => ({ type: 'vq', codebookSize: k, kmeansInit: { iters: 10, batches: 4 }, deadCodeRestart: { threshold: 0.02 } }),
  },
  'lowdim-l2-restart': {
    note: 'factorized 8-d l2-normalized codes + dead-code restart (ViT-VQGAN style)',
    quantizer: (k) => ({ type: 'vq', codebookSize: k, codebookDim: 8, l2Normalize: true, deadCodeRestart: { threshold: 0.02 } }),
  },
  simvq: { note: 'SimVQ: frozen Gaussian codes, one learned linear map', quantizer: (k) => ({ type: 'simvq', codebookSize: k }) },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'emoji:google' },
      size: { type: 'string', default: '64' },
      steps: { type: 'string', default: '1500' },
      'batch-size': { type: 'string', default: '8' },
      'codebook-size': { type: 'string', default: '16384' },
      'val-count': { type: 'string', default: '1000' },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results/codebook' },
      runs: { type: 'string', default: 'runs/bench-codebook' },
    },
  });
  const size = Number(values.size);
  const k = Number(values['codebook-size']);
  const steps = Number(values.steps);
  mkdirSync(values.out!, { recursive: true });
  const resultsPath = join(values.out!, 'results.json');
  const results: Record<string, unknown> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  const ds = await loadDataset(values.data!, { size, resize: size });
  const { train, val } = ds.split({ valCount: Number(values['val-count']) });
  console.log(`${values.data}: ${train.size} train / ${val.size} validation images; ${k} codes; ${steps} steps of ${values['batch-size']}`);
  for (const [name, v] of Object.entries(VARIANTS).filter(([n]) => !values.only || values.only.split(',').includes(n))) {
    const model = { ch: 32, numDownsamples: 2, numResBlocks: 2, resCh: 16, embedDim: 32, quantizer: v.quantizer(k) };
    const trainer = new TokenizerTrainer({
      config: { arch: 'vqvae', model, batchSize: Number(values['batch-size']), lr: 2e-4, warmup: 100, emaDecay: null, recLoss: 'l2', gan: null, seed: 0 },
      train,
      val,
    });
    const runDir = join(values.runs!, name);
    rmSync(runDir, { recursive: true, force: true });
    await runTraining(trainer, { outDir: runDir, steps, logEvery: 250, imageEvery: steps, checkpointEvery: steps });
    results[name] = { ...measure(trainer, val), note: v.note, codebookSize: k, steps, valImages: val.size };
    writeFileSync(resultsPath, JSON.stringify({ ...results, _meta: { data: values.data, size, date: new Date().toISOString() } }, null, 2));
    console.log(name, JSON.stringify(results[name]));
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
