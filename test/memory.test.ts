// Tensor lifetimes: tidy, scope()/using, dispose, keep, and the live-handle statistics.
// Every tensor created outside a scope here is disposed explicitly, so no garbage handle is left
// for a GC finalizer to collect mid-test (that would lower liveTensors and hide a leak).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';

const live = (): number => T.memoryStats().liveTensors;

test('10,000 iterations of small ops inside tidy leave the live tensor count unchanged', () => {
  const x = T.randn([4, 4], new T.Generator(1));
  const w = T.randn([4, 4], new T.Generator(2), { requiresGrad: true });
  const start = T.memoryStats();
  T.tidy(() => {
    for (let i = 0; i < 10_000; i++) T.matmul(x, w).add(i).relu().sum().item();
  });
  assert.equal(live(), start.liveTensors);
  assert.equal(T.memoryStats().liveBytes, start.liveBytes);
  assert.equal(T.memoryStats().scopeDepth, 0);

  // One tidy per iteration (the training-loop shape), with ops that return arrays, views,
  // conversions, backward and .grad reads. Fewer iterations: max(dim) alone costs ~0.2 ms with 2+
  // threads in libtorch 1.13 (the same in PyTorch).
  for (let i = 0; i < 1000; i++) {
    T.tidy(() => {
      const y = T.matmul(x, w).relu().add(1).mul(x).softmax(-1);
      const [v, idx] = y.maxDim(1);
      const parts = y.split(2, 0);
      const z = T.cat([parts[0]!, parts[1]!]).index(':', '1:3').sum().add(v!.mean()).add(idx!.sum().to('float32'));
      z.backward();
      w.grad!.zero_();
      return z.item();
    });
  }
  assert.equal(live(), start.liveTensors);
  assert.equal(T.memoryStats().liveBytes, start.liveBytes);
  w.grad = undefined;
  x.dispose();
  w.dispose();
});

test('tidy frees everything on throw and rethrows', () => {
  const start = live();
  assert.throws(
    () =>
      T.tidy(() => {
        T.ones([3]).add(1);
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(live(), start);
  assert.equal(T.memoryStats().scopeDepth, 0);
});

test('using s = scope() frees the block; escape() keeps one tensor', () => {
  const start = live();
  let a: Tensor;
  let b: Tensor;
  let kept: Tensor;
  {
    using s = T.scope();
    a = T.ones([3]);
    b = a.add(1);
    kept = s.escape(b.mul(2));
    assert.equal(live(), start + 3);
  }
  assert.ok(a.isDisposed);
  assert.ok(b.isDisposed);
  assert.equal(kept.isDisposed, false);
  assert.deepEqual(kept.toArray(), [4, 4, 4]);
  assert.equal(live(), start + 1);
  kept.dispose();
  assert.equal(live(), start);
});

test('dispose is idempotent and counts once', () => {
  const start = live();
  const t = T.zeros([5]);
  assert.equal(live(), start + 1);
  t.dispose();
  t.dispose();
  assert.equal(live(), start);
  assert.ok(t.isDisposed);
  assert.equal(t.toString(), 'Tensor(disposed)');
  {
    using u = T.zeros([2]); // Symbol.dispose on a tensor
    assert.equal(u.isDisposed, false);
    u.dispose(); // an explicit dispose before the block end is fine
  }
  assert.equal(live(), start);
});

test('using a disposed tensor throws a clear error', () => {
  const t = T.ones([2]);
  t.dispose();
  assert.throws(() => t.add(1), /used after dispose/);
  assert.throws(() => T.add(T.ones([2]), t), /used after dispose/);
  assert.throws(() => t.shape, /used after dispose/);
  assert.throws(() => t.toArray(), /used after dispose/);
  assert.throws(() => T.cat([t]), /used after dispose/);
});

test('disposing a base keeps its views and grads valid', () => {
  const start = live();
  const base = T.arange(0, 6, 1, { dtype: 'float32' });
  const view = base.view([2, 3]);
  assert.ok(view.sharesStorageWith(base));
  base.dispose();
  assert.deepEqual(view.toArray(), [0, 1, 2, 3, 4, 5]);
  view.dispose();
  assert.equal(live(), start);
});

test('tensors returned from tidy survive; nested tidy moves them to the parent scope', () => {
  const start = live();
  let innerResult!: Tensor;
  let dropped!: Tensor;
  const outer = T.tidy(() => {
    innerResult = T.tidy(() => {
      dropped = T.ones([2]);
      return dropped.add(1);
    });
    assert.ok(dropped.isDisposed);
    assert.equal(innerResult.isDisposed, false);
    return T.tidy(() => ({ a: [T.ones([1])], m: new Map([['k', T.zeros([1])]]) }));
  });
  // innerResult belonged to the outer scope, which did not return it.
  assert.ok(innerResult.isDisposed);
  assert.equal(outer.a[0]!.isDisposed, false);
  assert.equal(outer.m.get('k')!.isDisposed, false);
  assert.equal(live(), start + 2);
  outer.a[0]!.dispose();
  outer.m.get('k')!.dispose();
  assert.equal(live(), start);
});

test('kept tensors survive their scope until disposed', () => {
  const start = live();
  let kept!: Tensor;
  const r = T.tidy(() => {
    kept = T.full([2], 3).keep();
    T.ones([3]); // not kept: freed with the scope
    assert.ok(kept.isKept);
    return undefined;
  });
  assert.equal(r, undefined);
  assert.equal(kept.isDisposed, false);
  assert.deepEqual(kept.toArray(), [3, 3]);
  assert.equal(live(), start + 1);
  // keep() also detaches a tensor from an enclosing scope.
  let inner!: Tensor;
  T.tidy(() => T.tidy(() => (inner = T.zeros([1])).keep()));
  assert.equal(inner.isDisposed, false);
  kept.dispose();
  inner.dispose();
  assert.equal(live(), start);
});

test('tidy rejects a Promise-returning function and frees what it created', async () => {
  const start = live();
  let created!: Tensor;
  assert.throws(
    () =>
      T.tidy(async () => {
        created = T.ones([4]);
        return 1;
      }),
    /Promise/,
  );
  assert.ok(created.isDisposed);
  assert.equal(live(), start);
  assert.equal(T.memoryStats().scopeDepth, 0);
});

test('liveBytes rises by the storage size and drops after dispose', () => {
  const before = T.memoryStats().liveBytes;
  const t = T.zeros([1000], { dtype: 'float64' });
  assert.equal(T.memoryStats().liveBytes, before + 8000);
  const v = t.view([10, 100]); // a view owns no storage
  assert.equal(T.memoryStats().liveBytes, before + 8000);
  t.dispose();
  assert.equal(T.memoryStats().liveBytes, before);
  v.dispose();
  assert.equal(T.memoryStats().liveBytes, before);
});

test('scopes closed out of order are an error', () => {
  const s1 = T.scope();
  const s2 = T.scope();
  assert.throws(() => s1[Symbol.dispose](), /out of order/);
  s2[Symbol.dispose]();
  s1[Symbol.dispose]();
  assert.equal(T.memoryStats().scopeDepth, 0);
});

/**
 * Runs an ES-module script in a fresh Node process (its own allocator and resident set), with
 * `dist` naming the compiled tree's directory, and parses the JSON it prints.
 */
async function inChild<R>(script: (dist: string) => string, env: Record<string, string>, o: { stderr?: (text: string) => void } = {}): Promise<R> {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { repoRoot } = await import('./helpers.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(join(repoRoot, 'dist'))], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  o.stderr?.(r.stderr);
  return JSON.parse(r.stdout) as R;
}

test('TESSERA_CPU_CACHE_MB: empty means the default, 0 turns caching off, a malformed value is reported and ignored', async () => {
  const cachedAfterFree = (value: string, stderr?: (text: string) => void) =>
    inChild<{ cached: number }>(
      (dist) => `
      const T = await import(${JSON.stringify(`${dist}/src/torch/index.js`)});
      T.tidy(() => T.ones([262144]).sum().item()); // a 1 MB buffer, freed into the cache (if on)
      console.log(JSON.stringify({ cached: T.memoryStats().cachedBytes }));`,
      { TESSERA_CPU_CACHE_MB: value },
      { stderr },
    );
  assert.ok((await cachedAfterFree('')).cached >= 2 ** 20, 'an empty value must not disable the cache');
  assert.equal((await cachedAfterFree('0')).cached, 0);
  let warning = '';
  assert.ok((await cachedAfterFree('2GB', (e) => (warning = e))).cached >= 2 ** 20);
  assert.match(warning, /ignoring TESSERA_CPU_CACHE_MB=2GB \(expected a whole number of MiB\)/);
});

test('the CPU block cache stays within its limit and evicts sizes that stop recurring', async () => {
  // In a child process with a 16 MB cache: 300 distinct block sizes of 1–4 MB (like sampling a
  // growing sequence) must neither grow the cache past its limit nor the resident set by more
  // than a small margin — freed blocks beyond the cache go back to the kernel.
  const { maxCached, growth } = await inChild<{ maxCached: number; growth: number }>(
    (dist) => `
    const T = await import(${JSON.stringify(`${dist}/src/torch/index.js`)});
    const base = process.memoryUsage().rss;
    let maxCached = 0;
    for (let i = 0; i < 300; i++) {
      const n = 262144 + i * 2600; // 1 MB … 4 MB of float32
      T.tidy(() => T.ones([n]).mul(2).sum().item());
      maxCached = Math.max(maxCached, T.memoryStats().cachedBytes);
    }
    console.log(JSON.stringify({ maxCached, growth: process.memoryUsage().rss - base }));`,
    { TESSERA_CPU_CACHE_MB: '16' },
  );
  assert.ok(maxCached <= 16 * 2 ** 20, `cache held ${maxCached} bytes`);
  assert.ok(maxCached > 8 * 2 ** 20, 'the cache was used');
  assert.ok(growth < 150 * 2 ** 20, `resident set grew by ${(growth / 2 ** 20).toFixed(0)} MB`);
});

test('a long synchronous loop of transformer forwards keeps the resident set flat', async (t) => {
  // Node-API runs tensor-handle finalizers on the event loop, so a synchronous sampling loop keeps
  // thousands of small handle objects alive; with mid-size tensor buffers freed to malloc, glibc
  // carved those objects out of them and the heap grew by ~0.9 MB per 4-block forward (measured).
  const { growth } = await inChild<{ growth: number }>(
    (dist) => `
    const T = await import(${JSON.stringify(`${dist}/src/torch/index.js`)});
    const { Transformer } = await import(${JSON.stringify(`${dist}/src/priors/transformer.js`)});
    const tr = new Transformer({ dim: 128, depth: 4, heads: 4 });
    tr.eval();
    const x = T.randn([1, 65, 128]);
    const run = (n) => { for (let i = 0; i < n; i++) T.noGrad(() => T.tidy(() => { tr.forward(x, { causal: false }); })); };
    run(50);
    const base = process.memoryUsage().rss;
    run(600);
    console.log(JSON.stringify({ growth: process.memoryUsage().rss - base }));`,
    { TESSERA_THREADS: '1' },
  );
  t.diagnostic(`600 forwards: resident set +${(growth / 2 ** 20).toFixed(1)} MB`);
  assert.ok(growth < 64 * 2 ** 20, `600 forwards grew the resident set by ${(growth / 2 ** 20).toFixed(0)} MB`);
});
