// Metrics: per-image reconstruction metrics, distribution metrics over feature sets (FID, IS, KID,
// precision/recall) and the feature networks they are computed with.
export * from './image.js';
export * from './distribution.js';
export * from './features.js';
export * from './inception.js';
export * from './classifier.js';
export * from './rejection.js';
export * from './shipped.js';
