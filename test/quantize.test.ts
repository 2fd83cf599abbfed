// src/quantize: straight-through gradients and β placement, EMA math, k-means init, dead-code
// restarts, multichannel / residual / SimVQ behaviour, lookup inverses, stats; the VectorQuantizer
// forward/backward against PyTorch (fixtures from tools/fixtures/quantize.py).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { Adam, SGD } from '../src/optim/index.js';
import {
  VectorQuantizer,
  MultichannelQuantizer,
  ResidualQuantizer,
  SimVQ,
  createQuantizer,
  statsFromCounts,
  type Quantizer,
  type QuantizerConfig,
} from '../src/quantize/index.js';
import { assertClose, fromJson, loadJsonFixture, type TensorJson } from './helpers.js';

const f64 = (data: number[][] | number[], shape?: number[]) => T.tensor(data as number[], { dtype: 'float64', shape });
/** One latent position per row: rows [N, C] → [1, C, 1, N]. */
const asLatent = (rows: number[][]) => f64(rows).t().reshape([1, rows[0]!.length, 1, rows.length]);

describe('VectorQuantizer', () => {
  it("registers taming's key embedding.weight, initialized U(−1/K, 1/K), and loads a taming-style state dict", () => {
    T.tidy(() => {
      const q = new VectorQuantizer({ codebookSize: 64, dim: 8 });
      assert.deepEqual(q.stateDictKeys(), ['embedding.weight']);
      assert.deepEqual(q.embedding.weight.shape, [64, 8]);
      assert.ok(q.embedding.weight.abs().max().item() <= 1 / 64);
      assert.ok(q.embedding.weight.std().item() > 0.25 / 64, 'not all zero');
      const w = T.randn([64, 8]);
      q.loadStateDict({ 'embedding.weight': w });
      assert.ok(q.codebook().equal(w));
      assert.equal(q.tokensPerPosition, 1);
      assert.equal(q.dim, 8);
    });
  });

  // z = (1, 2), codes e0 = (0, 0), e1 = (1.5, 1.5): z picks e1, z − e1 = (−0.5, 0.5), n = 2 elements.
  // Objective sum(zq·g) + loss with g = (1, 3).
  //   textbook: loss = β·mse(z, sg e) + mse(e, sg z) → ∂z = g + β·(z − e),  ∂e1 = (e1 − z)
  //   legacy:   loss = mse(z, sg e) + β·mse(e, sg z) → ∂z = g + (z − e),    ∂e1 = β·(e1 − z)
  //   ema:      loss = β·mse(z, sg e)               → ∂z = g + β·(z − e),  codebook not trained
  for (const mode of ['textbook', 'legacy', 'ema'] as const) {
    it(`straight-through and β placement (${mode}) on a hand-computed case`, () => {
      T.tidy(() => {
        const q = new VectorQuantizer({ codebookSize: 2, dim: 2, legacy: mode === 'legacy', ema: mode === 'ema' }).to('float64');
        q.setCodebook(
          f64([
            [0, 0],
            [1.5, 1.5],
          ]),
        );
        const z = asLatent([[1, 2]]);
        z.requiresGrad = true;
        const r = q.quantize(z);
        assert.deepEqual(r.indices.shape, [1, 1, 1]);
        assert.equal(r.indices.item(), 1);
        assertClose(r.zq, asLatent([[1.5, 1.5]]), 1e-12, 0, 'zq');
        const expectedLoss = mode === 'ema' ? 0.25 * 0.25 : 1.25 * 0.25; // mse = (0.25 + 0.25) / 2
        assert.ok(Math.abs(r.loss.item() - expectedLoss) < 1e-12, `loss ${r.loss.item()} vs ${expectedLoss}`);
        const g = asLatent([[1, 3]]);
        r.zq.mul(g).sum().add(r.loss).backward();
        const zCoef = mode === 'legacy' ? 1 : 0.25;
        assertClose(z.grad!, asLatent([[1 + zCoef * -0.5, 3 + zCoef * 0.5]]), 1e-12, 0, 'dz');
        if (mode === 'ema') {
          assert.equal(q.embedding.weight.requiresGrad, false);
          assert.equal(q.embedding.weight.grad, undefined);
        } else {
          const eCoef = mode === 'legacy' ? 0.25 : 1;
          assertClose(
            q.embedding.weight.grad!,
            f64([
              [0, 0],
              [eCoef * 0.5, eCoef * -0.5],
            ]),
            1e-12,
            0,
            'de',
          );
        }
      });
    });
  }

  for (const name of ['textbook', 'legacy'] as const) {
    it(`matches a direct PyTorch computation: forward, loss and gradients (${name})`, () => {
      T.tidy(() => {
        const c = loadJsonFixture<Record<string, Record<string, unknown>>>('quantize', 'vq.json')[name]!;
        const q = new VectorQuantizer({ codebookSize: 16, dim: 4, legacy: c.legacy as boolean });
        q.loadStateDict({ 'embedding.weight': fromJson(c.codebook as TensorJson) });
        const z = fromJson(c.z as TensorJson);
        z.requiresGrad = true;
        const r = q.quantize(z);
        assert.deepEqual(r.indices.toArray(), (c.indices as TensorJson).data);
        assert.equal(r.indices.dtype, 'int64');
        assertClose(r.zq, c.zq as TensorJson, 1e-6, 1e-5, 'zq');
        assert.ok(Math.abs(r.loss.item() - (c.loss as number)) < 1e-6);
        r.zq
          .mul(fromJson(c.grad_output as TensorJson))
          .sum()
          .add(r.loss)
          .backward();
        assertClose(z.grad!, c.grad_z as TensorJson, 1e-6, 1e-5, 'grad z');
        assertClose(q.embedding.weight.grad!, c.grad_codebook as TensorJson, 1e-6, 1e-5, 'grad codebook');
      });
    });
  }

  it('low-dim lookup with l2-normalized codes matches PyTorch (project_in/out, cosine distance)', () => {
    T.tidy(() => {
      const c = loadJsonFixture<Record<string, Record<string, unknown>>>('quantize', 'vq.json').lowdim_l2!;
      const q = new VectorQuantizer({ codebookSize: 16, dim: 8, codebookDim: 3, l2Normalize: true });
      const state = Object.fromEntries(Object.entries(c.state as Record<string, TensorJson>).map(([k, v]) => [k, fromJson(v)]));
      q.loadStateDict(state);
      assert.deepEqual(q.stateDictKeys(), ['embedding.weight', 'project_in.weight', 'project_in.bias', 'project_out.weight', 'project_out.bias']);
      const z = fromJson(c.z as TensorJson);
      z.requiresGrad = true;
      const r = q.quantize(z);
      assert.deepEqual(r.indices.toArray(), (c.indices as TensorJson).data);
      assertClose(r.zq, c.zq as TensorJson, 1e-5, 1e-5, 'zq');
      assert.ok(Math.abs(r.loss.item() - (c.loss as number)) < 1e-6);
      r.zq
        .mul(fromJson(c.grad_output as TensorJson))
        .sum()
        .add(r.loss)
        .backward();
      assertClose(z.grad!, c.grad_z as TensorJson, 1e-5, 1e-4, 'grad z');
      const params = Object.fromEntries(q.namedParameters());
      for (const [k, g] of Object.entries(c.grads as Record<string, TensorJson>)) assertClose(params[k]!.grad!, g, 1e-5, 1e-4, `grad ${k}`);
    });
  });

  it('EMA update matches PyTorch over two steps (decay 0.99, Laplace smoothing), loss = β·commitment', () => {
    T.tidy(() => {
      interface EmaStep {
        z: TensorJson;
        indices: TensorJson;
        zq: TensorJson;
        loss: number;
        state: Record<string, TensorJson>;
      }
      const c = loadJsonFixture<{ ema: { decay: number; eps: number; state: Record<string, TensorJson>; steps: EmaStep[] } }>('quantize', 'vq.json').ema;
      const q = new VectorQuantizer({ codebookSize: 16, dim: 4, ema: { decay: c.decay, eps: c.eps } });
      assert.deepEqual(q.stateDictKeys(), ['embedding.weight', 'embedding.cluster_size', 'embedding.embed_avg']);
      q.loadStateDict(Object.fromEntries(Object.entries(c.state as Record<string, TensorJson>).map(([k, v]) => [k, fromJson(v)])));
      for (const step of c.steps) {
        const r = q.quantize(fromJson(step.z));
        assert.deepEqual(r.indices.toArray(), step.indices.data);
        assertClose(r.zq, step.zq, 1e-6, 1e-5, 'zq (pre-update codebook)');
        assert.ok(Math.abs(r.loss.item() - step.loss) < 1e-6);
        const sd = q.stateDict();
        for (const k of Object.keys(step.state)) assertClose(sd[k]!, step.state[k], 1e-6, 1e-5, k);
      }
    });
  });

  it('EMA update by hand for two steps, with an unused code kept finite by Laplace smoothing', () => {
    T.tidy(() => {
      const decay = 0.9;
      const eps = 0.01;
      const q = new VectorQuantizer({ codebookSize: 3, dim: 2, ema: { decay, eps } }).to('float64');
      let e = [
        [0, 0],
        [10, 10],
        [100, 100],
      ];
      q.setCodebook(f64(e));
      let N = [1, 1, 1];
      let m = e.map((r) => [...r]); // N = 1, so m = e
      const batches = [
        {
          rows: [
            [1, 0],
            [0, 1],
            [9, 10],
            [11, 11],
          ],
          assign: [0, 0, 1, 1],
        },
        {
          rows: [
            [0, 0],
            [1, 1],
            [10, 10],
            [12, 9],
          ],
          assign: [0, 0, 1, 1],
        },
      ];
      for (const { rows, assign } of batches) {
        const r = q.quantize(asLatent(rows));
        assert.deepEqual(r.indices.toArray(), assign);
        // Hand arithmetic: N_k ← γN_k + (1−γ)n_k, m_k ← γm_k + (1−γ)Σx, Ñ_k = (N_k+ε)/(ΣN + Kε)·ΣN, e = m/Ñ.
        N = N.map((nk, k) => decay * nk + (1 - decay) * assign.filter((a) => a === k).length);
        m = m.map((mk, k) => mk.map((v, j) => decay * v + (1 - decay) * rows.filter((_, i) => assign[i] === k).reduce((s, row) => s + row[j]!, 0)));
        const total = N.reduce((a, b) => a + b, 0);
        e = m.map((mk, k) => mk.map((v) => v / (((N[k]! + eps) / (total + 3 * eps)) * total)));
        assertClose(q.clusterSize!, f64(N), 1e-12, 1e-12, 'cluster_size');
        assertClose(q.embedAvg!, f64(m), 1e-12, 1e-12, 'embed_avg');
        assertClose(q.embedding.weight, f64(e), 1e-12, 1e-12, 'codebook');
      }
      // The unused code: 100·0.81 / (0.81-ish smoothed count) — finite and still far away.
      const unused = q.embedding.weight.index(2).toArray();
      assert.ok(unused.every((v) => Number.isFinite(v) && v > 50));
    });
  });

  it('EMA does not update in eval mode', () => {
    T.tidy(() => {
      const q = new VectorQuantizer({ codebookSize: 8, dim: 2, ema: true });
      const before = q.stateDict();
      const snapshot = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.clone()]));
      q.eval();
      q.quantize(T.randn([2, 2, 4, 4]));
      for (const [k, v] of Object.entries(q.stateDict())) assert.ok(v.equal(snapshot[k]!), `${k} changed in eval`);
    });
  });

  it('k-means init places the codes on the centres of a Gaussian mixture (seeded), once', () => {
    T.tidy(() => {
      const centres = [
        [-5, -5],
        [-5, 5],
        [5, -5],
        [5, 5],
      ];
      const gen = new T.Generator(11);
      const rows = T.cat(
        centres.map((c) => T.randn([100, 2], gen).mul(0.1).add(T.tensor(c))),
        0,
      );
      const z = rows.t().reshape([1, 2, 20, 20]);
      const q = new VectorQuantizer({ codebookSize: 4, dim: 2, kmeansInit: { seed: 3, iters: 10 } });
      assert.deepEqual(q.stateDictKeys(), ['initted', 'embedding.weight']);
      assert.equal(q.initted!.item(), 0);
      const r = q.quantize(z);
      assert.equal(q.initted!.item(), 1);
      const codes = q.embedding.weight.toArray();
      const matched = new Set<number>();
      for (const c of centres) {
        let best = -1;
        let bestD = Infinity;
        for (let k = 0; k < 4; k++) {
          const d = Math.hypot(codes[2 * k]! - c[0]!, codes[2 * k + 1]! - c[1]!);
          if (d < bestD) [best, bestD] = [k, d];
        }
        assert.ok(bestD < 0.05, `centre (${c}) nearest code is ${bestD.toFixed(3)} away`);
        matched.add(best);
      }
      assert.equal(matched.size, 4, 'one code per centre');
      assert.equal(r.stats.utilization, 1);
      // Already initialized: a second batch does not re-cluster.
      const before = q.embedding.weight.clone();
      q.quantize(T.randn([1, 2, 8, 8]).mul(100));
      assert.ok(q.embedding.weight.equal(before));
    });
  });

  it('dead-code restart replaces a never-used code by an encoder output in training, not in eval', () => {
    T.tidy(() => {
      for (const ema of [false, true]) {
        const q = new VectorQuantizer({ codebookSize: 4, dim: 2, ema, deadCodeRestart: { threshold: 1, seed: 0 } });
        q.setCodebook(
          T.tensor([
            [0, 0],
            [0.5, 0],
            [0, 0.5],
            [100, 100],
          ]),
        );
        const z = T.randn([2, 2, 8, 8]).mul(0.3);
        const encoderRows = z.movedim(1, -1).reshape([-1, 2]);

        q.eval();
        const evalR = q.quantize(z);
        assert.equal(evalR.stats.restarted, 0);
        assert.deepEqual(q.embedding.weight.index(3).toArray(), [100, 100], 'no restart in eval');

        q.train();
        const r = q.quantize(z);
        assert.ok(!r.indices.eq(3).any().item(), 'code 3 unused');
        assert.ok(r.stats.restarted! > 0, `restarted ${r.stats.restarted}`);
        const code3 = q.embedding.weight.index(3);
        const isEncoderRow = encoderRows.sub(code3).abs().sum(1).min().item() === 0;
        assert.ok(isEncoderRow, `ema=${ema}: restarted code ${code3.toArray()} is one of the encoder outputs`);
        assert.equal(q.runningStats().restarted, r.stats.restarted);
        if (ema) assert.equal(q.clusterSize!.index(3).item(), 1);
      }
    });
  });

  it('restarts and EMA after the forward leave the backward valid (gradient codebook, cosine, low-dim)', () => {
    T.tidy(() => {
      const q = new VectorQuantizer({ codebookSize: 32, dim: 6, codebookDim: 2, l2Normalize: true, deadCodeRestart: { threshold: 1e9 } });
      const z = T.randn([2, 6, 4, 4]);
      z.requiresGrad = true;
      const r = q.quantize(z);
      assert.equal(r.stats.restarted, 32);
      r.zq.square().sum().add(r.loss).backward();
      assert.ok(z.grad!.abs().sum().item() > 0);
      assert.ok(q.embedding.weight.grad!.abs().sum().item() > 0);
    });
  });

  it('cosine codes: indices are the nearest codes by cosine similarity', () => {
    T.tidy(() => {
      const q = new VectorQuantizer({ codebookSize: 16, dim: 3, l2Normalize: true });
      q.setCodebook(T.randn([16, 3]).mul(T.rand([16, 1]).mul(5)));
      const z = T.randn([2, 3, 4, 4]);
      const r = q.quantize(z);
      const rows = T.normalize(z.movedim(1, -1).reshape([-1, 3]), -1);
      const cos = rows.mm(T.normalize(q.embedding.weight, -1).t());
      assert.deepEqual(r.indices.reshape([-1]).toArray(), cos.argmax(1).toArray());
      assert.deepEqual(q.codesToIndices(q.indicesToCodes(r.indices)).toArray(), r.indices.toArray());
    });
  });
});

describe('MultichannelQuantizer', () => {
  it('splits C into G groups quantized against one shared codebook: indices [B, H, W, G]', () => {
    T.tidy(() => {
      const q = new MultichannelQuantizer({ codebookSize: 32, dim: 8, groups: 4 });
      assert.deepEqual(q.stateDictKeys(), ['embedding.weight']);
      assert.deepEqual(q.embedding.weight.shape, [32, 2]);
      assert.equal(q.dim, 8);
      assert.equal(q.tokensPerPosition, 4);
      q.setCodebook(T.randn([32, 2]));
      const z = T.randn([3, 8, 5, 6]);
      const r = q.quantize(z);
      assert.deepEqual(r.zq.shape, [3, 8, 5, 6]);
      assert.deepEqual(r.indices.shape, [3, 5, 6, 4]);
      // Group g is channels 2g, 2g+1, quantized by a plain VQ holding the same codebook.
      const plain = new VectorQuantizer({ codebookSize: 32, dim: 2 });
      plain.setCodebook(q.embedding.weight);
      for (let g = 0; g < 4; g++) {
        const pr = plain.quantize(z.narrow(1, 2 * g, 2));
        assert.deepEqual(r.indices.select(-1, g).toArray(), pr.indices.toArray(), `group ${g} indices`);
        assertClose(r.zq.narrow(1, 2 * g, 2), pr.zq, 1e-6, 1e-6, `group ${g} zq`);
      }
      // Same code id ⇒ same vector in every group.
      const k = 7;
      const lk = q.lookup(T.full([1, 2, 2, 4], k, { dtype: 'int64' }));
      const code = q.embedding.weight.index(k).toArray();
      for (let g = 0; g < 4; g++) assert.deepEqual(lk.index(0, [2 * g, 2 * g + 2], 1, 1).toArray(), code);
    });
  });

  it('rejects a channel count not divisible by the groups', () => {
    assert.throws(() => new MultichannelQuantizer({ codebookSize: 8, dim: 6, groups: 4 }), /divisible/);
  });
});

describe('ResidualQuantizer', () => {
  it('the reconstruction error falls with depth; indices [B, H, W, D]; loss is the depth-average', () => {
    T.tidy(() => {
      T.manualSeed(5);
      const q = new ResidualQuantizer({ codebookSize: 16, dim: 3, depth: 4, kmeansInit: { seed: 1 } });
      assert.deepEqual(q.stateDictKeys(), [
        'layers.0.initted',
        'layers.0.embedding.weight',
        'layers.1.initted',
        'layers.1.embedding.weight',
        'layers.2.initted',
        'layers.2.embedding.weight',
        'layers.3.initted',
        'layers.3.embedding.weight',
      ]);
      const z = T.randn([4, 3, 8, 8]);
      const r = q.quantize(z); // k-means init of every depth on its residuals
      assert.deepEqual(r.indices.shape, [4, 8, 8, 4]);
      q.eval();
      const r2 = q.quantize(z);
      const partial = q.lookupPartial(r2.indices);
      const errs = partial.map((p) => p.sub(z).square().mean().item());
      for (let d = 1; d < 4; d++) assert.ok(errs[d]! < errs[d - 1]!, `error at depth ${d + 1} (${errs[d]}) < depth ${d} (${errs[d - 1]})`);
      assert.ok(errs[3]! < 0.25 * errs[0]!, `errors ${errs.map((e) => e.toFixed(4))}`);
      assertClose(partial[3]!, r2.zq, 1e-5, 1e-5, 'zq = sum of the codes');
      // Textbook, gradient codebooks: loss = (1 + β)·mean_d mse(z, ẑ_d).
      const expected = (1.25 * errs.reduce((a, b) => a + b, 0)) / 4;
      assert.ok(Math.abs(r2.loss.item() - expected) < 1e-5 * expected + 1e-7, `loss ${r2.loss.item()} vs ${expected}`);
    });
  });

  it("straight-through to the encoder and gradients to every depth's codebook", () => {
    T.tidy(() => {
      const q = new ResidualQuantizer({ codebookSize: 8, dim: 2, depth: 3 });
      for (const l of q.layers) l.setCodebook(T.randn([8, 2]));
      const z = T.randn([2, 2, 3, 3]);
      z.requiresGrad = true;
      const r = q.quantize(z);
      const g = T.randn([2, 2, 3, 3]);
      r.zq.mul(g).sum().backward(undefined, { retainGraph: true });
      assertClose(z.grad!, g, 1e-6, 0, 'ST gradient is the identity');
      r.loss.backward();
      for (const l of q.layers) assert.ok(l.embedding.weight.grad!.abs().sum().item() > 0);
    });
  });

  it('shared codebook: one set of keys, stats over all depths', () => {
    T.tidy(() => {
      const q = new ResidualQuantizer({ codebookSize: 8, dim: 2, depth: 3, sharedCodebook: true });
      assert.deepEqual(q.stateDictKeys(), ['layers.0.embedding.weight']);
      const r = q.quantize(T.randn([2, 2, 4, 4]));
      assert.deepEqual(r.indices.shape, [2, 4, 4, 3]);
      assert.equal(r.stats.tokens, 2 * 4 * 4 * 3);
    });
  });
});

describe('SimVQ', () => {
  it('keeps the codebook frozen (a buffer) while W trains, and every code moves after one step', () => {
    T.tidy(() => {
      const q = new SimVQ({ codebookSize: 64, dim: 4 });
      assert.deepEqual(q.stateDictKeys(), ['embedding.weight', 'embedding_proj.weight', 'embedding_proj.bias']);
      const frozen = q.embedding.weight;
      assert.ok(!q.parameters().includes(frozen), 'codebook is not a parameter');
      assert.ok(q.buffers().includes(frozen));
      assert.equal(frozen.requiresGrad, false);
      const C0 = frozen.clone();
      const codes0 = T.noGrad(() => q.codebook().clone());
      const opt = new SGD(q.parameters(), { lr: 0.1 });
      const r = q.quantize(T.randn([2, 4, 4, 4]));
      r.loss.backward();
      opt.step();
      assert.ok(frozen.equal(C0), 'C unchanged');
      const codes1 = T.noGrad(() => q.codebook());
      const moved = codes1.sub(codes0).abs().sum(1).gt(0).sum().item();
      assert.equal(moved, 64, 'all 64 codes moved, although one batch used only a few');
      assert.ok(r.stats.utilization < 1);
    });
  });
});

const ALL_CONFIGS: QuantizerConfig[] = [
  { type: 'vq', codebookSize: 16, dim: 4 },
  { type: 'vq', codebookSize: 16, dim: 4, legacy: true, beta: 0.5 },
  { type: 'vq', codebookSize: 16, dim: 4, ema: { decay: 0.9 }, kmeansInit: { iters: 3 }, deadCodeRestart: { threshold: 0.5 } },
  { type: 'vq', codebookSize: 16, dim: 8, codebookDim: 2, l2Normalize: true },
  { type: 'multichannel', codebookSize: 16, dim: 8, groups: 4 },
  { type: 'multichannel', codebookSize: 16, dim: 8, groups: 2, ema: true },
  { type: 'residual', codebookSize: 16, dim: 4, depth: 3 },
  { type: 'residual', codebookSize: 16, dim: 4, depth: 2, sharedCodebook: true, ema: true },
  { type: 'simvq', codebookSize: 16, dim: 4 },
];

describe('every quantizer', () => {
  for (const cfg of ALL_CONFIGS) {
    const label = JSON.stringify(cfg);
    it(`lookup(quantize(z).indices) reproduces zq, works in tidy without leaks: ${label}`, () => {
      const q: Quantizer = createQuantizer(JSON.parse(JSON.stringify(cfg)) as QuantizerConfig);
      assert.equal(
        q.constructor.name,
        { vq: 'VectorQuantizer', multichannel: 'MultichannelQuantizer', residual: 'ResidualQuantizer', simvq: 'SimVQ', lc: 'LCQuantizer' }[cfg.type],
      );
      // A first training step (k-means init, parameter gradients allocated), then count handles.
      T.tidy(() => {
        const z = T.randn([2, q.dim, 4, 4]);
        z.requiresGrad = true;
        const r = q.quantize(z);
        r.zq.square().mean().add(r.loss).backward();
      });
      const before = T.memoryStats().liveTensors;
      for (let i = 0; i < 2; i++) {
        T.tidy(() => {
          const z = T.randn([2, q.dim, 4, 4]);
          z.requiresGrad = true;
          const r = q.quantize(z);
          r.zq.square().mean().add(r.loss).backward();
        });
      }
      assert.equal(T.memoryStats().liveTensors, before, 'no tensors left behind by training steps in tidy');
      T.tidy(() => {
        for (const mode of ['eval', 'train'] as const) {
          q.train(mode === 'train');
          const z = T.randn([2, q.dim, 3, 5]);
          const r = q.quantize(z);
          assert.deepEqual(r.zq.shape, z.shape);
          assert.deepEqual(r.indices.shape, q.tokensPerPosition === 1 ? [2, 3, 5] : [2, 3, 5, q.tokensPerPosition]);
          assert.equal(r.indices.dtype, 'int64');
          assert.deepEqual(r.loss.shape, []);
          // In training, EMA and restarts change the codebook after the forward; otherwise lookup is exact.
          const updates = 'ema' in cfg || 'deadCodeRestart' in cfg;
          if (mode === 'eval' || !updates) assertClose(q.lookup(r.indices), r.zq, 1e-5, 1e-5, `${mode} lookup`);
          // Re-quantizing zq gives zq again when codes live in the latent space itself (not through a
          // projection, and not greedy residual sums).
          if (mode === 'eval' && cfg.type !== 'residual' && !('codebookDim' in cfg)) {
            assertClose(q.lookup(q.quantize(r.zq).indices), r.zq, 1e-5, 1e-5, 'zq is a fixed point');
          }
        }
      });
    });
  }

  it('createQuantizer rejects an unknown type, misspelt options and out-of-range values', () => {
    assert.throws(
      () => createQuantizer({ type: 'fsq' } as unknown as QuantizerConfig),
      /^ConfigError: quantizer\.type: expected one of vq, multichannel, residual, simvq, lc, got "fsq"$/,
    );
    assert.throws(
      () => createQuantizer(JSON.parse('{"type":"vq","codebookSize":8,"dim":2,"emaa":true}') as QuantizerConfig),
      /^ConfigError: quantizer \(type 'vq'\): unknown key 'emaa' \(did you mean 'ema'\? valid: codebookSize, /,
    );
    assert.throws(
      () => createQuantizer(JSON.parse('{"type":"vq","codebookSize":8,"dim":2,"ema":{"decy":0.9}}') as QuantizerConfig),
      /quantizer\.ema: unknown key 'decy' \(did you mean 'decay'\?/,
    );
    assert.throws(
      () => createQuantizer({ type: 'residual', codebookSize: 8, dim: 2, depth: 2, l2Normalize: true } as unknown as QuantizerConfig),
      /unknown key 'l2Normalize'/,
    );
    assert.throws(
      () => createQuantizer({ type: 'vq', codebookSize: 8, dim: 2, ema: 3 } as unknown as QuantizerConfig),
      /quantizer\.ema: expected true, false or an object, got 3/,
    );
    assert.throws(() => createQuantizer({ type: 'vq', codebookSize: 8, dim: 2, ema: { decay: 1.5 } }), /VectorQuantizer: ema\.decay: must be < 1, got 1\.5/);
    assert.throws(() => createQuantizer({ type: 'vq', codebookSize: 0, dim: 2 }), /VectorQuantizer: codebookSize: expected a positive integer, got 0/);
    assert.throws(() => createQuantizer({ type: 'vq', codebookSize: 8, dim: 2, beta: NaN }), /VectorQuantizer: beta: expected a finite number, got NaN/);
    assert.throws(
      () => createQuantizer({ type: 'residual', codebookSize: 8, dim: 2, depth: 1.5 }),
      /ResidualQuantizer: depth: expected a positive integer, got 1\.5/,
    );
  });
});

describe('stats', () => {
  it('utilization and perplexity of a known index distribution, per batch and running', () => {
    T.tidy(() => {
      const q = new VectorQuantizer({ codebookSize: 4, dim: 1 }).to('float64');
      q.setCodebook(f64([[0], [10], [20], [30]]));
      // Codes 0, 0, 1, 2 → p = (½, ¼, ¼, 0).
      const r = q.quantize(asLatent([[0.1], [-0.2], [9], [21]]));
      assert.deepEqual(r.indices.reshape([-1]).toArray(), [0, 0, 1, 2]);
      assert.equal(r.stats.utilization, 0.75);
      const h = -(0.5 * Math.log(0.5) + 2 * 0.25 * Math.log(0.25));
      assert.ok(Math.abs(r.stats.perplexity - Math.exp(h)) < 1e-12);
      assert.equal(r.stats.tokens, 4);
      // Second batch: codes 3, 3, 3, 3. Running counts (2, 1, 1, 4) of 8.
      const r2 = q.quantize(asLatent([[30], [31], [29], [33]]));
      assert.equal(r2.stats.utilization, 0.25);
      assert.equal(r2.stats.perplexity, 1);
      const run = q.runningStats();
      assert.equal(run.utilization, 1);
      const p = [2 / 8, 1 / 8, 1 / 8, 4 / 8];
      assert.ok(Math.abs(run.perplexity - Math.exp(-p.reduce((a, x) => a + x * Math.log(x), 0))) < 1e-12);
      assert.equal(run.tokens, 8);
      q.resetStats();
      assert.deepEqual(q.runningStats(), { utilization: 0, perplexity: 0, tokens: 0, restarted: 0 });
      // Uniform over all codes: perplexity = K.
      assert.ok(Math.abs(statsFromCounts([5, 5, 5, 5]).perplexity - 4) < 1e-12);
    });
  });

  // Measured at the time of writing: plain VQ ≈ 25% of 512 codes used, VQ + k-means init + dead-code
  // restart 100% (2-d N(0, I) data, 1024 tokens per step, Adam lr 1e-2, 200 steps).
  it('k-means init + dead-code restart reach ≥ 95% utilization of 512 codes where plain VQ does not (plain ≈ 25%, kmeans+restart 100%)', (t) => {
    const run = (opts: object): number => {
      T.manualSeed(1);
      const q = new VectorQuantizer({ codebookSize: 512, dim: 2, ...opts });
      const opt = new Adam(q.parameters(), { lr: 1e-2 });
      const gen = new T.Generator(7);
      for (let s = 0; s < 200; s++) {
        T.tidy(() => {
          const r = q.quantize(T.randn([4, 2, 16, 16], gen));
          opt.zeroGrad();
          r.loss.backward();
          opt.step();
        });
      }
      q.eval();
      q.resetStats();
      const evalGen = new T.Generator(123);
      for (let i = 0; i < 8; i++) T.tidy(() => q.quantize(T.randn([16, 2, 16, 16], evalGen)));
      return q.runningStats().utilization;
    };
    const plain = run({});
    const helped = run({ kmeansInit: { seed: 0 }, deadCodeRestart: { seed: 0 } });
    t.diagnostic(`utilization of 512 codes: plain VQ ${(100 * plain).toFixed(1)}%, k-means + restart ${(100 * helped).toFixed(1)}%`);
    assert.ok(helped >= 0.95, `k-means + restart utilization ${helped}`);
    assert.ok(plain < 0.6, `plain VQ utilization ${plain} (the comparison only means something if plain VQ under-uses)`);
  });
});
