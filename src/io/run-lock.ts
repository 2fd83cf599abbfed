// An exclusive lock on a run folder, so two processes never write the same run (two trainings on one
// --out would interleave checkpoints, logs and config.json). The lock is a file created atomically
// with its content (written to a private temp file, then hard-linked into place: link() fails if the
// lock exists), naming the holder's pid and host. A lock whose process is gone (crash, SIGKILL) is
// stale and is taken over.
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './atomic.js';

export const RUN_LOCK_FILE = '.tessera-lock';

/** Another live process holds the run folder. The message is one line naming its pid. */
export class RunLockedError extends Error {
  constructor(
    message: string,
    readonly holderPid: number,
  ) {
    super(message);
    this.name = 'RunLockedError';
  }
}

interface Holder {
  pid: number;
  host: string;
  started: string;
  what: string;
}

export interface RunLock {
  readonly path: string;
  /** Removes the lock (only if it is still ours). Safe to call twice. */
  release(): void;
}

function readHolder(path: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? { pid: h.pid, host: h.host, started: String(h.started), what: String(h.what) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock on `dir` (which must exist) for `what` (e.g. 'training'), or throws RunLockedError
 * naming the live holder. The lock is released by release() and, as a fallback, when the process exits.
 */
export function lockRun(dir: string, what: string): RunLock {
  const path = join(dir, RUN_LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), started: new Date().toISOString(), what };
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(me) + '\n');
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const h = readHolder(path);
      // A lock from another host cannot be checked: it counts as held. An unreadable one is taken over
      // (the content is in place from the start, so it can only be damaged, not half-written).
      const stale = h === undefined || (h.host === me.host && h.pid !== process.pid && !processAlive(h.pid));
      if (!stale || attempt >= 3) {
        const who = h ? `pid ${h.pid}${h.host !== me.host ? ` on ${h.host}` : ''}, ${h.what} since ${h.started}` : 'unknown holder';
        throw new RunLockedError(`${dir} is in use by another process (${who}); wait for it to finish or use another folder`, h?.pid ?? -1);
      }
      try {
        unlinkSync(path);
      } catch {
        /* another process took it over first: try again */
      }
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    if (readHolder(path)?.pid === process.pid) {
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', release);
  return { path, release };
}
