// Crash-safe file writes: a reader sees either the old file or the complete new one, never a torn write.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes the chunks, in order, to `path.tmp-<pid>`, fsyncs it, then renames it over `path` (atomic on
 * POSIX). Chunks may come from generators, so large files are written without being assembled in memory.
 */
export function writeFileAtomic(path: string, ...chunks: (Uint8Array | Iterable<Uint8Array>)[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      for (const c of chunks) {
        for (const data of c instanceof Uint8Array ? [c] : c) {
          // writeSync may write less than asked (large buffers, some filesystems): loop.
          let off = 0;
          while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        }
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* the temp file may not exist */
    }
    throw e;
  }
  // Persist the rename itself; not every platform lets us fsync a directory, and that is harmless.
  try {
    const d = openSync(dirname(path), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* best effort */
  }
}
