// Shared test utilities: fixture loading and numeric comparison.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { Tensor, tensor, type DType } from '../src/torch/index.js';

/** Repository root (works from dist/test and test/). */
export const repoRoot = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!d.endsWith('/dist') && d !== '/') d = dirname(d);
  return d === '/' ? dirname(dirname(fileURLToPath(import.meta.url))) : dirname(d);
})();

export const fixturePath = (...parts: string[]): string => join(repoRoot, 'test', 'fixtures', ...parts);

/** JSON fixture written by tools/fixtures/*.py. Tensors there are {shape, dtype, data}. */
export function loadJsonFixture<T = Record<string, unknown>>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), 'utf8')) as T;
}

export interface TensorJson {
  shape: number[];
  dtype: string;
  data: number[];
}
export function fromJson(t: TensorJson): Tensor {
  return tensor(t.data, { shape: t.shape, dtype: t.dtype as DType });
}

/** Max |a - b| over all elements, after broadcasting b to a's shape check. */
export function maxAbsDiff(a: Tensor, b: Tensor | TensorJson | number[]): number {
  const bb = b instanceof Tensor ? b : Array.isArray(b) ? tensor(b) : fromJson(b);
  assert.deepEqual(a.shape, bb.shape, `shape mismatch: [${a.shape}] vs [${bb.shape}]`);
  return a.double().sub(bb.double()).abs().max().item();
}

export function assertClose(a: Tensor, b: Tensor | TensorJson | number[], atol = 1e-5, rtol = 1e-5, what = ''): void {
  const bb = b instanceof Tensor ? b : Array.isArray(b) ? tensor(b) : fromJson(b);
  assert.deepEqual(a.shape, bb.shape, `${what} shape mismatch: [${a.shape}] vs [${bb.shape}]`);
  const diff = a.double().sub(bb.double()).abs();
  const tol = bb.double().abs().mul(rtol).add(atol);
  const bad = diff.gt(tol).sum().item();
  if (bad > 0) {
    assert.fail(`${what} ${bad} of ${a.numel} elements differ; max |diff| = ${diff.max().item()} (atol ${atol}, rtol ${rtol})`);
  }
}
