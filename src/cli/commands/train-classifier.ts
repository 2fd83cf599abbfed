// `tessera train classifier`: trains the small CNN that serves as the feature network of the
// tessera-<dataset> metrics (FID-tessera-mnist, …) when the standard Inception weights are absent.
// Same run directory conventions as `train tokenizer`: config.json before the first step, exact
// --resume from checkpoint.safetensors, Ctrl-C saves. At the end it measures accuracy on the held-out
// split and writes it into <out>/metrics.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, flagName } from '../args.js';
import { defineCommand } from '../command.js';
import type { ClassifierTrainConfig } from '../../train/classifier.js';

const DEFAULTS = {
  steps: 2000,
  batchSize: 64,
  lr: 2e-3,
  weightDecay: 0.05,
  warmup: 100,
  featureDim: 128,
  depth: 1,
  shift: 2,
  seed: 0,
  valCount: 500,
  logEvery: 100,
  evalEvery: 500,
  checkpointEvery: 500,
};

/** What <out>/config.json holds: the trainer's config, then the run's own settings. */
interface RunConfig extends ClassifierTrainConfig {
  data: string;
  valCount: number;
}

const TRAIN_KEYS = ['model', 'batchSize', 'lr', 'weightDecay', 'warmup', 'steps', 'shift', 'hflip', 'seed'] as const;

const options = {
  data: { type: 'string', metavar: 'spec', help: "labelled dataset: 'mnist', 'emoji:<vendor>[,…]' (categories) or 'folder:<path>' (class subfolders) (required for a new run)" },
  size: { type: 'number', integer: true, min: 4, help: 'image side in pixels the classifier is trained at (default: 28 for mnist, else required)' },
  out: { type: 'string', required: true, metavar: 'dir', help: 'run directory, e.g. runs/NAME' },
  steps: { type: 'number', integer: true, min: 1, help: `training steps; the cosine LR schedule ends there (default: ${DEFAULTS.steps})` },
  batchSize: { type: 'number', integer: true, min: 1, help: `images per step (default: ${DEFAULTS.batchSize})` },
  lr: { type: 'number', min: 0, help: `peak learning rate, AdamW with warmup then cosine decay (default: ${DEFAULTS.lr})` },
  weightDecay: { type: 'number', min: 0, help: `AdamW weight decay on conv/linear weights (default: ${DEFAULTS.weightDecay})` },
  warmup: { type: 'number', integer: true, min: 0, help: `linear learning-rate warmup steps (default: ${DEFAULTS.warmup})` },
  channels: { type: 'number', integer: true, min: 1, max: 3, help: 'input channels, 1 (grey) or 3 (RGB) (default: 1 for mnist, 3 otherwise)' },
  width: { type: 'number', integer: true, min: 1, help: 'base channel width; stages double it up to 4× (default: 16 for grey, 32 for RGB)' },
  depth: { type: 'number', integer: true, min: 0, help: `stride-1 convs after each downsampling conv (default: ${DEFAULTS.depth})` },
  featureDim: { type: 'number', integer: true, min: 1, help: `dimension of the penultimate feature layer (default: ${DEFAULTS.featureDim})` },
  shift: { type: 'number', integer: true, min: 0, help: `augmentation: random translation by up to N pixels (default: ${DEFAULTS.shift})` },
  hflip: { type: 'boolean', help: 'augmentation: random left–right flips (default: on except for mnist)' },
  noHflip: { type: 'boolean', help: 'no random flips' },
  seed: { type: 'number', integer: true, min: 0, help: `random seed: weights, data order, augmentation (default: ${DEFAULTS.seed})` },
  valCount: { type: 'number', integer: true, min: 1, help: `held-out validation images (deterministic split, as in train tokenizer) (default: ${DEFAULTS.valCount})` },
  logEvery: { type: 'number', integer: true, min: 1, help: `progress line every N steps when stderr is not a terminal (default: ${DEFAULTS.logEvery})` },
  evalEvery: { type: 'number', integer: true, min: 1, help: `held-out accuracy into metrics.json every N steps (default: ${DEFAULTS.evalEvery})` },
  checkpointEvery: { type: 'number', integer: true, min: 1, help: `save the checkpoint and model.safetensors every N steps (default: ${DEFAULTS.checkpointEvery})` },
  resume: { type: 'boolean', help: 'continue the run in --out from its checkpoint, with its saved configuration' },
  stopAfter: { type: 'number', integer: true, min: 1, metavar: 'n', help: 'stop after N steps in this process, saving a checkpoint (train in chunks with --resume)' },
} as const;

type Opts = { -readonly [K in keyof typeof options]?: unknown } & Record<string, unknown>;

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export const command = defineCommand({
  name: 'train classifier',
  summary: 'train the classifier behind the tessera-<dataset> metrics (FID-tessera-mnist, …)',
  description:
    'Trains a small CNN to classify a labelled dataset (MNIST digits, emoji categories, class subfolders). ' +
    'Without the standard Inception weights, Tessera computes FID/IS/precision/recall on its penultimate features; ' +
    'those metrics are named after it (e.g. FID-tessera-mnist). Writes into --out: model.safetensors (the classifier), ' +
    'checkpoint.safetensors (everything needed to resume exactly), config.json, log.jsonl, loss.svg and ' +
    'metrics.json (accuracy on the held-out split). Ctrl-C saves a checkpoint after the current step and exits with 130; continue with --resume.',
  options,
  examples: [
    'tessera train classifier --data mnist --size 28 --out runs/mnist-classifier --steps 2000',
    'tessera train classifier --data emoji:google --size 32 --out runs/emoji-classifier',
    'tessera train classifier --out runs/emoji-classifier --resume',
  ],
  async run(opts, _pos, ctx) {
    const o = opts as Opts;
    const out = opts.out;
    const { DatasetError, loadDataset } = await import('../../data/index.js');
    const common = await import('../tokenizer-common.js');
    const { checkpointFor, readCheckpointMeta, readRunConfig } = await import('../train-common.js');
    const canonicalSpec = common.canonicalDataSpec;
    const { ClassifierTrainer } = await import('../../train/classifier.js');
    const { defaultClassifierConfig } = await import('../../metrics/classifier.js');
    const ckptPath = checkpointFor(out, !!opts.resume);
    if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) throw new UsageError(`--channels must be 1 or 3, got ${String(o.channels)}`);
    if (o.hflip && o.noHflip) throw new UsageError('--hflip and --no-hflip contradict each other');

    let cfg: RunConfig;
    let startStep = 0;
    let ds: import('../../data/index.js').Dataset;
    const load = async (data: string, size: number, channels: 1 | 3) => {
      try {
        return await loadDataset(data, { size, resize: size, channels, onWarning: (l) => ctx.err(`warning: ${l}`) });
      } catch (e) {
        if (e instanceof DatasetError) throw new Error(e.message);
        throw e;
      }
    };

    if (opts.resume) {
      const meta = readCheckpointMeta<ClassifierTrainConfig>(ckptPath, 'classifier');
      const train = meta.config;
      if (!isObj(train.model)) throw new Error(`--resume: ${ckptPath} holds no classifier training state (was it written by another trainer?)`);
      const saved = readRunConfig<Partial<RunConfig>>(out) ?? {};
      const m = train.model;
      const conflicts: string[] = [];
      const check = (key: string, given: unknown, savedValue: unknown) => {
        if (given !== undefined && given !== savedValue) conflicts.push(`--${flagName(key)} ${String(given)} (saved: ${String(savedValue)})`);
      };
      check('steps', o.steps, train.steps);
      check('batchSize', o.batchSize, train.batchSize);
      check('lr', o.lr, train.lr);
      check('weightDecay', o.weightDecay, train.weightDecay);
      check('warmup', o.warmup, train.warmup);
      check('shift', o.shift, train.shift);
      check('seed', o.seed, train.seed);
      check('size', o.size, m.size);
      check('channels', o.channels, m.inChannels);
      check('width', o.width, m.widths[0]);
      check('depth', o.depth, m.depth);
      check('featureDim', o.featureDim, m.featureDim);
      check('valCount', o.valCount, saved.valCount);
      if (o.hflip && !train.hflip) conflicts.push('--hflip (saved: no flips)');
      if (o.noHflip && train.hflip) conflicts.push('--no-hflip (saved: flips on)');
      if (o.data !== undefined && canonicalSpec(o.data as string) !== m.dataset) conflicts.push(`--data ${String(o.data)} (saved: ${m.dataset})`);
      if (conflicts.length) {
        const hint = o.steps !== undefined && o.steps !== train.steps ? ' (the cosine schedule is fixed by --steps)' : '';
        throw new UsageError(
          `--resume: ${conflicts.join(', ')} contradict${conflicts.length === 1 ? 's' : ''} the saved run in ${out}${hint}; drop ${conflicts.length === 1 ? 'it' : 'them'} to continue it, or start a new run with another --out`,
        );
      }
      const trainCfg = Object.fromEntries(TRAIN_KEYS.map((k) => [k, train[k]])) as unknown as ClassifierTrainConfig;
      cfg = { ...trainCfg, data: m.dataset, valCount: saved.valCount ?? DEFAULTS.valCount };
      startStep = meta.step;
      ds = await load(cfg.data, m.size, m.inChannels);
    } else {
      if (o.data === undefined) throw new UsageError('a new run needs --data (or --resume to continue the run in --out)');
      const data = canonicalSpec(o.data as string);
      const size = (o.size as number | undefined) ?? (data === 'mnist' ? 28 : undefined);
      if (size === undefined) throw new UsageError('a new run needs --size (the image side the classifier is trained at)');
      const channels = ((o.channels as number | undefined) ?? (data === 'mnist' ? 1 : 3)) as 1 | 3;
      ds = await load(data, size, channels);
      if (!ds.labelled) throw new Error(`${data}: the images have no labels (a folder needs one subfolder per class) — a classifier needs classes`);
      if (ds.numClasses < 2) throw new Error(`${data}: only one class (${ds.classNames[0]}); a classifier needs at least two`);
      const steps = (o.steps as number | undefined) ?? DEFAULTS.steps;
      let model;
      try {
        model = defaultClassifierConfig({
          dataset: data,
          inChannels: channels,
          size,
          classNames: ds.classNames,
          width: o.width as number | undefined,
          featureDim: (o.featureDim as number | undefined) ?? DEFAULTS.featureDim,
          depth: (o.depth as number | undefined) ?? DEFAULTS.depth,
        });
      } catch (e) {
        throw new UsageError(common.describeError(e));
      }
      // Key order matters: the checkpoint compares configs as JSON text.
      cfg = {
        model,
        batchSize: (o.batchSize as number | undefined) ?? DEFAULTS.batchSize,
        lr: (o.lr as number | undefined) ?? DEFAULTS.lr,
        weightDecay: (o.weightDecay as number | undefined) ?? DEFAULTS.weightDecay,
        warmup: Math.min((o.warmup as number | undefined) ?? DEFAULTS.warmup, steps),
        steps,
        shift: (o.shift as number | undefined) ?? DEFAULTS.shift,
        hflip: o.hflip ? true : o.noHflip ? false : data !== 'mnist',
        seed: (o.seed as number | undefined) ?? DEFAULTS.seed,
        data,
        valCount: (o.valCount as number | undefined) ?? DEFAULTS.valCount,
      };
      if (cfg.shift * 2 >= size) throw new UsageError(`--shift ${cfg.shift} is too large for ${size} px images`);
    }

    const { train, val } = common.splitOrExplain(ds, cfg.valCount);
    if (train.size < cfg.batchSize) throw new Error(`${cfg.data}: ${train.size} training images are fewer than one batch (--batch-size ${cfg.batchSize})`);
    const trainCfg = Object.fromEntries(TRAIN_KEYS.map((k) => [k, cfg[k]])) as unknown as ClassifierTrainConfig;
    let trainer: InstanceType<typeof ClassifierTrainer>;
    try {
      trainer = new ClassifierTrainer({ config: trainCfg, train, val });
    } catch (e) {
      throw common.withMessage(e, `cannot build the classifier: ${common.describeError(e)}`);
    }

    common.writeTextFile(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    const m = trainer.model;
    const mc = cfg.model;
    ctx.out(
      `${opts.resume ? `resuming at step ${startStep}: ` : ''}classifier ${m.name} (${common.formatCount(m.numParameters())} parameters, widths ${mc.widths.join('/')}, ` +
        `${mc.featureDim}-d features, ${m.numClasses} classes) on ${cfg.data}: ${common.formatCount(train.size)} train / ${common.formatCount(val.size)} validation images ` +
        `at ${mc.inChannels}×${mc.size}×${mc.size}; ${cfg.steps} steps of ${cfg.batchSize} → ${out}`,
    );
    if (opts.resume && startStep >= cfg.steps) ctx.err(`note: the run is already complete (step ${startStep} of ${cfg.steps})`);

    const { trainFromCommand } = await import('../train-common.js');
    const done = await trainFromCommand(
      trainer,
      {
        outDir: out,
        steps: cfg.steps,
        resume: opts.resume,
        logEvery: (o.logEvery as number | undefined) ?? DEFAULTS.logEvery,
        imageEvery: (o.evalEvery as number | undefined) ?? DEFAULTS.evalEvery,
        checkpointEvery: (o.checkpointEvery as number | undefined) ?? DEFAULTS.checkpointEvery,
        plot: ['loss', 'acc'],
        log: (l) => ctx.err(l),
        stopAfter: o.stopAfter as number | undefined,
      },
      ctx,
      `tessera train classifier --out ${out} --resume`,
    );
    if ('exit' in done) return done.exit;
    const last = done.last;
    // runTraining evaluated at the last step; a resume of a finished run did not, so evaluate here.
    const metricsPath = join(out, 'metrics.json');
    let metrics: { step?: number; valAccuracy?: number; valLoss?: number; valCount?: number } = {};
    try {
      metrics = JSON.parse(readFileSync(metricsPath, 'utf8')) as typeof metrics;
    } catch {
      metrics = {};
    }
    if (metrics.step !== last || typeof metrics.valAccuracy !== 'number') {
      trainer.writeArtifacts(out, last);
      metrics = JSON.parse(readFileSync(metricsPath, 'utf8')) as typeof metrics;
    }
    ctx.out(
      `held-out accuracy: ${(100 * metrics.valAccuracy!).toFixed(2)}% (${metrics.valCount} validation images of ${cfg.data}, loss ${metrics.valLoss!.toFixed(4)}) → ${metricsPath}`,
    );
    ctx.out(`model: ${join(out, 'model.safetensors')} (${m.name}: metrics computed with it are named e.g. FID-${m.name})`);
    return 0;
  },
});
