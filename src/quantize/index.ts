// tessera/quantize: vector quantizers for image tokenizers, and a factory over JSON-able configs.
export type { CodebookStats, QuantizeResult, Quantizer } from './types.js';
export { CodebookQuantizer, vqLoss, type CodebookOptions } from './base.js';
export { VectorQuantizer, type VectorQuantizerOptions, type EmaOptions, type KmeansInitOptions, type DeadCodeRestartOptions } from './vq.js';
export { MultichannelQuantizer, type MultichannelQuantizerOptions } from './multichannel.js';
export { ResidualQuantizer, type ResidualQuantizerOptions } from './residual.js';
export { SimVQ, FrozenCodebook, ScaledLinear, type SimVQOptions } from './simvq.js';
export { LCQuantizer, type LCQuantizerOptions, type FeatureInitOptions } from './lc.js';
export { countCodes, statsFromCounts, RunningCounts } from './stats.js';
export { squaredDistances, nearestCode, emaUpdate, kmeans } from './codebook.js';
export { createQuantizer, type QuantizerConfig } from './factory.js';
