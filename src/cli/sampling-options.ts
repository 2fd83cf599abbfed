// The sampling flags every prior command (sample, inpaint, outpaint, eval prior) takes. Plain
// option data with no engine imports: command modules import it statically, and `tessera --help`
// must not load libtorch (type-only imports are erased).
import type { GenerateOptions } from '../priors/index.js';

/** Sampling flags every prior command takes. */
export const samplingOptions = {
  steps: {
    type: 'number',
    integer: true,
    min: 1,
    help: "MaskGIT decoding steps, or VQ-Diffusion timesteps visited (default: the model's recommended setting, else MaskGIT 8 (12 for inpaint/outpaint), VQ-Diffusion all)",
  },
  temperature: { type: 'number', min: 0, exclusiveMin: true, help: "sampling temperature, > 0 (default: the model's recommended setting, else 1)" },
  topK: { type: 'number', integer: true, min: 0, help: 'sample among the k most likely tokens (default: all)' },
  topP: { type: 'number', min: 0, exclusiveMin: true, max: 1, help: 'nucleus sampling: the smallest set reaching probability p, in (0, 1] (default: 1)' },
  cfg: { type: 'number', min: 0, help: "classifier-free guidance scale (1 = none; default: the model's recommended setting, else 1)" },
  schedule: { type: 'enum', values: ['cosine', 'linear', 'square', 'cubic', 'log', 'exp'], help: 'MaskGIT mask schedule (default: cosine)' },
  choiceTemperature: { type: 'number', min: 0, help: 'MaskGIT: Gumbel noise on the confidences, τ (default: 4.5)' },
  truncation: { type: 'number', min: 0, exclusiveMin: true, max: 1, help: 'VQ-Diffusion: keep the likeliest x̃₀ codes up to probability r (default: 1, off)' },
  purity: { type: 'boolean', help: 'VQ-Diffusion: reveal the most confident masked tokens first (purity prior)' },
  seed: { type: 'number', integer: true, min: 0, default: 0, help: 'random seed: the same seed gives the same images' },
} as const;

export interface SamplingFlags {
  steps?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  cfg?: number;
  schedule?: GenerateOptions['schedule'];
  choiceTemperature?: number;
  truncation?: number;
  purity?: boolean;
  seed: number;
}
