// examples/generate.ts (shown verbatim in the README) runs on the shipped model and does what it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../examples/generate.js';
import { loadClassifier } from '../src/metrics/classifier.js';
import { repoRoot } from './helpers.js';

test('README shows examples/generate.ts verbatim', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  assert.ok(readme.includes(readFileSync(join(repoRoot, 'examples', 'generate.ts'), 'utf8').trim()), 'README.md must contain examples/generate.ts unchanged');
});

test('generate: class-conditional digits, an inpainting edit, tokens and back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-generate-'));
  try {
    const { images, edited, tokens, decoded, three } = await generate(join(repoRoot, 'models/mnist-maskgit.safetensors'), dir);
    assert.ok(existsSync(join(dir, 'digits.png')) && existsSync(join(dir, 'three-to-eight.png')));
    assert.deepEqual(images.shape, [20, 3, 28, 28]);
    assert.deepEqual(tokens.shape, [1, 7, 7]);
    assert.deepEqual(decoded.shape, [1, 3, 28, 28]);
    // The project's classifier recognises most samples as the digit asked for.
    const clf = loadClassifier(join(repoRoot, 'models/mnist-classifier.safetensors'));
    const got = clf.classify(images).classIds;
    const right = got.filter((c, i) => c === Math.floor(i / 2)).length;
    assert.ok(right >= 16, `only ${right} of 20 samples classified as their digit: ${got.join(' ')}`);
    // The edit kept the top rows (above the mask and its blend band) and changed the bottom.
    assert.ok(edited.index(0, ':', '0:11').equal(three.index(0, ':', '0:11')));
    assert.ok(
      edited
        .index(0, ':', '16:28')
        .sub(three.index(0, ':', '16:28'))
        .abs()
        .mean()
        .item() > 0.01,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
