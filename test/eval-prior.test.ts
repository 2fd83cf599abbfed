// `tessera eval prior` end to end through the built executable, on a tiny prior model (a small vqvae
// tokenizer and MaskGIT, randomly initialised) and a tiny classifier made here, against a folder
// dataset of two classes written here: the JSON fields, rejection sampling (rate 1 is the plain
// evaluation; lower rates never lower class accuracy or the mean score), one-line errors. Also the
// rejection-sampling functions on hand-made probabilities, and rFID in `tessera eval tokenizer`.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { PriorModel, writeSamplingDefaults, type PriorModelConfig } from '../src/priors/index.js';
import { Adam } from '../src/optim/index.js';
import { saveTokenizer } from '../src/tokenizers/index.js';
import { Classifier, defaultClassifierConfig, saveClassifier } from '../src/metrics/classifier.js';
import { rejectionSample, rejectionScores } from '../src/metrics/rejection.js';
import { shippedClassifier, packageRoot } from '../src/metrics/shipped.js';
import { cliSandbox, assertCliError } from './helpers.js';

const { tessera, p } = cliSandbox('eval-prior');
const assertError = assertCliError;

// ------------------------------------------------------------------ the rejection functions
test('rejectionSample keeps the best share, per group in proportion, ties to the earlier candidate', () => {
  const scores = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3];
  assert.deepEqual(rejectionSample(scores, 1), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(rejectionSample(scores, 0.5), [0, 2, 4]);
  assert.deepEqual(rejectionSample(scores, 1 / 3), [0, 2]);
  // Grouped (alternating requested classes): the global top three are all group 0; per group, group 0
  // keeps two (1.5 rounded by largest remainder, tie to the smaller group) and group 1 its best, 0.3.
  const groups = [0, 1, 0, 1, 0, 1];
  assert.deepEqual(rejectionSample(scores, 0.5, { groups }), [0, 2, 5]);
  assert.deepEqual(rejectionSample(scores, 2 / 3, { groups }), [0, 2, 3, 5]);
  // An explicit keep count; ties keep the earlier candidate.
  assert.deepEqual(rejectionSample([0.5, 0.5, 0.5, 0.5], 0.5, { keep: 2 }), [0, 1]);
  assert.deepEqual(rejectionSample([0.1, 0.4, 0.4, 0.9], 0.25, { keep: 3 }), [1, 2, 3]);
  assert.throws(() => rejectionSample(scores, 0), /acceptance rate must be in \(0, 1\]/);
  assert.throws(() => rejectionSample(scores, 1.5), /acceptance rate must be in \(0, 1\]/);
  assert.throws(() => rejectionSample(scores, 0.5, { groups: [0, 1] }), /2 groups for 6 scores/);
  assert.throws(() => rejectionSample([0.1, NaN], 0.5), /score 1 is NaN/);
});

test('rejectionScores: the probability of the requested class, or the confidence for null', () => {
  const probs = T.tensor([0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.25, 0.5, 0.25], { shape: [3, 3] });
  const s = rejectionScores(probs, [1, 2, null]);
  assert.equal(s.length, 3);
  assert.ok(Math.abs(s[0]! - 0.2) < 1e-7 && Math.abs(s[1]! - 0.6) < 1e-7 && Math.abs(s[2]! - 0.5) < 1e-7, String(s));
  assert.deepEqual(
    rejectionScores(probs).map((v) => Math.round(v * 100)),
    [70, 60, 50],
  );
  assert.throws(() => rejectionScores(probs, [0, 3, 1]), /class 3 of sample 1 is out of range \[0, 3\)/);
});

test('the shipped classifiers are found from the package root, not the working directory', () => {
  const m = shippedClassifier('mnist');
  assert.equal(m?.path, join(packageRoot(), 'models', 'mnist-classifier.safetensors'));
  assert.equal(shippedClassifier('emoji:google,apple')?.path, join(packageRoot(), 'models', 'emoji-classifier.safetensors'));
  assert.equal(shippedClassifier('folder:/data/pets'), undefined);
});

// ------------------------------------------------------------------ the command
const folder = p('shapes');
const modelFile = p('prior.safetensors');
const recommendedFile = p('prior-recommended.safetensors'); // the same model with recommended sampling settings
const tokenizerFile = p('tokenizer.safetensors');
const clfFile = p('classifier.safetensors');
const otherClfFile = p('other-classifier.safetensors');

/** n grey 16×16 images in [-1, 1]: a horizontal ramp rising to the left (sign +1) or right (−1), plus noise. */
function ramps(signs: Tensor): Tensor {
  return T.tidy(() => {
    const n = signs.size(0);
    const ramp = T.linspace(0.6, -0.6, 16).view([1, 1, 1, 16]);
    return ramp
      .mul(signs.view([n, 1, 1, 1]))
      .add(T.randn([n, 1, 16, 16]).mul(0.3))
      .clamp(-1, 1);
  });
}

/** 16×16 images of two classes: 'left' (brighter on the left) and 'right'. */
async function writeFolder(): Promise<void> {
  T.manualSeed(3);
  for (const [cls, sign] of [
    ['left', 1],
    ['right', -1],
  ] as const) {
    mkdirSync(join(folder, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const px = T.tidy(
        () =>
          ramps(T.full([1], sign))
            .add(1)
            .mul(127.5)
            .round()
            .to('uint8')
            .contiguous()
            .data() as Uint8Array,
      );
      await sharp(Buffer.from(px), { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toFile(join(folder, cls, `${i}.png`));
    }
  }
}

// Built before the tests (not in a test of its own) so any one of them runs alone with --test-name-pattern.
before(async () => {
  await writeFolder();
  T.manualSeed(0);
  const config: PriorModelConfig = {
    arch: 'maskgit',
    prior: { dim: 32, depth: 1, heads: 4, codebookSize: 16, grid: [4, 4], tokensPerPosition: 1, numClasses: 2, classDropout: 0.1 },
    tokenizer: {
      kind: 'vqvae',
      config: { ch: 16, numDownsamples: 2, numResBlocks: 1, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } },
    },
    imageSize: [16, 16],
    classNames: ['left', 'right'],
    data: `folder:${folder}`,
  };
  const pm = PriorModel.create(config);
  // A random tokenizer decodes every token grid to nearly the same image; a spread-out codebook and a
  // louder output layer make the samples differ (in brightness and left–right balance).
  T.noGrad(() => {
    const sd = pm.tokenizer.stateDict({ keepVars: true });
    const codebook = sd['quantize.embedding.weight']!;
    codebook.copy_(T.randn(codebook.shape).mul(3));
    sd['decoder.up.1.weight']!.mul_(20);
    sd['decoder.up.1.bias']!.zero_();
  });
  pm.save(modelFile);
  copyFileSync(modelFile, recommendedFile);
  writeSamplingDefaults(recommendedFile, { steps: 3, temperature: 0.7 });
  saveTokenizer(tokenizerFile, pm.tokenizer);
  pm.dispose();
  // A classifier that tells left from right: a few steps on fresh ramps (so class accuracy and the
  // rejection scores vary from sample to sample).
  const clf = new Classifier(
    defaultClassifierConfig({ dataset: `folder:${folder}`, inChannels: 1, size: 16, classNames: ['left', 'right'], width: 8, featureDim: 16 }),
  );
  const opt = new Adam(clf.parameters(), { lr: 1e-2 });
  const labels = T.tensor([0, 1, 0, 1, 0, 1, 0, 1], { dtype: 'int64' });
  const signs = T.tensor([1, -1, 1, -1, 1, -1, 1, -1]);
  for (let i = 0; i < 40; i++) {
    T.tidy(() => {
      opt.zeroGrad();
      const l = T.crossEntropy(clf.forward(ramps(signs)), labels);
      l.backward();
      opt.step();
    });
  }
  clf.eval();
  const acc = T.tidy(() =>
    T.noGrad(() =>
      clf
        .forward(ramps(T.tensor([1, -1, 1, -1, 1, -1, 1, -1, 1, -1])))
        .argmax(1)
        .eq(T.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], { dtype: 'int64' }))
        .to('float32')
        .mean()
        .item(),
    ),
  );
  assert.ok(acc >= 0.9, `the test classifier tells left from right (${acc})`);
  saveClassifier(clfFile, clf);
  clf.dispose();
  const other = new Classifier(
    defaultClassifierConfig({ dataset: 'folder:/x/other', inChannels: 1, size: 16, classNames: ['cat', 'dog'], width: 8, featureDim: 16 }),
  );
  saveClassifier(otherClfFile, other);
  other.dispose();
});

const COMMON = ['--n', '8', '--val-count', '6', '--batch-size', '4', '--steps', '2', '--seed', '1', '--json'];
let plainRun: Record<string, any> | undefined;
/** The plain evaluation's JSON (run once, by whichever test needs it first). */
function plain(): Record<string, any> {
  if (!plainRun) {
    const r = tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    plainRun = JSON.parse(r.out) as Record<string, any>;
  }
  return plainRun;
}

test('eval prior --json: named metrics over N samples against the validation split', () => {
  const j = plain();
  assert.deepEqual(j.names, { fid: 'FID-tessera-shapes', kid: 'KID-tessera-shapes', is: 'IS-tessera-shapes' });
  assert.equal(j.arch, 'maskgit');
  assert.equal(j.classes, 2);
  assert.deepEqual(j.featureNetwork, { kind: 'classifier', file: clfFile, name: 'tessera-shapes' });
  assert.equal(j.classifier.classesMatch, true);
  assert.equal(j.classifier.default, false);
  assert.deepEqual(
    { ...j.reference, is: undefined, classAccuracy: undefined },
    { data: `folder:${folder}`, split: 'val', valCount: 6, size: 16, images: 6, skipped: 0, is: undefined, classAccuracy: undefined },
  );
  // The classifier's accuracy on the 6 reference images, and the samples spread in their class proportions.
  assert.ok(Number.isInteger(j.reference.classAccuracy * 6) && j.reference.classAccuracy >= 0.5, `reference accuracy ${j.reference.classAccuracy}`);
  assert.equal(j.sampling.classes, 'reference');
  assert.deepEqual(
    j.perClass.map((c: Record<string, any>) => c.name),
    ['left', 'right'],
  );
  assert.equal(j.perClass[0].images + j.perClass[1].images, 8);
  const hits = j.perClass.reduce((s: number, c: Record<string, any>) => s + (c.images ? c.accuracy * c.images : 0), 0);
  assert.ok(Math.abs(hits / 8 - j.classAccuracy) < 1e-9, `per-class hits ${hits} vs accuracy ${j.classAccuracy}`);
  assert.equal(j.images, 8);
  assert.equal(j.sampling.n, 8);
  assert.equal(j.sampling.candidates, 8);
  assert.equal(j.sampling.steps, 2);
  assert.ok(j.sampling.secondsPerImage > 0);
  assert.ok(Number.isFinite(j.fid) && j.fid >= 0, `fid ${j.fid}`);
  assert.ok(Number.isFinite(j.kid.mean) && j.kid.subsetSize === 6);
  assert.ok(j.precision >= 0 && j.precision <= 1 && j.recall >= 0 && j.recall <= 1);
  assert.equal(j.is.splits, 1); // at least 50 images per split
  assert.ok(j.is.mean > 1 && j.is.mean <= 2 + 1e-9, `IS of 2 classes is in (1, 2], got ${j.is.mean}`);
  assert.ok(j.classAccuracy >= 0 && j.classAccuracy <= 1 && Number.isInteger(j.classAccuracy * 8));
  assert.equal(j.acceptance, null);
  // The same seed gives the same figures; another seed other samples.
  const again = JSON.parse(tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON).out);
  assert.equal(again.fid, j.fid);
  const other = JSON.parse(tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON, '--seed', '2').out);
  assert.notEqual(other.fid, j.fid);
});

test('eval prior --accept: rate 1 is the plain evaluation; lower rates keep N of N / rate and never lose accuracy', () => {
  const r = tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON, '--accept', '1,0.5,0.25');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.sampling.candidates, 32);
  const rows = j.acceptance as Record<string, any>[];
  assert.deepEqual(
    rows.map((x) => [x.acceptance, x.candidates, x.images]),
    [
      [1, 8, 8],
      [0.5, 16, 8],
      [0.25, 32, 8],
    ],
  );
  // Rate 1 and the top-level figures are exactly the plain run's.
  for (const k of ['fid', 'kid', 'precision', 'recall', 'is', 'classAccuracy']) {
    assert.deepEqual(rows[0]![k], plain()[k], k);
    assert.deepEqual(j[k], plain()[k], k);
  }
  for (const row of rows.slice(1)) {
    assert.ok(row.classAccuracy >= rows[0]!.classAccuracy, `accuracy ${row.classAccuracy} at ${row.acceptance} < ${rows[0]!.classAccuracy} at 1`);
    assert.ok(row.meanScore >= rows[0]!.meanScore - 1e-12, `mean score ${row.meanScore} at ${row.acceptance}`);
    assert.ok(Number.isFinite(row.fid));
  }
  assert.ok(rows[2]!.meanScore >= rows[1]!.meanScore - 1e-12);
  // With this model, classifier and seed, keeping the best quarter helps strictly (50% → 100%).
  assert.ok(rows[2]!.classAccuracy > rows[0]!.classAccuracy, `accuracy ${rows[2]!.classAccuracy} at 0.25 vs ${rows[0]!.classAccuracy} at 1`);
  // Without rate 1 in the list the plain figures are still the first N samples'.
  const half = JSON.parse(tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON, '--accept', '0.5').out);
  assert.equal(half.fid, plain().fid);
  assert.deepEqual(half.acceptance[0], rows[1]);
});

test("eval prior samples with the model file's recommended settings for every flag not given", () => {
  const args = ['eval', 'prior', '--classifier', clfFile, '--n', '8', '--val-count', '6', '--batch-size', '4', '--seed', '1', '--json'];
  const rec = tessera(...args, '--model', recommendedFile);
  assert.equal(rec.code, 0, rec.err);
  const j = JSON.parse(rec.out);
  assert.deepEqual([j.sampling.steps, j.sampling.temperature, j.sampling.fromModel], [3, 0.7, ['steps', 'temperature']]);
  // The same images as the plain model with those settings given as flags.
  const explicit = JSON.parse(tessera(...args, '--model', modelFile, '--steps', '3', '--temperature', '0.7').out);
  assert.deepEqual(explicit.sampling.fromModel, []);
  assert.equal(j.fid, explicit.fid);
  assert.deepEqual(j.kid, explicit.kid);
  // A flag wins over the recommended setting.
  const flag = JSON.parse(tessera(...args, '--model', recommendedFile, '--steps', '2').out);
  assert.deepEqual([flag.sampling.steps, flag.sampling.temperature, flag.sampling.fromModel], [2, 0.7, ['temperature']]);
  assert.notEqual(flag.fid, j.fid);
});

test('eval prior: human-readable output names the split and prints the rejection table', () => {
  const r = tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON.filter((a) => a !== '--json'), '--accept', '1,0.5');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^reference +folder:.*shapes at 16×16: val split, 6 images \(--val-count 6/m);
  assert.match(r.out, /^FID-tessera-shapes +[\d.]+$/m);
  assert.match(r.out, /^class accuracy +[\d.]+%/m);
  assert.match(r.out, /^samples +8 \(seed 1\); sampling [\d.]+ ms per image/m);
  assert.match(r.out, /^ +acceptance +candidates +FID-tessera-shapes/m);
  assert.match(r.out, /^ +0\.5 +16 +[\d.]+/m);
  // --baseline: its own section, and each class's baseline accuracy beside the samples'.
  const b = tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, ...COMMON.filter((a) => a !== '--json'), '--baseline');
  assert.equal(b.code, 0, b.err);
  assert.match(b.out, /^per class +\S.* [\d.]+% of \d+ \(baseline [\d.]+%\), .* [\d.]+% of \d+ \(baseline [\d.]+%\)$/m);
  assert.match(b.out, /^baseline: 8 training images of the same classes through the tokenizer/m);
});

test('eval prior: a classifier for other classes gives no class accuracy, with a note', () => {
  const r = tessera('eval', 'prior', '--model', modelFile, '--classifier', otherClfFile, ...COMMON, '--baseline');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^note: no class accuracy: the classifier's classes \(cat, dog/);
  const j = JSON.parse(r.out);
  assert.equal(j.classAccuracy, null);
  assert.equal(j.baseline.classAccuracy, null, 'nor for the baseline');
  assert.equal(j.baseline.perClass, null);
  assert.equal(j.classifier.classesMatch, false);
  assert.equal(j.names.fid, 'FID-tessera-other');
});

test('eval prior: bad input gives one line', () => {
  assertError(tessera('eval', 'prior', '--model', p('nope.safetensors')), 1, /error: model file not found: .*nope\.safetensors/);
  assertError(
    tessera('eval', 'prior', '--model', modelFile, '--classifier', p('nope-clf.safetensors')),
    1,
    /classifier file not found: .*nope-clf\.safetensors/,
  );
  assertError(tessera('eval', 'prior', '--model', modelFile, '--classifier', clfFile, '--accept', '1,0'), 2, /--accept takes acceptance rates in \(0, 1\]/);
  assertError(
    tessera('eval', 'prior', '--model', modelFile),
    2,
    /no feature network for folder:.*shapes: give a classifier \(from `tessera train classifier --data folder:/,
  );
  assertError(
    tessera('eval', 'prior', '--model', modelFile, '--inception', p('pt_inception.pth')),
    1,
    /FID Inception weights not found at .*pt_inception\.pth/,
  );
  assertError(tessera('eval', 'prior', '--model', tokenizerFile, '--classifier', clfFile), 1, /not a prior/);
});

// ------------------------------------------------------------------ rFID in eval tokenizer
test('eval tokenizer --json reports rFID with a classifier; a folder without one skips it with a note', () => {
  const args = ['eval', 'tokenizer', '--model', tokenizerFile, '--data', `folder:${folder}`, '--size', '16', '--val-count', '6', '--json'];
  const r = tessera(...args, '--classifier', clfFile);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.split, 'val');
  assert.equal(j.images, 6);
  assert.equal(j.rfidName, 'rFID-tessera-shapes');
  assert.equal(j.rfidFeatures, clfFile);
  assert.ok(Number.isFinite(j.rfid) && j.rfid > 0, `rFID ${j.rfid}`); // an untrained tokenizer does not reconstruct
  for (const k of ['psnr', 'ssim', 'l1']) assert.equal(typeof j[k], 'number', k);
  const skip = tessera(...args);
  assert.equal(skip.code, 0, skip.err);
  assert.match(skip.err, /^note: rFID skipped: no feature network for folder:.*shapes; give a classifier/);
  assert.equal(skip.err.trimEnd().split('\n').length, 1);
  const js = JSON.parse(skip.out);
  assert.equal(js.rfid, null);
  assert.equal(js.psnr, j.psnr);
  const text = tessera(...args.filter((a) => a !== '--json'), '--classifier', clfFile);
  assert.match(text.out, /^rFID-tessera-shapes +[\d.]+ \(reconstructions vs the originals of this split/m);
});
