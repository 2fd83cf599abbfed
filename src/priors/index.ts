// Priors over tokens: the shared transformer, the autoregressive prior, MaskGIT, sampling helpers,
// and PriorModel (prior + tokenizer in one file: sample, inpaint, outpaint).
export { Transformer, Block, SelfAttention, MLP, KVCache, sincos2d, initTransformerWeights, type TransformerConfig } from './transformer.js';
export { guide, filterLogits, sampleCategorical, gumbel, maskRatio, MASK_SCHEDULES, type MaskSchedule, type SamplingOptions } from './sampling.js';
export { flattenTokens, unflattenTokens, classIds, type PriorShape, type Prior, type PriorGenerateOptions, type StepInfo } from './common.js';
export { ARPrior, type ARPriorConfig, type ARExtras, type ARGenerateOptions } from './autoregressive.js';
export { MaskGIT, type MaskGITConfig, type MaskGITExtras, type MaskGITGenerateOptions } from './maskgit.js';
export {
  VQDiffusion,
  diffusionSchedule,
  logMarginal,
  logPosterior,
  transition,
  DIFFUSION_SCHEDULES,
  type DiffusionSchedule,
  type ScheduleTables,
  type VQDiffusionConfig,
  type VQDiffusionExtras,
  type VQDiffusionGenerateOptions,
} from './vq-diffusion.js';
export { HierarchicalPrior, LEVEL_ARCHS, PRIOR_LEVELS, type HierarchicalPriorConfig, type LevelArch, type PriorLevel } from './hierarchical.js';
export {
  PriorModel,
  PRIOR_KIND,
  PRIOR_ARCHS,
  tokenMaskFromPixels,
  softMask,
  planOutpaint,
  writeSamplingDefaults,
  checkSamplingDefaults,
  type AnyPrior,
  type PriorArch,
  type PriorModelConfig,
  type GenerateOptions,
  type EditOptions,
  type InpaintOptions,
  type SamplingDefaults,
  type SamplingSettings,
} from './pipeline.js';
