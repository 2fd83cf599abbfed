// Minimal, bounds-checked zip reader for torch.save archives. We read the central directory (the
// authoritative index) rather than scanning local headers, support STORED and DEFLATE entries and
// zip64 sizes/offsets, and verify CRC-32 on extraction. Entries are extracted lazily.
import * as zlib from 'node:zlib';
import { FormatError, oneLine, q } from './errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
/** Upper bound of DEFLATE's expansion ratio (258-byte matches coded in as little as 2 bits). */
const MAX_DEFLATE_RATIO = 1032;

// ---------------------------------------------------------------- CRC-32
let crcTable: Uint32Array | undefined;
/** zlib.crc32 exists from Node 20.15; the table version keeps older Node 20 working. */
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- reader
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  readonly #bytes: Uint8Array;
  readonly #dv: DataView;
  readonly #verifyCrc: boolean;

  constructor(bytes: Uint8Array, opts: { verifyCrc?: boolean } = {}) {
    this.#bytes = bytes;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#verifyCrc = opts.verifyCrc ?? true;
    this.#readCentralDirectory();
  }

  #u16(off: number): number {
    this.#need(off, 2);
    return this.#dv.getUint16(off, true);
  }
  #u32(off: number): number {
    this.#need(off, 4);
    return this.#dv.getUint32(off, true);
  }
  /** A u64 that must fit a JS number (anything larger cannot be an offset into an in-memory file). */
  #u64(off: number, what: string): number {
    this.#need(off, 8);
    const v = this.#dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`zip: ${what} ${v} is out of range`);
    return Number(v);
  }
  #need(off: number, len: number): void {
    if (off < 0 || off + len > this.#bytes.length) throw new FormatError(`zip: truncated (need bytes ${off}..${off + len} of ${this.#bytes.length})`);
  }

  #findEocd(): number {
    // The EOCD record is 22 bytes plus a comment of up to 65535 bytes, at the very end of the file.
    const len = this.#bytes.length;
    if (len < 22) throw new FormatError(`zip: file of ${len} bytes is too short to be a zip archive`);
    const stop = Math.max(0, len - 22 - 0xffff);
    for (let p = len - 22; p >= stop; p--) {
      // Require the comment length to reach exactly the end, so stray signature bytes in a comment
      // or in stored data do not fool us.
      if (this.#dv.getUint32(p, true) === SIG_EOCD && p + 22 + this.#dv.getUint16(p + 20, true) === len) return p;
    }
    throw new FormatError('zip: end of central directory record not found (not a zip file, or truncated)');
  }

  #readCentralDirectory(): void {
    const eocd = this.#findEocd();
    let count = this.#u16(eocd + 10);
    let cdSize = this.#u32(eocd + 12);
    let cdOffset = this.#u32(eocd + 16);
    if (this.#u16(eocd + 4) !== 0 && this.#u16(eocd + 4) !== 0xffff) throw new FormatError('zip: multi-disk archives are not supported');

    // zip64: a locator sits right before the EOCD and points at the zip64 EOCD record.
    const loc = eocd - 20;
    if (loc >= 0 && this.#u32(loc) === SIG_EOCD64_LOCATOR) {
      const rec = this.#u64(loc + 8, 'zip64 end record offset');
      if (this.#u32(rec) !== SIG_EOCD64) throw new FormatError(`zip: zip64 end record not found at offset ${rec}`);
      count = this.#u64(rec + 32, 'zip64 entry count');
      cdSize = this.#u64(rec + 40, 'zip64 central directory size');
      cdOffset = this.#u64(rec + 48, 'zip64 central directory offset');
    } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      throw new FormatError('zip: zip64 fields present but no zip64 end record locator');
    }
    if (cdOffset + cdSize > this.#bytes.length) {
      throw new FormatError(`zip: central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the ${this.#bytes.length}-byte file`);
    }
    // Every central header is at least 46 bytes, which bounds the loop by the directory size.
    if (count * 46 > cdSize) throw new FormatError(`zip: ${count} entries cannot fit a ${cdSize}-byte central directory`);

    const dec = new TextDecoder('utf-8');
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdOffset + cdSize) throw new FormatError(`zip: central directory entry ${i} runs past the directory end`);
      if (this.#u32(p) !== SIG_CENTRAL) throw new FormatError(`zip: bad central directory signature for entry ${i} at offset ${p}`);
      const flags = this.#u16(p + 8);
      const method = this.#u16(p + 10);
      const crc = this.#u32(p + 16);
      let csize = this.#u32(p + 20);
      let usize = this.#u32(p + 24);
      const nameLen = this.#u16(p + 28);
      const extraLen = this.#u16(p + 30);
      const commentLen = this.#u16(p + 32);
      let local = this.#u32(p + 42);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdOffset + cdSize) throw new FormatError(`zip: central directory entry ${i} runs past the directory end`);
      const name = dec.decode(this.#bytes.subarray(p + 46, p + 46 + nameLen));
      if (flags & 1) throw new FormatError(`zip: entry ${q(name)} is encrypted`);

      // zip64 extended information: only the saturated fields are present, in this fixed order.
      if (usize === 0xffffffff || csize === 0xffffffff || local === 0xffffffff) {
        let e = p + 46 + nameLen;
        const eEnd = e + extraLen;
        let found = false;
        while (e + 4 <= eEnd) {
          const id = this.#u16(e);
          const sz = this.#u16(e + 2);
          if (e + 4 + sz > eEnd) break;
          if (id === 0x0001) {
            let f = e + 4;
            const take = (what: string): number => {
              if (f + 8 > e + 4 + sz) throw new FormatError(`zip: entry ${q(name)} has a short zip64 extra field`);
              const v = this.#u64(f, what);
              f += 8;
              return v;
            };
            if (usize === 0xffffffff) usize = take('size');
            if (csize === 0xffffffff) csize = take('compressed size');
            if (local === 0xffffffff) local = take('local header offset');
            found = true;
            break;
          }
          e += 4 + sz;
        }
        if (!found) throw new FormatError(`zip: entry ${q(name)} needs a zip64 extra field but has none`);
      }
      if (this.entries.has(name)) throw new FormatError(`zip: duplicate entry ${q(name)}`);
      this.entries.set(name, { name, method, crc32: crc, compressedSize: csize, size: usize, localHeaderOffset: local });
      p = end;
    }
  }

  /**
   * The uncompressed bytes of an entry (a view into the archive for STORED entries). Sizes are checked
   * before anything is inflated: the declared size against `opts.expectedSize` (what the caller knows
   * the entry must hold, e.g. a storage's numel × itemsize) and `opts.maxSize`, and against what the
   * compressed bytes could possibly expand to; inflation is then capped at the declared size, so a
   * forged or corrupt entry costs at most what it honestly claims.
   */
  read(name: string, opts: { expectedSize?: number; maxSize?: number } = {}): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new FormatError(`zip: no entry ${q(name)}`);
    if (opts.expectedSize !== undefined && e.size !== opts.expectedSize) {
      throw new FormatError(`zip: entry ${q(name)} declares ${e.size} bytes, expected ${opts.expectedSize}`);
    }
    if (opts.maxSize !== undefined && e.size > opts.maxSize) {
      throw new FormatError(`zip: entry ${q(name)} declares ${e.size} bytes, more than the ${opts.maxSize} allowed`);
    }
    // DEFLATE expands at most ~1032:1 (RFC 1951: a 258-byte match per ≥ 2 bits); a larger claim is forged.
    if (e.method === 8 && e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) {
      throw new FormatError(
        `zip: entry ${q(name)} declares ${e.size} bytes, more than its ${e.compressedSize} compressed bytes can hold (corrupt or forged size)`,
      );
    }
    const lh = e.localHeaderOffset;
    if (this.#u32(lh) !== SIG_LOCAL) throw new FormatError(`zip: bad local header signature for ${q(name)} at offset ${lh}`);
    // The local name/extra lengths can differ from the central ones (torch pads the local extra
    // field to align tensor data), so the data offset must come from the local header.
    const start = lh + 30 + this.#u16(lh + 26) + this.#u16(lh + 28);
    if (start + e.compressedSize > this.#bytes.length) {
      throw new FormatError(`zip: data of ${q(name)} (${e.compressedSize} bytes at ${start}) runs past the end of the file`);
    }
    const raw = this.#bytes.subarray(start, start + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.size !== e.compressedSize) throw new FormatError(`zip: stored entry ${q(name)} has size ${e.size} but ${e.compressedSize} stored bytes`);
      out = raw;
    } else if (e.method === 8) {
      if (e.size > 0x7fffffff) throw new FormatError(`zip: compressed entry ${q(name)} of ${e.size} bytes is too large to inflate`);
      try {
        // maxOutputLength caps memory at the declared size, so a corrupt or hostile entry cannot balloon.
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new FormatError(`zip: ${q(name)} inflates to more than its declared ${e.size} bytes (corrupt file)`);
        }
        throw new FormatError(`zip: cannot inflate ${q(name)}: ${oneLine((err as Error).message)}`);
      }
      if (out.length !== e.size) throw new FormatError(`zip: ${q(name)} inflated to ${out.length} bytes, expected ${e.size}`);
    } else {
      throw new FormatError(`zip: entry ${q(name)} uses unsupported compression method ${e.method}`);
    }
    if (this.#verifyCrc && crc32(out) !== e.crc32) throw new FormatError(`zip: CRC-32 mismatch in ${q(name)} (corrupt file)`);
    return out;
  }
}
