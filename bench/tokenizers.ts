// Tokenizer comparison (issue: Stage 1 evidence): VQ-VAE, VQGAN and MoVQ trained on the same data
// with the same token budget, codebook size and step budget, evaluated on the same validation split.
//
//   node dist/bench/tokenizers.js [--data emoji:google] [--size 64] [--steps 1000] [--batch-size 16]
//        [--codebook-size 16384] [--only vqgan,movq] [--out bench/results/tokenizers] [--table]
// Variants run in order: vqvae, vqgan, movq, movq-mc4, vqgan-l2.
//
// Writes <out>/<name>/ (the run: model, checkpoint, recon grids, loss curve) and <out>/results.json,
// and prints a Markdown table. Every figure in the README's tokenizer table comes from this file.
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { loadDataset } from '../src/data/index.js';
import { TokenizerTrainer, defaultTokenizerConfig, type TokenizerTrainConfig } from '../src/train/tokenizer.js';
import { runTraining } from '../src/train/run.js';
import { measureTokenizer } from '../src/metrics/evaluate-tokenizer.js';
import type { TokenizerKind } from '../src/tokenizers/index.js';

interface Variant {
  name: string;
  arch: TokenizerKind;
  downsample: number;
  groups: number;
  note: string;
  /** Pixel loss; default: taming's L1 for VQGAN, MSE for VQ-VAE and MoVQ (as their papers). */
  recLoss?: 'l1' | 'l2';
}

// Same token budget: 16×16 = 256 tokens per 64×64 image for every variant.
const VARIANTS: Variant[] = [
  { name: 'vqvae', arch: 'vqvae', downsample: 4, groups: 1, note: 'conv VQ-VAE, f4, 16×16 tokens' },
  { name: 'vqgan', arch: 'vqgan', downsample: 4, groups: 1, note: 'taming VQGAN, f4, 16×16 tokens' },
  { name: 'movq', arch: 'movq', downsample: 4, groups: 1, note: 'MoVQ (SpatialNorm decoder), f4, 16×16 tokens' },
  { name: 'movq-mc4', arch: 'movq', downsample: 8, groups: 4, note: 'MoVQ + multichannel (4 groups, shared codebook), f8, 8×8×4 tokens' },
  // The same loss as MoVQ, so the VQGAN/MoVQ difference is the decoder alone.
  { name: 'vqgan-l2', arch: 'vqgan', downsample: 4, groups: 1, note: 'taming VQGAN trained with MSE like MoVQ, f4, 16×16 tokens', recLoss: 'l2' },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'emoji:google' },
      size: { type: 'string', default: '64' },
      steps: { type: 'string', default: '1000' },
      'batch-size': { type: 'string', default: '16' },
      'codebook-size': { type: 'string', default: '16384' },
      ch: { type: 'string', default: '64' },
      gan: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results/tokenizers' },
      'val-count': { type: 'string', default: '300' },
      table: { type: 'boolean', default: false },
    },
  });
  if (values.table) {
    // Print the table of an earlier run without training.
    console.log(table(JSON.parse(readFileSync(join(values.out!, 'results.json'), 'utf8'))));
    return;
  }
  const size = Number(values.size);
  const steps = Number(values.steps);
  const codebookSize = Number(values['codebook-size']);
  const only = values.only?.split(',');
  const outDir = values.out!;
  mkdirSync(outDir, { recursive: true });
  const resultsPath = join(outDir, 'results.json');
  const results: Record<string, unknown> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};

  const ds = await loadDataset(values.data!, { size, resize: size });
  const { train, val } = ds.split({ valCount: Number(values['val-count']) });
  console.log(
    `${values.data}: ${train.size} train / ${val.size} validation images at ${size}×${size}; ${steps} steps of ${values['batch-size']}; ${codebookSize} codes; ${availableParallelism()} threads`,
  );

  for (const v of VARIANTS.filter((x) => !only || only.includes(x.name))) {
    const config: TokenizerTrainConfig = {
      ...defaultTokenizerConfig(v.arch, { size, codebookSize, downsample: v.downsample, groups: v.groups, ch: Number(values.ch) }),
      batchSize: Number(values['batch-size']),
      lr: 2e-4,
      warmup: 100,
      emaDecay: 0.995,
      recLoss: v.recLoss ?? (v.arch === 'vqgan' ? 'l1' : 'l2'),
      gan: values.gan && v.arch !== 'vqvae' ? { discStart: Math.floor(steps / 2), discRampSteps: Math.floor(steps / 10), discWeight: 0.8 } : null,
      seed: 0,
    };
    const runDir = join(outDir, v.name);
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
    const metrics = trainer.withEma(() => evaluate(trainer, val));
    results[v.name] = {
      ...metrics,
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
      JSON.stringify({ ...results, _meta: { data: values.data, size, date: new Date().toISOString(), threads: availableParallelism() } }, null, 2),
    );
    console.log(v.name, JSON.stringify(results[v.name]));
  }
  console.log(table(results));
}

/** PSNR/SSIM/L1 over the whole validation split and codebook use of its tokens (the library's measureTokenizer). */
function evaluate(t: TokenizerTrainer, val: import('../src/data/index.js').Dataset): Record<string, number | null> {
  t.model.eval();
  try {
    const m = measureTokenizer(t.model, val);
    return { psnr: m.psnr, ssim: m.ssim, l1: m.l1, utilization: m.utilization, perplexity: m.perplexity, valImages: m.images };
  } finally {
    t.model.train();
  }
}

function table(results: Record<string, unknown>): string {
  const rows = Object.entries(results).filter(([k]) => !k.startsWith('_')) as [string, Record<string, number | string>][];
  const lines = [
    '| model | tokens/image | codebook | PSNR (dB) | SSIM | L1 | code use | perplexity | params | train time |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, r] of rows) {
    lines.push(
      `| ${name} | ${r.tokensPerImage} | ${r.codebookSize} | ${(r.psnr as number).toFixed(2)} | ${(r.ssim as number).toFixed(3)} | ${(r.l1 as number).toFixed(4)} | ${((r.utilization as number) * 100).toFixed(1)}% | ${(r.perplexity as number).toFixed(0)} | ${((r.params as number) / 1e6).toFixed(2)}M | ${Math.round((r.trainSeconds as number) / 60)} min |`,
    );
  }
  return lines.join('\n');
}

await main();
