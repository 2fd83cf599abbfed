// `tessera train tokenizer`: trains a VQ-VAE / VQGAN / MoVQ on a dataset spec with the shared training
// loop (checkpoints, exact resume, Ctrl-C saves). The resolved configuration is written to
// <out>/config.json before the first step; --resume takes it back from there and from the checkpoint,
// and any flag that contradicts it is a usage error rather than a silently different run.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError, flagName } from '../args.js';
import { defineCommand, type CommandContext } from '../command.js';
import type { TokenizerTrainConfig } from '../../train/tokenizer.js';

const ARCHS = ['vqvae', 'vqgan', 'movq'] as const;
type Arch = (typeof ARCHS)[number];

const DEFAULTS = {
  steps: 2000,
  batchSize: 16,
  lr: 2e-4,
  warmup: 100,
  codebookSize: 1024,
  downsample: 4,
  groups: 4,
  ch: 64,
  ema: 0.999,
  discStart: 500,
  seed: 0,
  valCount: 500,
  logEvery: 50,
  imageEvery: 250,
  checkpointEvery: 500,
};

interface LpipsPaths {
  vgg?: string;
  lin?: string;
  combined?: string;
}

/** What <out>/config.json holds: the trainer's config, then the run's own settings. */
interface RunConfig extends TokenizerTrainConfig {
  data: string;
  size: number;
  valCount: number;
  steps: number;
  lpips: LpipsPaths | null;
}

const TRAIN_KEYS = ['arch', 'model', 'batchSize', 'lr', 'warmup', 'emaDecay', 'recLoss', 'gan', 'seed'] as const;
const RUN_KEYS = ['data', 'size', 'valCount', 'steps', 'lpips'] as const;

const options = {
  arch: { type: 'enum', values: ARCHS, help: 'architecture (required for a new run)' },
  data: { type: 'string', metavar: 'spec', help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (required for a new run)" },
  size: { type: 'number', integer: true, min: 1, help: 'image side in pixels; images are scaled and centre-cropped to it (required for a new run)' },
  out: { type: 'string', required: true, metavar: 'dir', help: 'run directory, e.g. runs/NAME' },
  steps: { type: 'number', integer: true, min: 1, help: `training steps; may be raised with --resume to extend a run (default: ${DEFAULTS.steps})` },
  batchSize: { type: 'number', integer: true, min: 1, help: `images per step (default: ${DEFAULTS.batchSize})` },
  lr: { type: 'number', min: 0, help: `learning rate, Adam with betas 0.5/0.9 (default: ${DEFAULTS.lr})` },
  warmup: { type: 'number', integer: true, min: 0, help: `linear learning-rate warmup steps (default: ${DEFAULTS.warmup})` },
  codebookSize: { type: 'number', integer: true, min: 2, help: `codebook entries (default: ${DEFAULTS.codebookSize})` },
  downsample: { type: 'number', integer: true, min: 2, help: `downsampling factor f, a power of two: N×N pixels give (N/f)×(N/f) positions (default: ${DEFAULTS.downsample})` },
  groups: { type: 'number', integer: true, min: 1, help: `movq: channel groups quantized per position (multichannel; 1 = plain MoVQ) (default: ${DEFAULTS.groups})` },
  ch: { type: 'number', integer: true, min: 1, help: `base channel width (default: ${DEFAULTS.ch})` },
  ema: { type: 'number', min: 0, max: 1, metavar: 'decay', help: `EMA decay of the weights saved in model.safetensors (default: ${DEFAULTS.ema})` },
  noEma: { type: 'boolean', help: 'save the raw weights instead of an EMA' },
  gan: { type: 'boolean', help: 'add the PatchGAN discriminator loss (default for vqgan and movq)' },
  noGan: { type: 'boolean', help: 'no discriminator: faster (default for vqvae)' },
  discStart: { type: 'number', integer: true, min: 0, help: `first step with the GAN loss on (default: ${DEFAULTS.discStart})` },
  recLoss: { type: 'enum', values: ['l1', 'l2'], help: 'pixel loss (default: l1 for vqgan, l2 for vqvae and movq)' },
  lpipsVgg: { type: 'string', metavar: 'file', help: 'torchvision VGG16 weights for the LPIPS perceptual loss (with --lpips-lin; GAN runs only)' },
  lpipsLin: { type: 'string', metavar: 'file', help: "LPIPS linear layers (the lpips package's weights/v0.1/vgg.pth)" },
  lpips: { type: 'string', metavar: 'file', help: 'one file with the whole LPIPS network (instead of --lpips-vgg and --lpips-lin)' },
  config: {
    type: 'string',
    metavar: 'file.json',
    help: `JSON overriding the defaults: ${TRAIN_KEYS.join(', ')} (as in TokenizerTrainConfig) and ${RUN_KEYS.join(', ')}; a run's config.json works. Flags given explicitly win`,
  },
  seed: { type: 'number', integer: true, min: 0, help: `random seed: weights, data order (default: ${DEFAULTS.seed})` },
  valCount: { type: 'number', integer: true, min: 1, help: `validation images held out (deterministic split, as in eval tokenizer) (default: ${DEFAULTS.valCount})` },
  logEvery: { type: 'number', integer: true, min: 1, help: `progress line every N steps when stderr is not a terminal (default: ${DEFAULTS.logEvery})` },
  imageEvery: { type: 'number', integer: true, min: 1, help: `write recon-latest.png every N steps (default: ${DEFAULTS.imageEvery})` },
  checkpointEvery: { type: 'number', integer: true, min: 1, help: `save the checkpoint and model.safetensors every N steps (default: ${DEFAULTS.checkpointEvery})` },
  resume: { type: 'boolean', help: 'continue the run in --out from its checkpoint, with its saved configuration' },
  stopAfter: { type: 'number', integer: true, min: 1, metavar: 'n', help: 'stop after N steps in this process, saving a checkpoint (train in chunks with --resume)' },
} as const;

type Opts = { -readonly [K in keyof typeof options]?: unknown } & Record<string, unknown>;

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The discriminator's stride-2 stages that fit `size` (its output must stay at least 1×1). */
function discLayersFor(size: number, preferred: number): number {
  for (let l = preferred; l >= 1; l--) if (Math.floor(size / 2 ** l) >= 3) return l;
  throw new UsageError(`images of ${size} px are too small for the PatchGAN discriminator; use --no-gan or a larger --size`);
}

function defaultGan(arch: Arch, size: number): NonNullable<TokenizerTrainConfig['gan']> {
  if (arch === 'movq') {
    // MoVQ's published losses: LPIPS weight 0.1, 2-layer discriminator, fixed GAN weight 0.1.
    return { discStart: DEFAULTS.discStart, perceptualWeight: 0.1, discNumLayers: discLayersFor(size, 2), adaptiveWeight: false, discWeight: 0.1 };
  }
  return { discStart: DEFAULTS.discStart, discNumLayers: discLayersFor(size, 3) };
}

function readConfigFile(path: string): Partial<RunConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read --config ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`--config ${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(parsed)) throw new Error(`--config ${path}: expected a JSON object`);
  const doc = parsed;
  const known = new Set<string>([...TRAIN_KEYS, ...RUN_KEYS]);
  const unknown = Object.keys(doc).filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`--config ${path}: unknown key(s) ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  const bad = (k: string, want: string): never => {
    throw new Error(`--config ${path}: "${k}" must be ${want}, got ${JSON.stringify(doc[k])}`);
  };
  const int = (k: string, min: number) => doc[k] === undefined || (Number.isInteger(doc[k]) && (doc[k] as number) >= min) || bad(k, `an integer ≥ ${min}`);
  if (doc.arch !== undefined && !ARCHS.includes(doc.arch as Arch)) bad('arch', ARCHS.join(' | '));
  if (doc.model !== undefined && !isObj(doc.model)) bad('model', 'an object (the tokenizer config)');
  for (const k of ['warmup', 'seed']) int(k, 0);
  for (const k of ['batchSize', 'size', 'valCount', 'steps']) int(k, 1);
  if (doc.lr !== undefined && !(typeof doc.lr === 'number' && doc.lr >= 0)) bad('lr', 'a non-negative number');
  if (doc.emaDecay !== undefined && doc.emaDecay !== null && !(typeof doc.emaDecay === 'number' && doc.emaDecay >= 0 && doc.emaDecay <= 1)) bad('emaDecay', 'a number in [0, 1] or null');
  if (doc.recLoss !== undefined && doc.recLoss !== 'l1' && doc.recLoss !== 'l2') bad('recLoss', "'l1' or 'l2'");
  if (doc.gan !== undefined && doc.gan !== null && !isObj(doc.gan)) bad('gan', 'an object (VQGANLossConfig) or null');
  if (doc.data !== undefined && typeof doc.data !== 'string') bad('data', 'a dataset spec string');
  if (doc.lpips !== undefined && doc.lpips !== null) {
    const l = doc.lpips;
    const ok = isObj(l) && Object.entries(l).every(([k, v]) => ['vgg', 'lin', 'combined'].includes(k) && typeof v === 'string') && ('combined' in l ? !('vgg' in l || 'lin' in l) : 'vgg' in l && 'lin' in l);
    if (!ok) bad('lpips', 'an object {"vgg": file, "lin": file} or {"combined": file}, or null');
    doc.lpips = Object.fromEntries(Object.entries(l as Record<string, string>).map(([k, v]) => [k, resolve(v)]));
  }
  return doc as Partial<RunConfig>;
}

/** A fresh run's configuration: defaults ← --config file ← flags given explicitly. */
function resolveNew(o: Opts, canonicalSpec: (s: string) => string, defaultConfig: (arch: Arch, d: object) => object): RunConfig {
  const file: Partial<RunConfig> = typeof o.config === 'string' ? readConfigFile(o.config) : {};
  const pick = <V>(flag: unknown, fromFile: V | undefined, def: V): V => (flag !== undefined ? (flag as V) : fromFile !== undefined ? fromFile : def);
  const arch = (o.arch ?? file.arch) as Arch | undefined;
  const data = (o.data ?? file.data) as string | undefined;
  const size = (o.size ?? file.size) as number | undefined;
  const missing = [arch === undefined && '--arch', data === undefined && '--data', size === undefined && '--size'].filter(Boolean);
  if (missing.length) throw new UsageError(`a new run needs ${missing.join(', ')} (or --resume to continue the run in --out)`);
  if (o.groups !== undefined && arch !== 'movq') throw new UsageError('--groups applies to --arch movq only');
  if (o.ema !== undefined && o.noEma) throw new UsageError('--ema and --no-ema contradict each other');
  if (o.gan && o.noGan) throw new UsageError('--gan and --no-gan contradict each other');

  let model: object;
  if (file.model !== undefined) {
    const given = (['ch', 'downsample', 'groups'] as const).filter((k) => o[k] !== undefined);
    if (given.length) throw new UsageError(`--config ${String(o.config)} defines the model; edit it there instead of ${given.map((k) => '--' + flagName(k)).join(', ')}`);
    model = structuredClone(file.model);
    if (o.codebookSize !== undefined) {
      const q = (model as { quantizer?: unknown }).quantizer;
      if (!isObj(q)) throw new UsageError(`--codebook-size: the model in --config ${String(o.config)} has no quantizer object to change`);
      q.codebookSize = o.codebookSize;
    }
  } else {
    const downsample = (o.downsample as number | undefined) ?? DEFAULTS.downsample;
    if (!Number.isInteger(Math.log2(downsample))) throw new UsageError(`--downsample must be a power of two, got ${downsample}`);
    if (size! % downsample !== 0) {
      throw new UsageError(`--size ${size} is not a multiple of --downsample ${downsample}`);
    }
    model = defaultConfig(arch!, {
      size: size!,
      codebookSize: (o.codebookSize as number | undefined) ?? DEFAULTS.codebookSize,
      downsample,
      groups: arch === 'movq' ? ((o.groups as number | undefined) ?? DEFAULTS.groups) : 1,
      ch: (o.ch as number | undefined) ?? DEFAULTS.ch,
    });
  }

  const emaDecay = o.noEma ? null : pick<number | null>(o.ema, file.emaDecay, DEFAULTS.ema);
  let gan: TokenizerTrainConfig['gan'];
  if (o.noGan) gan = null;
  else if (o.gan) gan = file.gan ?? defaultGan(arch!, size!);
  else gan = file.gan !== undefined ? file.gan : arch === 'vqvae' ? null : defaultGan(arch!, size!);
  if (o.discStart !== undefined) {
    if (!gan) throw new UsageError('--disc-start needs the GAN loss (--gan)');
    gan = { ...gan, discStart: o.discStart as number };
  }

  const lpips = lpipsFromFlags(o) ?? file.lpips ?? null;
  if (lpips && !gan) throw new UsageError('the LPIPS perceptual loss is part of the GAN loss: add --gan, or drop the --lpips* options');

  // Key order matters: the checkpoint compares configs as JSON text.
  const train: TokenizerTrainConfig = {
    arch: arch!,
    model,
    batchSize: pick(o.batchSize, file.batchSize, DEFAULTS.batchSize),
    lr: pick(o.lr, file.lr, DEFAULTS.lr),
    warmup: pick(o.warmup, file.warmup, DEFAULTS.warmup),
    emaDecay,
    recLoss: pick(o.recLoss, file.recLoss, arch === 'vqgan' ? 'l1' : 'l2'),
    gan,
    seed: pick(o.seed, file.seed, DEFAULTS.seed),
  };
  return {
    ...train,
    data: canonicalSpec(data!),
    size: size!,
    valCount: pick(o.valCount, file.valCount, DEFAULTS.valCount),
    steps: pick(o.steps, file.steps, DEFAULTS.steps),
    lpips,
  };
}

function lpipsFromFlags(o: Opts): LpipsPaths | undefined {
  const vgg = o.lpipsVgg as string | undefined;
  const lin = o.lpipsLin as string | undefined;
  const combined = o.lpips as string | undefined;
  if (combined !== undefined && (vgg !== undefined || lin !== undefined)) throw new UsageError('give either --lpips or --lpips-vgg with --lpips-lin, not both');
  if ((vgg === undefined) !== (lin === undefined)) throw new UsageError('--lpips-vgg and --lpips-lin go together');
  if (combined !== undefined) return { combined: resolve(combined) };
  if (vgg !== undefined) return { vgg: resolve(vgg), lin: resolve(lin!) };
  return undefined;
}

/** Quantities a model config implies, for comparing flags with a saved run. */
function modelFacts(model: unknown): { codebookSize?: number; downsample?: number; groups?: number; ch?: number } {
  if (!isObj(model)) return {};
  const q = isObj(model.quantizer) ? model.quantizer : {};
  const dd = isObj(model.ddconfig) ? model.ddconfig : undefined;
  const facts: { codebookSize?: number; downsample?: number; groups?: number; ch?: number } = {};
  if (typeof q.codebookSize === 'number') facts.codebookSize = q.codebookSize;
  facts.groups = q.type === 'multichannel' && typeof q.groups === 'number' ? q.groups : 1;
  if (dd) {
    if (Array.isArray(dd.chMult)) facts.downsample = 2 ** (dd.chMult.length - 1);
    if (typeof dd.ch === 'number') facts.ch = dd.ch;
  } else {
    if (typeof model.numDownsamples === 'number') facts.downsample = 2 ** model.numDownsamples;
    if (typeof model.ch === 'number') facts.ch = model.ch;
  }
  return facts;
}

/** A resumed run's configuration: the checkpoint's trainer config and config.json; flags may only repeat them. */
function resolveResume(o: Opts, out: string, canonicalSpec: (s: string) => string, meta: { step: number; config: TokenizerTrainConfig }, saved: Partial<RunConfig>) {
  const train = meta.config;

  const conflicts: string[] = [];
  const check = (key: string, given: unknown, savedValue: unknown, show: (v: unknown) => string = String) => {
    if (given !== undefined && savedValue !== undefined && given !== savedValue) conflicts.push(`--${flagName(key)} ${show(given)} (saved: ${show(savedValue)})`);
  };
  const facts = modelFacts(train.model);
  check('arch', o.arch, train.arch);
  check('batchSize', o.batchSize, train.batchSize);
  check('lr', o.lr, train.lr);
  check('warmup', o.warmup, train.warmup);
  check('seed', o.seed, train.seed);
  check('recLoss', o.recLoss, train.recLoss);
  check('codebookSize', o.codebookSize, facts.codebookSize);
  check('downsample', o.downsample, facts.downsample);
  check('groups', o.groups, facts.groups);
  check('ch', o.ch, facts.ch);
  if (o.ema !== undefined && o.ema !== train.emaDecay) conflicts.push(`--ema ${o.ema} (saved: ${train.emaDecay === null ? 'no EMA' : train.emaDecay})`);
  if (o.noEma && train.emaDecay !== null) conflicts.push(`--no-ema (saved: EMA ${train.emaDecay})`);
  if (o.gan && !train.gan) conflicts.push('--gan (saved: no GAN)');
  if (o.noGan && train.gan) conflicts.push('--no-gan (saved: GAN loss on)');
  if (o.discStart !== undefined && o.discStart !== train.gan?.discStart) conflicts.push(`--disc-start ${o.discStart} (saved: ${train.gan ? train.gan.discStart : 'no GAN'})`);
  if (o.data !== undefined && saved.data !== undefined && canonicalSpec(o.data as string) !== saved.data) conflicts.push(`--data ${o.data} (saved: ${saved.data})`);
  check('size', o.size, saved.size);
  check('valCount', o.valCount, saved.valCount);
  const flagLpips = lpipsFromFlags(o);
  if (flagLpips && saved.lpips === null) conflicts.push('--lpips* (saved: no LPIPS)');
  if (conflicts.length) {
    throw new UsageError(`--resume: ${conflicts.join(', ')} contradict${conflicts.length === 1 ? 's' : ''} the saved run in ${out}; drop ${conflicts.length === 1 ? 'it' : 'them'} to continue it, or start a new run with another --out`);
  }

  const data = saved.data ?? (o.data === undefined ? undefined : canonicalSpec(o.data as string));
  const size = saved.size ?? (o.size as number | undefined);
  if (data === undefined || size === undefined) throw new UsageError(`--resume: ${join(out, 'config.json')} is missing; give --data and --size as in the original run`);
  const steps = (o.steps as number | undefined) ?? saved.steps ?? DEFAULTS.steps;
  if (steps < meta.step) throw new UsageError(`--steps ${steps} is below the checkpoint's step ${meta.step}`);
  // Key order as the trainer's own config, so the checkpoint's JSON comparison holds.
  const trainCfg = Object.fromEntries(TRAIN_KEYS.map((k) => [k, train[k]])) as unknown as TokenizerTrainConfig;
  const cfg: RunConfig = {
    ...trainCfg,
    data,
    size,
    valCount: saved.valCount ?? (o.valCount as number | undefined) ?? DEFAULTS.valCount,
    steps,
    lpips: flagLpips ?? saved.lpips ?? null,
  };
  return { cfg, step: meta.step, savedSteps: saved.steps };
}

function describeGan(g: TokenizerTrainConfig['gan']): string {
  return g ? `GAN from step ${g.discStart ?? 0}` : 'no GAN';
}

export const command = defineCommand({
  name: 'train tokenizer',
  summary: 'train an image tokenizer (VQ-VAE, VQGAN, MoVQ) on a dataset',
  description:
    'Trains a tokenizer and writes into --out: model.safetensors (the usable model, EMA weights), ' +
    'checkpoint.safetensors (everything needed to resume exactly), config.json (the resolved configuration), ' +
    'log.jsonl (one record per step), loss.svg and recon-latest.png (validation images over their reconstructions). ' +
    'Ctrl-C saves a checkpoint after the current step and exits with 130; continue with --resume.',
  options,
  examples: [
    'tessera train tokenizer --arch vqvae --data mnist --size 16 --out runs/mnist-vq --steps 2000',
    'tessera train tokenizer --arch vqgan --data emoji:google --size 32 --codebook-size 512 --out runs/emoji',
    'tessera train tokenizer --out runs/emoji --resume',
  ],
  async run(opts, _pos, ctx) {
    const o = opts as Opts;
    const out = opts.out;
    const { loadDataset } = await import('../../data/index.js');
    const common = await import('../tokenizer-common.js');
    const { checkpointFor, readCheckpointMeta, readRunConfig } = await import('../train-common.js');
    const canonicalSpec = common.canonicalDataSpec;
    const { TokenizerTrainer, defaultTokenizerConfig } = await import('../../train/tokenizer.js');
    const ckptPath = checkpointFor(out, !!opts.resume);

    let cfg: RunConfig;
    let startStep = 0;
    if (opts.resume) {
      if (o.config !== undefined) throw new UsageError("--resume reuses the run's saved configuration; drop --config");
      const meta = readCheckpointMeta<TokenizerTrainConfig>(ckptPath, 'tokenizer');
      const r = resolveResume(o, out, canonicalSpec, meta, readRunConfig(out) ?? {});
      cfg = r.cfg;
      startStep = r.step;
    } else {
      cfg = resolveNew(o, canonicalSpec, (arch, d) => defaultTokenizerConfig(arch, d as never));
    }
    for (const [k, p] of Object.entries(cfg.lpips ?? {})) common.requireFile(p as string, `LPIPS weights (${k})`);

    const ds = await loadDataset(cfg.data, { size: cfg.size, resize: cfg.size, onWarning: (l) => ctx.err(`warning: ${l}`) });
    const { train, val } = common.splitOrExplain(ds, cfg.valCount);
    const trainCfg = Object.fromEntries(TRAIN_KEYS.map((k) => [k, cfg[k]])) as unknown as TokenizerTrainConfig;
    let trainer: InstanceType<typeof TokenizerTrainer>;
    try {
      trainer = new TokenizerTrainer({ config: trainCfg, train, val, lpips: cfg.lpips ?? undefined });
    } catch (e) {
      throw common.withMessage(e, `cannot build the ${cfg.arch} model: ${common.describeError(e)}`);
    }
    if (cfg.size % trainer.model.downsample !== 0) {
      throw new Error(`--size ${cfg.size} is not a multiple of the model's downsampling factor ${trainer.model.downsample}`);
    }
    if (train.size < cfg.batchSize) throw new Error(`${cfg.data}: ${train.size} training images are fewer than one batch (--batch-size ${cfg.batchSize})`);

    common.writeTextFile(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    const m = trainer.model;
    const grid = cfg.size / m.downsample;
    ctx.out(
      `${opts.resume ? `resuming at step ${startStep}: ` : ''}${cfg.arch} (${common.formatCount(m.numParameters())} parameters, ${m.codebookSize} codes, ` +
        `${grid}×${grid}${m.tokensPerPosition > 1 ? `×${m.tokensPerPosition}` : ''} tokens per image, ${describeGan(cfg.gan)}) on ${cfg.data}: ` +
        `${common.formatCount(train.size)} train / ${common.formatCount(val.size)} validation images at ${cfg.size}×${cfg.size}; ` +
        `${cfg.steps} steps of ${cfg.batchSize} → ${out}`,
    );

    if (opts.resume && startStep >= cfg.steps) ctx.err(`note: the run is already complete (step ${startStep} of ${cfg.steps}); raise --steps to train further`);

    const { trainFromCommand } = await import('../train-common.js');
    const done = await trainFromCommand(
      trainer,
      {
        outDir: out,
        steps: cfg.steps,
        resume: opts.resume,
        logEvery: (o.logEvery as number | undefined) ?? DEFAULTS.logEvery,
        imageEvery: (o.imageEvery as number | undefined) ?? DEFAULTS.imageEvery,
        checkpointEvery: (o.checkpointEvery as number | undefined) ?? DEFAULTS.checkpointEvery,
        plot: cfg.gan ? ['loss', 'rec', 'q', 'g', 'd'] : ['loss', 'rec', 'q'],
        log: (l) => ctx.err(l),
        stopAfter: o.stopAfter as number | undefined,
      },
      ctx,
      `tessera train tokenizer --out ${out} --resume`,
    );
    if ('exit' in done) return done.exit;
    printSummary(ctx, trainer, cfg, out, common);
    return 0;
  },
});

function printSummary(
  ctx: CommandContext,
  trainer: import('../../train/tokenizer.js').TokenizerTrainer,
  cfg: RunConfig,
  out: string,
  common: typeof import('../tokenizer-common.js'),
): void {
  const n = Math.min(64, trainer.val.size);
  const weights = cfg.emaDecay === null ? 'raw weights' : 'EMA weights';
  if (cfg.size >= 11) {
    const q = trainer.quickEval(n);
    ctx.out(`validation (${n} images, ${weights}): PSNR ${q.psnr.toFixed(2)} dB, SSIM ${q.ssim.toFixed(4)}`);
  } else {
    ctx.out(`validation: skipped (SSIM needs images of at least 11 px); run tessera eval tokenizer for PSNR`);
  }
  const files: [string, string][] = [
    ['model.safetensors', `the tokenizer (${weights}) for encode, decode, reconstruct, eval tokenizer, info`],
    ['recon-latest.png', 'validation images (top row) over their reconstructions (bottom row)'],
    ['loss.svg', 'training curves'],
    ['log.jsonl', 'one JSON record per step'],
    ['checkpoint.safetensors', 'the full training state (--resume)'],
    ['config.json', 'the resolved configuration'],
  ];
  ctx.out(`outputs in ${out}:`);
  const w = Math.max(...files.map(([f]) => f.length));
  for (const [f, what] of files) if (common.fileExists(join(out, f))) ctx.out(`  ${f.padEnd(w)}  ${what}`);
  ctx.out(`next: tessera eval tokenizer --model ${join(out, 'model.safetensors')}`);
}
