// Tessera's own image classifiers: small CNNs trained per dataset (MNIST digits, emoji categories, a
// labelled folder) by `tessera train classifier`. They are the feature networks of the distribution
// metrics when the standard Inception weights are absent; metrics computed with them carry the
// classifier's name (e.g. FID-tessera-mnist) so they are never mistaken for standard FID.
//
// Architecture: a stride-1 stem conv at full resolution, then stages that halve the resolution with a
// stride-2 conv followed by `depth` stride-1 convs (each conv → GroupNorm → SiLU), global average
// pooling, a `featureDim`-d penultimate layer (SiLU; the features) and a linear layer to the classes.
// GroupNorm (not BatchNorm) keeps every image's output independent of its batch and of train/eval mode.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Conv2d, GroupNorm, Linear, Module, Sequential } from '../nn/index.js';
import { buildFromModelFile, saveModelFile } from '../io/index.js';
import { oneLine } from '../io/errors.js';
import { ConfigError, checkInt, checkPositiveInt, isObject, rejectUnknownKeys } from '../io/validate.js';
import type { FeatureExtractor } from './features.js';
import { ClassNameError, resolveClass } from '../data/classes.js';

export const CLASSIFIER_KIND = 'classifier';

export interface ClassifierConfig {
  /** Canonical dataset spec the classifier was trained on ('mnist', 'emoji:google', 'folder:/…'). */
  dataset: string;
  /** Metric-name suffix, 'tessera-<dataset>' (see classifierName). */
  name: string;
  /** Input channels it was trained on: 1 (grey) or 3 (RGB). Other inputs are converted. */
  inChannels: 1 | 3;
  /** Input side it was trained on; other sizes are resized (bilinear). */
  size: number;
  /** Class names in label order. */
  classNames: string[];
  /** Channels per stage: widths[0] is the stem at full resolution, each later stage halves it. */
  widths: number[];
  /** Stride-1 convs after each stride-2 conv. */
  depth: number;
  /** Dimension of the penultimate (feature) layer. */
  featureDim: number;
  /** GroupNorm groups (every width must be divisible by it). */
  groups: number;
}

/** 'mnist' → 'tessera-mnist'; 'emoji:google' → 'tessera-emoji'; 'folder:/data/pets' → 'tessera-pets'. */
export function classifierName(dataset: string): string {
  if (dataset === 'mnist') return 'tessera-mnist';
  if (dataset.startsWith('emoji:')) return 'tessera-emoji';
  const base = dataset.startsWith('folder:') ? dataset.slice('folder:'.length).replace(/\/+$/, '').split('/').pop() || 'folder' : dataset;
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `tessera-${slug || 'folder'}`;
}

/** A small default for a dataset: base width 16 for grey images, 32 for colour; stages until ≤ 8 px. */
export function defaultClassifierConfig(o: {
  dataset: string;
  inChannels: 1 | 3;
  size: number;
  classNames: readonly string[];
  width?: number;
  featureDim?: number;
  depth?: number;
}): ClassifierConfig {
  const w = o.width ?? (o.inChannels === 1 ? 16 : 32);
  const widths = [w];
  let side = o.size;
  while (side > 8 && widths.length < 5) {
    side = Math.ceil(side / 2);
    widths.push(w * Math.min(4, 2 ** widths.length));
  }
  if (widths.length < 2) widths.push(w * 2);
  return {
    dataset: o.dataset,
    name: classifierName(o.dataset),
    inChannels: o.inChannels,
    size: o.size,
    classNames: [...o.classNames],
    widths,
    depth: o.depth ?? 1,
    featureDim: o.featureDim ?? 128,
    groups: Math.min(8, w),
  };
}

const CLASSIFIER_CONFIG_KEYS = [
  'dataset',
  'name',
  'inChannels',
  'size',
  'classNames',
  'widths',
  'depth',
  'featureDim',
  'groups',
] as const satisfies readonly (keyof ClassifierConfig)[];

function validateConfig(c: ClassifierConfig): void {
  const W = 'classifier config';
  const bad = (msg: string): never => {
    throw new ConfigError(`${W}: ${msg}`);
  };
  if (!isObject(c)) bad('expected an object');
  rejectUnknownKeys(c, CLASSIFIER_CONFIG_KEYS, W);
  if (typeof c.dataset !== 'string' || c.dataset === '') bad('dataset must be a non-empty string');
  if (typeof c.name !== 'string' || c.name === '' || c.name === 'inception')
    bad(`name must be a non-empty string other than 'inception', got ${JSON.stringify(c.name)}`);
  if (c.inChannels !== 1 && c.inChannels !== 3) bad(`inChannels must be 1 or 3, got ${JSON.stringify(c.inChannels)}`);
  checkPositiveInt(c.size, `${W}: size`);
  if (!Array.isArray(c.classNames) || c.classNames.length < 2 || !c.classNames.every((n) => typeof n === 'string')) {
    bad('classNames must list at least two class names');
  }
  if (new Set(c.classNames).size !== c.classNames.length) bad('classNames has duplicates');
  if (!Array.isArray(c.widths) || c.widths.length < 1) bad(`widths must be a non-empty list of positive integers, got ${JSON.stringify(c.widths)}`);
  c.widths.forEach((w, i) => checkPositiveInt(w, `${W}: widths[${i}]`));
  checkInt(c.depth, `${W}: depth`, { min: 0 });
  checkPositiveInt(c.featureDim, `${W}: featureDim`);
  checkPositiveInt(c.groups, `${W}: groups`);
  if (!c.widths.every((w) => w % c.groups === 0)) bad(`groups (${JSON.stringify(c.groups)}) must divide every width (${c.widths.join(', ')})`);
}

/** conv 3×3 → GroupNorm → SiLU. */
class ConvBlock extends Module {
  readonly conv: Conv2d;
  readonly norm: GroupNorm;
  constructor(cin: number, cout: number, stride: 1 | 2, groups: number) {
    super();
    this.conv = this.add('conv', new Conv2d(cin, cout, 3, { stride, padding: 1 }));
    this.norm = this.add('norm', new GroupNorm(groups, cout));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x)).silu();
  }
}

/** Images per forward pass inside features()/classify(), to bound memory on large sets. */
const CHUNK = 256;

export class Classifier extends Module implements FeatureExtractor {
  readonly config: ClassifierConfig;
  readonly body: Sequential;
  readonly fc: Linear;
  readonly head: Linear;

  constructor(config: ClassifierConfig) {
    super();
    validateConfig(config);
    this.config = structuredClone(config);
    const { widths, depth, groups } = config;
    const blocks: Module[] = [new ConvBlock(config.inChannels, widths[0]!, 1, groups)];
    for (let i = 1; i < widths.length; i++) {
      blocks.push(new ConvBlock(widths[i - 1]!, widths[i]!, 2, groups));
      for (let d = 0; d < depth; d++) blocks.push(new ConvBlock(widths[i]!, widths[i]!, 1, groups));
    }
    this.body = this.add('body', new Sequential(...(blocks as ConvBlock[])));
    this.fc = this.add('fc', new Linear(widths[widths.length - 1]!, config.featureDim));
    this.head = this.add('head', new Linear(config.featureDim, config.classNames.length));
  }

  get name(): string {
    return this.config.name;
  }
  get featureDim(): number {
    return this.config.featureDim;
  }
  get numClasses(): number {
    return this.config.classNames.length;
  }
  get classNames(): readonly string[] {
    return this.config.classNames;
  }

  /** Features and logits of images already at the trained size and channel count (with autograd). */
  forwardBoth(x: Tensor): { features: Tensor; logits: Tensor } {
    const h = this.body.forward(x).mean([2, 3]);
    const features = this.fc.forward(h).silu();
    return { features, logits: this.head.forward(features) };
  }

  /** Class logits [B, K] of images at the trained size and channel count (training path). */
  forward(x: Tensor): Tensor {
    return this.forwardBoth(x).logits;
  }

  /**
   * Converts images [B, C, H, W] in [-1, 1] to what the classifier was trained on: grey ↔ RGB
   * (ITU-R BT.601 luma for RGB → grey; replication for grey → RGB) and bilinear resizing to `size`.
   */
  prepare(images: Tensor): Tensor {
    if (images.ndim !== 4) throw new Error(`${this.name}: expected images [B, C, H, W], got shape [${images.shape.join(', ')}]`);
    const [, c, h, w] = images.shape as [number, number, number, number];
    if (c !== 1 && c !== 3) throw new Error(`${this.name}: expected 1 or 3 channels, got ${c} (shape [${images.shape.join(', ')}])`);
    return T.tidy(() => {
      let x = images.float();
      if (c === 3 && this.config.inChannels === 1) {
        const wts = T.tensor([0.299, 0.587, 0.114], { shape: [1, 3, 1, 1] });
        x = x.mul(wts).sum([1], true);
      } else if (c === 1 && this.config.inChannels === 3) {
        x = x.expand([-1, 3, -1, -1]);
      }
      const s = this.config.size;
      if (h !== s || w !== s) x = T.interpolate(x, { size: [s, s], mode: 'bilinear' });
      return x.contiguous();
    });
  }

  /** FeatureExtractor: pooled penultimate features [B, featureDim] and logits [B, K]; no autograd. */
  features(images: Tensor): { features: Tensor; logits: Tensor } {
    return T.tidy(() =>
      T.noGrad(() => {
        const n = images.size(0);
        const feats: Tensor[] = [];
        const logits: Tensor[] = [];
        for (let i = 0; i < n; i += CHUNK) {
          const out = this.forwardBoth(this.prepare(images.narrow(0, i, Math.min(CHUNK, n - i))));
          feats.push(out.features);
          logits.push(out.logits);
        }
        if (n === 0) return { features: T.zeros([0, this.featureDim]), logits: T.zeros([0, this.numClasses]) };
        return feats.length === 1 ? { features: feats[0]!, logits: logits[0]! } : { features: T.cat(feats), logits: T.cat(logits) };
      }),
    );
  }

  /** Most likely class of each image and the class probabilities [B, K]. */
  classify(images: Tensor): { classIds: number[]; probs: Tensor } {
    return T.tidy(() => {
      const probs = this.features(images).logits.softmax(1);
      return { classIds: probs.argmax(1).toArray() as number[], probs };
    });
  }

  /** Class id of a class name or id (src/data/classes.ts: the resolver priors and the CLI use too). */
  classIndex(cls: string | number): number {
    try {
      return resolveClass(this.config.classNames, cls);
    } catch (e) {
      if (e instanceof ClassNameError) throw new ClassNameError(`${this.name}: ${e.message}`);
      throw e;
    }
  }
}

/** Writes a classifier as a Tessera model file (kind 'classifier', config JSON in __metadata__). */
export function saveClassifier(path: string, model: Classifier, extra?: Record<string, string>): void {
  T.tidy(() => saveModelFile(path, { kind: CLASSIFIER_KIND, config: model.config, stateDict: model.stateDict(), extra }));
}

/**
 * Rebuilds a classifier from its model file (in eval mode). Every failure is one line: a missing file,
 * a file that is not a Tessera model file, a model of another kind, a bad config, or weights that do
 * not match the config.
 */
export function loadClassifier(path: string): Classifier {
  let model: Classifier;
  try {
    model = buildFromModelFile(path, CLASSIFIER_KIND, (config: ClassifierConfig) => new Classifier(config), {
      what: 'classifier',
      fileWhat: 'classifier file',
    }).model;
  } catch (e) {
    const msg = oneLine((e as Error).message);
    throw new Error(msg.startsWith('classifier file') ? msg : `cannot load classifier: ${msg}`, { cause: e });
  }
  return model.eval();
}
