// Shared pieces of the tokenizer commands (train/eval tokenizer, encode, decode, reconstruct, info,
// import): loading a model file, reading images sized for it, token JSON, one-line error messages.
// Command modules import this lazily (await import) so `tessera --help` and `doctor` never load the
// native engine or sharp.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';
import * as T from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { StateDictError } from '../nn/index.js';
import { ensureDir, readSafetensorsHeader, writeFileAtomic } from '../io/index.js';
import { loadTokenizer, importTokenizer, saveTokenizer, type ImportKind } from '../tokenizers/index.js';
import type { ConvTokenizer } from '../tokenizers/index.js';
import { DatasetError, formatDatasetSpec, imageToTensor, parseDatasetSpec, readImage, type Dataset, type RawImage } from '../data/index.js';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';

/** The first line of a message (libtorch and sharp messages can span several). */
export function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return (i < 0 ? message : message.slice(0, i)).trimEnd();
}

/**
 * One line for any error. A StateDictError's message (already one line, from its one formatter) is
 * given without its "<model> from <file>: " prefix, which callers replace with their own context.
 */
export function describeError(e: unknown): string {
  if (e instanceof StateDictError && e.message.startsWith(`${e.where}: `)) return e.message.slice(e.where.length + 2);
  return firstLine(String((e as Error)?.message ?? e));
}

/** A one-line error for the user that keeps the original stack (printed with TESSERA_DEBUG=1). */
export function withMessage(cause: unknown, message: string): Error {
  const e = new Error(message, { cause });
  if (cause instanceof Error && cause.stack) e.stack = `${message}\n${cause.stack}`;
  return e;
}

/** Throws unless `path` is an existing regular file. */
/** Whether --input names a directory (else a file); a missing input is one line. */
export function inputIsDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    throw new Error(`input not found: ${path}`);
  }
}

export function requireFile(path: string, what: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${what} not found: ${path}`);
  }
  if (!st.isFile()) throw new Error(`${what} is not a file: ${path}`);
}

export function ensureParentDir(path: string): void {
  ensureDir(dirname(path));
}

/** Loads a tokenizer model file in eval mode, with one-line errors. */
export function loadModel(path: string): ConvTokenizer {
  requireFile(path, 'model file');
  let model: ConvTokenizer;
  try {
    model = loadTokenizer(path) as unknown as ConvTokenizer;
  } catch (e) {
    const msg = describeError(e);
    throw withMessage(e, msg.includes(path) ? msg : `cannot load model ${path}: ${msg}`);
  }
  model.eval();
  return model;
}

/** The nearest multiple of f (at least f). */
export const nearestMultiple = (n: number, f: number): number => Math.max(f, Math.round(n / f) * f);

/** An image whose size the model cannot tokenize (reconstruct counts these instead of stopping). */
export class ImageSizeError extends Error {
  override name = 'ImageSizeError';
}

/** An image file that could not be decoded (reconstruct skips and counts these in a directory). */
export class ImageReadError extends Error {
  override name = 'ImageReadError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read image ${path}: ${reason}`);
  }
}

export interface ModelImage {
  /** float32 [1, C, H, W] in [-1, 1]. */
  image: Tensor;
  /** Original width×height, and the size given to the model (different only with resize). */
  original: [number, number];
  size: [number, number];
}

async function resizeRaw(img: RawImage, width: number, height: number): Promise<RawImage> {
  const ch = img.channels as 1 | 2 | 3 | 4;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: ch } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/**
 * Reads an image for `model`: RGB (alpha composited on white) or grey to match its input channels.
 * A size that is not a multiple of the downsampling factor is an ImageSizeError unless `resize`,
 * which scales it to the nearest multiple.
 */
export async function readModelImage(path: string, model: ConvTokenizer, resize: boolean): Promise<ModelImage> {
  requireFile(path, 'image');
  let raw: RawImage;
  try {
    raw = await readImage(path, { channels: model.inChannels === 1 ? 1 : 3 });
  } catch (e) {
    throw new ImageReadError(path, describeError(e));
  }
  const f = model.downsample;
  const original: [number, number] = [raw.width, raw.height];
  let size = original;
  if (raw.width % f !== 0 || raw.height % f !== 0) {
    const target: [number, number] = [nearestMultiple(raw.width, f), nearestMultiple(raw.height, f)];
    if (!resize) {
      throw new ImageSizeError(
        `${path}: image size ${raw.width}×${raw.height} is not a multiple of the model's downsampling factor ${f}; ` +
          `pass --resize to resize it to ${target[0]}×${target[1]}`,
      );
    }
    raw = await resizeRaw(raw, target[0], target[1]);
    size = target;
  }
  const image = T.tidy(() => imageToTensor(raw).unsqueeze(0));
  return { image, original, size };
}

/** "note: resized a.png from 30×30 to 32×32 (…)" when readModelImage resized. */
export function resizeNote(path: string, m: ModelImage, f: number): string | undefined {
  if (m.original[0] === m.size[0] && m.original[1] === m.size[1]) return undefined;
  return `note: resized ${path} from ${m.original[0]}×${m.original[1]} to ${m.size[0]}×${m.size[1]} (nearest multiple of the downsampling factor ${f})`;
}

/** decode(encode(x)), clamped to [-1, 1]: exactly what the tokens represent. */
export function reconstruct(model: ConvTokenizer, images: Tensor): Tensor {
  return T.tidy(() => T.noGrad(() => model.decodeLevels(model.encodeLevels(images)).clamp(-1, 1)));
}

/** The trainer's deterministic train/val split, with a hint when --val-count does not fit the dataset. */
export function splitOrExplain(ds: Dataset, valCount: number): { train: Dataset; val: Dataset } {
  if (valCount >= ds.size) {
    throw new Error(`${ds.spec} has ${ds.size} images: --val-count ${valCount} leaves none for training; pass a smaller --val-count`);
  }
  try {
    return ds.split({ valCount });
  } catch (e) {
    if (e instanceof DatasetError) throw new Error(`${e.message}; pass a smaller --val-count`, { cause: e });
    throw e;
  }
}

// ------------------------------------------------------------------ token JSON

/** One token grid: `shape` [h, w] or [h, w, K], ids in raster order (row-major over shape). */
export interface TokenGrid {
  shape: number[];
  indices: number[];
}

/**
 * A token file's grids, one per model level (coarsest first). On disk a single-level file is
 * {"shape": [h, w], "indices": [...]}; a multi-level one (VQ-VAE-2) is
 * {"levels": [{"name": "top", "shape": [h, w], "indices": [...]}, {"name": "bottom", ...}]}.
 */
export interface TokenFile {
  levels: (TokenGrid & { name: string })[];
}

type LevelModel = Pick<ConvTokenizer, 'levels'>;

/** One int64 tensor per level ([1, h, w] or [1, h, w, K]) → the token file's JSON text. */
export function tokensToJson(model: LevelModel, levels: readonly Tensor[]): string {
  const grid = (t: Tensor): TokenGrid => ({ shape: t.shape.slice(1), indices: t.toArray() as number[] });
  if (levels.length === 1) return JSON.stringify(grid(levels[0]!)) + '\n';
  return JSON.stringify({ levels: levels.map((t, i) => ({ name: model.levels[i]!.name, ...grid(t) })) }) + '\n';
}

/** Parses and validates a token file for `model`; every problem is one line naming the file. */
export function parseTokens(text: string, path: string, model: LevelModel): TokenFile {
  const fail = (msg: string): never => {
    throw new Error(`${path}: ${msg}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${firstLine((e as Error).message)})`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const want = model.levels;
  const names = want.map((l) => `"${l.name}"`).join(', ');
  let grids: Record<string, unknown>[];
  if (want.length === 1) {
    if (!isObj(doc)) return fail('expected {"shape": [h, w] or [h, w, k], "indices": [...]}');
    grids = [doc];
  } else {
    const expected = `expected {"levels": [...]} with the levels ${names}, each {"name", "shape": [h, w], "indices": [...]}`;
    if (!isObj(doc) || !Array.isArray(doc.levels)) return fail(`this model has ${want.length} token levels: ${expected}`);
    const given = doc.levels as unknown[];
    if (!given.every(isObj)) return fail(expected);
    const byName = new Map(given.map((g) => [(g as Record<string, unknown>).name, g as Record<string, unknown>]));
    const missing = want.filter((l) => !byName.has(l.name)).map((l) => `'${l.name}'`);
    if (missing.length) return fail(`level ${missing.join(', ')} missing; this model's levels are ${names}`);
    const extra = given.map((g) => (g as Record<string, unknown>).name).filter((n) => !want.some((l) => l.name === n));
    if (extra.length) return fail(`unknown level ${extra.map((n) => JSON.stringify(n)).join(', ')}; this model's levels are ${names}`);
    grids = want.map((l) => byName.get(l.name)!);
  }
  const levels = grids.map((g, li) => {
    const info = want[li]!;
    const where = want.length > 1 ? `level '${info.name}': ` : '';
    const expected = 'expected {"shape": [h, w] or [h, w, k], "indices": [...]}';
    const { shape, indices } = g as { shape?: unknown; indices?: unknown };
    if (shape === undefined || indices === undefined) return fail(`${where}missing "${shape === undefined ? 'shape' : 'indices'}"; ${expected}`);
    if (!Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) || !shape.every((n) => Number.isInteger(n) && n > 0)) {
      return fail(`${where}"shape" must be [h, w] or [h, w, k] with positive integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(indices)) return fail(`${where}"indices" must be an array of token ids`);
    const k = info.tokensPerPosition;
    const perPos = shape.length === 3 ? (shape[2] as number) : 1;
    if (perPos !== k || (k > 1 && shape.length !== 3)) {
      const w = k === 1 ? '[h, w]' : `[h, w, ${k}]`;
      return fail(`${where}shape ${JSON.stringify(shape)} has ${perPos} token${perPos === 1 ? '' : 's'} per position but the model takes ${k} (shape ${w})`);
    }
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if (indices.length !== n) return fail(`${where}shape ${JSON.stringify(shape)} needs ${n} ids but "indices" has ${indices.length}`);
    const size = info.codebookSize;
    for (let i = 0; i < indices.length; i++) {
      const v = indices[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`${where}"indices"[${i}] is ${JSON.stringify(v)}, not an integer token id`);
      if (v < 0 || v >= size) return fail(`${where}"indices"[${i}] = ${v} is outside the codebook [0, ${size})`);
    }
    return { name: info.name, shape: shape as number[], indices: indices as number[] };
  });
  // Every level must describe the same image: grid × its factor agrees with the first (coarsest) level.
  const [h0, w0] = levels[0]!.shape as [number, number];
  const f0 = want[0]!.downsample;
  for (let i = 1; i < levels.length; i++) {
    const f = want[i]!.downsample;
    const [h, w] = levels[i]!.shape as [number, number];
    if (h * f !== h0 * f0 || w * f !== w0 * f0) {
      return fail(
        `the ${want[i]!.name} grid ${h}×${w} disagrees with the ${want[0]!.name} grid ${h0}×${w0}: for a ${w0 * f0}×${h0 * f0} image it must be ${(h0 * f0) / f}×${(w0 * f0) / f}`,
      );
    }
  }
  return { levels };
}

export function readTokens(path: string, model: LevelModel): TokenFile {
  requireFile(path, 'token file');
  return parseTokens(readFileSync(path, 'utf8'), path, model);
}

// ------------------------------------------------------------------ files and formatting

export function writeTextFile(path: string, text: string): void {
  ensureParentDir(path);
  writeFileAtomic(path, new TextEncoder().encode(text));
}

/**
 * `__metadata__` of a safetensors file, read from its header only (no tensor data), with the same
 * strict header checks as loading (duplicate keys, offsets). Errors are one line naming the file.
 */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsHeader(path).metadata;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Aligned "key  value" lines. */
export function printRows(ctx: CommandContext, rows: readonly (readonly [string, string])[]): void {
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) ctx.out(`${k.padEnd(w)}  ${v}`);
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

// ------------------------------------------------------------------ import

/** `tessera import taming|movq`: imports a checkpoint, writes the model file, reports what was dropped. */
export function runImport(kind: ImportKind, o: { checkpoint: string; config: string; out: string; ema?: boolean }, ctx: CommandContext): void {
  requireFile(o.checkpoint, 'checkpoint');
  requireFile(o.config, 'config');
  let result;
  try {
    result = importTokenizer(kind, o.checkpoint, o.config, { useEma: o.ema });
  } catch (e) {
    throw withMessage(e, `cannot import ${o.checkpoint}: ${describeError(e)}`);
  }
  const { model, dropped } = result;
  const loss = dropped.filter((k) => k.startsWith('loss.')).length;
  const ema = dropped.length - loss;
  if (loss) ctx.out(`dropped ${loss} loss.* entr${loss === 1 ? 'y' : 'ies'} (training loss: discriminator, LPIPS)`);
  if (ema)
    ctx.out(
      `dropped ${ema} EMA shadow entr${ema === 1 ? 'y' : 'ies'} (ema_*)${o.ema ? ', after loading them as the weights' : '; --ema uses them instead of the live weights'}`,
    );
  if (!dropped.length) ctx.out('dropped nothing: every checkpoint entry is a model weight');
  ensureParentDir(o.out);
  // Same provenance note as importCheckpoint(), which does not report the dropped keys.
  const base = o.checkpoint.split('/').pop()!;
  saveTokenizer(o.out, model, { imported_from: `${kind} checkpoint ${base}` });
  const f = model.downsample;
  ctx.out(
    `wrote ${o.out} (${formatBytes(statSync(o.out).size)}): ${model.kind}, ${formatCount(model.numParameters())} parameters, ` +
      `downsampling ${f}, ${model.codebookSize} codes, ${model.tokensPerPosition} token${model.tokensPerPosition === 1 ? '' : 's'} per position`,
  );
  model.dispose();
}

/** A --data spec in canonical form ('emoji:twitter,google' → 'emoji:google,twitter'); a bad spec is a usage error. */
export function canonicalDataSpec(spec: string): string {
  try {
    return formatDatasetSpec(parseDatasetSpec(spec));
  } catch (e) {
    if (e instanceof DatasetError) throw new UsageError(`--data: ${e.message}`);
    throw e;
  }
}
