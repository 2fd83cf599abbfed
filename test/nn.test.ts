// src/nn against PyTorch: fixtures from tools/fixtures/nn.py (weights, inputs, outputs, grads).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { Tensor } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Module } from '../src/nn/index.js';
import { assertClose, fromJson, loadJsonFixture, type TensorJson } from './helpers.js';

type StateJson = Record<string, TensorJson>;
interface LayerCase {
  state: StateJson;
  inputs: Record<string, TensorJson>;
  outputs: (TensorJson | null)[];
  grad_output?: TensorJson;
  grads?: Record<string, TensorJson>;
  param_grads?: Record<string, TensorJson>;
  masks?: Record<string, TensorJson>;
}
interface BatchNormCase {
  state: StateJson;
  train_inputs: TensorJson[];
  train_outputs: TensorJson[];
  state_after: StateJson;
  eval_input: TensorJson;
  eval_output: TensorJson;
}

const layers = loadJsonFixture<Record<string, unknown>>('nn', 'layers.json');
const layerCase = (name: string) => layers[name] as LayerCase;
const toState = (s: StateJson): Record<string, Tensor> => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, fromJson(v)]));

/** Loads the case's PyTorch weights (strictly), runs `run`, compares outputs and gradients. */
function checkLayer<M extends Module>(name: string, m: M, run: (m: M, inputs: Record<string, Tensor>, c: LayerCase) => (Tensor | null)[] | Tensor): void {
  const c = layerCase(name);
  m.loadStateDict(toState(c.state));
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, fromJson(v)]));
  for (const k of Object.keys(c.grads ?? {})) inputs[k]!.requiresGrad = true;
  const r = run(m, inputs, c);
  const outs = r instanceof Tensor ? [r] : r;
  assert.equal(outs.length, c.outputs.length, `${name}: number of outputs`);
  c.outputs.forEach((want, i) => {
    if (want === null) assert.equal(outs[i], null, `${name}: output ${i} should be null`);
    else assertClose(outs[i]!, want, 1e-5, 1e-5, `${name} output ${i}`);
  });
  if (c.grads) {
    outs[0]!.backward(fromJson(c.grad_output!));
    for (const [k, g] of Object.entries(c.grads)) assertClose(inputs[k]!.grad!, g, 1e-5, 1e-5, `${name} grad ${k}`);
    const params = new Map(m.namedParameters());
    for (const [k, g] of Object.entries(c.param_grads ?? {})) assertClose(params.get(k)!.grad!, g, 1e-5, 1e-5, `${name} param grad ${k}`);
  }
}

// ------------------------------------------------------------------ the nested model of model.json
class Block extends Module {
  readonly conv1: nn.Conv2d;
  readonly norm: nn.GroupNorm;
  readonly act: nn.SiLU;
  readonly conv2: nn.Conv2d;
  constructor(c: number) {
    super();
    this.conv1 = this.add('conv1', new nn.Conv2d(c, c, 3, { padding: 1, bias: false }));
    this.norm = this.add('norm', new nn.GroupNorm(2, c));
    this.act = this.add('act', new nn.SiLU());
    this.conv2 = this.add('conv2', new nn.Conv2d(c, c, 1));
  }
  forward(x: Tensor): Tensor {
    return x.add(this.conv2.forward(this.act.forward(this.norm.forward(this.conv1.forward(x)))));
  }
}

class Net extends Module {
  readonly stem: nn.Sequential;
  readonly blocks: nn.ModuleList<Block>;
  readonly scale: Tensor;
  readonly cache: Tensor;
  readonly heads: nn.ModuleDict<nn.UnaryModule>;
  readonly norm: nn.GroupNorm;
  constructor() {
    super();
    this.stem = this.add('stem', new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU()));
    this.blocks = this.add('blocks', new nn.ModuleList([new Block(4), new Block(4)]));
    this.scale = this.buffer('scale', T.full([1], 0.5));
    this.cache = this.buffer('cache', T.zeros([1]), { persistent: false });
    this.heads = this.add(
      'heads',
      new nn.ModuleDict<nn.UnaryModule>({ cls: new nn.Linear(4, 2), aux: new nn.Sequential(new nn.Flatten(), new nn.Linear(4 * 4 * 4, 3)) }),
    );
    this.norm = this.add('norm', new nn.GroupNorm(2, 4));
  }
  forward(x: Tensor): [Tensor, Tensor] {
    let h = this.stem.forward(x);
    for (const b of this.blocks) h = b.forward(h);
    h = this.norm.forward(h).mul(this.scale);
    return [this.heads.get('cls').forward(h.mean([2, 3])), this.heads.get('aux').forward(h)];
  }
}

interface ModelFixture {
  state_dict_keys: string[];
  state_dict_shapes: number[][];
  named_parameters: string[];
  named_buffers: string[];
  named_modules: string[];
  num_parameters: number;
  state: StateJson;
  x: TensorJson;
  eval_outputs: TensorJson[];
  train_outputs: TensorJson[];
  state_after_train: StateJson;
}
const model = loadJsonFixture<ModelFixture>('nn', 'model.json');

describe('Module: names and state dict', () => {
  it('state dict keys, order and shapes equal PyTorch for a nested model', () => {
    const net = new Net();
    assert.deepEqual(net.stateDictKeys(), model.state_dict_keys);
    const sd = net.stateDict();
    assert.deepEqual(Object.keys(sd), model.state_dict_keys);
    assert.deepEqual(
      Object.values(sd).map((t) => t.shape),
      model.state_dict_shapes,
    );
    assert.equal(sd['stem.1.num_batches_tracked']!.dtype, 'int64');
    assert.ok(!('cache' in sd), 'non-persistent buffer must not be in the state dict');
  });

  it('namedParameters / namedBuffers / namedModules / numParameters equal PyTorch', () => {
    const net = new Net();
    assert.deepEqual(
      net.namedParameters().map(([k]) => k),
      model.named_parameters,
    );
    assert.deepEqual(
      net.namedBuffers().map(([k]) => k),
      model.named_buffers,
    );
    assert.deepEqual(
      net.namedModules().map(([k]) => k),
      model.named_modules,
    );
    assert.equal(net.numParameters(), model.num_parameters);
    assert.ok(net.parameters().every((p) => p.requiresGrad && p.isKept));
    assert.deepEqual(
      net.namedChildren().map(([k]) => k),
      ['stem', 'blocks', 'heads', 'norm'],
    );
    assert.equal(net.getSubmodule('blocks.1.conv2'), net.blocks.at(1).conv2);
  });

  it('stateDict values are detached views sharing storage; keepVars returns the parameters', () => {
    const lin = new nn.Linear(3, 2);
    const sd = lin.stateDict();
    assert.equal(sd.weight!.requiresGrad, false);
    assert.ok(sd.weight!.sharesStorageWith(lin.weight));
    assert.notEqual(sd.weight, lin.weight);
    assert.equal(lin.stateDict({ keepVars: true }).weight, lin.weight);
  });

  it('loads PyTorch weights and reproduces eval and train outputs and running stats', () => {
    const net = new Net();
    const w = net.getSubmodule('stem.0').getParameter('weight');
    net.loadStateDict(toState(model.state));
    assert.equal(net.getSubmodule('stem.0').getParameter('weight'), w, 'loading copies in place, keeping parameter identity');
    const x = fromJson(model.x);
    net.eval();
    net.forward(x).forEach((y, i) => assertClose(y, model.eval_outputs[i]!, 1e-5, 1e-5, `eval output ${i}`));
    net.train();
    net.forward(x).forEach((y, i) => assertClose(y, model.train_outputs[i]!, 1e-5, 1e-5, `train output ${i}`));
    const after = net.stateDict();
    for (const [k, v] of Object.entries(model.state_after_train)) assertClose(after[k]!, v, 1e-5, 1e-5, k);
  });

  it('shared (tied) parameters are listed once by namedParameters but under every key in the state dict', () => {
    class Tied extends Module {
      readonly a: nn.Linear;
      readonly b: nn.Linear;
      constructor() {
        super();
        this.a = this.add('a', new nn.Linear(2, 2));
        this.b = this.add('b', this.a);
      }
    }
    const m = new Tied();
    assert.deepEqual(
      m.namedParameters().map(([k]) => k),
      ['a.weight', 'a.bias'],
    );
    assert.deepEqual(m.stateDictKeys(), ['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    assert.deepEqual(
      m.namedModules().map(([k]) => k),
      ['', 'a'],
    );
  });

  it('rejects bad names and name clashes between parameters, buffers and modules', () => {
    class Bad extends Module {
      constructor(kind: number) {
        super();
        this.param('w', T.zeros([1]));
        if (kind === 0) this.buffer('w', T.zeros([1]));
        if (kind === 1) this.add('w', new nn.Identity());
        if (kind === 2) this.param('a.b', T.zeros([1]));
        if (kind === 3) this.param('', T.zeros([1]));
      }
    }
    assert.throws(() => new Bad(0), /buffer 'w'.*parameter of that name/);
    assert.throws(() => new Bad(1), /module 'w'.*parameter of that name/);
    assert.throws(() => new Bad(2), /cannot contain '\.'/);
    assert.throws(() => new Bad(3), /non-empty/);
  });
});

describe('Module: loadStateDict errors', () => {
  const make = () => new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));

  it('strict mode throws one error listing every missing, unexpected and mismatched key, and changes nothing', () => {
    const m = make();
    const before = m
      .at(2)
      .forward(T.ones([1, 4]))
      .toArray();
    const sd = make().stateDict();
    delete sd['2.bias'];
    delete sd['0.bias'];
    sd['extra.weight'] = T.zeros([2]);
    sd['0.weight'] = T.zeros([5, 3]);
    sd['2.weight'] = T.zeros([2, 4, 1]);
    let err: unknown;
    try {
      m.loadStateDict(sd);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof nn.StateDictError, 'expected a StateDictError');
    const msg = err.message;
    for (const s of ['0.bias', '2.bias', 'extra.weight', '0.weight', '[5, 3]', '[4, 3]', '2.weight', '[2, 4, 1]', '[2, 4]'])
      assert.ok(msg.includes(s), `message lacks ${s}:\n${msg}`);
    assert.deepEqual(err.result.missing, ['0.bias', '2.bias']);
    assert.deepEqual(err.result.unexpected, ['extra.weight']);
    assert.deepEqual(err.result.mismatched, [
      { key: '0.weight', expected: [4, 3], got: [5, 3] },
      { key: '2.weight', expected: [2, 4], got: [2, 4, 1] },
    ]);
    assert.deepEqual(
      m
        .at(2)
        .forward(T.ones([1, 4]))
        .toArray(),
      before,
      'a failed strict load must not modify the module',
    );
  });

  it('non-strict mode loads what matches and reports the rest', () => {
    const m = make();
    const src = make();
    const sd = src.stateDict();
    delete sd['2.bias'];
    sd['junk'] = T.zeros([1]);
    sd['0.weight'] = T.zeros([4, 4]);
    const r = m.loadStateDict(sd, { strict: false });
    assert.deepEqual(r, { missing: ['2.bias'], unexpected: ['junk'], mismatched: [{ key: '0.weight', expected: [4, 3], got: [4, 4] }] });
    const w = (mod: Module, path: string) => mod.getSubmodule(path).getParameter('weight')!;
    assert.ok(T.equal(w(m, '2'), w(src, '2')));
    assert.ok(!T.equal(w(m, '0'), w(src, '0')));
  });

  it('casts dtypes while copying and accepts a Map', () => {
    const m = new nn.Linear(2, 1);
    m.loadStateDict(
      new Map([
        ['weight', T.tensor([[1, 2]], { dtype: 'float64' })],
        ['bias', T.tensor([3], { dtype: 'float64' })],
      ]),
    );
    assert.equal(m.weight.dtype, 'float32');
    assert.deepEqual(m.forward(T.tensor([[1, 1]])).toArray(), [6]);
  });
});

describe('layers match PyTorch', () => {
  it('Linear (with input and weight gradients), Linear without bias', () => {
    checkLayer('linear', new nn.Linear(5, 4), (m, i) => m.forward(i.x!));
    checkLayer('linear_nobias', new nn.Linear(5, 4, { bias: false }), (m, i) => m.forward(i.x!));
  });

  it('Conv2d: padding, stride/dilation/groups without bias, "same" with an even kernel, reflect padding', () => {
    checkLayer('conv_basic', new nn.Conv2d(3, 4, 3, { padding: 1 }), (m, i) => m.forward(i.x!));
    checkLayer('conv_strided', new nn.Conv2d(4, 6, [3, 2], { stride: 2, padding: [1, 0], dilation: [2, 1], groups: 2, bias: false }), (m, i) =>
      m.forward(i.x!),
    );
    checkLayer('conv_same', new nn.Conv2d(2, 3, 4, { padding: 'same' }), (m, i) => m.forward(i.x!));
    checkLayer('conv_reflect', new nn.Conv2d(2, 3, 3, { padding: 1, paddingMode: 'reflect' }), (m, i) => m.forward(i.x!));
  });

  it('ConvTranspose2d (with input gradient), and with groups/outputPadding/dilation', () => {
    checkLayer('convt', new nn.ConvTranspose2d(4, 3, 4, { stride: 2, padding: 1 }), (m, i) => m.forward(i.x!));
    checkLayer('convt_groups', new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2, dilation: 2 }), (m, i) => m.forward(i.x!));
  });

  it('GroupNorm and LayerNorm (with gradients)', () => {
    checkLayer('groupnorm', new nn.GroupNorm(2, 6), (m, i) => m.forward(i.x!));
    checkLayer('layernorm', new nn.LayerNorm(4), (m, i) => m.forward(i.x!));
    checkLayer('layernorm2d', new nn.LayerNorm([3, 4], { eps: 1e-3 }), (m, i) => m.forward(i.x!));
  });

  it('Embedding with paddingIdx (padding row gets no gradient)', () => {
    const c = layerCase('embedding');
    const m = new nn.Embedding(10, 4, { paddingIdx: 0 });
    checkLayer('embedding', m, (m, i) => m.forward(i.idx!));
    const out = m.forward(fromJson(c.inputs.idx!));
    out.backward(T.onesLike(out));
    assertClose(m.weight.grad!, c.param_grads!.weight!, 0, 0, 'embedding weight grad');
  });

  it('activation modules and Flatten', () => {
    const a = layers.activations as Record<string, TensorJson>;
    const x = fromJson(a.x!);
    const mods: Record<string, nn.UnaryModule> = {
      relu: new nn.ReLU(),
      silu: new nn.SiLU(),
      gelu: new nn.GELU(),
      gelu_tanh: new nn.GELU('tanh'),
      leaky_relu: new nn.LeakyReLU(0.2),
      tanh: new nn.Tanh(),
      sigmoid: new nn.Sigmoid(),
    };
    for (const [k, m] of Object.entries(mods)) assertClose(m.forward(x), a[k]!, 1e-6, 1e-5, k);
    assert.deepEqual(new nn.Flatten().forward(T.zeros([2, 3, 4, 5])).shape, [2, 60]);
    assert.deepEqual(new nn.Flatten(0, 1).forward(T.zeros([2, 3, 4])).shape, [6, 4]);
    assert.equal(new nn.Identity().forward(x), x);
  });
});

describe('BatchNorm2d', () => {
  for (const [name, momentum] of [
    ['batchnorm', 0.1],
    ['batchnorm_cumulative', null],
  ] as const) {
    it(`running statistics after 3 training steps match PyTorch (momentum ${momentum})`, () => {
      const c = layers[name] as BatchNormCase;
      const bn = new nn.BatchNorm2d(3, { momentum });
      bn.loadStateDict(toState(c.state));
      c.train_inputs.forEach((x, i) => assertClose(bn.forward(fromJson(x)), c.train_outputs[i]!, 1e-5, 1e-5, `train step ${i}`));
      const after = bn.stateDict();
      for (const [k, v] of Object.entries(c.state_after)) assertClose(after[k]!, v, 1e-5, 1e-5, k);
      assert.equal(bn.numBatchesTracked!.item(), 3);
      bn.eval();
      assertClose(bn.forward(fromJson(c.eval_input)), c.eval_output, 1e-5, 1e-5, 'eval output');
      assert.equal(bn.numBatchesTracked!.item(), 3, 'eval must not count batches');
    });
  }

  it('resetRunningStats and trackRunningStats: false', () => {
    const bn = new nn.BatchNorm2d(2);
    bn.forward(T.randn([4, 2, 3, 3]).mul(3).add(1));
    bn.resetRunningStats();
    assert.deepEqual(bn.runningMean!.toArray(), [0, 0]);
    assert.deepEqual(bn.runningVar!.toArray(), [1, 1]);
    assert.equal(bn.numBatchesTracked!.item(), 0);
    const free = new nn.BatchNorm2d(2, { trackRunningStats: false });
    assert.deepEqual(free.stateDictKeys(), ['weight', 'bias']);
    free.eval();
    const y = free.forward(T.randn([4, 2, 3, 3]).mul(3).add(1));
    assert.ok(Math.abs(y.mean().item()) < 1e-5, 'without running stats eval uses batch statistics');
  });
});

describe('MultiheadAttention matches PyTorch', () => {
  it('self-attention, sequence first, with input gradient', () => {
    checkLayer('mha_self', new nn.MultiheadAttention(8, 2), (m, i) => m.forward(i.q!, i.q!, i.q!));
  });

  it('batch first with boolean key_padding_mask and attn_mask', () => {
    const c = layerCase('mha_masks');
    const [kpm, am] = [fromJson(c.masks!.key_padding_mask!), fromJson(c.masks!.attn_mask!)];
    checkLayer('mha_masks', new nn.MultiheadAttention(8, 2, { batchFirst: true }), (m, i) =>
      m.forward(i.q!, i.k!, i.k!, { keyPaddingMask: kpm, attnMask: am }),
    );
  });

  it('3-d float attn_mask, per-head weights', () => {
    const c = layerCase('mha_float_mask');
    const am = fromJson(c.masks!.attn_mask!);
    checkLayer('mha_float_mask', new nn.MultiheadAttention(8, 4), (m, i) => m.forward(i.q!, i.k!, i.k!, { attnMask: am, averageAttnWeights: false }));
  });

  it('kdim/vdim (separate projections), needWeights false, with key gradient', () => {
    const m = new nn.MultiheadAttention(8, 2, { kdim: 6, vdim: 5 });
    assert.deepEqual(m.stateDictKeys(), ['q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']);
    checkLayer('mha_kvdim', m, (m, i) => m.forward(i.q!, i.k!, i.v!, { needWeights: false }));
  });

  it('unbatched input without biases, with key_padding_mask', () => {
    const c = layerCase('mha_unbatched');
    const kpm = fromJson(c.masks!.key_padding_mask!);
    const m = new nn.MultiheadAttention(8, 2, { bias: false });
    assert.deepEqual(m.stateDictKeys(), ['in_proj_weight', 'out_proj.weight']);
    checkLayer('mha_unbatched', m, (m, i) => m.forward(i.q!, i.k!, i.k!, { keyPaddingMask: kpm }));
  });

  it('rejects masks of the wrong shape', () => {
    const m = new nn.MultiheadAttention(8, 2);
    const q = T.randn([3, 2, 8]);
    assert.throws(() => m.forward(q, q, q, { attnMask: T.zeros([3, 4]) }), /2D attn_mask/);
    assert.throws(() => m.forward(q, q, q, { keyPaddingMask: T.zeros([3, 2], { dtype: 'bool' }) }), /key_padding_mask/);
  });
});

describe('init', () => {
  const fx = loadJsonFixture<Record<string, Record<string, TensorJson>> & { gains: Record<string, number> }>('nn', 'init.json');
  const exact = (a: Tensor, b: TensorJson, what: string) => assertClose(a, b, 1e-7, 0, what);

  it('seeded default initialization is identical to PyTorch for every layer', () => {
    const makers: Record<string, () => Module> = {
      linear: () => new nn.Linear(5, 4),
      conv: () => new nn.Conv2d(3, 4, 3),
      conv_groups: () => new nn.Conv2d(4, 6, 3, { groups: 2, bias: false }),
      convt: () => new nn.ConvTranspose2d(4, 3, 4),
      embedding: () => new nn.Embedding(6, 3, { paddingIdx: 2 }),
      mha: () => new nn.MultiheadAttention(8, 2),
      mha_kvdim: () => new nn.MultiheadAttention(8, 2, { kdim: 6, vdim: 5 }),
      groupnorm: () => new nn.GroupNorm(2, 4),
      batchnorm: () => new nn.BatchNorm2d(3),
    };
    Object.entries(makers).forEach(([name, make], i) => {
      T.manualSeed(100 + i);
      const sd = make().stateDict();
      assert.deepEqual(Object.keys(sd), Object.keys(fx[name]!), `${name} keys`);
      for (const [k, v] of Object.entries(fx[name]!)) exact(sd[k]!, v, `${name}.${k}`);
    });
  });

  it('initializer functions, gains and explicit Generators match PyTorch', () => {
    const f = fx.functions!;
    T.manualSeed(2);
    exact(nn.init.xavierUniform_(T.empty([6, 5]), 1.5), f.xavier_uniform!, 'xavier_uniform');
    exact(nn.init.xavierNormal_(T.empty([6, 5])), f.xavier_normal!, 'xavier_normal');
    exact(nn.init.kaimingUniform_(T.empty([4, 3, 2, 2]), { nonlinearity: 'relu' }), f.kaiming_uniform!, 'kaiming_uniform');
    exact(nn.init.kaimingNormal_(T.empty([6, 5]), { mode: 'fan_out', nonlinearity: 'relu' }), f.kaiming_normal!, 'kaiming_normal');
    assertClose(nn.init.truncNormal_(T.empty([50]), { mean: 0.2, std: 0.5, a: -0.5, b: 1 }), f.trunc_normal!, 1e-6, 0, 'trunc_normal');
    exact(nn.init.normal_(T.empty([7]), 1, 0.1), f.normal!, 'normal');

    const g = new T.Generator(3);
    exact(nn.init.uniform_(T.empty([4, 4]), -0.5, 0.5, g), fx.generator!.uniform!, 'generator uniform');
    exact(nn.init.normal_(T.empty([5]), 0, 2, g), fx.generator!.normal!, 'generator normal');

    const gains = fx.gains;
    assert.equal(nn.init.calculateGain('tanh'), gains.tanh);
    assert.equal(nn.init.calculateGain('relu'), gains.relu);
    assert.equal(nn.init.calculateGain('leaky_relu'), gains.leaky_relu);
    assert.equal(nn.init.calculateGain('leaky_relu', Math.sqrt(5)), gains.leaky_relu_sqrt5);
    assert.equal(nn.init.calculateGain('selu'), gains.selu);
  });

  it('default init statistics are sane', () => {
    T.manualSeed(0);
    const lin = new nn.Linear(256, 64);
    const bound = 1 / Math.sqrt(256);
    for (const t of [lin.weight, lin.bias!]) {
      const a = t.abs().max().item();
      assert.ok(a <= bound && a > 0.95 * bound, `Linear: max |value| ${a} should be just below 1/√fan_in = ${bound}`);
    }
    assert.ok(Math.abs(lin.weight.mean().item()) < 0.05 * bound);
    // U(-b, b) has std b/√3.
    assert.ok(Math.abs(lin.weight.std().item() - bound / Math.sqrt(3)) < 0.03 * bound);

    const conv = new nn.Conv2d(16, 8, 3);
    const cb = 1 / Math.sqrt(16 * 9);
    assert.ok(conv.weight.abs().max().item() <= cb && conv.bias!.abs().max().item() <= cb);
    const emb = new nn.Embedding(1000, 16);
    assert.ok(Math.abs(emb.weight.std().item() - 1) < 0.03);
    const ln = new nn.LayerNorm(5);
    assert.deepEqual(ln.weight!.toArray(), [1, 1, 1, 1, 1]);
    assert.deepEqual(ln.bias!.toArray(), [0, 0, 0, 0, 0]);
    const mha = new nn.MultiheadAttention(16, 4);
    assert.equal(mha.inProjBias!.abs().max().item(), 0);
    assert.equal(mha.outProj.bias!.abs().max().item(), 0);
    assert.ok(mha.inProjWeight!.abs().max().item() <= Math.sqrt(6 / (16 + 48)));
    const tn = nn.init.truncNormal_(T.empty([20000]), { std: 1, a: -2, b: 2 });
    assert.ok(tn.min().item() >= -2 && tn.max().item() <= 2);
    // The std of N(0,1) truncated to ±2 is ≈ 0.880.
    assert.ok(Math.abs(tn.std().item() - 0.8796) < 0.02);
    assert.throws(() => nn.init.xavierUniform_(T.empty([5])), /fewer than 2 dimensions/);
  });
});

describe('Module behaviour', () => {
  it('train/eval toggles dropout, recursively', () => {
    const net = new nn.Sequential(new nn.Linear(4, 4), new nn.Sequential(new nn.Dropout(0.5)));
    const drop = net.at(1) as nn.Sequential;
    const d = drop.at(0) as nn.Dropout;
    assert.equal(d.training, true);
    const x = T.ones([2000]);
    T.manualSeed(1);
    const y = d.forward(x).toArray();
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(
      y.every((v) => v === 0 || v === 2),
      'kept values are scaled by 1/(1-p)',
    );
    assert.ok(zeros > 800 && zeros < 1200, `about half dropped, got ${zeros}`);
    net.eval();
    assert.ok(net.modules().every((m) => !m.training));
    assert.equal(d.forward(x), x, 'eval dropout is the identity');
    net.train();
    assert.ok(net.modules().every((m) => m.training));
    assert.throws(() => new nn.Dropout(1.5), /between 0 and 1/);

    const mha = new nn.MultiheadAttention(8, 2, { dropout: 0.5 });
    const q = T.randn([3, 1, 8]);
    T.manualSeed(2);
    const [a] = mha.forward(q, q, q);
    const [b] = mha.forward(q, q, q);
    assert.ok(!T.allclose(a, b), 'attention dropout is active in training');
    mha.eval();
    assert.ok(T.equal(mha.forward(q, q, q)[0], mha.forward(q, q, q)[0]));
  });

  it('parameters and buffers survive tidy; forwards inside tidy leak nothing', () => {
    const net = T.tidy(() => new Net());
    assert.ok(net.parameters().every((p) => !p.isDisposed));
    assert.ok(net.buffers().every((b) => !b.isDisposed));
    const x = T.randn([2, 3, 4, 4]);
    const before = T.memoryStats().liveTensors;
    T.tidy(() => {
      const [a] = net.forward(x);
      a.sum().backward();
    });
    net.zeroGrad();
    const sdKeys = T.tidy(() => Object.keys(net.stateDict()));
    assert.equal(sdKeys.length, model.state_dict_keys.length);
    assert.equal(T.memoryStats().liveTensors, before, 'tidy forward/backward/stateDict must not leave tensors behind');
    assert.ok(net.parameters().every((p) => !p.isDisposed));
    net.dispose();
    assert.ok(net.parameters().every((p) => p.isDisposed));
  });

  it("to('channels_last') keeps parameter identity and outputs; to('float64') converts floating tensors only", () => {
    const net = new Net();
    net.loadStateDict(toState(model.state));
    net.eval();
    const x = fromJson(model.x);
    const params = net.parameters();
    const conv = net.blocks.at(0).conv1;
    const w = conv.weight;
    w.grad = T.onesLike(w);
    net.to('channels_last');
    assert.ok(
      net.parameters().every((p, i) => p === params[i]),
      'same parameter objects',
    );
    assert.equal(conv.weight, w);
    assert.ok(w.isContiguous('channels_last') && !w.isContiguous());
    assert.ok(w.requiresGrad && w.isKept);
    assert.ok(w.grad!.isContiguous('channels_last'), 'gradient converted with its parameter');
    net.forward(x.contiguous('channels_last')).forEach((y, i) => assertClose(y, model.eval_outputs[i]!, 1e-5, 1e-5, `channels_last output ${i}`));
    // Loading keeps the memory format (copies into the existing storage).
    net.loadStateDict(toState(model.state));
    assert.ok(w.isContiguous('channels_last'));
    // Training still works: gradients reach channels_last parameters.
    net.train();
    net.zeroGrad();
    net.forward(x)[0].sum().backward();
    assert.deepEqual(w.grad!.shape, w.shape);

    net.to('float64');
    assert.ok(net.parameters().every((p) => p.dtype === 'float64'));
    assert.equal(net.getSubmodule('stem.1').getBuffer('num_batches_tracked')!.dtype, 'int64');
    net.loadStateDict(toState(model.state)); // undo the training step's running-stat update (values cast to float64)
    assert.equal(w.dtype, 'float64');
    net.eval();
    const [y] = net.forward(x.double());
    assert.equal(y.dtype, 'float64');
    assertClose(y, model.eval_outputs[0]!, 1e-5, 1e-5, 'float64 output');
    assert.throws(() => net.to('int64'), /floating point/);
  });

  it('zeroGrad, requiresGrad_, apply and toString', () => {
    const lin = new nn.Linear(3, 2);
    lin
      .forward(T.ones([1, 3]))
      .sum()
      .backward();
    assert.ok(lin.weight.grad);
    lin.zeroGrad({ setToNone: false });
    assert.equal(lin.weight.grad!.abs().sum().item(), 0);
    lin.zeroGrad();
    assert.equal(lin.weight.grad, undefined);
    lin.requiresGrad_(false);
    assert.equal(lin.numParameters({ trainableOnly: true }), 0);
    assert.equal(lin.numParameters(), 8);

    const seq = new nn.Sequential(new nn.Linear(2, 2), new nn.Sequential(new nn.ReLU()));
    const order: string[] = [];
    seq.apply((m) => order.push(m.constructor.name));
    assert.deepEqual(order, ['Linear', 'ReLU', 'Sequential', 'Sequential']);
    assert.equal(seq.toString(), 'Sequential(\n  (0): Linear(in_features=2, out_features=2, bias=True)\n  (1): Sequential(\n    (0): ReLU()\n  )\n)');
  });

  it('Sequential from a record, ModuleList insert renumbers, ModuleDict replace keeps position', () => {
    const seq = new nn.Sequential({ fc: new nn.Linear(2, 3), act: new nn.ReLU() });
    assert.deepEqual(seq.stateDictKeys(), ['fc.weight', 'fc.bias']);
    assert.deepEqual(seq.forward(T.zeros([1, 2])).shape, [1, 3]);

    const list = new nn.ModuleList([new nn.Linear(1, 1), new nn.Linear(2, 2)]);
    list.insert(1, new nn.Linear(3, 3));
    assert.deepEqual(
      list.map((m) => (m as nn.Linear).inFeatures),
      [1, 3, 2],
    );
    assert.deepEqual(list.stateDictKeys(), ['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias']);
    assert.deepEqual(list.stateDict()['1.weight']!.shape, [3, 3]);
    assert.throws(() => list.at(3), /out of range/);

    const dict = new nn.ModuleDict({ a: new nn.Linear(1, 1), b: new nn.Linear(2, 2) });
    dict.set('a', new nn.Linear(4, 4));
    assert.deepEqual(dict.keys(), ['a', 'b']);
    assert.deepEqual(dict.stateDict()['a.weight']!.shape, [4, 4]);
    assert.throws(() => dict.get('zz'), /no module 'zz'/);
  });
});
