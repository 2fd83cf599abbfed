// The engine's public surface: Tensor, ops, autograd, scopes, RNG.
export * from './tensor.js';
export * from './ops.generated.js';
export * from './functional.js';
