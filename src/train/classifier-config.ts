// The run configuration of `tessera train classifier`: its typed config and its schema (flags and
// config.json keys; see config.ts for the one resolver and resume rule). Loads no engine code.
import type { ClassifierConfig } from '../metrics/classifier.js';
import { FlagError, canonicalData, check, trainSchema, MAX_IMAGE_SIDE, stepsField } from './config.js';

/** Everything a classifier run is defined by; saved in the checkpoint. */
export interface ClassifierTrainConfig {
  model: ClassifierConfig;
  batchSize: number;
  /** Peak learning rate (AdamW). */
  lr: number;
  /** Decoupled weight decay on conv/linear weights (not on biases or norms). */
  weightDecay: number;
  /** Linear warmup steps (at most `steps`); then cosine decay to 0 at `steps`. */
  warmup: number;
  /** Length of the LR schedule (--steps may raise it on resume: the cosine stretches). */
  steps: number;
  /** Largest random translation in pixels (replicate-padded); 0 = none. */
  shift: number;
  /** Mirror left–right with probability ½ (not for digits). */
  hflip: boolean;
  seed: number;
}

/** <out>/config.json: the trainer's config, then the run's own settings. */
export interface ClassifierRunConfig extends ClassifierTrainConfig {
  data: string;
  valCount: number;
}

export function classifierTrainConfig(r: ClassifierRunConfig): ClassifierTrainConfig {
  const { data: _d, valCount: _v, ...train } = r;
  return train;
}

/** What the caller provides to a new run: the dataset's class names (the classifier's outputs) and the model defaults. */
export interface ClassifierBuildContext {
  classNames(data: string, size: number, channels: 1 | 3): Promise<readonly string[]>;
  defaultModel(o: {
    dataset: string;
    inChannels: 1 | 3;
    size: number;
    classNames: readonly string[];
    width?: number;
    featureDim: number;
    depth: number;
  }): ClassifierConfig;
}

export const CLASSIFIER_SCHEMA = trainSchema<ClassifierRunConfig, ClassifierBuildContext>()({
  name: 'classifier',
  flags: {
    data: {
      type: 'string',
      normalize: canonicalData,
      resume: 'fixed',
      metavar: 'spec',
      help: "labelled dataset: 'mnist', 'emoji:<vendor>[,…]' (categories) or 'folder:<path>' (class subfolders) (required for a new run)",
    },
    size: {
      type: 'int',
      min: 4,
      max: MAX_IMAGE_SIDE,
      resume: 'fixed',
      saved: (r) => r.model.size,
      help: 'image side in pixels the classifier is trained at (default: 28 for mnist, else required)',
    },
    steps: stepsField(2000),
    batchSize: { type: 'int', min: 1, default: 64, resume: 'fixed', help: 'images per step' },
    lr: { type: 'number', min: 0, default: 2e-3, resume: 'fixed', help: 'peak learning rate, AdamW with warmup then cosine decay' },
    weightDecay: { type: 'number', min: 0, default: 0.05, resume: 'fixed', help: 'AdamW weight decay on conv/linear weights' },
    warmup: { type: 'int', min: 0, default: 100, resume: 'fixed', help: 'linear learning-rate warmup steps' },
    channels: {
      type: 'int',
      min: 1,
      max: 3,
      resume: 'fixed',
      saved: (r) => r.model.inChannels,
      help: 'input channels, 1 (grey) or 3 (RGB) (default: 1 for mnist, 3 otherwise)',
    },
    width: {
      type: 'int',
      min: 1,
      resume: 'fixed',
      saved: (r) => r.model.widths[0],
      help: 'base channel width; stages double it up to 4× (default: 16 for grey, 32 for RGB)',
    },
    depth: { type: 'int', min: 0, default: 1, resume: 'fixed', saved: (r) => r.model.depth, help: 'stride-1 convs after each downsampling conv' },
    featureDim: { type: 'int', min: 1, default: 128, resume: 'fixed', saved: (r) => r.model.featureDim, help: 'dimension of the penultimate feature layer' },
    shift: { type: 'int', min: 0, default: 2, resume: 'fixed', help: 'augmentation: random translation by up to N pixels' },
    hflip: {
      type: 'boolean',
      negatable: true,
      resume: 'fixed',
      help: 'augmentation: random left–right flips (default: on except for mnist; --no-hflip: none)',
    },
    seed: { type: 'int', min: 0, default: 0, resume: 'fixed', help: 'random seed: weights, data order, augmentation' },
    valCount: { type: 'int', min: 1, default: 500, resume: 'fixed', help: 'held-out validation images (deterministic split, as in train tokenizer)' },
    logEvery: { type: 'int', min: 1, default: 100, resume: 'free', help: 'progress line every N steps when stderr is not a terminal' },
    evalEvery: { type: 'int', min: 1, default: 500, resume: 'free', help: 'held-out accuracy into metrics.json every N steps' },
    checkpointEvery: { type: 'int', min: 1, default: 500, resume: 'free', help: 'save the checkpoint and model.safetensors every N steps' },
  },
  keys: {
    // Checked in depth by the classifier's constructor.
    model: check.object<ClassifierConfig>('the classifier config'),
    batchSize: check.int(1),
    lr: check.number({ min: 0 }),
    weightDecay: check.number({ min: 0 }),
    warmup: check.int(0),
    steps: check.int(1),
    shift: check.int(0),
    hflip: check.boolean(),
    seed: check.int(0),
    data: check.dataSpec(),
    valCount: check.int(1),
  },
  async build(s, x) {
    const { flags: o, file } = s;
    const data = s.maybe('data');
    if (data === undefined) throw new FlagError('a new run needs --data (or --resume to continue the run in --out)');
    if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) throw new FlagError(`--channels must be 1 or 3, got ${o.channels}`);
    let model = file.model;
    if (model === undefined) {
      const size = o.size ?? (data === 'mnist' ? 28 : undefined);
      if (size === undefined) throw new FlagError('a new run needs --size (the image side the classifier is trained at)');
      const channels: 1 | 3 = o.channels === 1 || o.channels === 3 ? o.channels : data === 'mnist' ? 1 : 3;
      const classNames = await x.classNames(data, size, channels);
      model = x.defaultModel({
        dataset: data,
        inChannels: channels,
        size,
        classNames,
        width: o.width,
        featureDim: s.flag('featureDim')!,
        depth: s.flag('depth')!,
      });
    }
    const shift = s.get('shift');
    if (shift * 2 >= model.size) throw new FlagError(`--shift ${shift} is too large for ${model.size} px images`);
    return {
      model,
      batchSize: s.get('batchSize'),
      lr: s.get('lr'),
      weightDecay: s.get('weightDecay'),
      warmup: s.get('warmup'),
      steps: s.get('steps'),
      shift,
      hflip: o.hflip ?? file.hflip ?? data !== 'mnist',
      seed: s.get('seed'),
      data,
      valCount: s.get('valCount'),
    };
  },
});
