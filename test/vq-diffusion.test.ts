// Tests for src/priors/vq-diffusion.ts: the forward process against its closed form, the posterior,
// the loss on a hand-computed case, strided sampling, guidance, inpainting and model files.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { Adam } from '../src/optim/index.js';
import { VQDiffusion, PriorModel, diffusionSchedule, logMarginal, logPosterior, transition, type PriorModelConfig } from '../src/priors/index.js';
import { assertClose } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-vqdiff-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const K = 5;
const small = { dim: 32, depth: 2, heads: 4 };

/** The one-step transition matrix Q_t [K+1, K+1] (row = from, column = to) in float64. */
function stepMatrix(s: ReturnType<typeof diffusionSchedule>, t: number, u: number): number[][] {
  const [a, b, g] = transition(s, t, u, K);
  return Array.from({ length: K + 1 }, (_, i) => Array.from({ length: K + 1 }, (_, j) => (i === K ? (j === K ? 1 : 0) : j === K ? g : i === j ? a + b : b)));
}
const matmul = (x: number[][], y: number[][]): number[][] => x.map((row) => y[0]!.map((_, j) => row.reduce((acc, v, k) => acc + v * y[k]![j]!, 0)));

describe('VQ-Diffusion forward process', () => {
  for (const schedule of ['mask', 'paper'] as const) {
    test(`${schedule} schedule: composing one-step transitions gives the closed-form q(x_t | x₀)`, () => {
      const steps = 12;
      const s = diffusionSchedule(schedule, steps, K);
      let m: number[][] = Array.from({ length: K + 1 }, (_, i) => Array.from({ length: K + 1 }, (_, j) => (i === j ? 1 : 0)));
      for (let t = 0; t < steps; t++) {
        m = matmul(m, stepMatrix(s, t, t - 1));
        // Rows of the composed matrix are probability vectors.
        for (const row of m) assert.ok(Math.abs(row.reduce((a, v) => a + v, 0) - 1) < 1e-9);
        // Closed form for x₀ = code 2 and x₀ = [MASK], through logMarginal.
        for (const x0 of [2, K]) {
          const logX0 = T.tensor(
            Array.from({ length: K + 1 }, (_, j) => (j === x0 ? 0 : -70)),
            { dtype: 'float32' },
          ).view([1, 1, K + 1]);
          const got = logMarginal(logX0, s, t, K).exp().reshape([-1]).toArray();
          got.forEach((v, j) => assert.ok(Math.abs(v - m[x0]![j]!) < 1e-5, `t=${t} x0=${x0} state ${j}: ${v} vs ${m[x0]![j]}`));
        }
      }
      // The last step: the mask schedule ends almost fully masked, the paper's at 90% masked + 10% replaced.
      const end = s.gammaBar[steps - 1]!;
      assert.ok(schedule === 'mask' ? end > 0.9999 : Math.abs(end - 0.9) < 1e-9);
      if (schedule === 'paper') assert.ok(Math.abs(K * s.betaBar[steps - 1]! - 0.1) < 1e-6);
    });
  }

  test('the posterior q(x_{t−1} | x_t, x₀) is Bayes on the forward process and sums to one', () => {
    const steps = 10;
    const s = diffusionSchedule('paper', steps, K);
    const cum = (t: number): number[][] => {
      let m: number[][] = Array.from({ length: K + 1 }, (_, i) => Array.from({ length: K + 1 }, (_, j) => (i === j ? 1 : 0)));
      for (let u = 0; u <= t; u++) m = matmul(m, stepMatrix(s, u, u - 1));
      return m;
    };
    for (const [t, u] of [
      [6, 5],
      [6, 2],
      [3, -1],
    ] as const) {
      const qt = cum(t);
      const qu = u >= 0 ? cum(u) : Array.from({ length: K + 1 }, (_, i) => Array.from({ length: K + 1 }, (_, j) => (i === j ? 1 : 0)));
      const [a, b, g] = transition(s, t, u, K);
      const step = (from: number, to: number): number => (from === K ? (to === K ? 1 : 0) : to === K ? g : from === to ? a + b : b);
      // A soft x̃₀ over codes, and both kinds of x_t.
      const p0 = [0.5, 0.2, 0.15, 0.1, 0.05];
      for (const xt of [1, K]) {
        const expect = Array.from({ length: K + 1 }, (_, s2) => p0.reduce((acc, p, x0) => acc + (p * step(s2, xt) * qu[x0]![s2]!) / qt[x0]![xt]!, 0));
        const z = expect.reduce((x, y) => x + y, 0);
        const logX0 = T.tensor(p0.map(Math.log), { dtype: 'float32' }).view([1, 1, K]);
        const got = logPosterior(T.tensor([[xt]], { dtype: 'int64' }), logX0, s, t, u, K)
          .exp()
          .reshape([-1])
          .toArray();
        assert.ok(Math.abs(got.reduce((x, y) => x + y, 0) - 1) < 1e-5, 'sums to one');
        got.forEach((v, j) => assert.ok(Math.abs(v - expect[j]! / z) < 1e-4, `t=${t} u=${u} x_t=${xt} state ${j}: ${v} vs ${expect[j]! / z}`));
      }
    }
  });
});

describe('VQ-Diffusion prior', () => {
  const cfg = { ...small, codebookSize: K, grid: [2, 2] as [number, number], tokensPerPosition: 1, numClasses: 2, classDropout: 0.1, timesteps: 8 };

  test('loss on a hand-computed case: a confident correct prediction costs ~0 at t = 0; the bound matches the formula', () => {
    T.manualSeed(0);
    const m = new VQDiffusion({ ...cfg, auxWeight: 0 });
    const s = m.tables;
    // At t = 3 with x_t all [MASK] and a uniform x̃₀: KL(q(x₂ | x₃, x₀) ‖ p(x₂ | x₃)) by hand.
    const [au, bu, gu] = [s.alphaBar[2]!, s.betaBar[2]!, s.gammaBar[2]!];
    const [, , g] = transition(s, 3, 2, K);
    // q: x₀ = 0 known → over codes: (ᾱ_u + β̄_u, β̄_u, …)·γ, [MASK]: γ̄_u·1; p: x̃₀ uniform → codes (ᾱ_u/K + β̄_u)·γ, [MASK] γ̄_u.
    const q = [(au + bu) * g, ...Array.from({ length: K - 1 }, () => bu * g), gu];
    const p = [...Array.from({ length: K }, () => (au / K + bu) * g), gu];
    const zq = q.reduce((a, v) => a + v, 0);
    const zp = p.reduce((a, v) => a + v, 0);
    const kl = q.reduce((acc, v, i) => acc + (v / zq) * Math.log(v / zq / (p[i]! / zp)), 0);
    const xt = T.tensor([[K]], { dtype: 'int64' });
    const uniform = T.full([1, 1, K], -Math.log(K));
    const onehot = T.tensor([[[0, -70, -70, -70, -70]]], { dtype: 'float32' });
    const lq = logPosterior(xt, onehot, s, 3, 2, K);
    const lp = logPosterior(xt, uniform, s, 3, 2, K);
    const got = lq.exp().mul(lq.sub(lp)).sum().item();
    assert.ok(Math.abs(got - kl) < 1e-4, `${got} vs ${kl}`);
    assert.ok(kl > 0.1, 'the case is not trivial');
  });

  test('training lowers the loss, and importance-sampling statistics accumulate per step', () => {
    T.manualSeed(1);
    const m = new VQDiffusion(cfg);
    const opt = new Adam(m.parameters(), { lr: 3e-3 });
    // Two classes with one fixed token pattern each.
    const data = T.tensor(
      [
        [0, 1, 2, 3],
        [4, 4, 0, 0],
      ],
      { dtype: 'int64' },
    );
    const labels = T.tensor([0, 1], { dtype: 'int64' });
    const losses: number[] = [];
    for (let i = 0; i < 120; i++) {
      opt.zeroGrad();
      const loss = m.loss(data.repeat([8, 1]), labels.repeat([8]), new T.Generator(i));
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    assert.ok(mean(losses.slice(-20)) < 0.5 * mean(losses.slice(0, 20)), `loss ${mean(losses.slice(0, 20))} → ${mean(losses.slice(-20))}`);
    assert.equal(m.ltCount.sum().item(), 120 * 16);
    assert.ok(m.ltHistory.gt(0).all().item(), 'every step has a loss estimate');
    // It learned the class → pattern map: sampling with all 8 steps reproduces it.
    const out = m.generate({ classes: [0, 1], generator: new T.Generator(3) });
    assert.deepEqual(out.toArray(), [0, 1, 2, 3, 4, 4, 0, 0]);
  });

  test('strided sampling visits exactly the requested number of steps and ends with no [MASK]', () => {
    T.manualSeed(2);
    const m = new VQDiffusion(cfg);
    for (const steps of [1, 3, 8]) {
      const seen: number[] = [];
      const out = m.generate({ batch: 2, steps, generator: new T.Generator(1), onStep: (i) => seen.push(i.step) });
      assert.deepEqual(
        seen,
        Array.from({ length: steps }, (_, i) => i),
      );
      assert.ok(out.lt(K).all().item() && out.ge(0).all().item());
    }
    assert.throws(() => m.generate({ steps: 9 }), /steps \(9\) must be at most the model's 8 diffusion steps/);
    assert.throws(() => m.generate({ truncation: 0 } as never), /truncation/);
    assert.throws(() => m.generate({ startStep: 2 } as never), /option 'startStep' does not apply to a VQ-Diffusion prior/);
  });

  test('guidance 1 is the conditional model; truncation keeps only likely codes', () => {
    T.manualSeed(3);
    const m = new VQDiffusion(cfg);
    const a = m.generate({ classes: [0, 1, 1], cfg: 1, generator: new T.Generator(4) });
    const b = m.generate({ classes: [0, 1, 1], generator: new T.Generator(4) });
    // cfg 1 runs the doubled batch (conditional + null class) yet samples what the conditional model does.
    assert.deepEqual(a.toArray(), b.toArray());
    const xt = T.full([3, 4], K, { dtype: 'int64' });
    const cls = T.tensor([0, 1, 1], { dtype: 'int64' });
    const cond = m.forward(xt, T.full([3], 7, { dtype: 'int64' }), cls);
    const guided = m.forward(T.cat([xt, xt]), T.full([6], 7, { dtype: 'int64' }), T.cat([cls, T.full([3], 2, { dtype: 'int64' })]));
    const [c1, u1] = guided.chunk(2, 0);
    assertClose(u1!.add(c1!.sub(u1!).mul(1)).logSoftmax(-1), cond, 1e-5, 1e-5);
    // With r tiny only the single most likely x̃₀ code survives, so the last step is deterministic.
    const x = m.generate({ batch: 2, steps: 1, truncation: 1e-6, generator: new T.Generator(5) });
    const y = m.generate({ batch: 2, steps: 1, truncation: 1e-6, generator: new T.Generator(6) });
    assert.deepEqual(x.toArray(), y.toArray());
  });

  test('purity ordering reveals the most confident masked tokens first, as many as the posterior expects', () => {
    T.manualSeed(6);
    const m = new VQDiffusion(cfg);
    const masked: number[][] = [];
    const out = m.generate({ batch: 3, steps: 4, purity: true, generator: new T.Generator(1), onStep: (i) => masked.push(i.masked) });
    assert.ok(out.lt(K).all().item(), 'fully revealed at the end');
    // Never re-masks: the masked count only falls, step by step.
    for (let i = 1; i < masked.length; i++) masked[i]!.forEach((v, j) => assert.ok(v <= masked[i - 1]![j]!));
    assert.deepEqual(masked.at(-1), [0, 0, 0]);
  });

  test('inpainting keeps every known token, with no start step to choose', () => {
    T.manualSeed(4);
    const m = new VQDiffusion(cfg);
    const known = T.tensor(
      [
        [3, 1, 4, 1],
        [0, 2, 2, 0],
      ],
      { dtype: 'int64' },
    );
    const mask = T.tensor(
      [
        [false, true, false, true],
        [true, true, false, false],
      ],
      { dtype: 'bool' },
    );
    const out = m.generate({ known, mask, steps: 4, generator: new T.Generator(2) });
    const keep = mask.logicalNot();
    assert.ok(out.eq(known).logicalOr(mask).all().item(), 'known tokens unchanged');
    assert.ok(out.lt(K).all().item());
    assert.ok(keep.any().item());
  });

  test('PriorModel: save/load round trip samples identically; recommended steps and truncation validated', () => {
    T.manualSeed(5);
    const config: PriorModelConfig = {
      arch: 'diffusion',
      prior: { ...cfg, codebookSize: 16, grid: [4, 4] },
      tokenizer: {
        kind: 'vqvae',
        config: { ch: 16, numDownsamples: 2, numResBlocks: 1, resCh: 8, embedDim: 8, inChannels: 1, outCh: 1, quantizer: { type: 'vq', codebookSize: 16 } },
      },
      imageSize: [16, 16],
      classNames: ['a', 'b'],
      sampling: { steps: 4, truncation: 0.9, cfg: 2 },
    };
    const pm = PriorModel.create(config);
    const path = join(tmp, 'diff.safetensors');
    pm.save(path);
    const back = PriorModel.load(path);
    const a = pm.sample({ classes: ['b', 0], generator: new T.Generator(5) });
    const b = back.sample({ classes: ['b', 0], generator: new T.Generator(5) });
    assert.deepEqual(a.shape, [2, 1, 16, 16]);
    assertClose(a, b, 0, 0);
    assert.throws(() => PriorModel.create({ ...config, sampling: { truncation: 1.5 } }), /sampling\.truncation/);
    assert.throws(() => PriorModel.create({ ...config, sampling: { schedule: 'cosine' } }), /unknown key 'schedule'/);
    assert.throws(() => pm.sample({ batch: 1, choiceTemperature: 2 }), /'choiceTemperature' does not apply to a VQ-Diffusion prior/);
  });

  test('config errors are one clear line', () => {
    assert.throws(() => new VQDiffusion({ ...cfg, timesteps: 1 }), /VQDiffusion: timesteps/);
    assert.throws(() => new VQDiffusion({ ...cfg, schedule: 'cosine' as never }), /VQDiffusion: schedule/);
    assert.throws(() => new VQDiffusion({ ...cfg, auxWeigth: 1 } as never), /unknown key 'auxWeigth'.*auxWeight/);
  });
});
