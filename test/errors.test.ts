// Errors: libtorch failures and bad arguments surface as JS Errors with readable messages (the op
// name, libtorch's sentence, the tensor shapes involved; no C++ backtrace) and never abort the
// process.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as T from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { loadTokenizer } from '../src/tokenizers/index.js';
import { readInceptionWeights } from '../src/metrics/inception.js';
import { repoRoot } from './helpers.js';

/** fn must throw an Error (of `type`) whose message matches every pattern and reads like a sentence. */
function expectError(fn: () => unknown, patterns: RegExp[], type: ErrorConstructor = Error): void {
  let caught: unknown;
  try {
    T.tidy(() => {
      fn();
    });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected an error matching ${patterns.join(', ')}`);
  assert.ok(caught instanceof type, `expected a ${type.name}, got ${String(caught)}`);
  const msg = (caught as Error).message;
  for (const p of patterns) assert.match(msg, p);
  readable(msg);
}

function readable(msg: string): void {
  assert.ok(msg.length > 10 && msg.length < 2000, `message length ${msg.length}: ${msg}`);
  assert.doesNotMatch(msg, /Exception raised from|frame #\d|\n/, `C++ backtrace in: ${msg}`);
}

const i64 = (d: number[] | number[][]): T.Tensor => T.tensor(d, { dtype: 'int64' });

describe('shape mismatches name both shapes', () => {
  test('matmul / mm / bmm / linear', () => {
    expectError(() => T.matmul(T.ones([2, 3]), T.ones([4, 5])), [/^matmul: /, /\[2, 3\]/, /\[4, 5\]/]);
    expectError(() => T.mm(T.ones([2, 3]), T.ones([2, 3])), [/\[2, 3\], \[2, 3\]/, /cannot be multiplied/]);
    expectError(() => T.bmm(T.ones([2, 3, 4]), T.ones([3, 4, 2])), [/\[2, 3, 4\]/, /\[3, 4, 2\]/]);
    expectError(() => T.linear(T.ones([5, 3]), T.ones([4, 2])), [/\[5, 3\]/, /\[4, 2\]/]);
  });

  test('broadcasting pointwise ops', () => {
    expectError(() => T.add(T.ones([2, 3]), T.ones([4])), [/^add: /, /\[2, 3\]/, /\[4\]/, /size of tensor a \(3\) must match/]);
    expectError(() => T.ones([2, 3]).mul(T.ones([2, 2])), [/\[2, 3\]/, /\[2, 2\]/]);
    expectError(() => T.where(T.ones([3], { dtype: 'bool' }), T.ones([2]), T.ones([3])), [/\[3\]/, /\[2\]/]);
  });

  test('cat / stack name every input shape', () => {
    expectError(() => T.cat([T.ones([2, 3]), T.ones([2, 4])]), [/^cat: /, /\[2, 3\], \[2, 4\]/]);
    expectError(() => T.stack([T.ones([2]), T.ones([3])]), [/\[2\], \[3\]/]);
  });

  test('conv2d / layer_norm / cross_entropy / view', () => {
    expectError(() => T.conv2d(T.ones([1, 3, 5, 5]), T.ones([2, 4, 3, 3])), [/\[1, 3, 5, 5\]/, /\[2, 4, 3, 3\]/, /channels/]);
    expectError(() => T.layerNorm(T.ones([2, 3]), [4]), [/\[2, 3\]/, /normalized_shape/]);
    expectError(() => T.crossEntropy(T.ones([2, 4]), i64([0, 1, 2])), [/\[2, 4\], \[3\]/, /batch_size/]);
    expectError(() => T.ones([2, 3]).reshape([4, 2]), [/\[2, 3\]/, /\[4, 2\]/]);
    expectError(() => T.ones([2, 3]).t().view([6]), [/\[3, 2\]/, /reshape/]);
  });
});

describe('bad arguments throw TypeError / RangeError / Error', () => {
  test('a string or null where a tensor is expected', () => {
    expectError(() => T.add('x' as unknown as T.Tensor, T.ones([2])), [/argument 'self' must be a Tensor/], TypeError);
    expectError(() => T.ones([2]).add('2' as unknown as number), [/argument 'other' must be a Tensor/], TypeError);
    expectError(() => T.cat([T.ones([2]), 3 as unknown as T.Tensor]), [/tensors/], Error);
    expectError(() => T.cat('ab' as unknown as T.Tensor[]), [/tensors/], TypeError);
    // A null Tensor argument fails in the JS wrapper before reaching the addon: still a TypeError.
    expectError(() => T.relu(null as unknown as T.Tensor), [/null/], TypeError);
  });

  test('non-integer dims and sizes', () => {
    expectError(() => T.ones([2, 3]).sum(1.5), [/argument 'dim' must be an integer/], TypeError);
    expectError(() => T.ones([2, 3]).transpose(0, 0.5), [/'dim1' must be an integer/], TypeError);
    expectError(() => T.ones([2, 3]).reshape([2, 1.5]), [/'shape' must be an integer/], TypeError);
    expectError(() => T.zeros([NaN]), [/'size' must be an integer/], TypeError);
    expectError(() => T.ones([2]).softmax('1' as unknown as number), [/'dim' must be an integer/], TypeError);
    expectError(() => T.conv2d(T.ones([1, 1, 3, 3]), T.ones([1, 1, 1, 1]), null, 1.5), [/'stride' must be an integer/], TypeError);
  });

  test('unknown dtype / device / reduction / memory format / mode strings', () => {
    const bad = <V>(v: string): V => v as unknown as V;
    expectError(() => T.zeros([2], { dtype: bad('float8') }), [/unknown dtype 'float8'/, /float32/], TypeError);
    expectError(() => T.tensor([1, 2], { dtype: bad('complex64') }), [/unknown dtype 'complex64'/], TypeError);
    expectError(() => T.ones([2]).to(bad('float128')), [/unknown dtype 'float128'/], TypeError);
    expectError(() => T.ones([2]).sum(null, false, bad('double')), [/unknown dtype 'double'/], TypeError);
    expectError(() => T.ones([2]).to({ device: 'tpu' }), [/unknown device 'tpu'/], TypeError);
    expectError(() => T.zeros([2], { device: 'cuda:x' }), [/unknown device 'cuda:x'/], TypeError);
    expectError(() => T.mseLoss(T.ones([2]), T.ones([2]), bad('avg')), [/unknown reduction 'avg'/, /none, mean, sum/], TypeError);
    expectError(() => T.crossEntropy(T.ones([2, 3]), i64([0, 1]), null, bad('batchmean')), [/unknown reduction 'batchmean'/], TypeError);
    expectError(() => T.ones([1, 1, 1, 1]).to({ memoryFormat: bad('nchw') }), [/unknown memory format 'nchw'/], TypeError);
    expectError(() => T.pad(T.ones([1, 1, 3]), [1, 1], 'mirror'), [/^pad: /, /padding mode mirror/]);
    expectError(() => T.gelu(T.ones([1]), 'fast'), [/approximate/]);
    expectError(() => T.div(T.ones([1]), 2, 'round'), [/rounding_mode/]);
    expectError(() => T.interpolate(T.ones([1, 1, 2, 2]), { size: [4, 4], mode: bad('area') }), [/unknown mode 'area'/]);
  });

  test('out-of-range dims', () => {
    expectError(() => T.ones([2, 3]).sum(5), [/Dimension out of range/, /got 5/, /\[2, 3\]/]);
    expectError(() => T.ones([2, 3]).transpose(0, -3), [/Dimension out of range/]);
    expectError(() => T.ones([2, 3]).softmax(2), [/Dimension out of range/]);
    expectError(() => T.cat([T.ones([2]), T.ones([2])], 1), [/Dimension out of range/]);
    expectError(() => T.ones([2, 3]).size(2), [/dim 2 out of range/], RangeError);
    expectError(() => T.ones([2, 3]).index(0, 0, 0), [/too many indices/]);
  });

  test('out-of-range indices: embedding, gather, scatter, index_select, index', () => {
    const w = T.ones([5, 3]);
    expectError(() => T.embedding(w, i64([1, 7])), [/^embedding: /, /index out of range/, /\[5, 3\], \[2\]/]);
    expectError(() => T.embedding(w, i64([-1])), [/index out of range/]);
    expectError(() => T.gather(T.ones([2, 3]), 1, i64([[5]])), [/index 5 is out of bounds for dimension 1 with size 3/]);
    expectError(() => T.scatter(T.ones([2, 3]), 1, i64([[3]]), T.ones([1, 1])), [/out of bounds/]);
    expectError(() => T.indexSelect(T.ones([2, 3]), 0, i64([2])), [/out of range/]);
    expectError(() => T.ones([3]).index(10), [/index 10 is out of bounds/]);
    expectError(() => T.ones([3]).index(i64([0, 3])), [/out of bounds/]);
    expectError(() => T.crossEntropy(T.ones([2, 3]), i64([0, 7])), [/Target 7 is out of bounds/]);
    expectError(() => T.oneHot(i64([0, 4]), 3), [/Class values must be smaller than num_classes/]);
  });

  test('wrong index dtypes', () => {
    expectError(() => T.indexSelect(T.ones([2, 3]), 1, T.tensor([0, 1])), [/index_select/, /int64/]);
    expectError(() => T.gather(T.ones([2, 3]), 1, T.tensor([[0]])), [/gather/, /int64/]);
    expectError(() => T.embedding(T.ones([5, 3]), T.tensor([1.0])), [/indices/, /Long, Int/]);
  });

  test('fromBytes / tensor() with bad shapes', () => {
    expectError(() => T.fromBytes(new Uint8Array(4), [-1, -4], 'uint8'), [/negative dimension/], RangeError);
    expectError(() => T.fromBytes(new Uint8Array(4), [2, 3], 'uint8'), [/needs 6 bytes, got 4/], RangeError);
    expectError(() => T.tensor(new Float32Array(4), { shape: [-2, -2] }), [/negative dimension/], RangeError);
    expectError(() => T.tensor([[1, 2], [3]]), [/ragged/]);
    expectError(() => T.zeros([-1]), [/negative dimension -1/]);
  });

  test('value errors from libtorch', () => {
    expectError(() => T.ones([2]).item(), [/a Tensor with 2 elements cannot be converted to Scalar/]);
    expectError(
      () =>
        T.linalgCholesky(
          T.tensor([
            [1, 2],
            [2, 1],
          ]),
        ),
      [/not positive-definite/],
    );
    expectError(() => T.multinomial(T.tensor([-1, 1]), 1), [/probability tensor/]);
    expectError(() => T.setRngState(T.ones([3])), [/ByteTensor/]);
    expectError(() => T.ones([2], { requiresGrad: true }).mul(2).backward(), [/scalar outputs/]);
    expectError(() => T.setNumThreads(0), [/1 to 65536/], RangeError);
  });
});

test('CUDA unavailable: to("cuda") is a readable error', { skip: T.buildInfo().cudaAvailable && 'CUDA is available' }, () => {
  expectError(() => T.ones([2]).to('cuda'), [/^to: /, /cuda/i]);
});

// Each case runs in a child process: if one aborted (an uncaught C++ exception calls
// std::terminate), the child would die by signal instead of reporting every case.
const RISKY: Record<string, string> = {
  'embedding index out of range': `T.embedding(T.ones([5, 3]), i64([9]))`,
  'gather index out of range': `T.gather(T.ones([2, 3]), 0, i64([[2, 0, 0]]))`,
  'scatterAdd index out of range': `T.scatterAdd(T.zeros([3]), 0, i64([3]), T.ones([1]))`,
  'indexAdd_ index out of range': `T.zeros([3, 2]).indexAdd_(0, i64([4]), T.ones([1, 2]))`,
  'indexPut out of range': `T.zeros([3]).indexPut([i64([5])], 1)`,
  'bincount negative': `T.bincount(i64([1, -1]))`,
  'oneHot negative': `T.oneHot(i64([-2]), 3)`,
  'asStrided out of bounds': `T.asStrided(T.ones([9]), [3, 3], [5, 5]).toArray()`,
  'narrow out of range': `T.ones([4]).narrow(0, 3, 5)`,
  'expand to smaller': `T.ones([3]).expand([2])`,
  'repeatInterleave negative': `T.ones([3]).repeatInterleave(-1)`,
  'split size 0': `T.ones([3]).split(0)`,
  'chunk 0': `T.ones([3]).chunk(0)`,
  'multinomial too many samples': `T.multinomial(T.tensor([0.5, 0.5]), 3, false)`,
  'randperm negative': `T.randperm(-3)`,
  'randint empty range': `T.randint(5, 5, [2])`,
  'pad reflect too large': `T.pad(T.ones([1, 1, 3]), [5, 5], 'reflect')`,
  'conv kernel larger than input': `T.conv2d(T.ones([1, 1, 2, 2]), T.ones([1, 1, 3, 3]))`,
  'maxPool2d padding too large': `T.maxPool2d(T.ones([1, 1, 4, 4]), 2, 2, 2)`,
  'interpolate to size 0': `T.interpolate(T.ones([1, 1, 2, 2]), { size: [0, 3] })`,
  'setNumThreads 2^32 - 1': `T.setNumThreads(2 ** 32 - 1)`,
  'setNumThreads negative': `T.setNumThreads(-4)`,
  'setRngState wrong size': `T.setRngState(T.zeros([10], { dtype: 'uint8' }))`,
  'Generator.setState garbage': `new T.Generator(1).setState(T.ones([4]))`,
  'backward twice': `{ const x = T.ones([2], { requiresGrad: true }); const y = x.mul(x).sum(); y.backward(); y.backward(); }`,
  'grad of wrong shape then backward': `{ const x = T.ones([2], { requiresGrad: true }); x.grad = T.ones([5]); x.sum().backward(); }`,
  'max of empty': `T.zeros([0]).max()`,
  'item of empty': `T.zeros([0]).item()`,
  'view of disposed': `{ const x = T.ones([2]); x.dispose(); x.view([2]); }`,
  'fromBytes overflowing shape': `T.fromBytes(new Uint8Array(8), [2 ** 31, 2 ** 31, 2 ** 31], 'float32')`,
  'fromBytes shape not an array': `T.fromBytes(new Uint8Array(8), 8, 'uint8')`,
  'index with bad item': `T.ones([2]).index({})`,
  'native call with no arguments': `T.native.conv2d()`,
  'native call with wrong receiver types': `T.native.add({}, [], 'x')`,
  'linalgInv of singular': `T.linalgInv(T.zeros([2, 2]))`,
  'eigh of non-square': `T.linalgEigh(T.ones([2, 3]))`,
  'crossEntropy float target shape mismatch': `T.crossEntropy(T.ones([2, 3]), T.ones([2, 4]))`,
  'batchNorm wrong running stats': `T.batchNorm(T.ones([2, 3]), null, null, T.zeros([4]), T.ones([4]), false, 0.1, 1e-5)`,
};

test('risky calls throw JS errors and the process survives (child process)', () => {
  const index = pathToFileURL(join(repoRoot, 'dist', 'src', 'torch', 'index.js')).href;
  const body = Object.entries(RISKY)
    .map(
      ([name, code]) => `try { ${code}; out.push({ name: ${JSON.stringify(name)}, threw: false }); }
  catch (e) { out.push({ name: ${JSON.stringify(name)}, threw: true, isError: e instanceof Error, message: String(e && e.message) }); }`,
    )
    .join('\n');
  const script = `import * as T from ${JSON.stringify(index)};
const i64 = (d) => T.tensor(d, { dtype: 'int64' });
const out = [];
${body}
process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TESSERA_THREADS: '1' },
  });
  assert.equal(r.signal, null, `child died by ${r.signal}: ${r.stderr.slice(0, 2000)}`);
  assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
  const results = JSON.parse(r.stdout) as { name: string; threw: boolean; isError?: boolean; message?: string }[];
  assert.equal(results.length, Object.keys(RISKY).length);
  for (const res of results) {
    assert.ok(res.threw, `${res.name}: did not throw`);
    assert.ok(res.isError, `${res.name}: threw a non-Error`);
    readable(res.message!);
  }
});

// ---------------------------------------------------------------- loading and saving files
describe("loading and saving files: messages in the user's terms", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-errors-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fx = (name: string): string => join(repoRoot, 'test', 'fixtures', 'io', name);
  /** fn must throw a one-line Error matching `re`, without errno codes, temp-file names or internal keys. */
  function userError(fn: () => unknown, re: RegExp): void {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof Error, String(e));
      assert.match(e.message, re);
      readable(e.message);
      assert.doesNotMatch(e.message, /\b(EISDIR|ENOENT|EEXIST|ENOTDIR|EACCES):|\.tmp-\d+|__metadata__|tessera\.version/);
      return true;
    });
  }

  test("a training checkpoint given as a model: use --resume or the run's model file", () => {
    mkdirSync(join(dir, 'run'));
    const ck = join(dir, 'run', 'checkpoint.safetensors');
    T.tidy(() => io.saveSafetensors(ck, { 'module.model.w': T.zeros([2]) }, { 'tessera.checkpoint': '{"format":"tessera.checkpoint/1","step":3}' }));
    const run = join(dir, 'run');
    const want = new RegExp(
      `checkpoint\\.safetensors: this is a training checkpoint, not a Tessera model file: continue the run with --out ${run} --resume, or use the model file the run wrote \\(${join(run, 'model.safetensors')}\\)`,
    );
    userError(() => loadTokenizer(ck), want);
    userError(() => io.loadModelFile(ck), want);
  });

  test('a PyTorch file given as a model file or as safetensors is named as such, whatever its extension', () => {
    for (const name of ['state_dict.pt', 'legacy_state_dict.pt']) {
      userError(
        () => loadTokenizer(fx(name)),
        /this is a PyTorch checkpoint \(torch\.save\), not a Tessera model file; convert .* with `tessera import taming` or `tessera import movq`/,
      );
    }
    // The FID Inception and LPIPS readers sniff the content: a .pth renamed .safetensors still loads.
    const renamed = join(dir, 'weights.safetensors');
    copyFileSync(fx('state_dict.pt'), renamed);
    const w = T.tidy(() => Object.keys(readInceptionWeights(renamed)));
    assert.ok(w.length > 0);
    // Something that is neither says so instead of quoting a header length.
    const garbage = join(dir, 'garbage.pth');
    writeFileSync(garbage, 'plain text, not weights\n'.repeat(10));
    userError(
      () => io.readWeightFile(garbage, { what: 'FID Inception weight file' }),
      /FID Inception weight file .*garbage\.pth: neither a safetensors file nor a PyTorch checkpoint/,
    );
  });

  test('file-system errors name the file the user gave, never a temp file or an errno code', () => {
    userError(() => loadTokenizer(join(dir, 'nope.safetensors')), /^model file not found: .*nope\.safetensors$/);
    userError(() => loadTokenizer(dir), /^model file is a directory, not a file: /);
    const bytes = new Uint8Array([1, 2, 3]);
    userError(() => io.writeFileAtomic(dir, bytes), new RegExp(`^cannot write ${dir}: it is a directory$`));
    userError(() => io.writeFileAtomic(join(dir, 'no', 'such', 'm.safetensors'), bytes), /^cannot write .*m\.safetensors: directory .*such does not exist$/);
    writeFileSync(join(dir, 'afile'), 'x');
    userError(() => io.writeFileAtomic(join(dir, 'afile', 'm.safetensors'), bytes), /^cannot write .*: a parent of it is a file, not a directory$/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
    userError(
      () => io.ensureDir(join(dir, 'afile', 'sub', 'deeper')),
      new RegExp(`^cannot create directory .*deeper: ${join(dir, 'afile')} is a file, not a directory$`),
    );
    io.ensureDir(join(dir, 'made', 'here'));
    io.ensureDir(join(dir, 'made', 'here'));
  });

  test('safetensors headers are read strictly, also when only the metadata is wanted', () => {
    // JSON.parse would keep the second value of "step"; the strict reader refuses the ambiguity.
    const header = Buffer.from('{"__metadata__":{"step":"1","step":"2"}}');
    const file = join(dir, 'dup.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(file, Buffer.concat([len, header]));
    userError(() => io.readSafetensorsHeader(file), /dup\.safetensors: header JSON: duplicate key "step"/);
    const ok = join(dir, 'ok.safetensors');
    T.tidy(() => io.saveSafetensors(ok, { w: T.zeros([2, 3], { dtype: 'float16' }) }, { note: 'hi' }));
    assert.deepEqual(io.readSafetensorsHeader(ok), { metadata: { note: 'hi' }, tensors: { w: { dtype: 'float16', shape: [2, 3] } } });
  });
});

describe('tessera info checks weights, not just the header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-errors-info-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const mainJs = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const info = (path: string) =>
    spawnSync(process.execPath, [mainJs, 'info', '--model', path], { encoding: 'utf8', env: { ...process.env, TESSERA_THREADS: '1' } });

  /** A copy of a shipped model with the first F32 tensor's header entry and data edited. */
  function forged(model: string, name: string, edit: { dtype?: string; nan?: boolean }): { path: string; key: string } {
    const b = Buffer.from(readFileSync(join(repoRoot, 'models', model)));
    const n = Number(b.readBigUInt64LE(0));
    const header = b.subarray(8, 8 + n).toString('latin1');
    const m = /"([^"]+)":\{"dtype":"F32","shape":\[[^\]]*\],"data_offsets":\[(\d+),/.exec(header)!;
    assert.ok(m, 'the model has a float32 tensor');
    if (edit.dtype) b.write(header.replace(`"${m[1]}":{"dtype":"F32"`, `"${m[1]}":{"dtype":"${edit.dtype}"`), 8, 'latin1');
    if (edit.nan) b.writeFloatLE(NaN, 8 + n + Number(m[2]));
    const path = join(dir, name);
    writeFileSync(path, b);
    return { path, key: m[1]! };
  }

  test('NaN weights and relabelled dtypes make info fail with the tensor named', () => {
    const good = info(join(repoRoot, 'models', 'mnist-vqvae.safetensors'));
    assert.equal(good.status, 0, good.stderr);
    const nan = forged('mnist-vqvae.safetensors', 'nan-vqvae.safetensors', { nan: true });
    const r1 = info(nan.path);
    assert.equal(r1.status, 1);
    assert.match(
      r1.stderr.trim(),
      new RegExp(
        `^tessera info: .*nan-vqvae\\.safetensors: weights do not match its config: 1 tensor with NaN or Infinity: ${nan.key.replaceAll('.', '\\.')}$`,
      ),
    );
    const i32 = forged('mnist-classifier.safetensors', 'i32-classifier.safetensors', { dtype: 'I32' });
    const r2 = info(i32.path);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, new RegExp(`1 wrong dtype: ${i32.key.replaceAll('.', '\\.')} is int32, expected float32`));
    assert.equal(r2.stderr.trim().split('\n').length, 1, r2.stderr);
  });
});
