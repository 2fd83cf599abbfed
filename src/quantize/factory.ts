// createQuantizer: one discriminated-union config (plain JSON) for every quantizer, so tokenizer
// configs can embed it and model files can rebuild it. Unknown keys are rejected, so a misspelt
// option in a JSON config fails loudly instead of silently training without it.
import type { Quantizer } from './types.js';
import { VectorQuantizer, type VectorQuantizerOptions } from './vq.js';
import { MultichannelQuantizer, type MultichannelQuantizerOptions } from './multichannel.js';
import { ResidualQuantizer, type ResidualQuantizerOptions } from './residual.js';
import { SimVQ, type SimVQOptions } from './simvq.js';
import { LCQuantizer, type LCQuantizerOptions } from './lc.js';
import { ConfigError, checkEnum, isObject, rejectUnknownKeys } from '../io/validate.js';

export type QuantizerConfig =
  | ({ type: 'vq' } & VectorQuantizerOptions)
  | ({ type: 'multichannel' } & MultichannelQuantizerOptions)
  | ({ type: 'residual' } & ResidualQuantizerOptions)
  | ({ type: 'simvq' } & SimVQOptions)
  | ({ type: 'lc' } & LCQuantizerOptions);

const COMMON = ['codebookSize', 'dim', 'beta', 'legacy'];
const LOOKUP = ['codebookDim', 'l2Normalize'];
const TECHNIQUES = ['ema', 'kmeansInit', 'deadCodeRestart'];
const KEYS: Record<QuantizerConfig['type'], string[]> = {
  vq: [...COMMON, ...LOOKUP, ...TECHNIQUES, 'layout'],
  multichannel: [...COMMON, ...LOOKUP, ...TECHNIQUES, 'groups'],
  residual: [...COMMON, ...TECHNIQUES, 'depth', 'sharedCodebook'],
  simvq: [...COMMON, ...LOOKUP, 'mapLrScale', 'dataInit'],
  lc: [...COMMON, ...LOOKUP, 'mapLrScale', 'dataInit', 'featureDim'],
};
const NESTED: Record<string, string[]> = {
  ema: ['decay', 'eps'],
  kmeansInit: ['iters', 'batches', 'maxSamples', 'seed'],
  deadCodeRestart: ['threshold', 'decay', 'every', 'seed'],
};

function checkKeys(type: QuantizerConfig['type'], opts: Record<string, unknown>): void {
  rejectUnknownKeys(opts, KEYS[type], `quantizer (type '${type}')`);
  for (const [k, v] of Object.entries(opts)) {
    const nested = NESTED[k];
    if (nested && isObject(v)) rejectUnknownKeys(v, nested, `quantizer.${k}`);
    else if (nested && typeof v !== 'boolean' && v !== undefined)
      throw new ConfigError(`quantizer.${k}: expected true, false or an object, got ${JSON.stringify(v)}`);
  }
}

export function createQuantizer(config: QuantizerConfig): Quantizer {
  if (!isObject(config)) throw new ConfigError('quantizer: expected an object with a type (vq, multichannel, residual, simvq, lc)');
  const { type, ...opts } = config;
  checkEnum(type, Object.keys(KEYS) as QuantizerConfig['type'][], 'quantizer.type');
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
    case 'lc':
      return new LCQuantizer(opts as LCQuantizerOptions);
  }
}
