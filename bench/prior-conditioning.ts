// How a VQ-VAE-2 bottom prior should see the top code: a short A/B of three autoregressive bottom
// priors of the same size trained on the same tokens for the same steps, compared by held-out
// cross-entropy of the bottom tokens (nats per token) and training time per step.
//   none   — no top code (what conditioning buys);
//   added  — the top code's embedding, nearest-upsampled to the bottom grid, added to every bottom
//            position (CodeCondition; what src/priors/hierarchical.ts uses);
//   prefix — the top tokens placed before the bottom ones in one causal sequence, so every bottom
//            position attends to the whole top code (attention-based conditioning, like
//            cross-attention but sharing the self-attention's weights).
//
//   node dist/bench/prior-conditioning.js --tokenizer <vqvae2 model file> [--data mnist] [--size 32]
//        [--steps 400] [--dim 64] [--depth 2] [--batch-size 32] [--val-count 500]
import { parseArgs } from 'node:util';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { AdamW } from '../src/optim/index.js';
import { loadDataset, Rng } from '../src/data/index.js';
import { loadTokenizer } from '../src/tokenizers/index.js';
import { ARPrior } from '../src/priors/index.js';
import { encodeDataset } from '../src/train/prior.js';

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      tokenizer: { type: 'string' },
      data: { type: 'string', default: 'mnist' },
      size: { type: 'string', default: '32' },
      steps: { type: 'string', default: '400' },
      dim: { type: 'string', default: '64' },
      depth: { type: 'string', default: '2' },
      'batch-size': { type: 'string', default: '32' },
      'val-count': { type: 'string', default: '500' },
    },
  });
  if (!a.tokenizer) throw new Error('--tokenizer <vqvae2 model file> is required');
  const size = Number(a.size);
  const steps = Number(a.steps);
  const bs = Number(a['batch-size']);
  const tok = loadTokenizer(a.tokenizer);
  const lv = tok.levels;
  if (lv.length !== 2) throw new Error(`${a.tokenizer}: expected a two-level tokenizer, got ${lv.length} level(s)`);
  const ds = await loadDataset(a.data!, { size, resize: size });
  const { train, val } = ds.split({ valCount: Number(a['val-count']) });
  const tr = encodeDataset(tok, train);
  const va = encodeDataset(tok, val);
  const [top, bot] = lv as [(typeof lv)[0], (typeof lv)[0]];
  const gt: [number, number] = [size / top.downsample, size / top.downsample];
  const gb: [number, number] = [size / bot.downsample, size / bot.downsample];
  const nt = gt[0] * gt[1];
  const nb = gb[0] * gb[1];
  const C = ds.classNames.length;
  const base = { dim: Number(a.dim), depth: Number(a.depth), heads: 4, numClasses: C, classDropout: 0.1, tokensPerPosition: 1 };
  const variants: Record<string, () => { prior: ARPrior; loss: (toks: Tensor, labels: Tensor, g?: T.Generator) => Tensor }> = {
    none: () => {
      const prior = new ARPrior({ ...base, codebookSize: bot.codebookSize, grid: gb });
      return { prior, loss: (t, l, g) => prior.loss(t.narrow(1, nt, nb), l, g) };
    },
    added: () => {
      const prior = new ARPrior({
        ...base,
        codebookSize: bot.codebookSize,
        grid: gb,
        condition: { codebookSize: top.codebookSize, grid: gt, tokensPerPosition: 1 },
      });
      return { prior, loss: (t, l, g) => prior.loss(t.narrow(1, nt, nb), l, g, t.narrow(1, 0, nt)) };
    },
    prefix: () => {
      // One sequence [top, bottom + Kt]; only the bottom tokens' cross-entropy counts.
      const k = top.codebookSize + bot.codebookSize;
      const prior = new ARPrior({ ...base, codebookSize: k, grid: [1, nt + nb] });
      return {
        prior,
        loss: (t, l) => {
          const seq = T.cat([t.narrow(1, 0, nt), t.narrow(1, nt, nb).add(top.codebookSize)], 1);
          const logits = prior.forward(seq, prior.prefixIds(Array.from(l.toArray(), (c) => Number(c))));
          return T.crossEntropy(logits.narrow(1, nt, nb).reshape([-1, k]), seq.narrow(1, nt, nb).reshape([-1]));
        },
      };
    },
  };
  const rows: string[] = [];
  for (const [name, make] of Object.entries(variants)) {
    T.manualSeed(0);
    const { prior, loss } = make();
    const opt = new AdamW(prior.parameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0 });
    const rng = new Rng(0, 'cond-bench');
    const t0 = performance.now();
    prior.train();
    for (let s = 0; s < steps; s++) {
      T.tidy(() => {
        const idx = T.tensor(
          Array.from({ length: bs }, () => Math.floor(rng.next() * tr.tokens.size(0))),
          { dtype: 'int64' },
        );
        opt.zeroGrad();
        const l = loss(tr.tokens.indexSelect(0, idx), tr.labels.indexSelect(0, idx), new T.Generator(s));
        l.backward();
        opt.step();
      });
    }
    const msPerStep = (performance.now() - t0) / steps;
    prior.eval();
    let sum = 0;
    let n = 0;
    T.noGrad(() => {
      for (let s = 0; s < va.tokens.size(0); s += 100) {
        T.tidy(() => {
          const m = Math.min(100, va.tokens.size(0) - s);
          sum += loss(va.tokens.narrow(0, s, m), va.labels.narrow(0, s, m)).item() * m;
          n += m;
        });
      }
    });
    rows.push(`| ${name} | ${(sum / n).toFixed(4)} | ${msPerStep.toFixed(1)} | ${prior.numParameters().toLocaleString('en-US')} |`);
    console.error(`${name}: held-out bottom CE ${(sum / n).toFixed(4)} nats/token, ${msPerStep.toFixed(1)} ms/step`);
    prior.dispose();
  }
  console.log(`bottom prior conditioning, ${a.data} ${size}px, ${steps} steps of ${bs}, dim ${a.dim} depth ${a.depth}, held-out ${va.tokens.size(0)} images`);
  console.log('| conditioning | held-out bottom CE (nats/token) | ms/step | parameters |\n| --- | --- | --- | --- |');
  console.log(rows.join('\n'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
