// Tessera's public API. The engine's functions are at the top level (tensor, conv2d, tidy, …);
// layers, optimizers and file formats are namespaces.
export * as torch from './torch/index.js';
export * from './torch/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as data from './data/index.js';
export * as quantize from './quantize/index.js';
export * as tokenizers from './tokenizers/index.js';
export * as losses from './losses/index.js';
export * as metrics from './metrics/index.js';
export * as priors from './priors/index.js';
export * as codec from './codec/index.js';
