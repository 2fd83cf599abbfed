// The tokenizer commands end to end, through the built executable: train (files, exact resume,
// Ctrl-C), encode/decode/reconstruct, eval, info, import, and one-line errors with the right exit codes.
// Tiny settings throughout (16 px MNIST, 6 steps) so the file runs in well under two minutes. The
// shared fixtures (a trained model, test images) are built in before(), so any test runs on its own
// (--test-name-pattern).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import { loadTokenizer } from '../src/tokenizers/index.js';
import { imageToTensor, readImage, tensorToImage } from '../src/data/index.js';
import { fixturePath, cliSandbox, assertCliError, interruptCli } from './helpers.js';

const { tmp, env, mainJs, tessera, p } = cliSandbox('cli-tok');

const assertError = assertCliError;

const TINY = [
  '--arch',
  'vqvae',
  '--data',
  'mnist',
  '--size',
  '16',
  '--steps',
  '6',
  '--batch-size',
  '4',
  '--ch',
  '32',
  '--codebook-size',
  '64',
  '--downsample',
  '4',
  '--no-gan',
];
const modelA = p('runs', 'a', 'model.safetensors');

/** A deterministic RGB test image. */
async function writeTestImage(path: string, w: number, h: number): Promise<void> {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      [d[i], d[i + 1], d[i + 2]] = [(x * 255) / w, (y * 255) / h, ((x + y) * 97) % 256];
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  await sharp(d, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

let trainA: ReturnType<typeof tessera>;
before(async () => {
  trainA = tessera('train', 'tokenizer', ...TINY, '--out', 'runs/a');
  assert.equal(trainA.code, 0, trainA.err);
  await writeTestImage(p('img', 'x16.png'), 16, 16);
  await writeTestImage(p('img', 'x30.png'), 30, 30);
  await writeTestImage(p('dir', 'a.png'), 16, 16);
  await writeTestImage(p('dir', 'sub', 'b.png'), 16, 16);
  await sharp(p('dir', 'a.png'))
    .jpeg()
    .toFile(p('dir', 'sub', 'c.jpg'));
  writeFileSync(p('dir', 'broken.png'), 'not an image');
});

test('train tokenizer writes the model, checkpoint, log, images and config', () => {
  const r = trainA;
  const dir = p('runs', 'a');
  for (const f of ['model.safetensors', 'checkpoint.safetensors', 'log.jsonl', 'recon-latest.png', 'loss.svg', 'config.json']) {
    assert.ok(existsSync(join(dir, f)), `missing ${f}`);
  }
  const log = readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss: number });
  assert.deepEqual(
    log.map((x) => x.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.ok(log.every((x) => Number.isFinite(x.loss)));
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(cfg.arch, 'vqvae');
  assert.equal(cfg.data, 'mnist');
  assert.equal(cfg.size, 16);
  assert.equal(cfg.steps, 6);
  assert.equal(cfg.batchSize, 4);
  assert.equal(cfg.gan, null);
  assert.equal(cfg.model.quantizer.codebookSize, 64);
  assert.match(r.out, /^validation \(64 images, EMA weights\): PSNR [\d.]+ dB, SSIM -?[\d.]+$/m);
  assert.match(r.out, /^ {2}model\.safetensors +the tokenizer/m);
  assert.match(r.out, /^ {2}recon-latest\.png /m);
  assert.match(r.out, /^ {2}loss\.svg /m);
  assert.match(r.out, /^ {2}log\.jsonl /m);
});

test('--stop-after then --resume gives a bit-identical model to an uninterrupted run', () => {
  const first = tessera('train', 'tokenizer', ...TINY, '--out', 'runs/b', '--stop-after', '3');
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /stopped at step 3 of 6.*--resume/);
  assert.equal(
    readFileSync(p('runs', 'b', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n').length,
    3,
  );
  const second = tessera('train', 'tokenizer', '--out', 'runs/b', '--resume');
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /^resuming at step 3/m);
  assert.ok(readFileSync(p('runs', 'b', 'model.safetensors')).equals(readFileSync(modelA)), 'model.safetensors differs from the uninterrupted run');
  const steps = readFileSync(p('runs', 'b', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
});

test('the GAN branch: a few steps with the discriminator on, then --resume is bit-exact', () => {
  // 16 px fits a 2-layer PatchGAN; the discriminator is on from step 1, so both sides of the resume train it.
  const GAN = [
    '--arch',
    'vqgan',
    '--data',
    'mnist',
    '--size',
    '16',
    '--steps',
    '4',
    '--batch-size',
    '2',
    '--ch',
    '32',
    '--codebook-size',
    '16',
    '--gan',
    '--disc-start',
    '1',
    '--val-count',
    '8',
  ];
  const ref = tessera('train', 'tokenizer', ...GAN, '--out', 'runs/gan-ref');
  assert.equal(ref.code, 0, ref.err);
  assert.match(ref.out, /vqgan .*GAN from step 1\)/);
  const log = readFileSync(p('runs', 'gan-ref', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(log.length, 4);
  assert.ok(!('d' in log[0]!), 'no discriminator loss before discStart');
  for (const r of log.slice(1)) assert.ok(Number.isFinite(r.d) && Number.isFinite(r.g), `step ${r.step}: discriminator and generator GAN losses logged`);
  const cfg = JSON.parse(readFileSync(p('runs', 'gan-ref', 'config.json'), 'utf8'));
  assert.equal(cfg.gan.discStart, 1);
  assert.equal(cfg.gan.discNumLayers, 2);

  const first = tessera('train', 'tokenizer', ...GAN, '--out', 'runs/gan', '--stop-after', '2');
  assert.equal(first.code, 0, first.err);
  const second = tessera('train', 'tokenizer', '--out', 'runs/gan', '--resume');
  assert.equal(second.code, 0, second.err);
  assert.ok(
    readFileSync(p('runs', 'gan', 'model.safetensors')).equals(readFileSync(p('runs', 'gan-ref', 'model.safetensors'))),
    'resumed GAN run differs from the uninterrupted one',
  );
  assert.ok(
    readFileSync(p('runs', 'gan', 'checkpoint.safetensors')).equals(readFileSync(p('runs', 'gan-ref', 'checkpoint.safetensors'))),
    'resumed GAN checkpoint (discriminator and its optimizer included) differs',
  );
});

test('--resume refuses flags that contradict the saved run; a new run never overwrites one', () => {
  assertError(
    tessera('train', 'tokenizer', '--out', 'runs/a', '--resume', '--lr', '1e-3', '--codebook-size', '64'),
    2,
    /--resume: --lr 0\.001 \(saved: 0\.0002\) contradicts the saved run/,
  );
  assertError(
    tessera('train', 'tokenizer', '--out', 'runs/a', '--resume', '--arch', 'vqgan', '--gan'),
    2,
    /--arch vqgan \(saved: vqvae\), --gan \(saved: --no-gan\) contradict/,
  );
  assertError(tessera('train', 'tokenizer', '--out', 'runs/a', '--resume', '--steps', '2'), 2, /--steps 2 \(saved: 6; it may only be raised\) contradicts/);
  assertError(tessera('train', 'tokenizer', ...TINY, '--out', 'runs/a'), 2, /already holds a run .*--resume/);
  assertError(tessera('train', 'tokenizer', '--out', 'runs/none', '--resume'), 1, /--resume: no checkpoint in runs\/none/);
  assertError(tessera('train', 'tokenizer', '--out', 'runs/a', '--resume', '--config', 'x.json'), 2, /drop --config/);
  assert.ok(!existsSync(p('runs', 'none')), 'a refused run leaves no folder behind');
});

test('Ctrl-C saves a checkpoint, exits 130 and says how to resume; the resume completes', async () => {
  const dir = p('runs', 'sigint');
  const args = [...TINY.filter((a, i) => a !== '--steps' && TINY[i - 1] !== '--steps'), '--steps', '100000', '--checkpoint-every', '2', '--out', dir];
  // Interrupt once training is under way (the first periodic checkpoint exists).
  const r0 = await interruptCli({ mainJs, tmp, env }, ['train', 'tokenizer', ...args], () => existsSync(join(dir, 'checkpoint.safetensors')));
  assert.equal(r0.code, 130, r0.err);
  const m = /interrupted at step (\d+) of 100000; checkpoint saved\. Resume with: tessera train tokenizer --out \S+ --resume/.exec(r0.err);
  assert.ok(m, `no resume hint in:\n${r0.err}`);
  const stopped = Number(m[1]);
  assert.ok(existsSync(join(dir, 'checkpoint.safetensors')));
  assert.ok(!existsSync(join(dir, '.tessera-lock')), 'the run folder is unlocked after the interruption');
  // Resume for two more steps: the log continues without gaps or duplicates.
  const r = tessera('train', 'tokenizer', '--out', dir, '--resume', '--stop-after', '2');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^resuming at step ${stopped}: `, 'm'));
  const steps = readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(
    steps,
    Array.from({ length: stopped + 2 }, (_, i) => i + 1),
  );
});

test('--config supplies the settings; explicit flags win', () => {
  writeFileSync(p('cfg.json'), JSON.stringify({ arch: 'vqvae', data: 'mnist', size: 16, batchSize: 2, lr: 1e-3, seed: 5, emaDecay: null, steps: 6 }));
  const r = tessera(
    'train',
    'tokenizer',
    '--config',
    'cfg.json',
    '--lr',
    '5e-4',
    '--ch',
    '32',
    '--codebook-size',
    '64',
    '--out',
    'runs/cfg',
    '--stop-after',
    '1',
  );
  assert.equal(r.code, 0, r.err);
  const cfg = JSON.parse(readFileSync(p('runs', 'cfg', 'config.json'), 'utf8'));
  assert.deepEqual([cfg.batchSize, cfg.lr, cfg.seed, cfg.emaDecay, cfg.model.ch, cfg.model.quantizer.codebookSize], [2, 5e-4, 5, null, 32, 64]);
  writeFileSync(p('bad-cfg.json'), JSON.stringify({ arch: 'vqvae', batchsize: 2 }));
  assertError(
    tessera('train', 'tokenizer', '--config', 'bad-cfg.json', '--out', 'runs/bad'),
    1,
    /--config bad-cfg\.json: unknown key 'batchsize' \(did you mean 'batchSize'\? valid: arch, model, batchSize, .*steps, lpips, codebookInitFrom\)/,
  );
  writeFileSync(p('bad-cfg2.json'), JSON.stringify({ arch: 'vqvae', data: 'mnist', size: 16, lr: -1 }));
  assertError(tessera('train', 'tokenizer', '--config', 'bad-cfg2.json', '--out', 'runs/bad'), 1, /--config bad-cfg2\.json: lr: must be ≥ 0, got -1/);
  assert.ok(!existsSync(p('runs', 'bad')));
});

test('encode → decode: token JSON in raster order, and decode(encode(x)) is the reconstruction', async () => {
  const enc = tessera('encode', '--model', modelA, '--input', 'img/x16.png', '--out', 'tok/x16.json');
  assert.equal(enc.code, 0, enc.err);
  const tok = JSON.parse(readFileSync(p('tok', 'x16.json'), 'utf8')) as { shape: number[]; indices: number[] };
  assert.deepEqual(Object.keys(tok), ['shape', 'indices']);
  assert.deepEqual(tok.shape, [4, 4]);
  assert.equal(tok.indices.length, 16);
  assert.ok(tok.indices.every((i) => Number.isInteger(i) && i >= 0 && i < 64));

  const dec = tessera('decode', '--model', modelA, '--tokens', 'tok/x16.json', '--out', 'dec/x16.png');
  assert.equal(dec.code, 0, dec.err);
  const rec = tessera('reconstruct', '--model', modelA, '--input', 'img/x16.png', '--out', 'dec/x16-recon.png');
  assert.equal(rec.code, 0, rec.err);
  assert.match(rec.out, /PSNR [\d.]+ dB/);
  assert.ok(readFileSync(p('dec', 'x16.png')).equals(readFileSync(p('dec', 'x16-recon.png'))), 'decode(encode(x)) and reconstruct differ');

  // The same through the library: identical ids, and the model's forward reconstruction within one
  // 8-bit level (forward's straight-through estimator differs from the codebook vectors by rounding).
  const input = await readImage(p('img', 'x16.png'), { channels: 3 });
  const decoded = (await readImage(p('dec', 'x16.png'), { channels: 3 })).data;
  const model = loadTokenizer(modelA);
  model.eval();
  T.tidy(() => {
    const x = imageToTensor(input).unsqueeze(0);
    assert.deepEqual(model.encode(x).toArray(), tok.indices);
    const fwd = tensorToImage(T.noGrad(() => model.forward(x).recon.clamp(-1, 1)).index(0)).data;
    assert.equal(decoded.length, fwd.length);
    let worst = 0;
    for (let i = 0; i < fwd.length; i++) worst = Math.max(worst, Math.abs(fwd[i]! - decoded[i]!));
    assert.ok(worst <= 1, `decoded PNG differs from forward() by ${worst} levels`);
  });
  model.dispose();
});

test('encode: sizes that are not a multiple of the downsampling factor need --resize', async () => {
  assertError(
    tessera('encode', '--model', modelA, '--input', 'img/x30.png', '--out', 'tok/x30.json'),
    1,
    /image size 30×30 is not a multiple of the model's downsampling factor 4; pass --resize to resize it to 32×32/,
  );
  assert.ok(!existsSync(p('tok', 'x30.json')));
  const r = tessera('encode', '--model', modelA, '--input', 'img/x30.png', '--out', 'tok/x30.json', '--resize');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^note: resized img\/x30\.png from 30×30 to 32×32/m);
  assert.deepEqual(JSON.parse(readFileSync(p('tok', 'x30.json'), 'utf8')).shape, [8, 8]);
});

test('decode rejects malformed token files with one line each', () => {
  const cases: [string, RegExp][] = [
    ['{"shape": [4, 4], "indices": [1, 2', /not valid JSON/],
    ['[1, 2, 3]', /expected \{"shape"/],
    ['{"indices": []}', /missing "shape"/],
    ['{"shape": [4, 4], "indices": [1, 2, 3]}', /shape \[4,4\] needs 16 ids but "indices" has 3/],
    ['{"shape": [2, 2, 4], "indices": [' + '0,'.repeat(15) + '0]}', /4 tokens per position but the model takes 1 \(shape \[h, w\]\)/],
    ['{"shape": [2, 2], "indices": [0, 1, 2, 64]}', /"indices"\[3\] = 64 is outside the codebook \[0, 64\)/],
    ['{"shape": [2, 2], "indices": [0, 1, -1, 3]}', /"indices"\[2\] = -1 is outside the codebook/],
    ['{"shape": [2, 2], "indices": [0, 1.5, 2, 3]}', /"indices"\[1\] is 1\.5, not an integer token id/],
    ['{"shape": [2, 0], "indices": []}', /"shape" must be \[h, w\] or \[h, w, k\] with positive integers/],
  ];
  for (const [i, [text, re]] of cases.entries()) {
    writeFileSync(p(`bad-${i}.json`), text);
    assertError(tessera('decode', '--model', modelA, '--tokens', `bad-${i}.json`, '--out', 'dec/bad.png'), 1, re);
  }
  assertError(tessera('decode', '--model', modelA, '--tokens', 'nope.json', '--out', 'dec/bad.png'), 1, /token file not found: nope\.json/);
  assert.ok(!existsSync(p('dec', 'bad.png')));
});

test('reconstruct a directory: mirrored PNG names, unreadable files skipped and counted once', async () => {
  const r = tessera('reconstruct', '--model', modelA, '--input', 'dir', '--out', 'dir-out');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^reconstructed 3 images into dir-out \(mean PSNR [\d.]+ dB\)$/m);
  assert.equal(r.err.match(/unreadable/g)?.length, 1, r.err);
  assert.match(r.err, /^skipped 1 unreadable file \(first: broken\.png: /m);
  for (const f of ['a.png', 'sub/b.png', 'sub/c.png']) {
    const meta = await sharp(p('dir-out', f)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 16, 16], f);
  }
  assert.ok(!existsSync(p('dir-out', 'broken.png')));
});

test('eval tokenizer --json reports quality and codebook use on the validation split', () => {
  const r = tessera('eval', 'tokenizer', '--model', modelA, '--data', 'mnist', '--size', '16', '--limit', '96', '--batch-size', '32', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.split, 'val');
  assert.equal(j.valCount, 500);
  assert.equal(j.images, 96);
  assert.equal(j.size, 16);
  assert.equal(j.codebookSize, 64);
  for (const k of ['psnr', 'ssim', 'l1', 'utilization', 'perplexity']) assert.equal(typeof j[k], 'number', k);
  assert.ok(j.psnr > 0 && j.l1 >= 0 && j.l1 <= 2);
  assert.ok(j.utilization > 0 && j.utilization <= 1 && j.used === Math.round(j.utilization * 64));
  assert.ok(j.perplexity >= 1 && j.perplexity <= 64);
  // Defaults from the run's config.json; human-readable output names the split.
  const t = tessera('eval', 'tokenizer', '--model', modelA, '--limit', '32');
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /note: using --data mnist --size 16 --val-count 500 from .*config\.json/);
  assert.match(t.out, /^data +mnist at 16×16: val split, 32 of 500 images/m);
  for (const k of ['PSNR', 'SSIM', 'L1', 'codebook']) assert.match(t.out, new RegExp(`^${k} +\\S`, 'm'));
  assertError(tessera('eval', 'tokenizer', '--model', modelA, '--data', 'imagenet'), 2, /--data: unknown dataset spec 'imagenet'/);
});

test('info describes a model file', () => {
  const r = tessera('info', '--model', modelA);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^kind +vqvae$/m);
  assert.match(r.out, /^parameters +[\d,]+$/m);
  assert.match(r.out, /^downsample +4 /m);
  assert.match(r.out, /^codebook +64 codes$/m);
  assert.match(r.out, /^tokens +1 per position/m);
  assert.match(r.out, /^file +.*model\.safetensors \([\d.]+ KB, \d+ tensors\)$/m);
  const j = JSON.parse(tessera('info', '--model', modelA, '--json').out);
  assert.equal(j.kind, 'vqvae');
  assert.equal(j.downsample, 4);
  assert.equal(j.codebookSize, 64);
  assert.equal(j.tokensPerPosition, 1);
  assert.equal(j.bytes, readFileSync(modelA).length);
  assert.ok(j.parameters > 1000);
  assert.equal(j.metadata['tessera.version'], '1');
});

test('import taming and movq checkpoints, reporting what was dropped', () => {
  const fx = (n: string) => fixturePath('tokenizers', n);
  const t = tessera('import', 'taming', '--checkpoint', fx('taming.ckpt'), '--config', fx('taming.yaml'), '--out', 'imported/taming.safetensors');
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /^dropped \d+ loss\.\* entries/m);
  assert.match(t.out, /^wrote imported\/taming\.safetensors \(.*\): vqgan, [\d,]+ parameters, downsampling 2, 64 codes/m);
  const m = tessera('import', 'movq', '--checkpoint', fx('movq.ckpt'), '--config', fx('movq.yaml'), '--out', 'imported/movq.safetensors');
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /^wrote imported\/movq\.safetensors .*: movq, /m);
  const info = tessera('info', '--model', 'imported/movq.safetensors');
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /^imported_from +movq checkpoint movq\.ckpt$/m);
  // An imported model tokenizes like a trained one (32 px, f = 2 → 16×16 tokens).
  const e = tessera('encode', '--model', 'imported/taming.safetensors', '--input', 'img/x30.png', '--resize', '--out', 'tok/taming.json');
  assert.equal(e.code, 0, e.err);
  assert.deepEqual(JSON.parse(readFileSync(p('tok', 'taming.json'), 'utf8')).shape, [15, 15]);
  // A MoVQ checkpoint with the taming config: one line summarizing the key mismatch.
  assertError(
    tessera('import', 'taming', '--checkpoint', fx('movq.ckpt'), '--config', fx('taming.yaml'), '--out', 'imported/x.safetensors'),
    1,
    /cannot import .*movq\.ckpt: weights do not match the config: \d+ missing .*\d+ unexpected/,
  );
  assertError(
    tessera('import', 'movq', '--checkpoint', 'none.ckpt', '--config', fx('movq.yaml'), '--out', 'imported/y.safetensors'),
    1,
    /checkpoint not found: none\.ckpt/,
  );
  assert.ok(!existsSync(p('imported', 'x.safetensors')));
});

test('user errors: one line, exit 2 for usage and 1 for failures', () => {
  assertError(
    tessera('train', 'tokenizer', '--arch', 'vqgen', '--data', 'mnist', '--size', '16', '--out', 'runs/e'),
    2,
    /invalid value 'vqgen' for --arch \(did you mean vqgan\?\)/,
  );
  assertError(
    tessera('train', 'tokenizer', '--arch', 'vqvae', '--data', 'cifar', '--size', '16', '--out', 'runs/e'),
    2,
    /--data: unknown dataset spec 'cifar'/,
  );
  assertError(tessera('train', 'tokenizer', '--arch', 'vqvae', '--size', '16', '--out', 'runs/e'), 2, /a new run needs --data/);
  assertError(
    tessera('train', 'tokenizer', '--arch', 'vqvae', '--data', 'mnist', '--size', '18', '--out', 'runs/e'),
    2,
    /--size 18 is not a multiple of --downsample 4/,
  );
  assertError(tessera('train', 'tokenizer', '--arch', 'vqvae', '--data', 'folder:missing-dir', '--size', '16', '--out', 'runs/e'), 1, /folder not found/);
  assertError(
    tessera('train', 'tokenizer', '--arch', 'vqvae', '--data', 'mnist', '--size', '16', '--groups', '2', '--out', 'runs/e'),
    2,
    /--groups applies to --arch movq only/,
  );
  assertError(
    tessera('encode', '--model', 'missing.safetensors', '--input', 'img/x16.png', '--out', 'tok/m.json'),
    1,
    /model file not found: missing\.safetensors/,
  );
  writeFileSync(p('corrupt.safetensors'), 'definitely not safetensors');
  assertError(tessera('reconstruct', '--model', 'corrupt.safetensors', '--input', 'img/x16.png', '--out', 'dec/c.png'), 1, /corrupt\.safetensors/);
  writeFileSync(p('truncated.safetensors'), readFileSync(modelA).subarray(0, 2000));
  assertError(tessera('info', '--model', 'truncated.safetensors'), 1, /truncated\.safetensors/);
  // A training checkpoint is a safetensors file but not a model file.
  assertError(tessera('info', '--model', p('runs', 'a', 'checkpoint.safetensors')), 1, /not a Tessera model file/);
  assertError(tessera('encode', '--model', modelA, '--input', 'img/none.png', '--out', 'tok/n.json'), 1, /image not found: img\/none\.png/);
  assertError(tessera('reconstruct', '--model', modelA, '--input', 'dir/broken.png', '--out', 'dec/b.png'), 1, /cannot read image dir\/broken\.png/);
  assertError(tessera('encode', '--input', 'img/x16.png', '--out', 'tok/m.json'), 2, /missing required option --model/);
});

test('--help lists the tokenizer commands', () => {
  const r = tessera('--help');
  assert.equal(r.code, 0);
  for (const c of ['train tokenizer', 'eval tokenizer', 'encode', 'decode', 'reconstruct', 'info', 'import taming', 'import movq']) {
    assert.match(r.out, new RegExp(`^ {2}${c} +\\S`, 'm'), c);
  }
});
