// Tests for the compression codec (src/codec): the rANS coder, the .tsr format, round trips in every
// entropy mode on MNIST and emoji models, any image size, wrong-model/truncation/corruption errors,
// lost-token recovery, and a fuzz of 10,000 damaged streams.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { loadDataset, tensorToImage, readImage, type RawImage } from '../src/data/index.js';
import {
  Codec,
  CodecError,
  RansDecoder,
  RansEncoder,
  crc32,
  fitCodec,
  quantizeFrequencies,
  readStream,
  tileLayout,
  uniformFrequencies,
  writeStream,
} from '../src/codec/index.js';
import { PriorModel } from '../src/priors/index.js';
import { imageToTensor } from '../src/data/images.js';
import { cliSandbox, assertCliError, repoRoot } from './helpers.js';

const model = (name: string): string => join(repoRoot, 'models', `${name}.safetensors`);

/** Deterministic pseudo-random numbers (a test must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('rANS coder', () => {
  test('round trips symbols under changing tables, at about their information content', () => {
    const rnd = lcg(1);
    const tables = Array.from({ length: 5 }, (_, t) =>
      quantizeFrequencies(
        Array.from({ length: 17 + t * 50 }, () => rnd() ** 4),
        16,
      ),
    );
    const syms: [number, number][] = [];
    let info = 0;
    const enc = new RansEncoder();
    for (let i = 0; i < 3000; i++) {
      const t = i % tables.length;
      const f = tables[t]!;
      // Draw from the table's own distribution, so the cost approaches the entropy.
      const u = Math.floor(rnd() * 2 ** 16);
      let s = 0;
      while (f.cum[s + 1]! <= u) s++;
      syms.push([t, s]);
      info += 16 - Math.log2(f.freq[s]!);
      enc.put(f, s);
    }
    const bytes = enc.finish();
    const dec = new RansDecoder(bytes);
    for (const [t, s] of syms) assert.equal(dec.get(tables[t]!), s);
    dec.finish();
    assert.ok(bytes.length * 8 < info + 64, `${bytes.length * 8} bits for ${info.toFixed(0)} bits of information`);
    assert.ok(Math.abs(enc.bits - info) < 1e-6);
  });

  test('frequencies: every symbol codable, exact total, deterministic', () => {
    const f = quantizeFrequencies([0.7, 0, 1e-12, 0.3], 16);
    assert.deepEqual(
      Array.from(f.freq).every((v) => v >= 1),
      true,
    );
    assert.equal(f.cum[4], 2 ** 16);
    assert.deepEqual(quantizeFrequencies([0.7, 0, 1e-12, 0.3], 16).freq, f.freq);
    assert.ok(f.freq[0]! > f.freq[3]!);
    const u = uniformFrequencies(5, 16);
    assert.equal(u.cum[5], 2 ** 16);
    assert.throws(() => quantizeFrequencies([0.5, NaN], 16), CodecError);
  });

  test('truncated and corrupted payloads are detected', () => {
    const f = uniformFrequencies(256);
    const enc = new RansEncoder();
    for (let i = 0; i < 100; i++) enc.put(f, (i * 37) % 256);
    const bytes = enc.finish();
    const decodeAll = (b: Uint8Array): void => {
      const d = new RansDecoder(b);
      for (let i = 0; i < 100; i++) d.get(f);
      d.finish();
    };
    decodeAll(bytes);
    assert.throws(() => decodeAll(bytes.subarray(0, bytes.length - 5)), CodecError);
    assert.throws(() => decodeAll(Uint8Array.from([...bytes, 7])), CodecError);
  });

  test('CRC-32 is the standard one', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  });
});

describe('.tsr format', () => {
  const header = {
    entropy: 'static' as const,
    channels: 3 as const,
    fingerprint: Uint8Array.from([1, 2, 3, 4]),
    width: 45,
    height: 30,
    tile: [28, 28] as [number, number],
    codebookSize: 256,
  };
  const segs = [
    { bytes: Uint8Array.from([9, 9, 9, 9, 1]), crc: 123 },
    { bytes: Uint8Array.from([8, 8, 8, 8]), crc: 456 },
  ];
  test('writes and reads back every field', () => {
    const { header: h, segments } = readStream(writeStream(header, segs));
    assert.deepEqual({ ...h, fingerprint: Array.from(h.fingerprint) }, { ...header, fingerprint: Array.from(header.fingerprint) });
    assert.deepEqual(
      segments.map((s) => [Array.from(s.bytes), s.crc]),
      segs.map((s) => [Array.from(s.bytes), s.crc]),
    );
  });
  test('bad magic, truncation, trailing bytes and forged sizes are one-line errors', () => {
    const b = writeStream(header, segs);
    assert.equal(b.length, 4 + 1 + 4 + 1 + 1 + 1 + 1 + 2 + 1 + 2 * (1 + 4) + 2 + 9);
    assert.throws(() => readStream(b.subarray(0, 12)), /truncated stream: the header ends/);
    assert.throws(() => readStream(Uint8Array.from([0, ...b.subarray(1)])), /bad magic/);
    assert.throws(() => readStream(b.subarray(0, b.length - 1)), /truncated stream/);
    assert.throws(() => readStream(Uint8Array.from([...b, 0])), /after the last segment/);
    // A consistent header (its check bytes match) asking for a billion-pixel image.
    assert.throws(() => readStream(writeStream({ ...header, width: 1 << 30 }, segs)), /oversized image|over the limit/);
    // 4 billion segments announced in a 20-byte file: refused before any allocation.
    const many = Uint8Array.from([...b.subarray(0, 9), 45, 30, 28, 28, 0x80, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert.throws(() => readStream(many), /lists 4294967295 segments/);
    const taller = b.slice();
    taller[10] = 31; // height 30 → 31: a plausible size, but not the one coded
    assert.throws(() => readStream(taller), /corrupt header: its check bytes/);
  });
  test('tiles cover the padded image exactly', () => {
    const l = tileLayout(45, 30, [28, 28], true, 4);
    assert.deepEqual([l.width, l.height, l.tiles.length], [56, 56, 4]);
    const c = tileLayout(300, 45, [256, 256], false, 4);
    assert.deepEqual([c.width, c.height], [300, 48]);
    assert.deepEqual(
      c.tiles.map((t) => [t.x, t.y, t.w, t.h]),
      [
        [0, 0, 256, 48],
        [256, 0, 44, 48],
      ],
    );
  });
});

describe('codec round trips', () => {
  let mnist: RawImage[] = [];
  let fitted = '';
  const tmp = cliSandbox('codec');
  before(async () => {
    const ds = await loadDataset('mnist', { channels: 3, cache: false });
    const { train, val } = ds.split({ valCount: 500 });
    mnist = T.tidy(() => Array.from({ length: 6 }, (_, i) => tensorToImage(T.tensor(val.get(i * 50).image, { shape: [3, 28, 28] }))));
    // Static frequencies for the MNIST AR model from 400 training digits.
    fitted = tmp.p('mnist-ar-codec.safetensors');
    const imgs = train.batch(Array.from({ length: 400 }, (_, i) => i * 20)).images;
    fitCodec(model('mnist-ar'), imgs, fitted);
    imgs.dispose();
  });

  /** The tokens a model gives the image directly (one tile), to compare with what decoding recovers. */
  const directPixels = (codec: Codec, img: RawImage): Uint8Array =>
    T.noGrad(() =>
      T.tidy(() => {
        const x = imageToTensor(img).unsqueeze(0);
        const tok = codec.tokenizer;
        return tensorToImage(tok.decodeLevels(tok.encodeLevels(x)).clamp(-1, 1).select(0, 0)).data;
      }),
    );

  test('MNIST: uniform, static and prior coding decode to the same tokens; prior < static < uniform bits', () => {
    const codec = Codec.load(fitted);
    try {
      const bits: Record<string, number> = { uniform: 0, static: 0, prior: 0 };
      for (const img of mnist) {
        const want = directPixels(codec, img);
        for (const mode of ['uniform', 'static', 'prior'] as const) {
          const r = codec.compress(img, { entropy: mode });
          bits[mode] += r.bytes.length * 8;
          const d = codec.decompress(r.bytes);
          assert.equal(d.header.entropy, mode);
          assert.deepEqual(d.image.data, want, `${mode}: decoded pixels differ from decode(encode(x))`);
        }
      }
      assert.ok(bits.prior! < bits.static! && bits.static! < bits.uniform!, JSON.stringify(bits));
      // 49 tokens of a 256-code book: uniform is exactly 8 bits per token plus the header.
      assert.equal(bits.uniform! / mnist.length, (23 + 49 + 4) * 8);
    } finally {
      codec.dispose();
    }
  });

  test('VQ-VAE-2: both token levels round trip; the bottom is prior-coded given the top', () => {
    const codec = Codec.load(model('mnist-vqvae2'));
    try {
      assert.equal(codec.tokenizer.levels.length, 2);
      const img = mnist[2]!; // 28×28, padded to the model's 32×32 tile
      const u = codec.compress(img, { entropy: 'uniform' });
      const p = codec.compress(img, { entropy: 'prior' });
      assert.ok(p.bytes.length < u.bytes.length, `prior ${p.bytes.length} bytes vs uniform ${u.bytes.length}`);
      assert.deepEqual(codec.decompress(p.bytes).image.data, codec.decompress(u.bytes).image.data);
      assert.equal(u.tokens, 4 * 4 + 8 * 8);
      const d = codec.decompress(u.bytes).image;
      assert.deepEqual([d.width, d.height], [28, 28]);
    } finally {
      codec.dispose();
    }
  });

  test('a tokenizer file codes any image size and restores it exactly', async () => {
    const codec = Codec.load(model('mnist-vqvae'));
    try {
      const img = await readImage(join(repoRoot, 'node_modules/emoji-datasource-google/img/google/64/1f600.png'), { channels: 3 });
      const crop: RawImage = { width: 45, height: 30, channels: 3, data: new Uint8Array(45 * 30 * 3) };
      for (let y = 0; y < 30; y++) crop.data.set(img.data.subarray((y * 64 + 5) * 3, (y * 64 + 50) * 3), y * 45 * 3);
      const r = codec.compress(crop, { entropy: 'uniform' });
      const d = codec.decompress(r.bytes);
      assert.deepEqual([d.image.width, d.image.height, d.image.channels], [45, 30, 3]);
      // Same as reconstructing the edge-padded 48×32 image and cropping.
      assert.ok(r.tokens === 12 * 8);
      assert.throws(() => codec.compress(crop, { entropy: 'prior' }), /prior coding needs a prior model file/);
      assert.throws(() => codec.compress(crop, { entropy: 'static' }), /tessera train codec/);
    } finally {
      codec.dispose();
    }
  });

  test('emoji MoVQ + MaskGIT: multichannel tokens round trip in every mode', async () => {
    const path = tmp.p('emoji-codec.safetensors');
    const ds = await loadDataset('emoji:google', { size: 32, resize: 32, channels: 3, cache: false });
    const { train, val } = ds.split({ valCount: 300 });
    const imgs = train.batch(Array.from({ length: 200 }, (_, i) => i * 10)).images;
    fitCodec(model('emoji-maskgit'), imgs, path);
    imgs.dispose();
    const codec = Codec.load(path);
    try {
      assert.ok(codec.tokenizer.tokensPerPosition > 1);
      const img = T.tidy(() => tensorToImage(T.tensor(val.get(7).image, { shape: [3, 32, 32] })));
      const want = directPixels(codec, img);
      const sizes: number[] = [];
      for (const mode of ['uniform', 'static', 'prior'] as const) {
        const r = codec.compress(img, { entropy: mode });
        sizes.push(r.bytes.length);
        assert.deepEqual(codec.decompress(r.bytes).image.data, want, mode);
      }
      assert.ok(sizes[2]! < sizes[0]!, `prior ${sizes[2]} bytes vs uniform ${sizes[0]}`);
    } finally {
      codec.dispose();
    }
  });

  test('another model, truncation and corruption are one-line errors, never wrong pixels', () => {
    const a = Codec.load(model('mnist-ar'));
    const m = Codec.load(model('mnist-maskgit'));
    try {
      const prior = a.compress(mnist[0]!, { entropy: 'prior' }).bytes;
      assert.throws(() => m.decompress(prior), /compressed with another model/);
      // Uniform coding depends on the tokenizer only: both files hold the same one.
      const uni = a.compress(mnist[0]!, { entropy: 'uniform' }).bytes;
      assert.deepEqual(m.decompress(uni).image.data, a.decompress(uni).image.data);
      assert.throws(() => a.decompress(prior.subarray(0, prior.length - 3)), /truncated stream/);
      const flipped = prior.slice();
      flipped[flipped.length - 2] ^= 0x10;
      assert.throws(() => a.decompress(flipped), /corrupt stream: segment 1 of 1 .*--recover/);
    } finally {
      a.dispose();
      m.dispose();
    }
  });

  test('recovery fills damaged segments and dropped tokens with MaskGIT', () => {
    const a = Codec.load(model('mnist-ar'));
    const rec = PriorModel.load(model('mnist-maskgit'));
    const ar = PriorModel.load(model('mnist-ar'));
    try {
      const bytes = a.compress(mnist[1]!, { entropy: 'uniform' }).bytes;
      const clean = a.decompress(bytes).image.data;
      const g = new T.Generator(3);
      const d = a.decompress(bytes, { recover: rec, drop: 0.3, generator: g });
      assert.ok(d.lost > 5 && d.lost < 30, `${d.lost} of 49 tokens dropped`);
      assert.notDeepEqual(d.image.data, clean);
      const bad = bytes.slice();
      bad[bad.length - 3] ^= 0xff;
      assert.equal(a.decompress(bad, { recover: rec, generator: g }).lost, 49);
      assert.throws(() => a.decompress(bytes, { drop: 0.3 }), /needs a MaskGIT prior/);
      assert.throws(() => a.decompress(bytes, { recover: ar }), /needs a MaskGIT prior/);
    } finally {
      a.dispose();
      rec.dispose();
      ar.dispose();
    }
  });

  test('fuzz: 10,000 mutated or truncated streams decode CRC-verified or fail with one CodecError line', () => {
    const codec = Codec.load(fitted);
    try {
      const rnd = lcg(7);
      const streams = mnist.slice(0, 3).flatMap((img) => (['uniform', 'static'] as const).map((e) => codec.compress(img, { entropy: e }).bytes));
      const good = streams.map((s) => codec.decompress(s).image.data);
      let ok = 0;
      let failed = 0;
      for (let i = 0; i < 10000; i++) {
        const which = i % streams.length;
        let b = streams[which]!.slice();
        const kind = Math.floor(rnd() * 4);
        if (kind === 0) b = b.subarray(0, Math.floor(rnd() * b.length));
        else if (kind === 1) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
        else if (kind === 2) for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        else b = Uint8Array.from([...b.subarray(0, 23), ...Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))]);
        try {
          const d = codec.decompress(b);
          // Decoded: only if it is the original (a mutation the CRC-verified tokens make harmless).
          assert.deepEqual(d.image.data, good[which]);
          ok++;
        } catch (e) {
          if (!(e instanceof CodecError)) throw e;
          assert.ok(!e.message.includes('\n') && e.message.length < 400, e.message);
          failed++;
        }
      }
      assert.equal(ok + failed, 10000);
      assert.ok(failed > 9000, `${failed} failed`);
    } finally {
      codec.dispose();
    }
  });

  test('codebook tiers: train codec fits them, compress picks one by size or target bpp, decoding round trips', () => {
    const t = tmp.tessera;
    let r = t(
      'train',
      'codec',
      '--model',
      model('mnist-vqvae'),
      '--data',
      'mnist',
      '--tiers',
      '64,16',
      '--tier-steps',
      '20',
      '--limit',
      '300',
      '--out',
      'tiered.safetensors',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /code frequencies over 300 images; codebook tiers 64, 16/);
    const codec = Codec.load(tmp.p('tiered.safetensors'));
    try {
      assert.deepEqual(codec.codebookSizes, [256, 64, 16]);
      const img = mnist[3]!;
      const sizes = [256, 64, 16].map((k) => {
        const c = codec.compress(img, { entropy: 'uniform', codebook: k });
        const d = codec.decompress(c.bytes);
        assert.equal(d.header.codebookSize, k);
        const want = T.noGrad(() =>
          T.tidy(() => {
            const tok = codec.tokenizerFor(k);
            const x = imageToTensor(img).unsqueeze(0);
            return tensorToImage(tok.decodeLevels(tok.encodeLevels(x)).clamp(-1, 1).select(0, 0)).data;
          }),
        );
        assert.deepEqual(d.image.data, want, `tier ${k}`);
        // Static coding with the tier's own stored frequencies round trips too.
        assert.deepEqual(codec.decompress(codec.compress(img, { entropy: 'static', codebook: k }).bytes).image.data, want);
        return c.bytes.length;
      });
      assert.ok(sizes[0]! > sizes[1]! && sizes[1]! > sizes[2]!, sizes.join(' > '));
      // A target between the 64- and 16-code rates picks the 64-code tier.
      const target = ((sizes[1]! + 1) * 8) / (28 * 28);
      assert.equal(codec.compress(img, { targetBpp: target }).codebookSize, 64);
      assert.equal(codec.compress(img, { targetBpp: 0.01 }).codebookSize, 16);
      assert.throws(() => codec.compress(img, { codebook: 32 }), /no 32-code tier: its codebook sizes are 256, 64, 16/);
      assert.throws(() => codec.compress(img, { codebook: 16, targetBpp: 1 }), /not both/);
    } finally {
      codec.dispose();
    }
    assertCliError(
      t('train', 'codec', '--model', model('mnist-vqvae2'), '--data', 'mnist', '--tiers', '16', '--out', 'bad.safetensors'),
      1,
      /cannot take codebook tiers/,
    );
    writeFileSync(tmp.p('d.png'), readFileSync(join(repoRoot, 'node_modules/emoji-datasource-google/img/google/64/1f600.png')));
    r = t('compress', '--model', 'tiered.safetensors', '--input', 'd.png', '--out', 'x16.tsr', '--codebook', '16');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /tokens of 16 codes, uniform coding/);
  });

  test('CLI: compress and decompress files, and refuse another model', () => {
    const t = tmp.tessera;
    writeFileSync(tmp.p('x.png'), readFileSync(join(repoRoot, 'node_modules/emoji-datasource-google/img/google/64/1f600.png')));
    let r = t('compress', '--model', model('mnist-ar'), '--input', 'x.png', '--out', 'x.tsr');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /x\.tsr: \d+ bytes, [\d.]+ bpp for a 64×64 image \(\d+ tokens of 256 codes, prior coding\)/);
    r = t('decompress', '--model', model('mnist-ar'), '--input', 'x.tsr', '--out', 'y.png');
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(tmp.p('y.png')));
    assertCliError(t('decompress', '--model', model('mnist-maskgit'), '--input', 'x.tsr', '--out', 'z.png'), 1, /compressed with another model/);
    assert.ok(!existsSync(tmp.p('z.png')));
  });

  test('CLI: a directory round trips into mirror trees; a bad file is reported and the others go on', () => {
    const t = tmp.tessera;
    mkdirSync(tmp.p('in', 'sub'), { recursive: true });
    const src = join(repoRoot, 'node_modules/emoji-datasource-google/img/google/64');
    writeFileSync(tmp.p('in', 'a.png'), readFileSync(join(src, '1f600.png')));
    writeFileSync(tmp.p('in', 'sub', 'b.png'), readFileSync(join(src, '1f601.png')));
    let r = t('compress', '--model', model('mnist-vqvae'), '--input', 'in', '--out', 'streams');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^streams: 2 images, \d+ bytes, [\d.]+ bpp \(uniform coding\)$/m);
    assert.ok(existsSync(tmp.p('streams', 'a.tsr')) && existsSync(tmp.p('streams', 'sub', 'b.tsr')));
    writeFileSync(tmp.p('streams', 'sub', 'c.tsr'), 'not a stream');
    r = t('decompress', '--model', model('mnist-vqvae'), '--input', 'streams', '--out', 'out');
    assert.equal(r.code, 1);
    assert.match(r.out, /^out: 2 of 3 images decoded$/m);
    assert.match(r.err, /^failed sub\/c\.tsr: /m);
    assert.ok(existsSync(tmp.p('out', 'a.png')) && existsSync(tmp.p('out', 'sub', 'b.png')) && !existsSync(tmp.p('out', 'sub', 'c.png')));
  });
});
