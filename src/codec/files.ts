// Files in, files out: what `tessera compress` / `decompress` (and a server) call per image.
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { listImageFiles, readImage, writePng } from '../data/images.js';
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

/** A directory run: the files (relative to the input directory) done and failed, with one-line reasons. */
export interface DirectoryResult<R> {
  done: { file: string; result: R }[];
  failed: { file: string; error: string }[];
}

/** Runs fn over files (relative to inDir), each to its own output; a file that fails is recorded and the rest go on. */
async function eachFile<R>(files: string[], fn: (rel: string) => Promise<R>): Promise<DirectoryResult<R>> {
  const out: DirectoryResult<R> = { done: [], failed: [] };
  for (const file of files) {
    try {
      out.done.push({ file, result: await fn(file) });
    } catch (e) {
      out.failed.push({ file, error: (e as Error).message.split('\n')[0]! });
    }
  }
  return out;
}

/** Compresses every image under inDir (recursively) into a mirror tree of .tsr files under outDir. */
export async function compressDirectory(
  codec: Codec,
  inDir: string,
  outDir: string,
  o: CompressOptions = {},
): Promise<DirectoryResult<CompressResult & { width: number; height: number }>> {
  const files = listImageFiles(inDir, resolve(outDir));
  if (!files.length) throw new CodecError(`no images found in ${inDir}`);
  return eachFile(files, (rel) => compressFile(codec, join(inDir, rel), join(outDir, rel.slice(0, rel.length - extname(rel).length) + '.tsr'), o));
}

/** Decompresses every .tsr file under inDir (recursively) into a mirror tree of PNGs under outDir. */
export async function decompressDirectory(codec: Codec, inDir: string, outDir: string, o: DecompressOptions = {}): Promise<DirectoryResult<DecompressResult>> {
  const files = (readdirSync(inDir, { recursive: true }) as string[]).filter((rel) => extname(rel) === '.tsr').sort();
  if (!files.length) throw new CodecError(`no .tsr files found in ${inDir}`);
  return eachFile(files, (rel) => decompressFile(codec, join(inDir, rel), join(outDir, rel.slice(0, -4) + '.png'), o));
}
