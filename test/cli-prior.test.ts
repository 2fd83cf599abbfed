// The prior commands end to end, through the built executable: train prior (files, exact resume,
// refusals, Ctrl-C), sample (files, seeds, classes, KV cache, CFG 1), inpaint (box and mask, pixels
// away from the region untouched, bad inputs), outpaint (whole-token growth) and one-line errors.
// Everything runs on a 40-image 16×16 folder dataset and an untrained tiny VQ-VAE written here,
// with a one-block 32-wide prior trained for 6 steps, so the file takes well under a minute.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import { createTokenizer, saveTokenizer } from '../src/tokenizers/index.js';
import { PriorModel } from '../src/priors/index.js';
import { readImage } from '../src/data/index.js';
import { cliSandbox, assertCliError, interruptCli, type CliRun } from './helpers.js';

const { tmp, env, mainJs, tessera, p } = cliSandbox('cli-prior');
type Run = CliRun;
const bytes = (rel: string): Buffer => readFileSync(p(rel));
/** tessera with extra environment variables (the size limits). */
function tesseraWith(extra: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [mainJs, ...args], { cwd: tmp, encoding: 'utf8', env: { ...env, ...extra } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

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

// ---------------------------------------------------------------- fixtures, built in before()

const TINY = [
  '--tokenizer',
  'tok.safetensors',
  '--data',
  'folder:data',
  '--size',
  '16',
  '--val-count',
  '8',
  '--dim',
  '32',
  '--depth',
  '1',
  '--heads',
  '2',
  '--batch-size',
  '8',
  '--steps',
  '6',
];
const MG = 'runs/mg/model.safetensors';
const AR = 'runs/ar/model.safetensors';
const F = 4; // the tokenizer's downsampling factor
const BAND = 2; // inpaint/outpaint blend band: max(1, round(f / 2))
/** The runs that trained MG and AR, checked by the train tests. */
const trained: Record<'maskgit' | 'ar', Run> = {} as never;

// Everything the tests share is made here, so any test runs alone (--test-name-pattern) too.
before(async () => {
  // Two classes of 20 grey 16×16 images with different patterns (stripes vs. a checker-ish texture).
  for (const [ci, cls] of ['a', 'b'].entries()) {
    mkdirSync(p('data', cls), { recursive: true });
    for (let k = 0; k < 20; k++) {
      const d = Buffer.alloc(16 * 16);
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) d[y * 16 + x] = ci === 0 ? (x * 16 + k * 7) % 256 : (y * 16 + k * 11 + (x ^ y) * 5) % 256;
      }
      await sharp(d, { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toFile(p('data', cls, `${k}.png`));
    }
  }
  // An untrained VQ-VAE (f = 4, 16 codes): a 16 px image is 4×4 tokens. Priors don't care that it
  // reconstructs badly; it only has to tokenize deterministically.
  T.manualSeed(0);
  const tok = createTokenizer('vqvae', { ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 0, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } });
  saveTokenizer(p('tok.safetensors'), tok);
  tok.dispose();
  // A colourful RGB input at the model size (16×16), so inpaint/outpaint never resize it.
  const d = Buffer.alloc(16 * 16 * 3);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const i = (y * 16 + x) * 3;
      [d[i], d[i + 1], d[i + 2]] = [x * 16 + 3, y * 16 + 5, ((x + y) * 97) % 256];
    }
  }
  await sharp(d, { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toFile(p('in.png'));
  // The two priors every sampling test uses (a one-block 32-wide prior trained for 6 steps).
  trained.maskgit = tessera('train', 'prior', '--arch', 'maskgit', ...TINY, '--out', 'runs/mg');
  trained.ar = tessera('train', 'prior', '--arch', 'ar', ...TINY, '--out', 'runs/ar');
  for (const r of Object.values(trained)) assert.equal(r.code, 0, r.err);
});

// ---------------------------------------------------------------- train prior

for (const arch of ['maskgit', 'ar'] as const) {
  test(`train prior --arch ${arch} writes the model, samples, config and log`, async () => {
    const dir = arch === 'ar' ? 'runs/ar' : 'runs/mg';
    const r = ok(trained[arch]);
    assert.match(r.out, new RegExp(`^${arch === 'ar' ? 'autoregressive' : 'MaskGIT'} prior \\([\\d,]+ parameters, 16 tokens per image, 2 classes\\)`, 'm'));
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples-latest.png', 'config.json', 'log.jsonl', 'loss.svg']) {
      assert.ok(existsSync(p(dir, f)), `missing ${f}`);
    }
    const log = readFileSync(p(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    assert.deepEqual(
      log.map((x) => x.step),
      [1, 2, 3, 4, 5, 6],
    );
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
  for (const [arch, dir, ref] of [
    ['ar', 'runs/ar-resume', AR],
    ['maskgit', 'runs/mg-resume', MG],
  ] as const) {
    const first = ok(tessera('train', 'prior', '--arch', arch, ...TINY, '--out', dir, '--stop-after', '3'));
    assert.match(first.out, /stopped at step 3 of 6.*--resume/);
    assert.equal(readFileSync(p(dir, 'log.jsonl'), 'utf8').trim().split('\n').length, 3);
    const second = ok(tessera('train', 'prior', '--out', dir, '--resume'));
    assert.match(second.err, /resumed from .*checkpoint\.safetensors at step 3/);
    assert.ok(bytes(join(dir, 'model.safetensors')).equals(bytes(ref)), `${arch}: model.safetensors differs from the uninterrupted run`);
    const steps = readFileSync(p(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
  }
});

test('--resume refuses training flags; a new run never overwrites an existing one', () => {
  assertError(
    tessera('train', 'prior', '--out', 'runs/ar', '--resume', '--lr', '1e-3'),
    2,
    /--resume: --lr 0\.001 \(saved: 0\.0005\) contradicts the saved run in runs\/ar; drop it/,
  );
  assertError(
    tessera('train', 'prior', '--out', 'runs/ar', '--resume', '--dim', '64', '--flip'),
    2,
    /--resume: --dim 64 \(saved: 32\), --flip \(saved: no --flip\) contradict the saved run in runs\/ar; drop them/,
  );
  const before = bytes(AR);
  assertError(tessera('train', 'prior', '--arch', 'ar', ...TINY, '--out', 'runs/ar'), 2, /runs\/ar already holds a run .*--resume/);
  assert.ok(bytes(AR).equals(before), 'the refused run touched the existing model');
  assertError(tessera('train', 'prior', '--out', 'runs/none', '--resume'), 1, /--resume: no checkpoint in .*runs\/none/);
  assertError(tessera('train', 'prior', '--arch', 'ar', '--out', 'runs/e'), 2, /a new run needs --arch and --tokenizer/);
  assertError(
    tessera('train', 'prior', '--arch', 'ar', ...TINY, '--unconditional', '--class-balance', '1', '--out', 'runs/e'),
    2,
    /--class-balance needs class labels/,
  );
  assertError(tessera('train', 'prior', '--arch', 'ar', ...TINY, '--class-balance', '1.5', '--out', 'runs/e'), 2, /--class-balance/);
});

test('Ctrl-C saves a checkpoint, exits 130 and says how to resume; the resume continues from there', async () => {
  const dir = p('runs', 'sigint');
  const args = [
    ...TINY.filter((a, i) => a !== '--steps' && TINY[i - 1] !== '--steps'),
    '--steps',
    '100000',
    '--checkpoint-every',
    '2',
    '--image-every',
    '100000',
    '--out',
    dir,
  ];
  // Interrupt once training is under way (the first periodic checkpoint exists).
  const { code, err } = await interruptCli({ mainJs, tmp, env }, ['train', 'prior', '--arch', 'ar', ...args], () =>
    existsSync(join(dir, 'checkpoint.safetensors')),
  );
  assert.equal(code, 130, err);
  const m = /interrupted at step (\d+) of 100000; checkpoint saved\. Resume with: tessera train prior --out \S+ --resume/.exec(err);
  assert.ok(m, `no resume hint in:\n${err}`);
  const stopped = Number(m[1]);
  const logged = () =>
    readFileSync(join(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
  assert.deepEqual(
    logged(),
    Array.from({ length: stopped }, (_, i) => i + 1),
  );
  // Continue one step and stop again, then two more; the saved length may only be raised.
  const r = ok(tessera('train', 'prior', '--out', dir, '--resume', '--stop-after', '1'));
  assert.match(r.err, new RegExp(`at step ${stopped}\\b`));
  assert.deepEqual(
    logged(),
    Array.from({ length: stopped + 1 }, (_, i) => i + 1),
  );
  ok(tessera('train', 'prior', '--out', dir, '--resume', '--stop-after', '2'));
  assert.deepEqual(
    logged(),
    Array.from({ length: stopped + 3 }, (_, i) => i + 1),
  );
  assertError(
    tessera('train', 'prior', '--out', dir, '--resume', '--steps', String(stopped + 4)),
    2,
    /--steps \d+ \(saved: 100000; it may only be raised\) contradicts the saved run/,
  );
});

// ---------------------------------------------------------------- sample

test('sample writes a grid and one PNG per image; the same seed gives the same bytes', async () => {
  const r = ok(tessera('sample', '--model', MG, '-n', '5', '--steps', '4', '--out', 'smp/g1.png'));
  assert.match(r.out, /^wrote smp\/g1\.png \(5 images, classes cycled over 2; MaskGIT, 4 steps, no guidance; seed 0; /m);
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
  assertError(
    tessera('sample', '--model', MG, '--class', 'zebra', '--out', 'cls/z.png'),
    2,
    /--class: unknown class 'zebra'; valid classes: 'a', 'b' \(ids 0–1\); see/,
  );
  assertError(tessera('sample', '--model', AR, '--class', '2', '--out', 'cls/z.png'), 2, /--class: class id 2 is out of range \[0, 2\); classes: 'a', 'b'/);
  // A numeric-looking class is an id: -1 is out of range, not the class '1' with its '-' dropped.
  assertError(tessera('sample', '--model', AR, '--class=-1', '--out', 'cls/z.png'), 2, /--class: class id -1 is out of range \[0, 2\)/);
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
        assert.ok(
          same,
          `${outRel}: pixel (${x}, ${y}), ${BAND}+ px from the region, changed: ${[...a.data.subarray(i, i + 3)]} → ${[...b.data.subarray(i, i + 3)]}`,
        );
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
  await sharp(m, { raw: { width: 16, height: 16, channels: 1 } })
    .png()
    .toFile(p('mask.png'));
  const rm = ok(tessera('inpaint', '--model', MG, '--input', 'in.png', '--mask', 'mask.png', '--class', 'b', '--out', 'inp/mask.png'));
  // Token rows 2–3 × column 3, widened by one: rows 1–3 × columns 2–3.
  assert.match(rm.out, /regenerated 6 of 16 tokens/);
  await assertOnlyRegionChanged('inp/mask.png', (x, y) => x >= 13 && y >= 11);
});

test('inpaint rejects bad inputs with one line each', async () => {
  await sharp(Buffer.alloc(16 * 16), { raw: { width: 16, height: 16, channels: 1 } })
    .png()
    .toFile(p('empty-mask.png'));
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
  assertError(
    tessera('inpaint', '--model', AR, '--input', 'in.png', '--box', '4,4,4,4', '--out', 'bad/out.png'),
    2,
    /is an autoregressive prior; inpainting needs a prior that sees the whole image \(MaskGIT\)/,
  );
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
  assertError(
    tessera('outpaint', '--model', AR, '--input', 'in.png', '--right', '1', '--out', 'out/z.png'),
    2,
    /outpainting needs a prior that sees the whole image \(MaskGIT\)/,
  );
  assert.ok(!existsSync(p('out', 'z.png')));
});

// ---------------------------------------------------------------- sampling defaults, memory bounds, outputs

test("sample uses the model file's recommended settings unless flags override, and says so", async () => {
  const { copyFileSync } = await import('node:fs');
  const { writeSamplingDefaults } = await import('../src/priors/index.js');
  copyFileSync(p(MG), p('mg-defaults.safetensors'));
  writeSamplingDefaults(p('mg-defaults.safetensors'), { steps: 3, cfg: 2 });
  const r = ok(tessera('sample', '--model', 'mg-defaults.safetensors', '-n', '4', '--out', 'def/d.png'));
  assert.match(r.out, /MaskGIT, 3 steps, guidance 2 \(steps, guidance from the model file's recommended settings; flags override\)/);
  ok(tessera('sample', '--model', MG, '-n', '4', '--steps', '3', '--cfg', '2', '--out', 'def/explicit.png'));
  assert.ok(bytes('def/d.png').equals(bytes('def/explicit.png')), 'the defaults differ from the same flags given explicitly');
  const o = ok(tessera('sample', '--model', 'mg-defaults.safetensors', '-n', '4', '--steps', '4', '--cfg', '1', '--out', 'def/o.png'));
  assert.match(o.out, /MaskGIT, 4 steps, no guidance;/);
  ok(tessera('sample', '--model', MG, '-n', '4', '--steps', '4', '--out', 'def/plain.png'));
  assert.ok(bytes('def/o.png').equals(bytes('def/plain.png')), 'flags did not override the defaults');
});

test('sample works in --batch-size batches; the image folder holds exactly what the last run wrote', () => {
  const r = ok(tessera('sample', '--model', AR, '-n', '5', '--batch-size', '2', '--out', 'bt/g.png'));
  assert.match(r.out, /5 images/);
  assert.deepEqual(readdirSync(p('bt', 'g')).sort(), ['0000-a.png', '0001-b.png', '0002-a.png', '0003-b.png', '0004-a.png']);
  ok(tessera('sample', '--model', AR, '-n', '5', '--batch-size', '2', '--out', 'bt/g2.png'));
  assert.ok(bytes('bt/g.png').equals(bytes('bt/g2.png')), 'same seed and batch size gave a different grid');
  // A smaller run into the same folder leaves no stale images behind.
  ok(tessera('sample', '--model', AR, '-n', '2', '--class', 'b', '--out', 'bt/g.png'));
  assert.deepEqual(readdirSync(p('bt', 'g')).sort(), ['0000-b.png', '0001-b.png']);
  assert.deepEqual(readdirSync(p('bt')).sort(), ['g', 'g.png', 'g2', 'g2.png'], 'no staging folder left');
});

test('sample refuses outputs it would damage, before writing anything', async () => {
  const { writeFileSync } = await import('node:fs');
  mkdirSync(p('dmg', 'photos'), { recursive: true });
  writeFileSync(p('dmg', 'photos', 'holiday.jpg'), 'not ours');
  writeFileSync(p('dmg', 'x'), 'a file named like the image folder');
  assertError(
    tessera('sample', '--model', AR, '-n', '2', '--out', 'dmg/photos.png'),
    2,
    /the image folder .*photos holds files tessera sample did not write \(holiday\.jpg\); choose another --out/,
  );
  assertError(
    tessera('sample', '--model', AR, '-n', '2', '--out', 'dmg/x.png'),
    2,
    /--out dmg\/x\.png writes its images to the folder .*dmg\/x, but that is a file; choose another --out/,
  );
  assert.deepEqual(readdirSync(p('dmg')).sort(), ['photos', 'x']);
  assert.equal(readFileSync(p('dmg', 'x'), 'utf8'), 'a file named like the image folder');
  assertError(
    tesseraWith({ TESSERA_MAX_SAMPLES: '3' }, 'sample', '--model', AR, '-n', '4', '--out', 'dmg/n.png'),
    1,
    /-n 4 is 4 images, over the limit of 3; set TESSERA_MAX_SAMPLES=4 to allow it/,
  );
  assert.ok(!existsSync(p('dmg', 'n.png')) && !existsSync(p('dmg', 'n')));
});

test('inpaint --mask takes masks of any size in grey, RGB and RGBA', async () => {
  // Grey 32×32 (twice the model size): white bottom-right 6×10 px = the 3×5 px corner of the 16 px image.
  const grey = Buffer.alloc(32 * 32);
  for (let y = 22; y < 32; y++) for (let x = 26; x < 32; x++) grey[y * 32 + x] = 255;
  await sharp(grey, { raw: { width: 32, height: 32, channels: 1 } })
    .png()
    .toFile(p('mask-grey32.png'));
  // RGB 8×8: one white pixel at (7, 7) → the model-size pixels 14–15 × 14–15 → token (3, 3).
  const rgb = Buffer.alloc(8 * 8 * 3);
  rgb.fill(255, (7 * 8 + 7) * 3, (7 * 8 + 7) * 3 + 3);
  // A pure red pixel is dark (luma 76): not part of the region.
  rgb.fill(0, 0, 3);
  rgb[0] = 255;
  await sharp(rgb, { raw: { width: 8, height: 8, channels: 3 } })
    .png()
    .toFile(p('mask-rgb8.png'));
  // RGBA 16×16: opaque white at token (1, 1); white but fully transparent elsewhere (transparent = not painted).
  const rgba = Buffer.alloc(16 * 16 * 4);
  for (let i = 0; i < 16 * 16; i++) rgba.fill(255, i * 4, i * 4 + 3);
  for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) rgba[(y * 16 + x) * 4 + 3] = 255;
  await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } })
    .png()
    .toFile(p('mask-rgba.png'));
  for (const [mask, tokens, region] of [
    ['mask-grey32.png', 6, (x: number, y: number) => x >= 13 && y >= 11],
    ['mask-rgb8.png', 4, (x: number, y: number) => x >= 14 && y >= 14],
    ['mask-rgba.png', 9, (x: number, y: number) => x >= 4 && x < 8 && y >= 4 && y < 8],
  ] as const) {
    const out = `inp/${mask}`;
    const r = ok(tessera('inpaint', '--model', MG, '--input', 'in.png', '--mask', mask, '--out', out));
    assert.match(r.out, new RegExp(`regenerated ${tokens} of 16 tokens`), mask);
    await assertOnlyRegionChanged(out, region);
  }
});

test('outputs never replace inputs without --overwrite', async () => {
  const { copyFileSync, writeFileSync } = await import('node:fs');
  copyFileSync(p('in.png'), p('edit.png'));
  const before = bytes('edit.png');
  assertError(
    tessera('inpaint', '--model', MG, '--input', 'edit.png', '--box', '4,4,4,4', '--out', 'edit.png'),
    2,
    /--out edit\.png is the --input image: writing it would destroy the original; choose another --out or pass --overwrite/,
  );
  assertError(tessera('outpaint', '--model', MG, '--input', 'edit.png', '--right', '1', '--out', './edit.png'), 2, /is the --input image/);
  assertError(tessera('encode', '--model', 'tok.safetensors', '--input', 'edit.png', '--out', 'edit.png'), 2, /is the --input image/);
  assert.ok(bytes('edit.png').equals(before));
  ok(tessera('inpaint', '--model', MG, '--input', 'edit.png', '--box', '4,4,4,4', '--out', 'edit.png', '--overwrite'));
  assert.ok(!bytes('edit.png').equals(before), '--overwrite did not write');
  ok(tessera('encode', '--model', 'tok.safetensors', '--input', 'in.png', '--out', 'tok.json'));
  assertError(tessera('decode', '--model', 'tok.safetensors', '--tokens', 'tok.json', '--out', 'tok.json'), 2, /--out tok\.json is the --tokens file/);
  // reconstruct: a folder into itself, or a file onto itself, is refused and changes nothing.
  mkdirSync(p('orig', 'sub'), { recursive: true });
  copyFileSync(p('in.png'), p('orig', 'a.png'));
  copyFileSync(p('in.png'), p('orig', 'sub', 'b.png'));
  writeFileSync(p('orig', 'notes.txt'), 'keep');
  assertError(
    tessera('reconstruct', '--model', 'tok.safetensors', '--input', 'orig', '--out', 'orig'),
    2,
    /--out orig is the --input folder: the reconstructions would replace the originals; choose another --out or pass --overwrite/,
  );
  assertError(tessera('reconstruct', '--model', 'tok.safetensors', '--input', 'orig/a.png', '--out', 'orig/a.png'), 2, /is the --input image/);
  assert.ok(bytes('orig/a.png').equals(bytes('in.png')) && bytes('orig/sub/b.png').equals(bytes('in.png')));
  // Into another folder: exactly the reconstructions, no staging folder left behind.
  ok(tessera('reconstruct', '--model', 'tok.safetensors', '--input', 'orig', '--out', 'recon'));
  assert.deepEqual(readdirSync(p('recon'), { recursive: true }).map(String).sort(), ['a.png', 'sub', 'sub/b.png']);
  assert.ok(!readdirSync(tmp).some((f) => f.includes('partial')), 'a staging folder was left behind');
  assert.ok(bytes('orig/a.png').equals(bytes('in.png')));
});

test('sizes are checked up front against limits the environment can raise', () => {
  assertError(
    tesseraWith({ TESSERA_MAX_PIXELS: '100' }, 'encode', '--model', 'tok.safetensors', '--input', 'in.png', '--out', 'lim/t.json'),
    1,
    /the 16×16 image is 256 pixels, over the limit of 100; set TESSERA_MAX_PIXELS=256 to allow it/,
  );
  ok(tessera('encode', '--model', 'tok.safetensors', '--input', 'in.png', '--out', 'lim/t.json'));
  assertError(
    tesseraWith({ TESSERA_MAX_GRID: '15' }, 'decode', '--model', 'tok.safetensors', '--tokens', 'lim/t.json', '--out', 'lim/d.png'),
    1,
    /the 4×4 token grid is 16 positions, over the limit of 15; set TESSERA_MAX_GRID=16 to allow it/,
  );
  assertError(
    tesseraWith({ TESSERA_MAX_PIXELS: '255' }, 'decode', '--model', 'tok.safetensors', '--tokens', 'lim/t.json', '--out', 'lim/d.png'),
    1,
    /the decoded 16×16 image is 256 pixels, over the limit of 255/,
  );
  assertError(
    tessera('outpaint', '--model', MG, '--input', 'in.png', '--right', '100000', '--out', 'lim/o.png'),
    1,
    /--right 100000 is 100,000 tokens, over the limit of 64; set TESSERA_MAX_OUTPAINT=100000 to allow it/,
  );
  assertError(
    tesseraWith({ TESSERA_MAX_PIXELS: '300' }, 'outpaint', '--model', MG, '--input', 'in.png', '--right', '1', '--out', 'lim/o.png'),
    1,
    /the outpainted 20×16 image is 320 pixels, over the limit of 300/,
  );
  assert.ok(!existsSync(p('lim', 'd.png')) && !existsSync(p('lim', 'o.png')));
});

// ---------------------------------------------------------------- errors

test('model file errors: missing file, a tokenizer or a checkpoint given as a prior', () => {
  assertError(tessera('sample', '--model', 'missing.safetensors', '--out', 'e/x.png'), 1, /model file not found: missing\.safetensors/);
  assertError(
    tessera('sample', '--model', 'tok.safetensors', '--out', 'e/x.png'),
    1,
    /tok\.safetensors holds a 'vqvae' model, not a prior \(train one with: tessera train prior\)/,
  );
  assertError(tessera('inpaint', '--model', 'tok.safetensors', '--input', 'in.png', '--box', '4,4,4,4', '--out', 'e/x.png'), 1, /not a prior/);
  assertError(tessera('sample', '--model', 'runs/mg/checkpoint.safetensors', '--out', 'e/x.png'), 1, /checkpoint\.safetensors.*not a Tessera model file/);
  assertError(tessera('sample', '--model', MG, '--out', 'e/x.jpg'), 2, /--out must be a \.png file/);
  assertError(tessera('sample', '--model', MG, '--temperature', '0', '--out', 'e/x.png'), 2, /--temperature must be > 0 \(got 0\)/);
  assertError(tessera('sample', '--model', AR, '--steps', '4', '--out', 'e/x.png'), 2, /--steps does not apply to an autoregressive prior/);
  assert.ok(!existsSync(p('e')));
});

test('--help lists the prior commands', () => {
  const r = ok(tessera('--help'));
  for (const c of ['train prior', 'sample', 'inpaint', 'outpaint']) assert.match(r.out, new RegExp(`^ {2}${c} +\\S`, 'm'), c);
});
