// The README's example is examples/quickstart.ts verbatim; this runs it and checks what it claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../src/torch/index.js';
import { quickstart } from '../examples/quickstart.js';
import { assertClose, fixturePath, fromJson, loadJsonFixture, repoRoot, type TensorJson } from './helpers.js';

test('README shows examples/quickstart.ts verbatim', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const example = readFileSync(join(repoRoot, 'examples', 'quickstart.ts'), 'utf8').trim();
  assert.ok(readme.includes(example), 'README.md must contain examples/quickstart.ts unchanged');
});

test('quickstart trains, round-trips through a model file, and loads a PyTorch state dict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-quickstart-'));
  try {
    const { accuracy, same, fromTorch } = quickstart(dir, fixturePath('quickstart', 'net.pt'));
    assert.ok(accuracy >= 0.95, `accuracy ${accuracy} after 100 steps`);
    assert.equal(same, true, 'reloaded model gives identical outputs');
    const fx = loadJsonFixture<{ input: TensorJson; output: TensorJson }>('quickstart', 'expected.json');
    noGrad(() => assertClose(fromTorch.forward(fromJson(fx.input)), fx.output, 1e-5, 1e-5, 'PyTorch-trained Net'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
