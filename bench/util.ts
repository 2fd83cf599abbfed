import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root from a file under dist/bench or bench. */
export function repoRootFromHere(metaUrl: string): string {
  let d = dirname(fileURLToPath(metaUrl));
  while (d !== '/' && !d.endsWith('/dist')) d = dirname(d);
  return d === '/' ? dirname(dirname(fileURLToPath(metaUrl))) : dirname(d);
}
