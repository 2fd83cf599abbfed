// createQuantizer: one discriminated-union config (plain JSON) for every quantizer, so tokenizer
// configs can embed it and model files can rebuild it. Unknown keys are rejected, so a misspelt
// option in a JSON config fails loudly instead of silently training without it.
import type { Quantizer } from './types.js';
import { VectorQuantizer, type VectorQuantizerOptions } from './vq.js';
import { MultichannelQuantizer, type MultichannelQuantizerOptions } from './multichannel.js';
import { ResidualQuantizer, type ResidualQuantizerOptions } from './residual.js';
import { SimVQ, type SimVQOptions } from './simvq.js';

export type QuantizerConfig =
  | ({ type: 'vq' } & VectorQuantizerOptions)
  | ({ type: 'multichannel' } & MultichannelQuantizerOptions)
  | ({ type: 'residual' } & ResidualQuantizerOptions)
  | ({ type: 'simvq' } & SimVQOptions);

const COMMON = ['codebookSize', 'dim', 'beta', 'legacy'];
const LOOKUP = ['codebookDim', 'l2Normalize'];
const TECHNIQUES = ['ema', 'kmeansInit', 'deadCodeRestart'];
const KEYS: Record<QuantizerConfig['type'], string[]> = {
  vq: [...COMMON, ...LOOKUP, ...TECHNIQUES],
  multichannel: [...COMMON, ...LOOKUP, ...TECHNIQUES, 'groups'],
  residual: [...COMMON, ...TECHNIQUES, 'depth', 'sharedCodebook'],
  simvq: [...COMMON, ...LOOKUP],
};
const NESTED: Record<string, string[]> = {
  ema: ['decay', 'eps'],
  kmeansInit: ['iters', 'batches', 'maxSamples', 'seed'],
  deadCodeRestart: ['threshold', 'decay', 'every', 'seed'],
};

function checkKeys(type: QuantizerConfig['type'], opts: Record<string, unknown>): void {
  const allowed = KEYS[type];
  for (const [k, v] of Object.entries(opts)) {
    if (!allowed.includes(k)) throw new Error(`createQuantizer: unknown option '${k}' for type '${type}' (allowed: ${allowed.join(', ')})`);
    const nested = NESTED[k];
    if (nested && v !== null && typeof v === 'object') {
      for (const n of Object.keys(v)) if (!nested.includes(n)) throw new Error(`createQuantizer: unknown option '${k}.${n}' (allowed: ${nested.join(', ')})`);
    } else if (nested && typeof v !== 'boolean' && v !== undefined) {
      throw new Error(`createQuantizer: option '${k}' must be a boolean or an object`);
    }
  }
}

export function createQuantizer(config: QuantizerConfig): Quantizer {
  if (config === null || typeof config !== 'object') throw new Error('createQuantizer: config must be an object with a type');
  const { type, ...opts } = config;
  if (!Object.hasOwn(KEYS, type)) throw new Error(`createQuantizer: unknown type '${String(type)}' (vq, multichannel, residual, simvq)`);
  checkKeys(type, opts);
  switch (type) {
    case 'vq':
      return new VectorQuantizer(opts as VectorQuantizerOptions);
    case 'multichannel':
      return new MultichannelQuantizer(opts as MultichannelQuantizerOptions);
    case 'residual':
      return new ResidualQuantizer(opts as ResidualQuantizerOptions);
    case 'simvq':
      return new SimVQ(opts as SimVQOptions);
  }
}
