// Metrics: per-image reconstruction metrics, distribution metrics over feature sets (FID, IS, KID,
// precision/recall), the feature networks they are computed with, and the evaluations built on them
// (evaluateTokenizer, evaluatePrior, evaluateFid).
export * from './image.js';
export * from './distribution.js';
export * from './features.js';
export * from './inception.js';
export * from './classifier.js';
export * from './rejection.js';
export * from './shipped.js';
export * from './evaluate.js';
export * from './evaluate-tokenizer.js';
export * from './evaluate-prior.js';
export * from './probe.js';
