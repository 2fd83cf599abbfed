// The project classifiers shipped in models/ (see models/README.md): which one measures which
// dataset, and where the package keeps them — found from this module's own location, so it works
// from src/ (tsx), dist/src/ and an installed package alike, whatever the working directory.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The Tessera package root: the nearest directory above this module holding tessera's package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++, d = dirname(d)) {
    const p = join(d, 'package.json');
    if (!existsSync(p)) continue;
    try {
      if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'tessera') return (root = d);
    } catch {
      // not ours: keep looking
    }
  }
  throw new Error(`tessera's package.json not found above ${fileURLToPath(import.meta.url)}`);
}

/**
 * The shipped classifier for a dataset spec: models/mnist-classifier.safetensors for 'mnist',
 * models/emoji-classifier.safetensors for any 'emoji:…'; undefined for folders (train one with
 * `tessera train classifier`). `exists` says whether the file is actually there.
 */
export function shippedClassifier(dataSpec: string): { path: string; exists: boolean } | undefined {
  const s = dataSpec.trim().toLowerCase();
  const file = s === 'mnist' ? 'mnist-classifier.safetensors' : s.startsWith('emoji:') || s === 'emoji' ? 'emoji-classifier.safetensors' : undefined;
  if (file === undefined) return undefined;
  const path = join(packageRoot(), 'models', file);
  return { path, exists: existsSync(path) };
}
