// Output safety shared by the commands that write images or tokens: an output never replaces one of
// the command's inputs (the same file, or a file of an input folder) unless --overwrite is given,
// and multi-file outputs are staged in a hidden folder beside the destination, so a failing command
// leaves nothing partial behind.
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from './args.js';

/** The canonical path of a file that may not exist yet (its folder resolved through symlinks when it exists). */
export function canonicalPath(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Whether a and b name the same file (also through hard links when both exist). */
export function sameFile(a: string, b: string): boolean {
  if (canonicalPath(a) === canonicalPath(b)) return true;
  try {
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/**
 * Refuses, before anything is written, an output that is one of the inputs:
 * "--out in.png is the --input image: writing it would destroy the original; choose another --out or pass --overwrite".
 */
export function refuseOverwritingInputs(
  out: string,
  inputs: readonly { flag: string; path: string; what: string }[],
  overwrite: boolean | undefined,
  outFlag = '--out',
): void {
  if (overwrite) return;
  for (const i of inputs) {
    if (sameFile(out, i.path)) {
      throw new UsageError(
        `${outFlag} ${out} is the ${i.flag} ${i.what}: writing it would destroy the original; choose another ${outFlag} or pass --overwrite`,
      );
    }
  }
}

/** Whether `p` is `dir` or inside it. */
export function isInside(p: string, dir: string): boolean {
  const r = relative(canonicalPath(dir), canonicalPath(p));
  return r === '' || (!r.startsWith('..') && !r.startsWith('/'));
}

/**
 * A hidden staging folder beside `dest` (".<name>.partial-<pid>"): files are written there and
 * moved into place by commit(), or removed by abort() when the command fails.
 */
export class Staging {
  readonly dir: string;
  constructor(readonly dest: string) {
    const d = resolve(dest);
    this.dir = join(dirname(d), `.${basename(d)}.partial-${process.pid}`);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  /** Path inside the staging folder for a destination-relative path. */
  path(rel: string): string {
    return join(this.dir, rel);
  }

  /** Replaces the destination folder by the staged one (the caller checked the old one may go). */
  commitFolder(): void {
    rmSync(this.dest, { recursive: true, force: true });
    renameSync(this.dir, resolve(this.dest));
  }

  /** Moves every staged file to the same relative path under the destination folder, then removes the staging folder. */
  commitInto(): void {
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(this.dir, rel))) {
        const r = join(rel, name);
        if (statSync(join(this.dir, r)).isDirectory()) walk(r);
        else {
          mkdirSync(dirname(join(this.dest, r)), { recursive: true });
          renameSync(join(this.dir, r), join(this.dest, r));
        }
      }
    };
    walk('');
    this.abort();
  }

  abort(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Files directly in `dir` that do not match `ours`, or subfolders (which a command's image folder never has). */
export function foreignEntries(dir: string, ours: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !(e.isFile() && ours.test(e.name)))
    .map((e) => e.name);
}
