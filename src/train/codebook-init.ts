// VQGAN-LC-style codebook initialisation for any tokenizer whose quantizer is `type: 'lc'`: the
// frozen codebook becomes the k-means centres of an already-trained tokenizer's pre-quantization
// latents (its encoder + quant_conv features) over training images — Tessera's stand-in for the
// CLIP features VQGAN-LC clusters (Zhu et al., NeurIPS 2024).
import { existsSync } from 'node:fs';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Dataset } from '../data/index.js';
import { loadTokenizer, type Tokenizer } from '../tokenizers/index.js';
import { LCQuantizer, type FeatureInitOptions } from '../quantize/index.js';

/** Pre-quantization latent rows [N, C] of `images` training images (spread over the split) through a tokenizer. */
export function featureRows(tok: Tokenizer, data: Dataset, o: { images?: number; batchSize?: number } = {}): Tensor {
  const enc = tok as unknown as { encodeLatent?: (x: Tensor) => Tensor };
  if (typeof enc.encodeLatent !== 'function') throw new Error(`codebook init: a ${tok.kind} tokenizer has no single pre-quantization latent to cluster`);
  const n = Math.min(o.images ?? 1024, data.size);
  const bs = o.batchSize ?? 64;
  const parts: Tensor[] = [];
  const wasTraining = (tok as unknown as { training: boolean }).training;
  (tok as unknown as { eval(): void }).eval();
  try {
    for (let s = 0; s < n; s += bs) {
      const idx = Array.from({ length: Math.min(bs, n - s) }, (_, i) => Math.floor(((s + i) * data.size) / n));
      parts.push(
        T.noGrad(() =>
          T.tidy(() => {
            const z = enc.encodeLatent!(data.batch(idx).images);
            return z
              .movedim(1, -1)
              .reshape([-1, z.size(1)])
              .contiguous()
              .keep();
          }),
        ),
      );
    }
  } finally {
    if (wasTraining) (tok as unknown as { train(): void }).train();
  }
  const rows = T.cat(parts, 0);
  for (const p of parts) p.dispose();
  return rows;
}

/**
 * Sets `target`'s LC codebook from the features of the tokenizer in `modelFile` (the
 * --codebook-init-from path). Refuses a target whose quantizer is not LC-style or whose featureDim
 * differs from the source's latent channels.
 */
export function initCodebookFrom(target: Tokenizer, modelFile: string, data: Dataset, o: FeatureInitOptions & { images?: number } = {}): { rows: number } {
  const q = (target as unknown as { quantize?: unknown }).quantize;
  if (!(q instanceof LCQuantizer)) throw new Error("codebook init: the tokenizer's quantizer must be of type 'lc' to take a codebook from features");
  const src = loadTokenizer(modelFile);
  try {
    const rows = featureRows(src, data, { images: o.images });
    try {
      if (rows.size(1) !== q.featureDim)
        throw new Error(`codebook init: ${modelFile} gives ${rows.size(1)}-channel features; the quantizer's featureDim is ${q.featureDim}`);
      q.initFromFeatures(rows, o);
      return { rows: rows.size(0) };
    } finally {
      rows.dispose();
    }
  } finally {
    (src as unknown as { dispose(): void }).dispose();
  }
}

/**
 * The codebook step of a new tokenizer run (`tessera train tokenizer --codebook-init-from`): with a
 * model file, sets the LC codebook from its features (seeded, so the run is reproducible); without
 * one, refuses an `lc` quantizer, which has no codebook until it is given features. A resumed run
 * skips this: its checkpoint holds the codebook.
 */
export function initRunCodebook(target: Tokenizer, modelFile: string | null, data: Dataset, o: { seed: number }): { rows: number } | null {
  const q = (target as unknown as { quantize?: unknown }).quantize;
  if (modelFile === null) {
    if (q instanceof LCQuantizer)
      throw new Error("an 'lc' quantizer's codebook is the k-means centres of a trained tokenizer's latents: give --codebook-init-from <model file>");
    return null;
  }
  if (!(q instanceof LCQuantizer)) throw new Error("--codebook-init-from: the tokenizer's quantizer must be of type 'lc' (set model.quantizer in --config)");
  if (!existsSync(modelFile)) throw new Error(`--codebook-init-from: ${modelFile} not found`);
  return initCodebookFrom(target, modelFile, data, { seed: o.seed });
}
