// The feature-network interface the distribution metrics are computed on, and a helper that streams
// image batches through one.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { RunningGaussian } from './distribution.js';

export interface FeatureExtractor {
  /** Metric-name suffix: 'inception' gives FID; anything else gives e.g. 'FID-tessera-mnist'. */
  readonly name: string;
  readonly featureDim: number;
  readonly numClasses: number;
  /** images [B, C, H, W] in [-1, 1] (1 or 3 channels; resizes itself) → pooled features [B, D] and class logits [B, K]. */
  features(images: Tensor): { features: Tensor; logits: Tensor };
}

/** The name a Fréchet distance computed with `extractor` is reported under: 'FID' only for the standard Inception. */
export function fidName(extractor: Pick<FeatureExtractor, 'name'>): string {
  return extractor.name === 'inception' ? 'FID' : `FID-${extractor.name}`;
}

/** Features of an image set: streaming Gaussian statistics plus the features and logits themselves (float32, for KID, precision/recall and IS). */
export interface FeatureSet {
  gaussian: RunningGaussian;
  /** [N, D] float32 (kept: call dispose()). */
  features: Tensor;
  /** [N, K] float32 (kept: call dispose()). */
  logits: Tensor;
  count: number;
  dispose(): void;
}

/** Streams batches of [-1, 1] images through `extractor` (no grad, each batch freed as it goes). */
export function collectFeatures(extractor: FeatureExtractor, batches: Iterable<Tensor>, opts: { onBatch?: (done: number) => void } = {}): FeatureSet {
  const gaussian = new RunningGaussian(extractor.featureDim);
  const feats: Float32Array[] = [];
  const logits: Float32Array[] = [];
  let n = 0;
  for (const batch of batches) {
    T.tidy(() =>
      T.noGrad(() => {
        const out = extractor.features(batch);
        gaussian.update(out.features);
        feats.push(out.features.float().contiguous().data() as Float32Array);
        logits.push(out.logits.float().contiguous().data() as Float32Array);
        n += out.features.shape[0]!;
      }),
    );
    opts.onBatch?.(n);
  }
  const cat = (parts: Float32Array[], width: number): Tensor => {
    const all = new Float32Array(n * width);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return T.tensor(all, { shape: [n, width] }).keep();
  };
  const f = cat(feats, extractor.featureDim);
  const l = cat(logits, extractor.numClasses);
  return {
    gaussian,
    features: f,
    logits: l,
    count: n,
    dispose() {
      gaussian.dispose();
      f.dispose();
      l.dispose();
    },
  };
}
