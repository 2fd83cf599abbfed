// tessera/nn: PyTorch-style modules with PyTorch-compatible state dicts.
export {
  Module,
  StateDictError,
  formatStateDictResult,
  hasStateDictProblems,
  nonFiniteKeys,
  type StateDictErrorOptions,
  type LoadStateDictResult,
  type StateDict,
  type ModuleTarget,
  type UnaryModule,
} from './module.js';
export * as init from './init.js';
export { Linear, Identity, Flatten } from './linear.js';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions, type Size2, type PaddingMode } from './conv.js';
export { GroupNorm, LayerNorm, BatchNorm2d, type BatchNormOptions } from './normalization.js';
export { Embedding } from './embedding.js';
export { Dropout } from './dropout.js';
export { ReLU, SiLU, GELU, LeakyReLU, Tanh, Sigmoid } from './activation.js';
export { Sequential, ModuleList, ModuleDict } from './containers.js';
export { MultiheadAttention, type MultiheadAttentionOptions, type MultiheadAttentionForwardOptions } from './attention.js';
