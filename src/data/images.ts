// Image I/O between files, raw uint8 pixels and tensors. Conventions used across Tessera:
// - RawImage: uint8, row-major HWC (what sharp reads and writes).
// - Tensors: float32 CHW (or BCHW) with pixels in [-1, 1]: u8 u ↦ u / 127.5 − 1, so 0 ↦ −1 and 255 ↦ 1
//   exactly, and the inverse (rounded) recovers every byte.
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { Tensor, adaptiveAvgPool2d, fromBytes, interpolate, tensor, tidy } from '../torch/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { LimitError, checkLimit, limit } from './limits.js';

export interface RawImage {
  /** uint8 pixels, row-major HWC. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** uint8 → [-1, 1] lookup (a table is both faster and bit-identical everywhere). */
export const U8_TO_UNIT: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 127.5 - 1;
  return t;
})();

/** [-1, 1] → uint8, clamped and rounded. NaN maps to 0 rather than poisoning a PNG. */
export function unitToU8(v: number): number {
  const u = Math.round((v + 1) * 127.5);
  return u > 255 ? 255 : u >= 0 ? u : 0;
}

/** Composite target for transparent pixels: emoji and logos are drawn for light backgrounds. */
const WHITE = { r: 255, g: 255, b: 255 };

function pipeline(input: string | RawImage): sharp.Sharp {
  // autoOrient: phone JPEGs store rotation in EXIF; the pixels alone would come out sideways.
  // failOn 'warning' (sharp's default, made explicit) turns truncated files into errors instead of
  // half-grey images that would silently pollute a dataset.
  if (typeof input === 'string') return sharp(input, { autoOrient: true, failOn: 'warning' });
  checkRaw(input, 'image');
  return sharp(input.data, { raw: { width: input.width, height: input.height, channels: input.channels as 1 | 2 | 3 | 4 } });
}

function checkRaw(img: RawImage, what: string): void {
  const { width, height, channels, data } = img;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0 && [1, 2, 3, 4].includes(channels))) {
    throw new Error(`${what}: bad raw image geometry ${width}×${height}×${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new Error(`${what}: ${data.length} bytes for ${width}×${height}×${channels} (expected ${width * height * channels})`);
  }
}

function withChannels(s: sharp.Sharp, channels: 1 | 3 | 4): sharp.Sharp {
  if (channels === 4) return s.ensureAlpha().toColourspace('srgb');
  // Flatten before dropping alpha, so transparency becomes white rather than whatever colour the
  // invisible pixels happen to hold (often black).
  const flat = s.flatten({ background: WHITE });
  return channels === 1 ? flat.grayscale() : flat.removeAlpha().toColourspace('srgb');
}

async function toRaw(s: sharp.Sharp): Promise<RawImage> {
  const { data, info } = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/**
 * Reads a PNG/JPEG/WebP (anything sharp decodes) as uint8 HWC. `channels` forces 1 (grey), 3 (RGB) —
 * both composited on white — or 4 (RGBA); by default the file's own channel count is kept. Images
 * over `maxPixels` (default: the 'pixels' limit of limits.ts) are refused before decoding.
 */
export async function readImage(path: string, opts: { channels?: 1 | 3 | 4; maxPixels?: number } = {}): Promise<RawImage> {
  const s = pipeline(path);
  // Size guard before decoding: the header alone says how large the pixels will be.
  const meta = await s.metadata();
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (opts.maxPixels !== undefined ? pixels > opts.maxPixels : pixels > limit('pixels')) {
    if (opts.maxPixels !== undefined) throw new LimitError(`${meta.width}×${meta.height} image is over the limit of ${opts.maxPixels} pixels`);
    checkLimit('pixels', pixels, `the ${meta.width}×${meta.height} image`);
  }
  if (opts.channels) return toRaw(withChannels(s, opts.channels));
  // sharp converts to sRGB on output unless told otherwise: keep grey (± alpha) files grey.
  return toRaw((meta.channels ?? 3) <= 2 ? s.toColourspace('b-w') : s);
}

/**
 * Decodes to a side×side uint8 HWC square with 1 or 3 channels: alpha composited on white, shorter side
 * scaled to `side`, then centre-cropped (sharp's fit 'cover'). Throws on unreadable input.
 */
export async function decodeSquare(input: string | RawImage, side: number, channels: 1 | 3): Promise<Uint8Array> {
  const s = withChannels(pipeline(input), channels).resize(side, side, { fit: 'cover', position: 'centre' });
  const img = await toRaw(s);
  if (img.width !== side || img.height !== side || img.channels !== channels) {
    // Should not happen; a wrong-sized buffer would corrupt its neighbours in the dataset store.
    throw new Error(`decoded to ${img.width}×${img.height}×${img.channels}, expected ${side}×${side}×${channels}`);
  }
  return img.data;
}

/**
 * Resizes many same-sized square uint8 HWC images to side×side in a few libtorch calls — for in-memory
 * sources (MNIST), where one sharp call per 28 px image would cost ~1 ms each. Area averaging when
 * shrinking (antialiased, like Pillow's BOX), bicubic when enlarging; values rounded and clamped.
 * Returns [n, side, side, channels] uint8 (an exact copy when no resizing is needed).
 */
export function resizeSquares(images: readonly RawImage[], side: number): Uint8Array {
  const { width: w, channels: c } = images[0]!;
  for (const im of images) {
    if (im.width !== w || im.height !== w || im.channels !== c) throw new Error('resizeSquares: images must share one square size and channel count');
  }
  const per = side * side * c;
  const out = new Uint8Array(images.length * per);
  if (side === w) {
    images.forEach((im, i) => out.set(im.data, i * per)); // already the right size: exact copy
    return out;
  }
  const CHUNK = 1024; // bounds the float32 temporaries to a few tens of MB
  for (let start = 0; start < images.length; start += CHUNK) {
    const m = Math.min(CHUNK, images.length - start);
    const buf = new Uint8Array(m * w * w * c);
    for (let k = 0; k < m; k++) buf.set(images[start + k]!.data, k * w * w * c);
    const bytes = tidy(() => {
      const x = fromBytes(buf, [m, w, w, c], 'uint8').permute([0, 3, 1, 2]).float();
      const y = side < w ? adaptiveAvgPool2d(x, [side, side]) : interpolate(x, { size: [side, side], mode: 'bicubic' });
      return y.round().clamp(0, 255).to('uint8').permute([0, 2, 3, 1]).contiguous().data() as Uint8Array;
    });
    out.set(bytes, start * per);
  }
  return out;
}

/** A float [C,H,W] ([H,W] for grey) tensor in [-1, 1] → uint8 HWC image (values clamped). */
export function tensorToImage(t: Tensor): RawImage {
  const shape = t.shape;
  if (shape.length === 2) shape.unshift(1);
  const [c, h, w] = shape as [number, number, number];
  if (shape.length !== 3 || ![1, 3, 4].includes(c)) {
    throw new Error(`tensorToImage: expected [C,H,W] with C in {1,3,4} or [H,W], got [${t.shape.join(', ')}]`);
  }
  const src = tidy(() => t.detach().to('float32').data() as Float32Array);
  const out = new Uint8Array(c * h * w);
  const plane = h * w;
  // CHW → HWC.
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < plane; p++) out[p * c + ch] = unitToU8(src[ch * plane + p]!);
  }
  return { data: out, width: w, height: h, channels: c };
}

/** uint8 HWC image → float32 [C,H,W] tensor in [-1, 1]. */
export function imageToTensor(img: RawImage): Tensor {
  checkRaw(img, 'imageToTensor');
  const { data, width: w, height: h, channels: c } = img;
  const plane = h * w;
  const out = new Float32Array(c * plane);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < c; ch++) out[ch * plane + p] = U8_TO_UNIT[data[p * c + ch]!]!;
  }
  return tensor(out, { shape: [c, h, w] });
}

/**
 * Tiles a batch [B,C,H,W] into one [C, H', W'] image, `nrow` images per row with `padding` pixels
 * between and around them (torchvision's make_grid layout). `padValue` is in [-1, 1]; the default −1
 * is black, as in make_grid.
 */
export function imagesToGrid(batch: Tensor, opts: { nrow?: number; padding?: number; padValue?: number } = {}): Tensor {
  const shape = batch.shape;
  if (shape.length === 3) shape.unshift(1);
  if (shape.length !== 4) throw new Error(`imagesToGrid: expected [B,C,H,W], got [${batch.shape.join(', ')}]`);
  const [b, c, h, w] = shape as [number, number, number, number];
  if (b === 0) throw new Error('imagesToGrid: empty batch');
  const nrow = opts.nrow ?? 8;
  const pad = opts.padding ?? 2;
  if (!(Number.isInteger(nrow) && nrow > 0 && Number.isInteger(pad) && pad >= 0)) {
    throw new Error(`imagesToGrid: nrow must be a positive integer and padding a non-negative integer`);
  }
  const cols = Math.min(nrow, b);
  const rows = Math.ceil(b / cols);
  const gh = rows * (h + pad) + pad;
  const gw = cols * (w + pad) + pad;
  const src = tidy(() => batch.detach().to('float32').data() as Float32Array);
  const out = new Float32Array(c * gh * gw).fill(opts.padValue ?? -1);
  for (let i = 0; i < b; i++) {
    const y0 = pad + Math.floor(i / cols) * (h + pad);
    const x0 = pad + (i % cols) * (w + pad);
    for (let ch = 0; ch < c; ch++) {
      const s0 = (i * c + ch) * h * w;
      for (let y = 0; y < h; y++) {
        const so = s0 + y * w;
        out.set(src.subarray(so, so + w), ch * gh * gw + (y0 + y) * gw + x0);
      }
    }
  }
  return tensor(out, { shape: [c, gh, gw] });
}

/**
 * Writes a [C,H,W] / [H,W] tensor in [-1, 1] (or a RawImage) as PNG. Atomic: readers never see a
 * partial file. Parent directories are created.
 */
export async function writePng(path: string, image: Tensor | RawImage): Promise<void> {
  const img = image instanceof Tensor ? tensorToImage(image) : image;
  checkRaw(img, 'writePng');
  // Without 'b-w', sharp would write grey pixels as a 3-channel sRGB PNG.
  const s = img.channels <= 2 ? pipeline(img).toColourspace('b-w') : pipeline(img);
  const png = await s.png().toBuffer();
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, new Uint8Array(png.buffer, png.byteOffset, png.length));
}

/** File names taken as images when a directory is read. */
export const IMAGE_EXT = /\.(png|jpe?g|webp|gif|tiff?|avif)$/i;

/**
 * Image files under dir (recursive, sorted, hidden entries and the `exclude` path skipped), relative to
 * dir. Dangling links with image names are listed, so a caller counts them as unreadable.
 */
export function listImageFiles(dir: string, exclude?: string): string[] {
  const out: string[] = [];
  const skip = exclude === undefined ? undefined : resolve(exclude);
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (resolve(p) === skip) continue; // the output folder inside the input folder
      let st;
      try {
        st = statSync(p);
      } catch {
        if (IMAGE_EXT.test(name)) out.push(relative(dir, p));
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (IMAGE_EXT.test(name)) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}
