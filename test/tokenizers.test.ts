// Tests for src/tokenizers: equivalence of imported taming VQGAN / SBER MoVQ checkpoints with the
// PyTorch reference (tools/fixtures/tokenizers.py), strict key handling, model files, shapes,
// input checks and gradient flow.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { StateDictError } from '../src/nn/index.js';
import { loadSafetensors, loadTorchCheckpoint, readSafetensorsHeader, stateDictFrom, storeModelFileAs } from '../src/io/index.js';
import {
  MoVQ,
  VQGAN,
  VQVAE,
  configFromYaml,
  createTokenizer,
  importMovq,
  importTaming,
  importTokenizer,
  importCheckpoint,
  loadTokenizer,
  parseYaml,
  saveTokenizer,
  YamlError,
  type ConvTokenizer,
  type VQGANConfigInput,
} from '../src/tokenizers/index.js';
import { assertClose, fixturePath } from './helpers.js';

const fx = (name: string): string => fixturePath('tokenizers', name);
const ref = loadSafetensors(fx('reference.safetensors')).tensors;
for (const t of Object.values(ref)) t.keep();
const tmp = mkdtempSync(join(tmpdir(), 'tessera-tokenizers-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const r = (key: string): Tensor => {
  const t = ref[key];
  if (!t) throw new Error(`reference.safetensors has no '${key}'`);
  return t;
};
/** Fixture images: stored as uint8, x = u/127.5 − 1 (exact in float32, as in the reference). */
const images = (prefix: string): Tensor => r(`${prefix}.images_u8`).float().div(127.5).sub(1);
const refKeys = (name: string): string[] =>
  Buffer.from(r(`${name}.keys_u8`).toArray())
    .toString('utf8')
    .split('\n');

/** Writes a variant of a fixture YAML config (text substitution) and returns its path. */
function yamlVariant(base: string, name: string, edits: [string | RegExp, string][]): string {
  let text = readFileSync(fx(base), 'utf8');
  for (const [from, to] of edits) {
    const next = text.replace(from, to);
    assert.notEqual(next, text, `edit ${String(from)} did not apply`);
    text = next;
  }
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const small = (quantizer: VQGANConfigInput['quantizer'] = { type: 'vq', codebookSize: 16 }): VQGANConfigInput => ({
  ddconfig: { ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], resolution: 16, zChannels: 4 },
  embedDim: 4,
  quantizer,
});

// ---------------------------------------------------------------- YAML subset
describe('YAML subset parser', () => {
  test('nested maps, flow and block lists, scalars, comments', () => {
    const doc = parseYaml(
      [
        '# comment',
        'model:',
        '  base_learning_rate: 4.5e-6',
        '  target: taming.models.vqgan.VQModel',
        '  params:',
        '    ch_mult: [ 1,1,2, 2,4]  # trailing comment',
        '    attn:',
        '    - 16',
        '    - 32',
        '    flags: {a: true, b: no, c: ~}',
        "    name: 'it''s # not a comment'",
        '    other: "tab\\tand \\u00e9"',
        '    empty:',
        '    neg: -3',
        '    hex: 0x1F',
        '    big: 1e-6',
        '    ver: 1.0.8',
        '    words: [e5, .5, 1., -2.5E+3, 1_000, 0x1F, .inf, yes, off, Null]',
        '    url: http://example.com/a#b',
        '    nested:',
        '      - name: x',
        '        value: [1, [2, 3]]',
        '      - plain',
        '    multi: [1,',
        '      2, 3]',
        'top: end',
      ].join('\n'),
    );
    assert.deepEqual(doc, {
      model: {
        base_learning_rate: 4.5e-6,
        target: 'taming.models.vqgan.VQModel',
        params: {
          ch_mult: [1, 1, 2, 2, 4],
          attn: [16, 32],
          flags: { a: true, b: false, c: null },
          name: "it's # not a comment",
          other: 'tab\tand é',
          empty: null,
          neg: -3,
          hex: 31,
          big: 1e-6,
          ver: '1.0.8',
          words: ['e5', 0.5, 1, -2500, 1000, 31, Infinity, true, false, null],
          url: 'http://example.com/a#b',
          nested: [{ name: 'x', value: [1, [2, 3]] }, 'plain'],
          multi: [1, 2, 3],
        },
      },
      top: 'end',
    });
  });

  test('the fixture configs parse as PyYAML reads them', () => {
    const taming = parseYaml(readFileSync(fx('taming.yaml'), 'utf8')) as any;
    assert.deepEqual(taming.model.params.ddconfig, {
      double_z: false,
      z_channels: 8,
      resolution: 32,
      in_channels: 3,
      out_ch: 3,
      ch: 32,
      ch_mult: [1, 2],
      num_res_blocks: 1,
      attn_resolutions: [16],
      dropout: 0,
    });
    const movq = parseYaml(readFileSync(fx('movq.yaml'), 'utf8')) as any;
    assert.deepEqual(movq.model.params.ddconfig.ch_mult, [1, 2]);
    assert.equal(movq.ckpt_path, '');
    assert.equal(movq.wandb_project_name, 'movq');
    assert.equal(movq.model.params.monitor, 'val/rec_loss');
  });

  test('unsupported or malformed input fails with the line number', () => {
    const bad: [string, RegExp][] = [
      ['a:\n\tb: 1', /:2: tabs are not allowed/],
      ['a: &x 1', /:1: anchors, aliases and tags/],
      ['a: |\n  text', /:1: block scalars/],
      ['a: 1\na: 2', /:2: duplicate key 'a'/],
      ['a:\n  b: 1\n    c: 2', /:3: bad indentation/],
      ['a: [1, 2', /:1: unterminated flow collection/],
      ['a: 1\n---\nb: 2', /:2: multiple documents/],
      ['a: 1\njust text', /:2: expected 'key: value'/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parseYaml(text, 'cfg.yaml'),
        (e: unknown) => e instanceof YamlError && re.test(e.message) && e.message.startsWith('cfg.yaml:'),
        text,
      );
    }
  });
});

// ---------------------------------------------------------------- config mapping
describe('YAML → Tessera config', () => {
  test('taming ddconfig, n_embed and embed_dim map to the VQGAN config (legacy β placement)', () => {
    const cfg = configFromYaml(parseYaml(readFileSync(fx('taming.yaml'), 'utf8')), 'taming');
    assert.deepEqual(cfg, {
      ddconfig: {
        doubleZ: false,
        zChannels: 8,
        resolution: 32,
        inChannels: 3,
        outCh: 3,
        ch: 32,
        chMult: [1, 2],
        numResBlocks: 1,
        attnResolutions: [16],
        dropout: 0,
      },
      embedDim: 4,
      quantizer: { type: 'vq', codebookSize: 64, beta: 0.25, legacy: true },
    });
  });

  test('unknown architecture keys, foreign targets and missing fields are errors', () => {
    const doc = (dd: string, extra = ''): unknown =>
      parseYaml(`model:\n  target: taming.models.vqgan.VQModel\n  params:\n    embed_dim: 4\n    n_embed: 8\n${extra}    ddconfig: {${dd}}\n`);
    const dd = 'ch: 32, ch_mult: [1], num_res_blocks: 1, attn_resolutions: [], resolution: 8, z_channels: 4';
    assert.throws(() => configFromYaml(doc(`${dd}, attn_type: linear`) as never, 'taming', 'x.yaml'), /x\.yaml: unknown ddconfig key\(s\) attn_type/);
    assert.throws(() => configFromYaml(doc(dd, '    remap: used.npy\n') as never, 'taming'), /remap/);
    assert.throws(() => configFromYaml(parseYaml('model:\n  target: taming.models.vqgan.GumbelVQ\n  params: {}'), 'taming'), /GumbelVQ' is not supported/);
    assert.throws(() => configFromYaml(parseYaml('model:\n  params:\n    ddconfig: {}\n    embed_dim: 4'), 'taming'), /n_embed must be a positive integer/);
    assert.throws(
      () => configFromYaml(parseYaml('model:\n  target: taming.models.vqgan.VQModel\n  params: {}'), 'movq'),
      /expected movqgan\.models\.vqgan\.MOVQ/,
    );
  });
});

// ---------------------------------------------------------------- equivalence with PyTorch
for (const name of ['taming', 'movq'] as const) {
  describe(`${name} import matches the PyTorch reference`, () => {
    const model: ConvTokenizer = name === 'taming' ? importTaming(fx('taming.ckpt'), fx('taming.yaml')) : importMovq(fx('movq.ckpt'), fx('movq.yaml'));
    model.eval();
    after(() => model.dispose());

    test("state-dict keys equal the reference model's, in order", () => {
      assert.deepEqual(model.stateDictKeys(), refKeys(name));
      assert.equal(model.kind, name === 'taming' ? 'vqgan' : 'movq');
      assert.equal(model.downsample, 2);
      assert.equal(model.codebookSize, 64);
    });

    for (const tag of ['square', 'wide']) {
      test(`${tag} images: identical indices, pixels within float32 rounding, same codebook loss`, () => {
        T.tidy(() => {
          const x = images(`${name}.${tag}`);
          const idx = model.encode(x);
          assert.equal(idx.dtype, 'int64');
          assert.ok(T.equal(idx, r(`${name}.${tag}.indices`)), 'indices differ from PyTorch');
          const out = T.noGrad(() => model.forward(x));
          assert.ok(T.equal(out.quant.indices, idx));
          // The latent before quantization, then the pixels: float32 rounding (which this deep a
          // network amplifies to ~1e-4, as PyTorch's own float32-vs-float64 gap shows).
          assertClose(
            T.noGrad(() => model.encodeLatent(x)),
            r(`${name}.${tag}.z`),
            1e-5,
            1e-4,
            'z',
          );
          assertClose(out.recon, r(`${name}.${tag}.recon`), 2e-4, 1e-4, 'recon');
          assertClose(
            T.noGrad(() => model.decode(r(`${name}.${tag}.indices`))),
            r(`${name}.${tag}.recon`),
            2e-4,
            1e-4,
            'decode',
          );
          assertClose(out.quant.loss, r(`${name}.${tag}.qloss`).reshape([]), 1e-8, 1e-5, 'codebook loss');
        });
      });
    }

    test('in float64 the decoded pixels agree to 1e-9', () => {
      const m64 = name === 'taming' ? importTaming(fx('taming.ckpt'), fx('taming.yaml')) : importMovq(fx('movq.ckpt'), fx('movq.yaml'));
      m64.eval().double();
      try {
        T.tidy(() => {
          for (const tag of ['square', 'wide']) {
            const want = r(`${name}.${tag}.recon_f64`);
            assertClose(
              T.noGrad(() => m64.decode(r(`${name}.${tag}.indices`))),
              want,
              1e-9,
              1e-9,
              `${tag} decode f64`,
            );
            assert.ok(T.equal(m64.encode(images(`${name}.${tag}`).double()), r(`${name}.${tag}.indices`)));
          }
        });
      } finally {
        m64.dispose();
      }
    });

    test('channels_last weights and inputs give the same result', () => {
      const cl = name === 'taming' ? importTaming(fx('taming.ckpt'), fx('taming.yaml')) : importMovq(fx('movq.ckpt'), fx('movq.yaml'));
      cl.eval().to('channels_last');
      try {
        T.tidy(() => {
          const x = images(`${name}.square`).contiguous('channels_last');
          assert.ok(T.equal(cl.encode(x), r(`${name}.square.indices`)));
          assertClose(
            T.noGrad(() => cl.forward(x).recon),
            r(`${name}.square.recon`),
            2e-4,
            1e-4,
            'channels_last recon',
          );
        });
      } finally {
        cl.dispose();
      }
    });
  });
}

// ---------------------------------------------------------------- strict checkpoint loading
describe('checkpoint import is strict', () => {
  test('taming: loss.* is dropped explicitly and nothing else', () => {
    const { model, dropped } = importTokenizer('taming', fx('taming.ckpt'), fx('taming.yaml'));
    model.dispose();
    const all = T.tidy(() => Object.keys(stateDictFrom(loadTorchCheckpoint(fx('taming.ckpt')))));
    assert.deepEqual(
      dropped,
      all.filter((k) => k.startsWith('loss.')),
    );
    assert.ok(dropped.includes('loss.discriminator.main.0.weight'));
    assert.ok(dropped.includes('loss.discriminator.main.3.num_batches_tracked'));
    assert.equal(all.length - dropped.length, refKeys('taming').length);
  });

  test('movq: LitEma shadows are dropped; useEma loads them instead of the live weights', () => {
    const live = importTokenizer('movq', fx('movq.ckpt'), fx('movq.yaml'));
    assert.ok(live.dropped.length > 0 && live.dropped.every((k) => k.startsWith('ema_')));
    const ema = importMovq(fx('movq.ckpt'), fx('movq.yaml'), { useEma: true });
    try {
      T.tidy(() => {
        const sd = stateDictFrom(loadTorchCheckpoint(fx('movq.ckpt')));
        for (const key of ['encoder.conv_in.weight', 'decoder.up.0.block.1.norm2.conv_y.weight', 'quantize.embedding.weight']) {
          const emaName = `ema_${key.slice(0, key.indexOf('.'))}.${key.slice(key.indexOf('.') + 1).replaceAll('.', '')}`;
          const got = ema.getSubmodule(key.slice(0, key.lastIndexOf('.'))).getParameter(key.slice(key.lastIndexOf('.') + 1))!;
          assert.ok(T.equal(got, sd[emaName]!), `${key} should hold ${emaName}`);
          const liveP = live.model.getSubmodule(key.slice(0, key.lastIndexOf('.'))).getParameter(key.slice(key.lastIndexOf('.') + 1))!;
          assert.ok(T.equal(liveP, sd[key]!));
          assert.ok(!T.equal(got, liveP));
        }
      });
    } finally {
      ema.dispose();
      live.model.dispose();
    }
    assert.throws(() => importTokenizer('taming', fx('taming.ckpt'), fx('taming.yaml'), { useEma: true }), /MoVQ checkpoints only/);
  });

  test('a config that does not fit the checkpoint: ONE error listing missing and unexpected keys', () => {
    // Two blocks per level and attention at the top level instead of the bottom one.
    const yaml = yamlVariant('taming.yaml', 'wrong-arch.yaml', [
      ['num_res_blocks: 1', 'num_res_blocks: 2'],
      ['attn_resolutions: [16]', 'attn_resolutions: [32]'],
    ]);
    assert.throws(
      () => importTaming(fx('taming.ckpt'), yaml),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        const { missing, unexpected, mismatched } = e.result;
        assert.ok(missing.includes('encoder.down.0.block.1.conv1.weight'), 'second encoder block missing');
        assert.ok(missing.includes('encoder.down.0.attn.0.q.weight'), 'attention at the top level missing');
        assert.ok(missing.includes('decoder.up.1.block.2.norm1.weight'), 'third decoder block missing');
        assert.ok(unexpected.includes('encoder.down.1.attn.0.q.weight'), 'checkpoint attention at the bottom level unexpected');
        assert.equal(mismatched.length, 0);
        assert.ok(!unexpected.some((k) => k.startsWith('loss.')), 'loss.* is dropped, never reported');
        assert.match(e.message, /VQGAN from .*taming\.ckpt/);
        assert.match(e.message, /weights do not match the config: \d+ missing keys: .*encoder\.down\.0\.block\.1\.conv1\.weight/);
        assert.match(e.message, /\d+ unexpected keys?: .*encoder\.down\.1\.attn\.0\.q\.weight/);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      },
    );
  });

  test('a shape mismatch names both shapes', () => {
    const yaml = yamlVariant('taming.yaml', 'wrong-n-embed.yaml', [['n_embed: 64', 'n_embed: 32']]);
    assert.throws(
      () => importTaming(fx('taming.ckpt'), yaml),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        assert.deepEqual(e.result.mismatched, [{ key: 'quantize.embedding.weight', expected: [32, 4], got: [64, 4] }]);
        assert.match(e.message, /1 shape mismatch: quantize\.embedding\.weight is \[64, 4\], expected \[32, 4\]/);
        return true;
      },
    );
  });

  test('an invalid architecture in the YAML names the config file and the field', () => {
    const yaml = yamlVariant('taming.yaml', 'wrong-ch.yaml', [['ch: 32', 'ch: 48']]);
    assert.throws(() => importTaming(fx('taming.ckpt'), yaml), /wrong-ch\.yaml: VQGAN: ddconfig: ch·chMult \(48·1 = 48\) must be a multiple of 32/);
  });

  test('a MoVQ checkpoint imported as taming fails listing the SpatialNorm keys', () => {
    const yaml = yamlVariant('movq.yaml', 'as-taming.yaml', [['movqgan.models.vqgan.MOVQ', 'taming.models.vqgan.VQModel']]);
    assert.throws(
      () => importTaming(fx('movq.ckpt'), yaml),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        assert.ok(e.result.missing.includes('decoder.norm_out.weight'));
        assert.ok(e.result.unexpected.includes('decoder.norm_out.norm_layer.weight'));
        assert.ok(e.result.unexpected.includes('decoder.mid.block_1.norm1.conv_y.weight'));
        // taming checkpoints have no EMA shadows, so these are not dropped silently either.
        assert.ok(e.result.unexpected.includes('ema_encoder.decay'));
        return true;
      },
    );
  });
});

// ---------------------------------------------------------------- model files
describe('Tessera model files', () => {
  test('save → load round trip gives identical outputs (imported VQGAN and MoVQ)', () => {
    for (const name of ['taming', 'movq'] as const) {
      const out = join(tmp, `${name}.safetensors`);
      const model = importCheckpoint({ kind: name, checkpoint: fx(`${name}.ckpt`), config: fx(`${name}.yaml`), out });
      const back = loadTokenizer(out);
      try {
        model.eval();
        back.eval();
        assert.equal(back.kind, model.kind);
        assert.equal(back.constructor, model.constructor);
        assert.deepEqual(back.config, model.config);
        assert.deepEqual(back.stateDictKeys(), model.stateDictKeys());
        T.tidy(() => {
          const x = images(`${name}.square`);
          assert.ok(T.equal(back.encode(x), model.encode(x)));
          assert.ok(
            T.equal(
              T.noGrad(() => back.forward(x).recon),
              T.noGrad(() => model.forward(x).recon),
            ),
          );
        });
      } finally {
        model.dispose();
        back.dispose();
      }
    }
  });

  test('round trip of a freshly built multichannel MoVQ and a VQ-VAE; kind filter', () => {
    T.manualSeed(1);
    const models = [
      new MoVQ({ ...small({ type: 'multichannel', groups: 2, codebookSize: 16 }) }),
      new VQVAE({ ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 1, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } }),
    ];
    for (const m of models) {
      const p = join(tmp, `${m.kind}-fresh.safetensors`);
      saveTokenizer(p, m);
      const back = loadTokenizer(p);
      m.eval();
      back.eval();
      T.tidy(() => {
        const x = T.rand([1, 3, 16, 16]).mul(2).sub(1);
        assert.ok(T.equal(back.encode(x), m.encode(x)));
        assert.ok(
          T.equal(
            T.noGrad(() => back.forward(x).recon),
            T.noGrad(() => m.forward(x).recon),
          ),
        );
      });
      back.dispose();
    }
    assert.throws(() => loadTokenizer(join(tmp, 'vqvae-fresh.safetensors'), { kind: 'movq' }), /holds a "vqvae" model, expected "movq"|holds a 'vqvae' model/);
    for (const m of models) m.dispose();
  });

  test('a model file stored as float16 (tessera convert) is about half the size and loads to nearly the same model', () => {
    T.manualSeed(2);
    const m = new MoVQ({ ...small({ type: 'multichannel', groups: 2, codebookSize: 16 }) });
    const p32 = join(tmp, 'movq-32.safetensors');
    const p16 = join(tmp, 'movq-16.safetensors');
    saveTokenizer(p32, m);
    const r = storeModelFileAs(p32, p16, 'float16');
    assert.deepEqual(r.kept, []);
    assert.ok(r.converted > 10 && r.bytesAfter < 0.6 * r.bytesBefore, `${r.bytesBefore} → ${r.bytesAfter} bytes`);
    const stored = readSafetensorsHeader(p16).tensors;
    assert.ok(Object.values(stored).every((t) => t.dtype !== 'float32'));
    const half = loadTokenizer(p16);
    m.eval();
    half.eval();
    T.tidy(() => {
      const x = T.rand([2, 3, 16, 16]).mul(2).sub(1);
      const a = T.noGrad(() => m.decode(m.encode(x)));
      const b = T.noGrad(() => half.decode(m.encode(x)));
      assert.equal(b.dtype, 'float32');
      const err = b.sub(a).abs().max().item();
      assert.ok(err > 0 && err < 1e-2, `float16 weights changed the decoded pixels by ${err}`);
    });
    // Back to float32: the values are the float16 ones, exactly.
    const back = join(tmp, 'movq-back.safetensors');
    storeModelFileAs(p16, back, 'float32');
    const b32 = loadTokenizer(back);
    T.tidy(() => {
      for (const [k, v] of Object.entries(half.stateDict())) assert.ok(T.equal(v, b32.stateDict()[k]!), k);
    });
    for (const x of [m, half, b32]) x.dispose();
  });
});

// ---------------------------------------------------------------- shapes, checks, gradients
describe('tokenizer shapes and input checks', () => {
  const cases: [string, () => ConvTokenizer, number, number][] = [
    [
      'vqvae',
      () => createTokenizer('vqvae', { ch: 16, resCh: 8, numDownsamples: 2, numResBlocks: 1, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } }),
      4,
      1,
    ],
    ['vqgan', () => createTokenizer('vqgan', small()), 2, 1],
    ['movq', () => createTokenizer('movq', small()), 2, 1],
    ['movq multichannel', () => createTokenizer('movq', small({ type: 'multichannel', groups: 4, codebookSize: 16 })), 2, 4],
    ['vqgan multichannel', () => createTokenizer('vqgan', small({ type: 'multichannel', groups: 2, codebookSize: 16 })), 2, 2],
  ];
  for (const [label, make, f, k] of cases) {
    test(`${label}: encode → decode shapes (f=${f}, ${k} token(s) per position)`, () => {
      const m = make();
      try {
        assert.equal(m.downsample, f);
        assert.equal(m.tokensPerPosition, k);
        assert.equal(m.codebookSize, 16);
        T.tidy(() => {
          const x = T.rand([2, 3, 16, 24]).mul(2).sub(1);
          const idx = m.encode(x);
          assert.deepEqual(idx.shape, k === 1 ? [2, 16 / f, 24 / f] : [2, 16 / f, 24 / f, k]);
          assert.equal(idx.dtype, 'int64');
          assert.ok(idx.min().item() >= 0 && idx.max().item() < 16);
          assert.deepEqual(m.decode(idx).shape, [2, 3, 16, 24]);
          const out = m.forward(x);
          assert.deepEqual(out.recon.shape, [2, 3, 16, 24]);
          assert.deepEqual(out.quant.zq.shape, [2, 4, 16 / f, 24 / f]);
          assert.deepEqual(out.quant.indices.shape, idx.shape);
          // The quantized latent round-trips through the codebook: decode(indices) = forward's recon.
          m.eval();
          assertClose(
            T.noGrad(() => m.decode(idx)),
            T.noGrad(() => m.forward(x).recon),
            1e-5,
            1e-5,
            'decode vs forward',
          );
        });
      } finally {
        m.dispose();
      }
    });
  }

  test('multichannel MoVQ keeps SBER key names; spatial norms see the full recombined latent', () => {
    const single = new MoVQ(small());
    const multi = new MoVQ(small({ type: 'multichannel', groups: 4, codebookSize: 16 }));
    try {
      assert.deepEqual(multi.stateDictKeys(), single.stateDictKeys());
      assert.deepEqual(multi.quantize.getSubmodule('embedding').getParameter('weight')!.shape, [16, 1]);
      // conv_y / conv_b take embedDim = 4 channels, whatever the grouping.
      assert.deepEqual(multi.decoder.norm_out.getSubmodule('conv_y').getParameter('weight')!.shape, [32, 4, 1, 1]);
    } finally {
      single.dispose();
      multi.dispose();
    }
  });

  test('images whose size is not a multiple of the downsampling factor get a clear error', () => {
    const m = createTokenizer('vqgan', { ...small(), ddconfig: { ...small().ddconfig, chMult: [1, 1, 2] } });
    try {
      assert.equal(m.downsample, 4);
      T.tidy(() => {
        assert.throws(
          () => m.encode(T.zeros([1, 3, 30, 32])),
          /VQGAN\.encode: image size 30×32 is not a multiple of the downsampling factor 4; pad or resize to 32×32 \(or crop to 28×32\)/,
        );
        assert.throws(() => m.forward(T.zeros([1, 3, 32, 18])), /VQGAN\.forward: image size 32×18 is not a multiple of the downsampling factor 4/);
        assert.throws(() => m.encode(T.zeros([1, 1, 32, 32])), /expected images \[B, 3, H, W\], got \[1, 1, 32, 32\]/);
        assert.throws(() => m.encode(T.zeros([3, 32, 32])), /expected images \[B, 3, H, W\]/);
        assert.throws(() => m.decode(T.zeros([1, 8, 8, 2], { dtype: 'int64' })), /expected indices \[B, h, w\], got \[1, 8, 8, 2\]/);
        assert.throws(() => m.decode(T.zeros([1, 8, 8], { dtype: 'int32' })), /expected int64 indices/);
      });
    } finally {
      m.dispose();
    }
  });

  test('config errors name the field', () => {
    assert.throws(() => new VQGAN({ ...small(), ddconfig: { ...small().ddconfig, ch: 48 } }), /multiple of 32 \(GroupNorm/);
    assert.throws(() => new VQGAN({ ...small(), quantizer: { type: 'vq', codebookSize: 16, dim: 8 } }), /quantizer\.dim \(8\) must equal embedDim \(4\)/);
    assert.throws(() => new VQGAN({ ...small(), ddconfig: { ...small().ddconfig, doubleZ: true } }), /doubleZ must be false/);
    assert.throws(() => new VQGAN({ ...small(), extra: 1 } as never), /VQGAN: config: unknown key 'extra'/);
    assert.throws(() => new VQGAN({ ...small(), ddconfig: { ...small().ddconfig, chMult: 2 } } as never), /chMult must be a list/);
    assert.throws(() => createTokenizer('nope' as never, {} as never), /unknown kind 'nope'/);
  });
});

describe('gradients', () => {
  for (const [label, make] of [
    ['vqgan', () => new VQGAN(small())],
    ['movq multichannel', () => new MoVQ(small({ type: 'multichannel', groups: 2, codebookSize: 16 }))],
    ['vqvae', () => new VQVAE({ ch: 16, resCh: 8, numDownsamples: 1, numResBlocks: 1, embedDim: 4, quantizer: { type: 'vq', codebookSize: 16 } })],
  ] as [string, () => ConvTokenizer][]) {
    test(`${label}: reconstruction + codebook loss reach the encoder through the quantizer`, () => {
      T.manualSeed(3);
      const m = make();
      try {
        T.tidy(() => {
          const x = T.rand([2, 3, 16, 16]).mul(2).sub(1);
          const out = m.forward(x);
          out.recon.sub(x).abs().mean().add(out.quant.loss).backward();
        });
        const grads = new Map(m.namedParameters().map(([k, p]) => [k, p.grad]));
        const norm = (k: string): number => {
          const g = grads.get(k);
          assert.ok(g, `${k} has no gradient`);
          return T.tidy(() => g.abs().sum().item());
        };
        // Straight-through: the encoder's first layer learns from the reconstruction loss.
        assert.ok(norm(m instanceof VQVAE ? 'encoder.down.0.weight' : 'encoder.conv_in.weight') > 0);
        assert.ok(norm('quant_conv.weight') > 0);
        assert.ok(norm('quantize.embedding.weight') > 0, 'the codebook learns from the codebook loss');
        assert.ok(norm('post_quant_conv.weight') > 0);
        assert.ok(m.lastLayerWeight().grad && T.tidy(() => m.lastLayerWeight().grad!.abs().sum().item()) > 0);
        if (m instanceof MoVQ) assert.ok(norm('decoder.norm_out.conv_y.weight') > 0);
      } finally {
        m.zeroGrad();
        m.dispose();
      }
    });
  }

  test('encode runs without gradients and never trains the codebook', () => {
    const m = new VQGAN(small({ type: 'vq', codebookSize: 16, ema: true }));
    try {
      m.train();
      const before = T.tidy(() => m.quantize.getSubmodule('embedding').getParameter('weight')!.clone().keep());
      T.tidy(() => {
        const idx = m.encode(T.rand([1, 3, 16, 16]));
        assert.equal(idx.requiresGrad, false);
      });
      assert.ok(T.equal(m.quantize.getSubmodule('embedding').getParameter('weight')!, before), 'EMA codebook changed during encode');
      assert.equal(m.quantize.training, true, 'training mode restored');
      before.dispose();
    } finally {
      m.dispose();
    }
  });
});
