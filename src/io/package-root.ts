// The one package-root lookup: the nearest directory above this module whose package.json is
// tessera's. Found from this module's own location, so it works from src/ (tsx), dist/src/ and an
// installed package alike, whatever the working directory. No engine import: the CLI uses it for
// --version and --help without loading libtorch.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageJson {
  name: string;
  version: string;
  description: string;
}

let found: { root: string; json: PackageJson } | undefined;

function find(): { root: string; json: PackageJson } {
  if (found !== undefined) return found;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++, d = dirname(d)) {
    const p = join(d, 'package.json');
    if (!existsSync(p)) continue;
    try {
      const j = JSON.parse(readFileSync(p, 'utf8')) as Partial<PackageJson>;
      if (j.name === 'tessera') return (found = { root: d, json: { name: j.name, version: String(j.version ?? ''), description: j.description ?? '' } });
    } catch {
      // not ours (or unreadable): keep looking
    }
  }
  throw new Error(`tessera's package.json not found above ${fileURLToPath(import.meta.url)}`);
}

/** The Tessera package root directory. */
export function packageRoot(): string {
  return find().root;
}

/** name, version and description from tessera's package.json. */
export function packageJson(): PackageJson {
  return { ...find().json };
}
