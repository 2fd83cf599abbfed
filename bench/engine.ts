// Engine benchmark: the same models in Tessera and in PyTorch (bench/engine_torch.py, Debian's
// python3-torch, same thread count), in one run, printed as time ratios Tessera / PyTorch.
//
//   node dist/bench/engine.js [--iters 10] [--threads N] [--json out.json]
//   node dist/bench/engine.js --wait-policy [--iters 10] [--threads N] [--json out.json]
//
// --wait-policy times Tessera alone under each OMP_WAIT_POLICY (unset, PASSIVE, ACTIVE), each in a
// child process because libgomp reads the variable once, when the addon loads it.
//
// (a) a VQGAN-shaped conv encoder/decoder, 64×64, batch 8, one Adam training step;
// (b) a 6-layer width-256 causal transformer over 256 tokens, batch 8, one Adam training step;
// (c) the inference (no grad) of both.
// Tessera runs the conv model in channels_last; PyTorch is measured both in its default layout
// and in channels_last, so the ratio against each is visible.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as T from '../src/torch/index.js';
import { Tensor } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { repoRootFromHere } from './util.js';

class ResBlock extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly norm2: nn.GroupNorm;
  readonly conv2: nn.Conv2d;
  readonly skip: nn.Conv2d | null;
  constructor(cin: number, cout: number) {
    super();
    this.norm1 = this.add('norm1', new nn.GroupNorm(32, cin, { eps: 1e-6 }));
    this.conv1 = this.add('conv1', new nn.Conv2d(cin, cout, 3, { padding: 1 }));
    this.norm2 = this.add('norm2', new nn.GroupNorm(32, cout, { eps: 1e-6 }));
    this.conv2 = this.add('conv2', new nn.Conv2d(cout, cout, 3, { padding: 1 }));
    this.skip = cin !== cout ? this.add('skip', new nn.Conv2d(cin, cout, 1)) : null;
  }
  forward(x: Tensor): Tensor {
    const h = this.conv2.forward(this.norm2.forward(this.conv1.forward(this.norm1.forward(x).silu())).silu());
    return (this.skip ? this.skip.forward(x) : x).add(h);
  }
}

/** The same topology as engine_torch.py's ConvAutoencoder. */
class ConvAutoencoder extends nn.Module {
  readonly enc: nn.ModuleList<nn.Module & { forward(x: Tensor): Tensor }>;
  readonly encNorm: nn.GroupNorm;
  readonly encOut: nn.Conv2d;
  readonly decIn: nn.Conv2d;
  readonly dec: nn.ModuleList<nn.Module & { forward(x: Tensor): Tensor }>;
  readonly decNorm: nn.GroupNorm;
  readonly decOut: nn.Conv2d;
  constructor(ch = 64, z = 64) {
    super();
    this.enc = this.add(
      'enc',
      new nn.ModuleList<nn.Module & { forward(x: Tensor): Tensor }>([
        new nn.Conv2d(3, ch, 3, { padding: 1 }),
        new ResBlock(ch, ch),
        new nn.Conv2d(ch, ch, 3, { stride: 2, padding: 1 }),
        new ResBlock(ch, 2 * ch),
        new nn.Conv2d(2 * ch, 2 * ch, 3, { stride: 2, padding: 1 }),
        new ResBlock(2 * ch, 2 * ch),
      ]),
    );
    this.encNorm = this.add('enc_norm', new nn.GroupNorm(32, 2 * ch, { eps: 1e-6 }));
    this.encOut = this.add('enc_out', new nn.Conv2d(2 * ch, z, 3, { padding: 1 }));
    this.decIn = this.add('dec_in', new nn.Conv2d(z, 2 * ch, 3, { padding: 1 }));
    this.dec = this.add(
      'dec',
      new nn.ModuleList<nn.Module & { forward(x: Tensor): Tensor }>([
        new ResBlock(2 * ch, 2 * ch),
        new nn.Conv2d(2 * ch, 2 * ch, 3, { padding: 1 }),
        new ResBlock(2 * ch, ch),
        new nn.Conv2d(ch, ch, 3, { padding: 1 }),
        new ResBlock(ch, ch),
      ]),
    );
    this.decNorm = this.add('dec_norm', new nn.GroupNorm(32, ch, { eps: 1e-6 }));
    this.decOut = this.add('dec_out', new nn.Conv2d(ch, 3, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    for (const m of this.enc) x = m.forward(x);
    const z = this.encOut.forward(this.encNorm.forward(x).silu());
    const up = (t: Tensor) => T.interpolate(t, { scaleFactor: 2, mode: 'nearest' });
    const d = [...this.dec];
    let h = d[0]!.forward(this.decIn.forward(z));
    h = d[2]!.forward(d[1]!.forward(up(h)));
    h = d[4]!.forward(d[3]!.forward(up(h)));
    return this.decOut.forward(this.decNorm.forward(h).silu());
  }
}

class Block extends nn.Module {
  readonly ln1: nn.LayerNorm;
  readonly qkv: nn.Linear;
  readonly proj: nn.Linear;
  readonly ln2: nn.LayerNorm;
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(
    readonly d: number,
    readonly heads: number,
  ) {
    super();
    this.ln1 = this.add('ln1', new nn.LayerNorm(d));
    this.qkv = this.add('qkv', new nn.Linear(d, 3 * d));
    this.proj = this.add('proj', new nn.Linear(d, d));
    this.ln2 = this.add('ln2', new nn.LayerNorm(d));
    this.fc1 = this.add('fc1', new nn.Linear(d, 4 * d));
    this.fc2 = this.add('fc2', new nn.Linear(4 * d, d));
  }
  forward(x: Tensor, mask: Tensor): Tensor {
    const [b, t, d] = x.shape as [number, number, number];
    const hd = d / this.heads;
    const [q, k, v] = this.qkv
      .forward(this.ln1.forward(x))
      .split(d, 2)
      .map((u) => u.view([b, t, this.heads, hd]).transpose(1, 2)) as [Tensor, Tensor, Tensor];
    const att = q
      .matmul(k.transpose(-2, -1))
      .mul(1 / Math.sqrt(hd))
      .maskedFill(mask.logicalNot(), -Infinity)
      .softmax(-1);
    const y = att.matmul(v).transpose(1, 2).reshape([b, t, d]);
    x = x.add(this.proj.forward(y));
    return x.add(this.fc2.forward(this.fc1.forward(this.ln2.forward(x)).gelu()));
  }
}

class GPT extends nn.Module {
  readonly tok: nn.Embedding;
  readonly pos: Tensor;
  readonly blocks: nn.ModuleList<Block>;
  readonly ln: nn.LayerNorm;
  readonly head: nn.Linear;
  readonly mask: Tensor;
  constructor(
    readonly vocab = 1024,
    d = 256,
    layers = 6,
    heads = 8,
    t = 256,
  ) {
    super();
    this.tok = this.add('tok', new nn.Embedding(vocab, d));
    this.pos = this.param('pos', T.zeros([1, t, d]));
    this.blocks = this.add('blocks', new nn.ModuleList(Array.from({ length: layers }, () => new Block(d, heads))));
    this.ln = this.add('ln', new nn.LayerNorm(d));
    this.head = this.add('head', new nn.Linear(d, vocab, { bias: false }));
    this.mask = this.buffer('mask', T.ones([t, t], { dtype: 'bool' }).tril());
  }
  forward(idx: Tensor): Tensor {
    const t = idx.size(1);
    let x = this.tok.forward(idx).add(this.pos.index(':', `:${t}`));
    const mask = this.mask.index(`:${t}`, `:${t}`);
    for (const b of this.blocks) x = b.forward(x, mask);
    return this.head.forward(this.ln.forward(x));
  }
}

function timeit(fn: () => void, iters: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) T.tidy(fn);
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    T.tidy(fn);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

type Times = { conv_train_ms: number; conv_infer_ms: number; transformer_train_ms: number; transformer_infer_ms: number };

function runTessera(iters: number): Times {
  T.manualSeed(0);
  const conv = new ConvAutoencoder();
  conv.to('channels_last');
  const x = T.randn([8, 3, 64, 64]).to({ memoryFormat: 'channels_last' }).keep();
  const opt = new Adam(conv.parameters(), { lr: 1e-4 });
  const convTrain = () => {
    opt.zeroGrad();
    conv.forward(x).sub(x).abs().mean().backward();
    opt.step();
  };
  const convInfer = () => void T.noGrad(() => conv.forward(x));

  const gpt = new GPT();
  const idx = T.randint(0, 1024, [8, 257]).keep();
  const inp = idx.index(':', ':-1').keep();
  const tgt = idx.index(':', '1:').reshape([-1]).keep();
  const gopt = new Adam(gpt.parameters(), { lr: 1e-4 });
  const gptTrain = () => {
    gopt.zeroGrad();
    T.crossEntropy(gpt.forward(inp).reshape([-1, 1024]), tgt).backward();
    gopt.step();
  };
  const gptInfer = () => void T.noGrad(() => gpt.forward(inp));
  return {
    conv_train_ms: timeit(convTrain, iters),
    conv_infer_ms: timeit(convInfer, iters),
    transformer_train_ms: timeit(gptTrain, iters),
    transformer_infer_ms: timeit(gptInfer, iters),
  };
}

function runTorch(iters: number, threads: number, channelsLast: boolean): Times {
  const args = [`${repoRootFromHere(import.meta.url)}/bench/engine_torch.py`, '--threads', String(threads), '--iters', String(iters)];
  if (channelsLast) args.push('--channels-last');
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch side failed (needs Debian's python3-torch: apt-get install python3-torch):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Times;
}

const WAIT_POLICIES = ['unset', 'PASSIVE', 'ACTIVE'] as const;

/** Tessera's times in a child process with OMP_WAIT_POLICY set to `policy` ('unset': removed). */
function runTesseraWithPolicy(policy: (typeof WAIT_POLICIES)[number], iters: number, threads: number): Times {
  const env = { ...process.env };
  if (policy === 'unset') delete env.OMP_WAIT_POLICY;
  else env.OMP_WAIT_POLICY = policy;
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--tessera-only', '--iters', String(iters), '--threads', String(threads)], {
    encoding: 'utf8',
    env,
  });
  if (r.status !== 0) throw new Error(`Tessera child (OMP_WAIT_POLICY ${policy}) failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Times;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      iters: { type: 'string', default: '10' },
      threads: { type: 'string' },
      json: { type: 'string' },
      'wait-policy': { type: 'boolean', default: false },
      'tessera-only': { type: 'boolean', default: false },
    },
  });
  const iters = Number(values.iters);
  const threads = Number(values.threads ?? availableParallelism());
  T.setNumThreads(threads);
  if (values['tessera-only']) {
    console.log(JSON.stringify(runTessera(iters)));
    return;
  }
  if (values['wait-policy']) {
    console.log(`OpenMP wait policy: Tessera at ${threads} threads, median of ${iters} iterations after 3 warm-up, one child process per policy`);
    const times = WAIT_POLICIES.map((p) => runTesseraWithPolicy(p, iters, threads));
    const rows = (Object.keys(times[0]!) as (keyof Times)[]).map((k) => ({
      case: k.replace(/_ms$/, ''),
      ...Object.fromEntries(WAIT_POLICIES.map((p, i) => [`${p}_ms`, +times[i]![k].toFixed(1)])),
      ...Object.fromEntries(WAIT_POLICIES.slice(1).map((p, i) => [`${p}/unset`, +(times[i + 1]![k] / times[0]![k]).toFixed(2)])),
    }));
    console.table(rows);
    if (values.json) writeFileSync(values.json, JSON.stringify({ threads, iters, waitPolicy: rows, date: new Date().toISOString() }, null, 2));
    return;
  }
  console.log(`engine benchmark: ${threads} threads, median of ${iters} iterations after 3 warm-up`);
  const tessera = runTessera(iters);
  const torchDefault = runTorch(iters, threads, false);
  const torchCl = runTorch(iters, threads, true);
  const rows = (Object.keys(tessera) as (keyof Times)[]).map((k) => ({
    case: k.replace(/_ms$/, ''),
    tessera_ms: +tessera[k].toFixed(1),
    torch_ms: +torchDefault[k].toFixed(1),
    torch_channels_last_ms: +torchCl[k].toFixed(1),
    ratio: +(tessera[k] / torchDefault[k]).toFixed(2),
    ratio_vs_channels_last: +(tessera[k] / torchCl[k]).toFixed(2),
  }));
  console.table(rows);
  if (values.json) writeFileSync(values.json, JSON.stringify({ threads, iters, rows, date: new Date().toISOString() }, null, 2));
}

main();
