// Tests for the hierarchical (VQ-VAE-2) prior: level shapes, the bottom prior's use of the top code,
// KV cache vs full recompute with a condition, class conditioning, editing on both levels through
// PriorModel, weights round trip, and the errors for mismatched grids and options that do not apply.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { saveSafetensors, loadSafetensors } from '../src/io/index.js';
import { VQVAE } from '../src/tokenizers/vqvae.js';
import { createTokenizer } from '../src/tokenizers/index.js';
import type { TokenLevelInfo } from '../src/tokenizers/index.js';
import { ARPrior, HierarchicalPrior, PriorModel, type HierarchicalPriorConfig, type PriorModelConfig } from '../src/priors/index.js';
import { PriorTrainer, type PriorTrainConfig } from '../src/train/prior.js';
import type { Dataset } from '../src/data/index.js';
import { assertClose } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-hprior-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const small = { dim: 32, depth: 2, heads: 4 };
const KT = 8;
const KB = 16;

function config(arch: 'ar' | 'maskgit', numClasses = 3, classDropout = 0.1, bottomGrid: [number, number] = [8, 8]): HierarchicalPriorConfig {
  return {
    arch,
    top: { ...small, codebookSize: KT, grid: [4, 4], tokensPerPosition: 1, numClasses, classDropout },
    bottom: { ...small, codebookSize: KB, grid: bottomGrid, tokensPerPosition: 1, numClasses, classDropout },
  };
}

function randomTokens(b: number, n: number, k: number, seed: number): Tensor {
  return T.randint(0, k, [b, n], new T.Generator(seed), { dtype: 'int64' });
}

/**
 * A stand-in two-level tokenizer over 32×32 images (the real vqvae2 lives in its own tests): the
 * bottom level is a small VQ-VAE's f4 code, the top level its code at every other cell (mod KT).
 */
class TwoLevelFake extends VQVAE {
  override get levels(): readonly TokenLevelInfo[] {
    return [
      { name: 'top', downsample: 8, codebookSize: KT, tokensPerPosition: 1 },
      { name: 'bottom', downsample: 4, codebookSize: KB, tokensPerPosition: 1 },
    ];
  }
  override encodeLevels(images: Tensor): Tensor[] {
    return T.tidy(() => {
      const b = this.encode(images);
      const top = b.index(':', '0::2', '0::2').remainder(KT).contiguous();
      return [top, b];
    });
  }
  override decodeLevels(indices: readonly Tensor[]): Tensor {
    return this.decode(indices[1]!);
  }
}

function fakeTokenizer(): TwoLevelFake {
  T.manualSeed(3);
  return new TwoLevelFake({ ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: KB } }).eval();
}

function model(arch: 'ar' | 'maskgit'): PriorModel {
  const tok = fakeTokenizer();
  const cfg: PriorModelConfig = {
    arch: 'hierarchical',
    prior: config(arch),
    tokenizer: { kind: 'vqvae', config: tok.config },
    imageSize: [32, 32],
    classNames: ['a', 'b', 'c'],
  };
  T.manualSeed(4);
  return PriorModel.create(cfg, tok);
}

describe('hierarchical prior', () => {
  test('levels, shapes and generated codes per level (AR and MaskGIT)', () => {
    for (const arch of ['ar', 'maskgit'] as const) {
      T.manualSeed(0);
      const p = new HierarchicalPrior(config(arch));
      assert.equal(p.seqLen, 16 + 64);
      assert.equal(p.top.cond, null, 'the top level is not conditioned');
      assert.ok(p.bottom.cond, 'the bottom level is conditioned on the top');
      assert.ok(Object.keys(p.stateDict()).some((k) => k.startsWith('bottom.cond.emb.')));
      const out = p.generate({ classes: [0, 2], generator: new T.Generator(1) });
      assert.deepEqual(out.shape, [2, 80]);
      const [top, bottom] = p.split(out);
      assert.ok(top.lt(KT).all().item() && top.ge(0).all().item());
      assert.ok(bottom.lt(KB).all().item() && bottom.ge(0).all().item());
      const steps: number[] = [];
      p.generate({ batch: 1, onStep: (i) => steps.push(i.step), generator: new T.Generator(2) });
      assert.deepEqual(
        steps,
        Array.from({ length: steps.length }, (_, i) => i),
        'steps count through both levels',
      );
    }
  });

  test('the bottom prior uses the top code: other top tokens give other bottom logits', () => {
    T.manualSeed(5);
    const p = new HierarchicalPrior(config('ar')).eval();
    const bottom = randomTokens(2, 64, KB, 1);
    const prefix = (p.bottom as ARPrior).prefixIds([0, 1]);
    const t1 = randomTokens(2, 16, KT, 2);
    const t2 = t1.add(1).remainder(KT);
    const l1 = T.noGrad(() => (p.bottom as ARPrior).forward(bottom, prefix, t1));
    const l2 = T.noGrad(() => (p.bottom as ARPrior).forward(bottom, prefix, t2));
    assert.ok(l1.sub(l2).abs().max().item() > 1e-4, 'changing the top tokens changes the bottom logits');
    // Aligned: changing one top cell changes only the bottom positions it covers (and later ones, causally).
    const t3 = t1.clone();
    t3.index(':', 15).copy_(t1.index(':', 15).add(1).remainder(KT));
    const l3 = T.noGrad(() => (p.bottom as ARPrior).forward(bottom, prefix, t3));
    // Top cell 15 = (3, 3) covers bottom cells (6..7, 6..7); the first is cell 54, so 0..53 are unchanged.
    assertClose(l3.narrow(1, 0, 54), l1.narrow(1, 0, 54), 1e-6, 1e-6, 'bottom positions before the changed cell');
    assert.ok(
      l3
        .narrow(1, 54, 1)
        .sub(l1.narrow(1, 54, 1))
        .abs()
        .max()
        .item() > 1e-4,
    );
    assert.throws(() => (p.bottom as ARPrior).forward(bottom, prefix), /conditioned on the top code: give its tokens as condition/);
    assert.throws(() => (p.top as ARPrior).forward(t1, prefix, t1), /not conditioned on a coarser code/);
  });

  test('KV cache equals full recompute for the conditioned bottom prior', () => {
    T.manualSeed(6);
    const p = new HierarchicalPrior(config('ar')).eval();
    const b = p.bottom as ARPrior;
    const bottom = randomTokens(2, 64, KB, 3);
    const top = randomTokens(2, 16, KT, 4);
    const prefix = b.prefixIds([1, null]);
    assertClose(
      b.cachedLogits(bottom, prefix, top),
      T.noGrad(() => b.forward(bottom, prefix, top)),
      1e-4,
      1e-4,
    );
    const a = p.generate({ classes: [0, 1], generator: new T.Generator(9) });
    const c = p.generate({ classes: [0, 1], generator: new T.Generator(9), cache: false });
    assert.deepEqual(a.toArray(), c.toArray(), 'same samples with and without the cache');
  });

  test('class conditioning reaches both levels; guidance needs class dropout', () => {
    T.manualSeed(7);
    const p = new HierarchicalPrior(config('ar')).eval();
    const toks = randomTokens(1, 80, KB, 5);
    const top = toks.narrow(1, 0, 16).remainder(KT);
    const bottom = toks.narrow(1, 16, 64);
    for (const [lvl, tokens, cond] of [
      [p.top as ARPrior, top, undefined],
      [p.bottom as ARPrior, bottom, top],
    ] as const) {
      const a = T.noGrad(() => lvl.forward(tokens, lvl.prefixIds([0]), cond));
      const b = T.noGrad(() => lvl.forward(tokens, lvl.prefixIds([2]), cond));
      assert.ok(a.sub(b).abs().max().item() > 1e-4, 'the class changes the logits');
    }
    assert.throws(() => p.generate({ classes: [3] }), /class 3 is out of range/);
    const noDrop = new HierarchicalPrior(config('ar', 3, 0));
    assert.throws(() => noDrop.generate({ classes: [0], cfg: 2 }), /class dropout/);
  });

  test('inpaint keeps the known tokens on both levels (MaskGIT levels)', () => {
    const pm = model('maskgit');
    const image = T.rand([1, 3, 32, 32], new T.Generator(1)).mul(2).sub(1);
    const known = pm.encode(image);
    assert.deepEqual(known.shape, [1, 80]);
    // Regenerate the top-left 8×8 pixels: top cell 0 (+1 widened), bottom cells (0..1, 0..1) (+1).
    const mask = T.zeros([32, 32]);
    mask.index('0:8', '0:8').fill_(1);
    const seen: Tensor[] = [];
    const gen = pm.prior.generate.bind(pm.prior);
    (pm.prior as { generate: unknown }).generate = (o: { known: Tensor; mask: Tensor }) => {
      const out = gen(o as never);
      seen.push(o.known.keep(), o.mask.keep(), out.keep());
      return out;
    };
    pm.inpaint(image, mask, { widen: 0, generator: new T.Generator(2) });
    const [k, m, out] = seen as [Tensor, Tensor, Tensor];
    assert.deepEqual(k.toArray(), known.toArray(), 'known tokens of both levels come from encodeLevels');
    const keep = m.logicalNot();
    assert.ok(out.eq(k).logicalOr(m).all().item(), 'every known token (mask false) is kept');
    const mt = m.narrow(1, 0, 16).toArray();
    const mb = m.narrow(1, 16, 64).toArray();
    assert.deepEqual(
      mt.map((v, i) => (v ? i : -1)).filter((i) => i >= 0),
      [0],
      'top: the one cell under the mask',
    );
    assert.deepEqual(
      mb.map((v, i) => (v ? i : -1)).filter((i) => i >= 0),
      [0, 1, 8, 9],
      'bottom: the four cells under the mask',
    );
    assert.ok(keep.sum().item() === 80 - 5);
  });

  test('AR levels refuse inpainting, and outpaint is refused with a clear error', () => {
    const pm = model('ar');
    const image = T.zeros([1, 3, 32, 32]);
    const mask = T.ones([32, 32]);
    assert.throws(() => pm.inpaint(image, mask), /needs a prior that sees the whole image.*hierarchical autoregressive/);
    const pg = model('maskgit');
    assert.throws(() => pg.outpaint(image, [0, 1, 0, 0]), /outpaint: not available for a hierarchical prior/);
  });

  test('sample decodes both levels; options that do not apply are refused', () => {
    const pm = model('ar');
    const img = pm.sample({ classes: ['a', 'c'], generator: new T.Generator(3) });
    assert.deepEqual(img.shape, [2, 3, 32, 32]);
    assert.throws(() => pm.sample({ classes: ['a'], steps: 4 }), /option 'steps' does not apply to a hierarchical autoregressive prior/);
    const pg = model('maskgit');
    assert.throws(() => pg.sample({ classes: ['a'], cache: false }), /option 'cache' does not apply to a hierarchical MaskGIT prior/);
    assert.throws(() => pg.prior.generate({ batch: 1, condition: T.zeros([1, 16], { dtype: 'int64' }) } as never), /option 'condition' does not apply/);
    const bad = T.zeros([1, 79], { dtype: 'int64' });
    assert.throws(() => pg.prior.generate({ known: bad }), /known tokens must be int64 \[B, 80\] \(top 16 then bottom 64\)/);
  });

  test('weights round trip through a safetensors file: same logits on both levels', () => {
    T.manualSeed(8);
    const p = new HierarchicalPrior(config('ar')).eval();
    const path = join(tmp, 'h.safetensors');
    saveSafetensors(path, p.stateDict());
    T.manualSeed(99);
    const q = new HierarchicalPrior(config('ar')).eval();
    q.loadStateDict(loadSafetensors(path).tensors);
    const toks = randomTokens(2, 80, KT, 6);
    const [top, bottom] = p.split(toks);
    for (const l of ['top', 'bottom'] as const) {
      const a = T.noGrad(() => (p[l] as ARPrior).forward(l === 'top' ? top : bottom, (p[l] as ARPrior).prefixIds([0, 1]), l === 'top' ? undefined : top));
      const b = T.noGrad(() => (q[l] as ARPrior).forward(l === 'top' ? top : bottom, (q[l] as ARPrior).prefixIds([0, 1]), l === 'top' ? undefined : top));
      assertClose(a, b, 0, 0, l);
    }
    assert.deepEqual(
      p.generate({ classes: [1], generator: new T.Generator(4) }).toArray(),
      q.generate({ classes: [1], generator: new T.Generator(4) }).toArray(),
    );
  });

  test('a bottom grid that disagrees with the top is one clear error; so are mismatched levels', () => {
    assert.throws(
      () => new HierarchicalPrior(config('ar', 3, 0.1, [7, 8])),
      /hierarchical prior: bottom: the grid 7×8 is not a whole multiple of the conditioning \(top\) grid 4×4/,
    );
    assert.throws(() => new HierarchicalPrior(config('ar', 3, 0.1, [2, 2])), /not a whole multiple/);
    const c = config('ar');
    assert.throws(() => new HierarchicalPrior({ ...c, bottom: { ...c.bottom, numClasses: 2 } }), /top has 3 classes but bottom 2/);
    assert.throws(
      () => new HierarchicalPrior({ ...c, bottom: { ...c.bottom, condition: { codebookSize: KT, grid: [4, 4], tokensPerPosition: 1 } } } as never),
      /condition: the levels' conditioning is derived/,
    );
    // The prior's levels against the tokenizer's.
    const tok = fakeTokenizer();
    const cfg: PriorModelConfig = {
      arch: 'hierarchical',
      prior: { ...c, bottom: { ...c.bottom, grid: [16, 16] } },
      tokenizer: { kind: 'vqvae', config: tok.config },
      imageSize: [32, 32],
      classNames: ['a', 'b', 'c'],
    };
    assert.throws(() => PriorModel.create(cfg, tok), /bottom prior grid 16×16 × the bottom level's downsampling 4 ≠ image size 32×32/);
    const flat = new VQVAE({ ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: KB } });
    assert.throws(() => PriorModel.create({ ...cfg, prior: c }, flat), /the vqvae tokenizer has 1 \(tokens\)/);
  });

  test('training: both levels in one run, or one level with the other frozen', () => {
    // A stand-in dataset: what the trainer reads of one (size, classes, shapes, batches).
    const images = T.rand([12, 3, 32, 32], new T.Generator(7)).mul(2).sub(1);
    const labels = T.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], { dtype: 'int64' });
    const ds = {
      size: 12,
      classNames: ['a', 'b', 'c'],
      get: () => ({ shape: [3, 32, 32] }),
      batch: (idx: number[]) => {
        const i = T.tensor(idx, { dtype: 'int64' });
        return { images: images.indexSelect(0, i), labels: labels.indexSelect(0, i) };
      },
    } as unknown as Dataset;
    const base: PriorTrainConfig = {
      arch: 'ar',
      model: { ...small, dropout: 0, classDropout: 0.1 },
      conditional: true,
      batchSize: 4,
      lr: 1e-3,
      weightDecay: 0,
      warmup: 0,
      steps: 2,
      emaDecay: null,
      flip: false,
      seed: 0,
      level: null,
      from: null,
    };
    const snapshot = (t: PriorTrainer, prefix: string) =>
      Object.entries(t.prior.stateDict())
        .filter(([k]) => k.startsWith(prefix))
        .map(([, v]) => v.clone());
    const changed = (a: Tensor[], b: Tensor[]) => a.some((x, i) => !x.equal(b[i]!));
    for (const level of [null, 'top', 'bottom'] as const) {
      const t = new PriorTrainer({ config: { ...base, level }, tokenizer: fakeTokenizer(), train: ds, data: 'fake' });
      assert.equal(t.model.arch, 'hierarchical');
      assert.deepEqual(t.tokens.shape, [12, 80], 'both levels encoded, top first');
      const top0 = snapshot(t, 'top.');
      const bot0 = snapshot(t, 'bottom.');
      const log = t.trainStep(0);
      t.trainStep(1);
      assert.equal(changed(top0, snapshot(t, 'top.')), level !== 'bottom', `top trained (level ${level})`);
      assert.equal(changed(bot0, snapshot(t, 'bottom.')), level !== 'top', `bottom trained (level ${level})`);
      assert.equal('loss_top' in log, level !== 'bottom');
      assert.equal('loss_bottom' in log, level !== 'top');
    }
    // A one-level tokenizer: --level is refused; --from starts a prior from another run's weights
    // (fine-tuning on other data), and refuses a prior of another shape.
    T.manualSeed(5);
    const flat = new VQVAE({ ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: KB } }).eval();
    const trainer = (c: Partial<PriorTrainConfig>) => new PriorTrainer({ config: { ...base, ...c }, tokenizer: flat, train: ds, data: 'fake' });
    assert.throws(() => trainer({ level: 'top' }), /--level applies to hierarchical priors/);
    const first = trainer({});
    first.trainStep(0);
    first.trainStep(1);
    const file = join(tmp, 'flat-prior.safetensors');
    first.model.save(file);
    const tuned = trainer({ seed: 1, from: file });
    const before = tuned.prior.stateDict();
    for (const [k, v] of Object.entries(first.prior.stateDict())) assert.ok(v.equal(before[k]!), `${k} starts from --from`);
    const fresh = trainer({ seed: 1 }).prior.stateDict();
    assert.ok(
      Object.keys(fresh).some((k) => !fresh[k]!.equal(before[k]!)),
      'without --from the prior starts elsewhere',
    );
    assert.throws(() => trainer({ model: { ...base.model, dim: 64 }, from: file }), /is not the one this run builds/);
  });

  test('a model file with a real vqvae2 tokenizer: save → load gives the same samples; inpaint keeps both levels', () => {
    T.manualSeed(11);
    const tok = createTokenizer('vqvae2', { channel: 8, nResBlock: 0, nResChannel: 4, embedDim: 4, quantizer: { type: 'vq', codebookSize: KT } }).eval();
    const c = config('maskgit');
    const cfg: PriorModelConfig = {
      arch: 'hierarchical',
      prior: { ...c, bottom: { ...c.bottom, codebookSize: KT } },
      tokenizer: { kind: 'vqvae2', config: tok.config },
      imageSize: [32, 32],
      classNames: ['a', 'b', 'c'],
      sampling: { steps: 4, cfg: 2 },
    };
    const pm = PriorModel.create(cfg, tok);
    const path = join(tmp, 'hier.safetensors');
    pm.save(path);
    const back = PriorModel.load(path);
    assert.equal(back.arch, 'hierarchical');
    assert.deepEqual(back.samplingDefaults, { steps: 4, cfg: 2 });
    const a = pm.sample({ classes: ['b', 'c'], generator: new T.Generator(5) });
    const b = back.sample({ classes: ['b', 'c'], generator: new T.Generator(5) });
    assert.deepEqual(a.shape, [2, 3, 32, 32]);
    assertClose(a, b, 0, 0, 'same images after the round trip');
    const image = T.rand([1, 3, 32, 32], new T.Generator(6)).mul(2).sub(1);
    const mask = T.zeros([32, 32]);
    mask.index('16:32', '16:32').fill_(1);
    const { image: out, tokenMask } = back.inpaint(image, mask, { widen: 0, generator: new T.Generator(7) });
    assert.deepEqual(tokenMask.shape, [8, 8], 'the token mask of the finest (bottom) level');
    assert.deepEqual(out.shape, [1, 3, 32, 32]);
    // Pixels far from the mask are the input's exactly.
    assertClose(out.index(':', ':', '0:12', '0:12'), image.index(':', ':', '0:12', '0:12'), 0, 0, 'untouched pixels');
  });
});
