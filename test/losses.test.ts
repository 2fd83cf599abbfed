// src/losses against PyTorch: fixtures from tools/fixtures/losses.py.
//
// Weights and images are not stored in the fixture: both sides generate them with `pattern()`, an
// exact integer hash (see the script's docstring for why). The full-size VGG16 weights are generated
// here, written to a temporary .safetensors with torchvision's key names, and loaded through the real
// file loader; the LPIPS linear layers come from lin.pth, a genuine torch.save file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { Tensor } from '../src/torch/index.js';
import { Module, Conv2d } from '../src/nn/index.js';
import * as io from '../src/io/index.js';
import {
  NLayerDiscriminator,
  hingeDLoss,
  vanillaDLoss,
  hingeGLoss,
  nonSaturatingGLoss,
  adoptWeight,
  adaptiveGanWeight,
  LPIPS,
  PerceptualLoss,
  LpipsWeightsError,
  OnceNotices,
  loadLpips,
  saveLpips,
  tryLoadLpips,
  VGG16_CONV_INDICES,
  VQGANLoss,
  resolveVQGANLossConfig,
  type VQGANLossConfig,
} from '../src/losses/index.js';
import { ConfigError } from '../src/io/validate.js';
import { assertClose, fixturePath, loadJsonFixture, type TensorJson } from './helpers.js';

// ------------------------------------------------------------------ fixture types
interface DiscCase {
  ndf: number;
  n_layers: number;
  input_shape: number[];
  keys: string[];
  shapes: number[][];
  train: TensorJson;
  eval: TensorJson;
}
interface VqCase {
  config: {
    rec: 'l1' | 'l2';
    perceptual_weight: number;
    codebook_weight: number;
    disc_start: number;
    disc_weight: number;
    disc_factor: number;
    disc_loss: 'hinge' | 'vanilla';
    disc_num_layers: number;
    disc_ndf: number;
    step: number;
  };
  generator: Record<string, number> & { conv_out_grad: TensorJson };
  discriminator: Record<string, number>;
}
interface Expected {
  discriminator: Record<string, DiscCase> & { init_seed1234_ndf16: Record<string, { sum: number; head: number[] }> };
  gan: { hinge_d: number; vanilla_d: number; hinge_g: number; nonsat_g: number };
  lpips: { pair_32: TensorJson; pair_40x48: TensorJson; swapped_32: TensorJson };
  vq: Record<string, VqCase>;
}
const expected = loadJsonFixture<Expected>('losses', 'expected.json');
const LIN_PTH = fixturePath('losses', 'lin.pth');

// ------------------------------------------------------------------ deterministic values (as losses.py)
const M32 = 2 ** 32;

/** Keep in sync with `pattern` in tools/fixtures/losses.py: exact int64 hashing → identical bits. */
function pattern(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor {
  return T.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const i = T.arange(0, n, 1, { dtype: 'int64' });
    let h = i
      .mul(2654435761)
      .add(seed * 40503 + 1)
      .remainder(M32);
    h = h.mul(h.remainder(65521).add(7)).remainder(M32);
    h = h.mul(1103515245).add(12345).remainder(M32);
    const u = h.to('float64').div(M32);
    return u
      .mul(hi - lo)
      .add(lo)
      .to('float32')
      .reshape([...shape]);
  });
}

/** Keep in sync with `fill_value` in losses.py. */
function fillValue(key: string, shape: readonly number[], seed: number): Tensor {
  if (key.endsWith('running_var')) return pattern(shape, seed, 0.5, 1.5);
  if (key.endsWith('running_mean')) return pattern(shape, seed, -0.2, 0.2);
  if (key.startsWith('lin')) return pattern(shape, seed, 0, 0.1);
  if (shape.length === 4) {
    const a = Math.sqrt(6.0 / (shape[1]! * shape[2]! * shape[3]!));
    return pattern(shape, seed, -a, a);
  }
  if (key.endsWith('.weight')) return pattern(shape, seed, 0.5, 1.5);
  return pattern(shape, seed, -0.1, 0.1);
}

/** `fill_module`: state-dict order, seeds base + index, integer buffers untouched. */
function fillModule<M extends Module>(m: M, base: number): M {
  T.tidy(() => {
    Object.entries(m.stateDict({ keepVars: true })).forEach(([k, t], j) => {
      if (t.dtype === 'float32') T.noGrad(() => t.copy_(fillValue(k, t.shape, base + j)));
    });
  });
  return m;
}

/** The torchvision VGG16 `features` state dict of the fixture (seeds 1000 + index). */
function vggStateDict(): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  const widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512];
  let cin = 3;
  let j = 0;
  VGG16_CONV_INDICES.forEach((idx, n) => {
    const w = `features.${idx}.weight`;
    const b = `features.${idx}.bias`;
    sd[w] = fillValue(w, [widths[n]!, cin, 3, 3], 1000 + j++);
    sd[b] = fillValue(b, [widths[n]!], 1000 + j++);
    cin = widths[n]!;
  });
  return sd;
}

function linStateDict(): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  [64, 128, 256, 512, 512].forEach((c, k) => {
    const key = `lin${k}.model.1.weight`;
    sd[key] = fillValue(key, [1, c, 1, 1], 2000 + k);
  });
  return sd;
}

/** losses.py's TinyDecoder: conv → swish → nearest ×2 → conv_out. */
class TinyDecoder extends Module {
  readonly conv1 = this.add('conv1', new Conv2d(8, 16, 3, { padding: 1 }));
  readonly conv_out = this.add('conv_out', new Conv2d(16, 3, 3, { padding: 1 }));
  forward(z: Tensor): Tensor {
    const h = T.silu(this.conv1.forward(z));
    return this.conv_out.forward(T.interpolate(h, { scaleFactor: 2, mode: 'nearest' }));
  }
}

/** Bitwise-equal weights (outputs of two instances may differ in the last bits: libtorch's kernels depend on alignment). */
function assertSameWeights(a: LPIPS, b: LPIPS, what: string): void {
  T.tidy(() => {
    const sa = a.stateDict();
    const sb = b.stateDict();
    assert.deepEqual(Object.keys(sa), Object.keys(sb), what);
    for (const k of Object.keys(sa)) assert.ok(sa[k]!.equal(sb[k]!), `${what}: ${k} differs`);
  });
}

const near = (got: number, want: number, rtol = 1e-4, atol = 1e-6, what = ''): void => {
  assert.ok(Math.abs(got - want) <= atol + rtol * Math.abs(want), `${what}: got ${got}, want ${want}`);
};

// ------------------------------------------------------------------ shared LPIPS files
const tmp = mkdtempSync(join(tmpdir(), 'tessera-losses-'));
const VGG_ST = join(tmp, 'vgg16.safetensors');
const LIN_ST = join(tmp, 'lin.safetensors');
let perceptual: PerceptualLoss;

before(() => {
  T.tidy(() => {
    // A torchvision file also holds the classifier head; the loader must skip it.
    io.saveSafetensors(VGG_ST, { ...vggStateDict(), 'classifier.0.weight': T.zeros([4, 8]), 'classifier.0.bias': T.zeros([4]) });
    io.saveSafetensors(LIN_ST, linStateDict());
  });
  const p = tryLoadLpips({ vgg: VGG_ST, lin: LIN_PTH, notices: new OnceNotices(() => assert.fail('unexpected notice')) });
  assert.ok(p, 'LPIPS should load');
  perceptual = p;
});
after(() => {
  perceptual?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------ discriminator
describe('NLayerDiscriminator', () => {
  for (const name of ['d3_ndf64', 'd2_ndf32'] as const) {
    it(`${name}: taming's state-dict keys and shapes; output equals PyTorch in train and eval mode`, () => {
      const c = expected.discriminator[name] as DiscCase;
      const d = fillModule(new NLayerDiscriminator({ ndf: c.ndf, nLayers: c.n_layers }), 100);
      assert.deepEqual(d.stateDictKeys(), c.keys);
      T.tidy(() => {
        assert.deepEqual(
          Object.values(d.stateDict()).map((t) => t.shape),
          c.shapes,
        );
        const x = pattern(c.input_shape, 7);
        d.train();
        assertClose(d.forward(x), c.train, 1e-5, 1e-4, `${name} train`);
        d.eval();
        assertClose(d.forward(x), c.eval, 1e-5, 1e-4, `${name} eval`);
      });
      d.dispose();
    });
  }

  it('a seeded construction reproduces PyTorch default init + taming weights_init', () => {
    T.manualSeed(1234);
    const d = new NLayerDiscriminator({ ndf: 16, nLayers: 3 });
    const want = expected.discriminator.init_seed1234_ndf16;
    T.tidy(() => {
      const sd = d.stateDict();
      const floatKeys = Object.keys(sd).filter((k) => sd[k]!.dtype === 'float32');
      assert.deepEqual(floatKeys, Object.keys(want));
      for (const k of floatKeys) {
        const t = sd[k]!.double();
        near(t.sum().item(), want[k]!.sum, 1e-9, 1e-9, `${k} sum`);
        assert.deepEqual(t.flatten().narrow(0, 0, want[k]!.head.length).toArray(), want[k]!.head, `${k} head`);
      }
      // BatchNorm biases are zeroed, weights ~ N(1, 0.02); convs ~ N(0, 0.02).
      assert.equal(sd['main.3.bias']!.abs().sum().item(), 0);
      near(sd['main.3.weight']!.mean().item(), 1, 0, 0.02, 'BatchNorm weight mean');
      assert.ok(sd['main.2.weight']!.std().item() < 0.03);
    });
    d.dispose();
  });

  it('loads the loss.discriminator.* entries of a taming-style checkpoint', () => {
    const src = fillModule(new NLayerDiscriminator(), 100);
    const dst = new NLayerDiscriminator();
    T.tidy(() => {
      const ckpt = { state_dict: {} as Record<string, Tensor> };
      ckpt.state_dict['decoder.conv_out.weight'] = T.zeros([3, 4, 3, 3]);
      for (const [k, t] of Object.entries(src.stateDict())) ckpt.state_dict[`loss.discriminator.${k}`] = t;
      const r = dst.loadStateDict(io.stateDictFrom(ckpt, { prefix: 'loss.discriminator.' }));
      assert.deepEqual(r, { missing: [], unexpected: [], mismatched: [] });
      assert.ok(dst.main.at(0).getParameter('weight')!.equal(src.main.at(0).getParameter('weight')!));
    });
    src.dispose();
    dst.dispose();
  });

  it('nLayers 2 has the MoVQ layout (one stride-2 BatchNorm stage)', () => {
    const d = new NLayerDiscriminator({ nLayers: 2 });
    assert.deepEqual(
      d.stateDictKeys().filter((k) => k.endsWith('weight')),
      ['main.0.weight', 'main.2.weight', 'main.3.weight', 'main.5.weight', 'main.6.weight', 'main.8.weight'],
    );
    assert.deepEqual(d.main.at(5).getParameter('weight')!.shape, [256, 128, 4, 4]);
    d.dispose();
  });
});

// ------------------------------------------------------------------ GAN losses
describe('GAN losses', () => {
  it('hinge / vanilla discriminator and generator losses equal PyTorch', () => {
    T.tidy(() => {
      const real = pattern([2, 1, 6, 6], 11, -3, 3);
      const fake = pattern([2, 1, 6, 6], 12, -3, 3);
      near(hingeDLoss(real, fake).item(), expected.gan.hinge_d, 1e-6, 1e-7, 'hinge_d');
      near(vanillaDLoss(real, fake).item(), expected.gan.vanilla_d, 1e-6, 1e-7, 'vanilla_d');
      near(hingeGLoss(fake).item(), expected.gan.hinge_g, 1e-6, 1e-7, 'hinge_g');
      near(nonSaturatingGLoss(fake).item(), expected.gan.nonsat_g, 1e-6, 1e-7, 'nonsat_g');
    });
  });

  it('hinge loss by hand: only margin violations count', () => {
    T.tidy(() => {
      // real: 2 (beyond margin, 0), 0.5 (0.5); fake: -2 (0), 0.5 (1.5) → 0.5·(0.25 + 0.75)
      assert.equal(hingeDLoss(T.tensor([2, 0.5]), T.tensor([-2, 0.5])).item(), 0.5);
      assert.equal(hingeGLoss(T.tensor([1, 3])).item(), -2);
    });
  });

  it('adoptWeight gates by disc_start', () => {
    assert.equal(adoptWeight(0.8, 0, 100), 0);
    assert.equal(adoptWeight(0.8, 99, 100), 0);
    assert.equal(adoptWeight(0.8, 100, 100), 0.8);
    assert.equal(adoptWeight(0.8, 5), 0.8);
    assert.equal(adoptWeight(0.8, 5, 10, -1), -1);
  });
});

// ------------------------------------------------------------------ LPIPS
describe('LPIPS', () => {
  const pairs = (): { x1: Tensor; y1: Tensor; x2: Tensor; y2: Tensor } => {
    const x2 = pattern([1, 3, 40, 48], 23);
    return { x1: pattern([2, 3, 32, 32], 21), y1: pattern([2, 3, 32, 32], 22), x2, y2: x2.mul(0.75).add(pattern([1, 3, 40, 48], 24).mul(0.25)) };
  };

  it('distances equal the PyTorch reference (VGG16 from .safetensors, lin from .pth)', () => {
    T.tidy(() => {
      const { x1, y1, x2, y2 } = pairs();
      assertClose(perceptual.forward(x1, y1), expected.lpips.pair_32, 1e-6, 1e-4, 'pair 32×32');
      assertClose(perceptual.forward(x2, y2), expected.lpips.pair_40x48, 1e-6, 1e-4, 'pair 40×48');
      assertClose(perceptual.forward(y1, x1), expected.lpips.swapped_32, 1e-6, 1e-4, 'swapped');
    });
  });

  it('is exactly 0 for identical images, and frozen in eval mode', () => {
    T.tidy(() => {
      const x = pattern([2, 3, 32, 32], 21);
      assert.deepEqual(perceptual.forward(x, x).flatten().toArray(), [0, 0]);
      assert.ok(perceptual.net.parameters().every((p) => !p.requiresGrad));
      // Even if someone flips the network to training mode, the distance stays the eval one (no dropout).
      perceptual.net.train();
      const y = pattern([2, 3, 32, 32], 22);
      assertClose(perceptual.forward(x, y), expected.lpips.pair_32, 1e-6, 1e-4, 'after train()');
      assert.equal(perceptual.net.training, false);
      // Gradients reach the images.
      const xr = x.clone();
      xr.requiresGrad = true;
      perceptual.forward(xr, y).sum().backward();
      assert.ok(xr.grad && xr.grad.abs().sum().item() > 0);
    });
  });

  it('the lin weights of lin.pth (a real torch.save file) equal the closed-form pattern', () => {
    T.tidy(() => {
      const sd = io.stateDictFrom(io.loadTorchCheckpoint(LIN_PTH));
      const want = linStateDict();
      assert.deepEqual(Object.keys(sd), Object.keys(want));
      for (const k of Object.keys(want)) assert.ok(sd[k]!.equal(want[k]!), k);
    });
  });

  it('loads the same network from .safetensors lin weights and from one combined Tessera file', () => {
    const combined = join(tmp, 'lpips-combined.safetensors');
    saveLpips(combined, perceptual);
    const a = tryLoadLpips({ vgg: VGG_ST, lin: LIN_ST });
    const b = tryLoadLpips({ combined });
    assert.ok(a && b);
    T.tidy(() => {
      const { x1, y1 } = pairs();
      assertSameWeights(a.net, perceptual.net, 'lin from .safetensors');
      assertSameWeights(b.net, perceptual.net, 'combined file');
      assertClose(a.forward(x1, y1), expected.lpips.pair_32, 1e-6, 1e-4, 'lin from .safetensors');
      assertClose(b.forward(x1, y1), expected.lpips.pair_32, 1e-6, 1e-4, 'combined file');
      assert.equal(io.loadModelFile(combined).kind, 'lpips');
    });
    a.dispose();
    b.dispose();
  });

  it("takes the loss.perceptual_loss.* entries of a taming checkpoint's state dict", () => {
    const path = join(tmp, 'taming-like.safetensors');
    T.tidy(() => {
      const sd: Record<string, Tensor> = { 'encoder.conv_in.weight': T.zeros([2, 3, 3, 3]), 'loss.discriminator.main.0.bias': T.zeros([4]) };
      for (const [k, t] of Object.entries(perceptual.net.stateDict())) sd[`loss.perceptual_loss.${k}`] = t;
      io.saveSafetensors(path, sd);
    });
    const net = loadLpips({ combined: path });
    assertSameWeights(net, perceptual.net, 'taming checkpoint');
    T.tidy(() => {
      const { x2, y2 } = pairs();
      assertClose(net.forward(x2, y2), expected.lpips.pair_40x48, 1e-6, 1e-4, 'taming checkpoint');
    });
    net.dispose();
  });

  it('missing weight files ⇒ null and a single notice', () => {
    const seen: string[] = [];
    const notices = new OnceNotices((m) => seen.push(m));
    assert.equal(tryLoadLpips({ notices }), null);
    assert.equal(tryLoadLpips({ vgg: join(tmp, 'nope.pth'), lin: LIN_PTH, notices }), null);
    assert.equal(tryLoadLpips({ combined: join(tmp, 'nope.safetensors'), notices }), null);
    assert.equal(seen.length, 1, `notices: ${JSON.stringify(seen)}`);
    assert.match(seen[0]!, /^LPIPS weights not found \(no weight files given.*\); training without the perceptual term$/);
    // A fresh notifier reports the reason of its own first call.
    const seen2: string[] = [];
    tryLoadLpips({ vgg: join(tmp, 'nope.pth'), lin: LIN_PTH, notices: new OnceNotices((m) => seen2.push(m)) });
    assert.match(seen2[0]!, /^LPIPS weights not found \(file not found: .*nope\.pth\); training without the perceptual term$/);
  });

  it('a file with the wrong keys ⇒ one error listing the missing and unexpected keys', () => {
    const bad = join(tmp, 'resnet.safetensors');
    T.tidy(() =>
      io.saveSafetensors(bad, { 'conv1.weight': T.zeros([64, 3, 7, 7]), 'fc.weight': T.zeros([10, 512]), 'features.0.weight': T.zeros([32, 3, 3, 3]) }),
    );
    let err: unknown;
    try {
      tryLoadLpips({ vgg: bad, lin: LIN_PTH });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LpipsWeightsError, `expected LpipsWeightsError, got ${String(err)}`);
    const msg = err.message;
    assert.match(msg, /25 missing keys: features\.0\.bias, features\.2\.weight, features\.2\.bias, .* … and 13 more/);
    assert.ok(!msg.includes('\n'), 'one line');
    assert.match(msg, /2 unexpected keys: conv1\.weight \(.*resnet\.safetensors\), fc\.weight/);
    assert.match(msg, /1 shape mismatch: features\.0\.weight is \[32, 3, 3, 3\], expected \[64, 3, 3, 3\]/);
    assert.deepEqual(
      err.unexpected.map((k) => k.split(' ')[0]),
      ['conv1.weight', 'fc.weight'],
    );
    assert.equal(err.missing.length, 25); // 26 VGG keys minus the one present (with a wrong shape)
  });

  it('reads legacy (pre-1.6) torch.save files like zip ones', () => {
    // legacy.pt holds {w: ones(2)}: it is read, and its key is reported like any other wrong key.
    assert.throws(
      () => loadLpips({ vgg: fixturePath('io', 'legacy.pt'), lin: LIN_PTH }),
      (e: unknown) => {
        assert.ok(e instanceof LpipsWeightsError, String(e));
        assert.deepEqual(
          e.unexpected.map((k) => k.split(' ')[0]),
          ['w'],
        );
        assert.doesNotMatch(e.message, /pre-1\.6|not supported|convert/);
        return true;
      },
    );
  });

  it('refuses a Tessera model file of another kind', () => {
    const other = join(tmp, 'other.safetensors');
    T.tidy(() => io.saveModelFile(other, { kind: 'vqgan', config: {}, stateDict: { w: T.zeros([1]) } }));
    assert.throws(() => loadLpips({ combined: other }), /is a Tessera 'vqgan' model file, not LPIPS weights/);
  });

  it('constructing LPIPS leaves the global random stream untouched', () => {
    T.manualSeed(5);
    const a = T.rand([4]).toArray();
    T.manualSeed(5);
    new LPIPS().dispose();
    assert.deepEqual(T.rand([4]).toArray(), a);
  });
});

// ------------------------------------------------------------------ the composed VQGAN loss
describe('VQGANLoss', () => {
  const configOf = (c: VqCase['config']): VQGANLossConfig => ({
    recLoss: c.rec,
    perceptualWeight: c.perceptual_weight,
    codebookWeight: c.codebook_weight,
    discStart: c.disc_start,
    discWeight: c.disc_weight,
    discFactor: c.disc_factor,
    discLoss: c.disc_loss,
    discNumLayers: c.disc_num_layers,
    discNdf: c.disc_ndf,
  });

  /** The fixture's setup: pattern decoder and discriminator, its z / x, q = 0.0123. */
  function setup(c: VqCase['config'], opts: { perceptual?: PerceptualLoss | null; adaptiveWeight?: boolean } = {}) {
    const dec = fillModule(new TinyDecoder(), 300);
    const loss = new VQGANLoss(
      { ...configOf(c), adaptiveWeight: opts.adaptiveWeight },
      { perceptual: opts.perceptual === undefined ? perceptual : opts.perceptual },
    );
    fillModule(loss.discriminator, 400);
    loss.discriminator.train();
    const z = pattern([2, 8, 16, 16], 31);
    const x = pattern([2, 3, 32, 32], 32);
    const q = T.tensor(0.0123);
    return { dec, loss, z, x, q, dispose: () => (dec.dispose(), loss.discriminator.dispose()) };
  }

  for (const name of ['taming', 'l2_vanilla', 'before_start'] as const) {
    it(`${name}: generator and discriminator losses, adaptive weight and gradients equal PyTorch`, () => {
      const vc = expected.vq[name]!;
      const c = vc.config;
      const s = setup(c);
      T.tidy(() => {
        const recon = s.dec.forward(s.z);
        const { loss, log } = s.loss.generatorLoss({ inputs: s.x, recon, qloss: s.q, globalStep: c.step, lastLayer: s.dec.conv_out.weight });
        const g = vc.generator;
        near(log.total, g.loss!, 1e-4, 1e-6, 'total');
        near(loss.item(), g.loss!, 1e-4, 1e-6, 'loss');
        near(log.nll, g.nll!, 1e-4, 1e-6, 'nll');
        near(log.rec, g.rec!, 1e-4, 1e-6, 'rec');
        near(log.p, g.p!, 1e-4, 1e-6, 'p');
        near(log.q, g.q!, 0, 0, 'q');
        near(log.g, g.g!, 1e-4, 1e-6, 'g');
        assert.equal(log.disc_factor, g.disc_factor);
        if (g.disc_factor! > 0) near(log.d_weight, g.d_weight!, 1e-4, 1e-7, 'd_weight');
        else assert.equal(log.d_weight, 0, 'd_weight is not computed before disc_start');

        // The adaptive weight did not write .grad; the backward of the total gives PyTorch's gradient.
        assert.equal(s.dec.conv_out.weight.grad, undefined);
        loss.backward();
        assertClose(s.dec.conv_out.weight.grad!, g.conv_out_grad, 1e-6, 1e-3, 'conv_out grad');
        near(s.dec.conv1.weight.grad!.norm().item(), g.conv1_grad_norm!, 1e-3, 1e-7, 'conv1 grad norm');

        // Discriminator step on detached images.
        const d = s.loss.discriminatorLoss({ inputs: s.x, recon, globalStep: c.step });
        near(d.log.d_loss, vc.discriminator.loss!, 1e-4, 1e-7, 'd_loss');
        near(d.loss.item(), vc.discriminator.loss!, 1e-4, 1e-7, 'd_loss tensor');
        near(d.log.logits_real, vc.discriminator.logits_real!, 1e-4, 1e-6, 'logits_real');
        near(d.log.logits_fake, vc.discriminator.logits_fake!, 1e-4, 1e-6, 'logits_fake');
        const [gd] = T.autograd.grad(d.loss, (s.loss.discriminator as NLayerDiscriminator).main.at(0).getParameter('weight')!);
        near(gd!.norm().item(), vc.discriminator.main0_grad_norm!, 1e-3, 1e-7, 'D main.0 grad norm');
      });
      s.dispose();
    });
  }

  it("adaptiveGanWeight matches PyTorch's autograd.grad-based value directly", () => {
    const vc = expected.vq.taming!;
    const s = setup(vc.config);
    T.tidy(() => {
      const recon = s.dec.forward(s.z);
      const nll = s.x.sub(recon).abs().add(perceptual.forward(s.x, recon)).mean();
      const g = hingeGLoss(s.loss.discriminator.forward(recon));
      const w = adaptiveGanWeight(nll, g, s.dec.conv_out.weight, 0.8);
      near(w.item(), vc.generator.d_weight!, 1e-4, 1e-7, 'd_weight');
      assert.equal(w.requiresGrad, false);
      assert.deepEqual(w.shape, []);
      // Unscaled ratio of the gradient norms.
      near(adaptiveGanWeight(nll, g, s.dec.conv_out.weight, 1).item(), vc.generator.nll_grad_norm! / (vc.generator.g_grad_norm! + 1e-4), 1e-4, 1e-7, 'ratio');
      // The graph was retained: the total can still be backpropagated.
      nll.add(g.mul(w)).backward();
      assert.ok(s.dec.conv_out.weight.grad);
    });
    s.dispose();
  });

  it('adaptive weight is clamped to [0, 1e4]', () => {
    T.tidy(() => {
      const w = T.tensor([1, 2, 3]);
      w.requiresGrad = true;
      const big = w.mul(1e6).sum(); // ‖∇‖ = 1e6·√3
      const tiny = w.mul(1e-9).sum();
      assert.equal(adaptiveGanWeight(big, tiny, w, 1).item(), 1e4);
      near(adaptiveGanWeight(tiny, big, w, 2).item(), (2 * 1e-9) / (1e6 + 1e-4 / Math.sqrt(3)), 1e-5, 0, 'small');
    });
  });

  it('fixed GAN weight (MoVQ style), no-grad evaluation, and no perceptual network', () => {
    const c = { ...expected.vq.taming!.config };
    T.tidy(() => {
      // Fixed weight: total = nll + discWeight·factor·g + q.
      let s = setup(c, { adaptiveWeight: false });
      let recon = s.dec.forward(s.z);
      let r = s.loss.generatorLoss({ inputs: s.x, recon, qloss: s.q, globalStep: 5 });
      assert.equal(r.log.d_weight, c.disc_weight);
      near(r.log.total, r.log.nll + c.disc_weight * r.log.g + r.log.q, 1e-6, 1e-7, 'fixed total');
      s.dispose();

      // Validation under noGrad: the adaptive weight falls back to 0, as taming's except-branch.
      s = setup(c);
      r = T.noGrad(() => s.loss.generatorLoss({ inputs: s.x, recon: s.dec.forward(s.z), qloss: s.q, globalStep: 5, lastLayer: s.dec.conv_out.weight }));
      assert.equal(r.log.d_weight, 0);
      near(r.log.total, r.log.nll + r.log.q, 1e-6, 1e-7, 'eval total');
      near(r.log.nll, expected.vq.taming!.generator.nll!, 1e-4, 1e-6, 'eval nll');
      s.dispose();

      // No LPIPS: nll is the pixel term alone.
      s = setup(c, { perceptual: null });
      assert.equal(s.loss.perceptualActive, false);
      recon = s.dec.forward(s.z);
      r = s.loss.generatorLoss({ inputs: s.x, recon, qloss: s.q, globalStep: 5, lastLayer: s.dec.conv_out.weight });
      assert.equal(r.log.p, 0);
      near(r.log.nll, expected.vq.taming!.generator.rec!, 1e-4, 1e-6, 'nll without LPIPS');
      assert.equal(r.log.nll, r.log.rec);
      s.dispose();
    });
  });

  it('disc_start gating: no GAN term before it, full term from it on', () => {
    const c = { ...expected.vq.taming!.config, disc_start: 10 };
    const s = setup(c, { perceptual: null });
    T.tidy(() => {
      const recon = s.dec.forward(s.z);
      const before = s.loss.generatorLoss({ inputs: s.x, recon, qloss: s.q, globalStep: 9, lastLayer: s.dec.conv_out.weight });
      assert.equal(before.log.disc_factor, 0);
      near(before.log.total, before.log.nll + before.log.q, 1e-7, 1e-8, 'total before');
      assert.equal(s.loss.discriminatorLoss({ inputs: s.x, recon, globalStep: 9 }).log.d_loss, 0);
      const on = s.loss.generatorLoss({ inputs: s.x, recon, qloss: s.q, globalStep: 10, lastLayer: s.dec.conv_out.weight });
      assert.equal(on.log.disc_factor, 1);
      assert.ok(on.log.d_weight > 0);
      near(on.log.total, on.log.nll + on.log.d_weight * on.log.g + on.log.q, 1e-5, 1e-7, 'total on');
      assert.ok(s.loss.discriminatorLoss({ inputs: s.x, recon, globalStep: 10 }).log.d_loss > 0);
    });
    s.dispose();
  });

  it('rejects invalid configs', () => {
    assert.throws(() => new VQGANLoss({ recLoss: 'l3' as 'l1' }), /^ConfigError: VQGANLoss\.recLoss: expected one of l1, l2, got "l3"/);
    assert.throws(() => new VQGANLoss({ discLoss: 'wgan' as 'hinge' }), /VQGANLoss\.discLoss: expected one of hinge, vanilla, got "wgan"/);
    assert.throws(() => new VQGANLoss({ discWeight: -1 }), /VQGANLoss\.discWeight: must be ≥ 0, got -1/);
    assert.throws(() => new VQGANLoss({ discFactor: NaN }), /VQGANLoss\.discFactor: expected a finite number, got NaN/);
    assert.throws(() => new VQGANLoss({ discStart: 1.5 }), /VQGANLoss\.discStart: expected an integer, got 1\.5/);
    assert.throws(() => new VQGANLoss({ adaptiveWeight: 'yes' as unknown as boolean }), /VQGANLoss\.adaptiveWeight: expected true or false/);
    // An unknown key (a typo of discStart) is rejected with a suggestion instead of being ignored.
    assert.throws(
      () => resolveVQGANLossConfig({ discStrat: 100 } as VQGANLossConfig, 'gan'),
      (e: unknown) =>
        e instanceof ConfigError && /^gan: unknown key 'discStrat' \(did you mean 'discStart'\? valid: recLoss, .*adaptiveWeight, .*r1Every\)$/.test(e.message),
    );
    assert.deepEqual(resolveVQGANLossConfig({ discStart: 5 }, 'gan').discStart, 5);
  });
});

it('discRampSteps ramps disc_factor linearly after discStart', () => {
  const l = new VQGANLoss({ discStart: 10, discRampSteps: 4, discFactor: 2 });
  assert.deepEqual(
    [9, 10, 11, 12, 13, 14].map((s) => l.discFactorAt(s)),
    [0, 0.5, 1, 1.5, 2, 2],
  );
  assert.equal(new VQGANLoss({ discStart: 10 }).discFactorAt(10), 1);
});
