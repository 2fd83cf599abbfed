// Tests for ViT-VQGAN (src/tokenizers/vitvqgan.ts): shapes, presets, l2-normalised factorized codes,
// the tanh-FFN placement switch, config errors, import parity with the PyTorch reference
// (tools/fixtures/vitvqgan.py), the logit-Laplace NLL, the R1 penalty and a CLI train step.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { StateDictError } from '../src/nn/index.js';
import { loadSafetensors } from '../src/io/index.js';
import { ConfigError } from '../src/io/validate.js';
import {
  ViTVQGAN,
  vitvqganPreset,
  resolveViTVQGANConfig,
  importTokenizer,
  importVitvqgan,
  loadTokenizer,
  saveTokenizer,
  createTokenizer,
  parseYaml,
  vitvqConfigFromYaml,
  vitvqKey,
  type ViTVQGANConfigInput,
} from '../src/tokenizers/index.js';
import { logitLaplaceNll, r1Penalty, StyleGAN2Discriminator, VQGANLoss } from '../src/losses/index.js';
import { assertClose, cliSandbox, fixturePath } from './helpers.js';

const fx = (name: string): string => fixturePath('tokenizers', name);
const ref = loadSafetensors(fx('vitvqgan-reference.safetensors')).tensors;
for (const t of Object.values(ref)) t.keep();
const r = (key: string): Tensor => {
  const t = ref[key];
  if (!t) throw new Error(`vitvqgan-reference.safetensors has no '${key}'`);
  return t;
};
const tmp = mkdtempSync(join(tmpdir(), 'tessera-vitvqgan-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TINY: ViTVQGANConfigInput = {
  imageSize: 16,
  patchSize: 4,
  encoder: { dim: 32, depth: 1, heads: 2, mlpDim: 64 },
  decoder: { dim: 32, depth: 1, heads: 2, mlpDim: 64 },
  codeDim: 8,
  quantizer: { type: 'vq', codebookSize: 32, l2Normalize: true },
};

describe('ViTVQGAN model', () => {
  test('shapes: encode → [B, h, w], decode → [B, 3, H, W], forward keeps them', () => {
    T.tidy(() => {
      const m = new ViTVQGAN(TINY);
      const x = T.rand([2, 3, 16, 16]).mul(2).sub(1);
      const idx = m.encode(x);
      assert.deepEqual(idx.shape, [2, 4, 4]);
      assert.equal(idx.dtype, 'int64');
      assert.deepEqual(m.decode(idx).shape, [2, 3, 16, 16]);
      const out = m.forward(x);
      assert.deepEqual(out.recon.shape, [2, 3, 16, 16]);
      assert.ok(T.equal(out.quant.indices, idx));
      assert.equal(out.logitLaplace, undefined);
      assert.equal(m.downsample, 4);
      assert.deepEqual(m.levels, [{ name: 'tokens', downsample: 4, codebookSize: 32, tokensPerPosition: 1 }]);
      // Decoding the indices gives forward's reconstruction (the straight-through value is the code).
      assertClose(
        T.noGrad(() => m.decode(idx)),
        T.noGrad(() => m.forward(x).recon),
        1e-5,
        1e-5,
        'decode vs forward',
      );
      m.dispose();
    });
  });

  test('presets: the paper sizes and the CPU ones', () => {
    const s = resolveViTVQGANConfig(vitvqganPreset('small'));
    assert.deepEqual([s.encoder.dim, s.encoder.depth, s.encoder.heads, s.encoder.mlpDim], [512, 8, 8, 2048]);
    const b = resolveViTVQGANConfig(vitvqganPreset('base'));
    assert.deepEqual([b.encoder.dim, b.encoder.depth, b.encoder.heads, b.encoder.mlpDim, b.codeDim, b.quantizer.codebookSize], [768, 12, 12, 3072, 32, 8192]);
    assert.equal(b.imageSize / b.patchSize, 32);
    const c = resolveViTVQGANConfig(vitvqganPreset('cpu-64'));
    assert.equal(c.imageSize / c.patchSize, 8);
    const t = resolveViTVQGANConfig(vitvqganPreset('tiny-32', { codebookSize: 64 }));
    assert.equal(t.imageSize / t.patchSize, 4);
    assert.equal(t.quantizer.codebookSize, 64);
    T.tidy(() => {
      const m = new ViTVQGAN(vitvqganPreset('tiny-32'));
      assert.deepEqual(m.encode(T.zeros([1, 3, 32, 32])).shape, [1, 4, 4]);
      m.dispose();
    });
  });

  test('codes are factorized and l2-normalised: lookup vectors have unit norm in codeDim dimensions', () => {
    T.tidy(() => {
      const m = new ViTVQGAN(TINY);
      const q = m.quantize as unknown as { indicesToCodes(i: Tensor): Tensor; codebookDim: number };
      assert.equal(q.codebookDim, 8);
      const codes = q.indicesToCodes(T.arange(0, 32, 1, { dtype: 'int64' }));
      assertClose(codes.norm(2, [-1]), T.ones([32]), 1e-5, 1e-5, 'code norms');
      // The quantized latent fed to post_quant is the unit code itself.
      const x = T.rand([1, 3, 16, 16]);
      const zq = T.noGrad(() => m.quantize.quantize(m.encodeLatent(x)).zq);
      assertClose(zq.norm(2, [1]), T.ones([1, 4, 4]), 1e-5, 1e-5, 'zq norms');
      // Gradients reach the encoder through the straight-through estimator.
      const out = m.forward(x);
      out.recon.square().mean().add(out.quant.loss).backward();
      const g = m.encoder.to_patch_embedding.at(0).weight.grad;
      assert.ok(g && g.abs().sum().item() > 0, 'no gradient at the patch embedding');
      m.dispose();
    });
  });

  test("tanhFfn switch: 'output' adds transformer.out_ffn and GELU blocks; 'every-block' has none", () => {
    const paper = new ViTVQGAN(TINY);
    const port = new ViTVQGAN({ ...TINY, tanhFfn: 'every-block' });
    const pk = paper.stateDictKeys();
    const ok = port.stateDictKeys();
    assert.ok(pk.includes('encoder.transformer.out_ffn.net.0.weight') && pk.includes('decoder.transformer.out_ffn.net.2.bias'));
    assert.ok(!ok.some((k) => k.includes('out_ffn')));
    assert.deepEqual(
      pk.filter((k) => !k.includes('out_ffn')),
      ok,
    );
    const ff = (m: ViTVQGAN) => (m.encoder.transformer.layers.at(0).at(1) as unknown as { fn: { activation: string } }).fn.activation;
    assert.equal(ff(paper), 'gelu');
    assert.equal(ff(port), 'tanh');
    paper.dispose();
    port.dispose();
  });

  test('config errors: one clear message each', () => {
    assert.throws(
      () => new ViTVQGAN({ ...TINY, patchSize: 5 }),
      (e: Error) => e instanceof ConfigError && /patchSize 5 does not divide imageSize 16/.test(e.message),
    );
    assert.throws(
      () => new ViTVQGAN({ ...TINY, codeDim: 64 }),
      (e: Error) => e instanceof ConfigError && /codeDim \(lookup dimension\) 64 is larger than the encoder width 32/.test(e.message),
    );
    assert.throws(() => new ViTVQGAN({ ...TINY, tanhFfn: 'middle' as never }), /tanhFfn/);
    assert.throws(() => new ViTVQGAN({ ...TINY, encoder: { ...TINY.encoder, heads: 3 } }), /dim \(32\) must be divisible by heads \(3\)/);
    assert.throws(() => new ViTVQGAN({ ...TINY, patchsize: 4 } as never), /unknown key 'patchsize'/);
    T.tidy(() => {
      const m = new ViTVQGAN(TINY);
      assert.throws(() => m.encode(T.zeros([1, 3, 32, 32])), /position embeddings are for 16×16 images, got 32×32/);
      m.dispose();
    });
  });

  test('logitLaplace: the decoder outputs μ and ln b (2·C channels), recon is the centre in [-1, 1]', () => {
    T.tidy(() => {
      const m = new ViTVQGAN({ ...TINY, logitLaplace: true });
      assert.deepEqual(m.decoder.conv.weight.shape, [32, 6, 4, 4]);
      const out = T.noGrad(() => m.forward(T.rand([2, 3, 16, 16])));
      assert.deepEqual(out.logitLaplace!.mu.shape, [2, 3, 16, 16]);
      assert.deepEqual(out.logitLaplace!.logScale.shape, [2, 3, 16, 16]);
      // recon = (sigmoid(μ) − ε)/(1 − 2ε)·2 − 1
      const want = out.logitLaplace!.mu.sigmoid().sub(0.1).div(0.8).mul(2).sub(1);
      assertClose(out.recon, want, 1e-6, 1e-6, 'recon from μ');
      m.dispose();
    });
  });

  test('model file round trip', () => {
    const m = new ViTVQGAN({ ...TINY, logitLaplace: true });
    const path = join(tmp, 'vit.safetensors');
    saveTokenizer(path, m);
    const back = loadTokenizer(path, { kind: 'vitvqgan' });
    T.tidy(() => {
      const x = T.rand([1, 3, 16, 16]).mul(2).sub(1);
      assert.ok(T.equal(m.encode(x), back.encode(x)));
    });
    const made = createTokenizer('vitvqgan', TINY);
    assert.equal(made.kind, 'vitvqgan');
    for (const t of [m, back, made]) t.dispose();
  });
});

describe('import vitvqgan (thuanz123/enhancing-transformers) matches the PyTorch reference', () => {
  const { model, dropped } = importTokenizer('vitvqgan', fx('vitvqgan.ckpt'), fx('vitvqgan.yaml'));
  model.eval();
  after(() => model.dispose());

  test('config: every-block tanh, [0, 1] boundary, 64-wide heads, loss.* dropped by name', () => {
    assert.equal(model.config.tanhFfn, 'every-block');
    assert.equal(model.config.pixelRange, 'unit');
    assert.equal(model.config.encoder.headDim, 64);
    assert.equal(model.config.decoder.depth, 1);
    assert.deepEqual(dropped, ['loss.discriminator.convs.0.0.weight', 'loss.perceptual_loss.lin0.model.1.weight']);
  });

  test('identical indices; latent and pixels within float32 rounding; decode of the indices too', () => {
    T.tidy(() => {
      const x = r('x');
      assert.ok(T.equal(model.encode(x), r('indices')), 'indices differ from PyTorch');
      assertClose(
        T.noGrad(() => model.encodeLatent(x)),
        r('z'),
        1e-5,
        1e-4,
        'z',
      );
      const out = T.noGrad(() => model.forward(x));
      assertClose(out.recon, r('recon'), 1e-5, 1e-4, 'recon');
      assertClose(
        T.noGrad(() => model.decode(r('indices'))),
        r('recon'),
        1e-5,
        1e-4,
        'decode',
      );
      // The decoder position embedding matters: without it the pixels are different.
      assert.ok(out.recon.sub(r('recon_no_de_pos')).abs().max().item() > 1e-2);
    });
  });

  test("the port's older layouts: hparams/qparams YAML, encoder.norm and to_pixel.conv_out keys", () => {
    const old = parseYaml(
      'model:\n  target: enhancing.modules.stage1.vitvqgan.ViTVQ\n  params:\n    image_key: image\n    hparams:\n      image_size: 256\n      patch_size: 8\n      dim: 768\n      depth: 12\n      heads: 12\n      mlp_dim: 3072\n    qparams:\n      embed_dim: 32\n      n_embed: 8192\n',
    );
    const c = resolveViTVQGANConfig(vitvqConfigFromYaml(old));
    assert.deepEqual(
      [c.imageSize, c.patchSize, c.encoder.dim, c.decoder.depth, c.encoder.headDim, c.codeDim, c.quantizer.codebookSize],
      [256, 8, 768, 12, 64, 32, 8192],
    );
    assert.equal(vitvqKey('encoder.norm.weight'), 'encoder.transformer.norm.weight');
    assert.equal(vitvqKey('decoder.norm.bias'), 'decoder.transformer.norm.bias');
    assert.equal(vitvqKey('decoder.to_pixel.conv_out.weight'), 'decoder.to_pixel.1.weight');
    assert.equal(vitvqKey('quantizer.embedding.weight'), 'quantize.embedding.weight');
    assert.equal(vitvqKey('pre_quant.weight'), 'pre_quant.weight');
  });

  test('a wrong config lists every missing / unexpected key in one StateDictError', () => {
    const yaml = readFileSync(fx('vitvqgan.yaml'), 'utf8').replace(/decoder:\n(\s+)dim: 16\n(\s+)depth: 1/, 'decoder:\n$1dim: 16\n$2depth: 2');
    assert.notEqual(yaml, readFileSync(fx('vitvqgan.yaml'), 'utf8'));
    const p = join(tmp, 'deeper.yaml');
    writeFileSync(p, yaml);
    assert.throws(
      () => importVitvqgan(fx('vitvqgan.ckpt'), p),
      (e: Error) =>
        e instanceof StateDictError &&
        /decoder\.transformer\.layers\.1\.0\.norm\.weight/.test(e.message) &&
        /decoder\.transformer\.layers\.1\.1\.fn\.net\.2\.bias/.test(e.message),
    );
    const bad = join(tmp, 'gumbel.yaml');
    writeFileSync(
      bad,
      readFileSync(fx('vitvqgan.yaml'), 'utf8').replace('enhancing.modules.stage1.vitvqgan.ViTVQ', 'enhancing.modules.stage1.vitvqgan.ViTVQGumbel'),
    );
    assert.throws(() => importVitvqgan(fx('vitvqgan.ckpt'), bad), /model\.target .*ViTVQGumbel.* is not supported/);
  });
});

describe('ViT-VQGAN losses', () => {
  test('logit-Laplace NLL equals the PyTorch value (DALL-E A.3, ε = 0.1) and a hand-computed one', () => {
    const nll = logitLaplaceNll(r('ll.target'), r('ll.mu'), r('ll.logb')).item();
    assert.ok(Math.abs(nll - r('ll.nll').item()) < 1e-12, `${nll} vs ${r('ll.nll').item()}`);
    // One value by hand: x = 0 → mapped 0.5, logit 0; μ = 1, ln b = 0 → ln(2·1·0.25) + |0 − 1| = ln 0.5 + 1.
    const one = logitLaplaceNll(T.tensor([0], { dtype: 'float64' }), T.tensor([1], { dtype: 'float64' }), T.tensor([0], { dtype: 'float64' })).item();
    assert.ok(Math.abs(one - (Math.log(0.5) + 1)) < 1e-12, String(one));
  });

  test('R1 penalty: (γ/2)·E‖∇D‖², with gradients to the discriminator (createGraph)', () => {
    T.tidy(() => {
      // D(x) = Σ w·x² per image → ∇ = 2w·x, ‖∇‖² = 4 Σ w²x².
      const w = T.tensor([0.5, -1.5], { requiresGrad: true });
      const D = { forward: (x: Tensor) => x.square().mul(w).sum([1], true) };
      const x = T.tensor([
        [1, 2],
        [3, -1],
      ]);
      const pen = r1Penalty(D, x, 10);
      const want = (10 / 2) * ((4 * (0.25 * 1 + 2.25 * 4) + 4 * (0.25 * 9 + 2.25 * 1)) / 2);
      assert.ok(Math.abs(pen.item() - want) < 1e-4, `${pen.item()} vs ${want}`);
      pen.backward();
      // d/dw of 5·mean(4 Σ w²x²) = 5·mean(8 w x²)
      assertClose(w.grad!, T.tensor([5 * ((8 * 0.5 * 1 + 8 * 0.5 * 9) / 2), 5 * ((8 * -1.5 * 4 + 8 * -1.5 * 1) / 2)]), 1e-4, 1e-5, 'dR1/dw');
    });
  });

  test('StyleGAN2 discriminator: one logit per image; the paper recipe runs a generator and a discriminator step', () => {
    T.tidy(() => {
      const d = new StyleGAN2Discriminator({ size: 16, channels: 8 });
      assert.deepEqual(d.forward(T.rand([3, 3, 16, 16])).shape, [3, 1]);
      const m = new ViTVQGAN({ ...TINY, logitLaplace: true });
      const loss = new VQGANLoss(
        {
          recLoss: 'l2',
          perceptualWeight: 0.1,
          logLaplaceWeight: 0.1,
          adaptiveWeight: false,
          discWeight: 0.1,
          discArch: 'stylegan2',
          discImageSize: 16,
          discNdf: 8,
          r1Gamma: 10,
          r1Every: 1,
          discStart: 0,
        },
        { perceptual: null },
      );
      const x = T.rand([2, 3, 16, 16]).mul(2).sub(1);
      const out = m.forward(x);
      const g = loss.generatorLoss({ inputs: x, recon: out.recon, qloss: out.quant.loss, globalStep: 0, logitLaplace: out.logitLaplace });
      // nll = mean((x − x̂)²) + 0.1·logit-Laplace; total adds 0.1·GAN and the VQ loss.
      assert.ok(Math.abs(g.log.nll - (g.log.rec + 0.1 * g.log.ll)) < 1e-5);
      assert.ok(Math.abs(g.log.total - (g.log.nll + 0.1 * g.log.g + g.log.q)) < 1e-5);
      g.loss.backward();
      const dl = loss.discriminatorLoss({ inputs: x, recon: out.recon.detach(), globalStep: 0 });
      assert.ok(dl.log.r1 > 0, 'R1 applied');
      dl.loss.backward();
      assert.throws(
        () => loss.generatorLoss({ inputs: x, recon: out.recon, qloss: out.quant.loss, globalStep: 0 }),
        /logLaplaceWeight > 0 needs a decoder that predicts the logit-Laplace/,
      );
      m.dispose();
      loss.dispose();
    });
  });
});

describe('CLI', () => {
  const { tessera, p } = cliSandbox('vitvqgan');
  test('train tokenizer --arch vitvqgan runs a couple of steps (GAN, R1, logit-Laplace) and eval reads it', () => {
    const run = tessera(
      'train',
      'tokenizer',
      '--arch',
      'vitvqgan',
      '--data',
      'mnist',
      '--size',
      '16',
      '--downsample',
      '4',
      '--ch',
      '16',
      '--codebook-size',
      '32',
      '--steps',
      '3',
      '--batch-size',
      '4',
      '--disc-start',
      '1',
      '--val-count',
      '8',
      '--out',
      'runs/v',
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /vitvqgan .*4×4 tokens per image/);
    const log = readFileSync(p('runs', 'v', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const last = log.filter((l) => l.step !== undefined).at(-1)!;
    assert.ok(Number.isFinite(last.ll) && Number.isFinite(last.d), JSON.stringify(last));
    assert.ok(existsSync(p('runs', 'v', 'model.safetensors')));
    const cfg = JSON.parse(readFileSync(p('runs', 'v', 'config.json'), 'utf8'));
    assert.equal(cfg.gan.discArch, 'stylegan2');
    assert.equal(cfg.recLoss, 'l2');
    const ev = tessera('eval', 'tokenizer', '--model', p('runs', 'v', 'model.safetensors'), '--limit', '8', '--no-rfid', '--json');
    assert.equal(ev.code, 0, ev.err);
  });

  test('train tokenizer --arch vitvqgan --no-gan still trains the logit-Laplace head (loss = L2 + VQ + 0.1·NLL)', () => {
    const run = tessera(
      'train',
      'tokenizer',
      ...['--arch', 'vitvqgan', '--data', 'mnist', '--size', '16', '--downsample', '4', '--ch', '16', '--codebook-size', '32'],
      ...['--steps', '2', '--batch-size', '4', '--no-gan', '--val-count', '8', '--out', 'runs/v-nogan'],
    );
    assert.equal(run.code, 0, run.err);
    const steps = readFileSync(p('runs', 'v-nogan', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>)
      .filter((l) => l.step !== undefined);
    assert.ok(steps.length > 0);
    for (const l of steps) {
      assert.ok(Number.isFinite(l.ll), JSON.stringify(l));
      assert.ok(Math.abs(l.loss! - (l.rec! + l.q! + 0.1 * l.ll!)) < 1e-4 * Math.max(1, Math.abs(l.loss!)), JSON.stringify(l));
    }
  });

  test('--no-logit-laplace: the decoder predicts pixels and the GAN recipe drops the NLL term; other archs refuse the flag', () => {
    const common = ['--data', 'mnist', '--size', '16', '--downsample', '4', '--ch', '16', '--codebook-size', '32', '--batch-size', '4', '--val-count', '8'];
    const run = tessera('train', 'tokenizer', '--arch', 'vitvqgan', ...common, '--steps', '1', '--no-logit-laplace', '--out', 'runs/v-pix');
    assert.equal(run.code, 0, run.err);
    const cfg = JSON.parse(readFileSync(p('runs', 'v-pix', 'config.json'), 'utf8'));
    assert.equal(cfg.model.logitLaplace, false);
    assert.equal(cfg.gan.logLaplaceWeight, 0);
    const log = readFileSync(p('runs', 'v-pix', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.ok(log.some((l) => l.step !== undefined && Number.isFinite(l.rec) && l.ll === undefined));
    const bad = tessera('train', 'tokenizer', '--arch', 'vqgan', ...common, '--logit-laplace', '--out', 'runs/bad');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--logit-laplace applies to --arch vitvqgan only/);
  });

  test('import vitvqgan writes a model file that loads', () => {
    const run = tessera('import', 'vitvqgan', '--checkpoint', fx('vitvqgan.ckpt'), '--config', fx('vitvqgan.yaml'), '--out', 'vit.safetensors');
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /dropped 2 loss\.\* entries/);
    const m = loadTokenizer(p('vit.safetensors'), { kind: 'vitvqgan' });
    T.tidy(() => assert.ok(T.equal(m.encode(r('x')), r('indices'))));
    m.dispose();
  });
});
