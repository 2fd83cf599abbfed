// The .tsr bitstream (version 1). Small images are coded in a few dozen bytes, so the header is
// compact: unsigned LEB128 varints (≤ 5 bytes, < 2^32) for sizes, little-endian fixed fields.
//   magic "TSR" and version          4 bytes ("TSR", 1)
//   mode                             u8: entropy mode (bits 0–1: 0 uniform, 1 static, 2 prior),
//                                    bit 2 set for 1 channel (else 3); other bits 0
//   model fingerprint                4 bytes (SHA-256 prefix of everything decoding depends on)
//   width, height                    varints (the original image size)
//   tile height, width               varints (pixels per tile; the image is padded to whole tiles or factors)
//   codebook size                    varint (codes in use: the full codebook or a tier)
//   segment count S                  varint (tiles × token levels)
//   per segment                      varint payload bytes, u32 CRC-32 of its decoded indices (as u32 LE)
//   header check                     u16: the low 16 bits of the CRC-32 of every byte before it (a
//                                    damaged size or mode is caught before decoding, not turned into
//                                    a wrongly sized image)
//   payloads                         the segments' rANS streams, back to back, nothing after
// A segment is one token level of one tile, coded independently, so damage stays inside it and
// `decompress --recover` can fill just the lost tokens.
import { CodecError } from './rans.js';
import { crc32 } from './crc32.js';
import { checkLimit } from '../data/limits.js';

export const MAGIC = 'TSR';
export const FORMAT_VERSION = 1;
export const ENTROPY_MODES = ['uniform', 'static', 'prior'] as const;
export type EntropyMode = (typeof ENTROPY_MODES)[number];
export const FINGERPRINT_BYTES = 4;

export interface StreamHeader {
  entropy: EntropyMode;
  channels: 1 | 3;
  fingerprint: Uint8Array;
  width: number;
  height: number;
  tile: [number, number];
  codebookSize: number;
}

export interface Segment {
  bytes: Uint8Array;
  crc: number;
}

function putVarint(out: number[], v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new CodecError(`cannot store ${v} in the stream header`);
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function putU32(out: number[], v: number): void {
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

export function writeStream(h: StreamHeader, segments: readonly Segment[]): Uint8Array {
  if (h.fingerprint.length !== FINGERPRINT_BYTES) throw new CodecError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`);
  const head: number[] = [...new TextEncoder().encode(MAGIC), FORMAT_VERSION, ENTROPY_MODES.indexOf(h.entropy) | (h.channels === 1 ? 4 : 0), ...h.fingerprint];
  for (const v of [h.width, h.height, h.tile[0], h.tile[1], h.codebookSize, segments.length]) putVarint(head, v);
  for (const s of segments) {
    putVarint(head, s.bytes.length);
    putU32(head, s.crc >>> 0);
  }
  const check = crc32(Uint8Array.from(head)) & 0xffff;
  head.push(check & 0xff, check >>> 8);
  const out = new Uint8Array(head.length + segments.reduce((a, s) => a + s.bytes.length, 0));
  out.set(head, 0);
  let o = head.length;
  for (const s of segments) {
    out.set(s.bytes, o);
    o += s.bytes.length;
  }
  return out;
}

/** Reads the header fields in order, failing with one line at the first byte that is missing. */
class HeaderReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  u8(): number {
    if (this.pos >= this.bytes.length) throw new CodecError(`truncated stream: the header ends after ${this.bytes.length} bytes`);
    return this.bytes[this.pos++]!;
  }
  varint(what: string): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (v >= 2 ** 32) break;
        return v;
      }
    }
    throw new CodecError(`corrupt header: ${what} is not a valid number`);
  }
  u32(): number {
    return (this.u8() | (this.u8() << 8) | (this.u8() << 16) | (this.u8() << 24)) >>> 0;
  }
}

/**
 * Parses and checks a stream's header and segment table; every size is checked against the bytes
 * actually present and the pixel limit before anything is allocated from it.
 */
export function readStream(bytes: Uint8Array): { header: StreamHeader; segments: Segment[] } {
  const r = new HeaderReader(bytes);
  if (bytes.length < 4 || new TextDecoder().decode(bytes.subarray(0, 3)) !== MAGIC)
    throw new CodecError('not a Tessera compressed image (.tsr): bad magic bytes');
  r.pos = 3;
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new CodecError(`unsupported .tsr version ${version} (this build reads version ${FORMAT_VERSION})`);
  const mode = r.u8();
  const entropy = ENTROPY_MODES[mode & 3];
  if (entropy === undefined || (mode & ~7) !== 0) throw new CodecError(`corrupt header: unknown mode byte ${mode}`);
  const channels = mode & 4 ? 1 : 3;
  const fingerprint = Uint8Array.from({ length: FINGERPRINT_BYTES }, () => r.u8());
  const width = r.varint('the width');
  const height = r.varint('the height');
  const tile: [number, number] = [r.varint('the tile height'), r.varint('the tile width')];
  const codebookSize = r.varint('the codebook size');
  const count = r.varint('the segment count');
  // Each segment takes at least 5 header bytes: a forged count cannot make us allocate.
  if (count * 5 > bytes.length - r.pos) throw new CodecError(`truncated stream: the header lists ${count} segments but the file ends first`);
  const lengths: number[] = [];
  const crcs: number[] = [];
  for (let i = 0; i < count; i++) {
    lengths.push(r.varint('a segment length'));
    crcs.push(r.u32());
  }
  const headEnd = r.pos;
  const check = r.u8() | (r.u8() << 8);
  if (check !== (crc32(bytes.subarray(0, headEnd)) & 0xffff)) throw new CodecError('corrupt header: its check bytes do not match');
  if (width < 1 || height < 1) throw new CodecError(`corrupt header: image size ${width}×${height}`);
  try {
    checkLimit('pixels', width * height, `the ${width}×${height} image in the stream`);
  } catch (e) {
    throw new CodecError(`corrupt header or oversized image: ${(e as Error).message}`);
  }
  if (tile[0] < 1 || tile[1] < 1) throw new CodecError(`corrupt header: tile ${tile.join('×')}`);
  if (codebookSize < 1) throw new CodecError('corrupt header: codebook size 0');
  const total = lengths.reduce((a, b) => a + b, 0);
  const start = r.pos;
  if (start + total > bytes.length) throw new CodecError(`truncated stream: ${bytes.length - start} payload bytes of ${total}`);
  if (start + total < bytes.length) throw new CodecError(`corrupt stream: ${bytes.length - start - total} bytes after the last segment`);
  const segments: Segment[] = [];
  let o = start;
  for (let i = 0; i < count; i++) {
    segments.push({ bytes: bytes.subarray(o, o + lengths[i]!), crc: crcs[i]! });
    o += lengths[i]!;
  }
  return { header: { entropy, channels, fingerprint, width, height, tile, codebookSize }, segments };
}

/** Bytes as lowercase hex (fingerprints in messages). */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
