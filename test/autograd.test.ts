// Autograd: float64 finite-difference checks of the backward formulas Tessera relies on, and the
// semantics of backward / autograd.grad / detach / noGrad / .grad bookkeeping.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';

const f64 = (shape: number[], seed: number, scale = 1): Tensor => T.randn(shape, new T.Generator(seed), { dtype: 'float64' }).mul(scale);
const allClose = (a: Tensor, b: Tensor, tol = 1e-12): boolean => T.allclose(a.double(), b.double(), tol, tol);

/**
 * Central differences (eps 1e-6) of L = Σ f(inputs)·r for a fixed random r, against autograd's
 * gradients, for every element of every input in `check` (all inputs by default).
 * Tolerance: |analytic − numeric| ≤ 1e-6·max(1, |numeric|).
 */
function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], check: number[] = inputs.map((_, i) => i)): void {
  T.tidy(() => {
    const eps = 1e-6;
    const leaves = inputs.map((x, i) => {
      const l = x.detach().clone();
      if (check.includes(i)) l.requiresGrad = true;
      return l;
    });
    const out = f(...leaves);
    const r = T.randn(out.shape, new T.Generator(99), { dtype: 'float64' });
    const grads = T.autograd.grad(
      out.mul(r).sum(),
      check.map((i) => leaves[i]!),
    );
    const loss = (xs: Tensor[]): number =>
      T.tidy(() =>
        T.noGrad(() =>
          f(...xs)
            .mul(r)
            .sum()
            .item(),
        ),
      );
    check.forEach((i, k) => {
      const base = inputs[i]!.detach().contiguous().data() as Float64Array;
      const analytic = grads[k] ? (grads[k]!.contiguous().data() as Float64Array) : new Float64Array(base.length);
      for (let j = 0; j < base.length; j++) {
        const at = (delta: number): number => {
          const d = Float64Array.from(base);
          d[j]! += delta;
          const xs = leaves.map((l, m) => (m === i ? T.tensor(d, { shape: inputs[i]!.shape }) : l.detach()));
          return loss(xs);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const a = analytic[j]!;
        assert.ok(Math.abs(a - numeric) <= 1e-6 * Math.max(1, Math.abs(numeric)), `input ${i}, element ${j}: autograd ${a} vs finite difference ${numeric}`);
      }
    });
  });
}

describe('finite-difference gradient checks (float64)', () => {
  test('conv2d: stride, padding, dilation, groups, bias', () => {
    gradcheck((x, w, b) => T.conv2d(x, w, b, 1, 1), [f64([1, 2, 5, 5], 1), f64([3, 2, 3, 3], 2), f64([3], 3)]);
    gradcheck((x, w, b) => T.conv2d(x, w, b, [2, 1], [1, 0], 1), [f64([1, 2, 6, 5], 4), f64([2, 2, 3, 2], 5), f64([2], 6)]);
    gradcheck((x, w) => T.conv2d(x, w, null, 1, 2, 2, 2), [f64([1, 4, 6, 6], 7), f64([4, 2, 3, 3], 8)]);
  });

  test('conv_transpose2d: stride, padding, output padding, groups, dilation', () => {
    gradcheck((x, w, b) => T.convTranspose2d(x, w, b, 2, 1, 1), [f64([1, 2, 3, 3], 9), f64([2, 3, 3, 3], 10), f64([3], 11)]);
    gradcheck((x, w) => T.convTranspose2d(x, w, null, 1, 0, 0, 2, 2), [f64([1, 4, 3, 3], 12), f64([4, 1, 2, 2], 13)]);
  });

  test('group_norm and layer_norm (with affine parameters)', () => {
    gradcheck((x, w, b) => T.groupNorm(x, 2, w, b), [f64([2, 4, 3, 2], 14, 2), f64([4], 15), f64([4], 16)]);
    gradcheck((x, w, b) => T.layerNorm(x, [3, 4], w, b), [f64([2, 3, 4], 17, 2), f64([3, 4], 18), f64([3, 4], 19)]);
  });

  test('linear, matmul, bmm, einsum', () => {
    gradcheck((x, w, b) => T.linear(x, w, b), [f64([2, 3, 4], 20), f64([5, 4], 21), f64([5], 22)]);
    gradcheck((a, b) => T.matmul(a, b), [f64([2, 1, 3, 4], 23), f64([3, 4, 2], 24)]);
    gradcheck((a, b) => T.bmm(a, b), [f64([2, 3, 4], 25), f64([2, 4, 2], 26)]);
    gradcheck((a, b) => T.einsum('bhqd,bhkd->bhqk', [a, b]), [f64([1, 2, 3, 4], 27), f64([1, 2, 5, 4], 28)]);
    gradcheck((a) => T.einsum('ii->i', [a]), [f64([3, 3], 29)]);
  });

  test('softmax and log_softmax', () => {
    gradcheck((x) => x.softmax(1), [f64([2, 5, 3], 30, 2)]);
    gradcheck((x) => x.logSoftmax(-1), [f64([3, 6], 31, 2)]);
  });

  test('cross_entropy: plain, class weights + ignore_index + label smoothing, soft targets', () => {
    const target = T.tensor([0, 3, -100, 1, 2], { dtype: 'int64' });
    const w = T.tensor([0.5, 1, 2, 1.5], { dtype: 'float64' });
    gradcheck((x) => T.crossEntropy(x, target), [f64([5, 4], 32, 2)]);
    gradcheck((x) => T.crossEntropy(x, target, w, 'mean', -100, 0.1), [f64([5, 4], 33, 2)]);
    gradcheck((x) => T.crossEntropy(x, target, w, 'none', -100, 0.2), [f64([5, 4], 34, 2)]);
    const soft = f64([3, 4], 35).softmax(1);
    gradcheck((x, p) => T.crossEntropy(x, p, null, 'mean', -100, 0.3), [f64([3, 4], 36), soft]);
  });

  test('interpolate bilinear (both align_corners), pad reflect', () => {
    gradcheck((x) => T.interpolate(x, { size: [5, 7], mode: 'bilinear' }), [f64([1, 2, 3, 4], 37)]);
    gradcheck((x) => T.interpolate(x, { scaleFactor: 1.5, mode: 'bilinear', alignCorners: true }), [f64([1, 1, 4, 3], 38)]);
    gradcheck((x) => T.pad(x, [1, 2, 2, 1], 'reflect'), [f64([1, 2, 4, 5], 39)]);
  });

  test('gather / scatter / scatter_add / index_select / advanced indexing / masked_fill', () => {
    const idx = T.tensor(
      [
        [0, 0],
        [3, 1],
        [2, 2],
      ],
      { dtype: 'int64' },
    );
    gradcheck((x) => T.gather(x, 1, idx), [f64([3, 4], 40)]);
    const sidx = T.tensor(
      [
        [0, 2],
        [1, 3],
        [3, 0],
      ],
      { dtype: 'int64' },
    );
    gradcheck((x, s) => T.scatter(x, 1, sidx, s), [f64([3, 4], 41), f64([3, 2], 42)]);
    const aidx = T.tensor(
      [
        [0, 0, 1],
        [3, 3, 3],
        [2, 1, 2],
      ],
      { dtype: 'int64' },
    );
    gradcheck((x, s) => T.scatterAdd(x, 1, aidx, s), [f64([3, 4], 43), f64([3, 3], 44)]);
    gradcheck((x) => T.indexSelect(x, 0, T.tensor([2, 0, 2], { dtype: 'int64' })), [f64([3, 4], 45)]);
    gradcheck((x) => x.index(T.tensor([1, 0, 1], { dtype: 'int64' }), '1:'), [f64([2, 3, 4], 46)]);
    const mask = T.tensor([true, false, true, false]);
    gradcheck((x) => x.maskedFill(mask, 0.5), [f64([3, 4], 47)]);
    gradcheck((x, v) => x.mul(1).indexPut([':', 1], v), [f64([3, 4], 48), f64([3], 49)]);
  });

  test('embedding, batch_norm (training), max_pool2d, cdist', () => {
    gradcheck(
      (w) =>
        T.embedding(
          w,
          T.tensor(
            [
              [0, 2, 4],
              [2, 2, 1],
            ],
            { dtype: 'int64' },
          ),
        ),
      [f64([5, 3], 50)],
    );
    gradcheck((x, w, b) => T.batchNorm(x, w, b, null, null, true, 0.1, 1e-5), [f64([4, 3, 2, 2], 51), f64([3], 52), f64([3], 53)]);
    gradcheck((x) => T.maxPool2d(x, 3, 2, 1), [f64([1, 2, 5, 6], 54)]);
    gradcheck((a, b) => T.cdist(a, b), [f64([4, 3], 55), f64([5, 3], 56)]);
  });
});

describe('backward', () => {
  test('with an explicit gradient for a non-scalar output', () => {
    T.tidy(() => {
      const x = T.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      const y = x.mul(x);
      y.backward(T.tensor([1, 0.5, -2], { dtype: 'float64' }));
      assert.deepEqual(x.grad!.toArray(), [2, 2, -12]);
    });
  });

  test('a non-scalar output without a gradient throws', () => {
    T.tidy(() => {
      const x = T.ones([3], { requiresGrad: true });
      assert.throws(() => x.mul(2).backward(), /only for scalar outputs/);
    });
  });

  test('retainGraph allows a second pass, which accumulates', () => {
    T.tidy(() => {
      const x = T.tensor([1, -2], { dtype: 'float64', requiresGrad: true });
      const y = x.pow(3).sum();
      y.backward(undefined, { retainGraph: true });
      assert.deepEqual(x.grad!.toArray(), [3, 12]);
      y.backward();
      assert.deepEqual(x.grad!.toArray(), [6, 24]);
    });
  });

  test('a second pass without retainGraph throws a readable error', () => {
    T.tidy(() => {
      const x = T.tensor([1, 2], { requiresGrad: true });
      const y = x.mul(x).sum();
      y.backward();
      assert.throws(() => y.backward(), /second time/);
    });
  });

  test('.grad accumulates across backward calls and resets', () => {
    T.tidy(() => {
      const x = T.tensor([1, 2, 3], { requiresGrad: true });
      x.mul(2).sum().backward();
      x.mul(2).sum().backward();
      assert.deepEqual(x.grad!.toArray(), [4, 4, 4]);
      x.grad = undefined;
      assert.equal(x.grad, undefined);
      x.mul(3).sum().backward();
      assert.deepEqual(x.grad!.toArray(), [3, 3, 3]);
      x.grad!.zero_(); // zeroing in place (optimizer.zeroGrad style) keeps the buffer
      assert.deepEqual(x.grad!.toArray(), [0, 0, 0]);
      x.sum().backward();
      assert.deepEqual(x.grad!.toArray(), [1, 1, 1]);
    });
  });

  test('non-leaf tensors get no .grad; leaves do', () => {
    T.tidy(() => {
      const x = T.tensor([1, 2], { requiresGrad: true });
      const h = x.mul(2);
      h.sum().backward();
      assert.equal(h.grad, undefined);
      assert.ok(x.grad);
    });
  });

  test('createGraph gives differentiable gradients (second derivative)', () => {
    T.tidy(() => {
      const x = T.tensor([1, -2, 0.5], { dtype: 'float64', requiresGrad: true });
      const [g] = T.autograd.grad(x.pow(3).sum(), [x], { createGraph: true });
      assert.ok(g!.requiresGrad);
      assert.ok(allClose(g!, x.detach().pow(2).mul(3)));
      g!.sum().backward();
      assert.ok(allClose(x.grad!, x.detach().mul(6)));
    });
  });
});

describe('autograd.grad', () => {
  test('at an intermediate layer leaves every .grad untouched', () => {
    T.tidy(() => {
      const x = f64([4, 3], 60);
      const w1 = f64([5, 3], 61).requiresGrad_();
      const w2 = f64([2, 5], 62).requiresGrad_();
      x.requiresGrad = true;
      const h = T.linear(x, w1).tanh();
      const y = T.linear(h, w2).sum();
      const [gh] = T.autograd.grad(y, [h], { retainGraph: true });
      // y = Σ h·w2ᵀ, so ∂y/∂h is the column sums of w2 for every row.
      assert.ok(allClose(gh!, w2.detach().sum(0).expand([4, 5])));
      assert.equal(x.grad, undefined);
      assert.equal(w1.grad, undefined);
      assert.equal(w2.grad, undefined);
      // The retained graph still supports a full backward afterwards.
      y.backward();
      assert.ok(w1.grad && w2.grad && x.grad);
    });
  });

  test('matches backward for leaves, with gradOutputs', () => {
    T.tidy(() => {
      const a = f64([3, 4], 63).requiresGrad_();
      const b = f64([4, 2], 64).requiresGrad_();
      const out = T.matmul(a, b);
      const go = f64([3, 2], 65);
      const [ga, gb] = T.autograd.grad([out], [a, b], { gradOutputs: [go], retainGraph: true });
      out.backward(go);
      assert.ok(allClose(ga!, a.grad!));
      assert.ok(allClose(gb!, b.grad!));
      assert.ok(allClose(ga!, T.matmul(go, b.detach().t())));
    });
  });

  test('allowUnused returns undefined for an unused input; without it, a readable error', () => {
    T.tidy(() => {
      const a = T.ones([2], { requiresGrad: true });
      const unused = T.ones([2], { requiresGrad: true });
      const y = a.mul(3).sum();
      const [ga, gu] = T.autograd.grad(y, [a, unused], { allowUnused: true, retainGraph: true });
      assert.deepEqual(ga!.toArray(), [3, 3]);
      assert.equal(gu, undefined);
      assert.throws(() => T.autograd.grad(y, [a, unused]), /not have been used in the graph/);
    });
  });
});

describe('detach, straight-through estimator, grad modes', () => {
  test('x + (q − x).detach() has value q and gradient 1 w.r.t. x', () => {
    T.tidy(() => {
      const x = T.tensor([0.2, 1.7, -0.6, 2.5], { requiresGrad: true });
      const codebook = T.tensor([[-1], [0], [1], [2]]);
      // Nearest codebook entry (a VQ quantizer): not differentiable by itself.
      const q = T.embedding(codebook, T.cdist(x.detach().unsqueeze(1), codebook).argmin(1)).squeezeDim(1);
      const st = x.add(q.sub(x).detach());
      assert.deepEqual(st.toArray(), [0, 2, -1, 2]);
      st.sum().backward();
      assert.deepEqual(x.grad!.toArray(), [1, 1, 1, 1]);
      const r = T.tensor([0.5, -1, 2, 3]);
      x.grad = undefined;
      x.add(q.sub(x).detach()).mul(r).sum().backward();
      assert.deepEqual(x.grad!.toArray(), r.toArray());
    });
  });

  test('detach cuts the graph and shares storage', () => {
    T.tidy(() => {
      const x = T.ones([3], { requiresGrad: true });
      const d = x.detach();
      assert.equal(d.requiresGrad, false);
      assert.equal(d.gradFn, null);
      assert.ok(d.sharesStorageWith(x));
    });
  });

  test('requiresGrad propagates through ops; isLeaf and gradFn', () => {
    T.tidy(() => {
      const a = T.ones([2], { requiresGrad: true });
      const b = T.ones([2]);
      assert.ok(a.isLeaf && b.isLeaf);
      assert.equal(b.requiresGrad, false);
      const c = a.mul(b);
      assert.equal(c.requiresGrad, true);
      assert.equal(c.isLeaf, false);
      assert.match(c.gradFn ?? '', /Mul/);
      const d = b.add(1);
      assert.equal(d.requiresGrad, false);
      assert.equal(d.gradFn, null);
      assert.equal(T.cat([b, a]).requiresGrad, true);
      b.requiresGrad_();
      assert.equal(b.requiresGrad, true);
      b.requiresGrad = false;
      assert.equal(b.requiresGrad, false);
      // Integer tensors cannot require grad.
      assert.throws(() => {
        T.tensor([1, 2], { dtype: 'int64' }).requiresGrad = true;
      }, /floating point/);
    });
  });

  test('noGrad stops recording; enableGrad re-enables inside it; modes restore, even on throw', () => {
    T.tidy(() => {
      const x = T.ones([2], { requiresGrad: true });
      assert.equal(T.isGradEnabled(), true);
      const y = T.noGrad(() => {
        assert.equal(T.isGradEnabled(), false);
        const inner = T.enableGrad(() => x.mul(2));
        assert.equal(inner.requiresGrad, true);
        assert.equal(T.isGradEnabled(), false);
        return x.mul(2);
      });
      assert.equal(y.requiresGrad, false);
      assert.equal(T.isGradEnabled(), true);
      assert.throws(() =>
        T.noGrad(() => {
          throw new Error('boom');
        }),
      );
      assert.equal(T.isGradEnabled(), true);
      assert.equal(T.noGrad(() => T.noGrad(() => x.add(1))).requiresGrad, false);
      assert.equal(T.isGradEnabled(), true);
    });
  });

  test('in-place updates under noGrad do not enter the graph (optimizer step)', () => {
    T.tidy(() => {
      const w = T.tensor([1, 2], { requiresGrad: true });
      w.mul(w).sum().backward();
      T.noGrad(() => w.sub_(w.grad!, 0.5));
      assert.deepEqual(w.detach().toArray(), [0, 0]);
      assert.equal(w.isLeaf, true);
      assert.equal(w.requiresGrad, true);
    });
  });

  test('an in-place op on a leaf that requires grad throws outside noGrad', () => {
    T.tidy(() => {
      const w = T.tensor([1, 2], { requiresGrad: true });
      assert.throws(() => w.add_(1), /leaf Variable that requires grad/);
    });
  });
});
