// tessera/tokenizers: image tokenizers (VQ-VAE, VQGAN, MoVQ) built from taming's shared blocks,
// saved as Tessera model files and imported from official PyTorch checkpoints.
export type { Tokenizer, TokenizerKind, TokenizerOutput, TokenLevelInfo } from './types.js';
export * as blocks from './blocks.js';
export {
  Encoder,
  Decoder,
  ResnetBlock,
  AttnBlock,
  Downsample,
  Upsample,
  Normalize,
  resolveDDConfig,
  type DDConfig,
  type DDConfigInput,
  type NormFactory,
} from './blocks.js';
export { ConvTokenizer, type QuantizerSpec } from './base.js';
export { VQGAN, TamingVQModel, resolveVQGANConfig, type VQGANConfig, type VQGANConfigInput } from './vqgan.js';
export { MoVQ, SpatialNorm, type MoVQConfig, type MoVQConfigInput } from './movq.js';
export { VQVAE, resolveVQVAEConfig, DEFAULT_VQVAE, type VQVAEConfig, type VQVAEConfigInput } from './vqvae.js';
export { VQVAE2, resolveVQVAE2Config, DEFAULT_VQVAE2, type VQVAE2Config, type VQVAE2ConfigInput } from './vqvae2.js';
export {
  ViTVQGAN,
  resolveViTVQGANConfig,
  vitvqganPreset,
  sincosPositions2d,
  VITVQGAN_SIDES,
  type ViTVQGANConfig,
  type ViTVQGANConfigInput,
  type ViTVQGANPreset,
  type TanhFfnPlacement,
} from './vitvqgan.js';
export { createTokenizer, saveTokenizer, loadTokenizer, TOKENIZER_KINDS, type TokenizerConfigs, type TokenizerClasses } from './factory.js';
export {
  importTaming,
  importMovq,
  importVitvqgan,
  importVqvae2,
  type Vqvae2ImportOptions,
  vitvqConfigFromYaml,
  vitvqKey,
  importTokenizer,
  importCheckpoint,
  configFromYaml,
  type ImportKind,
  type ImportOptions,
  type ImportResult,
} from './import.js';
export { parseYaml, YamlError, type YamlValue } from '../io/yaml.js';
