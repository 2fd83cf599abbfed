// The linear probe (src/metrics/probe.ts, `tessera eval probe`): the linear softmax classifier on a
// separable toy set, per-block features through the transformer hook, and probePrior on the shipped
// MNIST AR prior with small splits: one row per block, both baselines, layer selection and errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as T from '../src/torch/index.js';
import { ARPrior, MaskGIT } from '../src/priors/index.js';
import { trainLinearProbe, blockFeatures, probePrior } from '../src/metrics/probe.js';

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
  it('rejects mismatched shapes', () => {
    assert.throws(() => trainLinearProbe(T.zeros([4, 2]), T.zeros([3], { dtype: 'int64' }), 2), /expected features \[N, D\] and labels \[N\]/);
  });
});

describe('blockFeatures', () => {
  it('returns one [B, dim] feature per block for AR and MaskGIT priors', () => {
    T.tidy(() => {
      const small = { dim: 32, depth: 3, heads: 4, codebookSize: 11, grid: [2, 3] as [number, number], tokensPerPosition: 1, numClasses: 2 };
      for (const prior of [new ARPrior(small).eval(), new MaskGIT(small).eval()]) {
        const f = blockFeatures(prior as never, T.randint(0, 11, [5, 6], null, { dtype: 'int64' }));
        assert.equal(f.length, 3);
        for (const t of f) assert.deepEqual(t.shape, [5, 32]);
        assert.ok(f[0]!.sub(f[2]!).abs().max().item() > 0, 'blocks differ');
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
    assert.equal(r.best.accuracy, Math.max(...r.rows.map((x) => x.accuracy)));
    assert.equal(r.pixels.features, 'pixels');
    assert.equal(r.pixels.dim, 3 * 28 * 28);
    assert.equal(r.classes, 10);
    assert.equal(r.valImages, 100);
    for (const x of [...r.rows, ...r.randomRows, r.pixels]) assert.ok(x.accuracy > 0.2 && x.accuracy <= 1, `${x.features} ${x.layer}: ${x.accuracy}`);
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
