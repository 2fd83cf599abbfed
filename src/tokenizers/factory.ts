// Building tokenizers by kind, and saving/loading them as Tessera model files.
import { tidy } from '../torch/index.js';
import { saveModelFile, buildFromModelFile } from '../io/index.js';
import type { Tokenizer, TokenizerKind } from './types.js';
import { VQGAN, type VQGANConfigInput } from './vqgan.js';
import { MoVQ, type MoVQConfigInput } from './movq.js';
import { VQVAE, type VQVAEConfigInput } from './vqvae.js';
import { ViTVQGAN, type ViTVQGANConfigInput } from './vitvqgan.js';
import { VQVAE2, type VQVAE2ConfigInput } from './vqvae2.js';

/** Config type per tokenizer kind, and the class each kind builds. */
export interface TokenizerConfigs {
  vqvae: VQVAEConfigInput;
  vqgan: VQGANConfigInput;
  movq: MoVQConfigInput;
  vitvqgan: ViTVQGANConfigInput;
  vqvae2: VQVAE2ConfigInput;
}
export interface TokenizerClasses {
  vqvae: VQVAE;
  vqgan: VQGAN;
  movq: MoVQ;
  vitvqgan: ViTVQGAN;
  vqvae2: VQVAE2;
}

export const TOKENIZER_KINDS: readonly TokenizerKind[] = ['vqvae', 'vqgan', 'movq', 'vitvqgan', 'vqvae2'];

/** Builds a freshly initialised tokenizer of `kind` from its config. */
export function createTokenizer<K extends TokenizerKind>(kind: K, config: TokenizerConfigs[K]): TokenizerClasses[K] {
  switch (kind) {
    case 'vqvae':
      return new VQVAE(config as VQVAEConfigInput) as TokenizerClasses[K];
    case 'vqgan':
      return new VQGAN(config as VQGANConfigInput) as TokenizerClasses[K];
    case 'movq':
      return new MoVQ(config as MoVQConfigInput) as TokenizerClasses[K];
    case 'vitvqgan':
      return new ViTVQGAN(config as ViTVQGANConfigInput) as TokenizerClasses[K];
    case 'vqvae2':
      return new VQVAE2(config as VQVAE2ConfigInput) as TokenizerClasses[K];
    default:
      throw new Error(`createTokenizer: unknown kind '${String(kind)}' (${TOKENIZER_KINDS.join(', ')})`);
  }
}

/** Writes `model` as a Tessera model file: its weights, kind and config (JSON in __metadata__). */
export function saveTokenizer(path: string, model: Tokenizer, extra?: Record<string, string>): void {
  tidy(() => saveModelFile(path, { kind: model.kind, config: model.config, stateDict: model.stateDict(), extra }));
}

/**
 * Rebuilds a tokenizer from a Tessera model file. The weights must match the config exactly
 * (strict loading: one StateDictError lists every missing / unexpected key, shape mismatch, wrong
 * dtype and non-finite tensor). `opts.kind` makes a file holding another kind an error.
 */
export function loadTokenizer<K extends TokenizerKind = TokenizerKind>(path: string, opts: { kind?: K } = {}): TokenizerClasses[K] {
  const kinds = opts.kind !== undefined ? [opts.kind] : TOKENIZER_KINDS;
  return buildFromModelFile(path, kinds, (config: TokenizerConfigs[K], kind) => createTokenizer(kind as K, config), {
    what: 'tokenizer',
    wrongKind: opts.kind !== undefined ? `expected '${opts.kind}'` : `not a tokenizer (${TOKENIZER_KINDS.join(', ')})`,
  }).model;
}
