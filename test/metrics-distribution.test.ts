// Distribution metrics (Fréchet distance, streaming statistics, IS, KID, precision/recall) against
// numpy/scipy reference values (tools/fixtures/metrics_dist.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import {
  RunningGaussian,
  frechetDistance,
  frechetDistanceOf,
  inceptionScore,
  kernelInceptionDistance,
  polynomialMmd,
  precisionRecall,
} from '../src/metrics/distribution.js';
import { metrics } from '../src/index.js';
import { loadJsonFixture } from './helpers.js';

interface Fixture {
  frechet: { name: string; d: number; mu1: number[]; sigma1: number[]; mu2: number[]; sigma2: number[]; scipy: number; eig: number }[];
  stats: { x: number[]; shape: [number, number]; mean: number[]; cov: number[] };
  inceptionScore: { logits: number[]; probs: number[]; shape: [number, number]; splits: number; mean: number; std: number; mean1: number };
  kid: { a: number[]; b: number[]; shape: [number, number]; mmd: number; mmd_same_dist: number };
  precisionRecall: {
    real: number[];
    fake: number[];
    realShape: [number, number];
    fakeShape: [number, number];
    k: Record<string, { precision: number; recall: number }>;
  };
}
const fx = loadJsonFixture<Fixture>('metrics', 'distribution.json');
const f64 = (data: number[], shape: number[]) => T.tensor(data, { shape, dtype: 'float64' });

function close(actual: number, expected: number, tol: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
  assert.ok(err <= tol, `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)} > ${tol})`);
}

test('Fréchet distance matches scipy (sqrtm) to 1e-4, including singular and nearly singular covariances', () => {
  assert.ok(fx.frechet.length >= 5);
  for (const c of fx.frechet) {
    const fd = frechetDistance(c.mu1, c.sigma1, c.mu2, c.sigma2);
    close(fd, c.scipy, 1e-4, `${c.name} vs scipy`);
    close(fd, c.eig, 1e-8, `${c.name} vs numpy eigh`);
    // Tensors and plain arrays give the same value.
    const ft = T.tidy(() => frechetDistance(f64(c.mu1, [c.d]), f64(c.sigma1, [c.d, c.d]), f64(c.mu2, [c.d]), f64(c.sigma2, [c.d, c.d])));
    close(ft, fd, 1e-12, `${c.name} tensor input`);
  }
  assert.throws(() => frechetDistance([0, 0], [1, 0, 0, 1], [0, 0], [1, 0, 0]), /expected 2×2 values, got 3/);
});

test('streaming statistics equal numpy.cov for several batch splits and merges', () => {
  const { x, shape, mean, cov } = fx.stats;
  const all = f64(x, shape);
  for (const sizes of [[57], [1, 56], [10, 10, 10, 27], [3, 1, 1, 50, 2]]) {
    const g = new RunningGaussian();
    let at = 0;
    for (const s of sizes) {
      g.update(all.narrow(0, at, s));
      at += s;
    }
    assert.equal(g.count, 57);
    const m = g.mean();
    const c = g.covariance();
    for (let i = 0; i < mean.length; i++) close(m[i]!, mean[i]!, 1e-10, `mean[${i}] with splits ${sizes}`);
    for (let i = 0; i < cov.length; i++) close(c[i]!, cov[i]!, 1e-10, `cov[${i}] with splits ${sizes}`);
    g.dispose();
  }
  // merge of two accumulators = one accumulator over everything
  const a = new RunningGaussian().update(all.narrow(0, 0, 20));
  const b = new RunningGaussian().update(all.narrow(0, 20, 37));
  const empty = new RunningGaussian();
  a.merge(b).merge(empty);
  assert.equal(a.count, 57);
  assert.equal(b.count, 37, 'merge leaves the other accumulator unchanged');
  const c = a.covariance();
  for (let i = 0; i < cov.length; i++) close(c[i]!, cov[i]!, 1e-10, `merged cov[${i}]`);
  // float32 features are accumulated in float64
  const g32 = new RunningGaussian().update(all.float());
  const ref = T.tidy(() => all.float().double().mean(0).toArray());
  g32.mean().forEach((v, i) => close(v, ref[i]!, 1e-12, `float32 mean[${i}]`));
  assert.throws(() => new RunningGaussian().update(T.zeros([2, 3])).update(T.zeros([2, 4])), /4 dims, expected 3/);
  assert.throws(() => new RunningGaussian().update(T.zeros([1, 3])).covariance(), /at least 2 samples/);
  for (const g of [a, b, empty, g32]) g.dispose();
});

test('FID of a set against itself is ~0 and grows monotonically with added noise', () => {
  T.manualSeed(3);
  const base = T.randn([400, 16]).matmul(T.randn([16, 16]).div(4));
  const stats = (x: T.Tensor) => new RunningGaussian().update(x);
  const ref = stats(base);
  const self = frechetDistanceOf(ref, stats(base));
  assert.ok(Math.abs(self) < 1e-9, `FID(x, x) = ${self}`);
  let prev = self;
  for (const sigma of [0.05, 0.1, 0.2, 0.4, 0.8]) {
    const noisy = base.add(T.randn(base.shape).mul(sigma));
    const fd = frechetDistanceOf(ref, stats(noisy));
    assert.ok(fd > prev, `noise ${sigma}: FID ${fd} should exceed ${prev}`);
    prev = fd;
  }
  // Fewer samples than dimensions: singular covariances still give a finite, non-negative value.
  const few = frechetDistanceOf(stats(base.narrow(0, 0, 5)), stats(base.narrow(0, 5, 6)));
  assert.ok(Number.isFinite(few) && few > 0, `few-sample FID ${few}`);
});

test('Inception Score matches the numpy reference (logits or probabilities, splits)', () => {
  const c = fx.inceptionScore;
  const fromLogits = inceptionScore(f64(c.logits, c.shape), { splits: c.splits });
  close(fromLogits.mean, c.mean, 1e-10, 'IS mean (logits)');
  close(fromLogits.std, c.std, 1e-9, 'IS std (logits)');
  const fromProbs = inceptionScore(f64(c.probs, c.shape), { splits: c.splits, input: 'probs' });
  close(fromProbs.mean, c.mean, 1e-10, 'IS mean (probs)');
  close(inceptionScore(f64(c.logits, c.shape).float(), { splits: 1 }).mean, c.mean1, 1e-5, 'IS one split (float32 input)');
  // Bounds: uniform predictions → 1; confident, evenly spread predictions → number of classes.
  close(inceptionScore(T.zeros([20, 5]), { splits: 2 }).mean, 1, 1e-12, 'uniform');
  close(inceptionScore(T.eye(5).mul(1000).repeat([4, 1]), { splits: 2 }).mean, 5, 1e-9, 'one-hot');
  assert.throws(() => inceptionScore(T.zeros([3, 5])), /3 samples cannot be cut into 10 splits/);
});

test('KID: unbiased polynomial MMD² matches the numpy reference; subsets average it', () => {
  const c = fx.kid;
  const a = f64(c.a, c.shape);
  const b = f64(c.b, c.shape);
  close(polynomialMmd(a, b), c.mmd, 1e-10, 'MMD²');
  // A subset as large as the sets is the whole set, whatever the permutation: every subset gives the same MMD².
  const full = kernelInceptionDistance(a, b, { subsets: 3, subsetSize: 1000 });
  assert.equal(full.subsetSize, 30);
  close(full.mean, c.mmd, 1e-10, 'KID with full subsets');
  assert.ok(full.std < 1e-12);
  // Random subsets: reproducible per seed, vary between subsets, near 0 for the same distribution.
  const k1 = kernelInceptionDistance(a, b, { subsets: 10, subsetSize: 15, seed: 1 });
  const k2 = kernelInceptionDistance(a, b, { subsets: 10, subsetSize: 15, seed: 1 });
  assert.deepEqual(k1, k2);
  assert.ok(k1.std > 0 && k1.mean > 0.05, JSON.stringify(k1));
  T.manualSeed(0);
  const same = kernelInceptionDistance(T.randn([200, 16]), T.randn([200, 16]), { subsets: 20, subsetSize: 100 });
  assert.ok(Math.abs(same.mean) < 0.1 * k1.mean, `same-distribution KID ${same.mean} vs ${k1.mean}`);
});

test('precision/recall with k-NN manifolds match the numpy reference (k = 1, 3, 5)', () => {
  const c = fx.precisionRecall;
  const real = f64(c.real, c.realShape);
  const fake = f64(c.fake, c.fakeShape);
  for (const [k, want] of Object.entries(c.k)) {
    const pr = precisionRecall(real, fake, { k: Number(k) });
    assert.equal(pr.precision, want.precision, `precision k=${k}`);
    assert.equal(pr.recall, want.recall, `recall k=${k}`);
  }
  assert.equal(precisionRecall(real, fake).k, 3);
});

test('precision/recall sanity: identical sets → 1/1, far-apart sets → 0/0; blocks do not change the result', () => {
  T.manualSeed(1);
  const x = T.randn([3000, 8]);
  const same = precisionRecall(x, x.clone());
  assert.deepEqual([same.precision, same.recall], [1, 1]);
  const far = precisionRecall(x, T.randn([500, 8]).add(100));
  assert.deepEqual([far.precision, far.recall], [0, 0]);
  // 3000 × 2000 distances span several blocks (4M entries each): compare with one unblocked computation.
  const y = T.randn([2000, 8]).mul(1.3).add(0.4);
  const blocked = precisionRecall(x, y);
  const brute = T.tidy(() => {
    const rx = T.cdist(x.double(), x.double()).sort(1)[0].select(1, 3);
    const ry = T.cdist(y.double(), y.double()).sort(1)[0].select(1, 3);
    const d = T.cdist(y.double(), x.double()); // [fake, real]
    return {
      precision: d.le(rx.unsqueeze(0)).anyDim(1).double().mean().item(),
      recall: d.t().le(ry.unsqueeze(0)).anyDim(1).double().mean().item(),
    };
  });
  assert.ok(blocked.precision > 0.2 && blocked.precision < 1 && blocked.recall > 0.2 && blocked.recall < 1, JSON.stringify(blocked));
  assert.ok(
    Math.abs(blocked.precision - brute.precision) <= 1 / 2000 && Math.abs(blocked.recall - brute.recall) <= 1 / 3000,
    `${JSON.stringify(blocked)} vs ${JSON.stringify(brute)}`,
  );
  assert.throws(() => precisionRecall(x.narrow(0, 0, 3), x), /more than k = 3 samples/);
});

test('the metrics namespace exports the distribution metrics next to the image metrics', () => {
  assert.equal(metrics.frechetDistance, frechetDistance);
  assert.equal(metrics.RunningGaussian, RunningGaussian);
  assert.equal(typeof metrics.psnr, 'function');
  assert.equal(typeof metrics.loadFidInception, 'function');
});
