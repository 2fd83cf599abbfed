// What the prior commands (sample, inpaint, outpaint) share: loading a prior model file, reading an
// input image at the model's size, class/box/mask parsing and the sampling flags.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { readImage, imageToTensor, type RawImage } from '../data/images.js';
import { PriorModel, type GenerateOptions, type SamplingSettings } from '../priors/index.js';
import type { SamplingFlags } from './sampling-options.js';
import { UsageError } from './args.js';
import { describeError, requireFile, withMessage } from './tokenizer-common.js';
import sharp from 'sharp';

/** Loads a prior model file (prior + tokenizer) with one-line errors. */
export function loadPrior(path: string): PriorModel {
  requireFile(path, 'model file');
  try {
    return PriorModel.load(path);
  } catch (e) {
    const msg = describeError(e);
    throw withMessage(e, msg.includes(path) ? msg : `cannot load prior ${path}: ${msg}`);
  }
}

/** The sampling flags as library options: only the flags given (unset ones take the model's defaults). */
export function generateOptions(o: SamplingFlags): GenerateOptions {
  const g: GenerateOptions = { generator: new T.Generator(o.seed) };
  for (const k of ['steps', 'temperature', 'topK', 'topP', 'cfg', 'schedule', 'choiceTemperature', 'truncation'] as const) {
    if (o[k] !== undefined) (g as Record<string, unknown>)[k] = o[k];
  }
  if (o.purity) g.purity = true; // a boolean flag is false when absent: only a given --purity counts
  return g;
}

const FLAG: Record<string, string> = {
  steps: '--steps',
  cfg: '--cfg',
  temperature: '--temperature',
  topK: '--top-k',
  topP: '--top-p',
  schedule: '--schedule',
  choiceTemperature: '--choice-temperature',
  truncation: '--truncation',
  purity: '--purity',
  cache: '--no-cache',
};

/** A library error about an option → the flag the user typed ("option 'steps' does not apply" → "--steps …"). */
export function inFlagTerms(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const m = /option '(\w+)' does not apply to an? (.+?) prior/.exec(e.message);
  if (m && FLAG[m[1]!]) return new UsageError(`${FLAG[m[1]!]} does not apply to ${/^[aeiou]/i.test(m[2]!) ? 'an' : 'a'} ${m[2]} prior`);
  return e;
}

/**
 * "MaskGIT, 12 steps, guidance 3, temperature 1 (steps, guidance, temperature: the model's recommended
 * settings)" — what a sampling run used and where the settings came from.
 */
export function describeSettings(pm: PriorModel, s: SamplingSettings): string {
  const o = s.options;
  const head = {
    ar: () => `autoregressive${o.cache === false ? ', no cache' : ''}`,
    maskgit: () => `MaskGIT, ${o.steps ?? 8} steps`,
    diffusion: () => `VQ-Diffusion, ${o.steps ?? (pm.prior.config as { timesteps: number }).timesteps} steps`,
    hierarchical: () => `${pm.prior.label}${o.steps !== undefined ? `, ${o.steps} steps per level` : ''}`,
  }[pm.arch];
  const parts: string[] = [head()];
  const named: Record<string, string> = {
    steps: 'steps',
    cfg: 'guidance',
    temperature: 'temperature',
    topK: 'top-k',
    topP: 'top-p',
    schedule: 'schedule',
    choiceTemperature: 'choice temperature',
    truncation: 'truncation',
  };
  parts.push(o.cfg !== undefined && o.cfg !== 1 ? `guidance ${o.cfg}` : 'no guidance');
  if (o.temperature !== undefined) parts.push(`temperature ${o.temperature}`);
  if (o.topK !== undefined) parts.push(`top-k ${o.topK}`);
  if (o.topP !== undefined) parts.push(`top-p ${o.topP}`);
  if (o.schedule !== undefined) parts.push(`${o.schedule} schedule`);
  if (o.choiceTemperature !== undefined) parts.push(`choice temperature ${o.choiceTemperature}`);
  if (o.truncation !== undefined) parts.push(`truncation ${o.truncation}`);
  if (o.purity) parts.push('purity ordering');
  const from = s.fromModel.map((k) => named[k] ?? k);
  return parts.join(', ') + (from.length ? ` (${from.join(', ')} from the model file's recommended settings; flags override)` : '');
}

/** --class: a name or id (src/data/classes.ts), or 'none' for the null class. */
export function parseClass(pm: PriorModel, c: string | undefined): number | null | undefined {
  if (c === undefined) return undefined;
  if (c.trim().toLowerCase() === 'none') return null;
  try {
    return pm.classIndex(c);
  } catch (e) {
    throw new UsageError(`--class: ${(e as Error).message}`);
  }
}

/** Plain images [b, C, h, w] in [-1, 1] laid into one uint8 grid (torchvision's make_grid layout, black padding) batch by batch. */
export class GridCanvas {
  readonly image: RawImage;
  readonly cols: number;
  constructor(
    readonly count: number,
    nrow: number,
    readonly c: number,
    readonly h: number,
    readonly w: number,
    readonly pad = 2,
  ) {
    this.cols = Math.min(nrow, count);
    const rows = Math.ceil(count / this.cols);
    const gh = rows * (h + pad) + pad;
    const gw = this.cols * (w + pad) + pad;
    this.image = { data: new Uint8Array(gh * gw * c), width: gw, height: gh, channels: c };
  }

  /** Places image i (RawImage HWC of h×w×c). */
  put(i: number, img: RawImage): void {
    const { w, h, c, pad } = this;
    const y0 = pad + Math.floor(i / this.cols) * (h + pad);
    const x0 = pad + (i % this.cols) * (w + pad);
    for (let y = 0; y < h; y++) this.image.data.set(img.data.subarray(y * w * c, (y + 1) * w * c), ((y0 + y) * this.image.width + x0) * c);
  }
}

async function resizeTo(img: RawImage, w: number, h: number): Promise<RawImage> {
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 } })
    .resize(w, h, { fit: 'fill' })
    .toColourspace(img.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) throw new Error(`resize returned ${info.channels} channels for a ${img.channels}-channel image`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/** Reads an image as [1, C, H, W] in [-1, 1] for the model's channels, resized to w×h when given. */
export async function readImageFor(pm: PriorModel, path: string, size?: [number, number]): Promise<{ image: Tensor; resizedFrom?: [number, number] }> {
  requireFile(path, 'image');
  const channels = (pm.tokenizer as unknown as { inChannels: number }).inChannels === 1 ? 1 : 3;
  let raw: RawImage;
  try {
    raw = await readImage(path, { channels });
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${describeError(e)}`, { cause: e });
  }
  let resizedFrom: [number, number] | undefined;
  if (size && (raw.width !== size[0] || raw.height !== size[1])) {
    resizedFrom = [raw.width, raw.height];
    raw = await resizeTo(raw, size[0], size[1]);
  }
  return { image: T.tidy(() => imageToTensor(raw).unsqueeze(0)), resizedFrom };
}

/** --box x,y,w,h in pixels of the (model-sized) image → mask [H, W]. */
export function boxMask(box: string, H: number, W: number): Tensor {
  const parts = box.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  // Each part must be written as a whole number: Number('') is 0 (so '1,,2,3' passed as y = 0),
  // and Number also takes '0x10' and '1e1'.
  if (parts.length !== 4 || parts.some((s) => !/^-?\d+$/.test(s))) throw new UsageError(`--box must be x,y,w,h in whole pixels, got '${box}'`);
  const [x, y, w, h] = nums as [number, number, number, number];
  if (w <= 0 || h <= 0) throw new UsageError(`--box: width and height must be > 0, got ${w}×${h}`);
  if (x < 0 || y < 0 || x + w > W || y + h > H) throw new UsageError(`--box ${box} does not fit inside the ${W}×${H} image`);
  const m = T.zeros([H, W]);
  m.index(`${y}:${y + h}`, `${x}:${x + w}`).fill_(1);
  return m;
}

/**
 * A mask image (white = regenerate) → [H, W] in {0, 1}. Grey, RGB and RGBA files of any size: a pixel
 * counts when its luma times its opacity is ≥ 128 (transparent = black), then the mask is resized to
 * H×W with nearest neighbour.
 */
export async function readMask(path: string, H: number, W: number): Promise<Tensor> {
  requireFile(path, 'mask image');
  let raw: RawImage;
  try {
    raw = await readImage(path, { channels: 4 });
  } catch (e) {
    throw new Error(`cannot read mask ${path}: ${describeError(e)}`, { cause: e });
  }
  const bits = maskBits(raw, W, H);
  if (!bits.some((v) => v === 1)) throw new UsageError(`mask ${path} is empty: paint the region to regenerate white (≥ 128) on black`);
  return T.tensor(bits, { shape: [H, W] });
}

/** RGBA pixels → W×H bits (nearest neighbour): luma (BT.601) × alpha ≥ 128. */
export function maskBits(raw: RawImage, W: number, H: number): Float32Array {
  if (raw.channels !== 4) throw new Error(`maskBits: expected RGBA pixels, got ${raw.channels} channels`);
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(raw.height - 1, Math.floor(((y + 0.5) * raw.height) / H));
    for (let x = 0; x < W; x++) {
      const sx = Math.min(raw.width - 1, Math.floor(((x + 0.5) * raw.width) / W));
      const i = (sy * raw.width + sx) * 4;
      const d = raw.data;
      // Integer BT.601 luma ×1000 times alpha, against 127.5 (so grey 128 and up counts, as before).
      out[y * W + x] = (299 * d[i]! + 587 * d[i + 1]! + 114 * d[i + 2]!) * d[i + 3]! * 2 >= 255_000 * 255 ? 1 : 0;
    }
  }
  return out;
}
