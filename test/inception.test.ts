// pytorch-fid's FID InceptionV3 against the PyTorch reference in tools/fixtures/metrics_dist.py.
// The full weights (~95 MB) are not committed: the test draws the same random tensors the fixture
// generator drew (same seed, same libtorch generator, sorted key order, same scale rules), writes
// them to a temporary .safetensors and loads that through loadFidInception, the user-file path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { FidInceptionV3, loadFidInception, readInceptionWeights, InceptionWeightsError, FID_WEIGHTS_FILE } from '../src/metrics/inception.js';
import { fidName, collectFeatures } from '../src/metrics/features.js';
import { RunningGaussian } from '../src/metrics/distribution.js';
import { assertClose, fixturePath } from './helpers.js';

const SEED = 1234; // tools/fixtures/metrics_dist.py
const dir = mkdtempSync(join(tmpdir(), 'tessera-inception-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture generator's init_weights: randn in sorted key order with per-kind scales. */
function randomWeights(): Record<string, T.Tensor> {
  const net = new FidInceptionV3();
  const shapes = Object.entries(net.stateDict()).map(([k, t]) => [k, t.shape] as const);
  net.dispose();
  T.manualSeed(SEED);
  const out: Record<string, T.Tensor> = {};
  for (const [k, shape] of [...shapes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (k.endsWith('num_batches_tracked')) continue;
    let t: T.Tensor;
    if (k.endsWith('conv.weight')) t = T.randn(shape).mul(Math.sqrt(2.0 / shape.slice(1).reduce((a, b) => a * b, 1)));
    else if (k.endsWith('bn.weight')) t = T.randn(shape).mul(0.1).add(1.0);
    else if (k.endsWith('bn.running_var')) t = T.randn(shape).mul(0.2).exp();
    else if (k === 'fc.weight') t = T.randn(shape).mul(Math.sqrt(1.0 / 2048));
    else t = T.randn(shape).mul(0.1);
    out[k] = t;
  }
  return out;
}

const weights = randomWeights();
const weightsFile = join(dir, 'fid-inception.safetensors');
io.saveSafetensors(weightsFile, weights);

test('the architecture has the FID weight file layout: 472 tensors, 23.9M values, pytorch-fid key names', () => {
  assert.equal(Object.keys(weights).length, 472);
  assert.equal(
    Object.values(weights).reduce((s, t) => s + t.numel, 0),
    23_885_392,
  );
  for (const k of [
    'Conv2d_1a_3x3.conv.weight',
    'Conv2d_1a_3x3.bn.running_var',
    'Mixed_5b.branch5x5_2.conv.weight',
    'Mixed_6e.branch7x7dbl_5.bn.bias',
    'Mixed_7c.branch3x3dbl_3b.conv.weight',
    'fc.weight',
    'fc.bias',
  ]) {
    assert.ok(k in weights, k);
  }
  assert.deepEqual(weights['Mixed_7c.branch_pool.conv.weight']!.shape, [192, 2048, 1, 1]);
  assert.deepEqual(weights['fc.weight']!.shape, [1008, 2048]);
});

test('features and logits match PyTorch (weights loaded from a user .safetensors file)', () => {
  const net = loadFidInception(weightsFile);
  assert.equal(net.training, false);
  assert.ok(net.parameters().every((p) => !p.requiresGrad));
  const ref = io.loadSafetensors(fixturePath('metrics', 'inception.safetensors')).tensors;
  T.tidy(() => {
    const rgb = T.noGrad(() => net.forward(ref['rgb']!));
    assert.deepEqual(rgb.features.shape, [2, 2048]);
    assert.deepEqual(rgb.logits.shape, [2, 1008]);
    assertClose(rgb.features, ref['rgb.features']!, 1e-4, 1e-4, 'rgb features');
    assertClose(rgb.logits, ref['rgb.logits']!, 1e-4, 1e-4, 'rgb logits (with bias)');
    assertClose(rgb.logitsUnbiased, ref['rgb.logits_unbiased']!, 1e-4, 1e-4, 'rgb unbiased logits');
    // Greyscale input is repeated to three channels.
    const grey = net.features(ref['grey']!);
    assertClose(grey.features, ref['grey.features']!, 1e-4, 1e-4, 'grey features');
    assertClose(grey.logits, ref['grey.logits_unbiased']!, 1e-4, 1e-4, 'grey logits');
  });
  assert.equal(fidName(net), 'FID');
  assert.equal(fidName({ name: 'tessera-mnist' }), 'FID-tessera-mnist');
  assert.throws(() => net.features(T.zeros([1, 2, 8, 8])), /expected images \[B, 1 or 3, H, W\]/);
  // collectFeatures streams batches into statistics and keeps the features for KID / precision-recall.
  const fake = {
    name: 'fake',
    featureDim: 3,
    numClasses: 2,
    features: (x: T.Tensor) => ({ features: x.mean([2, 3]), logits: x.amax([1, 2, 3]).unsqueeze(1).repeat([1, 2]) }),
  };
  T.manualSeed(2);
  const batches = [T.rand([4, 3, 5, 5]), T.rand([1, 3, 5, 5]), T.rand([3, 3, 5, 5])];
  const set = collectFeatures(fake, batches);
  const all = T.cat(batches, 0).mean([2, 3]);
  assert.equal(set.count, 8);
  assert.ok(set.features.equal(all));
  assert.deepEqual(set.logits.shape, [8, 2]);
  const direct = new RunningGaussian().update(all);
  set.gaussian.covariance().forEach((v, i) => assert.ok(Math.abs(v - direct.covariance()[i]!) < 1e-12));
  set.dispose();
  net.dispose();
});

test('.pth files (legacy and zip torch.save formats) load with pytorch-fid key names', () => {
  for (const name of ['inception_head.pth', 'inception_head_zip.pth']) {
    T.tidy(() => {
      const w = readInceptionWeights(fixturePath('metrics', name));
      assert.deepEqual(Object.keys(w).sort(), [
        'Conv2d_1a_3x3.bn.bias',
        'Conv2d_1a_3x3.bn.num_batches_tracked',
        'Conv2d_1a_3x3.bn.running_mean',
        'Conv2d_1a_3x3.bn.running_var',
        'Conv2d_1a_3x3.bn.weight',
        'Conv2d_1a_3x3.conv.weight',
      ]);
      for (const [k, t] of Object.entries(w))
        if (!k.endsWith('num_batches_tracked')) assert.ok(t.equal(weights[k]!), `${name}: ${k} equals the regenerated tensor`);
    });
    // The partial file is rejected with every missing key counted, on one line.
    let err: unknown;
    try {
      loadFidInception(fixturePath('metrics', name));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InceptionWeightsError, String(err));
    assert.equal(err.missing.length, 472 - 5);
    assert.ok(err.missing.includes('fc.weight') && err.missing.includes('Mixed_5b.branch1x1.conv.weight'));
    assert.match(err.message, /467 missing keys: Conv2d_2a_3x3\.conv\.weight, .* … and 455 more/);
    assert.ok(!err.message.includes('\n'), 'one line');
  }
});

test('bad weight files: one line naming unexpected keys and wrong shapes; a missing file says where to get it', () => {
  const bad = { ...weights, 'AuxLogits.fc.weight': T.zeros([2, 2]), 'fc.weight': T.zeros([1000, 2048]) };
  delete (bad as Record<string, T.Tensor>)['fc.bias'];
  const badFile = join(dir, 'bad.safetensors');
  io.saveSafetensors(badFile, bad);
  assert.throws(
    () => loadFidInception(badFile),
    (e: unknown) =>
      e instanceof InceptionWeightsError &&
      !e.message.includes('\n') &&
      /1 missing key: fc\.bias/.test(e.message) &&
      /1 unexpected key: AuxLogits\.fc\.weight/.test(e.message) &&
      /fc\.weight is \[1000, 2048\], expected \[1008, 2048\]/.test(e.message),
  );
  const missing = join(dir, 'nope', FID_WEIGHTS_FILE);
  assert.throws(
    () => loadFidInception(missing),
    (e: unknown) =>
      e instanceof Error &&
      !e.message.includes('\n') &&
      e.message.includes(FID_WEIGHTS_FILE) &&
      /pytorch-fid/.test(e.message) &&
      /cannot download/.test(e.message),
  );
  const garbage = join(dir, 'garbage.pth');
  writeFileSync(garbage, Buffer.from('PK\x03\x04 not really a zip'));
  assert.throws(() => loadFidInception(garbage), /torch checkpoint/);
});

test('constructing the network leaves the global random stream untouched', () => {
  T.manualSeed(9);
  const a = T.randn([4]).toArray();
  T.manualSeed(9);
  new FidInceptionV3().dispose();
  assert.deepEqual(T.randn([4]).toArray(), a);
});
