// Prior families at equal size and budget (VQ-Diffusion issue, "Evidence"): an autoregressive
// transformer, MaskGIT and VQ-Diffusion trained over the same shipped tokenizer's tokens of the same
// images, with the same parameter count (±3%), optimizer, batch and number of steps, then sampled
// with and without classifier-free guidance and measured against the same held-out split by the
// project classifier (class accuracy, FID-tessera-*) and the wall time per image.
//
//   node dist/bench/prior-families.js --data mnist|emoji:google [--steps 3000] [--n 500] [--classes reference|uniform]
//        [--only ar,maskgit,diffusion] [--runs runs/bench-priors] [--out bench/results/prior-families] [--table]
//
// Trains in <runs>/<dataset>/<arch>/ (an unfinished run resumes; a finished one is reused), writes
// <out>/<dataset>.json and prints a Markdown table. VQ-Diffusion's adaptive-LayerNorm maps add ~30% to
// a block, so it runs at width 112 against 128 for the others (4 blocks, 4 heads each).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as T from '../src/torch/index.js';
import { imagesToGrid, loadDataset, writePng, type Dataset } from '../src/data/index.js';
import { loadTokenizer } from '../src/tokenizers/index.js';
import { PriorTrainer, encodeDataset, type PriorTrainConfig } from '../src/train/prior.js';
import { CHECKPOINT_FILE, SIGNAL_EXIT, readLog, runTraining } from '../src/train/run.js';
import { PriorModel } from '../src/priors/index.js';
import { evaluatePrior, CLASS_MIXES, type ClassMix, type PriorSampling } from '../src/metrics/index.js';
import { loggedSteps } from './util.js';

type Arch = PriorTrainConfig['arch'];

/** The shipped tokenizer and image size per dataset; mirrored copies for emoji, not for digits. */
const DATASETS: Record<string, { tokenizer: string; size: number; flip: boolean }> = {
  mnist: { tokenizer: 'models/mnist-vqvae.safetensors', size: 28, flip: false },
  'emoji:google': { tokenizer: 'models/emoji-movq.safetensors', size: 32, flip: true },
};

const WIDTH: Record<Arch, number> = { ar: 128, maskgit: 128, diffusion: 112 };

/** Each family's sampling settings: its own defaults, then the same guidance scale (3) for all. */
const SETTINGS: Record<Arch, { label: string; sampling: PriorSampling }[]> = {
  ar: [
    { label: 'KV cache', sampling: {} },
    { label: 'KV cache, cfg 3', sampling: { cfg: 3 } },
  ],
  maskgit: [
    { label: '12 steps', sampling: { steps: 12 } },
    { label: '12 steps, cfg 3', sampling: { steps: 12, cfg: 3 } },
  ],
  diffusion: [100, 50, 20, 10].flatMap((steps) => [
    { label: `${steps} steps`, sampling: { steps } },
    { label: `${steps} steps, cfg 3`, sampling: { steps, cfg: 3 } },
  ]),
};

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      data: { type: 'string', default: 'emoji:google' },
      steps: { type: 'string', default: '3000' },
      n: { type: 'string', default: '500' },
      only: { type: 'string' },
      runs: { type: 'string', default: 'runs/bench-priors' },
      out: { type: 'string', default: 'bench/results/prior-families' },
      table: { type: 'boolean', default: false },
      classes: { type: 'string', default: 'reference' },
    },
  });
  const preset = DATASETS[a.data!];
  if (!preset) throw new Error(`--data: one of ${Object.keys(DATASETS).join(', ')}, got '${a.data}'`);
  const name = a.data!.split(':')[0]!;
  const resultsPath = join(a.out!, `${name}.json`);
  const results: Record<string, any> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
  if (a.table) return void console.log(table(results));
  const steps = Number(a.steps);
  const n = Number(a.n);
  const classes = a.classes as ClassMix;
  if (!CLASS_MIXES.includes(classes)) throw new Error(`--classes: ${CLASS_MIXES.join(' or ')}, got '${a.classes}'`);
  // One budget and one class mix per results file, so its rows stay comparable (files written before
  // --classes asked for every class equally often).
  const old = results._meta;
  const oldClasses = old?.classes ?? 'uniform';
  if (old && (old.steps !== steps || old.n !== n || oldClasses !== classes))
    throw new Error(
      `${resultsPath} holds ${old.steps}-step runs sampled ${old.n} times with --classes ${oldClasses}; give another --out for --steps ${steps} --n ${n} --classes ${classes}`,
    );
  mkdirSync(a.out!, { recursive: true });
  const archs = (a.only?.split(',') ?? ['ar', 'maskgit', 'diffusion']) as Arch[];
  for (const arch of archs) if (!(arch in WIDTH)) throw new Error(`--only: unknown prior '${arch}' (ar, maskgit, diffusion)`);

  const ds = await loadDataset(a.data!, { size: preset.size, resize: preset.size });
  const { train, val } = ds.split({ valCount: 500 });
  const trainProbe = train.subset(Array.from({ length: val.size }, (_, i) => i));
  for (const arch of archs) {
    const runDir = join(a.runs!, name, arch);
    const config: PriorTrainConfig = {
      arch,
      model: { dim: WIDTH[arch], depth: 4, heads: 4, dropout: 0.1, classDropout: 0.1, positions: 'learned' },
      conditional: true,
      batchSize: 32,
      lr: 1e-3,
      weightDecay: 0.01,
      warmup: 200,
      steps,
      emaDecay: 0.999,
      flip: preset.flip,
      seed: 0,
      level: null,
      from: null,
    };
    const finished = existsSync(join(runDir, 'model.safetensors')) && (readLog(join(runDir, 'log.jsonl')).at(-1)?.step ?? 0) >= steps;
    if (!finished) {
      const trainer = new PriorTrainer({ config, tokenizer: loadTokenizer(preset.tokenizer), train, data: a.data!, log: console.log });
      console.log(
        `${arch}: ${trainer.prior.numParameters().toLocaleString('en-US')} parameters, ${steps} steps of ${config.batchSize}, ${T.getNumThreads()} threads`,
      );
      await runTraining(trainer, {
        outDir: runDir,
        steps,
        resume: existsSync(join(runDir, CHECKPOINT_FILE)),
        logEvery: 100,
        imageEvery: 1000,
        checkpointEvery: 500,
        plot: ['loss'],
        // Ctrl-C saves the checkpoint and stops here; a rerun resumes.
        onSignal: (signal) => process.exit(SIGNAL_EXIT[signal]),
      });
    }
    const model = PriorModel.load(join(runDir, 'model.safetensors'));
    try {
      // The same loss on 500 training and the 500 held-out images: how far each family overfits.
      const loss = { train: meanLoss(model, trainProbe), heldOut: meanLoss(model, val) };
      console.log(`${arch}: training loss ${loss.train.toFixed(4)}, held-out ${loss.heldOut.toFixed(4)}`);
      const rows = [];
      for (const s of SETTINGS[arch]) {
        const r = await evaluatePrior({ model, n, batchSize: 100, valCount: 500, classes, sampling: { ...s.sampling, defaults: false } });
        rows.push({
          label: s.label,
          classAccuracy: r.classAccuracy,
          fid: r.fid,
          fidName: r.names.fid,
          precision: r.precision,
          recall: r.recall,
          secondsPerImage: r.sampling.secondsPerImage,
        });
        console.log(
          `${arch}, ${s.label}: ${pct(r.classAccuracy)} requested class, ${r.names.fid} ${r.fid?.toFixed(2)}, ${(r.sampling.secondsPerImage * 1000).toFixed(1)} ms/image`,
        );
      }
      // One row per class (10 at most), 8 samples each: the first plain and the first guided setting.
      for (const s of [SETTINGS[arch][0]!, SETTINGS[arch][1]!]) {
        const classes = Array.from({ length: Math.min(10, model.classNames.length) * 8 }, (_, i) => Math.floor(i / 8));
        const grid = T.tidy(() => imagesToGrid(model.sample({ ...s.sampling, classes, generator: new T.Generator(0) }), { nrow: 8 }).keep());
        await writePng(join(a.out!, `${name}-${arch}${s.sampling.cfg ? '-cfg' : ''}.png`), grid);
        grid.dispose();
      }
      const logged = loggedSteps(join(runDir, 'log.jsonl'));
      results[arch] = {
        params: model.prior.numParameters(),
        width: WIDTH[arch],
        // From the run log's timestamps, so a resumed run counts only its training steps.
        secondsPerStep: logged ? logged.seconds / logged.steps : null,
        loss,
        rows,
      };
    } finally {
      model.dispose();
    }
    const meta = {
      data: a.data,
      tokenizer: preset.tokenizer,
      size: preset.size,
      flip: preset.flip,
      steps,
      batchSize: 32,
      n,
      classes,
      threads: T.getNumThreads(),
    };
    results._meta = { ...meta, date: new Date().toISOString() };
    writeFileSync(resultsPath, JSON.stringify(results, null, 2) + '\n');
  }
  console.log(table(results));
}

/**
 * The prior's training loss in eval mode (no dropout, no class dropout) averaged over a dataset's
 * tokens in batches of 100, its random draws (masks, timesteps) from one seed, so two datasets of the
 * same size get the same draws. Autoregressive: the exact NLL in nats per token; MaskGIT: the
 * masked-token cross-entropy; VQ-Diffusion: the importance-weighted bound plus the auxiliary term.
 */
function meanLoss(model: PriorModel, ds: Dataset): number {
  const { tokens, labels } = encodeDataset(model.tokenizer, ds);
  const g = new T.Generator(0);
  let sum = 0;
  model.prior.eval();
  for (let s = 0; s < tokens.size(0); s += 100) {
    const n = Math.min(100, tokens.size(0) - s);
    sum += n * T.tidy(() => T.noGrad(() => model.prior.loss(tokens.narrow(0, s, n), labels.narrow(0, s, n), g).item()));
  }
  const mean = sum / tokens.size(0);
  tokens.dispose();
  labels.dispose();
  return mean;
}

const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const f = (v: number | null, d: number): string => (v === null ? 'n/a' : v.toFixed(d));

/** The comparison as a Markdown table (also rendered into RESULTS.md by bench/results.ts). */
export function table(results: Record<string, any>): string {
  const L = [
    '| prior | parameters | s / training step | loss: training / held-out | sampling | class accuracy | FID | precision | recall | ms / image |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [arch, r] of Object.entries(results)) {
    if (arch.startsWith('_')) continue;
    for (const row of r.rows)
      L.push(
        `| ${arch} (width ${r.width}) | ${r.params.toLocaleString('en-US')} | ${f(r.secondsPerStep, 2)} | ${r.loss ? `${f(r.loss.train, 3)} / ${f(r.loss.heldOut, 3)}` : 'n/a'} | ${row.label} | ${pct(row.classAccuracy)} | ${row.fidName} ${f(row.fid, 2)} | ${f(row.precision, 3)} | ${f(row.recall, 3)} | ${f(row.secondsPerImage * 1000, 1)} |`,
      );
  }
  return L.join('\n');
}

if (process.argv[1]?.endsWith('prior-families.js')) await main();
