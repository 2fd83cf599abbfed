// Files in, files out: what `tessera compress` / `decompress` (and a server) call per image.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { readImage, writePng } from '../data/images.js';
import { limit } from '../data/limits.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CodecError, type Codec, type CompressOptions, type CompressResult, type DecompressOptions, type DecompressResult } from './codec.js';

/** Reads an image (RGB composited on white, or grey, as the model codes) and writes its .tsr stream atomically. */
export async function compressFile(
  codec: Codec,
  input: string,
  out: string,
  o: CompressOptions = {},
): Promise<CompressResult & { width: number; height: number }> {
  const img = await readImage(input, { channels: codec.channels });
  const r = codec.compress(img, o);
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, r.bytes);
  return { ...r, width: img.width, height: img.height };
}

/** Reads a .tsr stream and writes the decoded image as PNG atomically (nothing is written on error). */
export async function decompressFile(codec: Codec, input: string, out: string, o: DecompressOptions = {}): Promise<DecompressResult> {
  let size: number;
  try {
    size = statSync(input).size;
  } catch {
    throw new CodecError(`compressed file not found: ${input}`);
  }
  // Even uncompressed indices take under 4 bytes per pixel: anything larger is not a stream we wrote.
  if (size > limit('pixels') * 4) throw new CodecError(`${input}: ${size} bytes is larger than any stream of an image within TESSERA_MAX_PIXELS`);
  const r = codec.decompress(new Uint8Array(readFileSync(input)), o);
  await writePng(out, r.image);
  return r;
}
