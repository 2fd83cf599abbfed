// `tessera eval fid DIR_A DIR_B` end to end through the built executable: with a (randomly
// initialised) Tessera classifier and with FID Inception weights from a user file, on tiny folders
// of PNGs written here; corrupt images are skipped and counted; bad input gives one line.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { Classifier, defaultClassifierConfig, saveClassifier } from '../src/metrics/classifier.js';
import { FidInceptionV3 } from '../src/metrics/inception.js';
import { cliSandbox, assertCliError } from './helpers.js';

const { tessera, p } = cliSandbox('eval-fid', { threads: 2 });
const assertError = assertCliError;

/** n 16×16 RGB PNGs: smooth random blobs; `noise` adds per-pixel noise (a different distribution). */
async function writeFolder(dir: string, n: number, seed: number, noise = 0): Promise<void> {
  mkdirSync(dir, { recursive: true });
  T.manualSeed(seed);
  for (let i = 0; i < n; i++) {
    const img = T.tidy(() => {
      let x = T.interpolate(T.rand([1, 3, 4, 4]), { size: [16, 16], mode: 'bilinear' });
      if (noise) x = x.add(T.randn([1, 3, 16, 16]).mul(noise));
      return x.clamp(0, 1).mul(255).round().to('uint8').permute([0, 2, 3, 1]).contiguous().data() as Uint8Array;
    });
    await sharp(Buffer.from(img), { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(join(dir, `img${String(i).padStart(3, '0')}.png`));
  }
}

const classifierFile = p('classifier.safetensors');

// Built before the tests (not in a test of its own) so any one of them runs alone with --test-name-pattern.
before(async () => {
  await writeFolder(p('a'), 16, 1);
  await writeFolder(p('same'), 16, 1); // the same pixels as a
  await writeFolder(p('b'), 14, 2, 0.25);
  writeFileSync(p('b', 'broken.png'), 'this is not a png');
  await writeFolder(p('ia'), 3, 3); // Inception runs at 299 px: keep its folders tiny
  await writeFolder(p('ib'), 2, 4, 0.25);
  T.manualSeed(0);
  const clf = new Classifier(defaultClassifierConfig({ dataset: 'folder:/data/shapes', inChannels: 3, size: 16, classNames: ['x', 'y', 'z'], featureDim: 32 }));
  saveClassifier(classifierFile, clf);
  clf.dispose();
});

test('with --classifier: named metrics, FID 0 and precision/recall 1 for identical folders', () => {
  const r = tessera('eval', 'fid', p('a'), p('same'), '--classifier', classifierFile, '--json');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const j = JSON.parse(r.out);
  assert.deepEqual(j.names, { fid: 'FID-tessera-shapes', kid: 'KID-tessera-shapes', is: 'IS-tessera-shapes' });
  assert.equal(j.size, 16);
  assert.equal(j.a.images, 16);
  assert.equal(j.b.images, 16);
  assert.ok(Math.abs(j.fid) < 1e-6, `FID ${j.fid}`);
  // The unbiased MMD² of a set against itself is ≤ 0 (−2(D − S/m)/(m(m−1)) with S ≤ mD).
  assert.ok(j.kid.mean <= 1e-12 && j.kid.std < 1e-12 && j.kid.subsetSize === 16, JSON.stringify(j.kid));
  assert.equal(j.precision, 1);
  assert.equal(j.recall, 1);
  assert.ok(Math.abs(j.isA.mean - j.isB.mean) < 1e-9);
});

test('with --classifier: a different folder scores worse; the corrupt image is skipped and counted in one warning', () => {
  const r = tessera('eval', 'fid', p('a'), p('b'), '--classifier', classifierFile, '--json', '--batch-size', '5');
  assert.equal(r.code, 0, r.err);
  const warnings = r.err.trimEnd().split('\n');
  assert.equal(warnings.length, 1, r.err);
  assert.match(warnings[0]!, /^warning: folder:.*: skipped 1 unreadable file \(first: broken\.png/);
  const j = JSON.parse(r.out);
  assert.deepEqual([j.b.images, j.b.skipped, j.a.skipped], [14, 1, 0]);
  assert.ok(j.fid > 1e-3, `FID ${j.fid}`);
  assert.ok(j.kid.mean > 0 && j.kid.subsetSize === 14);
  assert.ok(j.precision >= 0 && j.precision <= 1 && j.recall >= 0 && j.recall <= 1);
  // Text output names the metric after the classifier.
  const t = tessera('eval', 'fid', p('a'), p('b'), '--classifier', classifierFile);
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /FID-tessera-shapes\s+\d+\.\d{3}/);
  assert.match(t.out, /14 images \(1 unreadable skipped\)/);
  assert.doesNotMatch(t.out, /^FID\s/m);
});

test('bad input: one line each', () => {
  assertError(tessera('eval', 'fid', p('a'), p('b')), 2, /--inception FILE .*pt_inception-2015-12-05-6726825d\.pth.* or --classifier FILE/);
  assertError(tessera('eval', 'fid', p('a'), p('nope'), '--classifier', classifierFile), 2, /DIR_B not found: .*nope/);
  assertError(tessera('eval', 'fid', p('a'), p('b'), '--classifier', classifierFile, '--inception', 'x.pth'), 2, /either --inception or --classifier/);
  assertError(
    tessera('eval', 'fid', p('a'), p('b'), '--inception', p('missing.pth')),
    1,
    /FID Inception weights not found at .*missing\.pth: download pt_inception-2015-12-05-6726825d\.pth .*cannot download/,
  );
  assertError(tessera('eval', 'fid', p('a'), p('b'), '--classifier', p('missing.safetensors')), 1, /classifier file not found/);
});

test('with --inception: weights from a user file give the standard metric names', () => {
  // Random weights (BatchNorm at identity): this checks the plumbing, not the values (test/inception.test.ts does).
  const file = p('inception.safetensors');
  T.tidy(() => {
    T.manualSeed(0);
    const net = new FidInceptionV3();
    io.saveSafetensors(file, net.stateDict());
    net.dispose();
  });
  const r = tessera('eval', 'fid', p('ia'), p('ib'), '--inception', file, '--json', '--batch-size', '3', '--k', '1');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(j.names, { fid: 'FID', kid: 'KID', is: 'IS' });
  assert.equal(j.featureNetwork.kind, 'inception');
  assert.equal(j.size, 16, 'default size: the first image of DIR_A');
  assert.deepEqual([j.a.images, j.b.images], [3, 2]);
  assert.ok(Number.isFinite(j.fid) && j.fid > 0, `FID ${j.fid}`);
  assert.ok(j.precision !== null && j.k === 1 && j.kid.subsetSize === 2);
  assert.ok(j.isA.mean >= 1 && j.isA.splits === 1); // 3 images: one split (never fewer than 50 per split, at least one);
});
