export * as torch from './torch/index.js';
export * from './torch/index.js';
