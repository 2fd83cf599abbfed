// Prior evidence (issue: Stage 2): sampling time per image for the autoregressive prior without
// and with its KV cache and for MaskGIT at 4 / 8 / 12 steps — same tokenizer, same transformer size,
// same batch, one run — and, for the class-conditional MNIST priors, the share of samples the
// project's MNIST classifier assigns to the requested class.
//
//   node dist/bench/priors.js [--ar models/mnist-ar.safetensors] [--maskgit models/mnist-maskgit.safetensors]
//        [--classifier models/mnist-classifier.safetensors] [--batch 16] [--repeats 3] [--n 500]
//        [--grid 16] [--out bench/results/priors] [--table]
//
// Timing runs twice: on the shipped models' own token grid (MNIST: 7×7 = 49 tokens) and on a larger
// --grid×--grid sequence with freshly initialised models of the same transformer size (speed does
// not depend on the weights), because the cache's advantage grows with the sequence length.
// Writes <out>/results.json and sample grids; prints a Markdown table.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as T from '../src/torch/index.js';
import { imagesToGrid, writePng } from '../src/data/index.js';
import { ARPrior, MaskGIT, PriorModel, type ARPriorConfig, type MaskGITConfig } from '../src/priors/index.js';
import { loadClassifier } from '../src/metrics/classifier.js';

interface Timing {
  method: string;
  secondsPerImage: number;
  /** Uncached AR time / this method's time. */
  speedup: number;
}

function timeIt(fn: () => void, repeats: number): number {
  fn(); // warm-up (allocator, oneDNN primitives)
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

function timeSampling(ar: ARPrior, mg: MaskGIT, batch: number, repeats: number, classes: boolean): Timing[] {
  const cls = Array.from({ length: batch }, (_, i) => (classes ? i % 10 : null));
  const g = new T.Generator(0);
  const rows: [string, () => void][] = [
    ['AR, no cache', () => void T.tidy(() => ar.generate({ classes: cls, cache: false, generator: g }))],
    ['AR, KV cache', () => void T.tidy(() => ar.generate({ classes: cls, cache: true, generator: g }))],
    ...[4, 8, 12].map((steps): [string, () => void] => [
      `MaskGIT, ${steps} steps`,
      () => void T.tidy(() => mg.generate({ classes: cls, steps, generator: g })),
    ]),
  ];
  const secs = rows.map(([, fn]) => timeIt(fn, repeats) / batch);
  return rows.map(([method], i) => ({ method, secondsPerImage: secs[i]!, speedup: secs[0]! / secs[i]! }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ar: { type: 'string', default: 'models/mnist-ar.safetensors' },
      maskgit: { type: 'string', default: 'models/mnist-maskgit.safetensors' },
      classifier: { type: 'string', default: 'models/mnist-classifier.safetensors' },
      batch: { type: 'string', default: '16' },
      repeats: { type: 'string', default: '3' },
      n: { type: 'string', default: '500' },
      grid: { type: 'string', default: '16' },
      out: { type: 'string', default: 'bench/results/priors' },
      table: { type: 'boolean', default: false },
    },
  });
  const out = values.out!;
  if (values.table) {
    console.log(table(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))));
    return;
  }
  mkdirSync(out, { recursive: true });
  const batch = Number(values.batch);
  const repeats = Number(values.repeats);
  const ar = PriorModel.load(values.ar!);
  const mg = PriorModel.load(values.maskgit!);
  const arCfg = ar.prior.config as ARPriorConfig;
  const mgCfg = mg.prior.config as MaskGITConfig;
  const results: Record<string, unknown> = {
    _meta: { date: new Date().toISOString(), threads: T.getNumThreads(), batch, repeats, ar: values.ar, maskgit: values.maskgit },
    params: { ar: ar.prior.numParameters(), maskgit: mg.prior.numParameters() },
  };

  // 1. Speed on the shipped models' own sequence.
  const seq = arCfg.grid[0] * arCfg.grid[1] * arCfg.tokensPerPosition;
  console.error(`timing on the shipped models (${seq} tokens per image, batch ${batch}) …`);
  results.shipped = { tokens: seq, timings: timeSampling(ar.prior as ARPrior, mg.prior as MaskGIT, batch, repeats, true) };

  // 2. Speed on a longer sequence: same transformer sizes, fresh weights.
  const n = Number(values.grid);
  const shape = { codebookSize: arCfg.codebookSize, grid: [n, n] as [number, number], tokensPerPosition: 1, numClasses: 10 };
  const dims = { dim: arCfg.dim, depth: arCfg.depth, heads: arCfg.heads };
  console.error(`timing on ${n}×${n} = ${n * n} tokens per image (fresh weights, same sizes) …`);
  T.manualSeed(0);
  const bigAr = new ARPrior({ ...dims, ...shape, classDropout: 0.1 });
  const bigMg = new MaskGIT({ dim: mgCfg.dim, depth: mgCfg.depth, heads: mgCfg.heads, ...shape, classDropout: 0.1 });
  results.long = { tokens: n * n, timings: timeSampling(bigAr, bigMg, batch, repeats, true) };

  // 3. Class accuracy of class-conditional samples (MNIST classifier).
  const clf = loadClassifier(values.classifier!);
  const total = Number(values.n);
  const acc: Record<string, { accuracy: number; n: number }> = {};
  for (const [name, pm, opts] of [
    ['ar', ar, {}],
    ['ar, cfg 3', ar, { cfg: 3 }],
    ['maskgit-8', mg, { steps: 8 }],
    ['maskgit-12, cfg 3', mg, { steps: 12, cfg: 3 }],
  ] as const) {
    let correct = 0;
    const g = new T.Generator(1);
    for (let s = 0; s < total; s += 50) {
      const classes = Array.from({ length: Math.min(50, total - s) }, (_, i) => (s + i) % pm.classNames.length);
      const { right, grid } = T.tidy(() => {
        const imgs = pm.sample({ ...opts, defaults: false, classes, generator: g }); // exactly these settings, not the model file's
        const pred = clf.classify(imgs).classIds;
        // The first batch is kept as a picture: one row per 10 samples, so one column per digit.
        return { right: pred.filter((c, i) => c === classes[i]).length, grid: s === 0 ? imagesToGrid(imgs, { nrow: 10 }) : null };
      });
      correct += right;
      if (grid) {
        await writePng(join(out, `${name.replace(/[^a-z0-9]+/g, '-')}-samples.png`), grid);
        grid.dispose();
      }
    }
    acc[name] = { accuracy: correct / total, n: total };
    console.error(`${name}: ${((100 * correct) / total).toFixed(1)}% of ${total} samples classified as the requested digit`);
  }
  results.classAccuracy = acc;
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  console.log(table(results));
}

function table(r: Record<string, any>): string {
  const lines: string[] = [];
  for (const key of ['shipped', 'long']) {
    const s = r[key];
    if (!s) continue;
    lines.push(
      `Sampling, ${s.tokens} tokens per image (batch ${r._meta.batch}, ${r._meta.threads} threads):`,
      '',
      '| method | ms / image | vs AR without cache |',
      '|---|---|---|',
    );
    for (const t of s.timings as Timing[]) lines.push(`| ${t.method} | ${(t.secondsPerImage * 1000).toFixed(1)} | ${t.speedup.toFixed(1)}x |`);
    lines.push('');
  }
  if (r.classAccuracy) {
    lines.push('| prior | samples classified as the requested digit |', '|---|---|');
    for (const [k, v] of Object.entries(r.classAccuracy as Record<string, { accuracy: number; n: number }>))
      lines.push(`| ${k} | ${(v.accuracy * 100).toFixed(1)}% of ${v.n} |`);
  }
  return lines.join('\n');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
