// The project classifiers shipped in models/ (see models/README.md): which one measures which
// dataset, and where the package keeps them (under the package root, src/io/package-root.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../io/package-root.js';

export { packageRoot };

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
