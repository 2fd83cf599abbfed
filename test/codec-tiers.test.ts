// Tests for codebook tiers (src/codec/tiers.ts, after Mao et al., "Extreme Image Compression using
// Fine-tuned VQGANs"): k-means of the shipped MNIST VQ-VAE's 256 codes into 64- and 16-code tiers,
// fine-tuning of codebook + post_quant_conv, the tier tokenizers, and the errors for what cannot be tiered.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { loadDataset } from '../src/data/index.js';
import { createTokenizer, loadTokenizer, type Tokenizer } from '../src/tokenizers/index.js';
import { StateDictError } from '../src/nn/index.js';
import { checkTierable, fitTiers, tierTokenizer, type Tier } from '../src/codec/tiers.js';
import { repoRoot } from './helpers.js';

const model = (name: string): string => join(repoRoot, 'models', `${name}.safetensors`);

/** Mean squared reconstruction error of encode → decode on `x` (clamped to [-1, 1], as evaluation does). */
const reconMse = (tok: Tokenizer, x: Tensor): number => T.noGrad(() => T.tidy(() => tok.decode(tok.encode(x)).clamp(-1, 1).sub(x).square().mean().item()));

/** Copies of every state-dict tensor (to compare before/after). */
const snapshot = (tok: Tokenizer): Record<string, Tensor> =>
  T.tidy(() => {
    const out: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(tok.stateDict())) out[k] = t.clone().keep();
    return out;
  });
const disposeAll = (sd: Record<string, Tensor>): void => {
  for (const t of Object.values(sd)) t.dispose();
};
const disposeTiers = (tiers: Tier[]): void => {
  for (const t of tiers) disposeAll(t.tensors);
};

/** Asserts fn throws one line matching re. */
function assertOneLine(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    return true;
  });
}

describe('codebook tiers on the MNIST VQ-VAE', () => {
  let tok: Tokenizer;
  let fit: Tensor;
  let held: Tensor;
  let before0: Record<string, Tensor>;
  let kmeansOnly: Tier[] = [];
  let tuned: Tier[] = [];
  const sizes = [64, 16];

  before(async () => {
    tok = loadTokenizer(model('mnist-vqvae'));
    const ds = await loadDataset('mnist', { channels: 3, cache: false });
    const { train, val } = ds.split({ valCount: 500 });
    // Fit on 300 training digits spread over the split; measure on 200 held-out ones.
    fit = train.batch(Array.from({ length: 300 }, (_, i) => Math.floor((i * train.size) / 300))).images.keep();
    held = val.batch(Array.from({ length: 200 }, (_, i) => i)).images.keep();
    before0 = snapshot(tok);
    // Same seed: the k-means tiers are the starting points of the fine-tuned ones.
    kmeansOnly = fitTiers(tok, fit, sizes, { steps: 0, generator: new T.Generator(1) });
    const log: string[] = [];
    tuned = fitTiers(tok, fit, sizes, { steps: 120, batchSize: 32, lr: 3e-3, generator: new T.Generator(1), onProgress: (m) => log.push(m) });
    assert.ok(
      log.some((l) => /^tier 16: step 120\/120/.test(l)),
      log.join('\n'),
    );
  });

  after(() => {
    disposeTiers(kmeansOnly);
    disposeTiers(tuned);
    disposeAll(before0);
    fit.dispose();
    held.dispose();
    tok.dispose();
  });

  test('tiers have the requested sizes and exactly the quantize.* and post_quant_conv.* tensors', () => {
    const want = tok
      .stateDictKeys()
      .filter((k) => k.startsWith('quantize.') || k.startsWith('post_quant_conv.'))
      .sort();
    for (const tiers of [kmeansOnly, tuned]) {
      assert.deepEqual(
        tiers.map((t) => t.codebookSize),
        sizes,
      );
      for (const t of tiers) {
        assert.deepEqual(Object.keys(t.tensors).sort(), want);
        assert.deepEqual(t.tensors['quantize.embedding.weight']!.shape, [t.codebookSize, 32]);
      }
    }
    // The k-means tier's post_quant_conv is the base one; fine-tuning moved it.
    const base = before0['post_quant_conv.weight']!;
    assert.ok(kmeansOnly[0]!.tensors['post_quant_conv.weight']!.equal(base));
    assert.ok(!tuned[0]!.tensors['post_quant_conv.weight']!.equal(base));
  });

  test('the base tokenizer is unchanged, and a tier tokenizer keeps its encoder and decoder', () => {
    const now = snapshot(tok);
    try {
      assert.deepEqual(Object.keys(now), Object.keys(before0));
      for (const [k, t] of Object.entries(now)) assert.ok(t.equal(before0[k]!), `${k} changed`);
    } finally {
      disposeAll(now);
    }
    const m = tierTokenizer(tok.kind, tok.config, before0, tuned[1]!);
    try {
      const sd = snapshot(m);
      try {
        let frozen = 0;
        for (const [k, t] of Object.entries(sd)) {
          if (k.startsWith('quantize.') || k.startsWith('post_quant_conv.')) continue;
          assert.ok(t.equal(before0[k]!), `${k} differs from the base model`);
          frozen++;
        }
        assert.ok(frozen > 20 && Object.keys(sd).some((k) => k.startsWith('encoder.')) && Object.keys(sd).includes('quant_conv.weight'));
        assert.ok(sd['quantize.embedding.weight']!.equal(tuned[1]!.tensors['quantize.embedding.weight']!));
      } finally {
        disposeAll(sd);
      }
    } finally {
      m.dispose();
    }
  });

  test('a tier tokenizer encodes to indices below its codebook size, using most codes', () => {
    for (const tier of tuned) {
      const m = tierTokenizer(tok.kind, tok.config, before0, tier);
      try {
        assert.equal(m.codebookSize, tier.codebookSize);
        assert.equal(m.training, false);
        const idx = m.encode(held);
        assert.deepEqual(idx.shape, [200, 7, 7]);
        assert.ok(idx.min().item() >= 0 && idx.max().item() < tier.codebookSize);
        const used = new Set(idx.toArray() as number[]).size;
        assert.ok(used >= tier.codebookSize / 2, `${used} of ${tier.codebookSize} codes used`);
        idx.dispose();
      } finally {
        m.dispose();
      }
    }
  });

  test('fine-tuning lowers the held-out reconstruction error of the k-means tiers; fewer codes cost quality', () => {
    const mse = (tiers: Tier[]): number[] =>
      tiers.map((tier) => {
        const m = tierTokenizer(tok.kind, tok.config, before0, tier);
        try {
          return reconMse(m, held);
        } finally {
          m.dispose();
        }
      });
    const full = reconMse(tok, held);
    const km = mse(kmeansOnly);
    const ft = mse(tuned);
    const msg = JSON.stringify({ full, km, ft });
    for (let i = 0; i < sizes.length; i++) assert.ok(ft[i]! < km[i]!, `tier ${sizes[i]}: fine-tuned ${ft[i]} ≥ k-means only ${km[i]} (${msg})`);
    assert.ok(full < km[0]! && km[0]! < km[1]!, msg);
  });

  test('the k-means tiers are reproducible from the seed', () => {
    const again = fitTiers(tok, fit, [16], { steps: 0, generator: new T.Generator(1) });
    const other = fitTiers(tok, fit, [16], { steps: 0, generator: new T.Generator(2) });
    try {
      // [64, 16] with seed 1 drew the 64-code tier first, so compare two fresh single-tier runs.
      const again2 = fitTiers(tok, fit, [16], { steps: 0, generator: new T.Generator(1) });
      assert.ok(again[0]!.tensors['quantize.embedding.weight']!.equal(again2[0]!.tensors['quantize.embedding.weight']!));
      assert.ok(!again[0]!.tensors['quantize.embedding.weight']!.equal(other[0]!.tensors['quantize.embedding.weight']!));
      disposeTiers(again2);
    } finally {
      disposeTiers(again);
      disposeTiers(other);
    }
  });

  test('fitting frees everything but the tiers it returns', () => {
    const some = fit.narrow(0, 0, 64);
    const live = T.memoryStats().liveTensors;
    const tiers = fitTiers(tok, some, [32, 8], { steps: 3, batchSize: 8 });
    const returned = tiers.reduce((n, t) => n + Object.keys(t.tensors).length, 0);
    assert.equal(T.memoryStats().liveTensors, live + returned);
    disposeTiers(tiers);
    assert.equal(T.memoryStats().liveTensors, live);
    some.dispose();
  });

  test('bad sizes and options get one clear line and change nothing', () => {
    assertOneLine(() => fitTiers(tok, fit, [16, 64], {}), /strictly decreasing, got 16, 64/);
    assertOneLine(() => fitTiers(tok, fit, [64, 64], {}), /strictly decreasing/);
    assertOneLine(() => fitTiers(tok, fit, [256, 16], {}), /tier size 256 must be below the model's codebook size \(256\)/);
    assertOneLine(() => fitTiers(tok, fit, [512], {}), /below the model's codebook size/);
    assertOneLine(() => fitTiers(tok, fit, [], {}), /non-empty list/);
    assertOneLine(() => fitTiers(tok, fit, [1.5], {}), /tier size: expected an integer/);
    assertOneLine(() => fitTiers(tok, fit, [1], {}), /tier size: must be ≥ 2/);
    assertOneLine(() => fitTiers(tok, fit, [16], { steps: -1 }), /steps: must be ≥ 0/);
    assertOneLine(() => fitTiers(tok, fit, [16], { lr: 0 }), /lr: must be > 0/);
    assertOneLine(() => T.tidy(() => fitTiers(tok, fit.narrow(2, 0, 26), [16], {})), /not a multiple of the downsampling factor 4/);
    const now = snapshot(tok);
    try {
      for (const [k, t] of Object.entries(now)) assert.ok(t.equal(before0[k]!), `${k} changed`);
    } finally {
      disposeAll(now);
    }
  });

  test('a tier missing a tensor or holding a foreign key is refused', () => {
    const t = tuned[1]!;
    const { ['post_quant_conv.bias']: _dropped, ...rest } = t.tensors;
    assert.throws(
      () => tierTokenizer(tok.kind, tok.config, before0, { codebookSize: 16, tensors: rest }),
      (e: Error) => {
        assert.ok(e instanceof StateDictError);
        assert.match(e.message, /post_quant_conv\.bias/);
        return true;
      },
    );
    // Tensors of a 16-code tier declared as 64 codes: a shape mismatch.
    assert.throws(() => tierTokenizer(tok.kind, tok.config, before0, { codebookSize: 64, tensors: t.tensors }), StateDictError);
    assertOneLine(
      () =>
        tierTokenizer(tok.kind, tok.config, before0, { codebookSize: 16, tensors: { ...t.tensors, 'encoder.conv.bias': t.tensors['post_quant_conv.bias']! } }),
      /only quantize\.\* and post_quant_conv\.\* tensors, got 'encoder\.conv\.bias'/,
    );
  });
});

describe('what cannot be tiered', () => {
  test('a hierarchical VQ-VAE-2 and a residual quantizer get one clear line', () => {
    const v2 = createTokenizer('vqvae2', { channel: 8, nResBlock: 0, nResChannel: 4, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } });
    try {
      assertOneLine(() => checkTierable(v2), /a vqvae2 tokenizer cannot take codebook tiers \(supported: single-level vqvae, vqgan, movq\)/);
      const x = T.zeros([2, 3, 32, 32]);
      assertOneLine(() => fitTiers(v2, x, [16], {}), /cannot take codebook tiers/);
      x.dispose();
    } finally {
      v2.dispose();
    }
    const rq = createTokenizer('vqvae', { ch: 8, resCh: 4, numResBlocks: 0, embedDim: 4, quantizer: { type: 'residual', codebookSize: 16, depth: 2 } });
    try {
      assertOneLine(() => checkTierable(rq), /'residual' quantizer cannot be tiered/);
      assertOneLine(
        () => T.tidy(() => tierTokenizer('vqvae', rq.config, rq.stateDict(), { codebookSize: 4, tensors: {} })),
        /'residual' quantizer cannot be tiered/,
      );
    } finally {
      rq.dispose();
    }
  });

  test('a multichannel MoVQ with an EMA codebook tiers, keeping its EMA buffers consistent', () => {
    T.manualSeed(0);
    const config = {
      ddconfig: { ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], resolution: 8, inChannels: 3, outCh: 3, zChannels: 8 },
      embedDim: 8,
      quantizer: { type: 'multichannel' as const, codebookSize: 32, groups: 2, ema: true },
    };
    const base = createTokenizer('movq', config);
    const x = T.rand([24, 3, 8, 8]).mul(2).sub(1).keep();
    const tiers = fitTiers(base, x, [8], { steps: 5, batchSize: 8 });
    try {
      const t = tiers[0]!.tensors;
      assert.deepEqual(Object.keys(t).sort(), [
        'post_quant_conv.bias',
        'post_quant_conv.weight',
        'quantize.embedding.cluster_size',
        'quantize.embedding.embed_avg',
        'quantize.embedding.weight',
      ]);
      assert.deepEqual(t['quantize.embedding.weight']!.shape, [8, 4]);
      // embed_avg = codes · cluster_size, so an EMA step would start from the tier's codes.
      assert.ok(
        T.tidy(() => t['quantize.embedding.embed_avg']!.div(t['quantize.embedding.cluster_size']!.unsqueeze(1)).allclose(t['quantize.embedding.weight']!)),
      );
      const m = T.tidy(() => tierTokenizer('movq', base.config, base.stateDict(), tiers[0]!));
      try {
        const idx = m.encode(x);
        assert.deepEqual(idx.shape, [24, 4, 4, 2]);
        assert.ok(idx.max().item() < 8);
        assert.ok(T.noGrad(() => T.tidy(() => m.decode(idx).isfinite().all().item())));
        idx.dispose();
      } finally {
        m.dispose();
      }
    } finally {
      disposeTiers(tiers);
      x.dispose();
      base.dispose();
    }
  });
});
