// The run configuration of `tessera train tokenizer`: its typed config, its schema (flags and
// config.json keys, see config.ts for the one resolver and resume rule) and the default models.
// Loads no engine code.
import type { TokenizerKind } from '../tokenizers/types.js';
import type { TokenizerConfigs } from '../tokenizers/factory.js';
import type { QuantizerSpec } from '../tokenizers/base.js';
import type { VQGANLossConfig } from '../losses/vqgan-loss.js';
import { LOGIT_LAPLACE_WEIGHT } from '../losses/logit-laplace.js';
import { ConfigError } from '../io/validate.js';
import { FlagError, absolutePath, canonicalData, check, flagName, trainSchema, MAX_IMAGE_SIDE, emaField } from './config.js';

export const TOKENIZER_ARCHS = ['vqvae', 'vqgan', 'movq', 'vitvqgan', 'vqvae2'] as const satisfies readonly TokenizerKind[];

/** An architecture with its own typed model config. */
export type TokenizerArchModel = { [K in TokenizerKind]: { arch: K; model: TokenizerConfigs[K] } }[TokenizerKind];

/** Everything a tokenizer run is defined by; saved in the checkpoint. */
export type TokenizerTrainConfig = TokenizerArchModel & {
  batchSize: number;
  lr: number;
  /** Linear LR warmup steps (then constant: the schedule has no length). */
  warmup: number;
  /** EMA of the weights for the saved model; null = save the raw weights. */
  emaDecay: number | null;
  /** Pixel loss: 'l1' (taming) or 'l2' (VQ-VAE, MoVQ). */
  recLoss: 'l1' | 'l2';
  /** GAN settings for VQGAN/MoVQ (null: no discriminator, e.g. VQ-VAE or a fast run). */
  gan: VQGANLossConfig | null;
  seed: number;
};

export interface LpipsPaths {
  vgg?: string;
  lin?: string;
  combined?: string;
}

/** <out>/config.json: the trainer's config, then the run's own settings. */
export type TokenizerRunConfig = TokenizerTrainConfig & {
  data: string;
  size: number;
  valCount: number;
  steps: number;
  lpips: LpipsPaths | null;
  /** A trained tokenizer whose latents' k-means centres became the `lc` codebook before step 0, or null. */
  codebookInitFrom: string | null;
};

/** The keys of TokenizerTrainConfig, i.e. what the trainer (and its checkpoint) holds of a run config. */
export const TOKENIZER_TRAIN_KEYS = ['arch', 'model', 'batchSize', 'lr', 'warmup', 'emaDecay', 'recLoss', 'gan', 'seed'] as const;

export function tokenizerTrainConfig(r: TokenizerRunConfig): TokenizerTrainConfig {
  const { data: _d, size: _s, valCount: _v, steps: _t, lpips: _l, codebookInitFrom: _c, ...train } = r;
  return train;
}

export interface TokenizerDefaults {
  size: number;
  codebookSize: number;
  /** Downsampling factor f: N×N pixels give (N/f)×(N/f) positions. */
  downsample: number;
  /** MoVQ: channel groups per position (multichannel quantization); 1 = SBER's plain MoVQ. */
  groups: number;
  /** Base width. */
  ch: number;
}

const quantizerTechniques = { kmeansInit: { iters: 10, batches: 1 }, deadCodeRestart: { threshold: 0.01 } };

function quantizerSpec(d: TokenizerDefaults, groups: number): QuantizerSpec {
  // k-means init and dead-code restart keep large codebooks in use (VQGAN-LC / CVQ-VAE practice).
  const common = { codebookSize: d.codebookSize, beta: 0.25, ...quantizerTechniques };
  return groups > 1 ? { type: 'multichannel', groups, ...common } : { type: 'vq', ...common };
}

/** A small model of each kind for `size`-pixel images, sized for a 2-core CPU. */
export function defaultTokenizerConfig(arch: TokenizerKind, d: TokenizerDefaults): TokenizerArchModel {
  const levels = Math.log2(d.downsample);
  if (!Number.isInteger(levels) || levels < 1) throw new Error(`downsample must be a power of two ≥ 2, got ${d.downsample}`);
  if (d.size % d.downsample !== 0) throw new Error(`size ${d.size} is not a multiple of the downsampling factor ${d.downsample}`);
  if (arch === 'vqvae') {
    return { arch, model: { ch: d.ch, numDownsamples: levels, numResBlocks: 2, resCh: Math.max(16, d.ch / 4), embedDim: 32, quantizer: quantizerSpec(d, 1) } };
  }
  if (arch === 'vqvae2') {
    // VQ-VAE-2 at rosinality's proportions (channel 2·ch = 128, 2 residual blocks of width 32, 64-d codes),
    // EMA codebooks per level with k-means init and dead-code restart; top f = 8, bottom f = 4.
    if (d.downsample !== 8) throw new ConfigError(`--arch vqvae2 has fixed factors (top 8, bottom 4); its --downsample is 8, got ${d.downsample}`);
    // EMA codes move only when picked, so codes stranded by the encoder's early drift are restarted
    // quickly (Jukebox's threshold: under one use per step on average, over a ~10-step memory).
    const quantizer = { ...quantizerSpec(d, 1), ema: { decay: 0.99, eps: 1e-5 }, deadCodeRestart: { threshold: 1, decay: 0.9 } } as QuantizerSpec;
    return { arch, model: { channel: 2 * d.ch, nResBlock: 2, nResChannel: Math.max(16, d.ch / 2), embedDim: 64, quantizer } };
  }
  if (arch === 'vitvqgan') {
    // ViT-VQGAN: patch size = f, width 4·ch (64 → the 'cpu' preset: 256 wide, 4 blocks), 16-d
    // l2-normalised lookup (the paper's best usage), logit-Laplace output for the default recipe.
    const dim = 4 * d.ch;
    const side = { dim, depth: 4, heads: Math.max(1, Math.round(dim / 64)), mlpDim: 4 * dim };
    // Plus the k-means init and dead-code restart every default here uses: without them a short CPU
    // run keeps only a few % of the codes (measured: 300 steps on emoji:google, 4% vs 26% used).
    const quantizer: QuantizerSpec = { type: 'vq', codebookSize: d.codebookSize, beta: 0.25, l2Normalize: true, ...quantizerTechniques };
    return {
      arch,
      model: { imageSize: d.size, patchSize: d.downsample, encoder: side, decoder: { ...side }, codeDim: Math.min(16, dim), logitLaplace: true, quantizer },
    };
  }
  const chMult = [1, ...Array.from({ length: levels }, (_, i) => Math.min(2 ** (i + 1), 4))];
  const ddconfig = { ch: d.ch, chMult, numResBlocks: 1, attnResolutions: [d.size / d.downsample], resolution: d.size, zChannels: 64 };
  if (arch === 'vqgan') return { arch, model: { ddconfig, embedDim: 32, quantizer: quantizerSpec(d, 1) } };
  // MoVQ: the latent's channels are split into `groups` groups on one shared codebook.
  return { arch, model: { ddconfig, embedDim: 32, quantizer: quantizerSpec(d, d.groups) } };
}

/** Quantities a model config implies, for comparing flags with a saved run. */
export function tokenizerModelFacts(m: TokenizerArchModel): { codebookSize: number; downsample: number; groups: number; ch: number } {
  if (m.arch === 'vqvae2') {
    return { codebookSize: m.model.quantizer?.codebookSize ?? 512, downsample: 8, groups: 1, ch: (m.model.channel ?? 128) / 2 };
  }
  const q = m.model.quantizer;
  const groups = q.type === 'multichannel' ? q.groups : 1;
  if (m.arch === 'vqvae') return { codebookSize: q.codebookSize, downsample: 2 ** (m.model.numDownsamples ?? 2), groups, ch: m.model.ch ?? 128 };
  if (m.arch === 'vitvqgan') return { codebookSize: q.codebookSize, downsample: m.model.patchSize, groups, ch: m.model.encoder.dim / 4 };
  const dd = m.model.ddconfig;
  return { codebookSize: q.codebookSize, downsample: 2 ** (dd.chMult.length - 1), groups, ch: dd.ch };
}

/** The discriminator's stride-2 stages that fit `size` (its output must stay at least 1×1). */
function discLayersFor(size: number, preferred: number): number {
  for (let l = preferred; l >= 1; l--) if (Math.floor(size / 2 ** l) >= 3) return l;
  throw new FlagError(`images of ${size} px are too small for the PatchGAN discriminator; use --no-gan or a larger --size`);
}

const DISC_START = 500;

function defaultGan(arch: TokenizerKind, size: number): VQGANLossConfig {
  // MoVQ's published losses: LPIPS weight 0.1, 2-layer discriminator, fixed GAN weight 0.1.
  // ViT-VQGAN's published weighting: VQ + 0.1·GAN (StyleGAN discriminator, R1) + 0.1·perceptual
  // + 0.1·logit-Laplace + 1.0·L2 (recLoss 'l2'), fixed weights.
  if (arch === 'vitvqgan')
    return {
      discStart: DISC_START,
      perceptualWeight: 0.1,
      logLaplaceWeight: LOGIT_LAPLACE_WEIGHT,
      adaptiveWeight: false,
      discWeight: 0.1,
      discArch: 'stylegan2',
      discLoss: 'vanilla',
      genLoss: 'non-saturating',
      r1Gamma: 10,
    };
  if (arch === 'movq') return { discStart: DISC_START, perceptualWeight: 0.1, discNumLayers: discLayersFor(size, 2), adaptiveWeight: false, discWeight: 0.1 };
  return { discStart: DISC_START, discNumLayers: discLayersFor(size, 3) };
}

const facts = (r: TokenizerRunConfig) => tokenizerModelFacts(r);

export const TOKENIZER_SCHEMA = trainSchema<TokenizerRunConfig>()({
  name: 'tokenizer',
  flags: {
    arch: { type: 'enum', values: TOKENIZER_ARCHS, resume: 'fixed', help: 'architecture (required for a new run)' },
    data: {
      type: 'string',
      normalize: canonicalData,
      resume: 'fixed',
      metavar: 'spec',
      help: "dataset: 'mnist', 'emoji:<vendor>[,…]' or 'folder:<path>' (required for a new run)",
    },
    size: {
      type: 'int',
      min: 1,
      max: MAX_IMAGE_SIDE,
      resume: 'fixed',
      help: 'image side in pixels; images are scaled and centre-cropped to it (required for a new run)',
    },
    steps: { type: 'int', min: 1, default: 2000, resume: 'raise', help: 'training steps; may be raised with --resume to extend a run' },
    batchSize: { type: 'int', min: 1, default: 16, resume: 'fixed', help: 'images per step' },
    lr: { type: 'number', min: 0, default: 2e-4, resume: 'fixed', help: 'learning rate, Adam with betas 0.5/0.9' },
    warmup: { type: 'int', min: 0, default: 100, resume: 'fixed', help: 'linear learning-rate warmup steps' },
    codebookSize: { type: 'int', min: 2, default: 1024, resume: 'fixed', saved: (r) => facts(r).codebookSize, help: 'codebook entries' },
    downsample: {
      type: 'int',
      min: 2,
      default: 4,
      resume: 'fixed',
      saved: (r) => facts(r).downsample,
      help: 'downsampling factor f, a power of two: N×N pixels give (N/f)×(N/f) positions',
    },
    groups: {
      type: 'int',
      min: 1,
      default: 4,
      resume: 'fixed',
      saved: (r) => facts(r).groups,
      help: 'movq: channel groups quantized per position (multichannel; 1 = plain MoVQ)',
    },
    ch: { type: 'int', min: 1, default: 64, resume: 'fixed', saved: (r) => facts(r).ch, help: 'base channel width' },
    ema: emaField('EMA decay of the weights saved in model.safetensors'),
    noEma: {
      type: 'boolean',
      resume: 'fixed',
      saved: (r) => r.emaDecay === null,
      describeSaved: (r) => `EMA ${r.emaDecay}`,
      help: 'save the raw weights instead of an EMA',
    },
    gan: {
      type: 'boolean',
      negatable: true,
      resume: 'fixed',
      saved: (r) => r.gan !== null,
      help: 'add the PatchGAN discriminator loss (default for vqgan and movq; --no-gan: none, the default for vqvae)',
    },
    discStart: {
      type: 'int',
      min: 0,
      default: DISC_START,
      resume: 'fixed',
      saved: (r) => (r.gan ? (r.gan.discStart ?? 0) : null),
      help: 'first step with the GAN loss on',
    },
    recLoss: { type: 'enum', values: ['l1', 'l2'], resume: 'fixed', help: 'pixel loss (default: l1 for vqgan, l2 for vqvae and movq)' },
    logitLaplace: {
      type: 'boolean',
      negatable: true,
      resume: 'fixed',
      saved: (r) => (r.arch === 'vitvqgan' ? (r.model.logitLaplace ?? false) : null),
      help: 'vitvqgan: the decoder predicts a logit-Laplace (μ, ln b) trained with 0.1·NLL beside the pixel loss (default; --no-logit-laplace: it predicts pixels)',
    },
    lpipsVgg: {
      type: 'string',
      normalize: absolutePath,
      resume: 'fixed',
      metavar: 'file',
      saved: (r) => r.lpips?.vgg ?? null,
      help: 'torchvision VGG16 weights for the LPIPS perceptual loss (with --lpips-lin; GAN runs only)',
    },
    lpipsLin: {
      type: 'string',
      normalize: absolutePath,
      resume: 'fixed',
      metavar: 'file',
      saved: (r) => r.lpips?.lin ?? null,
      help: "LPIPS linear layers (the lpips package's weights/v0.1/vgg.pth)",
    },
    lpips: {
      type: 'string',
      normalize: absolutePath,
      resume: 'fixed',
      metavar: 'file',
      saved: (r) => r.lpips?.combined ?? null,
      help: 'one file with the whole LPIPS network (instead of --lpips-vgg and --lpips-lin)',
    },
    codebookInitFrom: {
      type: 'string',
      normalize: absolutePath,
      resume: 'fixed',
      metavar: 'file',
      help: "a trained tokenizer model file: an 'lc' quantizer's frozen codebook starts as the k-means centres of its latents on the training images (VQGAN-LC)",
    },
    seed: { type: 'int', min: 0, default: 0, resume: 'fixed', help: 'random seed: weights, data order' },
    valCount: { type: 'int', min: 1, default: 500, resume: 'fixed', help: 'validation images held out (deterministic split, as in eval tokenizer)' },
    logEvery: { type: 'int', min: 1, default: 50, resume: 'free', help: 'progress line every N steps when stderr is not a terminal' },
    imageEvery: { type: 'int', min: 1, default: 250, resume: 'free', help: 'write recon-latest.png every N steps' },
    checkpointEvery: { type: 'int', min: 1, default: 500, resume: 'free', help: 'save the checkpoint and model.safetensors every N steps' },
  },
  keys: {
    arch: check.oneOf(TOKENIZER_ARCHS),
    // Checked in depth by the tokenizer's constructor (typed per arch there).
    model: check.object<TokenizerRunConfig['model']>('the tokenizer config'),
    batchSize: check.int(1),
    lr: check.number({ min: 0 }),
    warmup: check.int(0),
    emaDecay: check.nullable(check.number({ min: 0, max: 1 })),
    recLoss: check.oneOf(['l1', 'l2'] as const),
    gan: check.nullable(check.object<VQGANLossConfig>('the VQGAN loss config')),
    seed: check.int(0),
    data: check.dataSpec(),
    size: check.int(1),
    valCount: check.int(1),
    steps: check.int(1),
    lpips: check.nullable(checkLpips),
    codebookInitFrom: check.optional((v, w) => absolutePath(check.string()(v, w))),
  },
  build(s) {
    const { flags: o, file } = s;
    const arch = s.maybe('arch');
    const data = s.maybe('data');
    const size = s.maybe('size');
    if (arch === undefined || data === undefined || size === undefined) {
      const missing = [arch === undefined && '--arch', data === undefined && '--data', size === undefined && '--size'].filter(Boolean);
      throw new FlagError(`a new run needs ${missing.join(', ')} (or --resume to continue the run in --out)`);
    }
    if (o.groups !== undefined && arch !== 'movq') throw new FlagError('--groups applies to --arch movq only');
    if (o.logitLaplace !== undefined && arch !== 'vitvqgan')
      throw new FlagError(`--${o.logitLaplace ? '' : 'no-'}logit-laplace applies to --arch vitvqgan only`);
    if (o.ema !== undefined && o.noEma) throw new FlagError('--ema and --no-ema contradict each other');

    let am: TokenizerArchModel;
    if (file.model !== undefined) {
      const given = (['ch', 'downsample', 'groups', 'logitLaplace'] as const).filter((k) => o[k] !== undefined);
      if (given.length) throw new FlagError(`${s.fileName} defines the model; edit it there instead of ${given.map((k) => '--' + flagName(k)).join(', ')}`);
      // The file's model is for the file's (or the flag's) arch; the constructor checks it in depth.
      am = { arch, model: structuredClone(file.model) } as TokenizerArchModel;
      if (o.codebookSize !== undefined) {
        if (!am.model.quantizer) throw new FlagError(`${s.fileName}: model.quantizer is missing; --codebook-size sets its codebookSize`);
        am.model.quantizer.codebookSize = o.codebookSize;
      }
    } else {
      // VQ-VAE-2's factors are fixed (top 8, bottom 4): --downsample defaults to 8 for it.
      if (arch === 'vqvae2' && o.downsample !== undefined && o.downsample !== 8) {
        throw new FlagError(`--arch vqvae2 has fixed factors (top 8, bottom 4); drop --downsample ${o.downsample}`);
      }
      const downsample = arch === 'vqvae2' ? 8 : s.flag('downsample')!;
      if (!Number.isInteger(Math.log2(downsample))) throw new FlagError(`--downsample must be a power of two, got ${downsample}`);
      if (size % downsample !== 0) throw new FlagError(`--size ${size} is not a multiple of --downsample ${downsample}`);
      am = defaultTokenizerConfig(arch, {
        size,
        downsample,
        codebookSize: s.flag('codebookSize')!,
        groups: arch === 'movq' ? s.flag('groups')! : 1,
        ch: s.flag('ch')!,
      });
      if (am.arch === 'vitvqgan' && o.logitLaplace === false) am.model = { ...am.model, logitLaplace: false };
    }

    let gan: VQGANLossConfig | null;
    if (o.gan === false) gan = null;
    else if (o.gan === true) gan = file.gan ?? defaultGan(arch, size);
    else gan = file.gan !== undefined ? file.gan : arch === 'vqvae' || arch === 'vqvae2' ? null : defaultGan(arch, size);
    if (o.discStart !== undefined) {
      if (!gan) throw new FlagError('--disc-start needs the GAN loss (--gan)');
      gan = { ...gan, discStart: o.discStart };
    }
    // A decoder without the logit-Laplace head has no likelihood term to weigh: --no-logit-laplace
    // drops the default recipe's term; a config file that asks for both is refused here, not at step 1.
    if (gan?.logLaplaceWeight && !(am.arch === 'vitvqgan' && am.model.logitLaplace)) {
      if (o.logitLaplace === false) gan = { ...gan, logLaplaceWeight: 0 };
      else throw new FlagError(`gan.logLaplaceWeight ${gan.logLaplaceWeight} needs a vitvqgan decoder with the logit-Laplace head (model.logitLaplace: true)`);
    }
    const lpips = lpipsFromFlags(o) ?? file.lpips ?? null;
    if (lpips && !gan) throw new FlagError('the LPIPS perceptual loss is part of the GAN loss: add --gan, or drop the --lpips* options');

    return {
      ...am,
      batchSize: s.get('batchSize'),
      lr: s.get('lr'),
      warmup: s.get('warmup'),
      emaDecay: o.noEma ? null : o.ema !== undefined ? o.ema : file.emaDecay !== undefined ? file.emaDecay : s.flag('ema')!,
      recLoss: s.maybe('recLoss') ?? (arch === 'vqgan' ? 'l1' : 'l2'),
      gan,
      seed: s.get('seed'),
      data,
      size,
      valCount: s.get('valCount'),
      steps: s.get('steps'),
      lpips,
      codebookInitFrom: s.maybe('codebookInitFrom') ?? null,
    };
  },
});

function lpipsFromFlags(o: { lpipsVgg?: string; lpipsLin?: string; lpips?: string }): LpipsPaths | undefined {
  const { lpipsVgg: vgg, lpipsLin: lin, lpips: combined } = o;
  if (combined !== undefined && (vgg !== undefined || lin !== undefined)) throw new FlagError('give either --lpips or --lpips-vgg with --lpips-lin, not both');
  if ((vgg === undefined) !== (lin === undefined)) throw new FlagError('--lpips-vgg and --lpips-lin go together');
  if (combined !== undefined) return { combined };
  if (vgg !== undefined && lin !== undefined) return { vgg, lin };
  return undefined;
}

function checkLpips(v: unknown, where: string): LpipsPaths {
  const l = check.object<Record<string, unknown>>('{"vgg": file, "lin": file} or {"combined": file}')(v, where);
  const keys = Object.keys(l);
  const ok = keys.every((k) => ['vgg', 'lin', 'combined'].includes(k) && typeof l[k] === 'string') && ('combined' in l ? keys.length === 1 : keys.length === 2);
  if (!ok) throw new ConfigError(`${where}: expected {"vgg": file, "lin": file} or {"combined": file}`);
  return Object.fromEntries(keys.map((k) => [k, absolutePath(l[k] as string)]));
}
