// Image metrics against scikit-image's values (tools/fixtures/metrics.py), codebook use, and the
// evaluations (evaluateTokenizer, evaluatePrior) on hand-made models with known answers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { U8_TO_UNIT } from '../src/data/images.js';
import { loadDataset } from '../src/data/index.js';
import { statsFromCounts } from '../src/quantize/stats.js';
import type { Tokenizer } from '../src/tokenizers/index.js';
import type { PriorModel, GenerateOptions } from '../src/priors/index.js';
import type { Classifier } from '../src/metrics/classifier.js';
import { psnr, ssim, codebookUsage, l1 } from '../src/metrics/image.js';
import type { EvalProgress } from '../src/metrics/evaluate.js';
import { evaluateTokenizer } from '../src/metrics/evaluate-tokenizer.js';
import { evaluatePrior, spreadClasses, baselineOrder } from '../src/metrics/evaluate-prior.js';
import { mapClasses } from '../src/metrics/evaluate.js';
import { loadJsonFixture } from './helpers.js';

const cases = loadJsonFixture<{ shape: number[]; a: number[]; b: number[]; psnr: number; ssim: number }[]>('metrics', 'skimage.json');

test('PSNR and SSIM match scikit-image to 1e-4', () => {
  for (const c of cases) {
    const a = T.tensor(c.a, { shape: c.shape, dtype: 'float64' });
    const b = T.tensor(c.b, { shape: c.shape, dtype: 'float64' });
    assert.ok(Math.abs(psnr(a, b) - c.psnr) < 1e-4, `psnr ${psnr(a, b)} vs ${c.psnr}`);
    assert.ok(Math.abs(ssim(a, b) - c.ssim) < 1e-4, `ssim ${ssim(a, b)} vs ${c.ssim}`);
  }
});

test('identical images: PSNR is infinite, SSIM is 1, L1 is 0; mismatched shapes are rejected', () => {
  const a = T.rand([2, 3, 16, 16]).mul(2).sub(1);
  assert.equal(psnr(a, a), Infinity);
  assert.ok(Math.abs(ssim(a, a) - 1) < 1e-9);
  assert.equal(l1(a, a), 0);
  assert.throws(() => psnr(a, T.zeros([2, 3, 16, 15])), /same shape/);
  assert.throws(() => ssim(T.zeros([1, 3, 8, 8]), T.zeros([1, 3, 8, 8])), /smaller than the 11×11 window/);
});

test('codebook usage: utilization and perplexity of a known distribution', () => {
  const u = codebookUsage([5, 5, 0, 0]);
  assert.equal(u.utilization, 0.5);
  assert.ok(Math.abs(u.perplexity - 2) < 1e-12);
  assert.ok(Math.abs(codebookUsage([1, 1, 1, 1]).perplexity - 4) < 1e-12);
});

test('codebook usage: an empty histogram uses no code (utilization 0, perplexity 0), the same in training stats and evaluations', () => {
  assert.deepEqual(codebookUsage([0, 0, 0]), { used: 0, utilization: 0, perplexity: 0, tokens: 0 });
  assert.deepEqual(statsFromCounts([0, 0, 0]), { utilization: 0, perplexity: 0, tokens: 0 });
  // One code used: perplexity 1 (exp of zero entropy), never more than the codes used.
  assert.deepEqual(codebookUsage([0, 7, 0, 0]), { used: 1, utilization: 0.25, perplexity: 1, tokens: 7 });
  const u = codebookUsage([3, 1, 0, 0]);
  const s = statsFromCounts([3, 1, 0, 0]);
  assert.equal(s.perplexity, u.perplexity);
  assert.ok(Math.abs(u.perplexity - Math.exp(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)))) < 1e-12);
});

// ------------------------------------------------------------------ evaluateTokenizer / evaluatePrior
// On a folder of 16×16 grey ramps written here, with hand-made models whose answers are known: a
// "pixel tokenizer" (one token per pixel value, optionally decoding with an offset), a classifier that
// tells brighter-left from brighter-right, and a stand-in prior that draws exactly the folder's images.
const tmp = mkdtempSync(join(tmpdir(), 'tessera-metrics-'));
process.env.TESSERA_CACHE = join(tmp, 'cache');
after(() => rmSync(tmp, { recursive: true, force: true }));
const folder = join(tmp, 'ramps');

/** Image k (0–7) of a class: a horizontal ramp brighter on the left (or right), shifted by k steps. */
function rampPixels(cls: 'left' | 'right', k: number): Uint8Array {
  const px = new Uint8Array(16 * 16);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) px[y * 16 + x] = 60 + 8 * k + 8 * (cls === 'left' ? 15 - x : x);
  return px;
}
const toUnit = (px: Uint8Array): Float32Array => Float32Array.from(px, (v) => U8_TO_UNIT[v]!);

before(async () => {
  for (const cls of ['left', 'right'] as const) {
    mkdirSync(join(folder, cls), { recursive: true });
    for (let k = 0; k < 8; k++)
      await sharp(Buffer.from(rampPixels(cls, k)), { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toFile(join(folder, cls, `${k}.png`));
  }
});

/** One token per pixel value (256 codes, downsampling 1); decode adds `offset`. */
function pixelTokenizer(offset = 0): Tokenizer {
  const encode = (x: Tensor) => T.tidy(() => x.add(1).mul(127.5).round().squeezeDim(1).to('int64'));
  // In float64, then rounded once: bit-identical to the loader's u / 127.5 − 1.
  const decode = (codes: Tensor) => T.tidy(() => codes.double().div(127.5).sub(1).add(offset).float().unsqueeze(1));
  return {
    kind: 'vqvae',
    inChannels: 1,
    downsample: 1,
    codebookSize: 256,
    tokensPerPosition: 1,
    levels: [{ name: 'tokens', downsample: 1, codebookSize: 256, tokensPerPosition: 1 }],
    encode,
    decode,
    encodeLevels: (x: Tensor) => [encode(x)],
    decodeLevels: (l: readonly Tensor[]) => decode(l[0]!),
    eval() {},
    dispose() {},
  } as unknown as Tokenizer;
}

/** A classifier of left/right ramps: feature 0 is (left half − right half) mean brightness. */
function rampClassifier(classNames: string[]): Classifier {
  const sign = classNames[0] === 'left' ? 1 : -1;
  const features = (x: Tensor) =>
    T.tidy(() => {
      const d = x
        .narrow(3, 0, 8)
        .mean([1, 2, 3])
        .sub(x.narrow(3, 8, 8).mean([1, 2, 3]));
      const a = d.mul(10 * sign);
      return { features: T.stack([d, x.mean([1, 2, 3])], 1), logits: T.stack([a, a.neg()], 1) };
    });
  return {
    name: 'ramps',
    featureDim: 2,
    numClasses: 2,
    classNames,
    features,
    classify: (x: Tensor) => T.tidy(() => ({ classIds: [], probs: features(x).logits.softmax(1) })),
    dispose() {},
  } as unknown as Classifier;
}

/**
 * A stand-in PriorModel that draws the folder's images: sample i of the stream, asked for class c,
 * is image ⌊i / 2⌋ mod 8 of class c — or of the other class when i mod `wrongEvery` is wrongEvery − 1.
 */
function rampPrior(wrongEvery = Infinity) {
  let i = 0;
  const calls: GenerateOptions[] = [];
  const pm = {
    arch: 'maskgit',
    classNames: ['left', 'right'],
    config: { imageSize: [16, 16], classNames: ['left', 'right'], data: `folder:${folder}` },
    tokenizer: { inChannels: 1 },
    samplingSettings: (o: GenerateOptions) => ({ options: { ...o }, fromModel: [] }),
    // A lossless stand-in tokenizer: the "tokens" are the pixels.
    encode: (images: Tensor) => images.clone(),
    decode: (seq: Tensor) => seq.clone(),
    sample(o: GenerateOptions) {
      calls.push(o);
      const px = (o.classes ?? []).map((c) => {
        const wrong = i % wrongEvery === wrongEvery - 1;
        const cls = (c === 0) !== wrong ? 'left' : 'right';
        return toUnit(rampPixels(cls, Math.floor(i++ / 2) % 8));
      });
      const all = new Float32Array(px.length * 256);
      px.forEach((p, j) => all.set(p, j * 256));
      return T.tensor(all, { shape: [px.length, 1, 16, 16] });
    },
    dispose() {},
  };
  return { pm: pm as unknown as PriorModel, calls };
}

test('evaluateTokenizer: a lossless tokenizer has no finite PSNR (null), L1 0, SSIM 1, rFID 0; an offset of 0.02 is 40 dB', async () => {
  const progress: EvalProgress[] = [];
  const r = await evaluateTokenizer({
    model: pixelTokenizer(),
    data: `folder:${folder}`,
    size: 16,
    split: 'all',
    batchSize: 5,
    classifier: rampClassifier(['left', 'right']),
    onProgress: (p) => progress.push(p),
  });
  assert.equal(r.images, 16);
  // Every PSNR is +∞ (left out of the mean, which JSON could not hold): no finite value → null.
  assert.equal(r.psnr, null);
  assert.equal(r.l1, 0);
  assert.ok(Math.abs(r.ssim! - 1) < 1e-9, `ssim ${r.ssim}`);
  assert.equal(r.rfidName, 'rFID-ramps');
  assert.ok(Math.abs(r.rfid!) < 1e-6, `rFID ${r.rfid}`);
  // Tokens are pixel values: one code per distinct value in the folder.
  const values = new Set<number>();
  for (const cls of ['left', 'right'] as const) for (let k = 0; k < 8; k++) for (const v of rampPixels(cls, k)) values.add(v);
  assert.equal(r.used, values.size);
  assert.equal(r.utilization, values.size / 256);
  assert.deepEqual(
    progress.map((p) => p.done),
    [5, 10, 15, 16],
  );
  assert.ok(progress.every((p) => p.stage === 'images' && p.total === 16));

  const shifted = await evaluateTokenizer({ model: pixelTokenizer(0.02), data: `folder:${folder}`, size: 16, split: 'all', rfid: false });
  assert.ok(Math.abs(shifted.psnr! - 40) < 1e-4, `psnr ${shifted.psnr}`); // 10·log10(2² / 0.02²)
  assert.ok(Math.abs(shifted.l1! - 0.02) < 1e-6, `l1 ${shifted.l1}`);
  assert.equal(shifted.rfid, null);

  // No images: an empty code histogram — utilization and perplexity 0, as in training stats.
  const none = await evaluateTokenizer({ model: pixelTokenizer(), data: `folder:${folder}`, size: 16, split: 'all', limit: 0, rfid: false });
  assert.deepEqual([none.images, none.used, none.utilization, none.perplexity, none.psnr, none.l1], [0, 0, 0, 0, null, null]);
});

test('evaluateTokenizer: class accuracy of originals and reconstructions, by class name; null when the classes differ', async () => {
  const lossless = await evaluateTokenizer({
    model: pixelTokenizer(),
    data: `folder:${folder}`,
    size: 16,
    split: 'all',
    classifier: rampClassifier(['left', 'right']),
  });
  assert.deepEqual(lossless.classAccuracy, { originals: 1, reconstructions: 1 });
  // A tokenizer that decodes every image mirrored: each reconstruction is the other class. The
  // classifier lists its classes in the other order: they are matched by name, not position.
  const base = pixelTokenizer();
  const mirror = { ...base, decodeLevels: (l: readonly Tensor[]) => T.tidy(() => base.decodeLevels(l).flip([3])) } as Tokenizer;
  const r = await evaluateTokenizer({
    model: mirror,
    data: `folder:${folder}`,
    size: 16,
    split: 'all',
    batchSize: 3,
    classifier: rampClassifier(['right', 'left']),
  });
  assert.deepEqual(r.classAccuracy, { originals: 1, reconstructions: 0 });
  const other = await evaluateTokenizer({ model: base, data: `folder:${folder}`, size: 16, split: 'all', classifier: rampClassifier(['up', 'down']) });
  assert.equal(other.classAccuracy, null);
  const without = await evaluateTokenizer({ model: base, data: `folder:${folder}`, size: 16, split: 'all', rfid: false });
  assert.equal(without.classAccuracy, null);
});

test('evaluatePrior: samples drawn from the data itself score FID 0, precision/recall 1 and class accuracy 1', async () => {
  const { pm, calls } = rampPrior();
  const progress: EvalProgress[] = [];
  const r = await evaluatePrior({
    model: pm,
    classifier: rampClassifier(['left', 'right']),
    n: 16,
    split: 'all',
    batchSize: 6,
    seed: 5,
    sampling: { temperature: 0.5 },
    onProgress: (p) => progress.push(p),
  });
  assert.deepEqual(r.names, { fid: 'FID-ramps', kid: 'KID-ramps', is: 'IS-ramps' });
  assert.equal(r.reference.images, 16);
  assert.equal(r.images, 16);
  assert.ok(Math.abs(r.fid!) < 1e-6, `FID ${r.fid}`);
  assert.equal(r.precision, 1);
  assert.equal(r.recall, 1);
  assert.equal(r.classAccuracy, 1);
  assert.equal(r.classifier?.classesMatch, true);
  // The sampler got the caller's settings, one generator, and image i asked for class i mod 2.
  assert.deepEqual(
    calls.map((c) => c.batch),
    [6, 6, 4],
  );
  assert.deepEqual(
    calls.flatMap((c) => c.classes),
    Array.from({ length: 16 }, (_, i) => i % 2),
  );
  assert.ok(calls.every((c) => c.temperature === 0.5 && c.generator === calls[0]!.generator));
  assert.equal(r.sampling.temperature, 0.5);
  assert.equal(r.sampling.seed, 5);
  assert.deepEqual(
    progress.filter((p) => p.stage === 'reference').map((p) => p.done),
    [6, 12, 16],
  );
  assert.deepEqual(
    progress.filter((p) => p.stage === 'samples').map((p) => p.done),
    [6, 12, 16],
  );
});

test('spreadClasses: every prefix holds each class within one image of its share; equal weights give i mod C', () => {
  assert.deepEqual(spreadClasses([1, 1, 1], 7), [0, 1, 2, 0, 1, 2, 0]);
  assert.deepEqual(spreadClasses([0, 2], 3), [1, 1, 1]);
  const w = [309, 38, 31, 12, 0, 3];
  const total = w.reduce((a, b) => a + b, 0);
  const seq = spreadClasses(w, 500);
  const counts = w.map(() => 0);
  seq.forEach((c, i) => {
    counts[c]!++;
    for (let k = 0; k < w.length; k++) assert.ok(Math.abs(counts[k]! - ((i + 1) * w[k]!) / total) < 1, `prefix ${i + 1}, class ${k}: ${counts[k]}`);
  });
  assert.equal(counts[4], 0);
  assert.throws(() => spreadClasses([0, 0], 4), /positive sum/);
  assert.throws(() => spreadClasses([1, -1], 4), /≥ 0/);
});

test("evaluatePrior: classes in proportion to the reference labels by default, or uniform; per-class rows; the data's own accuracy", async () => {
  // A reference of 6 'left' and 2 'right' ramps.
  const skewed = join(tmp, 'skewed');
  for (const [cls, n] of [
    ['left', 6],
    ['right', 2],
  ] as const) {
    mkdirSync(join(skewed, cls), { recursive: true });
    for (let k = 0; k < n; k++) copyFileSync(join(folder, cls, `${k}.png`), join(skewed, cls, `${k}.png`));
  }
  const run = async (classes?: 'reference' | 'uniform') => {
    const { pm, calls } = rampPrior();
    const r = await evaluatePrior({
      model: pm,
      data: `folder:${skewed}`,
      classifier: rampClassifier(['left', 'right']),
      n: 8,
      split: 'all',
      batchSize: 4,
      classes,
    });
    return { r, asked: calls.flatMap((c) => c.classes) };
  };
  const { r, asked } = await run();
  assert.equal(r.sampling.classes, 'reference');
  assert.deepEqual(asked, [0, 0, 1, 0, 0, 0, 1, 0]);
  assert.deepEqual(r.perClass, [
    { name: 'left', images: 6, accuracy: 1 },
    { name: 'right', images: 2, accuracy: 1 },
  ]);
  assert.equal(r.reference.classAccuracy, 1);
  const uniform = await run('uniform');
  assert.equal(uniform.r.sampling.classes, 'uniform');
  assert.deepEqual(uniform.asked, [0, 1, 0, 1, 0, 1, 0, 1]);
  assert.deepEqual(
    uniform.r.perClass!.map((c) => c.images),
    [4, 4],
  );
  // Equal shares against a 3:1 reference put the samples further from it.
  assert.ok(uniform.r.fid! > r.fid!, `FID uniform ${uniform.r.fid} vs reference ${r.fid}`);
  // A reference without the model's class names: uniform, with a note.
  const notes: string[] = [];
  const renamed = { ...rampPrior().pm, classNames: ['up', 'down'] } as unknown as PriorModel;
  const other = await evaluatePrior({
    model: renamed,
    data: `folder:${skewed}`,
    classifier: rampClassifier(['left', 'right']),
    n: 4,
    split: 'all',
    onNote: (m) => notes.push(m),
  });
  assert.equal(other.sampling.classes, 'uniform');
  assert.match(notes.join('\n'), /samples spread evenly over the model's classes/);
  await assert.rejects(
    evaluatePrior({ model: rampPrior().pm, n: 4, split: 'all', classes: 'balanced' as 'uniform' }),
    /classes must be reference or uniform, got 'balanced'/,
  );
});

test('evaluatePrior --baseline: training images of the requested classes through the tokenizer, against the same reference', async () => {
  const ds = await loadDataset(`folder:${folder}`, { size: 16, resize: 16, channels: 1 });
  const { train, val } = ds.split({ valCount: 4 });
  const labels = train.labels();
  // Each class's training images evenly, one per request; more requests than images repeat them.
  const order = baselineOrder(train, ['left', 'right'], [0, 1, 0, 1, 0, 1]);
  assert.deepEqual(
    order.map((i) => labels[i]),
    [0, 1, 0, 1, 0, 1].map((c) => ds.classNames.indexOf(['left', 'right'][c]!)),
  );
  assert.equal(new Set(order).size, 6);
  const lefts = baselineOrder(train, ['left', 'right'], new Array(2 * 12).fill(0));
  assert.equal(new Set(lefts).size, [...labels].filter((l) => l === ds.classNames.indexOf('left')).length);
  assert.deepEqual(baselineOrder(train, ['left', 'right'], [null, null]), [0, Math.floor(train.size / 2)]);
  assert.throws(() => baselineOrder(train, ['up', 'down'], [0]), /labelled with the model's classes; the dataset's are left, right/);

  const r = await evaluatePrior({ model: rampPrior().pm, classifier: rampClassifier(['left', 'right']), n: 6, valCount: 4, batchSize: 4, baseline: true });
  assert.equal(r.reference.images, val.size);
  assert.equal(r.baseline!.images, 6);
  assert.equal(r.baseline!.classAccuracy, 1);
  assert.deepEqual(r.baseline!.perClass, [1, 1]);
  assert.ok(Number.isFinite(r.baseline!.fid) && r.baseline!.fid! > 0, `baseline FID ${r.baseline!.fid}`);
  assert.ok(r.baseline!.precision! >= 0 && r.baseline!.recall! <= 1);
  // Per class: a tokenizer that mirrors every 'left' ramp into a 'right' one fails the class 'left' only.
  const lossy = rampPrior().pm;
  (lossy as unknown as { decode: (s: Tensor) => Tensor }).decode = (seq) =>
    T.tidy(() => {
      const leftBrighter = seq
        .narrow(3, 0, 8)
        .mean([1, 2, 3])
        .gt(seq.narrow(3, 8, 8).mean([1, 2, 3]))
        .view([-1, 1, 1, 1]);
      return T.where(leftBrighter, seq.flip([3]), seq);
    });
  const l = await evaluatePrior({ model: lossy, classifier: rampClassifier(['left', 'right']), n: 6, valCount: 4, batchSize: 4, baseline: true });
  assert.deepEqual(l.baseline!.perClass, [0, 1]);
  assert.equal(l.baseline!.classAccuracy, 0.5);
  assert.deepEqual(
    l.perClass!.map((c) => c.accuracy),
    [1, 1],
    'the samples do not go through the tokenizer',
  );
  const none = await evaluatePrior({ model: rampPrior().pm, classifier: rampClassifier(['left', 'right']), n: 6, valCount: 4 });
  assert.equal(none.baseline, null);
  await assert.rejects(
    evaluatePrior({ model: rampPrior().pm, classifier: rampClassifier(['left', 'right']), n: 6, split: 'all', baseline: true }),
    /the baseline is training images, so it needs the 'val' reference split, not 'all'/,
  );
});

test('evaluatePrior: class accuracy counts wrong samples; rejection keeps the right ones; classes map by name', async () => {
  // Every 4th sample is of the other class (all of them asked for 'right'): 6 of 8 right at rate 1.
  const r = await evaluatePrior({
    model: rampPrior(4).pm,
    classifier: rampClassifier(['left', 'right']),
    n: 8,
    split: 'all',
    batchSize: 8,
    acceptance: [1, 0.5],
  });
  assert.equal(r.classAccuracy, 0.75);
  assert.deepEqual(
    r.acceptance!.map((a) => [a.acceptance, a.candidates, a.images, a.classAccuracy]),
    [
      [1, 8, 8, 0.75],
      [0.5, 16, 8, 1],
    ],
  );
  assert.ok(r.acceptance![1]!.meanScore! > r.acceptance![0]!.meanScore!);
  // A classifier listing the same classes in the other order is mapped by name: same accuracy.
  const swapped = await evaluatePrior({ model: rampPrior(4).pm, classifier: rampClassifier(['right', 'left']), n: 8, split: 'all', batchSize: 8 });
  assert.equal(swapped.classAccuracy, 0.75);
  assert.deepEqual(mapClasses(['left', 'right'], ['Right', 'LEFT']), [1, 0]);
  assert.equal(mapClasses(['left', 'right'], ['cat', 'dog']), undefined);
  // A folder dataset needs a classifier or Inception weights.
  await assert.rejects(evaluatePrior({ model: rampPrior().pm, n: 8, split: 'all' }), /no feature network for folder:.*ramps: give a classifier/);
});
