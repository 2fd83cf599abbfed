// `npm run results`: re-runs every benchmark and evaluation with a short configuration, then
// regenerates RESULTS.md from the measured JSON (tables, sample grids, loss curves, speed bars),
// stamped with the machine, date and commit. Long runs (the tokenizer and codebook comparisons,
// ~1 h each on 2 cores) are re-run only with --long; otherwise their last results.json is shown
// with the date it was measured.
//
//   node dist/bench/results.js [--long] [--only evals,priors,engine] [--step <text in step names>] [--render-only]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as T from '../src/torch/index.js';
import { evaluateTokenizer, evaluatePrior, probePrior, bestProbeRow, type EvaluatePriorOptions } from '../src/metrics/index.js';
import { barChartSvg } from '../src/train/plot.js';
import { renderCodecSection } from './codec.js';
import { table as familiesTable } from './prior-families.js';
import { repoRootFromHere } from './util.js';

const root = repoRootFromHere(import.meta.url);
const R = join(root, 'bench/results');

interface Step {
  name: string;
  group: 'evals' | 'priors' | 'engine' | 'long';
  /** A benchmark script run with node (it writes its own files)… */
  args?: string[];
  /** …or an evaluation run in this process through the library, its result written as JSON to `json`. */
  evaluate?: () => Promise<unknown>;
  json?: string;
}

const onWarning = (l: string): void => void process.stderr.write(`  warning: ${l}\n`);
const onNote = (l: string): void => void process.stderr.write(`  note: ${l}\n`);
/** The same evaluation as `tessera eval prior --model models/<model>.safetensors --json` with these settings. */
const prior = (model: string, o: Omit<EvaluatePriorOptions, 'model'>) => () =>
  evaluatePrior({ model: `models/${model}.safetensors`, baseline: true, onWarning, onNote, ...o });

/** Priors the linear probe reads (AR and MaskGIT over one token level) and their labelled data. */
const PROBES: [string, string][] = [
  ['mnist-ar', 'mnist'],
  ['mnist-ar-uncond', 'mnist'],
  ['mnist-maskgit', 'mnist'],
  ['emoji-maskgit', 'emoji:google'],
  ['emoji-vit-ar', 'emoji:google'],
];

/**
 * The evaluations of the shipped models (paths relative to the repository root, the working directory
 * while they run). The plain rows leave out the models' recommended settings (guidance), so they are
 * the baseline the guided rows are compared with.
 */
export const EVAL_STEPS: Step[] = [
  {
    name: 'eval tokenizer mnist',
    group: 'evals',
    evaluate: () => evaluateTokenizer({ model: 'models/mnist-vqvae.safetensors', data: 'mnist', size: 28, onWarning, onNote }),
    json: 'evals/tokenizer-mnist.json',
  },
  {
    name: 'eval tokenizer emoji',
    group: 'evals',
    evaluate: () => evaluateTokenizer({ model: 'models/emoji-movq.safetensors', data: 'emoji:google', size: 32, onWarning, onNote }),
    json: 'evals/tokenizer-emoji.json',
  },
  {
    name: 'eval tokenizer emoji vitvqgan',
    group: 'evals',
    evaluate: () => evaluateTokenizer({ model: 'models/emoji-vitvqgan.safetensors', data: 'emoji:google', size: 64, onWarning, onNote }),
    json: 'evals/tokenizer-emoji-vitvqgan.json',
  },
  {
    name: 'eval prior mnist maskgit',
    group: 'evals',
    evaluate: prior('mnist-maskgit', { n: 1000, acceptance: [1, 0.5, 0.25], sampling: { defaults: false } }),
    json: 'evals/prior-mnist-maskgit.json',
  },
  {
    name: 'eval prior mnist maskgit cfg',
    group: 'evals',
    evaluate: prior('mnist-maskgit', { n: 1000, sampling: { steps: 12, cfg: 3 } }),
    json: 'evals/prior-mnist-maskgit-cfg3.json',
  },
  {
    name: 'eval prior mnist ar',
    group: 'evals',
    evaluate: prior('mnist-ar', { n: 1000, acceptance: [1, 0.5, 0.25], sampling: { defaults: false } }),
    json: 'evals/prior-mnist-ar.json',
  },
  { name: 'eval prior mnist ar cfg', group: 'evals', evaluate: prior('mnist-ar', { n: 1000, sampling: { cfg: 3 } }), json: 'evals/prior-mnist-ar-cfg3.json' },
  {
    name: 'eval prior emoji maskgit',
    group: 'evals',
    evaluate: prior('emoji-maskgit', { n: 500, sampling: { steps: 12, defaults: false } }),
    json: 'evals/prior-emoji-maskgit.json',
  },
  {
    name: 'eval prior emoji maskgit cfg',
    group: 'evals',
    evaluate: prior('emoji-maskgit', { n: 500, sampling: { steps: 12, cfg: 3 } }),
    json: 'evals/prior-emoji-maskgit-cfg3.json',
  },
  // The same with every class equally often: the emoji classes are imbalanced (see the table's note).
  {
    name: 'eval prior emoji maskgit uniform',
    group: 'evals',
    evaluate: prior('emoji-maskgit', { n: 500, classes: 'uniform', sampling: { steps: 12, defaults: false } }),
    json: 'evals/prior-emoji-maskgit-uniform.json',
  },
  {
    name: 'eval prior emoji maskgit cfg uniform',
    group: 'evals',
    evaluate: prior('emoji-maskgit', { n: 500, classes: 'uniform', sampling: { steps: 12, cfg: 3 } }),
    json: 'evals/prior-emoji-maskgit-cfg3-uniform.json',
  },
  // VIM: the autoregressive prior over the emoji ViT-VQGAN's tokens (64 px), plain and guided.
  {
    name: 'eval prior emoji vit ar',
    group: 'evals',
    evaluate: prior('emoji-vit-ar', { n: 500, sampling: { defaults: false } }),
    json: 'evals/prior-emoji-vit-ar.json',
  },
  {
    name: 'eval prior emoji vit ar cfg',
    group: 'evals',
    evaluate: prior('emoji-vit-ar', { n: 500, sampling: { cfg: 3 } }),
    json: 'evals/prior-emoji-vit-ar-cfg3.json',
  },
  // VQ-VAE-2 with its hierarchical prior: without guidance, and with the recommended settings plus rejection.
  {
    name: 'eval prior mnist vqvae2',
    group: 'evals',
    evaluate: prior('mnist-vqvae2', { n: 1000, batchSize: 100, sampling: { cfg: 1 } }),
    json: 'evals/prior-mnist-vqvae2.json',
  },
  {
    name: 'eval prior mnist vqvae2 recommended',
    group: 'evals',
    evaluate: prior('mnist-vqvae2', { n: 1000, batchSize: 100, acceptance: [1, 0.5] }),
    json: 'evals/prior-mnist-vqvae2-rec.json',
  },
  // VQ-Diffusion at 100/50/20/10 visited timesteps, without guidance and with the model's recommended settings.
  ...[100, 50, 20, 10].flatMap((steps): Step[] => [
    {
      name: `eval prior mnist diffusion ${steps}`,
      group: 'evals',
      evaluate: prior('mnist-diffusion', { n: 1000, batchSize: 100, sampling: { steps, defaults: false } }),
      json: `evals/prior-mnist-diffusion-${steps}.json`,
    },
    {
      name: `eval prior mnist diffusion ${steps} recommended`,
      group: 'evals',
      evaluate: prior('mnist-diffusion', { n: 1000, batchSize: 100, sampling: { steps } }),
      json: `evals/prior-mnist-diffusion-${steps}-rec.json`,
    },
  ]),
  // Linear probes (iGPT/VIM) of the AR and MaskGIT priors against pixels and a random-init prior:
  // `tessera eval probe --model models/<name>.safetensors --data <data> --json`.
  ...PROBES.filter(([model]) => existsSync(join(root, `models/${model}.safetensors`))).map(([model, data]): Step => ({
    name: `eval probe ${model.replace('-', ' ')}`,
    group: 'evals',
    evaluate: () => probePrior({ model: `models/${model}.safetensors`, data, onWarning }),
    json: `evals/probe-${model}.json`,
  })),
];

const STEPS: Step[] = [
  ...EVAL_STEPS,
  { name: 'priors bench', group: 'priors', args: [join(root, 'dist/bench/priors.js'), '--out', 'bench/results/priors'] },
  { name: 'engine bench', group: 'engine', args: [join(root, 'dist/bench/engine.js'), '--iters', '15', '--json', 'bench/results/engine.json'] },
  {
    name: 'tokenizer comparison',
    group: 'long',
    args: [
      join(root, 'dist/bench/tokenizers.js'),
      '--steps',
      '1000',
      '--batch-size',
      '8',
      '--ch',
      '32',
      '--codebook-size',
      '1024',
      '--out',
      'bench/results/tokenizers',
    ],
  },
  {
    name: 'tokenizer comparison 8x8',
    group: 'long',
    args: [join(root, 'dist/bench/tokenizers.js'), '--set', '8x8', '--steps', '1000', '--batch-size', '8', '--ch', '32', '--codebook-size', '1024'],
  },
  ...['emoji:google', 'mnist'].map((data): Step => ({
    name: `prior families ${data.split(':')[0]}`,
    group: 'long',
    args: [join(root, 'dist/bench/prior-families.js'), '--data', data, '--steps', '3000', '--n', '500', '--classes', 'uniform'],
  })),
  { name: 'codebook', group: 'long', args: [join(root, 'dist/bench/codebook.js'), '--steps', '1000', '--out', 'bench/results/codebook'] },
  // Compression codec against JPEG/WebP/AVIF (issue 14); ~15 min on 2 cores. Photo rows need `sh bench/fetch-photos.sh`.
  { name: 'codec', group: 'long', args: [join(root, 'dist/bench/codec.js'), '--out', 'bench/results/codec'] },
];

/** Runs one step from the repository root; an evaluation's result goes to bench/results/<json>. */
export async function run(step: Step): Promise<void> {
  const t0 = performance.now();
  process.chdir(root);
  if (step.evaluate) {
    process.stderr.write(`▶ ${step.name}\n`);
    const result = await step.evaluate();
    const path = join(R, step.json!);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
  } else {
    process.stderr.write(`▶ ${step.name}: node ${step.args!.map((a) => a.replace(root + '/', '')).join(' ')}\n`);
    const r = spawnSync(process.execPath, step.args!, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`${step.name} failed (exit ${r.status})`);
  }
  process.stderr.write(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

function readJson(rel: string): any {
  const p = join(R, rel);
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined;
}

const f = (v: unknown, d: number): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const pct = (v: unknown): string => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');

/** Machine, date and commit — taken before anything runs, so the run's own outputs don't count as changes. */
function machine(): string[] {
  const git = (args: string[]): string => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout.trim();
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  const info = T.buildInfo();
  return [
    `Generated by \`npm run results\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit}${dirty}.`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, no GPU; ` +
      `Node ${process.version}, libtorch ${info.torchVersion}, ${T.getNumThreads()} threads.`,
  ];
}

function render(stamp: string[]): string {
  const L: string[] = [
    '# Tessera results',
    '',
    ...stamp,
    '',
    'Every number below is read from the JSON the listed command wrote; rerun `npm run results` to measure again.',
    '',
  ];

  // Shipped models.
  L.push('## Shipped models', '', 'Trained with the project CLI; commands and training logs in [models/README.md](models/README.md).', '');
  const tm = readJson('evals/tokenizer-mnist.json');
  const te = readJson('evals/tokenizer-emoji.json');
  const tv = readJson('evals/tokenizer-emoji-vitvqgan.json');
  if (tm || te || tv) {
    L.push(
      '### Tokenizers (held-out validation split, 500 images)',
      '',
      '| model | tokens | PSNR | SSIM | rFID (project classifier) | codebook use | class accuracy: reconstructions / originals |',
      '|---|---|---|---|---|---|---|',
    );
    for (const [name, r, tokens] of [
      ['mnist-vqvae (VQ-VAE, 256 codes)', tm, '7×7'],
      ['emoji-movq (MoVQ, multichannel, 512 codes)', te, '8×8×2'],
      ['emoji-vitvqgan (ViT-VQGAN, 64 px, 1024 codes)', tv, '8×8'],
    ] as const) {
      if (r) {
        const acc = r.classAccuracy ? `${pct(r.classAccuracy.reconstructions)} / ${pct(r.classAccuracy.originals)}` : 'n/a';
        L.push(`| ${name} | ${tokens} | ${f(r.psnr, 2)} dB | ${f(r.ssim, 3)} | ${r.rfidName ?? 'rFID'} ${f(r.rfid, 2)} | ${pct(r.utilization)} | ${acc} |`);
      }
    }
    L.push(
      '',
      'Commands: `tessera eval tokenizer --model models/mnist-vqvae.safetensors --data mnist --size 28 --json`, and the same for `models/emoji-movq.safetensors` with `--data emoji:google --size 32` and `models/emoji-vitvqgan.safetensors` with `--size 64`. Class accuracy: the project classifier’s top-1 on the reconstructions and on the originals — what the token grid keeps of the class, the ceiling for a prior over it judged by the same classifier.',
      '',
    );
  }
  const priors: [string, any][] = [
    ['mnist-maskgit, 8 steps', readJson('evals/prior-mnist-maskgit.json')],
    ['mnist-maskgit, 12 steps, cfg 3', readJson('evals/prior-mnist-maskgit-cfg3.json')],
    ['mnist-ar, KV cache', readJson('evals/prior-mnist-ar.json')],
    ['mnist-ar, KV cache, cfg 3', readJson('evals/prior-mnist-ar-cfg3.json')],
    ...[100, 50, 20, 10].flatMap((n): [string, any][] => {
      const rec = readJson(`evals/prior-mnist-diffusion-${n}-rec.json`);
      const how = rec
        ? [rec.sampling.cfg !== null ? `cfg ${rec.sampling.cfg}` : '', rec.sampling.truncation < 1 ? `r ${rec.sampling.truncation}` : '']
            .filter(Boolean)
            .join(', ')
        : '';
      return [
        [`mnist-diffusion, ${n} steps`, readJson(`evals/prior-mnist-diffusion-${n}.json`)],
        [`mnist-diffusion, ${n} steps, ${how || 'recommended'}`, rec],
      ];
    }),
    ['mnist-vqvae2, hierarchical AR', readJson('evals/prior-mnist-vqvae2.json')],
    ['mnist-vqvae2, hierarchical AR, cfg 3', readJson('evals/prior-mnist-vqvae2-rec.json')],
    ['emoji-maskgit, 12 steps', readJson('evals/prior-emoji-maskgit.json')],
    ['emoji-maskgit, 12 steps, cfg 3', readJson('evals/prior-emoji-maskgit-cfg3.json')],
    ['emoji-maskgit, 12 steps', readJson('evals/prior-emoji-maskgit-uniform.json')],
    ['emoji-maskgit, 12 steps, cfg 3', readJson('evals/prior-emoji-maskgit-cfg3-uniform.json')],
    ['emoji-vit-ar (ViT-VQGAN, 64 px), KV cache', readJson('evals/prior-emoji-vit-ar.json')],
    ['emoji-vit-ar (ViT-VQGAN, 64 px), KV cache, cfg 3', readJson('evals/prior-emoji-vit-ar-cfg3.json')],
  ];
  if (priors.some(([, r]) => r)) {
    L.push(
      '### Priors: samples against the held-out split',
      '',
      '| prior | samples | classes | FID (baseline) | IS (data) | precision | recall | class accuracy (data) | ms / image |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, r] of priors) {
      if (!r) continue;
      // Files written before --classes asked for every class equally often.
      const mix = r.classes > 0 ? (r.sampling.classes ?? 'uniform') : '—';
      const base = r.baseline ? ` (${f(r.baseline.fid, 2)})` : '';
      const dataAcc = r.reference?.classAccuracy != null ? ` (${pct(r.reference.classAccuracy)})` : '';
      L.push(
        `| ${name} | ${r.images} | ${mix} | ${r.names.fid} ${f(r.fid, 2)}${base} | ${f(r.is?.mean, 2)} (${f(r.reference?.is?.mean, 2)}) | ${f(r.precision, 3)} | ${f(r.recall, 3)} | ${pct(r.classAccuracy)}${dataAcc} | ${f(r.sampling.secondsPerImage * 1000, 1)} |`,
      );
    }
    L.push(
      '',
      'Reference: the 500 held-out validation images of each dataset. FID-tessera-* and IS-tessera-* use the project classifiers (models/*-classifier.safetensors), not InceptionV3: they compare Tessera models with each other, not with published FIDs. Classes: *reference* rows ask for each class in the held-out images’ proportions (the default of `tessera eval prior`), so a model that matched the data would score what the data scores; *uniform* rows ask for every class equally often (`--classes uniform`), which on emoji (62% of the held-out images are People & Body) keeps FID far from its floor even for real images. Baseline (`--baseline`): the same number of training images of the same classes through the model’s tokenizer — what a prior reproducing its training data would score. Class accuracy: the share of samples the same classifier assigns to the requested class; in brackets its accuracy on the held-out images themselves. Commands: `tessera eval prior --model models/<name>.safetensors --n 1000 [--steps 12 --cfg 3] [--classes uniform] --baseline --json`.',
      '',
    );
    // Per class, where every class was asked for equally often: which classes a prior gets wrong, beside the data's own score.
    const even = priors.filter(([, r]) => r?.sampling?.classes === 'uniform' && Array.isArray(r.perClass));
    if (even.length) {
      const base = even.find(([, r]) => Array.isArray(r.baseline?.perClass))?.[1];
      L.push(
        '### Class accuracy per class, every class equally often',
        '',
        `| class | ${even.map(([name]) => name).join(' | ')}${base ? ' | baseline |' : ''}`,
        `|---|${even.map(() => '---|').join('')}${base ? '---|' : ''}`,
      );
      for (const [c, { name }] of (even[0]![1].perClass as { name: string }[]).entries()) {
        const cells = even.map(([, r]) => pct(r.perClass[c]?.accuracy ?? null));
        L.push(`| ${name} | ${cells.join(' | ')}${base ? ` | ${pct(base.baseline.perClass[c] ?? null)} |` : ''}`);
      }
      L.push(
        '',
        `Samples per class: ${even[0]![1].perClass[0].images}. Baseline: training images of each class through the tokenizer, scored by the same classifier.`,
        '',
      );
    }
    const rej = priors.filter(([, r]) => Array.isArray(r?.acceptance) && r.acceptance.length > 1);
    if (rej.length) {
      L.push(
        '### Rejection sampling (classifier acceptance rate)',
        '',
        'Each row keeps the best-scoring share of ⌈N / rate⌉ candidates by the classifier’s probability for their class, so every row has N images. The classifier also provides the FID features here, which flatters the lower rates.',
        '',
        '| prior | acceptance | candidates | FID | class accuracy |',
        '|---|---|---|---|---|',
      );
      for (const [name, r] of rej)
        for (const a of r.acceptance) L.push(`| ${name} | ${a.acceptance} | ${a.candidates} | ${f(a.fid, 2)} | ${pct(a.classAccuracy)} |`);
      L.push('');
    }
  }
  for (const [img, what] of [
    ['priors/maskgit-12-cfg-3-samples.png', 'MNIST MaskGIT, 12 steps, cfg 3; one column per digit 0–9'],
    ['priors/ar-cfg-3-samples.png', 'MNIST autoregressive prior, cfg 3; one column per digit 0–9'],
  ]) {
    if (existsSync(join(R, img))) L.push(`![${what}](bench/results/${img})`, `*${what}.*`, '');
  }

  const probes = PROBES.map(([m]) => [m, readJson(`evals/probe-${m}.json`)] as [string, any]).filter(([, r]) => r);
  if (probes.length) {
    L.push(
      '### Linear probe: frozen prior features against pixels',
      '',
      '| dataset | prior | train images | best block | accuracy | every block | pixels | random-init prior (best block) | held-out fifth: best block / pixels |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const [m, r] of probes) {
      // Chosen by the library's rule (held-out training features), also for files written before it.
      const best = bestProbeRow(r.rows);
      const rb = bestProbeRow(r.randomRows);
      L.push(
        `| ${r.data} ${r.size}×${r.size} | ${m} (${r.arch}) | ${r.trainImages} | ${best.layer} of ${r.blocks} | ${pct(best.accuracy)} | ${r.rows.map((x: any) => f(x.accuracy * 100, 1)).join(' / ')} | ${pct(r.pixels.accuracy)} | ${pct(rb.accuracy)} (${rb.layer}) | ${pct(best.heldOutAccuracy)} / ${pct(r.pixels.heldOutAccuracy)} |`,
      );
    }
    const r0 = probes[0]![1];
    L.push(
      '',
      `Top-1 on the held-out validation split (${r0.valImages} images) of a linear softmax classifier trained on the whole training split. Features (iGPT): block l's output, layer-normalised, averaged over the token sequence of the unconditional (null-class) forward; AR teacher-forced, MaskGIT with nothing masked. Each feature set's weight decay, and the block reported, are chosen on a held-out fifth of the training images (its accuracy is the last column), never on the validation split. With 500 validation images one standard error is √(p(1−p)/500): 1.4 points at 89%, 1.8 at 80%. Command: \`tessera eval probe --model models/<name>.safetensors --data <data> --json\`.`,
      '',
    );
  }

  // Prior speed.
  const pb = readJson('priors/results.json');
  if (pb) {
    L.push(
      '## Sampling speed: autoregressive vs MaskGIT',
      '',
      'Command: `node dist/bench/priors.js` (same batch, same transformer size; best of repeats).',
      '',
    );
    for (const key of ['shipped', 'long']) {
      const s = pb[key];
      if (!s) continue;
      L.push(
        `${key === 'shipped' ? 'Shipped MNIST priors' : 'Fresh models of the same size'}, ${s.tokens} tokens per image, batch ${pb._meta.batch}:`,
        '',
        '| method | ms / image | speed-up vs AR without cache |',
        '|---|---|---|',
      );
      for (const t of s.timings) L.push(`| ${t.method} | ${f(t.secondsPerImage * 1000, 1)} | ${f(t.speedup, 1)}x |`);
      L.push('');
      const svg = `priors/speed-${key}.svg`;
      writeFileSync(
        join(R, svg),
        barChartSvg(
          s.timings.map((t: any) => ({ label: t.method, value: t.secondsPerImage * 1000 })),
          { title: `ms per image, ${s.tokens} tokens`, unit: ' ms' },
        ),
      );
      L.push(`![sampling speed](bench/results/${svg})`, '');
    }
    if (pb.classAccuracy) {
      L.push('| prior | MNIST samples classified as the requested digit |', '|---|---|');
      for (const [k, v] of Object.entries(pb.classAccuracy as Record<string, { accuracy: number; n: number }>))
        L.push(`| ${k} | ${pct(v.accuracy)} of ${v.n} |`);
      L.push('');
    }
  }

  // AR vs MaskGIT vs VQ-Diffusion at equal parameters and steps (long).
  const families = ['emoji', 'mnist'].map((d) => readJson(`prior-families/${d}.json`)).filter(Boolean);
  if (families.length) {
    L.push(
      '## Prior families at equal size and budget: autoregressive vs MaskGIT vs VQ-Diffusion',
      '',
      'Each prior is trained from scratch over the shipped tokenizer’s tokens of the same training images, with about the same parameter count (4 blocks, 4 heads; VQ-Diffusion at width 112 against 128, because its adaptive-LayerNorm maps add a third to each block), the same AdamW schedule (lr 1e-3, 200 warmup steps, cosine), batch of 32, EMA 0.999 and number of steps, then sampled with and without classifier-free guidance (scale 3, learned null class). Class accuracy and FID use the project classifier against the 500 held-out images; ms / image is the wall time of sampling and decoding in batches of 100. Loss: each family’s own training loss in eval mode, with the same random draws, on 500 training and the 500 held-out images — the autoregressive NLL in nats per token, MaskGIT’s masked-token cross-entropy, VQ-Diffusion’s weighted bound — so it compares training with held-out data within a row, not families with each other. MoVQ’s two channel tokens per position make the autoregressive sequence 128 tokens long (channels in turn) where MaskGIT and VQ-Diffusion see 64 positions.',
      '',
    );
    for (const r of families) {
      const m = r._meta;
      L.push(
        `**${m.data}** (tokenizer \`${m.tokenizer}\`, ${m.size}×${m.size}${m.flip ? ', with mirrored copies' : ''}; ${m.steps.toLocaleString('en-US')} steps; ${m.n} samples per row; ${m.threads} threads; classes ${m.classes ?? 'uniform'}; measured ${String(m.date).slice(0, 10)}). Command: \`node dist/bench/prior-families.js --data ${m.data} --steps ${m.steps} --n ${m.n} --classes ${m.classes ?? 'uniform'}\`.`,
        '',
        familiesTable(r),
        '',
      );
      const name = String(m.data).split(':')[0];
      for (const [arch, what] of [
        ['ar', 'autoregressive, KV cache'],
        ['maskgit', 'MaskGIT, 12 steps'],
        ['diffusion', 'VQ-Diffusion, 100 steps'],
      ])
        for (const cfg of ['', '-cfg'])
          if (existsSync(join(R, `prior-families/${name}-${arch}${cfg}.png`)))
            L.push(
              `![${name}: ${what}${cfg ? ', cfg 3' : ''}](bench/results/prior-families/${name}-${arch}${cfg}.png)`,
              `*${name}: ${what}${cfg ? ', cfg 3' : ''}; one row per class, seed 0.*`,
              '',
            );
    }
  }
  // Tokenizer comparison (long).
  const tk = readJson('tokenizers/results.json');
  if (tk) {
    L.push(
      '## Tokenizer comparison',
      '',
      `Command: \`node dist/bench/tokenizers.js --steps 1000 --batch-size 8 --ch 32 --codebook-size 1024\` (long; measured ${String(tk._meta?.date ?? '').slice(0, 10)}; rerun with \`npm run results -- --long\`). ${tk._meta?.data} at ${tk._meta?.size}×${tk._meta?.size}, 256 tokens per image, 1,024 codes, no GAN, 300 held-out images.`,
      '',
    );
    L.push(
      '| variant | tokens/image | codebook | PSNR (dB) | SSIM | L1 | code use | perplexity | params | train time |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [k, v] of Object.entries(tk as Record<string, any>)) {
      if (k.startsWith('_')) continue;
      L.push(
        `| ${k} | ${v.tokensPerImage} | ${v.codebookSize} | ${f(v.psnr, 2)} | ${f(v.ssim, 3)} | ${f(v.l1, 4)} | ${pct(v.utilization)} | ${f(v.perplexity, 0)} | ${(v.params / 1e6).toFixed(2)}M | ${Math.round(v.trainSeconds / 60)} min |`,
      );
    }
    L.push('');
    for (const [k, v] of Object.entries(tk as Record<string, any>)) if (!k.startsWith('_')) L.push(`- ${k}: ${v.note}`);
    L.push('');
    for (const k of Object.keys(tk)) if (existsSync(join(R, `tokenizers/${k}-recon.png`))) L.push(`![${k}](bench/results/tokenizers/${k}-recon.png) `);
    L.push('');
  }
  // ViT-VQGAN vs CNN tokenizers at the same 8×8 tokens (issue 12).
  const vt = readJson('vitvqgan/results.json');
  if (vt) {
    const m = vt._meta ?? {};
    L.push(
      '## ViT-VQGAN vs VQGAN vs MoVQ at 8×8 tokens',
      '',
      `Command: \`node dist/bench/tokenizers.js --set 8x8 --steps ${m.steps} --batch-size ${m.batchSize} --ch 32 --codebook-size ${m.codebookSize}\` (long; measured ${String(m.date ?? '').slice(0, 10)} at ${m.threads} threads; rerun with \`npm run results -- --long\`). ${m.data} at ${m.size}×${m.size}, 64 tokens per image, ${m.codebookSize} codes with k-means init and dead-code restart, the same ${m.steps} steps of ${m.batchSize} images and MSE pixel loss for every model (vitvqgan-p8-laplace adds the logit-Laplace term), no GAN; measured on 300 held-out images. rFID uses the project's emoji classifier (rFID-tessera-emoji). Train img/s from the run log; encode img/s through \`encode\` in 32-image batches.`,
      '',
      '| model | PSNR (dB) | SSIM | rFID-tessera | code use | perplexity | params | train img/s | encode img/s |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const [k, v] of Object.entries(vt as Record<string, any>)) {
      if (k.startsWith('_')) continue;
      L.push(
        `| ${k} | ${f(v.psnr, 2)} | ${f(v.ssim, 3)} | ${v.rfid == null ? '—' : f(v.rfid, 2)} | ${pct(v.utilization)} | ${f(v.perplexity, 0)} | ${(v.params / 1e6).toFixed(2)}M | ${v.trainImagesPerSec == null ? '—' : f(v.trainImagesPerSec, 1)} | ${v.encodeImagesPerSec == null ? '—' : f(v.encodeImagesPerSec, 0)} |`,
      );
    }
    L.push('');
    for (const [k, v] of Object.entries(vt as Record<string, any>)) if (!k.startsWith('_')) L.push(`- ${k}: ${v.note}`);
    L.push('');
    for (const k of Object.keys(vt)) if (existsSync(join(R, `vitvqgan/${k}-recon.png`))) L.push(`![${k}](bench/results/vitvqgan/${k}-recon.png) `);
    L.push('');
  }
  const cb = readJson('codebook/results.json');
  if (cb) {
    L.push(
      '## Codebook use at 16,384 and 65,536 codes',
      '',
      `Command: \`node dist/bench/codebook.js --steps 1000\` (long; each row's measurement date is shown; rerun with \`npm run results -- --long\`; one row: \`--only <name> --codebook-size <K> [--steps N]\`). VQ-VAE on ${cb._meta?.data} at ${cb._meta?.size}×${cb._meta?.size}, batches of 8 images (256 tokens each); codes used by the tokens of 1,000 held-out images (256,000 tokens). Rows are keyed \`name@K\` at K ≠ 16,384 codes and \`/N steps\` at budgets other than 1,000 steps.`,
      '',
      '| quantizer | codes | steps | code use (held-out) | perplexity | PSNR (dB) | measured |',
      '|---|---|---|---|---|---|---|',
    );
    const rows = Object.entries(cb as Record<string, any>).filter(([k, v]) => !k.startsWith('_') && typeof v === 'object');
    // Grouped by codebook size (stable: within a size, the order the rows were first measured).
    rows.sort(([, a], [, b]) => a.codebookSize - b.codebookSize);
    for (const [k, v] of rows) {
      const codes = Math.round(v.utilization * v.codebookSize);
      L.push(
        `| ${k}: ${v.note} | ${v.codebookSize.toLocaleString('en-US')} | ${v.steps.toLocaleString('en-US')} | ${pct(v.utilization)}${codes < 100 ? ` (${codes} codes)` : ''} | ${f(v.perplexity, 0)} | ${f(v.psnr, 2)} | ${String(v.date ?? cb._meta?.date ?? '').slice(0, 10)} |`,
      );
    }
    L.push('');
  }

  // Compression codec (bench/codec.ts renders its own section and plots).
  const cd = readJson('codec/results.json');
  if (cd) L.push(...renderCodecSection(cd, R));

  // Engine.
  const en = readJson('engine.json');
  if (en) {
    L.push(
      '## Engine speed against PyTorch',
      '',
      `Command: \`node dist/bench/engine.js --iters ${en.iters}\` (the same models in Tessera and in PyTorch through Debian's python3-torch — the same libtorch — in one run; median of ${en.iters} steps; ${en.threads} threads; ratio = Tessera time / PyTorch time).`,
      '',
      '| case | Tessera (ms) | PyTorch (ms) | ratio | PyTorch channels_last (ms) | ratio |',
      '|---|---|---|---|---|---|',
    );
    for (const r of en.rows)
      L.push(
        `| ${r.case} | ${f(r.tessera_ms, 0)} | ${f(r.torch_ms, 0)} | ${f(r.ratio, 2)} | ${f(r.torch_channels_last_ms, 0)} | ${f(r.ratio_vs_channels_last, 2)} |`,
      );
    writeFileSync(
      join(R, 'engine.svg'),
      barChartSvg(
        en.rows.map((r: any) => ({ label: r.case, value: r.ratio })),
        { title: 'Tessera / PyTorch time (1.0 = parity)' },
      ),
    );
    L.push('', '![engine ratios](bench/results/engine.svg)', '');
  }

  // Training curves of the shipped models.
  const curves = ['mnist-vqvae', 'emoji-movq', 'mnist-maskgit', 'mnist-ar', 'emoji-maskgit'].filter((m) =>
    existsSync(join(root, 'models/logs', `${m}-loss.svg`)),
  );
  if (curves.length) {
    L.push('## Training curves of the shipped models', '');
    for (const m of curves) L.push(`![${m}](models/logs/${m}-loss.svg)`);
    L.push('');
  }
  return L.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      long: { type: 'boolean', default: false },
      only: { type: 'string' },
      step: { type: 'string' },
      'render-only': { type: 'boolean', default: false },
    },
  });
  const stamp = machine();
  if (values['render-only'])
    stamp[0] = stamp[0]!.replace('Generated by `npm run results`', 'Rendered by `npm run results -- --render-only` from earlier measurements');
  if (!values['render-only']) {
    const only = values.only?.split(',');
    // The engine comparison runs PyTorch beside Tessera (Debian's python3-torch, a development-only
    // dependency); without it that step is skipped and its last results are shown.
    const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
    const ran: string[] = [];
    for (const s of STEPS) {
      if (s.group === 'long' && !values.long) continue;
      if (only && !only.includes(s.group)) continue;
      // --step: steps whose name contains one of the comma-separated texts as whole words.
      if (values.step !== undefined && !values.step.split(',').some((t) => ` ${s.name} `.includes(` ${t.trim()} `))) continue;
      if (s.group === 'engine' && !torchOk) {
        process.stderr.write(`▶ ${s.name}: skipped — needs PyTorch for the side-by-side run (apt-get install python3-torch)\n`);
        continue;
      }
      await run(s);
      ran.push(s.name);
    }
    // A partial run (--only/--step) re-renders every section; say which were measured now.
    if (values.only !== undefined || values.step !== undefined)
      stamp[0] = `${stamp[0]!.replace('Generated by `npm run results`', 'Rendered by `npm run results`')} Measured in this run: ${ran.join('; ') || 'nothing'}; every other section is from its own earlier run.`;
  }
  mkdirSync(join(R, 'priors'), { recursive: true });
  writeFileSync(join(root, 'RESULTS.md'), render(stamp) + '\n');
  process.stderr.write(`wrote ${join(root, 'RESULTS.md')}\n`);
}

// Run as a script (`npm run results`); importing the module (EVAL_STEPS, run) runs nothing.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
