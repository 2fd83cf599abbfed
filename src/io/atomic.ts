// Crash-safe file writes: a reader sees either the old file or the complete new one, never a torn write.
// A writer killed mid-write (SIGKILL, power loss) leaves only its `<name>.tmp-<pid>` file behind;
// removeStaleTempFiles clears those once their process is gone.
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The temp file a write of `path` by this process goes through. */
export function tempPathFor(path: string, pid = process.pid): string {
  return `${path}.tmp-${pid}`;
}

const TEMP_NAME = /^(.+)\.tmp-(\d+)$/;

/**
 * Writes the chunks, in order, to `path.tmp-<pid>`, fsyncs it, then renames it over `path` (atomic on
 * POSIX). Chunks may come from generators, so large files are written without being assembled in memory.
 * File-system failures are one-line errors about `path` in the user's terms (never naming the temp file).
 */
export function writeFileAtomic(path: string, ...chunks: (Uint8Array | Iterable<Uint8Array>)[]): void {
  const tmp = tempPathFor(path);
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
    const msg = writeErrorMessage(e, path);
    if (msg !== undefined) throw new Error(msg, { cause: e });
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

/** A one-line message about writing `path` for an errno error, or undefined for other errors. */
export function writeErrorMessage(e: unknown, path: string): string | undefined {
  switch ((e as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return `cannot write ${path}: directory ${dirname(path)} does not exist`;
    case 'EISDIR':
      return `cannot write ${path}: it is a directory`;
    case 'ENOTDIR':
      return `cannot write ${path}: a parent of it is a file, not a directory`;
    case 'EACCES':
    case 'EPERM':
      return `cannot write ${path}: permission denied`;
    case 'ENOSPC':
      return `cannot write ${path}: no space left on the device`;
    case 'EDQUOT':
      return `cannot write ${path}: disk quota exceeded`;
    case 'EROFS':
      return `cannot write ${path}: the file system is read-only`;
    case 'ENAMETOOLONG':
      return `cannot write ${path}: the path is too long`;
    default:
      return undefined;
  }
}

/**
 * Creates `dir` and its parents (like mkdir -p). Failures are one line about `dir` in the user's terms:
 * "cannot create directory runs/a/b: runs/a is a file, not a directory", not EEXIST/ENOTDIR text.
 */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    let msg: string | undefined;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      // Some component of the path exists as a file: name it.
      let p = dir;
      for (; p !== dirname(p); p = dirname(p)) {
        try {
          if (!lstatSync(p).isDirectory()) break;
        } catch {
          /* does not exist: look further up */
        }
      }
      msg = `cannot create directory ${dir}: ${p === dirname(p) ? 'a part of the path' : p} is a file, not a directory`;
    } else if (code === 'EACCES' || code === 'EPERM') msg = `cannot create directory ${dir}: permission denied`;
    else if (code === 'EROFS') msg = `cannot create directory ${dir}: the file system is read-only`;
    else if (code === 'ENOSPC') msg = `cannot create directory ${dir}: no space left on the device`;
    if (msg === undefined) throw e;
    throw new Error(msg, { cause: e });
  }
}

/** Whether process `pid` is running (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `<name>.tmp-<pid>` files that writeFileAtomic left in `dir` when its process died
 * mid-write (SIGKILL, OOM kill, power loss). Files of processes that are still running are kept (they
 * may be writing right now), and so are this process's own. Returns the removed paths; a missing
 * directory removes nothing. Call it before writing into a directory that a killed run may have used.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || (pid > 0 && processAlive(pid))) continue;
    const p = join(dir, name);
    try {
      if (!lstatSync(p).isFile()) continue;
      unlinkSync(p);
      removed.push(p);
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}
