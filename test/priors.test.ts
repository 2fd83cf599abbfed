// Tests for src/priors: the KV cache against full forward passes, sampling filters, classifier-free
// guidance, MaskGIT decoding rules (fills masks, keeps known tokens, follows the schedule),
// multichannel tokens, training signal, PriorModel files, inpainting and outpainting.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { Adam } from '../src/optim/index.js';
import {
  ARPrior,
  MaskGIT,
  KVCache,
  PriorModel,
  Transformer,
  filterLogits,
  guide,
  maskRatio,
  tokenMaskFromPixels,
  softMask,
  MASK_SCHEDULES,
  type PriorModelConfig,
} from '../src/priors/index.js';
import { assertClose } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-priors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const small = { dim: 32, depth: 2, heads: 4 };

describe('transformer KV cache', () => {
  test('prefill + one token at a time gives the full causal forward pass', () => {
    T.manualSeed(1);
    const tr = new Transformer(small).eval();
    const x = T.randn([3, 9, 32]);
    const full = T.noGrad(() => tr.forward(x, { causal: true }));
    const cache = new KVCache(3, 9, small);
    const parts = T.noGrad(() => [tr.forward(x.narrow(1, 0, 5), { causal: true, cache }), ...[5, 6, 7, 8].map((i) => tr.forward(x.narrow(1, i, 1), { causal: true, cache }))]);
    assert.equal(cache.length, 9);
    assertClose(T.cat(parts, 1), full, 1e-5);
    assert.throws(() => T.noGrad(() => tr.forward(x.narrow(1, 0, 1), { causal: true, cache })), /exceed its capacity of 9/);
    cache.dispose();
  });

  test('AR prior: cached next-token logits equal the teacher-forced forward', () => {
    T.manualSeed(2);
    for (const tokensPerPosition of [1, 2]) {
      const ar = new ARPrior({ ...small, codebookSize: 11, grid: [3, 3], tokensPerPosition, numClasses: 4 }).eval();
      const tokens = T.randint(0, 11, [2, ar.seqLen]);
      const prefix = ar.prefixIds([1, null]);
      const full = T.noGrad(() => ar.forward(tokens, prefix));
      assert.deepEqual(full.shape, [2, ar.seqLen, 11]);
      assertClose(ar.cachedLogits(tokens, prefix), full, 1e-5);
    }
  });

  test('AR prior: causal — changing a later token leaves earlier logits unchanged', () => {
    T.manualSeed(3);
    const ar = new ARPrior({ ...small, codebookSize: 7, grid: [2, 3], tokensPerPosition: 1, numClasses: 0 }).eval();
    const a = T.randint(0, 7, [1, 6]);
    const b = a.clone();
    b.indexPut([0, 4], (a.index(0, 4).item() + 1) % 7);
    const la = T.noGrad(() => ar.forward(a, ar.prefixIds([null])));
    const lb = T.noGrad(() => ar.forward(b, ar.prefixIds([null])));
    assertClose(la.narrow(1, 0, 5), lb.narrow(1, 0, 5), 1e-6);
    assert.ok(la.narrow(1, 5, 1).sub(lb.narrow(1, 5, 1)).abs().max().item() > 1e-4, 'token 4 must influence the logits for token 5');
  });
});

describe('sampling', () => {
  test('top-k and top-p keep exactly the expected tokens', () => {
    const logits = T.tensor([[Math.log(0.5), Math.log(0.25), Math.log(0.15), Math.log(0.1)]]);
    const kept = (l: T.Tensor): number[] => l.isfinite().toArray();
    assert.deepEqual(kept(filterLogits(logits, { topK: 2 })), [1, 1, 0, 0]);
    assert.deepEqual(kept(filterLogits(logits, { topP: 0.5 })), [1, 0, 0, 0]);
    assert.deepEqual(kept(filterLogits(logits, { topP: 0.7 })), [1, 1, 0, 0]);
    assert.deepEqual(kept(filterLogits(logits, { topP: 0.8 })), [1, 1, 1, 0]);
    assert.deepEqual(kept(filterLogits(logits, { topP: 1 })), [1, 1, 1, 1]);
    assertClose(filterLogits(logits, { temperature: 2 }), logits.div(2));
  });

  test('guide: uncond + s·(cond − uncond); scale 1 is the conditional logits', () => {
    const cond = T.tensor([[1, 2, 3]]);
    const uncond = T.tensor([[0.5, 0.5, 0.5]]);
    const both = T.cat([cond, uncond]);
    assertClose(guide(both, 1), cond);
    assertClose(guide(both, 0), uncond);
    assertClose(guide(both, 3), T.tensor([[2, 5, 8]]));
  });

  test('mask schedules follow their formulas and are clipped to [1e-6, 1]', () => {
    assert.equal(maskRatio('cosine', 0.5, 64).toFixed(6), Math.cos(Math.PI / 4).toFixed(6));
    assert.equal(maskRatio('linear', 0.25, 64), 0.75);
    assert.equal(maskRatio('square', 0.5, 64), 0.75);
    assert.equal(maskRatio('cubic', 0.5, 64), 0.875);
    assert.equal(maskRatio('log', 0.5, 64).toFixed(6), (1 / 6).toFixed(6));
    assert.equal(maskRatio('exp', 0.5, 64).toFixed(6), (1 - 2 ** -3).toFixed(6));
    for (const s of MASK_SCHEDULES) {
      assert.equal(maskRatio(s, 1, 64), 1e-6, s);
      assert.ok(maskRatio(s, 1e-3, 64) <= 1, s);
    }
    assert.throws(() => maskRatio('bogus' as never, 0.5, 4), /unknown mask schedule 'bogus'/);
  });

  test('AR: same seed → same samples; cached and uncached sampling agree', () => {
    T.manualSeed(4);
    const ar = new ARPrior({ ...small, codebookSize: 9, grid: [2, 3], tokensPerPosition: 1, numClasses: 3, classDropout: 0.1 });
    const s = (seed: number, cache: boolean): number[] => ar.sample({ classes: [0, 2, null], generator: new T.Generator(seed), cache, topK: 5 }).toArray();
    const a = s(7, true);
    assert.deepEqual(s(7, true), a);
    assert.deepEqual(s(7, false), a);
    assert.notDeepEqual(s(8, true), a);
    assert.ok(a.every((v) => v >= 0 && v < 9));
  });

  test('AR: cfg 1 (doubled batch) samples exactly what conditional sampling does; other scales differ', () => {
    T.manualSeed(5);
    const ar = new ARPrior({ ...small, codebookSize: 9, grid: [3, 3], tokensPerPosition: 1, numClasses: 3, classDropout: 0.1 });
    const s = (cfg?: number): number[] => ar.sample({ classes: [0, 1, 2, 1], generator: new T.Generator(3), cfg }).toArray();
    assert.deepEqual(s(1), s());
    assert.notDeepEqual(s(4), s());
    const noDrop = new ARPrior({ ...small, codebookSize: 9, grid: [3, 3], tokensPerPosition: 1, numClasses: 3 });
    assert.throws(() => noDrop.sample({ classes: [0], cfg: 3 }), /class dropout/);
    assert.throws(() => ar.sample({ classes: [3] }), /class 3 is out of range: this model has classes 0–2/);
  });
});

describe('MaskGIT decoding', () => {
  const mk = (tokensPerPosition = 1, numClasses = 3): MaskGIT =>
    new MaskGIT({ ...small, codebookSize: 13, grid: [4, 4], tokensPerPosition, numClasses, classDropout: 0.1 });

  test('id ranges are disjoint: codes, [MASK], classes, null', () => {
    const m = mk();
    assert.equal(m.maskId, 13);
    assert.deepEqual(m.prefixIds([0, 2, null]).toArray(), [14, 16, 17]);
    assert.equal(m.tokEmb.numEmbeddings, 18);
  });

  test('fills every masked token, never changes known ones, follows the schedule counts', () => {
    T.manualSeed(6);
    const m = mk();
    const n = m.seqLen;
    for (const schedule of ['cosine', 'linear', 'cubic'] as const) {
      for (const steps of [4, 8]) {
        // Half the tokens known in image 0, none in image 1.
        const known = T.randint(0, 13, [2, n]);
        const maskHalf = T.arange(0, n).remainder(2).eq(0).unsqueeze(0);
        const start = T.where(T.cat([maskHalf, T.ones([1, n], { dtype: 'bool' })]), m.maskId, known);
        const n0 = start.eq(m.maskId).sum([1]).toArray();
        const counts: number[][] = [];
        const out = m.generate({ tokens: start, classes: [1, null], steps, schedule, generator: new T.Generator(1), onStep: ({ masked }) => counts.push(masked) });
        assert.equal(out.eq(m.maskId).sum().item(), 0, 'no mask left');
        assert.ok(out.lt(13).all().item() && out.ge(0).all().item(), 'codes only');
        const keep = start.ne(m.maskId);
        assert.ok(out.maskedSelect(keep).equal(start.maskedSelect(keep)), 'known tokens unchanged');
        // After step s (not the last): clamp(floor(N0·ratio), 1, masked_before − 1).
        let before = [...n0];
        for (let s = 0; s < steps - 1; s++) {
          const want = before.map((mb, i) => (mb === 0 ? 0 : Math.max(1, Math.min(mb - 1, Math.floor(n0[i]! * maskRatio(schedule, (s + 1) / steps, n))))));
          assert.deepEqual(counts[s], want, `${schedule} T=${steps} step ${s}`);
          before = want;
        }
        assert.deepEqual(counts[steps - 1], [0, 0]);
      }
    }
  });

  test('starting later (editing) runs steps startStep … T−1 only', () => {
    const m = mk();
    let calls = 0;
    m.generate({ batch: 1, steps: 12, startStep: 2, onStep: () => calls++ });
    assert.equal(calls, 10);
    assert.throws(() => m.generate({ batch: 1, steps: 4, startStep: 4 }), /startStep must be in \[0, 3\]/);
  });

  test('seeded decoding is reproducible; cfg 1 equals conditional decoding', () => {
    T.manualSeed(7);
    const m = mk();
    // Untrained GPT-init weights barely react to the class; scale them up so guidance shows.
    T.noGrad(() => m.parameters().filter((p) => p.shape.length >= 2).forEach((p) => p.mul_(25)));
    const run = (seed: number, cfg?: number): number[] => m.generate({ classes: [0, 2], steps: 6, generator: new T.Generator(seed), cfg }).toArray();
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
    assert.deepEqual(run(3, 1), run(3));
    assert.notDeepEqual(run(3, 5), run(3));
  });

  test('bad start tokens are refused with the expected shape', () => {
    const m = mk();
    assert.throws(() => m.generate({ tokens: T.zeros([1, 5], { dtype: 'int64' }) }), /tokens must be int64 \[1, 16\]/);
    assert.throws(() => m.generate({ tokens: T.full([1, 16], 99, { dtype: 'int64' }) }), /codes in \[0, 13\) or the mask id 13/);
  });

  test('multichannel: one slot per position, per-channel heads, per-channel masks kept', () => {
    T.manualSeed(8);
    const m = mk(3);
    assert.equal(m.seqLen, 48);
    const tokens = T.randint(0, 13, [2, 48]);
    const logits = T.noGrad(() => m.forward(tokens, m.prefixIds([0, 1])));
    assert.deepEqual(logits.shape, [2, 48, 13]);
    // Channel 1 of position 0 changes only that position's input: every output can see it, but the
    // model input has 16 + 1 slots (positions), not 48.
    const x = T.noGrad(() => m.transformer.blocks.at(0).attn.qkv.weight);
    assert.equal(x.size(1), 32);
    // Mask only channel 0 of every position: channels 1, 2 stay as given.
    const start = tokens.clone().view([2, 16, 3]);
    start.index(':', ':', 0).fill_(m.maskId);
    const flat = start.view([2, 48]);
    const out = m.generate({ tokens: flat, classes: [0, 1], steps: 5, generator: new T.Generator(2) });
    const o3 = out.view([2, 16, 3]);
    assert.ok(o3.index(':', ':', '1:3').equal(tokens.view([2, 16, 3]).index(':', ':', '1:3')));
    assert.equal(out.eq(m.maskId).sum().item(), 0);
  });
});

describe('training signal', () => {
  test('both priors fit a handful of class-conditional sequences', () => {
    T.manualSeed(9);
    const data = T.randint(0, 8, [4, 9]);
    const classes = T.tensor([0, 1, 2, 3], { dtype: 'int64' });
    for (const Prior of [ARPrior, MaskGIT]) {
      const p = new Prior({ ...small, codebookSize: 8, grid: [3, 3], tokensPerPosition: 1, numClasses: 4 });
      const opt = new Adam(p.parameters(), { lr: 3e-3 });
      const g = new T.Generator(0);
      const losses: number[] = [];
      for (let i = 0; i < 150; i++) {
        losses.push(
          T.tidy(() => {
            opt.zeroGrad();
            const l = p.loss(data, classes, g);
            l.backward();
            opt.step();
            return l.item();
          }),
        );
      }
      const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
      const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
      assert.ok(last < first * 0.4, `${Prior.name}: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
      // Conditioned on its class, each memorised sequence comes back (greedy-ish: low temperature).
      const out = p instanceof ARPrior ? p.sample({ classes: [0, 1, 2, 3], temperature: 0.05, generator: g }) : p.generate({ classes: [0, 1, 2, 3], temperature: 0.05, steps: 9, generator: g });
      const agree = out.eq(data).to('float32').mean().item();
      assert.ok(agree > 0.9, `${Prior.name}: ${(agree * 100).toFixed(0)}% of tokens recalled`);
    }
  });
});

describe('PriorModel', () => {
  const tokenizer = { kind: 'vqvae' as const, config: { ch: 16, numDownsamples: 2, numResBlocks: 1, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } } };
  const config = (arch: 'ar' | 'maskgit'): PriorModelConfig => ({
    arch,
    prior: { ...small, codebookSize: 16, grid: [4, 4], tokensPerPosition: 1, numClasses: 3, classDropout: 0.1 },
    tokenizer,
    imageSize: [16, 16],
    classNames: ['zero', 'one', 'Smileys & Emotion'],
  });

  test('save/load round trip samples identically; class names resolve or list the valid ones', () => {
    T.manualSeed(10);
    for (const arch of ['ar', 'maskgit'] as const) {
      const pm = PriorModel.create(config(arch));
      const path = join(tmp, `${arch}.safetensors`);
      pm.save(path);
      const back = PriorModel.load(path);
      const a = pm.sample({ classes: ['one', 2], generator: new T.Generator(5), steps: 4 });
      const b = back.sample({ classes: ['one', 2], generator: new T.Generator(5), steps: 4 });
      assert.deepEqual(a.shape, [2, 1, 16, 16]);
      assertClose(a, b, 0, 0);
      assert.ok(a.min().item() >= -1 && a.max().item() <= 1);
    }
    const pm = PriorModel.create(config('maskgit'));
    assert.equal(pm.classIndex('smileys-emotion'), 2);
    assert.equal(pm.classIndex('1'), 1);
    assert.throws(() => pm.classIndex('seven'), /unknown class 'seven'; valid classes: 0 zero, 1 one, 2 Smileys & Emotion/);
    assert.throws(() => pm.classIndex(5), /unknown class 5; valid classes/);
  });

  test('inpainting: known pixels beyond the blend band are unchanged; the region is regenerated', () => {
    T.manualSeed(11);
    const pm = PriorModel.create(config('maskgit'));
    const image = T.rand([1, 1, 16, 16]).mul(2).sub(1);
    const mask = T.zeros([16, 16]);
    mask.index('4:8', '8:12').fill_(1);
    const tm = tokenMaskFromPixels(mask, 4, 1);
    // Cells (1, 2) touched, widened by one token → rows 0–2, columns 1–3.
    assert.deepEqual(tm.to('int64').toArray(), [0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0]);
    const { image: out } = pm.inpaint(image, mask, { generator: new T.Generator(1), class: 'zero' });
    const band = 2;
    const far = softMask(mask, band).squeeze().eq(0);
    assert.ok(far.sum().item() > 150);
    assert.ok(out.squeeze().maskedSelect(far).equal(image.squeeze().maskedSelect(far)), 'pixels outside the mask and band are the input');
    const inside = mask.gt(0);
    assert.ok(out.squeeze().maskedSelect(inside).sub(image.squeeze().maskedSelect(inside)).abs().mean().item() > 0.05, 'the masked region is regenerated');
    // Same seed → same result.
    assertClose(pm.inpaint(image, mask, { generator: new T.Generator(1), class: 'zero' }).image, out, 0, 0);
  });

  test('inpainting and outpainting refuse bad input with one clear line', () => {
    const pm = PriorModel.create(config('maskgit'));
    const image = T.zeros([1, 1, 16, 16]);
    assert.throws(() => pm.inpaint(image, T.zeros([16, 16])), /the mask is empty/);
    assert.throws(() => pm.inpaint(image, T.ones([8, 8])), /mask must be 16×16 like the image, got \[8, 8\]/);
    assert.throws(() => pm.inpaint(T.zeros([1, 1, 12, 12]), T.ones([12, 12])), /at the model's size/);
    assert.throws(() => pm.outpaint(image, [0, 0, 0, 0]), /at least one > 0/);
    assert.throws(() => pm.outpaint(T.zeros([1, 1, 8, 8]), [0, 1, 0, 0]), /must be at least the model's 4×4 tokens/);
    const ar = PriorModel.create(config('ar'));
    assert.throws(() => ar.inpaint(image, T.ones([16, 16])), /inpainting needs a MaskGIT prior/);
  });

  test('outpainting extends by whole tokens and keeps the original beyond the band', () => {
    T.manualSeed(12);
    const pm = PriorModel.create(config('maskgit'));
    const image = T.rand([1, 1, 16, 16]).mul(2).sub(1);
    const out = pm.outpaint(image, [0, 2, 1, 0], { generator: new T.Generator(3), steps: 4 });
    assert.deepEqual(out.shape, [1, 1, 20, 24]);
    // Original area minus a band of 2 pixels at its right and bottom edges.
    assert.ok(out.index(':', ':', '0:14', '0:14').equal(image.index(':', ':', '0:14', '0:14')));
  });
});
