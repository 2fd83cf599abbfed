// Tests for src/priors: the KV cache against full forward passes, sampling filters, classifier-free
// guidance, MaskGIT decoding rules (fills masks, keeps known tokens, follows the schedule),
// multichannel tokens, training signal, PriorModel files, inpainting and outpainting.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  planOutpaint,
  writeSamplingDefaults,
  type Prior,
  type PriorModelConfig,
} from '../src/priors/index.js';
import { resolveClass } from '../src/data/classes.js';
import { LIMITS, checkLimit, limit } from '../src/data/limits.js';
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
    const parts = T.noGrad(() => [
      tr.forward(x.narrow(1, 0, 5), { causal: true, cache }),
      ...[5, 6, 7, 8].map((i) => tr.forward(x.narrow(1, i, 1), { causal: true, cache })),
    ]);
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
    assert.ok(
      la
        .narrow(1, 5, 1)
        .sub(lb.narrow(1, 5, 1))
        .abs()
        .max()
        .item() > 1e-4,
      'token 4 must influence the logits for token 5',
    );
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
    const s = (seed: number, cache: boolean): number[] => ar.generate({ classes: [0, 2, null], generator: new T.Generator(seed), cache, topK: 5 }).toArray();
    const a = s(7, true);
    assert.deepEqual(s(7, true), a);
    assert.deepEqual(s(7, false), a);
    assert.notDeepEqual(s(8, true), a);
    assert.ok(a.every((v) => v >= 0 && v < 9));
  });

  test('AR: cfg 1 (doubled batch) samples exactly what conditional sampling does; other scales differ', () => {
    T.manualSeed(5);
    const ar = new ARPrior({ ...small, codebookSize: 9, grid: [3, 3], tokensPerPosition: 1, numClasses: 3, classDropout: 0.1 });
    const s = (cfg?: number): number[] => ar.generate({ classes: [0, 1, 2, 1], generator: new T.Generator(3), cfg }).toArray();
    assert.deepEqual(s(1), s());
    assert.notDeepEqual(s(4), s());
    const noDrop = new ARPrior({ ...small, codebookSize: 9, grid: [3, 3], tokensPerPosition: 1, numClasses: 3 });
    assert.throws(() => noDrop.generate({ classes: [0], cfg: 3 }), /class dropout/);
    assert.throws(() => ar.generate({ classes: [3] }), /class 3 is out of range: this model has classes 0–2/);
  });

  test('AR: known tokens where the mask is false are kept, later tokens are generated; onStep counts down', () => {
    T.manualSeed(13);
    const ar = new ARPrior({ ...small, codebookSize: 9, grid: [3, 3], tokensPerPosition: 1, numClasses: 0 });
    const known = T.randint(0, 9, [2, 9]);
    // Image 0: first 3 tokens known (a prompt) and token 6; image 1: first 4 known.
    const mask = T.tensor([
      [0, 0, 0, 1, 1, 1, 0, 1, 1],
      [0, 0, 0, 0, 1, 1, 1, 1, 1],
    ]).gt(0);
    for (const cache of [true, false]) {
      const steps: { step: number; steps: number; masked: number[] }[] = [];
      const out = ar.generate({ known, mask, cache, generator: new T.Generator(2), onStep: (i) => steps.push(i) });
      assert.ok(out.maskedSelect(mask.logicalNot()).equal(known.maskedSelect(mask.logicalNot())), 'known tokens kept');
      assert.ok(out.ge(0).all().item() && out.lt(9).all().item());
      // The leading run known in both images (3 tokens) is fed at once: 6 steps remain.
      assert.deepEqual(
        steps.map((x) => x.step),
        [0, 1, 2, 3, 4, 5],
      );
      assert.ok(steps.every((x) => x.steps === 6));
      assert.deepEqual(
        steps.map((x) => x.masked),
        [
          [4, 5],
          [3, 4],
          [2, 3],
          [2, 2],
          [1, 1],
          [0, 0],
        ],
      );
    }
    // Cached and uncached generation agree with known tokens too.
    const a = ar.generate({ known, mask, cache: true, generator: new T.Generator(5) });
    const b = ar.generate({ known, mask, cache: false, generator: new T.Generator(5) });
    assert.ok(a.equal(b));
    assert.throws(() => ar.generate({ known: T.zeros([2, 9], { dtype: 'int64' }), mask: T.ones([2, 9]) }), /mask must be bool \[2, 9\]/);
    assert.throws(() => ar.generate({ mask }), /a mask needs the known tokens/);
  });
});

describe('one prior interface', () => {
  const shape = { ...small, codebookSize: 11, grid: [2, 2] as [number, number], tokensPerPosition: 1, numClasses: 2, classDropout: 0.1 };
  test('both priors take the shared options through generate(); options of the other prior are refused', () => {
    const priors: Prior[] = [new ARPrior(shape), new MaskGIT(shape)];
    for (const p of priors) {
      let calls = 0;
      const out = p.generate({ classes: [0, 1, null], cfg: 2, temperature: 0.9, topK: 5, topP: 0.95, generator: new T.Generator(1), onStep: () => calls++ });
      assert.deepEqual(out.shape, [3, 4], p.label);
      assert.ok(calls > 0);
      assert.deepEqual(p.generate({ batch: 2 }).shape, [2, 4]);
    }
    assert.throws(() => new ARPrior(shape).generate({ steps: 4 } as never), /option 'steps' does not apply to an autoregressive prior \(it takes: .*cache\)/);
    assert.throws(() => new MaskGIT(shape).generate({ cache: false } as never), /option 'cache' does not apply to a MaskGIT prior/);
    assert.throws(() => new MaskGIT(shape).generate({ classes: [0], batch: 2 }), /batch 2 ≠ 1 classes given/);
    assert.throws(() => new MaskGIT(shape).generate({ temperature: 0 }), /temperature: must be > 0, got 0/);
  });

  test('configs reject unknown keys (with a did-you-mean) and bad values in one line', () => {
    assert.throws(() => new ARPrior({ ...shape, dimm: 3 } as never), /^ConfigError: ARPrior: unknown key 'dimm' \(did you mean 'dim'\? valid: /);
    assert.throws(() => new ARPrior({ ...shape, labelSmoothing: 0.1 } as never), /ARPrior: unknown key 'labelSmoothing'/);
    assert.throws(() => new MaskGIT({ ...shape, trainSchedul: 'cosine' } as never), /did you mean 'trainSchedule'/);
    assert.throws(() => new MaskGIT({ ...shape, heads: 0 }), /MaskGIT: heads: expected a positive integer, got 0/);
    assert.throws(() => new MaskGIT({ ...shape, dim: 30, heads: 4 }), /dim \(30\) must be divisible by heads \(4\)/);
    assert.throws(() => new MaskGIT({ ...shape, grid: [2, 1.5] as never }), /grid\[1\]: expected a positive integer, got 1.5/);
    assert.throws(() => new MaskGIT({ ...shape, classDropout: 1 }), /classDropout: must be < 1, got 1/);
    assert.throws(() => new MaskGIT({ ...shape, positions: 'sincos' as never }), /positions: expected one of learned, sincos2d, got "sincos"/);
    assert.throws(() => new MaskGIT({ ...shape, trainSchedule: 'cosin' as never }), /did you mean 'cosine'/);
    assert.throws(() => new ARPrior({ ...shape, dropout: Number.NaN }), /dropout: expected a finite number, got NaN/);
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
        const mask = T.cat([maskHalf, T.ones([1, n], { dtype: 'bool' })]);
        const n0 = mask.sum([1]).toArray();
        const counts: number[][] = [];
        const out = m.generate({
          known,
          mask,
          classes: [1, null],
          steps,
          schedule,
          generator: new T.Generator(1),
          onStep: ({ masked }) => counts.push(masked),
        });
        assert.equal(out.eq(m.maskId).sum().item(), 0, 'no mask left');
        assert.ok(out.lt(13).all().item() && out.ge(0).all().item(), 'codes only');
        const keep = mask.logicalNot();
        assert.ok(out.maskedSelect(keep).equal(known.maskedSelect(keep)), 'known tokens unchanged');
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
    assert.throws(() => m.generate({ batch: 1, steps: 4, startStep: 4 }), /startStep: must be ≤ 3, got 4/);
  });

  test('seeded decoding is reproducible; cfg 1 equals conditional decoding', () => {
    T.manualSeed(7);
    const m = mk();
    // Untrained GPT-init weights barely react to the class; scale them up so guidance shows.
    T.noGrad(() =>
      m
        .parameters()
        .filter((p) => p.shape.length >= 2)
        .forEach((p) => p.mul_(25)),
    );
    const run = (seed: number, cfg?: number): number[] => m.generate({ classes: [0, 2], steps: 6, generator: new T.Generator(seed), cfg }).toArray();
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
    assert.deepEqual(run(3, 1), run(3));
    assert.notDeepEqual(run(3, 5), run(3));
  });

  test('bad known tokens are refused with the expected shape', () => {
    const m = mk();
    assert.throws(() => m.generate({ known: T.zeros([1, 5], { dtype: 'int64' }) }), /known tokens must be int64 \[1, 16\]/);
    const known = T.full([1, 16], 99, { dtype: 'int64' });
    assert.throws(() => m.generate({ known, mask: T.zeros([1, 16]).gt(0) }), /known tokens must be codes in \[0, 13\)/);
    // Out-of-range values where the mask says "generate" are never read, so they are allowed.
    assert.ok(
      m
        .generate({ known, mask: T.ones([1, 16]).gt(0), steps: 2 })
        .lt(13)
        .all()
        .item(),
    );
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
    const gen = T.zeros([2, 16, 3]);
    gen.index(':', ':', 0).fill_(1);
    const out = m.generate({ known: tokens, mask: gen.view([2, 48]).gt(0), classes: [0, 1], steps: 5, generator: new T.Generator(2) });
    const o3 = out.view([2, 16, 3]);
    assert.ok(o3.index(':', ':', '1:3').equal(tokens.view([2, 16, 3]).index(':', ':', '1:3')));
    assert.equal(out.eq(m.maskId).sum().item(), 0);
  });
});

describe('training signal', () => {
  test('both priors fit a handful of class-conditional sequences, with one and with two tokens per position', () => {
    T.manualSeed(9);
    const classes = T.tensor([0, 1, 2, 3], { dtype: 'int64' });
    for (const [Prior, c] of [
      [ARPrior, 1],
      [MaskGIT, 1],
      [ARPrior, 2],
      [MaskGIT, 2],
    ] as const) {
      const data = T.randint(0, 8, [4, 9 * c]);
      const p: ARPrior | MaskGIT = new Prior({ ...small, codebookSize: 8, grid: [3, 3], tokensPerPosition: c, numClasses: 4 });
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
      assert.ok(last < first * 0.4, `${Prior.name}, c = ${c}: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
      // Conditioned on its class, each memorised sequence comes back (greedy-ish: low temperature).
      const out = p.generate({ classes: [0, 1, 2, 3], temperature: 0.05, generator: g, ...(p.kind === 'maskgit' ? { steps: 9 } : {}) });
      const agree = out.eq(data).to('float32').mean().item();
      assert.ok(agree > 0.9, `${Prior.name}, c = ${c}: ${(agree * 100).toFixed(0)}% of tokens recalled`);
    }
  });
});

describe('PriorModel', () => {
  const tokenizer = {
    kind: 'vqvae' as const,
    config: { ch: 16, numDownsamples: 2, numResBlocks: 1, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } },
  };
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
      const steps = arch === 'maskgit' ? { steps: 4 } : {};
      const a = pm.sample({ classes: ['one', 2], generator: new T.Generator(5), ...steps });
      const b = back.sample({ classes: ['one', 2], generator: new T.Generator(5), ...steps });
      assert.deepEqual(a.shape, [2, 1, 16, 16]);
      assertClose(a, b, 0, 0);
      assert.ok(a.min().item() >= -1 && a.max().item() <= 1);
    }
    const pm = PriorModel.create(config('maskgit'));
    assert.equal(pm.classIndex('smileys-emotion'), 2);
    assert.equal(pm.classIndex('1'), 1);
    assert.throws(() => pm.classIndex('seven'), /unknown class 'seven'; valid classes: 'zero', 'one', 'Smileys & Emotion' \(ids 0–2\)/);
    assert.throws(() => pm.classIndex(5), /class id 5 is out of range \[0, 3\)/);
    assert.throws(() => pm.classIndex('-1'), /class id -1 is out of range \[0, 3\)/);
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
    assert.throws(
      () => ar.inpaint(image, T.ones([16, 16])),
      /inpainting needs a prior that sees the whole image, such as MaskGIT; this model is autoregressive/,
    );
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

describe('PriorModel options and sampling defaults', () => {
  const tokenizer = {
    kind: 'vqvae' as const,
    config: { ch: 16, numDownsamples: 2, numResBlocks: 1, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } },
  };
  const config = (arch: 'ar' | 'maskgit', sampling?: PriorModelConfig['sampling']): PriorModelConfig => ({
    arch,
    prior: { ...small, codebookSize: 16, grid: [4, 4], tokensPerPosition: 1, numClasses: 3, classDropout: 0.1 },
    tokenizer,
    imageSize: [16, 16],
    classNames: ['a', 'b', 'c'],
    ...(sampling ? { sampling } : {}),
  });

  test('options that do not apply to the model are refused, never ignored', () => {
    T.manualSeed(20);
    const ar = PriorModel.create(config('ar'));
    const mg = PriorModel.create(config('maskgit'));
    const image = T.zeros([1, 1, 16, 16]);
    const mask = T.ones([16, 16]);
    assert.throws(() => ar.sample({ batch: 1, steps: 4 }), /sample: option 'steps' does not apply to an autoregressive prior/);
    assert.throws(() => mg.sample({ batch: 1, cache: false }), /sample: option 'cache' does not apply to a MaskGIT prior/);
    assert.throws(() => mg.inpaint(image, mask, { cache: false }), /inpaint: option 'cache' does not apply to a MaskGIT prior/);
    assert.throws(() => mg.inpaint(image, mask, { batch: 2 } as never), /inpaint: option 'batch' does not apply/);
    assert.throws(() => mg.outpaint(image, [0, 1, 0, 0], { widen: 2 } as never), /outpaint: option 'widen' does not apply/);
    // Options set to undefined count as not given (what spreading unset CLI flags produces).
    assert.deepEqual(mg.sample({ batch: 1, steps: 2, cache: undefined }).shape, [1, 1, 16, 16]);
    // The editing options that do apply are used: a different seed or top-k changes the result.
    const a = mg.inpaint(image, mask, { generator: new T.Generator(1), steps: 3 }).image;
    assert.ok(!mg.inpaint(image, mask, { generator: new T.Generator(2), steps: 3 }).image.equal(a));
    assert.ok(mg.inpaint(image, mask, { generator: new T.Generator(1), steps: 3 }).image.equal(a));
  });

  test('recommended settings fill unset options, flags override them, and they survive save/load', () => {
    T.manualSeed(21);
    const pm = PriorModel.create(config('maskgit', { steps: 3, cfg: 2, temperature: 0.8, note: 'test' }));
    const s = pm.samplingSettings({ cfg: 1 });
    assert.deepEqual(s.fromModel, ['steps', 'temperature']);
    assert.deepEqual([s.options.steps, s.options.cfg, s.options.temperature], [3, 1, 0.8]);
    assert.deepEqual(pm.samplingSettings({ defaults: false }).fromModel, []);
    // Sampling with the defaults is sampling with the same settings given explicitly.
    const d = pm.sample({ classes: [0, 1], generator: new T.Generator(4) });
    const e = pm.sample({ classes: [0, 1], generator: new T.Generator(4), steps: 3, cfg: 2, temperature: 0.8, defaults: false });
    assert.ok(d.equal(e));
    const plain = pm.sample({ classes: [0, 1], generator: new T.Generator(4), defaults: false });
    assert.ok(!plain.equal(d), 'defaults: false ignores the recommended settings');
    const path = join(tmp, 'defaults.safetensors');
    pm.save(path);
    const back = PriorModel.load(path);
    assert.deepEqual(back.samplingDefaults, { steps: 3, cfg: 2, temperature: 0.8, note: 'test' });
    // Bad or inapplicable settings are refused when the model is built.
    assert.throws(() => PriorModel.create(config('ar', { steps: 12 })), /sampling \(autoregressive\): unknown key 'steps'/);
    assert.throws(() => PriorModel.create(config('maskgit', { stepz: 12 } as never)), /did you mean 'steps'/);
    assert.throws(() => PriorModel.create(config('maskgit', { temperature: 0 })), /sampling\.temperature: must be > 0/);
    assert.throws(() => PriorModel.create({ ...config('maskgit'), extra: 1 } as never), /prior model config: unknown key 'extra'/);
  });

  test('writeSamplingDefaults changes the metadata only: tensor bytes stay identical', () => {
    T.manualSeed(22);
    const path = join(tmp, 'rewrite.safetensors');
    PriorModel.create(config('ar')).save(path);
    const data = (b: Buffer): Buffer => b.subarray(8 + Number(b.readBigUInt64LE(0)));
    const before = readFileSync(path);
    writeSamplingDefaults(path, { cfg: 3, note: 'chosen by a test' });
    const after = readFileSync(path);
    assert.ok(data(before).equals(data(after)));
    assert.ok(!before.equals(after));
    const pm = PriorModel.load(path);
    assert.deepEqual(pm.samplingDefaults, { cfg: 3, note: 'chosen by a test' });
    assert.throws(() => writeSamplingDefaults(path, { steps: 8 }), /unknown key 'steps'/);
    assert.ok(readFileSync(path).equals(after), 'a refused rewrite leaves the file alone');
    writeSamplingDefaults(path, undefined);
    assert.deepEqual(PriorModel.load(path).samplingDefaults, {});
  });

  test('sampleBatches: bounded batches in order; the same seed and batch size give the same images', () => {
    T.manualSeed(23);
    const pm = PriorModel.create(config('maskgit'));
    const classes = [0, 1, 2, 0, 1];
    const run = (): { starts: number[]; images: T.Tensor } => {
      const starts: number[] = [];
      const parts: T.Tensor[] = [];
      for (const { start, images } of pm.sampleBatches({ classes, steps: 2, generator: new T.Generator(9) }, 2)) {
        starts.push(start);
        assert.ok(images.size(0) <= 2);
        parts.push(images.clone().keep());
      }
      return { starts, images: T.cat(parts) };
    };
    const a = run();
    assert.deepEqual(a.starts, [0, 2, 4]);
    assert.deepEqual(a.images.shape, [5, 1, 16, 16]);
    assert.ok(run().images.equal(a.images));
    // The first batch is what one call with the same fresh generator gives.
    assert.ok(pm.sample({ classes: [0, 1], steps: 2, generator: new T.Generator(9) }).equal(a.images.narrow(0, 0, 2)));
    assert.throws(() => pm.sampleBatches({ batch: 2 }, 0).next(), /batchSize: expected a positive integer, got 0/);
  });
});

describe('outpainting plan', () => {
  /** Brute force of the rule: the window with the most known tokens among those with an unknown one. */
  function bruteForce(ch: number, cw: number, [top, left, h, w]: number[], gh: number, gw: number): [number, number][] {
    const known = Array.from({ length: ch }, (_, y) => Array.from({ length: cw }, (_, x) => y >= top! && y < top! + h! && x >= left! && x < left! + w!));
    const plan: [number, number][] = [];
    for (;;) {
      let best: [number, number] | null = null;
      let bestK = -1;
      for (let y0 = 0; y0 + gh <= ch; y0++) {
        for (let x0 = 0; x0 + gw <= cw; x0++) {
          let k = 0;
          for (let y = y0; y < y0 + gh; y++) for (let x = x0; x < x0 + gw; x++) k += known[y]![x] ? 1 : 0;
          if (k < gh * gw && k > bestK) [best, bestK] = [[y0, x0], k];
        }
      }
      if (!best) return plan;
      plan.push(best);
      for (let y = best[0]; y < best[0] + gh; y++) for (let x = best[1]; x < best[1] + gw; x++) known[y]![x] = true;
    }
  }

  test('windows follow the most-known-first rule and cover the whole canvas', () => {
    for (const [ch, cw, orig, gh, gw] of [
      [4, 6, [0, 0, 4, 4], 4, 4],
      [9, 9, [2, 3, 4, 4], 4, 4],
      [7, 20, [0, 5, 7, 7], 7, 7],
      [10, 3, [4, 0, 3, 3], 3, 3],
      [8, 8, [3, 3, 2, 2], 3, 2],
    ] as [number, number, number[], number, number][]) {
      const plan = planOutpaint([ch, cw], orig as [number, number, number, number], [gh, gw]);
      assert.deepEqual(plan, bruteForce(ch, cw, orig, gh, gw), `${ch}×${cw}`);
      const covered = new Set<string>();
      for (let y = orig[0]!; y < orig[0]! + orig[2]!; y++) for (let x = orig[1]!; x < orig[1]! + orig[3]!; x++) covered.add(`${y},${x}`);
      for (const [y0, x0] of plan) for (let y = y0; y < y0 + gh; y++) for (let x = x0; x < x0 + gw; x++) covered.add(`${y},${x}`);
      assert.equal(covered.size, ch * cw, 'every canvas token is generated or known');
    }
    // Extending a 4×4 image by 2 tokens on the right with a 4×4 window: one column at a time, each
    // window seeing 3 known columns.
    assert.deepEqual(planOutpaint([4, 6], [0, 0, 4, 4], [4, 4]), [
      [0, 1],
      [0, 2],
    ]);
    assert.deepEqual(planOutpaint([4, 4], [0, 0, 4, 4], [4, 4]), []);
    assert.throws(() => planOutpaint([3, 8], [0, 0, 3, 3], [4, 4]), /canvas 3×8 is smaller than the window 4×4/);
  });
});

describe('multichannel tokens (c > 1) through PriorModel', () => {
  // An untrained MoVQ-style multichannel VQ-VAE: 2 tokens per position, f = 4, RGB.
  const tokenizer = {
    kind: 'vqvae' as const,
    config: { ch: 16, numDownsamples: 2, numResBlocks: 0, resCh: 8, embedDim: 8, quantizer: { type: 'multichannel', codebookSize: 16, groups: 2 } },
  };
  const config: PriorModelConfig = {
    arch: 'maskgit',
    prior: { ...small, codebookSize: 16, grid: [4, 4], tokensPerPosition: 2, numClasses: 2, classDropout: 0.1 },
    tokenizer,
    imageSize: [16, 16],
    classNames: ['a', 'b'],
  };

  test('inpainting and outpainting keep the original beyond the band', () => {
    T.manualSeed(24);
    const pm = PriorModel.create(config);
    assert.equal(pm.tokenizer.tokensPerPosition, 2);
    const image = T.rand([1, 3, 16, 16]).mul(2).sub(1);
    const mask = T.zeros([16, 16]);
    mask.index('0:4', '0:4').fill_(1);
    const { image: out, tokenMask } = pm.inpaint(image, mask, { generator: new T.Generator(1), class: 'b', steps: 4 });
    assert.deepEqual(out.shape, [1, 3, 16, 16]);
    assert.equal(tokenMask.sum().item(), 4); // token (0, 0) widened by one: 2×2 tokens
    const far = softMask(mask, 2).squeeze().eq(0).unsqueeze(0).expand([3, 16, 16]);
    assert.ok(out.squeezeDim(0).maskedSelect(far).equal(image.squeezeDim(0).maskedSelect(far)));
    const wide = pm.outpaint(image, [1, 0, 0, 2], { generator: new T.Generator(2), steps: 3 });
    assert.deepEqual(wide.shape, [1, 3, 20, 24]);
    // The original sits at (8, 4); beyond the 2 px band at its top and left edges it is exact.
    assert.ok(wide.index(':', ':', '6:20', '10:24').equal(image.index(':', ':', '2:16', '2:16')));
  });
});

describe('class names (src/data/classes.ts)', () => {
  const emoji = ['Activities', 'Animals & Nature', 'Smileys & Emotion'];
  test('names, ids and numeric-looking strings', () => {
    assert.equal(resolveClass(emoji, 'smileys-emotion'), 2);
    assert.equal(resolveClass(emoji, ' Animals & Nature '), 1);
    assert.equal(resolveClass(emoji, 'ANIMALS_NATURE'), 1);
    assert.equal(resolveClass(emoji, 1), 1);
    assert.equal(resolveClass(emoji, '2'), 2);
    // '-1' is an id (out of range), not the class '1' with its '-' stripped.
    assert.throws(() => resolveClass(['0', '1'], '-1'), /^ClassNameError: class id -1 is out of range \[0, 2\); classes: '0', '1' \(ids 0–1\)$/);
    assert.throws(() => resolveClass(emoji, '1.5'), /class id 1.5 is out of range/);
    assert.throws(() => resolveClass(emoji, 3), /class id 3 is out of range \[0, 3\)/);
    // An exact name wins over the id reading: a folder class named '10' is that class.
    assert.equal(resolveClass(['10', '20'], '10'), 0);
    assert.throws(() => resolveClass(emoji, 'Smilies & Emotion'), /unknown class 'Smilies & Emotion'; valid classes: .*; did you mean 'Smileys & Emotion'\?/);
    assert.throws(() => resolveClass(['a-b', 'A B'], 'ab'), /class 'ab' is ambiguous: it matches 0 'a-b' and 1 'A B'; give the id/);
    assert.throws(() => resolveClass([], 'x'), /unconditional/);
    const many = Array.from({ length: 30 }, (_, i) => `c${i}`);
    assert.match(
      String(
        (() => {
          try {
            resolveClass(many, 'zz');
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      ),
      /'c19', … 10 more \(ids 0–29\)/,
    );
  });
});

describe('size limits (src/data/limits.ts)', () => {
  test('defaults, environment overrides and one-line messages naming the variable', () => {
    assert.equal(limit('pixels', {}), LIMITS.pixels.default);
    assert.equal(limit('samples', { TESSERA_MAX_SAMPLES: '20_000' }), 20000);
    assert.throws(() => limit('samples', { TESSERA_MAX_SAMPLES: '-3' }), /TESSERA_MAX_SAMPLES must be a positive whole number, got '-3'/);
    assert.throws(() => limit('gridTokens', { TESSERA_MAX_GRID: '1e9' }), /TESSERA_MAX_GRID must be a positive whole number/);
    checkLimit('outpaintTokens', LIMITS.outpaintTokens.default, 'x');
    assert.throws(
      () => checkLimit('outpaintTokens', 100000, '--right 100000'),
      /^LimitError: --right 100000 is 100,000 tokens, over the limit of 64; set TESSERA_MAX_OUTPAINT=100000 to allow it$/,
    );
  });

  test('outpainting checks its extent and output size before generating', () => {
    T.manualSeed(25);
    const pm = PriorModel.create({
      arch: 'maskgit',
      prior: { ...small, codebookSize: 16, grid: [4, 4], tokensPerPosition: 1, numClasses: 0 },
      tokenizer: {
        kind: 'vqvae',
        config: { ch: 16, numDownsamples: 2, numResBlocks: 0, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } },
      },
      imageSize: [16, 16],
      classNames: [],
    });
    assert.throws(
      () => pm.outpaint(T.zeros([1, 1, 16, 16]), [0, 100000, 0, 0]),
      /outpainting 100000 tokens on the right is 100,000 tokens, over the limit of 64; set TESSERA_MAX_OUTPAINT=100000/,
    );
  });
});
