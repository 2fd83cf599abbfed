// Codebooks at scale (src/quantize/simvq.ts, lc.ts, src/train/codebook-init.ts): SimVQ's frozen
// N(0, 1/d) codebook and its trained map (with the map learning-rate multiplier), the VQGAN-LC-style
// codebook initialised by k-means over a trained tokenizer's features, and their config errors.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { Adam } from '../src/optim/index.js';
import { SimVQ, LCQuantizer, createQuantizer, type QuantizerConfig } from '../src/quantize/index.js';
import { createTokenizer, loadTokenizer, saveTokenizer } from '../src/tokenizers/index.js';
import type { VQVAEConfig } from '../src/tokenizers/vqvae.js';
import { cliSandbox, assertCliError } from './helpers.js';
import { featureRows, initCodebookFrom } from '../src/train/codebook-init.js';
import { loadDataset, type Dataset } from '../src/data/index.js';

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

describe('SimVQ loss and data-dependent map init', () => {
  it("puts the reference's weights on the terms: 1 on the codebook term (to the map), β on the commitment (to z)", () => {
    T.tidy(() => {
      T.manualSeed(7);
      const d = 4;
      const q = new SimVQ({ codebookSize: 32, dim: d, beta: 0.25 });
      q.train();
      const z = T.randn([1, d, 3, 3]).mul(2);
      z.requiresGrad = true;
      const r = q.quantize(z);
      r.loss.backward();
      const e = T.noGrad(() => q.lookup(r.indices));
      // d/dz of β·mean((z − sg e)²) = 2β(z − e)/n.
      const want = z
        .detach()
        .sub(e)
        .mul((2 * 0.25) / z.numel);
      assert.ok(z.grad!.sub(want).abs().max().item() < 1e-6, 'commitment gradient on z has weight β');
      const gW = q.embeddingProj.weight.grad!.clone();
      q.embeddingProj.weight.grad!.zero_();
      // The map's gradient is exactly that of mean((W(C)_k − sg z)²), weight 1.
      const ek = q.indicesToCodes(r.indices).movedim(-1, 1);
      ek.sub(z.detach()).square().mean().backward();
      assert.ok(q.embeddingProj.weight.grad!.sub(gW).abs().max().item() < 1e-6, 'codebook gradient on W has weight 1');
    });
  });

  it('dataInit fits the codes to the first batch, and usage stays high over Adam steps on data far from N(0, 1/d)', () => {
    T.tidy(() => {
      const d = 8;
      const run = (dataInit: boolean) => {
        T.manualSeed(0);
        const q = new SimVQ({ codebookSize: 256, dim: d, dataInit });
        q.train();
        const opt = new Adam(q.parameters(), { lr: 1e-3 });
        T.manualSeed(1);
        const A = T.randn([d, d]);
        // Latents with mean 4 and an anisotropic scale ~3× the codes' (what a drifting encoder gives).
        const batch = () => T.randn([4, d, 16, 16]).movedim(1, -1).matmul(A).mul(3).add(4).movedim(-1, 1).contiguous();
        const first = batch();
        const uses: number[] = [];
        for (let i = 0; i < 20; i++) {
          const r = q.quantize(i === 0 ? first : batch());
          if (i === 0 && dataInit) {
            const rows = first.movedim(1, -1).reshape([-1, d]);
            const codes = T.noGrad(() => q.codebook());
            assert.ok(codes.mean(0).sub(rows.mean(0)).abs().max().item() < 1e-3, 'codes have the batch mean');
            const sd = (x: T.Tensor) => x.std(0);
            assert.ok(sd(codes).div(sd(rows)).sub(1).abs().max().item() < 0.15, 'and its per-channel spread');
          }
          opt.zeroGrad();
          r.loss.backward();
          opt.step();
          uses.push(r.stats.utilization);
        }
        return { q, use: Math.min(...uses.slice(-5)) };
      };
      const ref = run(false);
      const fit = run(true);
      assert.ok(fit.use > 0.8, `dataInit: ${fit.use} of the codes used per batch`);
      assert.ok(ref.use < 0.4, `the reference init leaves most codes outside the data: ${ref.use}`);
      assert.equal(fit.q.mapInitted!.item(), 1);
      assert.ok(fit.q.stateDictKeys().includes('map_initted') && !ref.q.stateDictKeys().includes('map_initted'));
      // A loaded (already fitted) map is not refitted.
      const w = fit.q.embeddingProj.weight.clone();
      fit.q.quantize(T.randn([1, d, 4, 4]).mul(100));
      assert.equal(fit.q.embeddingProj.weight.sub(w).abs().max().item(), 0);
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

describe('tessera train tokenizer --codebook-init-from', () => {
  const cli = cliSandbox('cli-lc');
  const TINY = ['--data', 'mnist', '--size', '16', '--steps', '4', '--batch-size', '4', '--no-ema'];
  const srcModel = cli.p('src', 'model.safetensors');
  /** A --config file: the source run's model with the given quantizer. */
  const configWith = (name: string, quantizer: object): string => {
    const src = JSON.parse(readFileSync(cli.p('src', 'config.json'), 'utf8')) as { arch: string; model: Record<string, unknown> };
    const file = cli.p(`${name}.json`);
    writeFileSync(file, JSON.stringify({ arch: src.arch, model: { ...src.model, quantizer } }));
    return file;
  };
  before(() => {
    const r = cli.tessera('train', 'tokenizer', '--arch', 'vqvae', ...TINY, '--ch', '16', '--codebook-size', '16', '--out', 'src');
    assert.equal(r.code, 0, r.err);
  });

  it('sets the lc codebook from the model, records it in config.json, and resumes bit-exactly', async () => {
    const lc = configWith('lc', { type: 'lc', codebookSize: 24, featureDim: 32 });
    const full = cli.tessera('train', 'tokenizer', '--config', lc, ...TINY, '--codebook-init-from', srcModel, '--out', 'full');
    assert.equal(full.code, 0, full.err);
    assert.match(full.err, /codebook: k-means centres of \d+ latent rows of \S+src\/model\.safetensors/);
    const cfg = JSON.parse(readFileSync(cli.p('full', 'config.json'), 'utf8')) as { codebookInitFrom: string };
    assert.equal(cfg.codebookInitFrom, srcModel, 'the absolute path is part of the run');
    const trained = (loadTokenizer(cli.p('full', 'model.safetensors')) as unknown as { quantize: LCQuantizer }).quantize;
    assert.ok(trained instanceof LCQuantizer && trained.initted.item() === 1);
    // The frozen codes are exactly what the library call gives on the run's training split (seeded by --seed).
    const { train } = (await loadDataset('mnist', { size: 16, resize: 16 })).split({ valCount: 500 });
    const fresh = createTokenizer('vqvae', { ...(JSON.parse(readFileSync(lc, 'utf8')) as { model: VQVAEConfig }).model });
    initCodebookFrom(fresh, srcModel, train, { seed: 0 });
    assert.equal((fresh.quantize as LCQuantizer).embedding.weight.sub(trained.embedding.weight).abs().max().item(), 0);

    const half = cli.tessera('train', 'tokenizer', '--config', lc, ...TINY, '--codebook-init-from', srcModel, '--out', 'half', '--stop-after', '2');
    assert.equal(half.code, 0, half.err);
    const rest = cli.tessera('train', 'tokenizer', '--out', 'half', '--resume', '--codebook-init-from', srcModel);
    assert.equal(rest.code, 0, rest.err);
    assert.doesNotMatch(rest.err, /codebook: k-means/, 'a resumed run takes its codebook from the checkpoint');
    const a = loadTokenizer(cli.p('full', 'model.safetensors')).stateDict();
    const b = loadTokenizer(cli.p('half', 'model.safetensors')).stateDict();
    for (const [k, v] of Object.entries(a)) assert.equal(v.sub(b[k]!).abs().max().item(), 0, k);

    assertCliError(
      cli.tessera('train', 'tokenizer', '--out', 'half', '--resume', '--codebook-init-from', cli.p('other.safetensors')),
      2,
      /--codebook-init-from \S+ \(saved: \S+src\/model\.safetensors\) contradicts the saved run/,
    );
  });

  it('refuses a wrong quantizer, a feature-width mismatch, a missing file, and lc without it: one line, no run left', () => {
    const lc = configWith('lc', { type: 'lc', codebookSize: 24, featureDim: 32 });
    const wide = configWith('wide', { type: 'lc', codebookSize: 24, featureDim: 8 });
    const cases: [string[], RegExp][] = [
      [['--arch', 'vqvae', '--codebook-size', '16', '--codebook-init-from', srcModel], /quantizer must be of type 'lc'/],
      [['--config', wide, '--codebook-init-from', srcModel], /gives 32-channel features; the quantizer's featureDim is 8/],
      [['--config', lc, '--codebook-init-from', cli.p('nope.safetensors')], /--codebook-init-from: \S+nope\.safetensors not found/],
      [['--config', lc], /'lc' quantizer.*give --codebook-init-from/],
    ];
    for (const [args, re] of cases) {
      assertCliError(cli.tessera('train', 'tokenizer', ...TINY, ...args, '--out', 'bad'), 1, re);
      assert.ok(!existsSync(cli.p('bad')), `no run folder left by ${args.join(' ')}`);
    }
  });

  it('resumes a run whose config.json predates the flag', () => {
    const path = cli.p('src', 'config.json');
    const { codebookInitFrom, ...old } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    assert.equal(codebookInitFrom, null);
    writeFileSync(path, JSON.stringify(old));
    const r = cli.tessera('train', 'tokenizer', '--out', 'src', '--resume', '--steps', '5');
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>).codebookInitFrom, null);
  });
});
