// The `tessera train …` commands' one call: resolve the run's configuration (src/train/config.ts),
// lock the run folder, build the trainer, run the shared loop, and say how the run ended and how to
// continue it. What differs per trainer — loading its data and model, its banner and summary — is in
// TRAINERS below. Imported lazily by train-common.ts (it loads the engine).
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';
import * as common from './tokenizer-common.js';
import type { TrainerName } from './train-common.js';
import { ConfigError, isObject } from '../io/validate.js';
import { lockRun } from '../io/run-lock.js';
import { removeStaleTempFiles } from '../io/atomic.js';
import { DatasetError, loadDataset, type Dataset } from '../data/index.js';
import { CONFIG_FILE, FlagError, resolveRun, type Field, type TrainSchema } from '../train/config.js';
import { CHECKPOINT_FILE, SIGNAL_EXIT, runTraining, type StopSignal, type Trainable } from '../train/run.js';
import { TOKENIZER_SCHEMA, tokenizerTrainConfig, type TokenizerRunConfig } from '../train/tokenizer-config.js';
import { PRIOR_SCHEMA, priorTrainConfig, type PriorRunConfig } from '../train/prior-config.js';
import { CLASSIFIER_SCHEMA, classifierTrainConfig, type ClassifierBuildContext, type ClassifierRunConfig } from '../train/classifier-config.js';

/** A trainer built for a resolved configuration. */
interface Prepared {
  trainer: Trainable;
  /** What is trained on what, for the first line. */
  banner: string;
  plot: readonly string[];
  /** Metric grid / evaluation cadence (--image-every or --eval-every). */
  imageEvery: number;
  /** Prints the summary after the last step. */
  finish(last: number): void;
}

/** What every run config holds. */
interface RunBase {
  steps: number;
  batchSize: number;
}

interface TrainerDef<R extends RunBase, X> {
  schema: TrainSchema<R, Readonly<Record<string, Field<R>>>, X>;
  context(ctx: CommandContext): X;
  prepare(cfg: R, opts: Readonly<Record<string, unknown>>, ctx: CommandContext, x: X): Promise<Prepared>;
}

const warn = (ctx: CommandContext) => (l: string) => ctx.err(`warning: ${l}`);
/** A run-control flag (--log-every, …): its value, else the schema's default. */
function setting(schema: { flags: Readonly<Record<string, Field<never>>> }, opts: Readonly<Record<string, unknown>>, key: string): number {
  const v = opts[key] ?? schema.flags[key]?.default;
  if (typeof v !== 'number') throw new Error(`train: no default for --${key}`);
  return v;
}

function buildOrExplain<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw common.withMessage(e, `cannot build the ${what}: ${common.describeError(e)}`);
  }
}

const tokenizer: TrainerDef<TokenizerRunConfig, void> = {
  schema: TOKENIZER_SCHEMA,
  context: () => undefined,
  async prepare(cfg, opts, ctx) {
    // Each trainer's modules load only when it runs (a problem in one never blocks another).
    const { TokenizerTrainer } = await import('../train/tokenizer.js');
    for (const [k, p] of Object.entries(cfg.lpips ?? {})) common.requireFile(p, `LPIPS weights (${k})`);
    const ds = await loadDataset(cfg.data, { size: cfg.size, resize: cfg.size, onWarning: warn(ctx) });
    const { train, val } = common.splitOrExplain(ds, cfg.valCount);
    const trainer = buildOrExplain(
      `${cfg.arch} model`,
      () => new TokenizerTrainer({ config: tokenizerTrainConfig(cfg), train, val, lpips: cfg.lpips ?? undefined }),
    );
    const m = trainer.model;
    if (cfg.size % m.downsample !== 0) throw new Error(`--size ${cfg.size} is not a multiple of the model's downsampling factor ${m.downsample}`);
    if (train.size < cfg.batchSize) throw new Error(`${cfg.data}: ${train.size} training images are fewer than one batch (--batch-size ${cfg.batchSize})`);
    // After the cheap checks: clustering the source model's latents is the slow part of start-up.
    if (opts.resume !== true) {
      const { initRunCodebook } = await import('../train/codebook-init.js');
      const init = initRunCodebook(m, cfg.codebookInitFrom, train, { seed: cfg.seed });
      if (init) ctx.err(`codebook: k-means centres of ${init.rows} latent rows of ${cfg.codebookInitFrom}`);
    }
    const grid = cfg.size / m.downsample;
    const gan = cfg.gan ? `GAN from step ${cfg.gan.discStart ?? 0}` : 'no GAN';
    return {
      trainer,
      banner:
        `${cfg.arch} (${common.formatCount(m.numParameters())} parameters, ${m.codebookSize} codes, ${grid}×${grid}${m.tokensPerPosition > 1 ? `×${m.tokensPerPosition}` : ''} tokens per image, ${gan}) ` +
        `on ${cfg.data}: ${common.formatCount(train.size)} train / ${common.formatCount(val.size)} validation images at ${cfg.size}×${cfg.size}`,
      plot: cfg.gan ? ['loss', 'rec', 'q', 'g', 'd'] : ['loss', 'rec', 'q'],
      imageEvery: setting(TOKENIZER_SCHEMA, opts, 'imageEvery'),
      finish() {
        const n = Math.min(64, trainer.val.size);
        const weights = cfg.emaDecay === null ? 'raw weights' : 'EMA weights';
        if (cfg.size >= 11) {
          const q = trainer.quickEval(n);
          ctx.out(`validation (${n} images, ${weights}): PSNR ${q.psnr.toFixed(2)} dB, SSIM ${q.ssim.toFixed(4)}`);
        } else {
          ctx.out('validation: skipped (SSIM needs images of at least 11 px); run tessera eval tokenizer for PSNR');
        }
        const out = String(opts.out);
        printOutputs(ctx, out, [
          ['model.safetensors', `the tokenizer (${weights}) for encode, decode, reconstruct, eval tokenizer, info`],
          ['recon-latest.png', 'validation images (top row) over their reconstructions (bottom row)'],
          ['loss.svg', 'training curves'],
          ['log.jsonl', 'one JSON record per step'],
          [CHECKPOINT_FILE, 'the full training state (--resume)'],
          [CONFIG_FILE, 'the resolved configuration'],
        ]);
        ctx.out(`next: tessera eval tokenizer --model ${join(out, 'model.safetensors')}`);
      },
    };
  },
};

const prior: TrainerDef<PriorRunConfig, { modelKind(path: string): string | undefined }> = {
  schema: PRIOR_SCHEMA,
  context: () => ({
    modelKind(path) {
      try {
        return common.readSafetensorsMetadata(path)['tessera.kind'];
      } catch {
        return undefined;
      }
    },
  }),
  async prepare(cfg, opts, ctx) {
    const { PriorTrainer } = await import('../train/prior.js');
    common.requireFile(cfg.tokenizer, 'tokenizer model file');
    const tok = common.loadModel(cfg.tokenizer);
    if (cfg.size % tok.downsample !== 0) throw new UsageError(`--size ${cfg.size} is not a multiple of the tokenizer's downsampling factor ${tok.downsample}`);
    const ds = await loadDataset(cfg.data, { size: cfg.size, resize: cfg.size, onWarning: warn(ctx) });
    const { train } = common.splitOrExplain(ds, cfg.valCount);
    const trainer = buildOrExplain(
      'prior',
      () => new PriorTrainer({ config: priorTrainConfig(cfg), tokenizer: tok, train, data: cfg.data, log: (l) => ctx.err(l) }),
    );
    const p = trainer.prior;
    const classes = trainer.classNames.length ? `${trainer.classNames.length} classes` : 'unconditional';
    return {
      trainer,
      banner:
        `${trainer.model.arch === 'hierarchical' ? 'hierarchical ' : ''}${{ ar: 'autoregressive', maskgit: 'MaskGIT', diffusion: 'VQ-Diffusion' }[cfg.arch]} prior${cfg.level ? ` (training the ${cfg.level} level)` : ''} (${common.formatCount(p.numParameters())} parameters, ${p.seqLen} tokens per image, ${classes}) ` +
        `on ${cfg.data} tokens from ${cfg.tokenizer}: ${common.formatCount(trainer.tokens.size(0))} sequences`,
      plot: ['loss'],
      imageEvery: setting(PRIOR_SCHEMA, opts, 'imageEvery'),
      finish() {
        const out = String(opts.out);
        ctx.out(`outputs in ${out}: model.safetensors (prior + tokenizer), samples-latest.png, loss.svg, log.jsonl, ${CHECKPOINT_FILE}, ${CONFIG_FILE}`);
        ctx.out(
          `next: tessera sample --model ${join(out, 'model.safetensors')}${trainer.classNames.length ? ` --class ${JSON.stringify(trainer.classNames[0])}` : ''} --out samples.png`,
        );
      },
    };
  },
};

/** The classifier's dataset is loaded once: to name the classes of a new run, then to train. */
type ClassifierContext = ClassifierBuildContext & { load(data: string, size: number, channels: 1 | 3): Promise<Dataset> };

const classifier: TrainerDef<ClassifierRunConfig, ClassifierContext> = {
  schema: CLASSIFIER_SCHEMA,
  context(ctx) {
    const cache = new Map<string, Promise<Dataset>>();
    let defaultClassifierConfig: typeof import('../metrics/classifier.js').defaultClassifierConfig | undefined;
    const load = (data: string, size: number, channels: 1 | 3): Promise<Dataset> => {
      const key = `${data}|${size}|${channels}`;
      if (!cache.has(key)) cache.set(key, loadDataset(data, { size, resize: size, channels, onWarning: warn(ctx) }));
      return cache.get(key)!;
    };
    return {
      load,
      async classNames(data, size, channels) {
        ({ defaultClassifierConfig } = await import('../metrics/classifier.js'));
        const ds = await load(data, size, channels);
        if (!ds.labelled) throw new Error(`${data}: the images have no labels (a folder needs one subfolder per class) — a classifier needs classes`);
        if (ds.numClasses < 2) throw new Error(`${data}: only one class (${ds.classNames[0]}); a classifier needs at least two`);
        return ds.classNames;
      },
      defaultModel(o) {
        try {
          return defaultClassifierConfig!(o);
        } catch (e) {
          throw new FlagError(common.describeError(e));
        }
      },
    };
  },
  async prepare(cfg, opts, ctx, x) {
    const { ClassifierTrainer, METRICS_FILE } = await import('../train/classifier.js');
    const mc = cfg.model;
    const { train, val } = common.splitOrExplain(await x.load(cfg.data, mc.size, mc.inChannels), cfg.valCount);
    if (train.size < cfg.batchSize) throw new Error(`${cfg.data}: ${train.size} training images are fewer than one batch (--batch-size ${cfg.batchSize})`);
    const trainer = buildOrExplain('classifier', () => new ClassifierTrainer({ config: classifierTrainConfig(cfg), train, val }));
    const m = trainer.model;
    const out = String(opts.out);
    return {
      trainer,
      banner:
        `classifier ${m.name} (${common.formatCount(m.numParameters())} parameters, widths ${mc.widths.join('/')}, ${mc.featureDim}-d features, ${m.numClasses} classes) ` +
        `on ${cfg.data}: ${common.formatCount(train.size)} train / ${common.formatCount(val.size)} validation images at ${mc.inChannels}×${mc.size}×${mc.size}`,
      plot: ['loss', 'acc'],
      imageEvery: setting(CLASSIFIER_SCHEMA, opts, 'evalEvery'),
      finish(last) {
        // runTraining evaluated at the last step; a resume of a finished run did not, so evaluate here.
        const path = join(out, METRICS_FILE);
        const read = () => JSON.parse(readFileSync(path, 'utf8')) as { step?: number; valAccuracy?: number; valLoss?: number; valCount?: number };
        let metrics = existsSync(path) ? read() : {};
        if (metrics.step !== last || typeof metrics.valAccuracy !== 'number') {
          trainer.writeArtifacts(out, last);
          metrics = read();
        }
        ctx.out(
          `held-out accuracy: ${(100 * metrics.valAccuracy!).toFixed(2)}% (${metrics.valCount} validation images of ${cfg.data}, loss ${metrics.valLoss!.toFixed(4)}) → ${path}`,
        );
        ctx.out(`model: ${join(out, 'model.safetensors')} (${m.name}: metrics computed with it are named e.g. FID-${m.name})`);
      },
    };
  },
};

function printOutputs(ctx: CommandContext, out: string, files: readonly [string, string][]): void {
  ctx.out(`outputs in ${out}:`);
  const w = Math.max(...files.map(([f]) => f.length));
  for (const [f, what] of files) if (common.fileExists(join(out, f))) ctx.out(`  ${f.padEnd(w)}  ${what}`);
}

const TRAINERS = { tokenizer, prior, classifier } as const;

/** The step and trainer config in a checkpoint's metadata (no tensors read). */
function checkpointState(path: string, name: TrainerName): { step: number; config: Record<string, unknown> } {
  let meta: { step?: unknown; extra?: { config?: unknown } };
  try {
    meta = JSON.parse(common.readSafetensorsMetadata(path)['tessera.checkpoint'] ?? '') as typeof meta;
  } catch (e) {
    throw new Error(`--resume: ${path} is not a Tessera training checkpoint (${common.firstLine((e as Error).message)})`, { cause: e });
  }
  const config = meta.extra?.config;
  const keys = Object.keys(TRAINERS[name].schema.keys);
  if (!isObject(config) || typeof meta.step !== 'number' || !Object.keys(config).every((k) => keys.includes(k))) {
    throw new Error(`--resume: ${path} holds no ${name} training state (was it written by another trainer?)`);
  }
  return { step: meta.step, config };
}

/** One-line errors: a flag problem is a usage error (exit 2); files, data and training failures exit 1. */
function explain(e: unknown): Error {
  if (e instanceof FlagError) return new UsageError(e.message);
  if (e instanceof ConfigError || e instanceof DatasetError) return new Error(e.message);
  return e instanceof UsageError ? e : common.withMessage(e, common.describeError(e));
}

export async function runTrainer(name: TrainerName, opts: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<number> {
  try {
    return await train(TRAINERS[name] as TrainerDef<RunBase, unknown>, name, opts, ctx);
  } catch (e) {
    throw explain(e);
  }
}

async function train(def: TrainerDef<RunBase, unknown>, name: TrainerName, opts: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<number> {
  const out = String(opts.out);
  const resume = opts.resume === true;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new FlagError(`--out ${out} is a file, not a folder`);
  const ckpt = join(out, CHECKPOINT_FILE);
  const resumeCmd = `tessera train ${name} --out ${out} --resume`;
  const exists = () => existsSync(ckpt);
  if (resume && !exists()) throw new Error(`--resume: no checkpoint in ${out} (${CHECKPOINT_FILE} not found); drop --resume to start a new run`);
  if (!resume && exists()) throw new UsageError(`${out} already holds a run (${CHECKPOINT_FILE}); pass --resume to continue it or choose another --out`);
  const startStep = resume ? checkpointState(ckpt, name).step : 0;
  const x = def.context(ctx);
  const configFile = typeof opts.config === 'string' ? opts.config : undefined;
  const { config, stretchedFrom } = await resolveRun(def.schema, opts, { out, resume, configFile }, x);
  const steps = config.steps;

  const created = !existsSync(out);
  mkdirSync(out, { recursive: true });
  const lock = lockRun(out, `train ${name}`);
  let started = false;
  try {
    // Under the lock: another process may have started a run here since the check above.
    if (!resume && exists()) throw new UsageError(`${out} already holds a run (${CHECKPOINT_FILE}); pass --resume to continue it or choose another --out`);
    // Half-written files of a run that was killed mid-write (SIGKILL, OOM): never read, now removed.
    const stale = [out, join(out, 'samples')].flatMap((d) => removeStaleTempFiles(d));
    if (stale.length) ctx.err(`note: removed ${stale.length} temp file${stale.length === 1 ? '' : 's'} left by a killed run in ${out}`);
    const prepared = await def.prepare(config, opts, ctx, x);
    common.writeTextFile(join(out, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
    started = true;
    ctx.out(`${resume ? `resuming at step ${startStep}: ` : ''}${prepared.banner}; ${steps} steps of ${config.batchSize} → ${out}`);
    if (stretchedFrom !== undefined)
      ctx.err(
        `note: --steps ${steps} extends the run from ${stretchedFrom} steps; the learning-rate schedule is stretched to the new length from step ${startStep} on`,
      );
    if (resume && startStep >= steps) ctx.err(`note: the run is already complete (step ${startStep} of ${steps}); raise --steps to train further`);

    let signal: StopSignal | undefined;
    const last = await runTraining(prepared.trainer, {
      outDir: out,
      steps,
      resume,
      logEvery: setting(def.schema, opts, 'logEvery'),
      imageEvery: prepared.imageEvery,
      checkpointEvery: setting(def.schema, opts, 'checkpointEvery'),
      plot: prepared.plot,
      log: (l) => ctx.err(l),
      stopAfter: typeof opts.stopAfter === 'number' ? opts.stopAfter : undefined,
      onSignal: (s) => (signal = s),
    });
    if (signal) {
      ctx.err(`${signal === 'SIGINT' ? 'interrupted' : 'stopped by SIGTERM'} at step ${last} of ${steps}; checkpoint saved. Resume with: ${resumeCmd}`);
      return SIGNAL_EXIT[signal];
    }
    if (last < steps) {
      ctx.out(`stopped at step ${last} of ${steps} (--stop-after); checkpoint saved. Continue with: ${resumeCmd}`);
      return 0;
    }
    prepared.finish(last);
    return 0;
  } finally {
    lock.release();
    // A new run that failed before its first write leaves no empty folder behind.
    if (created && !started) {
      try {
        rmdirSync(out);
      } catch {
        /* not empty */
      }
    }
  }
}
