// Tessera's own classifiers (the feature networks of the tessera-<dataset> metrics): training learns,
// model files round-trip exactly and fail in one line, features() converts sizes and channels, class
// names resolve, and `tessera train classifier` resumes bit-exactly. Tiny settings throughout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/torch/index.js';
import { loadDataset } from '../src/data/index.js';
import { saveModelFile } from '../src/io/index.js';
import { Classifier, classifierName, defaultClassifierConfig, loadClassifier, saveClassifier, type ClassifierConfig } from '../src/metrics/classifier.js';
import type { FeatureExtractor } from '../src/metrics/features.js';
import { ClassifierTrainer } from '../src/train/classifier.js';
import { runTraining } from '../src/train/run.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const mainJs = join(here, '..', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'tessera-classifier-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const p = (...parts: string[]): string => join(tmp, ...parts);

// Small convolutions run far faster on one thread than on two contended ones.
T.setNumThreads(1);

const DIGITS = Array.from({ length: 10 }, (_, d) => String(d));

function tinyConfig(over: Partial<ClassifierConfig> = {}): ClassifierConfig {
  return { ...defaultClassifierConfig({ dataset: 'mnist', inChannels: 1, size: 14, classNames: DIGITS, width: 8, featureDim: 16 }), ...over };
}

/** One line, no stack trace. */
function assertOneLine(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.equal(e.message.split('\n').length, 1, `one line expected: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test('a tiny classifier trained for a few steps on MNIST is far above chance on held-out digits', async () => {
  const ds = await loadDataset('mnist', { size: 14, resize: 14, channels: 1, cache: false });
  const { train, val } = ds.split({ valCount: 200 });
  const config = { model: tinyConfig(), batchSize: 32, lr: 1e-2, weightDecay: 0.05, warmup: 10, steps: 300, shift: 1, hflip: false, seed: 3 };
  // The store is ordered by class: take the subset spread over it.
  const subset = train.subset(Array.from({ length: 2000 }, (_, i) => Math.floor((i * train.size) / 2000)));
  const trainer = new ClassifierTrainer({ config, train: subset, val });
  const before = trainer.evaluate();
  const out = p('inproc');
  await runTraining(trainer, { outDir: out, steps: config.steps, log: () => {}, imageEvery: 1000, checkpointEvery: 1000 });
  const afterEval = trainer.evaluate();
  assert.equal(afterEval.count, 200);
  // Chance is 10%; an untrained net sits near it.
  assert.ok(before.accuracy < 0.3, `untrained accuracy ${before.accuracy}`);
  assert.ok(afterEval.accuracy > 0.5, `held-out accuracy after 300 steps: ${afterEval.accuracy}`);
  assert.ok(afterEval.loss < before.loss, 'held-out loss fell');
  // The run's metrics.json holds the final held-out evaluation.
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.equal(metrics.step, 300);
  assert.equal(metrics.valAccuracy, afterEval.accuracy);
  assert.equal(metrics.classifier, 'tessera-mnist');
  // The model file round-trips to identical logits.
  const loaded = loadClassifier(join(out, 'model.safetensors'));
  const x = val.batch([0, 1, 2, 3, 4, 5, 6, 7]).images;
  const a = trainer.model.features(x);
  const b = loaded.features(x);
  assert.ok(a.logits.equal(b.logits), 'logits differ after save/load');
  assert.ok(a.features.equal(b.features), 'features differ after save/load');
  assert.deepEqual(loaded.config, trainer.model.config);
});

test('features(): shapes, and other sizes and channel counts are converted', () => {
  T.manualSeed(1);
  const grey: FeatureExtractor = new Classifier(tinyConfig());
  assert.equal(grey.name, 'tessera-mnist');
  assert.equal(grey.featureDim, 16);
  assert.equal(grey.numClasses, 10);
  const x = T.rand([5, 1, 14, 14]).mul(2).sub(1);
  const { features, logits } = grey.features(x);
  assert.deepEqual(features.shape, [5, 16]);
  assert.deepEqual(logits.shape, [5, 10]);
  // Each image independently of its batch.
  assert.ok(grey.features(x.narrow(0, 2, 1)).logits.allclose(logits.narrow(0, 2, 1), 1e-5, 1e-6));
  // A 28-px image made of 2×2 blocks resizes (bilinear, ×½) back to the 14-px one.
  const up = T.interpolate(x, { scaleFactor: [2, 2], mode: 'nearest' });
  assert.ok(grey.features(up).features.allclose(features, 1e-4, 1e-5), 'resized input gives different features');
  // RGB with equal channels → grey (luma weights sum to 1).
  const rgb = x.expand([-1, 3, -1, -1]).contiguous();
  assert.ok(grey.features(rgb).logits.allclose(logits, 1e-4, 1e-5), 'RGB → grey conversion');
  // A colour classifier takes grey images by replication, at any size.
  const colour = new Classifier(tinyConfig({ inChannels: 3, size: 16, dataset: 'emoji:google', name: classifierName('emoji:google') }));
  assert.equal(colour.name, 'tessera-emoji');
  const g = colour.features(x);
  assert.deepEqual(g.features.shape, [5, 16]);
  const viaRgb = colour.features(
    T.interpolate(x, { size: [16, 16], mode: 'bilinear' })
      .expand([-1, 3, -1, -1])
      .contiguous(),
  );
  assert.ok(g.logits.allclose(viaRgb.logits, 1e-5, 1e-5), 'grey → RGB conversion');
  // classify: argmax of the probabilities, rows summing to 1.
  const c = (grey as Classifier).classify(x);
  assert.deepEqual(c.classIds, logits.argmax(1).toArray());
  assert.ok(c.probs.sum(1).allclose(T.ones([5]), 1e-5, 1e-6));
  assertOneLine(() => grey.features(T.zeros([2, 2, 14, 14])), /expected 1 or 3 channels, got 2/);
  assertOneLine(() => grey.features(T.zeros([14, 14])), /expected images \[B, C, H, W\]/);
});

test('classIndex resolves names and ids; an unknown class lists the valid ones', () => {
  const m = new Classifier(
    tinyConfig({ classNames: ['Animals & Nature', 'Food & Drink', 'Smileys & Emotion'], dataset: 'emoji:google', name: 'tessera-emoji' }),
  );
  assert.equal(m.classIndex('Food & Drink'), 1);
  assert.equal(m.classIndex('smileys & emotion'), 2);
  assert.equal(m.classIndex(0), 0);
  assert.equal(m.classIndex('2'), 2);
  assertOneLine(() => m.classIndex('Flags'), /unknown class 'Flags'; valid classes: 'Animals & Nature', 'Food & Drink', 'Smileys & Emotion'/);
  assertOneLine(() => m.classIndex(3), /class id 3 is out of range \[0, 3\)/);
  assert.equal(classifierName('folder:/data/My Pets/'), 'tessera-my-pets');
  assert.throws(() => new Classifier(tinyConfig({ widths: [8, 12], groups: 8 })), /groups \(8\) must divide every width/);
});

test('loadClassifier: missing, corrupt and wrong-kind files are one-line errors', () => {
  const missing = p('nope.safetensors');
  assertOneLine(() => loadClassifier(missing), /^classifier file not found: .*nope\.safetensors$/);
  writeFileSync(p('garbage.safetensors'), Buffer.from('this is not a safetensors file at all, just text\n'.repeat(4)));
  assertOneLine(() => loadClassifier(p('garbage.safetensors')), /^cannot load classifier: model file .*garbage\.safetensors: /);
  // A truncated real file.
  T.manualSeed(0);
  const m = new Classifier(tinyConfig());
  saveClassifier(p('ok.safetensors'), m);
  const bytes = readFileSync(p('ok.safetensors'));
  writeFileSync(p('truncated.safetensors'), bytes.subarray(0, bytes.length - 100));
  assertOneLine(() => loadClassifier(p('truncated.safetensors')), /^cannot load classifier: model file .*truncated\.safetensors: /);
  // A Tessera model file of another kind.
  saveModelFile(p('tok.safetensors'), { kind: 'vqvae', config: {}, stateDict: { w: T.zeros([2]) } });
  assertOneLine(() => loadClassifier(p('tok.safetensors')), /holds a 'vqvae' model, expected 'classifier'/);
  // The right kind with weights for another config.
  saveModelFile(p('mismatch.safetensors'), { kind: 'classifier', config: tinyConfig({ featureDim: 32 }), stateDict: m.stateDict() });
  assertOneLine(() => loadClassifier(p('mismatch.safetensors')), /weights do not match its config: .*shape mismatch/);
  saveModelFile(p('badcfg.safetensors'), { kind: 'classifier', config: { ...tinyConfig(), inChannels: 2 }, stateDict: m.stateDict() });
  assertOneLine(() => loadClassifier(p('badcfg.safetensors')), /bad classifier config: inChannels must be 1 or 3/);
  // And the good file loads to the same outputs.
  const x = T.rand([2, 1, 14, 14]);
  assert.ok(loadClassifier(p('ok.safetensors')).features(x).logits.equal(m.features(x).logits));
});

// ------------------------------------------------------------------ CLI

const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_CACHE: join(tmp, 'cache'), TESSERA_THREADS: '1' };
delete env.TESSERA_DEBUG;
function tessera(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [mainJs, ...args], { cwd: tmp, encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const TINY = [
  '--data',
  'mnist',
  '--size',
  '12',
  '--steps',
  '6',
  '--batch-size',
  '8',
  '--width',
  '8',
  '--feature-dim',
  '16',
  '--val-count',
  '50',
  '--warmup',
  '2',
];

test('train classifier: outputs, held-out accuracy, and --stop-after/--resume gives a byte-identical model', () => {
  const a = tessera('train', 'classifier', ...TINY, '--out', 'runs/a');
  assert.equal(a.code, 0, a.err);
  for (const f of ['model.safetensors', 'checkpoint.safetensors', 'config.json', 'log.jsonl', 'metrics.json'])
    assert.ok(existsSync(p('runs', 'a', f)), `missing ${f}`);
  const metrics = JSON.parse(readFileSync(p('runs', 'a', 'metrics.json'), 'utf8'));
  assert.equal(metrics.valCount, 50);
  assert.equal(metrics.step, 6);
  const m = /^held-out accuracy: ([\d.]+)% \(50 validation images of mnist/m.exec(a.out);
  assert.ok(m, a.out);
  assert.equal(Number(m[1]), Number((100 * metrics.valAccuracy).toFixed(2)));
  const model = loadClassifier(p('runs', 'a', 'model.safetensors'));
  assert.deepEqual([model.name, model.config.size, model.config.inChannels, model.numClasses], ['tessera-mnist', 12, 1, 10]);

  const b1 = tessera('train', 'classifier', ...TINY, '--out', 'runs/b', '--stop-after', '3');
  assert.equal(b1.code, 0, b1.err);
  assert.match(b1.out, /stopped at step 3 of 6.*--resume/);
  const b2 = tessera('train', 'classifier', '--out', 'runs/b', '--resume');
  assert.equal(b2.code, 0, b2.err);
  assert.match(b2.out, /^resuming at step 3/m);
  assert.ok(
    readFileSync(p('runs', 'b', 'model.safetensors')).equals(readFileSync(p('runs', 'a', 'model.safetensors'))),
    'resumed model differs from the uninterrupted run',
  );
  const steps = readFileSync(p('runs', 'b', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
  assert.equal(JSON.parse(readFileSync(p('runs', 'b', 'metrics.json'), 'utf8')).valAccuracy, metrics.valAccuracy);

  // Contradicting flags and reusing a run directory are one-line usage errors.
  const c = tessera('train', 'classifier', '--out', 'runs/b', '--resume', '--lr', '0.1');
  assert.equal(c.code, 2);
  assert.match(c.err.trim(), /^[^\n]*--resume: --lr 0\.1 \(saved: 0\.002\) contradicts the saved run/);
  const d = tessera('train', 'classifier', ...TINY, '--out', 'runs/b');
  assert.equal(d.code, 2);
  assert.match(d.err.trim(), /^[^\n]*already holds a run/);
});
