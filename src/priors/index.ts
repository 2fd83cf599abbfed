// Priors over tokens: the shared transformer, the autoregressive prior, MaskGIT, sampling helpers,
// and PriorModel (prior + tokenizer in one file: sample, inpaint, outpaint).
export { Transformer, Block, SelfAttention, MLP, KVCache, sincos2d, initTransformerWeights, type TransformerConfig } from './transformer.js';
export { guide, filterLogits, sampleCategorical, gumbel, maskRatio, MASK_SCHEDULES, type MaskSchedule, type SamplingOptions } from './sampling.js';
export { flattenTokens, unflattenTokens, classIds, type PriorShape } from './common.js';
export { ARPrior, type ARPriorConfig, type ARSampleOptions } from './autoregressive.js';
export { MaskGIT, type MaskGITConfig, type MaskGITDecodeOptions } from './maskgit.js';
export { PriorModel, PRIOR_KIND, tokenMaskFromPixels, softMask, type PriorArch, type PriorModelConfig, type GenerateOptions } from './pipeline.js';
