// safetensors reader/writer (https://github.com/huggingface/safetensors), byte-compatible with the
// reference implementation:
//   [u64 LE header length N][N bytes of JSON header, space-padded to a multiple of 8][data buffer]
// Header: {"__metadata__": {str: str}?, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
// Offsets are relative to the data buffer, which the tensors must cover exactly, in order, without gaps.
// Like the reference writer we lay tensors out by descending dtype rank then name, so every tensor
// starts aligned to its element size (the buffer itself starts 8-aligned thanks to the padding).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { Tensor, fromBytes, type DType } from '../torch/index.js';
import { FormatError, q, withLabel } from './errors.js';
import { parseStrictJson, type JsonObject, type JsonValue } from './strict-json.js';
import { writeFileAtomic } from './atomic.js';

/** The reference implementation refuses headers above this size; so do we (bounds memory use). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

interface DtypeInfo {
  code: string;
  dtype: DType;
  size: number;
  /** Position in the reference `Dtype` enum (its serializer sorts on it, descending). */
  rank: number;
}
const DTYPES: readonly DtypeInfo[] = [
  { code: 'BOOL', dtype: 'bool', size: 1, rank: 0 },
  { code: 'U8', dtype: 'uint8', size: 1, rank: 1 },
  { code: 'I8', dtype: 'int8', size: 1, rank: 2 },
  { code: 'I16', dtype: 'int16', size: 2, rank: 5 },
  { code: 'F16', dtype: 'float16', size: 2, rank: 7 },
  { code: 'BF16', dtype: 'bfloat16', size: 2, rank: 8 },
  { code: 'I32', dtype: 'int32', size: 4, rank: 9 },
  { code: 'F32', dtype: 'float32', size: 4, rank: 11 },
  { code: 'F64', dtype: 'float64', size: 8, rank: 12 },
  { code: 'I64', dtype: 'int64', size: 8, rank: 13 },
];
const BY_CODE = new Map(DTYPES.map((d) => [d.code, d]));
const BY_DTYPE = new Map(DTYPES.map((d) => [d.dtype, d]));
/** Valid in the format but without a Tessera dtype: reported as unsupported rather than unknown. */
const UNSUPPORTED_CODES = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'C64', 'F4', 'F6_E2M3', 'F6_E3M2']);

const utf8 = new TextEncoder();

const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Byte order of UTF-8 strings, which is what the reference (Rust String) sorts by. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Serializes tensors (any device, any strides: bytes are taken contiguous) and optional string metadata.
 * The output is byte-identical to the reference `safetensors.serialize` (metadata keys in insertion order).
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const { header, items, size } = withLabel('safetensors', () => prepare(tensors, metadata));
  const out = new Uint8Array(size);
  out.set(header, 0);
  let p = header.length;
  for (const b of tensorBytes(items)) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

interface Item {
  name: string;
  tensor: Tensor;
  info: DtypeInfo;
  shape: number[];
  length: number;
}

/** Validates the input and builds the 8-byte length + padded JSON header; tensor bytes are fetched later. */
function prepare(tensors: Record<string, Tensor>, metadata?: Record<string, string>): { header: Uint8Array; items: Item[]; size: number } {
  const items: Item[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new FormatError(`'__metadata__' is reserved and cannot name a tensor`);
    if (!(t instanceof Tensor)) throw new FormatError(`value of ${q(name)} is not a Tensor`);
    const info = BY_DTYPE.get(t.dtype);
    if (!info) throw new FormatError(`tensor ${q(name)} has dtype ${t.dtype}, which safetensors cannot store`);
    const shape = t.shape;
    items.push({ name, tensor: t, info, shape, length: shape.reduce((a, b) => a * b, 1) * info.size });
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FormatError(`metadata ${q(k)} must be a string, got ${typeof v}`);
    }
  }
  items.sort((a, b) => b.info.rank - a.info.rank || compareUtf8(a.name, b.name));

  // Build the header by hand so key order is exactly: __metadata__, then tensors in layout order.
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const it of items) {
    const end = offset + it.length;
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.info.code}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);
  if (headerLen > SAFETENSORS_MAX_HEADER) throw new FormatError(`header of ${headerLen} bytes exceeds the ${SAFETENSORS_MAX_HEADER}-byte limit`);
  const header = new Uint8Array(8 + headerLen);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLen), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length); // space padding, as the reference does
  return { header, items, size: header.length + offset };
}

/** Each tensor's bytes in layout order, one at a time (so saving never holds two copies of the model). */
function* tensorBytes(items: Item[]): Generator<Uint8Array> {
  for (const it of items) {
    const b = it.tensor.bytes();
    if (b.length !== it.length) throw new Error(`safetensors: tensor ${q(it.name)} gave ${b.length} bytes, expected ${it.length}`);
    yield b;
  }
}

interface Entry {
  name: string;
  info: DtypeInfo;
  shape: number[];
  begin: number;
  end: number;
}

const isObj = (v: JsonValue | undefined): v is JsonObject => v instanceof Map;

/**
 * Parses and fully validates a safetensors file. Tensors are copied out of `bytes` (CPU, contiguous)
 * and returned in header order. `opts.name` (e.g. the file path) prefixes error messages.
 */
export function parseSafetensors(bytes: Uint8Array, opts: { name?: string } = {}): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const label = opts.name === undefined ? 'safetensors' : `safetensors: ${opts.name}`;
  return withLabel(label, () => {
    const { entries, metadata, dataStart } = readHeader(bytes);
    const tensors: Record<string, Tensor> = {};
    const made: Tensor[] = [];
    try {
      for (const e of entries) {
        const t = fromBytes(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.shape, e.info.dtype);
        made.push(t);
        // defineProperty: a tensor may legitimately be called "__proto__".
        Object.defineProperty(tensors, e.name, { value: t, enumerable: true, writable: true, configurable: true });
      }
    } catch (err) {
      for (const t of made) t.dispose();
      throw err;
    }
    return { tensors, metadata };
  });
}

function readHeader(bytes: Uint8Array): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const n = headerLength(bytes.subarray(0, 8), bytes.length);
  return { ...parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n), dataStart: 8 + n };
}

/** The JSON header's length from the first 8 bytes, checked against the file size. */
function headerLength(first8: Uint8Array, fileLength: number): number {
  if (first8.length < 8) throw new FormatError(`file of ${fileLength} bytes is too short for the 8-byte header length`);
  const n64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER)) throw new FormatError(`header length ${n64} exceeds the ${SAFETENSORS_MAX_HEADER}-byte limit`);
  const n = Number(n64);
  if (8 + n > fileLength) throw new FormatError(`header length ${n} runs past the end of the ${fileLength}-byte file`);
  return n;
}

/** Parses and checks the JSON header against a data buffer of `dataLen` bytes. */
function parseHeader(json: Uint8Array, dataLen: number): { entries: Entry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new FormatError('header is not valid UTF-8');
  }
  const root = parseStrictJson(text, 'header JSON');
  if (!isObj(root)) throw new FormatError('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of root) {
    if (name === '__metadata__') {
      if (v === null) continue;
      if (!isObj(v)) throw new FormatError('__metadata__ must be an object of strings');
      for (const [k, s] of v) {
        if (typeof s !== 'string') throw new FormatError(`__metadata__ ${q(k)} is not a string`);
        Object.defineProperty(metadata, k, { value: s, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    entries.push(readEntry(name, v));
  }

  // Coverage check exactly as the reference: sorted by offsets, each tensor starts where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin !== pos) {
      throw new FormatError(
        e.begin > pos
          ? `tensor ${q(e.name)} data_offsets [${e.begin}, ${e.end}] leave a gap: previous data ends at ${pos}`
          : `tensor ${q(e.name)} data_offsets [${e.begin}, ${e.end}] overlap data ending at ${pos}`,
      );
    }
    if (e.end > dataLen) throw new FormatError(`tensor ${q(e.name)} data_offsets [${e.begin}, ${e.end}] exceed the ${dataLen}-byte data buffer`);
    pos = e.end;
  }
  if (pos !== dataLen) throw new FormatError(`tensors cover ${pos} bytes but the data buffer has ${dataLen} (trailing or missing data)`);
  return { entries, metadata };
}

function readEntry(name: string, v: JsonValue): Entry {
  const where = `tensor ${q(name)}`;
  if (!isObj(v)) throw new FormatError(`${where}: entry is not an object`);
  const code = v.get('dtype');
  if (typeof code !== 'string') throw new FormatError(`${where}: missing or non-string dtype`);
  const info = BY_CODE.get(code);
  if (!info) {
    throw new FormatError(
      UNSUPPORTED_CODES.has(code) ? `${where}: dtype ${code} is not supported by Tessera` : `${where}: unknown dtype ${JSON.stringify(code)}`,
    );
  }
  const shape = v.get('shape');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(`${where}: shape must be an array of non-negative integers`);
  }
  const dims = shape as number[];
  const offs = v.get('data_offsets');
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(`${where}: data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) throw new FormatError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  let numel = 1;
  for (const d of dims) {
    numel *= d;
    if (numel > Number.MAX_SAFE_INTEGER) throw new FormatError(`${where}: shape ${fmtShape(dims)} is too large`);
  }
  const need = numel * info.size;
  if (end - begin !== need) {
    throw new FormatError(`${where} data_offsets [${begin}, ${end}] need ${need} bytes for ${info.dtype}${fmtShape(dims)}`);
  }
  return { name, info, shape: dims, begin, end };
}

/** Writes a safetensors file atomically (temp file, fsync, rename). */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const { header, items } = withLabel(`safetensors: ${path}`, () => prepare(tensors, metadata));
  writeFileAtomic(path, [header], tensorBytes(items));
}

export function loadSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  return parseSafetensors(readFileSync(path), { name: path });
}

/** What a safetensors header says about one tensor. */
export interface SafetensorsTensorInfo {
  dtype: DType;
  shape: number[];
}

/**
 * Reads and fully validates only the header of a safetensors file (no tensor data is read): the
 * metadata and each tensor's dtype and shape, in header order. Same checks and messages as loading.
 */
export function readSafetensorsHeader(path: string): { metadata: Record<string, string>; tensors: Record<string, SafetensorsTensorInfo> } {
  return withLabel(`safetensors: ${path}`, () => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const first8 = new Uint8Array(Math.min(8, size));
      readFully(fd, first8, 0);
      const n = headerLength(first8, size);
      const json = new Uint8Array(n);
      readFully(fd, json, 8);
      const { entries, metadata } = parseHeader(json, size - 8 - n);
      const tensors: Record<string, SafetensorsTensorInfo> = {};
      for (const e of entries)
        Object.defineProperty(tensors, e.name, { value: { dtype: e.info.dtype, shape: e.shape }, enumerable: true, writable: true, configurable: true });
      return { metadata, tensors };
    } finally {
      closeSync(fd);
    }
  });
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new FormatError(`file ends inside the header (at byte ${position + off})`);
    off += n;
  }
}
