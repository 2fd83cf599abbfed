// The shared numeric comparison: the fixture tests are only as strict as assertClose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../src/torch/index.js';
import { assertClose } from './helpers.js';

const close = (a: number[], b: number[], atol?: number, rtol?: number): boolean => {
  try {
    assertClose(tensor(a, { dtype: 'float64' }), tensor(b, { dtype: 'float64' }), atol, rtol);
    return true;
  } catch (e) {
    if (!(e instanceof assert.AssertionError)) throw e;
    return false;
  }
};

test('assertClose: |a - b| <= atol + rtol·|b| elementwise', () => {
  assert.equal(close([1, 2, 3], [1, 2, 3]), true);
  assert.equal(close([1, 2, 3 + 2e-5], [1, 2, 3]), true); // 2e-5 <= 1e-5 + 3e-5
  assert.equal(close([1, 2, 3 + 5e-5], [1, 2, 3]), false);
  assert.equal(close([100.5], [100], 0, 1e-2), true);
  assert.equal(close([100.5], [100], 0.1, 0), false);
  assert.throws(() => assertClose(tensor([1, 2]), [1, 2, 3]), /shape mismatch/);
});

test('assertClose: NaN matches only NaN, ±Inf only the same infinity', () => {
  const { NaN: nan } = Number;
  const inf = Infinity;
  assert.equal(close([1, nan, inf, -inf], [1, nan, inf, -inf]), true);
  assert.equal(close([nan], [1]), false);
  assert.equal(close([1], [nan]), false);
  assert.equal(close([inf], [1e300]), false);
  assert.equal(close([1e300], [inf]), false); // rtol·|Inf| must not make everything close
  assert.equal(close([inf], [-inf]), false);
  assert.equal(close([nan], [inf]), false);
  assert.equal(close([inf], [nan], inf, inf), false); // even with infinite tolerances
  assert.equal(close([nan], [0], inf, 0), false);
});

test('assertClose: the failure names the count and the first offending pair', () => {
  assert.throws(
    () => assertClose(tensor([0, 1, NaN, 3]), [0, 1, 2, 4], 1e-5, 1e-5, 'fixture x:'),
    (e: Error) => /fixture x: 2 of 4 elements differ \(1 NaN\/Inf mismatches\); first at flat index 2: NaN vs 2/.test(e.message),
  );
});
