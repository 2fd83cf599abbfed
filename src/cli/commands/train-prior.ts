// `tessera train prior`: trains an autoregressive or MaskGIT prior over a trained tokenizer's tokens
// with the shared training loop (progress, JSONL log, sample grids, checkpoints, exact resume,
// Ctrl-C saves). The resolved configuration goes to <out>/config.json; --resume reads it back.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import type { PriorTrainConfig } from '../../train/prior.js';

const DEFAULTS = {
  steps: 3000,
  batchSize: 64,
  lr: 5e-4,
  warmup: 200,
  weightDecay: 0.01,
  dim: 256,
  depth: 6,
  heads: 8,
  dropout: 0.1,
  classDropout: 0.1,
  ema: 0.999,
  seed: 0,
  valCount: 500,
  logEvery: 50,
  imageEvery: 500,
  checkpointEvery: 500,
};

/** <out>/config.json: the trainer's config plus where its tokens come from. */
interface RunConfig extends PriorTrainConfig {
  tokenizer: string;
  data: string;
  size: number;
  valCount: number;
}

const TRAINING_FLAGS = ['arch', 'tokenizer', 'data', 'size', 'batchSize', 'lr', 'warmup', 'weightDecay', 'dim', 'depth', 'heads', 'dropout', 'classDropout', 'unconditional', 'flip', 'ema', 'noEma', 'positions', 'seed', 'valCount'] as const;

export const command = defineCommand({
  name: 'train prior',
  summary: 'train an autoregressive or MaskGIT prior over a tokenizer’s tokens',
  description:
    'Encodes the dataset once with the (frozen) tokenizer, then trains a transformer prior on the tokens: ' +
    '--arch ar predicts them in raster order after a class token; --arch maskgit learns to fill masked tokens ' +
    '(decoded in a few parallel steps). Writes into --out: model.safetensors (prior + tokenizer in one file, ' +
    'EMA weights: use it with tessera sample / inpaint / outpaint), samples-latest.png (one row per class), ' +
    'checkpoint.safetensors, config.json, log.jsonl and loss.svg. Ctrl-C saves a checkpoint and exits with 130; ' +
    'continue with --resume. The validation split (--val-count) is held out as in train tokenizer.',
  options: {
    arch: { type: 'enum', values: ['ar', 'maskgit'], help: 'prior architecture (required for a new run)' },
    tokenizer: { type: 'string', metavar: 'file', help: 'trained tokenizer model file (required for a new run)' },
    data: { type: 'string', metavar: 'spec', help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the tokenizer run's)" },
    size: { type: 'number', integer: true, min: 1, help: "image side in pixels (default: the tokenizer run's)" },
    out: { type: 'string', required: true, metavar: 'dir', help: 'run directory, e.g. runs/NAME' },
    steps: { type: 'number', integer: true, min: 1, help: `training steps; may be changed with --resume to extend a run (default: ${DEFAULTS.steps})` },
    batchSize: { type: 'number', integer: true, min: 1, help: `token sequences per step (default: ${DEFAULTS.batchSize})` },
    lr: { type: 'number', min: 0, help: `peak learning rate, AdamW, warmup then cosine to 10% (default: ${DEFAULTS.lr})` },
    warmup: { type: 'number', integer: true, min: 0, help: `warmup steps (default: ${DEFAULTS.warmup})` },
    weightDecay: { type: 'number', min: 0, help: `AdamW weight decay on matrices (default: ${DEFAULTS.weightDecay})` },
    dim: { type: 'number', integer: true, min: 8, help: `transformer width (default: ${DEFAULTS.dim})` },
    depth: { type: 'number', integer: true, min: 1, help: `transformer blocks (default: ${DEFAULTS.depth})` },
    heads: { type: 'number', integer: true, min: 1, help: `attention heads (default: ${DEFAULTS.heads})` },
    dropout: { type: 'number', min: 0, help: `dropout in the blocks (default: ${DEFAULTS.dropout})` },
    classDropout: { type: 'number', min: 0, help: `share of labels dropped to the null class, enabling --cfg when sampling (default: ${DEFAULTS.classDropout})` },
    positions: { type: 'enum', values: ['learned', 'sincos2d'], help: 'position embeddings (default: learned)' },
    unconditional: { type: 'boolean', help: 'ignore the labels: an unconditional prior' },
    flip: { type: 'boolean', help: 'also train on mirrored images (not for digits or text)' },
    ema: { type: 'number', min: 0, metavar: 'decay', help: `EMA decay of the saved weights (default: ${DEFAULTS.ema})` },
    noEma: { type: 'boolean', help: 'save the raw weights' },
    seed: { type: 'number', integer: true, min: 0, help: `random seed (default: ${DEFAULTS.seed})` },
    valCount: { type: 'number', integer: true, min: 1, help: `validation images held out, as in train tokenizer (default: the tokenizer run's, else ${DEFAULTS.valCount})` },
    logEvery: { type: 'number', integer: true, min: 1, help: `progress line every N steps when stderr is not a terminal (default: ${DEFAULTS.logEvery})` },
    imageEvery: { type: 'number', integer: true, min: 1, help: `write samples-latest.png every N steps (default: ${DEFAULTS.imageEvery})` },
    checkpointEvery: { type: 'number', integer: true, min: 1, help: `save the checkpoint and model every N steps (default: ${DEFAULTS.checkpointEvery})` },
    resume: { type: 'boolean', help: 'continue the run in --out from its checkpoint, with its saved configuration' },
    stopAfter: { type: 'number', integer: true, min: 1, metavar: 'n', help: 'stop after N steps in this process, saving a checkpoint' },
  },
  examples: [
    'tessera train prior --arch maskgit --tokenizer runs/mnist-tok/model.safetensors --out runs/mnist-maskgit',
    'tessera train prior --arch ar --tokenizer runs/mnist-tok/model.safetensors --data mnist --size 28 --steps 4000 --out runs/mnist-ar',
    'tessera train prior --out runs/mnist-ar --resume',
  ],
  async run(o, _pos, ctx) {
    const out = resolve(o.out);
    const common = await import('../tokenizer-common.js');
    const { loadDataset } = await import('../../data/index.js');
    const { checkpointFor, readRunConfig } = await import('../train-common.js');
    const { PriorTrainer } = await import('../../train/prior.js');
    checkpointFor(out, !!o.resume);

    let cfg: RunConfig;
    if (o.resume) {
      // The parser sets absent boolean flags to false (never undefined), so only `true` counts as
      // given for them; otherwise a bare --resume was refused for --unconditional, --flip, --no-ema.
      const given = TRAINING_FLAGS.filter((k) => o[k] !== undefined && o[k] !== false);
      if (given.length) throw new UsageError(`--resume continues the saved run exactly; drop ${given.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')}`);
      const saved = readRunConfig<RunConfig>(out);
      if (!saved) throw new Error(`--resume: ${join(out, 'config.json')} is missing`);
      cfg = saved;
      // --steps may be raised (or lowered) to extend a run, as with train tokenizer; the cosine
      // schedule is then stretched over the new length from the current step on.
      if (o.steps !== undefined) cfg.steps = o.steps;
    } else {
      if (o.arch === undefined || o.tokenizer === undefined) throw new UsageError('a new run needs --arch and --tokenizer (or --resume to continue the run in --out)');
      // Data defaults come from the tokenizer's run directory, when it has one.
      let run: { data?: string; size?: number; valCount?: number } = {};
      const runCfg = join(dirname(o.tokenizer), 'config.json');
      if (existsSync(runCfg)) {
        try {
          run = JSON.parse(readFileSync(runCfg, 'utf8')) as typeof run;
        } catch {
          run = {};
        }
      }
      const data = o.data ?? run.data;
      const size = o.size ?? run.size;
      if (data === undefined || size === undefined) throw new UsageError('missing --data or --size (no tokenizer run config.json to take them from)');
      const spec = common.canonicalDataSpec(data);
      if (o.ema !== undefined && o.noEma) throw new UsageError('--ema and --no-ema contradict each other');
      cfg = {
        arch: o.arch,
        model: {
          dim: o.dim ?? DEFAULTS.dim,
          depth: o.depth ?? DEFAULTS.depth,
          heads: o.heads ?? DEFAULTS.heads,
          dropout: o.dropout ?? DEFAULTS.dropout,
          classDropout: o.unconditional ? 0 : (o.classDropout ?? DEFAULTS.classDropout),
          positions: o.positions ?? 'learned',
        },
        conditional: !o.unconditional,
        batchSize: o.batchSize ?? DEFAULTS.batchSize,
        lr: o.lr ?? DEFAULTS.lr,
        weightDecay: o.weightDecay ?? DEFAULTS.weightDecay,
        warmup: o.warmup ?? DEFAULTS.warmup,
        steps: o.steps ?? DEFAULTS.steps,
        emaDecay: o.noEma ? null : (o.ema ?? DEFAULTS.ema),
        flip: o.flip ?? false,
        seed: o.seed ?? DEFAULTS.seed,
        tokenizer: resolve(o.tokenizer),
        data: spec,
        size,
        valCount: o.valCount ?? run.valCount ?? DEFAULTS.valCount,
      };
    }
    common.requireFile(cfg.tokenizer, 'tokenizer model file');
    const tokenizer = common.loadModel(cfg.tokenizer);
    if (cfg.size % tokenizer.downsample !== 0) throw new UsageError(`--size ${cfg.size} is not a multiple of the tokenizer's downsampling factor ${tokenizer.downsample}`);
    const ds = await loadDataset(cfg.data, { size: cfg.size, resize: cfg.size, onWarning: (l) => ctx.err(`warning: ${l}`) });
    const { train } = common.splitOrExplain(ds, cfg.valCount);
    const { tokenizer: _t, data: _d, size: _s, valCount: _v, ...trainCfg } = cfg;
    let trainer: InstanceType<typeof PriorTrainer>;
    try {
      trainer = new PriorTrainer({ config: trainCfg, tokenizer, train, data: cfg.data, log: (l) => ctx.err(l) });
    } catch (e) {
      throw common.withMessage(e, `cannot build the prior: ${common.describeError(e)}`);
    }
    common.writeTextFile(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    const p = trainer.prior;
    const classes = trainer.classNames.length ? `${trainer.classNames.length} classes` : 'unconditional';
    ctx.out(
      `${cfg.arch === 'ar' ? 'autoregressive' : 'MaskGIT'} prior (${common.formatCount(p.numParameters())} parameters, ${p.seqLen} tokens per image, ${classes}) ` +
        `on ${cfg.data} tokens from ${cfg.tokenizer}: ${common.formatCount(trainer.tokens.size(0))} sequences; ${cfg.steps} steps of ${cfg.batchSize} → ${out}`,
    );
    const { trainFromCommand } = await import('../train-common.js');
    const done = await trainFromCommand(
      trainer,
      {
        outDir: out,
        steps: cfg.steps,
        resume: o.resume,
        logEvery: o.logEvery ?? DEFAULTS.logEvery,
        imageEvery: o.imageEvery ?? DEFAULTS.imageEvery,
        checkpointEvery: o.checkpointEvery ?? DEFAULTS.checkpointEvery,
        plot: ['loss'],
        log: (l) => ctx.err(l),
        stopAfter: o.stopAfter,
      },
      ctx,
      `tessera train prior --out ${out} --resume`,
    );
    if ('exit' in done) return done.exit;
    ctx.out(`outputs in ${out}: model.safetensors (prior + tokenizer), samples-latest.png, loss.svg, log.jsonl, checkpoint.safetensors, config.json`);
    ctx.out(`next: tessera sample --model ${join(out, 'model.safetensors')}${trainer.classNames.length ? ` --class ${JSON.stringify(trainer.classNames[0])}` : ''} --out samples.png`);
    return 0;
  },
});
