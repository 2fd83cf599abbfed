// The one weight-file reader: recognises the container from its first bytes (never from the file
// name), reads safetensors or torch.save (zip or legacy) files, and reports file-system problems in the
// user's terms ("not found", "is a directory") instead of raw errno text.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Tensor } from '../torch/index.js';
import { FormatError, withLabel } from './errors.js';
import { SAFETENSORS_MAX_HEADER, parseSafetensors } from './safetensors.js';
import { loadTorchCheckpoint, stateDictFrom } from './torch-checkpoint.js';
import { isLegacyStream } from './torch-legacy.js';

/** What a file's first bytes say it is. */
export type WeightFileFormat = 'safetensors' | 'torch-zip' | 'torch-legacy' | 'unknown';

/** Enough for the zip magic, the legacy magic-number pickle and a safetensors header length. */
const SNIFF_BYTES = 4096;

/** The container format of `bytes` (a file's beginning is enough: see SNIFF_BYTES). */
export function sniffWeightBytes(bytes: Uint8Array): WeightFileFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'torch-zip';
  if (bytes.length >= 2 && isLegacyStream(bytes)) return 'torch-legacy';
  // safetensors: a plausible u64 LE header length, then a JSON object. (A header running past the end
  // of the file still counts: the safetensors reader then says it is truncated.)
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(SAFETENSORS_MAX_HEADER)) return 'safetensors';
  }
  return 'unknown';
}

/** The container format of the file at `path`, from its first bytes. */
export function sniffWeightFile(path: string, what = 'weight file'): WeightFileFormat {
  return fileOp(path, what, () => {
    const fd = openSync(path, 'r');
    try {
      const head = new Uint8Array(SNIFF_BYTES);
      const n = readSync(fd, head, 0, SNIFF_BYTES, 0);
      return sniffWeightBytes(head.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  });
}

/** A human name for a format, for messages ("a PyTorch checkpoint (torch.save)"). */
export function describeWeightFormat(f: WeightFileFormat): string {
  return f === 'safetensors'
    ? 'a safetensors file'
    : f === 'torch-zip' || f === 'torch-legacy'
      ? 'a PyTorch checkpoint (torch.save)'
      : 'neither a safetensors file nor a PyTorch checkpoint';
}

/**
 * Runs a file-system operation on `path`, turning its errno errors into one-line messages in the
 * user's terms: "<what> not found: <path>", "<what> is a directory, not a file: <path>", … Other
 * errors propagate unchanged.
 */
export function fileOp<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = fileErrorMessage(e, path, what);
    if (msg === undefined) throw e;
    throw new Error(msg, { cause: e });
  }
}

/** The user-facing message for an errno error on `path`, or undefined when `e` is not one. */
export function fileErrorMessage(e: unknown, path: string, what: string): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${what} not found: ${path}`;
    case 'EISDIR':
      return `${what} is a directory, not a file: ${path}`;
    case 'ENOTDIR':
      return `${what} not found: ${path} (a parent of it is a file, not a directory)`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read ${what} ${path}: permission denied`;
    case 'EEXIST':
      return `cannot create ${path}: a file of that name already exists`;
    case 'ENOSPC':
      return `cannot write ${path}: no space left on the device`;
    case 'EROFS':
      return `cannot write ${path}: the file system is read-only`;
    case 'ENAMETOOLONG':
      return `${what} path is too long: ${path.slice(0, 80)}…`;
    default:
      return undefined;
  }
}

/** Reads a whole regular file, with fileOp's messages (a directory is refused before reading). */
export function readWholeFile(path: string, what = 'file'): Uint8Array {
  return fileOp(path, what, () => {
    if (statSync(path).isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    return readFileSync(path);
  });
}

export interface WeightFile {
  /** The tensors (CPU; they join the caller's memory scope). For torch files: the state dict found in it. */
  tensors: Record<string, Tensor>;
  /** safetensors __metadata__ ({} for torch files). */
  metadata: Record<string, string>;
  format: Exclude<WeightFileFormat, 'unknown'>;
}

/**
 * Reads a weight file of any supported container: safetensors (strict header parsing), or torch.save in
 * the zip or legacy format (the state dict is located with stateDictFrom, `key`/`prefix` as there).
 * A file of neither kind is a FormatError saying so, whatever its extension.
 */
export function readWeightFile(path: string, opts: { what?: string; key?: string; prefix?: string } = {}): WeightFile {
  const what = opts.what ?? 'weight file';
  const bytes = readWholeFile(path, what);
  const format = sniffWeightBytes(bytes.subarray(0, SNIFF_BYTES));
  if (format === 'torch-zip' || format === 'torch-legacy') {
    const obj = loadTorchCheckpoint(bytes, { name: path });
    return { tensors: withLabel(`torch checkpoint ${path}`, () => stateDictFrom(obj, { key: opts.key, prefix: opts.prefix })), metadata: {}, format };
  }
  if (format === 'unknown') {
    throw new FormatError(`${what} ${path}: ${describeWeightFormat(format)} (expected .safetensors, or .pt/.pth/.ckpt from torch.save)`);
  }
  const { tensors, metadata } = parseSafetensors(bytes, { name: path });
  return { tensors, metadata, format };
}
