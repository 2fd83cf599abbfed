// Importing official PyTorch checkpoints:
//   taming-transformers VQModel — Lightning .ckpt (weights under `state_dict`, which also carries the
//     training loss's discriminator/LPIPS weights under `loss.`) + the YAML config it shipped with;
//   SBER MoVQGAN — a raw state dict (possibly with LitEma shadows `ema_<module>.<name without dots>`
//     and `loss.` weights) + a YAML config in the same layout;
//   thuanz123/enhancing-transformers ViTVQ (ViT-VQGAN) — Lightning .ckpt + its OmegaConf YAML
//     (`model.params.{image_size, patch_size, encoder, decoder, quantizer}`, or the older
//     `hparams` / `qparams` layout).
// Upstream loads with strict=False, which silently ignores a wrong config. Here the known extras are
// dropped by name and everything else must match: one error lists every missing / unexpected key
// and every shape mismatch (with both shapes).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Tensor, tidy } from '../torch/index.js';
import { StateDictError } from '../nn/index.js';
import { loadTorchCheckpoint, stateDictFrom } from '../io/index.js';
import { parseYaml, type YamlValue } from '../io/yaml.js';
import type { DDConfigInput } from './blocks.js';
import { VQGAN, type VQGANConfigInput } from './vqgan.js';
import { MoVQ, type MoVQConfigInput } from './movq.js';
import { ViTVQGAN, type ViTVQGANConfigInput, type ViTSideConfig } from './vitvqgan.js';
import { VQVAE2 } from './vqvae2.js';
import { saveTokenizer } from './factory.js';

/** Source format: 'taming' (alias 'vqgan'), SBER's 'movq' or thuanz123's ViT-VQGAN port 'vitvqgan'. */
export type ImportKind = 'taming' | 'vqgan' | 'movq' | 'vitvqgan';

export interface ImportOptions {
  /** MoVQ only: load the LitEma shadow weights (`ema_*`) instead of the live ones. */
  useEma?: boolean;
}

export interface ImportResult<M> {
  model: M;
  /** Checkpoint keys dropped on purpose (training loss, EMA shadows), in checkpoint order. */
  dropped: string[];
}

type Obj = { [k: string]: YamlValue };
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

// taming's ddconfig names → Tessera's. Keys outside this table are rejected: they change the architecture.
const DDCONFIG_NAMES: Record<string, keyof DDConfigInput> = {
  ch: 'ch',
  ch_mult: 'chMult',
  num_res_blocks: 'numResBlocks',
  attn_resolutions: 'attnResolutions',
  resolution: 'resolution',
  z_channels: 'zChannels',
  in_channels: 'inChannels',
  out_ch: 'outCh',
  dropout: 'dropout',
  double_z: 'doubleZ',
  resamp_with_conv: 'resampWithConv',
};

/** Model classes each source format may name in `model.target`. */
const TARGETS: Record<'taming' | 'movq', string[]> = {
  taming: ['taming.models.vqgan.VQModel', 'taming.models.vqgan.VQNoDiscModel'],
  movq: ['movqgan.models.vqgan.MOVQ'],
};

/**
 * Maps a taming/MoVQGAN YAML document to a Tessera config: `model.params.ddconfig`, `n_embed`,
 * `embed_dim`. The quantizer is taming's VectorQuantizer2 with its defaults (β 0.25, legacy β placement).
 */
export function configFromYaml(doc: YamlValue, format: 'taming' | 'movq', source = 'config'): VQGANConfigInput & MoVQConfigInput {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (!isObj(doc)) return fail('expected a YAML mapping with model.params');
  let params: Obj;
  if (isObj(doc.model)) {
    const target = doc.model.target;
    if (target !== undefined && target !== null && !TARGETS[format].includes(String(target))) {
      fail(`model.target '${String(target)}' is not supported by this importer (expected ${TARGETS[format].join(' or ')})`);
    }
    if (!isObj(doc.model.params)) return fail('model.params is missing');
    params = doc.model.params;
  } else if (isObj(doc.params)) params = doc.params;
  else if (isObj(doc.ddconfig)) params = doc;
  else return fail('no model.params (with ddconfig, n_embed, embed_dim) found');

  const int = (v: YamlValue | undefined, what: string): number =>
    typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fail(`${what} must be a positive integer, got ${JSON.stringify(v ?? null)}`);
  if (!isObj(params.ddconfig)) return fail('model.params.ddconfig is missing');
  const nEmbed = int(params.n_embed, 'model.params.n_embed');
  const embedDim = int(params.embed_dim, 'model.params.embed_dim');
  if (params.remap !== undefined && params.remap !== null) fail('model.params.remap (index remapping) is not supported');

  const dd = params.ddconfig;
  const ddconfig: Record<string, unknown> = {};
  let addConv = false;
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(dd)) {
    if (Object.hasOwn(DDCONFIG_NAMES, k)) ddconfig[DDCONFIG_NAMES[k]!] = v;
    else if (k === 'give_pre_end') {
      if (v) fail('ddconfig.give_pre_end: true (decoder without its output layers) is not supported');
    } else if (k === 'add_conv' && format === 'movq') addConv = v === true;
    else unknown.push(k);
  }
  if (unknown.length)
    fail(
      `unknown ddconfig key(s) ${unknown.join(', ')} (known: ${Object.keys(DDCONFIG_NAMES).join(', ')}${format === 'movq' ? ', add_conv' : ''}, give_pre_end)`,
    );
  const config: VQGANConfigInput & MoVQConfigInput = {
    ddconfig: ddconfig as unknown as DDConfigInput,
    embedDim,
    quantizer: { type: 'vq', codebookSize: nEmbed, beta: 0.25, legacy: true },
  };
  if (format === 'movq') config.addConv = addConv;
  return config;
}

function readYaml(path: string): YamlValue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseYaml(text, path);
}

/** LitEma's buffer name for a model parameter: `encoder.conv_in.weight` → `ema_encoder.conv_inweight`. */
const emaKey = (key: string): string => {
  const dot = key.indexOf('.');
  return `ema_${key.slice(0, dot)}.${key.slice(dot + 1).replaceAll('.', '')}`;
};
const EMA_PREFIXES = ['ema_encoder.', 'ema_decoder.', 'ema_quantize.', 'ema_quant_conv.', 'ema_post_quant_conv.', 'model_ema.'];

/**
 * Builds the model from the YAML config and loads the checkpoint into it strictly (after dropping
 * `loss.*`, and for MoVQ the EMA shadows). Returns the model and the dropped keys.
 */
export function importTokenizer(kind: 'taming' | 'vqgan', checkpoint: string, configPath: string, opts?: ImportOptions): ImportResult<VQGAN>;
export function importTokenizer(kind: 'movq', checkpoint: string, configPath: string, opts?: ImportOptions): ImportResult<MoVQ>;
export function importTokenizer(kind: 'vitvqgan', checkpoint: string, configPath: string, opts?: ImportOptions): ImportResult<ViTVQGAN>;
export function importTokenizer(kind: ImportKind, checkpoint: string, configPath: string, opts?: ImportOptions): ImportResult<VQGAN | MoVQ | ViTVQGAN>;
export function importTokenizer(kind: ImportKind, checkpoint: string, configPath: string, opts: ImportOptions = {}): ImportResult<VQGAN | MoVQ | ViTVQGAN> {
  if (kind === 'vitvqgan') {
    if (opts.useEma) throw new Error('importTokenizer: useEma applies to MoVQ checkpoints only');
    return importVitvq(checkpoint, configPath);
  }
  const format = kind === 'movq' ? 'movq' : kind === 'taming' || kind === 'vqgan' ? 'taming' : null;
  if (!format) throw new Error(`importTokenizer: unknown checkpoint kind '${String(kind)}' (taming, movq)`);
  if (opts.useEma && format !== 'movq') throw new Error('importTokenizer: useEma applies to MoVQ checkpoints only');
  const config = configFromYaml(readYaml(configPath), format, configPath);
  let model: VQGAN | MoVQ;
  try {
    model = format === 'movq' ? new MoVQ(config) : new VQGAN(config);
  } catch (e) {
    throw new Error(`${configPath}: ${(e as Error).message}`, { cause: e });
  }
  const label = `${model.constructor.name} from ${checkpoint}`;
  return loadInto(model, label, () => {
    const dropped = tidy(() => {
      const sd = stateDictFrom(loadTorchCheckpoint(checkpoint));
      const keep = new Map<string, Tensor>();
      const ema = new Map<string, Tensor>();
      const dropped: string[] = [];
      for (const [k, t] of Object.entries(sd)) {
        if (k.startsWith('loss.')) dropped.push(k);
        else if (format === 'movq' && EMA_PREFIXES.some((p) => k.startsWith(p))) {
          dropped.push(k);
          ema.set(k, t);
        } else keep.set(k, t);
      }
      model.loadStateDict(keep);
      if (opts.useEma) loadEma(model, ema, label);
      return dropped;
    });
    return { model, dropped };
  });
}

/** Runs `load`; on any failure disposes `model`, and a StateDictError names it as `label`, checked `against` what. */
function loadInto<M extends { dispose(): void }, R>(model: M, label: string, load: () => R, against = 'the config'): R {
  try {
    return load();
  } catch (e) {
    model.dispose();
    if (e instanceof StateDictError) throw e.relabel(label, { against });
    throw e;
  }
}

/**
 * Overwrites every parameter with its LitEma shadow; all shadows must be present, with the right
 * shapes and dtypes and finite values (the same strict checks as any state dict).
 */
function loadEma(model: VQGAN | MoVQ, ema: Map<string, Tensor>, label: string): void {
  const params = new Set(model.namedParameters().map(([k]) => k));
  const sd = new Map<string, Tensor>();
  for (const key of params) {
    const src = ema.get(emaKey(key));
    if (src) sd.set(key, src);
  }
  model.loadStateDict(sd, { optional: (k) => !params.has(k), name: `${label} (EMA weights)`, against: 'the config' });
}

/** taming-transformers VQModel: Lightning checkpoint + its YAML config → VQGAN. */
export function importTaming(ckptPath: string, yamlConfigPath: string): VQGAN {
  return importTokenizer('taming', ckptPath, yamlConfigPath).model;
}

/** SBER MoVQGAN: raw state dict + YAML config → MoVQ (live weights unless opts.useEma). */
export function importMovq(ckptPath: string, yamlConfigPath: string, opts: ImportOptions = {}): MoVQ {
  return importTokenizer('movq', ckptPath, yamlConfigPath, opts).model;
}

// ---------------------------------------------------------------- ViT-VQGAN (thuanz123/enhancing-transformers)

const VITVQ_TARGETS = ['enhancing.modules.stage1.vitvqgan.ViTVQ'];
const VITVQ_SIDE_NAMES: Record<string, keyof ViTSideConfig> = { dim: 'dim', depth: 'depth', heads: 'heads', mlp_dim: 'mlpDim', dim_head: 'headDim' };

/**
 * Maps the port's ViTVQ YAML to a Tessera config: every-block tanh FFNs, [0, 1] images at the model
 * boundary, attention heads 64 wide unless `dim_head` says otherwise, l2-normalised VQ with β on
 * the commitment term (its VectorQuantizer). Residual and Gumbel quantizers are rejected.
 */
export function vitvqConfigFromYaml(doc: YamlValue, source = 'config'): ViTVQGANConfigInput {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (!isObj(doc) || !isObj(doc.model)) return fail("expected a YAML mapping with model.params (the port's ViTVQ config)");
  const target = doc.model.target;
  if (target !== undefined && target !== null && !VITVQ_TARGETS.includes(String(target)))
    fail(`model.target '${String(target)}' is not supported by this importer (expected ${VITVQ_TARGETS.join(' or ')})`);
  if (!isObj(doc.model.params)) return fail('model.params is missing');
  const p = doc.model.params;
  // Older layout: hparams shared by encoder and decoder, qparams for the quantizer.
  const h = isObj(p.hparams) ? p.hparams : p;
  const int = (v: YamlValue | undefined, what: string): number =>
    typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fail(`${what} must be a positive integer, got ${JSON.stringify(v ?? null)}`);
  const side = (o: YamlValue | undefined, where: string): ViTSideConfig => {
    if (!isObj(o)) return fail(`${where} is missing`);
    const out: Record<string, number> = { headDim: 64 };
    for (const [k, v] of Object.entries(o)) {
      if (['image_size', 'patch_size', 'channels'].includes(k) && o === h) continue;
      const name = VITVQ_SIDE_NAMES[k];
      if (!name) fail(`unknown ${where} key '${k}' (known: ${Object.keys(VITVQ_SIDE_NAMES).join(', ')})`);
      out[name!] = int(v, `${where}.${k}`);
    }
    for (const k of ['dim', 'depth', 'heads', 'mlpDim']) if (out[k] === undefined) fail(`${where}: ${k === 'mlpDim' ? 'mlp_dim' : k} is missing`);
    return out as unknown as ViTSideConfig;
  };
  const hp = h === p ? null : h;
  const encoder = side(hp ?? p.encoder, hp ? 'model.params.hparams' : 'model.params.encoder');
  const decoder = side(hp ?? p.decoder, hp ? 'model.params.hparams' : 'model.params.decoder');
  const q = isObj(p.qparams) ? p.qparams : p.quantizer;
  if (!isObj(q)) return fail('model.params.quantizer (embed_dim, n_embed) is missing');
  if (q.use_residual === true) fail('quantizer.use_residual: residual quantization is not supported by this importer');
  const beta = q.beta === undefined ? 0.25 : typeof q.beta === 'number' ? q.beta : fail(`quantizer.beta must be a number, got ${JSON.stringify(q.beta)}`);
  return {
    imageSize: int(h.image_size, 'model.params.image_size'),
    patchSize: int(h.patch_size, 'model.params.patch_size'),
    encoder,
    decoder,
    codeDim: int(q.embed_dim, 'quantizer.embed_dim'),
    tanhFfn: 'every-block',
    pixelRange: 'unit',
    quantizer: { type: 'vq', codebookSize: int(q.n_embed, 'quantizer.n_embed'), beta, l2Normalize: q.use_norm !== false },
  };
}

/**
 * The port's checkpoint keys → Tessera's: `quantizer.` → `quantize.`; the older layout's
 * `encoder.norm` / `decoder.norm` (final LayerNorm outside the transformer) and
 * `decoder.to_pixel.conv_out` → `*.transformer.norm` / `decoder.to_pixel.1`. `loss.*` is dropped.
 */
export function vitvqKey(key: string): string {
  if (key.startsWith('quantizer.')) return 'quantize.' + key.slice('quantizer.'.length);
  if (key.startsWith('encoder.norm.')) return 'encoder.transformer.norm.' + key.slice('encoder.norm.'.length);
  if (key.startsWith('decoder.norm.')) return 'decoder.transformer.norm.' + key.slice('decoder.norm.'.length);
  if (key.startsWith('decoder.to_pixel.conv_out.')) return 'decoder.to_pixel.1.' + key.slice('decoder.to_pixel.conv_out.'.length);
  return key;
}

function importVitvq(checkpoint: string, configPath: string): ImportResult<ViTVQGAN> {
  const config = vitvqConfigFromYaml(readYaml(configPath), configPath);
  let model: ViTVQGAN;
  try {
    model = new ViTVQGAN(config);
  } catch (e) {
    throw new Error(`${configPath}: ${(e as Error).message}`, { cause: e });
  }
  const label = `ViTVQGAN from ${checkpoint}`;
  return loadInto(model, label, () => {
    const dropped = tidy(() => {
      const sd = stateDictFrom(loadTorchCheckpoint(checkpoint));
      const keep = new Map<string, Tensor>();
      const dropped: string[] = [];
      for (const [k, t] of Object.entries(sd)) {
        if (k.startsWith('loss.')) dropped.push(k);
        else keep.set(vitvqKey(k), t);
      }
      model.loadStateDict(keep);
      return dropped;
    });
    return { model, dropped };
  });
}

/** thuanz123/enhancing-transformers ViTVQ: Lightning checkpoint + its YAML config → ViTVQGAN. */
export function importVitvqgan(ckptPath: string, yamlConfigPath: string): ViTVQGAN {
  return importVitvq(ckptPath, yamlConfigPath).model;
}

/** Imports a checkpoint and writes it as a Tessera model file at `out`. Returns the model. */
export function importCheckpoint(args: { kind: ImportKind; checkpoint: string; config: string; out: string } & ImportOptions): VQGAN | MoVQ | ViTVQGAN {
  const { model } = importTokenizer(args.kind, args.checkpoint, args.config, { useEma: args.useEma });
  try {
    // Provenance only; the config and weights are what rebuild the model.
    saveTokenizer(args.out, model, { imported_from: `${args.kind} checkpoint ${basename(args.checkpoint)}` });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

// ---------------------------------------------------------------- VQ-VAE-2 (rosinality/vq-vae-2-pytorch)

export interface Vqvae2ImportOptions {
  /** EMA decay γ and Laplace ε of the codebooks (not stored in the checkpoint; 0.99 and 1e-5 as upstream). */
  decay?: number;
  eps?: number;
}

/**
 * A rosinality VQ-VAE-2 checkpoint (a plain state dict, e.g. vqvae_560.pt; `module.` prefixes of
 * DataParallel runs removed) → VQVAE2. The architecture is read from the tensor shapes (channel,
 * residual blocks and width, code size, codebook size); every key must then match, one error listing
 * any missing / unexpected key. A PixelSNAIL prior checkpoint is recognised and refused.
 */
export function importVqvae2(checkpoint: string, opts: Vqvae2ImportOptions = {}): ImportResult<VQVAE2> {
  const fail = (msg: string): never => {
    throw new Error(`${basename(checkpoint)}: ${msg}`);
  };
  return tidy(() => {
    let sd: Record<string, Tensor>;
    try {
      sd = stateDictFrom(loadTorchCheckpoint(checkpoint));
    } catch (e) {
      return fail(`not a VQ-VAE-2 state dict (${(e as Error).message})`);
    }
    const strip = Object.keys(sd).length > 0 && Object.keys(sd).every((k) => k.startsWith('module.'));
    const entries = new Map(Object.entries(sd).map(([k, t]) => [strip ? k.slice('module.'.length) : k, t]));
    const keys = [...entries.keys()];
    if (keys.some((k) => k.startsWith('horizontal.') || k.startsWith('cond_resnet.') || /^blocks\.\d+\.resblocks\./.test(k))) {
      fail(
        "this is a PixelSNAIL prior checkpoint (rosinality's train_pixelsnail.py), not a VQ-VAE-2 tokenizer: import the tokenizer checkpoint (e.g. vqvae_560.pt)",
      );
    }
    const shape = (k: string): number[] => entries.get(k)?.shape ?? fail(`missing '${k}': not a VQ-VAE-2 (rosinality) state dict`);
    const channel = shape('enc_b.blocks.2.weight')[0]!;
    const inChannels = shape('enc_b.blocks.0.weight')[1]!;
    const nResBlock = keys.filter((k) => /^enc_b\.blocks\.\d+\.conv\.1\.weight$/.test(k)).length;
    const nResChannel = nResBlock > 0 ? shape('enc_b.blocks.5.conv.1.weight')[0]! : 32;
    const embedDim = shape('quantize_conv_t.weight')[0]!;
    const [dimT, kTop] = shape('quantize_t.embed') as [number, number];
    const kBottom = shape('quantize_b.embed')[1]!;
    if (dimT !== embedDim) fail(`quantize_t.embed is [${dimT}, ${kTop}] but quantize_conv_t gives ${embedDim}-d codes`);
    if (kTop !== kBottom) fail(`the top and bottom codebooks differ in size (${kTop} vs ${kBottom}); Tessera's VQVAE2 uses one size for both levels`);
    const model = new VQVAE2({
      inChannels,
      channel,
      nResBlock,
      nResChannel,
      embedDim,
      quantizer: { type: 'vq', codebookSize: kTop, beta: 0.25, ema: { decay: opts.decay ?? 0.99, eps: opts.eps ?? 1e-5 } },
    });
    loadInto(model, `VQVAE2 from ${checkpoint}`, () => model.loadStateDict(entries), 'the architecture read from its shapes');
    return { model, dropped: [] };
  });
}
