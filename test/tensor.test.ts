// Tensor basics: dtype round trips through tensor()/data(), metadata, devices, seeded RNG
// (manualSeed, Generator, RNG state), thread count, channels_last memory format.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import type { DType, Tensor } from '../src/torch/index.js';

const arr = (t: Tensor): number[] => t.toArray();

describe('dtype round trips through tensor() and data()', () => {
  const cases: { dtype: DType; values: number[]; want?: number[]; array: string }[] = [
    { dtype: 'float32', values: [1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, 0], array: 'Float32Array' },
    { dtype: 'float64', values: [0.1, 1e-300, -1e300, Math.PI, 5e-324], array: 'Float64Array' },
    // Half precision reads back as Float32Array; 0.1 is stored as the nearest half / bfloat16.
    { dtype: 'float16', values: [0.5, -1024, 65504, 6.103515625e-5, 0.1], want: [0.5, -1024, 65504, 6.103515625e-5, 0.0999755859375], array: 'Float32Array' },
    {
      dtype: 'bfloat16',
      values: [1.5, -256, 0.15625, 3.3895313892515355e38, 0.1],
      want: [1.5, -256, 0.15625, 3.3895313892515355e38, 0.10009765625],
      array: 'Float32Array',
    },
    { dtype: 'int64', values: [2 ** 53 - 1, -(2 ** 53), 0, -1], array: 'BigInt64Array' },
    { dtype: 'int32', values: [-2147483648, 2147483647, 0, -7], array: 'Int32Array' },
    { dtype: 'int16', values: [-32768, 32767, 3], array: 'Int16Array' },
    { dtype: 'int8', values: [-128, 127, 0], array: 'Int8Array' },
    { dtype: 'uint8', values: [0, 255, 128], array: 'Uint8Array' },
  ];
  for (const c of cases) {
    test(c.dtype, () => {
      T.tidy(() => {
        const t = T.tensor(c.values, { dtype: c.dtype });
        assert.equal(t.dtype, c.dtype);
        assert.deepEqual(t.shape, [c.values.length]);
        const d = t.data();
        assert.equal(d.constructor.name, c.array);
        assert.deepEqual(arr(t), c.want ?? c.values);
        // Through a conversion and back (bytes of the same dtype are identical).
        const back = T.fromBytes(t.bytes(), t.shape, c.dtype);
        assert.deepEqual(Array.from(back.bytes()), Array.from(t.bytes()));
      });
    });
  }

  test('bool', () => {
    T.tidy(() => {
      const t = T.tensor([true, false, true]);
      assert.equal(t.dtype, 'bool');
      const d = t.data();
      assert.ok(d instanceof Uint8Array);
      assert.deepEqual(Array.from(d), [1, 0, 1]);
      assert.deepEqual(arr(T.tensor([0, 2, -1], { dtype: 'bool' })), [0, 1, 1]);
      assert.equal(T.tensor([true], { shape: [] }).item(), 1);
    });
  });

  test('int64 beyond 2^53 is exact through BigInt64Array', () => {
    T.tidy(() => {
      const big = BigInt64Array.from([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n]);
      const t = T.tensor(big);
      assert.equal(t.dtype, 'int64');
      assert.deepEqual(Array.from(t.data() as BigInt64Array), Array.from(big));
      assert.deepEqual(Array.from(t.add(1).data() as BigInt64Array).slice(0, 2), [2n ** 62n + 2n, -(2n ** 63n) + 1n]);
    });
  });

  test('typed arrays keep their own dtype unless one is given', () => {
    T.tidy(() => {
      assert.equal(T.tensor(new Float64Array([1, 2])).dtype, 'float64');
      assert.equal(T.tensor(new Int32Array([1, 2])).dtype, 'int32');
      assert.equal(T.tensor(new Uint8Array([1, 2])).dtype, 'uint8');
      const c = T.tensor(new Float32Array([1.5, 2.5, 3, 4]), { shape: [2, 2], dtype: 'float64' });
      assert.equal(c.dtype, 'float64');
      assert.deepEqual(c.shape, [2, 2]);
      assert.deepEqual(arr(c), [1.5, 2.5, 3, 4]);
      // tensor() copies: changing the source afterwards does not change the tensor.
      const src = new Float32Array([1, 2]);
      const t = T.tensor(src);
      src[0] = 9;
      assert.deepEqual(arr(t), [1, 2]);
    });
  });

  test('nested arrays and scalars', () => {
    T.tidy(() => {
      const t = T.tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      assert.deepEqual(t.shape, [2, 3]);
      assert.equal(t.dtype, 'float32');
      const s = T.scalarTensor(2.5, 'float64');
      assert.deepEqual(s.shape, []);
      assert.equal(s.item(), 2.5);
      assert.equal(T.tensor(7, { dtype: 'int64' }).item(), 7);
    });
  });

  test('to() between dtypes follows PyTorch casts', () => {
    T.tidy(() => {
      const x = T.tensor([-1.7, 0.5, 2.9, 70000]);
      assert.deepEqual(arr(x.to('int32')), [-1, 0, 2, 70000]);
      assert.deepEqual(arr(x.to('float16')), [-1.7001953125, 0.5, 2.900390625, Infinity]);
      assert.deepEqual(arr(x.to('bool')), [1, 1, 1, 1]);
      assert.equal(x.to('float32').dtype, 'float32');
      assert.equal(x.double().dtype, 'float64');
      assert.equal(x.long().dtype, 'int64');
      assert.equal(x.int().dtype, 'int32');
      assert.equal(x.bool().dtype, 'bool');
    });
  });
});

describe('metadata', () => {
  test('shape, ndim, numel, strides, size, contiguity, device, toString', () => {
    T.tidy(() => {
      const x = T.zeros([2, 3, 4]);
      assert.deepEqual(x.shape, [2, 3, 4]);
      assert.equal(x.ndim, 3);
      assert.equal(x.numel, 24);
      assert.deepEqual(x.strides, [12, 4, 1]);
      assert.equal(x.size(-1), 4);
      assert.throws(() => x.size(3), RangeError);
      assert.equal(x.device, 'cpu');
      const tr = x.transpose(0, 2);
      assert.equal(tr.isContiguous(), false);
      assert.ok(tr.sharesStorageWith(x));
      assert.equal(tr.contiguous().isContiguous(), true);
      assert.equal(T.tensor([1, 2]).toString(), 'Tensor(shape=[2], dtype=float32, device=cpu) [1,2]');
      const info = T.buildInfo();
      assert.match(info.torchVersion, /^1\.13/);
      assert.equal(typeof info.cudaAvailable, 'boolean');
    });
  });
});

describe('devices', () => {
  const cuda = T.buildInfo().cudaAvailable;
  test('to("cuda") and back', { skip: !cuda && 'CUDA not available (buildInfo().cudaAvailable is false)' }, () => {
    T.tidy(() => {
      const x = T.tensor([1, 2, 3]);
      const g = x.to('cuda');
      assert.match(g.device, /^cuda/);
      assert.deepEqual(arr(g.mul(2).to('cpu')), [2, 4, 6]);
    });
  });

  test('to("cpu") on a CPU tensor keeps the data', () => {
    T.tidy(() => {
      const x = T.tensor([1, 2]);
      const y = x.to('cpu');
      assert.ok(y.sharesStorageWith(x)); // nothing to convert: same data, like PyTorch
      assert.equal(x.to({ device: 'cpu', copy: true }).sharesStorageWith(x), false);
    });
  });
});

describe('random numbers', () => {
  const draw = (g?: T.Generator): number[][] =>
    T.tidy(() => [
      arr(T.rand([5], g ?? null)),
      arr(T.randn([5], g ?? null, { dtype: 'float64' })),
      arr(T.randint(0, 100, [5], g ?? null)),
      arr(T.randperm(8, g ?? null)),
      arr(T.multinomial(T.tensor([0.1, 0.2, 0.3, 0.4]), 6, true, g ?? null)),
      arr(T.bernoulli(T.full([8], 0.5), g ?? null)),
      arr(T.empty([4]).normal_(0, 1, g ?? null)),
      arr(T.empty([4]).uniform_(-1, 1, g ?? null)),
    ]);

  test('manualSeed makes every sampler reproducible', () => {
    T.manualSeed(1234);
    const a = draw();
    T.manualSeed(1234);
    const b = draw();
    assert.deepEqual(a, b);
    T.manualSeed(4321);
    assert.notDeepEqual(draw(), a);
    T.manualSeed(1234);
    T.tidy(() => {
      const d1 = arr(T.dropout(T.ones([16]), 0.5, true));
      T.manualSeed(1234);
      assert.deepEqual(arr(T.dropout(T.ones([16]), 0.5, true)), d1);
    });
  });

  test('Generator: same seed, same stream; independent of the default generator', () => {
    assert.deepEqual(draw(new T.Generator(7)), draw(new T.Generator(7)));
    assert.notDeepEqual(draw(new T.Generator(7)), draw(new T.Generator(8)));
    const g = new T.Generator(7);
    const first = draw(g);
    assert.notDeepEqual(draw(g), first); // the stream advances
    g.manualSeed(7);
    assert.deepEqual(draw(g), first);
    // Drawing from a Generator leaves the default generator's stream alone.
    T.manualSeed(99);
    const plain = draw();
    T.manualSeed(99);
    draw(new T.Generator(3));
    assert.deepEqual(draw(), plain);
  });

  test('getRngState / setRngState replay exactly', () => {
    T.manualSeed(5);
    draw();
    const state = T.getRngState();
    assert.equal(state.dtype, 'uint8');
    const a = draw();
    T.setRngState(state);
    assert.deepEqual(draw(), a);
    state.dispose();
  });

  test('Generator getState / setState replay exactly', () => {
    const g = new T.Generator(11);
    draw(g);
    const s = g.getState();
    const a = draw(g);
    draw(g);
    g.setState(s);
    assert.deepEqual(draw(g), a);
    s.dispose();
  });
});

test('setNumThreads / getNumThreads', () => {
  const before = T.getNumThreads();
  try {
    T.setNumThreads(1);
    assert.equal(T.getNumThreads(), 1);
    // OpenBLAS (Debian's libtorch calls it for matmul) follows: its own pool is not OpenMP's.
    const blas = T.getBlasThreads();
    if (blas !== null) assert.equal(blas, 1);
    T.setNumThreads(2);
    assert.equal(T.getNumThreads(), 2);
    if (blas !== null) assert.equal(T.getBlasThreads(), 2);
    // Results do not depend on the thread count beyond rounding.
    const x = T.randn([64, 64], new T.Generator(1));
    T.setNumThreads(1);
    const one = T.matmul(x, x);
    T.setNumThreads(2);
    assert.ok(T.allclose(one, T.matmul(x, x), 1e-5, 1e-5));
    assert.throws(() => T.setNumThreads(0), RangeError);
    assert.throws(() => T.setNumThreads(1.5), TypeError);
  } finally {
    T.setNumThreads(before);
  }
  assert.equal(T.getNumThreads(), before);
});

describe('channels_last', () => {
  test('conversion keeps values and sets NHWC strides', () => {
    T.tidy(() => {
      const x = T.randn([2, 3, 4, 5], new T.Generator(2));
      const cl = x.to({ memoryFormat: 'channels_last' });
      assert.ok(cl.isContiguous('channels_last'));
      assert.equal(cl.isContiguous(), false);
      assert.deepEqual(cl.strides, [60, 1, 15, 3]);
      assert.deepEqual(cl.shape, x.shape);
      assert.deepEqual(arr(cl), arr(x)); // data() reads in logical (NCHW) order
      const back = cl.contiguous();
      assert.ok(back.isContiguous());
      assert.deepEqual(arr(back), arr(x));
      assert.ok(x.clone('channels_last').isContiguous('channels_last'));
    });
  });

  test('conv2d gives the same result for channels_last input and keeps the format', () => {
    T.tidy(() => {
      const x = T.randn([2, 3, 8, 8], new T.Generator(3));
      const w = T.randn([4, 3, 3, 3], new T.Generator(4));
      const b = T.randn([4], new T.Generator(5));
      const ref = T.conv2d(x, w, b, 1, 1);
      const out = T.conv2d(x.to({ memoryFormat: 'channels_last' }), w.to({ memoryFormat: 'channels_last' }), b, 1, 1);
      assert.ok(out.isContiguous('channels_last'));
      // Different kernels (NHWC vs NCHW) sum in different orders: float32 rounding only.
      assert.ok(T.allclose(out, ref, 1e-5, 1e-5), `max diff ${out.sub(ref).abs().max().item()}`);
      // Gradients flow through the format conversion.
      const xg = x.detach().requiresGrad_();
      T.conv2d(xg.to({ memoryFormat: 'channels_last' }), w, b, 1, 1)
        .sum()
        .backward();
      const xr = x.detach().requiresGrad_();
      T.conv2d(xr, w, b, 1, 1).sum().backward();
      assert.ok(T.allclose(xg.grad!, xr.grad!, 1e-5, 1e-5));
    });
  });
});
