// On-disk cache of decoded datasets, so a second process starts in well under a second instead of
// re-decoding thousands of images. One file per (spec, fingerprint, side, channels):
//   "TSRDATA1" | u32 LE header length | header JSON | pixels (n·side·side·channels bytes, NHWC)
// The header carries a SHA-256 of the pixels: a truncated or bit-flipped file is detected and rebuilt.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

const MAGIC = 'TSRDATA1';
/** Bump when decoding changes (resampling, compositing…): old files then simply stop matching. */
export const CACHE_FORMAT = 1;

/** A decoded dataset: what the cache stores and what Dataset views read from. */
export interface Store {
  spec: string;
  n: number;
  side: number;
  channels: 1 | 3;
  /** [n, side, side, channels] uint8. */
  pixels: Uint8Array;
  labels: Int32Array;
  ids: string[];
  classNames: string[];
  labelled: boolean;
  /** Files that failed to decode when the store was built (kept so a cache hit warns the same way). */
  skipped: { count: number; first: string };
}

interface Header {
  format: number;
  key: string;
  spec: string;
  n: number;
  side: number;
  channels: 1 | 3;
  labels: number[];
  ids: string[];
  classNames: string[];
  labelled: boolean;
  skipped: { count: number; first: string };
  sha256: string;
}

/** `$TESSERA_CACHE/datasets`, else `$XDG_CACHE_HOME/tessera/datasets`, else `~/.cache/tessera/datasets`. */
export function defaultCacheDir(): string {
  const root = process.env.TESSERA_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tessera');
  return join(root, 'datasets');
}

/** The cache key: everything the decoded bytes depend on. */
export function cacheKey(parts: { spec: string; fingerprint: string; side: number; channels: number }): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, ...parts }))
    .digest('hex');
}

/** File name: a per-(spec, side, channels) prefix, so stale versions of the same dataset can be pruned. */
function filePrefix(spec: string, side: number, channels: number): string {
  const kind = spec.slice(0, spec.indexOf(':') < 0 ? spec.length : spec.indexOf(':'));
  const specHash = createHash('sha256').update(spec).digest('hex').slice(0, 10);
  return `${kind}-${specHash}-${side}px-${channels}c-`;
}

export function cachePath(dir: string, spec: string, side: number, channels: number, key: string): string {
  return join(dir, `${filePrefix(spec, side, channels)}${key.slice(0, 16)}.tds`);
}

/** readFileSync stops at 2 GiB; a cache of 10k photos at 256 px is about that, so read in chunks. */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafeSlow(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, Math.min(size - off, 1 << 30), off);
      if (n === 0) throw new Error('file shrank while being read');
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** The cached store, 'absent' (no file) or 'corrupt' (unreadable, truncated, wrong key or checksum). */
export function readCache(path: string, key: string): Store | 'absent' | 'corrupt' {
  let buf: Buffer;
  try {
    buf = readWhole(path);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'corrupt';
  }
  try {
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) return 'corrupt';
    const hlen = buf.readUInt32LE(8);
    if (12 + hlen > buf.length) return 'corrupt';
    const h = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as Header;
    if (h.format !== CACHE_FORMAT || h.key !== key) return 'corrupt';
    const bytes = h.n * h.side * h.side * h.channels;
    if (buf.length !== 12 + hlen + bytes || h.labels.length !== h.n || h.ids.length !== h.n) return 'corrupt';
    const pixels = new Uint8Array(buf.buffer, buf.byteOffset + 12 + hlen, bytes);
    if (createHash('sha256').update(pixels).digest('hex') !== h.sha256) return 'corrupt';
    return {
      spec: h.spec,
      n: h.n,
      side: h.side,
      channels: h.channels,
      pixels,
      labels: Int32Array.from(h.labels),
      ids: h.ids,
      classNames: h.classNames,
      labelled: h.labelled,
      skipped: h.skipped,
    };
  } catch {
    return 'corrupt'; // bad JSON, missing fields
  }
}

/** Writes atomically (readers see the old file or the whole new one) and prunes stale versions. */
export function writeCache(dir: string, path: string, key: string, store: Store): void {
  mkdirSync(dir, { recursive: true });
  const header: Header = {
    format: CACHE_FORMAT,
    key,
    spec: store.spec,
    n: store.n,
    side: store.side,
    channels: store.channels,
    labels: Array.from(store.labels),
    ids: store.ids,
    classNames: store.classNames,
    labelled: store.labelled,
    skipped: store.skipped,
    sha256: createHash('sha256').update(store.pixels).digest('hex'),
  };
  const hbytes = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(12);
  pre.write(MAGIC, 0, 'latin1');
  pre.writeUInt32LE(hbytes.length, 8);
  writeFileAtomic(path, pre, hbytes, store.pixels);
  // Older fingerprints of the same dataset (files since changed) would otherwise pile up forever.
  const prefix = filePrefix(store.spec, store.side, store.channels);
  const name = path.slice(path.lastIndexOf('/') + 1);
  for (const f of readdirSync(dir)) {
    if (f.startsWith(prefix) && f.endsWith('.tds') && f !== name) {
      try {
        unlinkSync(join(dir, f));
      } catch {
        /* another process may have removed it */
      }
    }
  }
}
