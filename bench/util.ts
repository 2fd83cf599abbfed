import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLog } from '../src/train/run.js';

/** The repository root from a file under dist/bench or bench. */
export function repoRootFromHere(metaUrl: string): string {
  let d = dirname(fileURLToPath(metaUrl));
  while (d !== '/' && !d.endsWith('/dist')) d = dirname(d);
  return d === '/' ? dirname(dirname(fileURLToPath(metaUrl))) : dirname(d);
}

/** Training steps and their seconds in a run log, leaving out gaps over a minute per step (a stopped and resumed run); null when none. */
export function loggedSteps(path: string): { steps: number; seconds: number } | null {
  const rows = readLog(path);
  let steps = 0;
  let ms = 0;
  for (let i = 1; i < rows.length; i++) {
    const dt = rows[i]!.time! - rows[i - 1]!.time!;
    const ds = rows[i]!.step! - rows[i - 1]!.step!;
    if (ds > 0 && dt > 0 && dt < 60_000 * ds) {
      steps += ds;
      ms += dt;
    }
  }
  return ms > 0 ? { steps, seconds: ms / 1000 } : null;
}
