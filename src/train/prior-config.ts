// The run configuration of `tessera train prior`: its typed config and its schema (flags and
// config.json keys; see config.ts for the one resolver and resume rule). Loads no engine code.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PriorArch } from '../priors/pipeline.js';
import type { PriorLevel } from '../priors/hierarchical.js';
import type { TransformerConfig } from '../priors/transformer.js';
import { isObject } from '../io/validate.js';
import { FlagError, absolutePath, canonicalData, check, trainSchema, MAX_IMAGE_SIDE, stepsField, emaField } from './config.js';

/** Everything a prior run is defined by; saved in the checkpoint. */
export interface PriorTrainConfig {
  /** Prior architecture; with a multi-level tokenizer (VQ-VAE-2) it is that of every level of a hierarchical prior. */
  arch: Exclude<PriorArch, 'hierarchical'>;
  /** Transformer size and prior options (classDropout, positions, labelSmoothing, trainSchedule). */
  model: TransformerConfig & { classDropout?: number; positions?: 'learned' | 'sincos2d'; labelSmoothing?: number };
  /** Condition on the dataset's labels (false: unconditional). */
  conditional: boolean;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  /** Cosine decay to 10% over this many steps (the schedule's length: --steps may raise it on resume). */
  steps: number;
  emaDecay: number | null;
  /** Also train on horizontally mirrored images (tokens of the flipped image). */
  flip: boolean;
  /** Class-balanced epochs (conditional priors): each class's share ∝ count^(1−classBalance); absent = the data's frequencies. */
  classBalance?: number;
  seed: number;
  /** Hierarchical priors (a multi-level tokenizer): train only this level; null = every level. */
  level: PriorLevel | null;
  /** A prior model file whose weights this run starts from (a prior to fine-tune on other data, or the top level trained before --level bottom); null = none. */
  from: string | null;
}

/** <out>/config.json: the trainer's config plus where its tokens come from. */
export interface PriorRunConfig extends Omit<PriorTrainConfig, 'classBalance'> {
  /** null: the data's frequencies (runs saved before --class-balance have no key). */
  classBalance: number | null;
  tokenizer: string;
  data: string;
  size: number;
  valCount: number;
}

export function priorTrainConfig(r: PriorRunConfig): PriorTrainConfig {
  const { tokenizer: _t, data: _d, size: _s, valCount: _v, classBalance, ...train } = r;
  // Without balancing the key stays absent, so checkpoints saved before it existed still resume.
  return classBalance === null ? train : { ...train, classBalance };
}

/** What the caller provides to a new run: the kind of a model file (from its metadata), to check --tokenizer. */
export interface PriorBuildContext {
  modelKind(path: string): string | undefined;
}

const TOKENIZER_KINDS = ['vqvae', 'vqgan', 'movq', 'vqvae2', 'vitvqgan'];

/** data/size/valCount of the tokenizer's own run, when its model file sits in a run directory. */
function tokenizerRun(tokenizer: string): { data?: unknown; size?: unknown; valCount?: unknown } {
  const path = join(dirname(tokenizer), 'config.json');
  if (!existsSync(path)) return {};
  try {
    const doc: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isObject(doc) ? doc : {};
  } catch {
    return {};
  }
}

export const PRIOR_SCHEMA = trainSchema<PriorRunConfig, PriorBuildContext>()({
  name: 'prior',
  flags: {
    arch: { type: 'enum', values: ['ar', 'maskgit', 'diffusion'], resume: 'fixed', help: 'prior architecture (required for a new run)' },
    tokenizer: { type: 'string', normalize: absolutePath, resume: 'fixed', metavar: 'file', help: 'trained tokenizer model file (required for a new run)' },
    data: {
      type: 'string',
      normalize: canonicalData,
      resume: 'fixed',
      metavar: 'spec',
      help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (default: the tokenizer run's)",
    },
    size: { type: 'int', min: 1, max: MAX_IMAGE_SIDE, resume: 'fixed', help: "image side in pixels (default: the tokenizer run's)" },
    steps: stepsField(3000),
    batchSize: { type: 'int', min: 1, default: 64, resume: 'fixed', help: 'token sequences per step' },
    lr: { type: 'number', min: 0, default: 5e-4, resume: 'fixed', help: 'peak learning rate, AdamW, warmup then cosine to 10%' },
    warmup: { type: 'int', min: 0, default: 200, resume: 'fixed', help: 'warmup steps' },
    weightDecay: { type: 'number', min: 0, default: 0.01, resume: 'fixed', help: 'AdamW weight decay on matrices' },
    dim: { type: 'int', min: 8, default: 256, resume: 'fixed', saved: (r) => r.model.dim, help: 'transformer width' },
    depth: { type: 'int', min: 1, default: 6, resume: 'fixed', saved: (r) => r.model.depth, help: 'transformer blocks' },
    heads: { type: 'int', min: 1, default: 8, resume: 'fixed', saved: (r) => r.model.heads, help: 'attention heads' },
    dropout: {
      type: 'number',
      min: 0,
      max: 1,
      exclusiveMax: true,
      default: 0.1,
      resume: 'fixed',
      saved: (r) => r.model.dropout ?? 0,
      help: 'dropout in the blocks',
    },
    classDropout: {
      type: 'number',
      min: 0,
      max: 1,
      default: 0.1,
      resume: 'fixed',
      saved: (r) => r.model.classDropout ?? 0,
      help: 'share of labels dropped to the null class, enabling --cfg when sampling',
    },
    positions: {
      type: 'enum',
      values: ['learned', 'sincos2d'],
      resume: 'fixed',
      saved: (r) => r.model.positions ?? 'learned',
      help: 'position embeddings (default: learned)',
    },
    unconditional: { type: 'boolean', resume: 'fixed', saved: (r) => !r.conditional, help: 'ignore the labels: an unconditional prior' },
    flip: { type: 'boolean', resume: 'fixed', help: 'also train on mirrored images (not for digits or text)' },
    classBalance: {
      type: 'number',
      min: 0,
      max: 1,
      resume: 'fixed',
      metavar: 'power',
      saved: (r) => r.classBalance ?? 0,
      help: "class-balanced epochs: each class's share ∝ count^(1−power); 0 = the data's frequencies (default), 0.5 = square-root sampling, 1 = equal shares",
    },
    ema: emaField('EMA decay of the saved weights'),
    noEma: { type: 'boolean', resume: 'fixed', saved: (r) => r.emaDecay === null, describeSaved: (r) => `EMA ${r.emaDecay}`, help: 'save the raw weights' },
    seed: { type: 'int', min: 0, default: 0, resume: 'fixed', help: 'random seed' },
    level: {
      type: 'enum',
      values: ['top', 'bottom'],
      resume: 'fixed',
      help: 'hierarchical prior (multi-level tokenizer such as vqvae2): train only this level (default: every level in one run)',
    },
    from: {
      type: 'string',
      normalize: absolutePath,
      resume: 'fixed',
      metavar: 'file',
      help: 'start from the weights of this prior model file (same tokenizer, sizes and classes): fine-tune it on other --data, or train a hierarchical level after the other, e.g. --level bottom --from <top run>/model.safetensors',
    },
    valCount: { type: 'int', min: 1, resume: 'fixed', help: "validation images held out, as in train tokenizer (default: the tokenizer run's, else 500)" },
    logEvery: { type: 'int', min: 1, default: 50, resume: 'free', help: 'progress line every N steps when stderr is not a terminal' },
    imageEvery: { type: 'int', min: 1, default: 500, resume: 'free', help: 'write samples-latest.png every N steps' },
    checkpointEvery: { type: 'int', min: 1, default: 500, resume: 'free', help: 'save the checkpoint and model every N steps' },
  },
  keys: {
    arch: check.oneOf(['ar', 'maskgit', 'diffusion'] as const),
    // Checked in depth by the prior's constructor.
    model: check.object<PriorTrainConfig['model']>('the transformer config'),
    conditional: check.boolean(),
    batchSize: check.int(1),
    lr: check.number({ min: 0 }),
    weightDecay: check.number({ min: 0 }),
    warmup: check.int(0),
    steps: check.int(1),
    emaDecay: check.nullable(check.number({ min: 0, max: 1 })),
    flip: check.boolean(),
    classBalance: check.optional(check.number({ min: 0, max: 1 })),
    seed: check.int(0),
    level: check.nullable(check.oneOf(['top', 'bottom'] as const)),
    from: check.nullable((v, w) => absolutePath(check.string()(v, w))),
    tokenizer: (v, w) => absolutePath(check.string()(v, w)),
    data: check.dataSpec(),
    size: check.int(1),
    valCount: check.int(1),
  },
  build(s, x) {
    const { flags: o, file } = s;
    const arch = s.maybe('arch');
    const tokenizer = s.maybe('tokenizer');
    if (arch === undefined || tokenizer === undefined) throw new FlagError('a new run needs --arch and --tokenizer (or --resume to continue the run in --out)');
    if (!existsSync(tokenizer)) throw new FlagError(`--tokenizer: file not found: ${tokenizer}`);
    // Say what is wrong in the user's terms before anything else (a prior's model file sits in a
    // run directory whose config.json has no tokenizer settings to offer).
    const kind = x.modelKind(tokenizer);
    if (kind === undefined)
      throw new FlagError(
        `--tokenizer ${tokenizer} is not a Tessera model file; give the model.safetensors of a 'tessera train tokenizer' run or an imported tokenizer`,
      );
    if (!TOKENIZER_KINDS.includes(kind)) {
      const what = kind === 'prior' ? 'a prior' : kind === 'classifier' ? 'a classifier' : `a '${kind}' model`;
      throw new FlagError(
        `--tokenizer ${tokenizer} is ${what}, not a tokenizer; give the model.safetensors of a 'tessera train tokenizer' run or an imported tokenizer`,
      );
    }
    const from = s.maybe('from');
    if (from !== undefined && from !== null && !existsSync(from)) throw new FlagError(`--from: file not found: ${from}`);
    if (o.ema !== undefined && o.noEma) throw new FlagError('--ema and --no-ema contradict each other');
    const run = tokenizerRun(tokenizer);
    const fromRun = <T>(k: 'data' | 'size' | 'valCount', c: (v: unknown, w: string) => T): T | undefined =>
      run[k] === undefined ? undefined : c(run[k], `${join(dirname(tokenizer), 'config.json')}: ${k}`);
    const data = s.maybe('data') ?? fromRun('data', check.dataSpec());
    const size = s.maybe('size') ?? fromRun('size', check.int(1));
    if (data === undefined || size === undefined) {
      throw new FlagError(
        `missing ${data === undefined ? '--data' : ''}${data === undefined && size === undefined ? ' and ' : ''}${size === undefined ? '--size' : ''}: the tokenizer has no run config.json next to it to take them from`,
      );
    }
    const conditional = o.unconditional ? false : (file.conditional ?? true);
    const classBalance = s.maybe('classBalance') ?? null;
    if (classBalance !== null && classBalance > 0 && !conditional) throw new FlagError('--class-balance needs class labels; an --unconditional prior has none');
    const model = file.model ?? {
      dim: s.flag('dim')!,
      depth: s.flag('depth')!,
      heads: s.flag('heads')!,
      dropout: s.flag('dropout')!,
      classDropout: conditional ? s.flag('classDropout')! : 0,
      positions: s.flag('positions') ?? 'learned',
    };
    return {
      arch,
      model,
      conditional,
      batchSize: s.get('batchSize'),
      lr: s.get('lr'),
      weightDecay: s.get('weightDecay'),
      warmup: s.get('warmup'),
      steps: s.get('steps'),
      emaDecay: o.noEma ? null : o.ema !== undefined ? o.ema : file.emaDecay !== undefined ? file.emaDecay : s.flag('ema')!,
      flip: o.flip ?? file.flip ?? false,
      classBalance: classBalance === 0 ? null : classBalance,
      seed: s.get('seed'),
      level: s.maybe('level') ?? null,
      from: s.maybe('from') ?? null,
      tokenizer,
      data,
      size,
      valCount: s.maybe('valCount') ?? fromRun('valCount', check.int(1)) ?? 500,
    };
  },
});
