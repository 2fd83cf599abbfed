// What the prior commands (sample, inpaint, outpaint) share: loading a prior model file, reading an
// input image at the model's size, class/box/mask parsing and the sampling flags.
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { readImage, imageToTensor, type RawImage } from '../data/images.js';
import { PriorModel, type GenerateOptions } from '../priors/index.js';
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

export function generateOptions(o: SamplingFlags): GenerateOptions {
  if (o.temperature !== undefined && o.temperature <= 0) throw new UsageError('--temperature must be > 0');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new UsageError('--top-p must be in (0, 1]');
  return {
    steps: o.steps,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    cfg: o.cfg,
    schedule: o.schedule,
    choiceTemperature: o.choiceTemperature,
    generator: new T.Generator(o.seed),
  };
}

/** --class: a name or id (case-insensitive), or 'none' for the null class. */
export function parseClass(pm: PriorModel, c: string | undefined): number | null | undefined {
  if (c === undefined) return undefined;
  if (c.toLowerCase() === 'none') return null;
  try {
    return pm.classIndex(c);
  } catch (e) {
    throw new UsageError(`--class: ${(e as Error).message}`);
  }
}

async function resizeTo(img: RawImage, w: number, h: number): Promise<RawImage> {
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 } })
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
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
    throw new Error(`cannot read image ${path}: ${describeError(e)}`);
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

/** A mask image (white = regenerate) → [H, W] in {0, 1}, resized to the image with nearest neighbour. */
export async function readMask(path: string, H: number, W: number): Promise<Tensor> {
  requireFile(path, 'mask image');
  let raw: RawImage;
  try {
    raw = await readImage(path, { channels: 1 });
  } catch (e) {
    throw new Error(`cannot read mask ${path}: ${describeError(e)}`);
  }
  if (raw.width !== W || raw.height !== H) {
    const { data } = await sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 1 } })
      .resize(W, H, { fit: 'fill', kernel: 'nearest' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    raw = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: W, height: H, channels: 1 };
  }
  const m = T.tidy(() => T.tensor(Uint8Array.from(raw.data), { shape: [H, W] }).ge(128).to('float32'));
  if (T.tidy(() => m.sum().item()) === 0) {
    m.dispose();
    throw new UsageError(`mask ${path} is empty: paint the region to regenerate white (≥ 128) on black`);
  }
  return m;
}
