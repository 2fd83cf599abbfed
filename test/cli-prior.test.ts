// The prior commands end to end, through the built executable: train prior (files, exact resume,
// refusals, Ctrl-C), sample (files, seeds, classes, KV cache, CFG 1), inpaint (box and mask, pixels
// away from the region untouched, bad inputs), outpaint (whole-token growth) and one-line errors.
// Everything runs on a 40-image 16×16 folder dataset and an untrained tiny VQ-VAE written here,
// with a one-block 32-wide prior trained for 6 steps, so the file takes well under a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import { createTokenizer, saveTokenizer } from '../src/tokenizers/index.js';
import { PriorModel } from '../src/priors/index.js';
import { readImage } from '../src/data/index.js';
import { cliSandbox, assertCliError, type CliRun } from './helpers.js';

const { tmp, env, mainJs, tessera, p } = cliSandbox('cli-prior');
type Run = CliRun;
const bytes = (rel: string): Buffer => readFileSync(p(rel));

const assertError = assertCliError;
/** A run that must succeed. */
function ok(r: Run): Run {
  assert.equal(r.code, 0, r.err);
  return r;
}

async function pngSize(rel: string): Promise<[number, number]> {
  const m = await sharp(p(rel)).metadata();
  assert.equal(m.format, 'png', rel);
  return [m.width!, m.height!];
}
/** RGB pixels of a PNG (grey files expanded), row-major HWC. */
async function rgb(rel: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  return readImage(p(rel), { channels: 3 });
}

// ---------------------------------------------------------------- fixtures written by the test

// Two classes of 20 grey 16×16 images with different patterns (stripes vs. a checker-ish texture).
for (const [ci, cls] of ['a', 'b'].entries()) {
  mkdirSync(p('data', cls), { recursive: true });
  for (let k = 0; k < 20; k++) {
    const d = Buffer.alloc(16 * 16);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) d[y * 16 + x] = ci === 0 ? (x * 16 + k * 7) % 256 : (y * 16 + k * 11 + (x ^ y) * 5) % 256;
    }
    await sharp(d, { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(p('data', cls, `${k}.png`));
  }
}
// An untrained VQ-VAE (f = 4, 16 codes): a 16 px image is 4×4 tokens. Priors don't care that it
// reconstructs badly; it only has to tokenize deterministically.
T.manualSeed(0);
const tok = createTokenizer('vqvae', { ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } });
saveTokenizer(p('tok.safetensors'), tok);
tok.dispose();
// A colourful RGB input at the model size (16×16), so inpaint/outpaint never resize it.
{
  const d = Buffer.alloc(16 * 16 * 3);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const i = (y * 16 + x) * 3;
      [d[i], d[i + 1], d[i + 2]] = [x * 16 + 3, y * 16 + 5, ((x + y) * 97) % 256];
    }
  }
  await sharp(d, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(p('in.png'));
}

const TINY = ['--tokenizer', 'tok.safetensors', '--data', 'folder:data', '--size', '16', '--val-count', '8', '--dim', '32', '--depth', '1', '--heads', '2', '--batch-size', '8', '--steps', '6'];
const MG = 'runs/mg/model.safetensors';
const AR = 'runs/ar/model.safetensors';
const F = 4; // the tokenizer's downsampling factor
const BAND = 2; // inpaint/outpaint blend band: max(1, round(f / 2))

// ---------------------------------------------------------------- train prior

for (const arch of ['maskgit', 'ar'] as const) {
  test(`train prior --arch ${arch} writes the model, samples, config and log`, async () => {
    const dir = arch === 'ar' ? 'runs/ar' : 'runs/mg';
    const r = ok(tessera('train', 'prior', '--arch', arch, ...TINY, '--out', dir));
    assert.match(r.out, new RegExp(`^${arch === 'ar' ? 'autoregressive' : 'MaskGIT'} prior \\([\\d,]+ parameters, 16 tokens per image, 2 classes\\)`, 'm'));
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples-latest.png', 'config.json', 'log.jsonl', 'loss.svg']) {
      assert.ok(existsSync(p(dir, f)), `missing ${f}`);
    }
    const log = readFileSync(p(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });
    assert.deepEqual(log.map((x) => x.step), [1, 2, 3, 4, 5, 6]);
    assert.ok(log.every((x) => Number.isFinite(x.loss) && x.loss > 0));
    const cfg = JSON.parse(readFileSync(p(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.arch, arch);
    assert.deepEqual([cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.batchSize, cfg.steps, cfg.size, cfg.valCount], [32, 1, 2, 8, 6, 16, 8]);
    assert.equal(cfg.data, `folder:${p('data')}`);
    // The sample grid: one row of 8 per class (2 classes), 16 px images with 2 px padding.
    assert.deepEqual(await pngSize(join(dir, 'samples-latest.png')), [8 * 16 + 9 * 2, 2 * 16 + 3 * 2]);
    // The model file is a usable prior that knows its classes and image size.
    const pm = PriorModel.load(p(dir, 'model.safetensors'));
    assert.equal(pm.arch, arch);
    assert.deepEqual([...pm.classNames], ['a', 'b']);
    assert.deepEqual(pm.config.imageSize, [16, 16]);
    pm.dispose();
  });
}

test('--stop-after then --resume gives a byte-identical model to an uninterrupted run', () => {
  for (const [arch, dir, ref] of [['ar', 'runs/ar-resume', AR], ['maskgit', 'runs/mg-resume', MG]] as const) {
    const first = ok(tessera('train', 'prior', '--arch', arch, ...TINY, '--out', dir, '--stop-after', '3'));
    assert.match(first.out, /stopped at step 3 of 6.*--resume/);
    assert.equal(readFileSync(p(dir, 'log.jsonl'), 'utf8').trim().split('\n').length, 3);
    const second = ok(tessera('train', 'prior', '--out', dir, '--resume'));
    assert.match(second.err, /resumed from .*checkpoint\.safetensors at step 3/);
    assert.ok(bytes(join(dir, 'model.safetensors')).equals(bytes(ref)), `${arch}: model.safetensors differs from the uninterrupted run`);
    const steps = readFileSync(p(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
  }
});

test('--resume refuses training flags; a new run never overwrites an existing one', () => {
  assertError(tessera('train', 'prior', '--out', 'runs/ar', '--resume', '--lr', '1e-3'), 2, /--resume continues the saved run exactly; drop --lr\b/);
  assertError(tessera('train', 'prior', '--out', 'runs/ar', '--resume', '--dim', '64', '--flip'), 2, /drop --dim, --flip\b/);
  const before = bytes(AR);
  assertError(tessera('train', 'prior', '--arch', 'ar', ...TINY, '--out', 'runs/ar'), 2, /runs\/ar already holds a run .*--resume/);
  assert.ok(bytes(AR).equals(before), 'the refused run touched the existing model');
  assertError(tessera('train', 'prior', '--out', 'runs/none', '--resume'), 1, /--resume: no checkpoint in .*runs\/none/);
  assertError(tessera('train', 'prior', '--arch', 'ar', '--out', 'runs/e'), 2, /a new run needs --arch and --tokenizer/);
});

test('Ctrl-C saves a checkpoint, exits 130 and says how to resume; the resume continues from there', async () => {
  const dir = p('runs', 'sigint');
  const args = [...TINY.filter((a, i) => a !== '--steps' && TINY[i - 1] !== '--steps'), '--steps', '100000', '--checkpoint-every', '2', '--image-every', '100000', '--out', dir];
  const child = spawn(process.execPath, [mainJs, 'train', 'prior', '--arch', 'ar', ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Interrupt once training is under way (the first periodic checkpoint exists).
  const t0 = Date.now();
  while (!existsSync(join(dir, 'checkpoint.safetensors'))) {
    if (child.exitCode !== null) break;
    assert.ok(Date.now() - t0 < 60_000, `no checkpoint after 60 s; stderr:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, err);
  const m = /interrupted at step (\d+) of 100000; checkpoint saved\. Resume with: tessera train prior --out \S+ --resume/.exec(err);
  assert.ok(m, `no resume hint in:\n${err}`);
  const stopped = Number(m[1]);
  const logged = () => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(logged(), Array.from({ length: stopped }, (_, i) => i + 1));
  // Continue one step and stop again, then shorten the run with --steps: it finishes there.
  const r = ok(tessera('train', 'prior', '--out', dir, '--resume', '--stop-after', '1'));
  assert.match(r.err, new RegExp(`at step ${stopped}\\b`));
  assert.deepEqual(logged(), Array.from({ length: stopped + 1 }, (_, i) => i + 1));
  ok(tessera('train', 'prior', '--out', dir, '--resume', '--steps', String(stopped + 3)));
  assert.deepEqual(logged(), Array.from({ length: stopped + 3 }, (_, i) => i + 1));
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).steps, stopped + 3);
});

// ---------------------------------------------------------------- sample

test('sample writes a grid and one PNG per image; the same seed gives the same bytes', async () => {
  const r = ok(tessera('sample', '--model', MG, '-n', '5', '--steps', '4', '--out', 'smp/g1.png'));
  assert.match(r.out, /^wrote smp\/g1\.png \(5 images, classes cycled over 2; MaskGIT, 4 steps; seed 0; /m);
  // 5 images in one row: 5·16 + 6·2 by 16 + 2·2.
  assert.deepEqual(await pngSize('smp/g1.png'), [92, 20]);
  const files = readdirSync(p('smp', 'g1')).sort();
  assert.deepEqual(files, ['0000-a.png', '0001-b.png', '0002-a.png', '0003-b.png', '0004-a.png']);
  for (const f of files) assert.deepEqual(await pngSize(join('smp', 'g1', f)), [16, 16]);
  // --nrow lays the grid out in rows.
  ok(tessera('sample', '--model', MG, '-n', '5', '--steps', '4', '--nrow', '2', '--out', 'smp/rows.png'));
  assert.deepEqual(await pngSize('smp/rows.png'), [2 * 16 + 3 * 2, 3 * 16 + 4 * 2]);

  ok(tessera('sample', '--model', MG, '-n', '5', '--steps', '4', '--out', 'smp/g2.png'));
  assert.ok(bytes('smp/g1.png').equals(bytes('smp/g2.png')), 'same seed gave a different grid');
  for (const f of files) assert.ok(bytes(`smp/g1/${f}`).equals(bytes(`smp/g2/${f}`)), `same seed gave a different ${f}`);
  ok(tessera('sample', '--model', MG, '-n', '5', '--steps', '4', '--seed', '1', '--out', 'smp/g3.png'));
  assert.ok(!bytes('smp/g1.png').equals(bytes('smp/g3.png')), 'a different seed gave the same grid');
});

test('sample --class by name or id; unknown names list the valid classes', () => {
  const byName = ok(tessera('sample', '--model', MG, '-n', '3', '--class', 'B', '--out', 'cls/name.png'));
  assert.match(byName.out, /class 1 \(b\)/);
  ok(tessera('sample', '--model', MG, '-n', '3', '--class', '1', '--out', 'cls/id.png'));
  assert.ok(bytes('cls/name.png').equals(bytes('cls/id.png')), '--class b and --class 1 differ');
  assert.deepEqual(readdirSync(p('cls', 'name')).sort(), ['0000-b.png', '0001-b.png', '0002-b.png']);
  ok(tessera('sample', '--model', MG, '-n', '3', '--class', 'a', '--out', 'cls/a.png'));
  assert.ok(!bytes('cls/a.png').equals(bytes('cls/id.png')), '--class a and --class b gave the same images');
  assertError(tessera('sample', '--model', MG, '--class', 'zebra', '--out', 'cls/z.png'), 2, /--class: unknown class 'zebra'; valid classes: 0 a, 1 b; see/);
  assertError(tessera('sample', '--model', AR, '--class', '2', '--out', 'cls/z.png'), 2, /--class: unknown class 2; valid classes: 0 a, 1 b; see/);
  assert.ok(!existsSync(p('cls', 'z.png')));
});

test('sample: the AR key/value cache does not change the images; --cfg 1 equals no guidance', () => {
  ok(tessera('sample', '--model', AR, '-n', '4', '--out', 'ar/cache.png'));
  const nc = ok(tessera('sample', '--model', AR, '-n', '4', '--no-cache', '--out', 'ar/nocache.png'));
  assert.match(nc.out, /autoregressive, no cache/);
  assert.ok(bytes('ar/cache.png').equals(bytes('ar/nocache.png')), '--no-cache gave different images');
  ok(tessera('sample', '--model', AR, '-n', '4', '--seed', '3', '--no-cache', '--out', 'ar/nocache3.png'));
  assert.ok(!bytes('ar/cache.png').equals(bytes('ar/nocache3.png')), 'AR sampling ignores the seed');

  ok(tessera('sample', '--model', AR, '-n', '4', '--cfg', '1', '--out', 'ar/cfg1.png'));
  assert.ok(bytes('ar/cache.png').equals(bytes('ar/cfg1.png')), 'AR: --cfg 1 differs from no --cfg');
  ok(tessera('sample', '--model', AR, '-n', '4', '--cfg', '3', '--out', 'ar/cfg3.png'));
  assert.ok(!bytes('ar/cache.png').equals(bytes('ar/cfg3.png')), 'AR: --cfg 3 had no effect');
  ok(tessera('sample', '--model', MG, '-n', '4', '--out', 'mg/plain.png'));
  ok(tessera('sample', '--model', MG, '-n', '4', '--cfg', '1', '--out', 'mg/cfg1.png'));
  assert.ok(bytes('mg/plain.png').equals(bytes('mg/cfg1.png')), 'MaskGIT: --cfg 1 differs from no --cfg');
});

// ---------------------------------------------------------------- inpaint

/** Chebyshev distance from pixel (x, y) to the pixels where region(x, y) is true. */
function distanceTo(region: (x: number, y: number) => boolean, x: number, y: number, W: number, H: number): number {
  let best = Infinity;
  for (let v = 0; v < H; v++) for (let u = 0; u < W; u++) if (region(u, v)) best = Math.min(best, Math.max(Math.abs(u - x), Math.abs(v - y)));
  return best;
}

/** Pixels beyond the blend band equal the input exactly; some pixel inside the region changed. */
async function assertOnlyRegionChanged(outRel: string, region: (x: number, y: number) => boolean): Promise<void> {
  const a = await rgb('in.png');
  const b = await rgb(outRel);
  assert.deepEqual([b.width, b.height], [16, 16]);
  let far = 0;
  let changedInside = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const i = (y * 16 + x) * 3;
      const same = a.data[i] === b.data[i] && a.data[i + 1] === b.data[i + 1] && a.data[i + 2] === b.data[i + 2];
      if (distanceTo(region, x, y, 16, 16) > BAND) {
        far++;
        assert.ok(same, `${outRel}: pixel (${x}, ${y}), ${BAND}+ px from the region, changed: ${[...a.data.subarray(i, i + 3)]} → ${[...b.data.subarray(i, i + 3)]}`);
      } else if (region(x, y) && !same) changedInside++;
    }
  }
  assert.ok(far > 50, `only ${far} pixels checked outside the band`);
  assert.ok(changedInside > 0, `${outRel}: nothing inside the region was regenerated`);
}

test('inpaint --box and --mask regenerate the region and leave pixels beyond the blend band untouched', async () => {
  // The box covers exactly token (1, 1); widened by one token it masks the 3×3 tokens around it.
  const r = ok(tessera('inpaint', '--model', MG, '--input', 'in.png', '--box', '4,4,4,4', '--out', 'inp/box.png'));
  assert.match(r.out, /regenerated 9 of 16 tokens/);
  assert.equal(r.err, '', 'an image at the model size must not be resized');
  await assertOnlyRegionChanged('inp/box.png', (x, y) => x >= 4 && x < 8 && y >= 4 && y < 8);
  // Same seed ⇒ same output.
  ok(tessera('inpaint', '--model', MG, '--input', 'in.png', '--box', '4,4,4,4', '--out', 'inp/box2.png'));
  assert.ok(bytes('inp/box.png').equals(bytes('inp/box2.png')));

  // A mask image: white bottom-right corner of 3×5 pixels (touching tokens (2..3, 3)).
  const m = Buffer.alloc(16 * 16);
  for (let y = 11; y < 16; y++) for (let x = 13; x < 16; x++) m[y * 16 + x] = 255;
  await sharp(m, { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(p('mask.png'));
  const rm = ok(tessera('inpaint', '--model', MG, '--input', 'in.png', '--mask', 'mask.png', '--class', 'b', '--out', 'inp/mask.png'));
  // Token rows 2–3 × column 3, widened by one: rows 1–3 × columns 2–3.
  assert.match(rm.out, /regenerated 6 of 16 tokens/);
  await assertOnlyRegionChanged('inp/mask.png', (x, y) => x >= 13 && y >= 11);
});

test('inpaint rejects bad inputs with one line each', async () => {
  await sharp(Buffer.alloc(16 * 16), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(p('empty-mask.png'));
  const inp = (...a: string[]) => tessera('inpaint', '--model', MG, '--input', 'in.png', '--out', 'bad/out.png', ...a);
  assertError(inp('--box', '4,4,4,4', '--mask', 'mask.png'), 2, /give exactly one of --mask mask\.png or --box x,y,w,h/);
  assertError(inp(), 2, /give exactly one of --mask mask\.png or --box x,y,w,h/);
  assertError(inp('--box', '10,10,8,8'), 2, /--box 10,10,8,8 does not fit inside the 16×16 image/);
  assertError(inp('--box=-1,0,4,4'), 2, /does not fit inside the 16×16 image/);
  for (const bad of ['1,2,3', '1,,2,3', '1.5,2,3,4']) assertError(inp('--box', bad), 2, /--box must be x,y,w,h in whole pixels/);
  assertError(inp('--box', '1,1,0,3'), 2, /--box: width and height must be > 0, got 0×3/);
  assertError(inp('--mask', 'empty-mask.png'), 2, /mask empty-mask\.png is empty: paint the region to regenerate white/);
  assertError(inp('--mask', 'nope.png'), 1, /mask image not found: nope\.png/);
  assertError(tessera('inpaint', '--model', MG, '--input', 'nope.png', '--box', '4,4,4,4', '--out', 'bad/out.png'), 1, /image not found: nope\.png/);
  assertError(tessera('inpaint', '--model', AR, '--input', 'in.png', '--box', '4,4,4,4', '--out', 'bad/out.png'), 2, /is an autoregressive prior; inpainting needs a MaskGIT prior/);
  assertError(inp('--box', '4,4,4,4', '--steps', '2', '--start-step', '2'), 2, /--start-step 2 must be below --steps 2/);
  assert.ok(!existsSync(p('bad', 'out.png')));
});

// ---------------------------------------------------------------- outpaint

test('outpaint grows the canvas by whole tokens and keeps the original away from the seam', async () => {
  const r = ok(tessera('outpaint', '--model', MG, '--input', 'in.png', '--right', '1', '--out', 'out/r.png'));
  assert.match(r.out, /\(20×16 from 16×16; seed 0\)/);
  assert.deepEqual(await pngSize('out/r.png'), [16 + F, 16]);
  ok(tessera('outpaint', '--model', MG, '--input', 'in.png', '--top', '1', '--left', '2', '--out', 'out/tl.png'));
  assert.deepEqual(await pngSize('out/tl.png'), [16 + 2 * F, 16 + F]);
  // The original sits at (2f, f) in the larger image; beyond the band from the new area it is exact.
  const a = await rgb('in.png');
  const b = await rgb('out/tl.png');
  let checked = 0;
  for (let y = BAND; y < 16; y++) {
    for (let x = BAND; x < 16; x++) {
      const i = (y * 16 + x) * 3;
      const j = ((y + F) * b.width + x + 2 * F) * 3;
      assert.deepEqual([...b.data.subarray(j, j + 3)], [...a.data.subarray(i, i + 3)], `pixel (${x}, ${y}) of the original changed`);
      checked++;
    }
  }
  assert.equal(checked, 14 * 14);
  assertError(tessera('outpaint', '--model', MG, '--input', 'in.png', '--out', 'out/z.png'), 2, /give at least one of --top, --right, --bottom, --left/);
  assertError(tessera('outpaint', '--model', MG, '--input', 'in.png', '--top', '0', '--right', '0', '--out', 'out/z.png'), 2, /give at least one of/);
  assertError(tessera('outpaint', '--model', AR, '--input', 'in.png', '--right', '1', '--out', 'out/z.png'), 2, /outpainting needs a MaskGIT prior/);
  assert.ok(!existsSync(p('out', 'z.png')));
});

// ---------------------------------------------------------------- errors

test('model file errors: missing file, a tokenizer or a checkpoint given as a prior', () => {
  assertError(tessera('sample', '--model', 'missing.safetensors', '--out', 'e/x.png'), 1, /model file not found: missing\.safetensors/);
  assertError(tessera('sample', '--model', 'tok.safetensors', '--out', 'e/x.png'), 1, /tok\.safetensors holds a 'vqvae' model, not a prior \(train one with: tessera train prior\)/);
  assertError(tessera('inpaint', '--model', 'tok.safetensors', '--input', 'in.png', '--box', '4,4,4,4', '--out', 'e/x.png'), 1, /not a prior/);
  assertError(tessera('sample', '--model', 'runs/mg/checkpoint.safetensors', '--out', 'e/x.png'), 1, /checkpoint\.safetensors.*not a Tessera model file/);
  assertError(tessera('sample', '--model', MG, '--out', 'e/x.jpg'), 2, /--out must be a \.png file/);
  assertError(tessera('sample', '--model', MG, '--temperature', '0', '--out', 'e/x.png'), 2, /--temperature must be > 0/);
  assert.ok(!existsSync(p('e')));
});

test('--help lists the prior commands', () => {
  const r = ok(tessera('--help'));
  for (const c of ['train prior', 'sample', 'inpaint', 'outpaint']) assert.match(r.out, new RegExp(`^ {2}${c} +\\S`, 'm'), c);
});
