// Codebooks at scale (src/quantize/simvq.ts, lc.ts, src/train/codebook-init.ts): SimVQ's frozen
// N(0, 1/d) codebook and its trained map (with the map learning-rate multiplier), the VQGAN-LC-style
// codebook initialised by k-means over a trained tokenizer's features, and their config errors.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { Adam } from '../src/optim/index.js';
import { SimVQ, LCQuantizer, createQuantizer, type QuantizerConfig } from '../src/quantize/index.js';
import { createTokenizer, saveTokenizer } from '../src/tokenizers/index.js';
import { featureRows, initCodebookFrom } from '../src/train/codebook-init.js';
import type { Dataset } from '../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-codebook-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('SimVQ', () => {
  it('initialises the frozen codebook N(0, 1/d) and trains only the map (which gets gradient)', () => {
    T.tidy(() => {
      T.manualSeed(1);
      const d = 16;
      const q = new SimVQ({ codebookSize: 4096, dim: d });
      const C = q.embedding.weight;
      assert.ok(Math.abs(C.mean().item()) < 0.01, `mean ${C.mean().item()}`);
      const std = C.std().item();
      assert.ok(Math.abs(std - d ** -0.5) < 0.01, `std ${std} vs ${d ** -0.5}`);
      q.train();
      const r = q.quantize(T.randn([2, d, 4, 4]));
      r.loss.backward();
      const g = q.embeddingProj.weight.grad;
      assert.ok(g && g.abs().sum().item() > 0, 'the map has a gradient');
      assert.ok(q.embeddingProj.bias!.grad!.abs().sum().item() > 0, 'the bias has a gradient');
      assert.ok(!C.grad, 'the frozen codebook has none');
      assert.deepEqual(q.parameters().length, 2);
    });
  });

  it('mapLrScale keeps the initial codes and multiplies how far one Adam step moves them', () => {
    T.tidy(() => {
      const moved = (s: number) => {
        T.manualSeed(3);
        const q = new SimVQ({ codebookSize: 256, dim: 8, mapLrScale: s });
        q.train();
        const c0 = T.noGrad(() => q.codebook().clone());
        const opt = new Adam(q.parameters(), { lr: 1e-3 });
        T.manualSeed(4);
        q.quantize(T.randn([2, 8, 4, 4]).mul(3)).loss.backward();
        opt.step();
        return { c0, step: T.noGrad(() => q.codebook().sub(c0).abs().mean().item()) };
      };
      const a = moved(1);
      const b = moved(10);
      assert.ok(a.c0.sub(b.c0).abs().max().item() < 1e-5, 'same initial codes whatever the scale');
      const ratio = b.step / a.step;
      assert.ok(ratio > 8 && ratio < 12, `step ratio ${ratio}`);
    });
  });
});

describe('LC-style codebook', () => {
  /** n rows around each of the given centres, 4-d. */
  const blobs = (centres: number[][], n: number) =>
    T.cat(
      centres.map((c) => T.randn([n, 4]).mul(0.05).add(T.tensor(c))),
      0,
    );

  it('initialises the frozen codebook to the k-means centres of the features', () => {
    T.tidy(() => {
      T.manualSeed(5);
      const centres = [
        [3, 0, 0, 0],
        [0, -3, 0, 0],
        [0, 0, 0, 3],
      ];
      const q = new LCQuantizer({ codebookSize: 3, dim: 6, featureDim: 4 });
      assert.deepEqual(q.stateDictKeys().sort(), ['embedding.weight', 'embedding_proj.bias', 'embedding_proj.weight', 'initted']);
      assert.deepEqual(q.embeddingProj.weight.shape, [6, 4], 'projector: featureDim → lookup dim');
      q.initFromFeatures(blobs(centres, 200), { seed: 0 });
      assert.equal(q.initted.item(), 1);
      const got = q.embedding.weight.toArray() as number[];
      for (const c of centres) {
        const best = Math.min(...[0, 1, 2].map((k) => Math.hypot(...c.map((v, j) => v - got[k * 4 + j]!))));
        assert.ok(best < 0.05, `a centre within 0.05 of ${c}: ${best}`);
      }
      // Codes are the projected centres, and the projector trains.
      q.train();
      const r = q.quantize(T.randn([1, 6, 2, 2]));
      r.loss.backward();
      assert.ok(q.embeddingProj.weight.grad!.abs().sum().item() > 0);
    });
  });

  it('refuses to train before init, and features of the wrong width or too few rows', () => {
    T.tidy(() => {
      const q = new LCQuantizer({ codebookSize: 8, dim: 4, featureDim: 4 });
      q.train();
      assert.throws(() => q.quantize(T.randn([1, 4, 2, 2])), /has not been initialised from features/);
      assert.throws(() => q.initFromFeatures(T.randn([100, 5])), /expected feature rows \[N, 4\], got \[100, 5\]/);
      assert.throws(() => q.initFromFeatures(T.randn([5, 4])), /5 feature rows cannot give 8 distinct k-means centres/);
      q.eval();
      q.quantize(T.randn([1, 4, 2, 2])); // evaluation of a loaded model needs no features
    });
  });

  it("initCodebookFrom clusters a saved tokenizer's latents into another tokenizer's LC codebook", () => {
    T.manualSeed(6);
    const src = createTokenizer('vqvae', { ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } });
    const file = join(dir, 'src.safetensors');
    saveTokenizer(file, src);
    const images = T.rand([12, 3, 16, 16]).mul(2).sub(1).keep();
    const data = { size: 12, batch: (idx: number[]) => ({ images: images.indexSelect(0, T.tensor(idx, { dtype: 'int64' })) }) } as unknown as Dataset;
    const target = createTokenizer('vqvae', {
      ch: 16,
      resCh: 8,
      numDownsamples: 2,
      numResBlocks: 0,
      embedDim: 4,
      quantizer: { type: 'lc', codebookSize: 32, featureDim: 4 },
    });
    const r = initCodebookFrom(target, file, data, { seed: 0, iters: 3 });
    assert.equal(r.rows, 12 * 16, 'every latent position of every image');
    const q = target.quantize as LCQuantizer;
    assert.equal(q.initted.item(), 1);
    // Every centre lies inside the features' bounding box (they are means of feature rows).
    const rows = featureRows(src, data);
    const lo = rows.amin(0);
    const hi = rows.amax(0);
    assert.ok(q.embedding.weight.sub(lo).amin().item() >= -1e-5 && hi.sub(q.embedding.weight).amin().item() >= -1e-5);
    const plain = createTokenizer('vqvae', { ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } });
    assert.throws(() => initCodebookFrom(plain, file, data), /quantizer must be of type 'lc'/);
    const wide = createTokenizer('vqvae', {
      ch: 16,
      resCh: 8,
      numDownsamples: 2,
      numResBlocks: 0,
      embedDim: 4,
      quantizer: { type: 'lc', codebookSize: 8, featureDim: 6 },
    });
    assert.throws(() => initCodebookFrom(wide, file, data), /gives 4-channel features; the quantizer's featureDim is 6/);
    images.dispose();
  });
});

describe('config errors', () => {
  const bad: [unknown, RegExp][] = [
    [{ type: 'lc', codebookSize: 8, dim: 4 }, /LCQuantizer: featureDim/],
    [{ type: 'lc', codebookSize: 8, dim: 4, featureDim: 4, featureDims: 4 }, /featureDims/],
    [{ type: 'simvq', codebookSize: 8, dim: 4, mapLrScale: 0 }, /mapLrScale/],
    [{ type: 'simvq', codebookSize: 8, dim: 4, featureDim: 4 }, /featureDim/],
    [{ type: 'vq', codebookSize: 8, dim: 4, mapLrScale: 10 }, /mapLrScale/],
  ];
  for (const [cfg, re] of bad) {
    it(`rejects ${JSON.stringify(cfg)} with one clear message`, () => {
      assert.throws(
        () => createQuantizer(cfg as QuantizerConfig),
        (e: Error) => re.test(e.message) && !e.message.includes('\n'),
      );
    });
  }
  it('builds SimVQ and LC from the factory', () => {
    assert.ok(createQuantizer({ type: 'simvq', codebookSize: 8, dim: 4, mapLrScale: 10 }) instanceof SimVQ);
    assert.ok(createQuantizer({ type: 'lc', codebookSize: 8, dim: 4, featureDim: 6, codebookDim: 2, l2Normalize: true }) instanceof LCQuantizer);
  });
});
