// Tests for VQ-VAE-2 (src/tokenizers/vqvae2.ts): the two token levels, import of rosinality's
// checkpoints against a PyTorch reference (tools/fixtures/vqvae2.py), multi-level token files
// through the CLI, training, and the one-line errors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as T from '../src/torch/index.js';
import { VQVAE2, importVqvae2, loadTokenizer, saveTokenizer } from '../src/tokenizers/index.js';
import { assertClose, fixturePath, loadJsonFixture, cliSandbox, assertCliError } from './helpers.js';

interface Fixture {
  config: { inChannels: number; channel: number; nResBlock: number; nResChannel: number; embedDim: number; codebookSize: number };
  keys: string[];
  images: number[];
  imageShape: number[];
  top: number[];
  topShape: number[];
  bottom: number[];
  bottomShape: number[];
  recon: number[];
  reconShape: number[];
}
const fx = loadJsonFixture<Fixture>('tokenizers', 'vqvae2.json');
const images = (): T.Tensor => T.tensor(Float32Array.from(fx.images), { shape: fx.imageShape });

describe('VQVAE2', () => {
  test("rosinality's module and buffer names, with the EMA codebook stored [dim, K]", () => {
    const { codebookSize, ...c } = fx.config;
    const m = new VQVAE2({ ...c, quantizer: { type: 'vq', codebookSize, ema: true } });
    assert.deepEqual(m.stateDictKeys(), fx.keys);
    assert.deepEqual(m.getSubmodule('quantize_t').getBuffer('embed')!.shape, [c.embedDim, codebookSize]);
    assert.deepEqual(
      m.levels.map((l) => [l.name, l.downsample, l.codebookSize]),
      [
        ['top', 8, codebookSize],
        ['bottom', 4, codebookSize],
      ],
    );
  });

  test('import: identical indices on both levels and pixels to float tolerance against the PyTorch reference', () => {
    const { model } = importVqvae2(fixturePath('tokenizers', 'vqvae2.pt'));
    model.eval();
    const [top, bottom] = model.encodeLevels(images());
    assert.deepEqual(top!.shape, fx.topShape);
    assert.deepEqual(bottom!.shape, fx.bottomShape);
    assert.deepEqual(top!.toArray(), fx.top);
    assert.deepEqual(bottom!.toArray(), fx.bottom);
    const recon = model.decodeLevels([top!, bottom!]);
    assertClose(recon, T.tensor(Float32Array.from(fx.recon), { shape: fx.reconShape }), 1e-4, 1e-4);
    // The EMA buffers came through transposed views: the codebook the lookup uses is the checkpoint's embed.
    assert.deepEqual(model.config.quantizer, { type: 'vq', codebookSize: 32, beta: 0.25, ema: { decay: 0.99, eps: 1e-5 }, dim: 8, layout: 'vqvae2' });
  });

  test('a saved model file loads back with the same tokens; encode/decode name the level API', () => {
    const { model } = importVqvae2(fixturePath('tokenizers', 'vqvae2.pt'));
    const { p } = cliSandbox('vqvae2-file');
    saveTokenizer(p('m.safetensors'), model);
    const back = loadTokenizer(p('m.safetensors'));
    const a = model.encodeLevels(images());
    const b = back.encodeLevels(images());
    assert.deepEqual(
      a.map((t) => t.toArray()),
      b.map((t) => t.toArray()),
    );
    assert.throws(() => model.encode(images()), /VQ-VAE-2 has two token levels \(top, bottom\): use encodeLevels/);
    assert.throws(() => model.decodeLevels([a[0]!]), /expected 2 token levels/);
    assert.throws(() => model.decodeLevels([a[0]!, a[0]!]), /the bottom grid \[2, 4, 4\] must be twice the top grid 4×4/);
  });

  test('training forward: both levels quantized, the loss sums their commitment terms, EMA moves both codebooks', () => {
    T.manualSeed(0);
    const m = new VQVAE2({ inChannels: 1, channel: 8, nResBlock: 1, nResChannel: 4, embedDim: 4, quantizer: { type: 'vq', codebookSize: 8, ema: true } });
    const before = [m.quantize_t, m.quantize_b].map((q) => q.getBuffer('embed')!.clone());
    const x = T.rand([2, 1, 16, 16]).mul(2).sub(1);
    const out = m.forward(x);
    assert.deepEqual(out.recon.shape, [2, 1, 16, 16]);
    assert.equal(out.quant.stats.perCodebook?.length, 2);
    assert.ok(out.quant.loss.item() > 0);
    [m.quantize_t, m.quantize_b].forEach((q, i) => assert.ok(!T.equal(q.getBuffer('embed')!, before[i]!), `level ${i} codebook updated`));
    // Encoding never updates the codebooks.
    const frozen = m.quantize_b.getBuffer('embed')!.clone();
    m.encodeLevels(x);
    assert.ok(T.equal(m.quantize_b.getBuffer('embed')!, frozen));
  });

  test('config errors are one clear line', () => {
    assert.throws(() => new VQVAE2({ channel: 15 }), /VQVAE2: channel must be even/);
    assert.throws(() => new VQVAE2({ chanel: 16 } as never), /unknown key 'chanel'.*channel/);
    assert.throws(
      () => new VQVAE2({ quantizer: { type: 'vq', codebookSize: 8, layout: 'vqvae2' } }),
      /layout 'vqvae2' is rosinality's EMA codebook: it needs ema/,
    );
  });
});

describe('VQ-VAE-2 through the CLI', () => {
  const { tessera, p } = cliSandbox('vqvae2-cli');
  const ok = (r: ReturnType<typeof tessera>) => {
    assert.equal(r.code, 0, r.err);
    return r;
  };

  test('import, then encode → a two-level token file → decode round trip; bad token files and PixelSNAIL get one line', () => {
    const r = ok(tessera('import', 'vqvae2', '--checkpoint', fixturePath('tokenizers', 'vqvae2.pt'), '--out', 'v2.safetensors'));
    assert.match(r.out, /VQ-VAE-2 \(channel 16, 1 residual blocks of 8, 8-d codes, top f8 32 codes, bottom f4 32 codes\)/);
    assertCliError(
      tessera('import', 'vqvae2', '--checkpoint', fixturePath('tokenizers', 'pixelsnail_top.pt'), '--out', 'x.safetensors'),
      1,
      /this is a PixelSNAIL prior checkpoint .*not a VQ-VAE-2 tokenizer/,
    );
    // An image: the fixture's first input, written as PNG through decode of its own tokens.
    const model = loadTokenizer(p('v2.safetensors'));
    const [top, bottom] = model.encodeLevels(images().narrow(0, 0, 1));
    const doc = {
      levels: [
        { name: 'top', shape: [4, 4], indices: top!.toArray() },
        { name: 'bottom', shape: [8, 8], indices: bottom!.toArray() },
      ],
    };
    writeFileSync(p('t.json'), JSON.stringify(doc));
    ok(tessera('decode', '--model', 'v2.safetensors', '--tokens', 't.json', '--out', 'd.png'));
    const e = ok(tessera('encode', '--model', 'v2.safetensors', '--input', 'd.png', '--out', 't2.json'));
    assert.match(e.out, /t2\.json: top 4×4 tokens \(ids in \[0, 32\)\) \+ bottom 8×8 tokens \(ids in \[0, 32\)\) for a 32×32 image/);
    const back = JSON.parse(readFileSync(p('t2.json'), 'utf8')) as typeof doc;
    assert.deepEqual(
      back.levels.map((l) => [l.name, l.shape]),
      [
        ['top', [4, 4]],
        ['bottom', [8, 8]],
      ],
    );
    const d2 = ok(tessera('decode', '--model', 'v2.safetensors', '--tokens', 't2.json', '--out', 'd2.png'));
    assert.match(d2.out, /32×32 image from top 4×4 \+ bottom 8×8 tokens/);
    // A level missing, and a bottom grid that disagrees with the top.
    writeFileSync(p('bad1.json'), JSON.stringify({ levels: [doc.levels[0]] }));
    assertCliError(
      tessera('decode', '--model', 'v2.safetensors', '--tokens', 'bad1.json', '--out', 'x.png'),
      1,
      /bad1\.json: level 'bottom' missing; this model's levels are "top", "bottom"/,
    );
    writeFileSync(p('bad2.json'), JSON.stringify({ levels: [doc.levels[0], { name: 'bottom', shape: [6, 6], indices: Array(36).fill(0) }] }));
    assertCliError(
      tessera('decode', '--model', 'v2.safetensors', '--tokens', 'bad2.json', '--out', 'x.png'),
      1,
      /bad2\.json: the bottom grid 6×6 disagrees with the top grid 4×4: for a 32×32 image it must be 8×8/,
    );
    // A single-level file for a two-level model.
    writeFileSync(p('bad3.json'), JSON.stringify({ shape: [4, 4], indices: Array(16).fill(0) }));
    assertCliError(tessera('decode', '--model', 'v2.safetensors', '--tokens', 'bad3.json', '--out', 'x.png'), 1, /this model has 2 token levels/);
    // eval tokenizer reports both levels' codebook use.
    const ev = ok(tessera('eval', 'tokenizer', '--model', 'v2.safetensors', '--data', 'mnist', '--size', '32', '--limit', '16', '--no-rfid'));
    assert.match(ev.out, /codebook top +\d+ of 32 codes used/);
    assert.match(ev.out, /codebook bottom +\d+ of 32 codes used/);
  });

  test('train tokenizer --arch vqvae2 runs, writes a model that encodes to two levels, and refuses another --downsample', () => {
    const args = [
      'train',
      'tokenizer',
      '--arch',
      'vqvae2',
      '--data',
      'mnist',
      '--size',
      '16',
      '--ch',
      '8',
      '--codebook-size',
      '16',
      '--steps',
      '3',
      '--batch-size',
      '4',
      '--val-count',
      '8',
    ];
    ok(tessera(...args, '--out', 'run'));
    const m = loadTokenizer(p('run', 'model.safetensors'));
    assert.equal(m.kind, 'vqvae2');
    const lv = m.encodeLevels(T.zeros([1, 3, 16, 16]));
    assert.deepEqual(
      lv.map((t) => t.shape),
      [
        [1, 2, 2],
        [1, 4, 4],
      ],
    );
    assertCliError(tessera(...args, '--downsample', '4', '--out', 'run2'), 2, /--arch vqvae2 has fixed factors \(top 8, bottom 4\)/);
  });
});
