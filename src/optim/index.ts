// Optimizers, learning-rate schedules, gradient clipping and weight EMA.
export * from './optimizer.js';
export * from './sgd.js';
export * from './adam.js';
export * from './lr-scheduler.js';
export * from './clip.js';
export * from './ema.js';
