// The linear probe (src/metrics/probe.ts, `tessera eval probe`): the linear softmax classifier on a
// separable toy set, per-block features through the transformer hook, and probePrior on the shipped
// MNIST AR prior with small splits: one row per block, both baselines, layer selection and errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as T from '../src/torch/index.js';
import { ARPrior, MaskGIT } from '../src/priors/index.js';
import { trainLinearProbe, blockFeatures, probePrior, PROBE_WEIGHT_DECAYS } from '../src/metrics/probe.js';

describe('trainLinearProbe', () => {
  it('separates three Gaussian blobs and is at chance on shuffled labels', () => {
    T.tidy(() => {
      T.manualSeed(0);
      const centres = T.randn([3, 6]).mul(3);
      const make = (n: number) => {
        const y = T.randint(0, 3, [n], null, { dtype: 'int64' });
        return { x: centres.indexSelect(0, y).add(T.randn([n, 6])), y };
      };
      const tr = make(300);
      const va = make(300);
      const p = trainLinearProbe(tr.x, tr.y, 3);
      const acc = p.accuracy(va.x, va.y);
      assert.ok(acc > 0.9, `accuracy ${acc}`);
      assert.deepEqual(p.predict(va.x).shape, [300]);
      p.dispose();
      const noise = trainLinearProbe(T.randn([300, 6]), tr.y, 3);
      const chance = noise.accuracy(T.randn([300, 6]), va.y);
      assert.ok(chance < 0.5, `random features should be near 1/3, got ${chance}`);
      noise.dispose();
    });
  });
  it('chooses the weight decay on a held-out fifth of the training features only', () => {
    T.tidy(() => {
      T.manualSeed(1);
      // Few examples, many noisy dimensions: the kind of input that needs a large weight decay.
      const n = 60;
      const y = T.randint(0, 2, [n], null, { dtype: 'int64' });
      const x = T.randn([n, 200]).add(y.to('float32').unsqueeze(1).mul(0.5));
      const p = trainLinearProbe(x, y, 2, { iters: 100 });
      assert.ok(PROBE_WEIGHT_DECAYS.includes(p.weightDecay), `chose ${p.weightDecay}`);
      // Redo the selection by hand: every fifth row held out, the others fitted, the first best kept.
      const idx = (keep: (i: number) => boolean) => T.tensor(Array.from({ length: n }, (_, i) => i).filter(keep), { dtype: 'int64' });
      const [fit, hold] = [idx((i) => i % 5 !== 0), idx((i) => i % 5 === 0)];
      const scores = PROBE_WEIGHT_DECAYS.map((wd) => {
        const q = trainLinearProbe(x.indexSelect(0, fit), y.indexSelect(0, fit), 2, { iters: 100, weightDecay: wd });
        const acc = q.accuracy(x.indexSelect(0, hold), y.indexSelect(0, hold));
        assert.equal(q.heldOutAccuracy, null);
        assert.equal(q.weightDecay, wd);
        q.dispose();
        return acc;
      });
      const best = Math.max(...scores);
      assert.equal(p.heldOutAccuracy, best);
      assert.equal(p.weightDecay, PROBE_WEIGHT_DECAYS[scores.indexOf(best)]);
      // Deterministic: the same data gives the same classifier.
      const again = trainLinearProbe(x, y, 2, { iters: 100 });
      assert.equal(again.weightDecay, p.weightDecay);
      assert.ok(again.predict(x).eq(p.predict(x)).all().item());
      p.dispose();
      again.dispose();
    });
  });
  it('rejects mismatched shapes and too few examples to hold some out', () => {
    assert.throws(() => trainLinearProbe(T.zeros([4, 2]), T.zeros([3], { dtype: 'int64' }), 2), /expected features \[N, D\] and labels \[N\]/);
    assert.throws(
      () => trainLinearProbe(T.zeros([4, 2]), T.zeros([4], { dtype: 'int64' }), 2),
      /trainLinearProbe: choosing the weight decay holds out a fifth of the training features; need at least 5, got 4/,
    );
  });
});

describe('blockFeatures', () => {
  it("returns one [B, dim] feature per block for AR and MaskGIT priors, each block's output layer-normalised then averaged", () => {
    T.tidy(() => {
      const small = { dim: 32, depth: 3, heads: 4, codebookSize: 11, grid: [2, 3] as [number, number], tokensPerPosition: 1, numClasses: 2 };
      for (const prior of [new ARPrior(small).eval(), new MaskGIT(small).eval()]) {
        const f = blockFeatures(prior as never, T.randint(0, 11, [5, 6], null, { dtype: 'int64' }));
        assert.equal(f.length, 3);
        for (const t of f) assert.deepEqual(t.shape, [5, 32]);
        assert.ok(f[0]!.sub(f[2]!).abs().max().item() > 0, 'blocks differ');
        // iGPT's n^l = layer_norm(h^l): block 1's output through block 2's first norm; the last through the final norm.
        const tokens = T.randint(0, 11, [5, 6], null, { dtype: 'int64' });
        const g = blockFeatures(prior as never, tokens);
        const tr = prior.transformer;
        const hs = tr.captureBlocks(() => prior.forward(tokens, prior.prefixIds([null, null, null, null, null])));
        const close = (a: T.Tensor, b: T.Tensor) => assert.ok(a.sub(b).abs().max().item() < 1e-5);
        close(g[0]!, tr.blocks.at(1).ln1.forward(hs[0]!).mean([1]));
        close(g[2]!, tr.lnF.forward(hs[2]!).mean([1]));
        assert.ok(
          g[2]!
            .sub(hs[2]!.mean([1]))
            .abs()
            .max()
            .item() > 1e-3,
          'not the raw residual stream',
        );
        for (const t of f) t.dispose();
      }
    });
  });
});

const MODEL = 'models/mnist-ar.safetensors';
describe('probePrior', { skip: !existsSync(MODEL) && `${MODEL} not present` }, () => {
  it('sweeps every block and reports the best, the random-init prior and raw pixels', async () => {
    const r = await probePrior({ model: MODEL, data: 'mnist', trainCount: 200, valCount: 100, probe: { iters: 100 } });
    assert.equal(r.blocks, 4);
    assert.deepEqual(
      r.rows.map((x) => x.layer),
      [1, 2, 3, 4],
    );
    assert.deepEqual(
      r.randomRows.map((x) => x.layer),
      [1, 2, 3, 4],
    );
    // The reported block is the best on held-out training features, not on the validation split.
    const heldOut = r.rows.map((x) => x.heldOutAccuracy!);
    assert.equal(r.best, r.rows[heldOut.indexOf(Math.max(...heldOut))]);
    assert.equal(r.randomBest.heldOutAccuracy, Math.max(...r.randomRows.map((x) => x.heldOutAccuracy!)));
    assert.equal(r.pixels.features, 'pixels');
    assert.equal(r.pixels.dim, 3 * 28 * 28);
    assert.equal(r.classes, 10);
    assert.equal(r.valImages, 100);
    for (const x of [...r.rows, ...r.randomRows, r.pixels]) {
      assert.ok(x.accuracy >= 0 && x.accuracy <= 1, `${x.features} ${x.layer}: ${x.accuracy}`);
      assert.ok(PROBE_WEIGHT_DECAYS.includes(x.weightDecay) && x.heldOutAccuracy !== null, `${x.features} ${x.layer}: ${x.weightDecay}`);
    }
    // Chance is 10%; with 200 training images the trained prior and pixels are far above it, and the
    // trained prior's features far above the random-init prior's (about 60% against 25%).
    for (const x of [...r.rows, r.pixels]) assert.ok(x.accuracy > 0.4, `${x.features} ${x.layer}: ${x.accuracy}`);
    assert.ok(r.best.accuracy > r.randomBest.accuracy + 0.1, `trained ${r.best.accuracy}, random-init ${r.randomBest.accuracy}`);
  });
  it('probes one block with --layer and refuses a block the prior does not have', async () => {
    const r = await probePrior({ model: MODEL, data: 'mnist', layer: 2, trainCount: 100, valCount: 50, probe: { iters: 50 } });
    assert.deepEqual(
      r.rows.map((x) => x.layer),
      [2],
    );
    for (const layer of [0, 5, 1.5]) {
      await assert.rejects(
        probePrior({ model: MODEL, data: 'mnist', layer }),
        (e: Error) => e.message === `probe: layer must be a block between 1 and 4 (the prior has 4 blocks), got ${layer}`,
      );
    }
  });
});
