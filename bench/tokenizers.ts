// Tokenizer comparison (issue: Stage 1 evidence): tokenizers trained on the same data with the same
// token budget, codebook size and step budget, evaluated on the same validation split.
//
//   node dist/bench/tokenizers.js [--set f4|8x8] [--data emoji:google] [--size 64] [--steps 1000]
//        [--batch-size 16] [--codebook-size 16384] [--only vqgan,movq] [--out DIR] [--table]
// Sets (variants run in order):
//   f4  (default, out bench/results/tokenizers): vqvae, vqgan, movq, movq-mc4, vqgan-l2 — 16×16 tokens;
//   8x8 (out bench/results/vitvqgan): vqgan-f8, movq-f8, vitvqgan-p8, vitvqgan-p8-laplace — 8×8 tokens (ViT-VQGAN issue).
//
// Trains in <runs>/<set>/<name>/ (default runs/bench-tokenizers; an unfinished run resumes), copies its
// reconstruction grid and loss curve to <out>/<name>-recon.png and <out>/<name>-loss.svg, writes
// <out>/results.json and prints a Markdown table. Every figure in RESULTS.md's tokenizer tables comes from this file.
import { mkdirSync, writeFileSync, existsSync, readFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { loadDataset } from '../src/data/index.js';
import { TokenizerTrainer, defaultTokenizerConfig, type TokenizerTrainConfig } from '../src/train/tokenizer.js';
import { runTraining } from '../src/train/run.js';
import { measureTokenizer } from '../src/metrics/evaluate-tokenizer.js';
import { imageBatches, loadNetworks } from '../src/metrics/evaluate.js';
import * as T from '../src/torch/index.js';
import { loggedSteps } from './util.js';
import type { TokenizerKind } from '../src/tokenizers/index.js';

interface Variant {
  name: string;
  arch: TokenizerKind;
  downsample: number;
  groups: number;
  note: string;
  /** Base width instead of --ch (to match parameter counts across architectures). */
  ch?: number;
  /** Pixel loss; default: taming's L1 for VQGAN, MSE for VQ-VAE and MoVQ (as their papers). */
  recLoss?: 'l1' | 'l2';
  /** ViT-VQGAN only: the decoder predicts a logit-Laplace (μ, ln b) and the loss adds the paper's 0.1·NLL. */
  logitLaplace?: boolean;
}

// Same token budget within a set: 16×16 = 256 tokens (f4) or 8×8 = 64 tokens (8x8) per 64×64 image.
const SETS: Record<string, Variant[]> = {
  f4: [
    { name: 'vqvae', arch: 'vqvae', downsample: 4, groups: 1, note: 'conv VQ-VAE, f4, 16×16 tokens' },
    { name: 'vqgan', arch: 'vqgan', downsample: 4, groups: 1, note: 'taming VQGAN, f4, 16×16 tokens' },
    { name: 'movq', arch: 'movq', downsample: 4, groups: 1, note: 'MoVQ (SpatialNorm decoder), f4, 16×16 tokens' },
    { name: 'movq-mc4', arch: 'movq', downsample: 8, groups: 4, note: 'MoVQ + multichannel (4 groups, shared codebook), f8, 8×8×4 tokens' },
    // The same loss as MoVQ, so the VQGAN/MoVQ difference is the decoder alone.
    { name: 'vqgan-l2', arch: 'vqgan', downsample: 4, groups: 1, note: 'taming VQGAN trained with MSE like MoVQ, f4, 16×16 tokens', recLoss: 'l2' },
  ],
  // ViT-VQGAN against the CNN tokenizers at the token count of the paper's f8 setting, all with the
  // paper's 1.0·L2 pixel loss so the architecture is the difference.
  '8x8': [
    { name: 'vqgan-f8', arch: 'vqgan', downsample: 8, groups: 1, note: 'taming VQGAN, f8, 8×8 tokens, MSE', recLoss: 'l2' },
    { name: 'movq-f8', arch: 'movq', downsample: 8, groups: 1, note: 'MoVQ (SpatialNorm decoder), f8, 8×8 tokens, MSE' },
    {
      name: 'vitvqgan-p8',
      arch: 'vitvqgan',
      downsample: 8,
      groups: 1,
      note: 'ViT-VQGAN, 8 px patches, width 192 (4 blocks each side; near the CNNs’ parameter count), 8×8 tokens, 16-d l2-normalised codes, MSE (no logit-Laplace head)',
      recLoss: 'l2',
      ch: 48,
    },
    // The paper's claim that the logit-Laplace term raises codebook usage, at this scale: the same
    // ViT with 1.0·L2 + 0.1·logit-Laplace NLL (ε = 0.1), still without GAN or perceptual terms.
    {
      name: 'vitvqgan-p8-laplace',
      arch: 'vitvqgan',
      downsample: 8,
      groups: 1,
      note: 'vitvqgan-p8 with the logit-Laplace head: 1.0·L2 + 0.1·logit-Laplace NLL (ViT-VQGAN’s pixel terms), no GAN',
      recLoss: 'l2',
      ch: 48,
      logitLaplace: true,
    },
  ],
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      set: { type: 'string', default: 'f4' },
      data: { type: 'string', default: 'emoji:google' },
      size: { type: 'string', default: '64' },
      steps: { type: 'string', default: '1000' },
      'batch-size': { type: 'string', default: '16' },
      'codebook-size': { type: 'string', default: '16384' },
      ch: { type: 'string', default: '64' },
      gan: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      runs: { type: 'string', default: 'runs/bench-tokenizers' },
      'val-count': { type: 'string', default: '300' },
      table: { type: 'boolean', default: false },
    },
  });
  const variants = SETS[values.set!];
  if (!variants) throw new Error(`--set: unknown set '${values.set}' (${Object.keys(SETS).join(', ')})`);
  const outDir = values.out ?? (values.set === 'f4' ? 'bench/results/tokenizers' : 'bench/results/vitvqgan');
  if (values.table) {
    // Print the table of an earlier run without training.
    console.log(table(JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'))));
    return;
  }
  const size = Number(values.size);
  const steps = Number(values.steps);
  const codebookSize = Number(values['codebook-size']);
  const only = values.only?.split(',');
  mkdirSync(outDir, { recursive: true });
  const resultsPath = join(outDir, 'results.json');
  const results: Record<string, unknown> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};

  const ds = await loadDataset(values.data!, { size, resize: size });
  const { train, val } = ds.split({ valCount: Number(values['val-count']) });
  console.log(
    `${values.data}: ${train.size} train / ${val.size} validation images at ${size}×${size}; ${steps} steps of ${values['batch-size']}; ${codebookSize} codes; ${availableParallelism()} threads`,
  );

  // rFID with the dataset's shipped classifier (rFID-tessera-*), when there is one.
  const nets = loadNetworks({}, values.data!, { classifier: 'unless-inception', missing: 'note', onNote: (l) => console.log(`rFID skipped: ${l}`) });
  for (const v of variants.filter((x) => !only || only.includes(x.name))) {
    const archModel = defaultTokenizerConfig(v.arch, { size, codebookSize, downsample: v.downsample, groups: v.groups, ch: v.ch ?? Number(values.ch) });
    // Every model here has the same pixel loss, so the ViT decodes pixels directly unless the variant
    // asks for the logit-Laplace head (the paper's full recipe, `tessera train tokenizer --arch vitvqgan`'s default).
    if (archModel.arch === 'vitvqgan') archModel.model = { ...archModel.model, logitLaplace: v.logitLaplace ?? false };
    const config: TokenizerTrainConfig = {
      ...archModel,
      batchSize: Number(values['batch-size']),
      lr: 2e-4,
      warmup: 100,
      emaDecay: 0.995,
      recLoss: v.recLoss ?? (v.arch === 'vqgan' ? 'l1' : 'l2'),
      gan: values.gan && v.arch !== 'vqvae' ? { discStart: Math.floor(steps / 2), discRampSteps: Math.floor(steps / 10), discWeight: 0.8 } : null,
      seed: 0,
    };
    const runDir = join(values.runs!, values.set!, v.name);
    const trainer = new TokenizerTrainer({ config, train, val });
    const t0 = performance.now();
    await runTraining(trainer, {
      outDir: runDir,
      steps,
      resume: existsSync(join(runDir, 'checkpoint.safetensors')),
      logEvery: 100,
      imageEvery: 250,
      checkpointEvery: 250,
    });
    const seconds = (performance.now() - t0) / 1000;
    const metrics = trainer.withEma(() => evaluate(trainer, val, nets.extractor));
    const logged = loggedSteps(join(runDir, 'log.jsonl'));
    copyFileSync(join(runDir, 'recon-latest.png'), join(outDir, `${v.name}-recon.png`));
    copyFileSync(join(runDir, 'loss.svg'), join(outDir, `${v.name}-loss.svg`));
    results[v.name] = {
      ...metrics,
      set: values.set,
      // From the run log's timestamps, so a resumed run counts only its training steps.
      trainImagesPerSec: logged ? (logged.steps * config.batchSize) / logged.seconds : null,
      arch: v.arch,
      note: v.note,
      params: trainer.model.numParameters(),
      tokensPerImage: (size / v.downsample) ** 2 * v.groups,
      codebookSize,
      steps,
      batchSize: config.batchSize,
      trainSeconds: Math.round(seconds),
      gan: config.gan !== null,
    };
    writeFileSync(
      resultsPath,
      JSON.stringify(
        {
          ...results,
          _meta: {
            set: values.set,
            data: values.data,
            size,
            codebookSize,
            steps,
            batchSize: config.batchSize,
            date: new Date().toISOString(),
            threads: T.getNumThreads(),
          },
        },
        null,
        2,
      ),
    );
    console.log(v.name, JSON.stringify(results[v.name]));
  }
  nets.dispose();
  console.log(table(results));
}

/**
 * PSNR/SSIM/L1/rFID over the whole validation split and codebook use of its tokens (the library's
 * measureTokenizer), and encode throughput: images/s through encode() in batches of 32.
 */
function evaluate(
  t: TokenizerTrainer,
  val: import('../src/data/index.js').Dataset,
  extractor: import('../src/metrics/features.js').FeatureExtractor | undefined,
): Record<string, number | null> {
  t.model.eval();
  try {
    const m = measureTokenizer(t.model, val, { extractor });
    // Whole batches only, so every timed call has the same shape.
    const timed = Array.from({ length: val.size - (val.size % 32) }, (_, i) => i);
    const t0 = performance.now();
    for (const x of imageBatches(val, 32, timed)) T.tidy(() => T.noGrad(() => void t.model.encode(x)));
    const encodeImagesPerSec = timed.length / ((performance.now() - t0) / 1000);
    return {
      psnr: m.psnr,
      ssim: m.ssim,
      l1: m.l1,
      rfid: m.rfid,
      utilization: m.utilization,
      perplexity: m.perplexity,
      valImages: m.images,
      encodeImagesPerSec,
    };
  } finally {
    t.model.train();
  }
}

function table(results: Record<string, unknown>): string {
  const rows = Object.entries(results).filter(([k]) => !k.startsWith('_')) as [string, Record<string, number | string | null>][];
  const num = (v: unknown, d: number) => (typeof v === 'number' ? v.toFixed(d) : '—');
  const lines = [
    '| model | tokens/image | codebook | PSNR (dB) | SSIM | L1 | rFID | code use | perplexity | params | train img/s | encode img/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, r] of rows) {
    lines.push(
      `| ${name} | ${r.tokensPerImage} | ${r.codebookSize} | ${num(r.psnr, 2)} | ${num(r.ssim, 3)} | ${num(r.l1, 4)} | ${num(r.rfid, 2)} | ${num((r.utilization as number) * 100, 1)}% | ${num(r.perplexity, 0)} | ${num((r.params as number) / 1e6, 2)}M | ${num(r.trainImagesPerSec, 1)} | ${num(r.encodeImagesPerSec, 0)} |`,
    );
  }
  return lines.join('\n');
}

await main();
