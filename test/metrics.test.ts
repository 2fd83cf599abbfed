// Image metrics against scikit-image's values (tools/fixtures/metrics.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { psnr, ssim, codebookUsage, l1 } from '../src/metrics/image.js';
import { loadJsonFixture } from './helpers.js';

const cases = loadJsonFixture<{ shape: number[]; a: number[]; b: number[]; psnr: number; ssim: number }[]>('metrics', 'skimage.json');

test('PSNR and SSIM match scikit-image to 1e-4', () => {
  for (const c of cases) {
    const a = T.tensor(c.a, { shape: c.shape, dtype: 'float64' });
    const b = T.tensor(c.b, { shape: c.shape, dtype: 'float64' });
    assert.ok(Math.abs(psnr(a, b) - c.psnr) < 1e-4, `psnr ${psnr(a, b)} vs ${c.psnr}`);
    assert.ok(Math.abs(ssim(a, b) - c.ssim) < 1e-4, `ssim ${ssim(a, b)} vs ${c.ssim}`);
  }
});

test('identical images: PSNR is infinite, SSIM is 1, L1 is 0; mismatched shapes are rejected', () => {
  const a = T.rand([2, 3, 16, 16]).mul(2).sub(1);
  assert.equal(psnr(a, a), Infinity);
  assert.ok(Math.abs(ssim(a, a) - 1) < 1e-9);
  assert.equal(l1(a, a), 0);
  assert.throws(() => psnr(a, T.zeros([2, 3, 16, 15])), /same shape/);
  assert.throws(() => ssim(T.zeros([1, 3, 8, 8]), T.zeros([1, 3, 8, 8])), /smaller than the 11×11 window/);
});

test('codebook usage: utilization and perplexity of a known distribution', () => {
  const u = codebookUsage([5, 5, 0, 0]);
  assert.equal(u.utilization, 0.5);
  assert.ok(Math.abs(u.perplexity - 2) < 1e-12);
  assert.ok(Math.abs(codebookUsage([1, 1, 1, 1]).perplexity - 4) < 1e-12);
});
