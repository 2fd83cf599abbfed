// Tests for src/io: safetensors, Tessera model files, the restricted torch.save reader, and fuzzing of
// both parsers. Fixtures come from tools/fixtures/io.py (PyTorch 1.13).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import * as T from '../src/torch/index.js';
import { Tensor, type DType } from '../src/torch/index.js';
import {
  FormatError,
  MODEL_FILE_VERSION,
  ZipReader,
  loadModelFile,
  loadSafetensors,
  loadTorchCheckpoint,
  parseModelFile,
  parseSafetensors,
  saveModelFile,
  storeModelFileAs,
  readSafetensorsHeader,
  saveSafetensors,
  serializeModelFile,
  serializeSafetensors,
  stateDictFrom,
  unpickle,
  writeFileAtomic,
  buildFromModelFile,
  removeStaleTempFiles,
  type PickledObject,
} from '../src/io/index.js';
import { Linear, StateDictError } from '../src/nn/index.js';
import { unpickleAt } from '../src/io/pickle.js';
import * as V from '../src/io/validate.js';
import { fixturePath, loadJsonFixture, repoRoot, type TensorJson } from './helpers.js';

const fx = (name: string): string => fixturePath('io', name);
const readFx = (name: string): Uint8Array => new Uint8Array(readFileSync(fx(name)));

interface Expected {
  state_dict: Record<string, TensorJson>;
  state_dict_keys: string[];
  lightning: {
    state_dict: Record<string, TensorJson>;
    state_dict_keys: string[];
    strides: Record<string, number[]>;
    optimizer_state: Record<string, Record<string, TensorJson>>;
    param_groups: unknown[];
  };
  legacy: {
    state_dict: Record<string, TensorJson>;
    state_dict_keys: string[];
    strides: Record<string, number[]>;
  };
  safetensors: Record<string, TensorJson>;
  safetensors_metadata: Record<string, string>;
}
const expected = loadJsonFixture<Expected>('io', 'expected.json');

/** Exact equality of dtype, shape and every value with a fixture tensor. */
function assertTensorEquals(t: unknown, e: TensorJson, what: string): void {
  assert.ok(t instanceof Tensor, `${what}: not a Tensor`);
  assert.equal(t.dtype, e.dtype, `${what}: dtype`);
  assert.deepEqual(t.shape, e.shape, `${what}: shape`);
  assert.deepEqual(t.toArray(), e.data, `${what}: values`);
}

/** Error must be a one-line FormatError whose message matches `re`. */
function assertFormatError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

/** Every Tensor reachable from a loaded value (for disposal and leak checks). */
function tensorsIn(v: unknown, out = new Set<Tensor>(), seen = new Set<object>()): Set<Tensor> {
  if (v === null || typeof v !== 'object' || seen.has(v)) return out;
  seen.add(v);
  if (v instanceof Tensor) out.add(v);
  else if (v instanceof Map)
    for (const [k, x] of v) {
      tensorsIn(k, out, seen);
      tensorsIn(x, out, seen);
    }
  else if (v instanceof Set || Array.isArray(v)) for (const x of v) tensorsIn(x, out, seen);
  else if (!(v instanceof Uint8Array)) for (const x of Object.values(v)) tensorsIn(x, out, seen);
  return out;
}
const disposeAll = (v: unknown): void => {
  for (const t of tensorsIn(v)) t.dispose();
};

const tmp = mkdtempSync(join(tmpdir(), 'tessera-io-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------- tiny zip writer (tests only)
/** Builds a zip archive; `zip64` forces zip64 sizes, offsets and end records even for small files. */
function makeZip(entries: { name: string; data: Uint8Array }[], opts: { zip64?: boolean; deflate?: boolean } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const z64 = opts.zip64 ?? false;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = opts.deflate ? zlib.deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = zlib.crc32(e.data);
    const method = opts.deflate ? 8 : 0;
    const sizes = Buffer.alloc(20); // zip64 extra: id, size, usize, csize, (offset in central only)
    sizes.writeUInt16LE(1, 0);
    sizes.writeUInt16LE(16, 2);
    sizes.writeBigUInt64LE(BigInt(e.data.length), 4);
    sizes.writeBigUInt64LE(BigInt(body.length), 12);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(z64 ? 45 : 20, 4);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(0x21, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(z64 ? 0xffffffff : body.length, 18);
    lh.writeUInt32LE(z64 ? 0xffffffff : e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(z64 ? sizes.length : 0, 28);
    parts.push(lh, name, ...(z64 ? [sizes] : []), body);

    const cextra = Buffer.alloc(28);
    cextra.writeUInt16LE(1, 0);
    cextra.writeUInt16LE(24, 2);
    cextra.writeBigUInt64LE(BigInt(e.data.length), 4);
    cextra.writeBigUInt64LE(BigInt(body.length), 12);
    cextra.writeBigUInt64LE(BigInt(offset), 20);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(z64 ? 45 : 20, 4);
    ch.writeUInt16LE(z64 ? 45 : 20, 6);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE(0x21, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(z64 ? 0xffffffff : body.length, 20);
    ch.writeUInt32LE(z64 ? 0xffffffff : e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(z64 ? cextra.length : 0, 30);
    ch.writeUInt32LE(z64 ? 0xffffffff : offset, 42);
    central.push(ch, name, ...(z64 ? [cextra] : []));
    offset += lh.length + name.length + (z64 ? sizes.length : 0) + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (z64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(z64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(z64 ? 0xffffffff : offset, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, ...tail, eocd]));
}

/** The entries of a zip archive, in central-directory order. */
function unzip(bytes: Uint8Array): { name: string; data: Uint8Array }[] {
  const z = new ZipReader(bytes);
  return [...z.entries.keys()].map((name) => ({ name, data: z.read(name).slice() }));
}

// ---------------------------------------------------------------- safetensors
describe('safetensors', () => {
  test('round trip of every dtype, 0-d and empty tensors, with metadata', () => {
    const src: Record<string, Tensor> = {
      f32: T.tensor([
        [1.5, -2],
        [3, 4e-8],
      ]),
      f64: T.tensor([Math.PI, -1e300], { dtype: 'float64' }),
      f16: T.tensor([0.5, -65504, 1 / 1024], { dtype: 'float16' }),
      bf16: T.tensor([1, -3.25, 1e30], { dtype: 'bfloat16' }),
      i64: T.tensor(new BigInt64Array([-(2n ** 62n), 0n, 2n ** 62n + 7n])),
      i32: T.tensor([-(2 ** 31), 2 ** 31 - 1], { dtype: 'int32' }),
      i16: T.tensor([-32768, 32767], { dtype: 'int16' }),
      i8: T.tensor([-128, 127, 0], { dtype: 'int8' }),
      u8: T.tensor([0, 255], { dtype: 'uint8' }),
      bool: T.tensor([true, false, true]),
      scalar: T.scalarTensor(7.25),
      empty: T.zeros([0, 5]),
      empty_i64: T.zeros([3, 0], { dtype: 'int64' }),
      'weird "name"\n/é': T.ones([1]),
    };
    const meta = { format: 'pt', quote: 'a "b" \\ c\n', unicode: 'żółw 🐢' };
    const bytes = serializeSafetensors(src, meta);
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual(metadata, meta);
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(src).sort());
    for (const [k, t] of Object.entries(src)) {
      const u = tensors[k]!;
      assert.equal(u.dtype, t.dtype, k);
      assert.deepEqual(u.shape, t.shape, k);
      assert.deepEqual(Buffer.from(u.bytes()), Buffer.from(t.bytes()), k);
    }
    assert.equal(tensors.i64!.data()[2], 2n ** 62n + 7n);
    assert.deepEqual(tensors.scalar!.shape, []);
  });

  test('layout follows the reference writer: header padded with spaces, data sorted and aligned', () => {
    const bytes = serializeSafetensors({ b: T.ones([3], { dtype: 'uint8' }), a: T.ones([2], { dtype: 'float64' }), c: T.ones([1]) });
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const n = Number(dv.getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    assert.equal(
      header.trimEnd(),
      '{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"c":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"b":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}',
    );
    assert.match(header, /^[^ ]* *$/); // only trailing padding
    assert.equal(bytes.length, 8 + n + 23);

    // No tensors: the header is "{}" padded to 8 bytes; __metadata__ comes first when given.
    assert.deepEqual(Buffer.from(serializeSafetensors({})), Buffer.from('\x08\0\0\0\0\0\0\0{}      ', 'latin1'));
    const withMeta = Buffer.from(serializeSafetensors({}, { framework: 'pt' }));
    assert.equal(withMeta.readUInt32LE(0), 40);
    assert.equal(withMeta.subarray(8).toString(), '{"__metadata__":{"framework":"pt"}}     ');
  });

  test('non-contiguous tensors are stored contiguous', () => {
    const base = T.arange(0, 6).reshape([2, 3]);
    const t = base.transpose(0, 1);
    assert.equal(t.isContiguous(), false);
    const { tensors } = parseSafetensors(serializeSafetensors({ t }));
    assert.deepEqual(tensors.t!.shape, [3, 2]);
    assert.deepEqual(tensors.t!.toArray(), [0, 3, 1, 4, 2, 5]);
  });

  test('reads a file written by Python exactly, and re-serializes it byte for byte', () => {
    const bytes = readFx('tensors.safetensors');
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual(metadata, expected.safetensors_metadata);
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected.safetensors).sort());
    for (const [k, e] of Object.entries(expected.safetensors)) assertTensorEquals(tensors[k], e, k);
    assert.deepEqual(Buffer.from(serializeSafetensors(tensors, metadata)), Buffer.from(bytes));
  });

  test('save is atomic and load names the file in errors', () => {
    const path = join(tmp, 'w.safetensors');
    writeFileSync(path, 'old contents');
    saveSafetensors(path, { w: T.tensor([1, 2, 3]) }, { step: '10' });
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.startsWith('w.safetensors')),
      ['w.safetensors'],
    );
    const { tensors, metadata } = loadSafetensors(path);
    assert.deepEqual(tensors.w!.toArray(), [1, 2, 3]);
    assert.deepEqual(metadata, { step: '10' });

    const bad = join(tmp, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    assertFormatError(() => loadSafetensors(bad), new RegExp(`^safetensors: ${bad}: file of 3 bytes is too short`));
    // A failed save leaves neither the target nor a temp file behind.
    const failed = join(tmp, 'failed.safetensors');
    assertFormatError(() => saveSafetensors(failed, { x: 3 as unknown as Tensor }), /value of 'x' is not a Tensor/);
    assert.equal(existsSync(failed), false);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.includes('.tmp-')),
      [],
    );
    // A write that fails midway keeps the old file intact and removes the temp file.
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array([1, 2, 3]);
      throw new Error('disk on fire');
    }
    assert.throws(() => writeFileAtomic(path, new Uint8Array([9]), failing()), /disk on fire/);
    assert.deepEqual(loadSafetensors(path).tensors.w!.toArray(), [1, 2, 3]);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.includes('.tmp-')),
      [],
    );
  });

  /** A safetensors file from a header given as text (padded to 8) and `data` bytes. */
  function raw(header: string | object, data: number | Uint8Array = 0): Uint8Array {
    let h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
    h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
    const d = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return new Uint8Array(Buffer.concat([len, h, d]));
  }
  const info = (dtype: string, shape: unknown, offsets: unknown): object => ({ dtype, shape, data_offsets: offsets });

  test('validation: every malformed header gives one clear line', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(5), /too short/],
      [
        (() => {
          const b = raw({});
          new DataView(b.buffer).setBigUint64(0, 100_000_001n, true);
          return b;
        })(),
        /header length 100000001 exceeds the 100000000-byte limit/,
      ],
      [
        (() => {
          const b = raw({});
          new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
          return b;
        })(),
        /exceeds/,
      ],
      [
        (() => {
          const b = raw({});
          new DataView(b.buffer).setBigUint64(0, 64n, true);
          return b;
        })(),
        /header length 64 runs past the end/,
      ],
      [raw('{"x": '), /header JSON: unexpected end/],
      [raw('[1, 2]'), /header is not a JSON object/],
      [raw(Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1')), /header JSON|not valid UTF-8/],
      [raw('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /duplicate key "x"/],
      [raw({ x: info('F32', [2, 2], [0, 12]) }, 12), /^safetensors: tensor 'x' data_offsets \[0, 12\] need 16 bytes for float32\[2, 2\]$/],
      [raw({ x: info('Q4', [1], [0, 1]) }, 1), /tensor 'x': unknown dtype "Q4"/],
      [raw({ x: info('U16', [1], [0, 2]) }, 2), /tensor 'x': dtype U16 is not supported/],
      [raw({ x: info('F32', [-1], [0, 4]) }, 4), /tensor 'x': shape must be an array of non-negative integers/],
      [raw({ x: info('F32', [1.5], [0, 4]) }, 4), /shape must be/],
      [raw({ x: info('F32', '1', [0, 4]) }, 4), /shape must be/],
      [raw({ x: info('F32', [1], [0]) }, 4), /data_offsets must be two non-negative integers/],
      [raw({ x: info('F32', [1], [8, 4]) }, 8), /end before they begin/],
      [raw({ x: info('F32', [2 ** 40, 2 ** 40], [0, 4]) }, 4), /too large/],
      [raw({ x: info('F32', [1], [0, 4]), y: info('F32', [1], [2, 6]) }, 6), /tensor 'y' data_offsets \[2, 6\] overlap data ending at 4/],
      [raw({ x: info('F32', [1], [0, 4]), y: info('F32', [1], [8, 12]) }, 12), /tensor 'y' .* leave a gap/],
      [raw({ x: info('F32', [1], [0, 4]) }, 6), /cover 4 bytes but the data buffer has 6/],
      [raw({ x: info('F32', [2], [0, 8]) }, 4), /exceed the 4-byte data buffer/],
      [raw({ __metadata__: { a: 1 } }), /__metadata__ 'a' is not a string/],
      [raw({ __metadata__: [] }), /__metadata__ must be an object/],
      [raw({ x: 5 }), /tensor 'x': entry is not an object/],
      [raw({ x: { shape: [1], data_offsets: [0, 4] } }, 4), /missing or non-string dtype/],
    ];
    for (const [bytes, re] of cases) assertFormatError(() => parseSafetensors(bytes), re);
  });

  test('validation accepts what the reference accepts', () => {
    // Unordered header entries, a null __metadata__, empty tensors anywhere, unknown info fields.
    const b = raw(
      {
        __metadata__: null,
        y: { dtype: 'I8', shape: [2], data_offsets: [4, 6], extra: 'ignored' },
        e: info('F64', [0, 3], [4, 4]),
        x: info('F32', [], [0, 4]),
      },
      new Uint8Array([0, 0, 0x80, 0x3f, 0xff, 0x02]),
    );
    const { tensors, metadata } = parseSafetensors(b);
    assert.deepEqual(Object.keys(tensors), ['y', 'e', 'x']);
    assert.deepEqual(metadata, {});
    assert.deepEqual(tensors.x!.shape, []);
    assert.equal(tensors.x!.item(), 1);
    assert.deepEqual(tensors.y!.toArray(), [-1, 2]);
    assert.deepEqual(tensors.e!.shape, [0, 3]);
    // A tensor called __proto__ is an ordinary key.
    const p = parseSafetensors(raw({ ['__proto__']: info('U8', [1], [0, 1]) }, 1)).tensors;
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.ok(Object.hasOwn(p, '__proto__'));
  });

  test('serialization errors', () => {
    assertFormatError(() => serializeSafetensors({ __metadata__: T.ones([1]) }), /'__metadata__' is reserved/);
    assertFormatError(() => serializeSafetensors({ a: T.ones([1]) }, { k: 1 as unknown as string }), /metadata 'k' must be a string/);
  });
});

// ---------------------------------------------------------------- model files
describe('model files', () => {
  interface Cfg {
    channels: number[];
    codebook: { size: number; dim: number };
    name: string;
  }
  const config: Cfg = { channels: [64, 128], codebook: { size: 1024, dim: 8 }, name: 'tiny' };

  test('round trip through a file', () => {
    const path = join(tmp, 'model.safetensors');
    const stateDict = { 'enc.w': T.randn([4, 3]), 'codebook.embed': T.randn([16, 8]).to('float16'), steps: T.tensor([5], { dtype: 'int64' }) };
    saveModelFile(path, { kind: 'vqgan', config, stateDict, extra: { trained_on: 'cifar' } });
    const m = loadModelFile<Cfg>(path, { kind: 'vqgan' });
    assert.equal(m.kind, 'vqgan');
    assert.deepEqual(m.config, config);
    assert.equal(m.metadata['tessera.version'], MODEL_FILE_VERSION);
    assert.equal(m.metadata.trained_on, 'cifar');
    assert.deepEqual(Object.keys(m.stateDict).sort(), Object.keys(stateDict).sort());
    for (const [k, t] of Object.entries(stateDict)) {
      assert.equal(m.stateDict[k]!.dtype, t.dtype);
      assert.deepEqual(Buffer.from(m.stateDict[k]!.bytes()), Buffer.from(t.bytes()), k);
    }
    // Still a plain safetensors file.
    assert.equal(loadSafetensors(path).metadata['tessera.kind'], 'vqgan');
  });

  test('clear errors for missing or broken metadata', () => {
    const w = { w: T.ones([1]) };
    assertFormatError(() => parseModelFile(serializeSafetensors(w)), /^model file: not a Tessera model file: __metadata__ has no 'tessera.version'$/);
    assertFormatError(
      () => parseModelFile(serializeSafetensors(w, { 'tessera.version': '1', 'tessera.kind': 'vqgan', 'tessera.config': '{oops' })),
      /'tessera.config' is not valid JSON/,
    );
    assertFormatError(() => parseModelFile(serializeSafetensors(w, { 'tessera.version': '1', 'tessera.kind': 'vqgan' })), /has no 'tessera.config'/);
    assertFormatError(() => parseModelFile(serializeSafetensors(w, { 'tessera.version': '1', 'tessera.config': '{}' })), /has no 'tessera.kind'/);
    assertFormatError(
      () => parseModelFile(serializeSafetensors(w, { 'tessera.version': '2', 'tessera.kind': 'x', 'tessera.config': '{}' })),
      /format version 2 is not supported/,
    );
    const bytes = serializeModelFile({ kind: 'prior', config: {}, stateDict: w });
    assertFormatError(
      () => parseModelFile(bytes, { kind: 'vqgan', name: 'p.safetensors' }),
      /^model file p.safetensors: holds a 'prior' model, expected 'vqgan'$/,
    );
    assertFormatError(() => serializeModelFile({ kind: 'x', config: {}, stateDict: w, extra: { 'tessera.kind': 'y' } }), /reserved/);
    assertFormatError(() => serializeModelFile({ kind: 'x', config: undefined, stateDict: w }), /config is not JSON-serializable/);
    assertFormatError(() => serializeModelFile({ kind: '', config: {}, stateDict: w }), /kind must be a non-empty string/);
    assertFormatError(() => parseModelFile(new Uint8Array(3), { name: 'm' }), /^model file m: safetensors: file of 3 bytes/);
  });
});

// ---------------------------------------------------------------- torch checkpoints
describe('torch checkpoints', () => {
  test('a plain state dict saved by torch.save loads exactly', () => {
    const sd = loadTorchCheckpoint(fx('state_dict.pt')) as Record<string, Tensor>;
    assert.deepEqual(Object.keys(sd), expected.state_dict_keys); // OrderedDict order kept
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensorEquals(sd[k], e, k);
    assert.equal(sd['1.num_batches_tracked']!.dtype, 'int64');
    assert.strictEqual(stateDictFrom(sd), sd);
  });

  test('a DEFLATE-compressed copy and a zip64 copy load the same', () => {
    const deflated = loadTorchCheckpoint(fx('state_dict_deflate.pt')) as Record<string, Tensor>;
    const entries = unzip(readFx('state_dict.pt'));
    const z64 = loadTorchCheckpoint(makeZip(entries, { zip64: true })) as Record<string, Tensor>;
    const z64d = loadTorchCheckpoint(makeZip(entries, { zip64: true, deflate: true })) as Record<string, Tensor>;
    for (const sd of [deflated, z64, z64d]) {
      assert.deepEqual(Object.keys(sd), expected.state_dict_keys);
      for (const [k, e] of Object.entries(expected.state_dict)) assertTensorEquals(sd[k], e, k);
    }
  });

  test('a Lightning checkpoint loads exactly: parameters, half types, views, shared storages', () => {
    const ck = loadTorchCheckpoint(fx('lightning.ckpt')) as Record<string, unknown>;
    assert.equal(ck.epoch, 3);
    assert.equal(ck.global_step, 120);
    assert.equal(ck['pytorch-lightning_version'], '1.9.0');
    const sd = stateDictFrom(ck);
    assert.strictEqual(sd, ck.state_dict);
    assert.deepEqual(Object.keys(sd), expected.lightning.state_dict_keys);
    for (const [k, e] of Object.entries(expected.lightning.state_dict)) {
      assertTensorEquals(sd[k], e, k);
      assert.deepEqual(sd[k]!.strides, expected.lightning.strides[k], `${k} strides`);
    }
    assert.equal(sd['extra.param']!.requiresGrad, true); // nn.Parameter
    assert.equal(sd['extra.base']!.requiresGrad, false);
    assert.equal(sd['extra.half']!.dtype, 'float16');
    assert.equal(sd['extra.bf16']!.dtype, 'bfloat16');
    assert.equal(sd['extra.transposed']!.isContiguous(), false);
    // Views share storage as they did in PyTorch, so writes through one show in the other.
    assert.ok(sd['extra.transposed']!.sharesStorageWith(sd['extra.base']!));
    assert.ok(sd['extra.shared_a']!.sharesStorageWith(sd['extra.shared_b']!));
    assert.ok(!sd['extra.shared_a']!.sharesStorageWith(sd['extra.base']!));
    T.noGrad(() => sd['extra.base']!.indexPut([0, 1], 100));
    assert.equal(sd['extra.transposed']!.index(1, 0).item(), 100);

    // Lightning modules usually prefix the network: prefix selection gives the plain state dict.
    const net = stateDictFrom(ck, { prefix: 'model.' });
    assert.deepEqual(Object.keys(net), expected.state_dict_keys);
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensorEquals(net[k], e, k);

    // Optimizer state: int-keyed dicts become string keys; tuples become arrays.
    const opt = (ck.optimizer_states as Record<string, unknown>[])[0]!;
    const state = opt.state as Record<string, Record<string, Tensor>>;
    assert.deepEqual(Object.keys(state), Object.keys(expected.lightning.optimizer_state));
    for (const [i, s] of Object.entries(expected.lightning.optimizer_state)) {
      for (const [k, e] of Object.entries(s)) assertTensorEquals(state[i]![k], e, `optimizer ${i}.${k}`);
    }
    assert.deepEqual(opt.param_groups, expected.lightning.param_groups);
    assert.deepEqual(ck.lr_schedulers, []);
    assert.deepEqual(ck.hyper_parameters, { lr: 1e-3, channels: [64, 128], betas: [0.5, 0.9], name: 'vq', flag: true, nothing: null, big: 2n ** 70n, neg: -5 });

    const extras = ck.extras as Record<string, unknown>;
    assert.deepEqual(extras.bytes, new Uint8Array([0, 255, 97, 98]));
    assert.deepEqual(extras.set, new Set([1, 2]));
    assert.equal(extras.device, 'cuda:0');
    assert.deepEqual(extras.dtype, { __global__: 'torch.float16' });
    const ns = extras.namespace as PickledObject;
    assert.deepEqual(ns, { __class__: 'argparse.Namespace', args: [], state: { a: 1, b: 'two' } });
    const shared = extras.shared_list as unknown[][];
    assert.strictEqual(shared[0], shared[1]); // one Python list referenced twice stays one array
  });

  test('stateDictFrom finds or rejects', () => {
    const t = T.ones([1]);
    assert.strictEqual(stateDictFrom({ model_state_dict: { w: t }, epoch: 1 }).w, t);
    assert.strictEqual(stateDictFrom({ ema: { w: t }, state_dict: { v: t } }, { key: 'ema' }).w, t);
    assertFormatError(() => stateDictFrom({ epoch: 1, opt: {} }), /no dict of tensors found \(top-level keys: epoch, opt\)/);
    assertFormatError(() => stateDictFrom({ state_dict: { w: t } }, { key: 'ema' }), /'ema' is missing/);
    assertFormatError(() => stateDictFrom([t]), /the checkpoint is a list/);
    assertFormatError(() => stateDictFrom({ w: t }, { prefix: 'model.' }), /no tensor key starts with 'model.'/);
  });

  test('a legacy (pre-1.6) state dict loads exactly: same values as the zip file, half, Parameter, shared views', () => {
    const sd = loadTorchCheckpoint(fx('legacy_state_dict.pt')) as Record<string, Tensor>;
    assert.deepEqual(Object.keys(sd), expected.legacy.state_dict_keys);
    for (const [k, e] of Object.entries(expected.legacy.state_dict)) {
      assertTensorEquals(sd[k], e, k);
      assert.deepEqual(sd[k]!.strides, expected.legacy.strides[k], `${k} strides`);
    }
    // The network's entries are the zip fixture's tensors, bit for bit.
    const zip = loadTorchCheckpoint(fx('state_dict.pt')) as Record<string, Tensor>;
    for (const k of expected.state_dict_keys) {
      assert.equal(sd[k]!.dtype, zip[k]!.dtype, k);
      assert.deepEqual(Buffer.from(sd[k]!.bytes()), Buffer.from(zip[k]!.bytes()), k);
    }
    assert.equal(sd['1.num_batches_tracked']!.dtype, 'int64');
    assert.equal(sd['extra.half']!.dtype, 'float16');
    assert.equal(sd['extra.param']!.requiresGrad, true);
    assert.equal(sd['0.weight']!.requiresGrad, false);
    // Views share their weight's storage as in PyTorch; separate tensors do not.
    assert.ok(sd['extra.row']!.sharesStorageWith(sd['0.weight']!));
    assert.ok(sd['extra.transposed']!.sharesStorageWith(sd['3.weight']!));
    assert.equal(sd['extra.transposed']!.isContiguous(), false);
    assert.ok(!sd['extra.row']!.sharesStorageWith(sd['3.weight']!));
    T.noGrad(() => sd['0.weight']!.indexPut([1, 0, 0, 2], 100));
    assert.equal(sd['extra.row']!.index(0, 0, 2).item(), 100);
    assert.strictEqual(stateDictFrom(sd), sd);
    disposeAll(sd);
    disposeAll(zip);

    const w = loadTorchCheckpoint(readFx('legacy.pt')) as Record<string, Tensor>;
    assert.deepEqual(Object.keys(w), ['w']);
    assert.deepEqual(w.w!.toArray(), [1, 1]);
    disposeAll(w);
  });

  test('non-torch files and the tar format give a clear error', () => {
    assertFormatError(
      () => loadTorchCheckpoint(new Uint8Array([1, 2, 3])),
      /^torch checkpoint <bytes>: not a torch.save file \(neither a zip archive nor a legacy pickle stream/,
    );
    assertFormatError(() => loadTorchCheckpoint(readFx('tensors.safetensors')), /not a torch.save file/);
    assertFormatError(() => loadTorchCheckpoint(new Uint8Array(Buffer.from('\x80\x02K\x05.', 'latin1'))), /not a torch.save file/); // a pickle, not the magic
    assertFormatError(() => loadTorchCheckpoint(makeZip([{ name: 'a/b.txt', data: new Uint8Array(3) }])), /no data.pkl in the archive/);
    const tar = new Uint8Array(1024);
    tar.set(Buffer.from('ustar'), 257);
    assertFormatError(() => loadTorchCheckpoint(tar), /the tar-based torch.save format .* is not supported/);
  });

  test('big-endian archives (byteorder record) are byte-swapped', () => {
    const entries = unzip(readFx('state_dict.pt'));
    const swapped = entries.map((e) => {
      const m = /\/data\/(\d+)$/.exec(e.name);
      if (!m) return e;
      const size = m[1] === '6' ? 8 : 4; // record 6 is num_batches_tracked (int64), the rest float32
      const b = Buffer.from(e.data);
      if (size === 4) b.swap32();
      else b.swap64();
      return { name: e.name, data: new Uint8Array(b) };
    });
    swapped.push({ name: 'state_dict/byteorder', data: new Uint8Array(Buffer.from('big')) });
    const sd = loadTorchCheckpoint(makeZip(swapped)) as Record<string, Tensor>;
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensorEquals(sd[k], e, k);
  });

  // Hand-built archives: one storage record '0' and a pickle calling the rebuild functions directly.
  const u = (s: string): string => `X${String.fromCharCode(s.length, 0, 0, 0)}${s}`; // BINUNICODE
  const ints = (xs: number[]): string => `(${xs.map((x) => `K${String.fromCharCode(x)}`).join('')}t`;
  const storage = (type: string, numel: number): string => `(${u('storage')}ctorch\n${type}\n${u('0')}${u('cpu')}K${String.fromCharCode(numel)}tQ`;
  const archive = (pkl: string, record: Uint8Array): Uint8Array =>
    makeZip([
      { name: 'archive/data.pkl', data: new Uint8Array(Buffer.from(`\x80\x02${pkl}.`, 'latin1')) },
      { name: 'archive/data/0', data: record },
    ]);
  const v2 = (st: string, offset: number, size: number[], stride: number[], grad = false): string =>
    `ctorch._utils\n_rebuild_tensor_v2\n(${st}K${String.fromCharCode(offset)}${ints(size)}${ints(stride)}${grad ? '\x88' : '\x89'}}tR`; // hooks: an empty dict
  const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

  test('rebuild functions: expanded views, v3, unsupported storages, bad flags', () => {
    const rec = f32([1, 2, 3, 4]);
    // A stride-0 (expanded) view is valid in PyTorch and stays a view here.
    const e = loadTorchCheckpoint(archive(v2(storage('FloatStorage', 4), 1, [3, 2], [0, 1]), rec)) as Tensor;
    assert.deepEqual(e.shape, [3, 2]);
    assert.deepEqual(e.toArray(), [2, 3, 2, 3, 2, 3]);
    // _rebuild_tensor_v3 takes the dtype as an argument (untyped storage, numel in bytes).
    const v3 = `ctorch._utils\n_rebuild_tensor_v3\n(${storage('UntypedStorage', 16)}K\x00${ints([2])}${ints([2])}\x89Nctorch\nfloat32\ntR`;
    assert.deepEqual((loadTorchCheckpoint(archive(v3, rec)) as Tensor).toArray(), [1, 3]);
    // Storage types Tessera cannot represent leave an inert placeholder instead of failing the load.
    const c = loadTorchCheckpoint(archive(v2(storage('ComplexFloatStorage', 2), 0, [2], [1]), rec)) as PickledObject;
    assert.equal(c.__class__, 'torch._utils._rebuild_tensor_v2');
    assert.deepEqual(c.args, [{ __class__: 'torch.ComplexFloatStorage', args: ['0', 2], state: null }, 0, [2], [1], false, {}]);
    // Names are looked up as own keys only: 'constructor' is not a storage type.
    const k = loadTorchCheckpoint(archive(v2(storage('constructor', 4), 0, [4], [1]), rec)) as PickledObject;
    assert.equal(k.__class__, 'torch._utils._rebuild_tensor_v2');

    assertFormatError(
      () => loadTorchCheckpoint(archive(v2(storage('FloatStorage', 4), 1, [2, 2], [2, 1]), rec)),
      /tensor view \[2, 2\] stride \[2, 1\] offset 1 needs 5 elements but storage '0' has 4/,
    );
    assertFormatError(() => loadTorchCheckpoint(archive(v2(storage('IntStorage', 4), 0, [4], [1], true), rec)), /an? int32 tensor is marked requires_grad/);
    assertFormatError(() => loadTorchCheckpoint(archive(v2(storage('DoubleStorage', 4), 0, [4], [1]), rec)), /storage '0' has 16 bytes, expected 32/);
    assertFormatError(
      () => loadTorchCheckpoint(archive(`(${v2(storage('FloatStorage', 4), 0, [4], [1])}${v2(storage('IntStorage', 4), 0, [4], [1])}l`, rec)),
      /storage '0' is used as both float32 and int32/,
    );
    assertFormatError(() => loadTorchCheckpoint(archive(`(${u('blob')}tQ`, rec)), /unsupported persistent id/);
    assertFormatError(() => loadTorchCheckpoint(archive(`(${u('storage')}cos\nsystem\n${u('0')}${u('cpu')}K\x04tQ`, rec)), /storage '0': bad storage type/);
  });

  // Hand-built legacy streams: header pickles, an object pickle, the storage list, then the records.
  const LONG_MAGIC = '\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19';
  const pk = (body: string): string => `\x80\x02${body}.`;
  const legacyPid = (type: string, key: string, numel: number, view = 'N'): string =>
    `(${u('storage')}ctorch\n${type}\n${u(key)}${u('cpu')}K${String.fromCharCode(numel)}${view}tQ`;
  const viewMeta = (key: string, offset: number, size: number): string => `${u(key)}K${String.fromCharCode(offset)}K${String.fromCharCode(size)}\x87`;
  function legacy(obj: string, keys: string[], records: [number | bigint, Uint8Array][], o: { littleEndian?: boolean; version?: number } = {}): Uint8Array {
    const sysInfo = `}(${u('protocol_version')}M\xe9\x03${u('little_endian')}${o.littleEndian === false ? '\x89' : '\x88'}${u('type_sizes')}}(${u('short')}K\x02${u('int')}K\x04${u('long')}K\x04uu`;
    const version = o.version ?? 1001;
    const head = pk(LONG_MAGIC) + pk(`M${String.fromCharCode(version & 0xff, version >> 8)}`) + pk(sysInfo) + pk(obj) + pk(`](${keys.map(u).join('')}e`);
    const parts = [Buffer.from(head, 'latin1')];
    for (const [count, data] of records) {
      const c = Buffer.alloc(8);
      c.writeBigInt64LE(BigInt(count));
      parts.push(c, Buffer.from(data));
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  test('legacy streams: storage views, shared storages, module ids, unsupported storages', () => {
    const rec = f32([1, 2, 3, 4, 5, 6]);
    // Two tensors on one view-storage (elements 2..5 of root '0') and one on the root itself.
    const view = legacyPid('FloatStorage', '0', 6, viewMeta('v', 2, 3));
    const obj = `(${v2(view, 1, [2], [1])}${v2(view, 0, [3], [1])}${v2(legacyPid('FloatStorage', '0', 6), 0, [6], [1])}l`;
    const [a, b, c] = loadTorchCheckpoint(legacy(obj, ['0'], [[6, rec]])) as Tensor[];
    assert.deepEqual(a!.toArray(), [4, 5]);
    assert.deepEqual(b!.toArray(), [3, 4, 5]);
    assert.deepEqual(c!.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.ok(a!.sharesStorageWith(c!) && b!.sharesStorageWith(c!));
    disposeAll([a, b, c]);
    // A tensor reaching past its view-storage is refused even though the root is larger.
    assertFormatError(
      () => loadTorchCheckpoint(legacy(v2(view, 1, [3], [1]), ['0'], [[6, rec]])),
      /tensor view \[3\] stride \[1\] offset 1 needs 4 elements but storage 'v' has 3/,
    );
    assertFormatError(
      () => loadTorchCheckpoint(legacy(v2(legacyPid('FloatStorage', '0', 6, viewMeta('v', 4, 3)), 0, [1], [1]), ['0'], [[6, rec]])),
      /storage view 'v' covers elements 4..7 but storage '0' has 6/,
    );
    // Several storages, read in list order (not first-use order); int64 and float16 data.
    const two = `(${v2(legacyPid('LongStorage', 'b', 2), 0, [2], [1])}${v2(legacyPid('HalfStorage', 'a', 3), 0, [3], [1])}l`;
    const [l, h] = loadTorchCheckpoint(
      legacy(
        two,
        ['a', 'b'],
        [
          [3, new Uint8Array(Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]))],
          [2, new Uint8Array(new BigInt64Array([-5n, 2n ** 40n]).buffer)],
        ],
      ),
    ) as Tensor[];
    assert.deepEqual(l!.toArray(), [-5, 2 ** 40]);
    assert.deepEqual(h!.toArray(), [1, -2, 0.5]);
    disposeAll([l, h]);
    // Whole-module saves: ('module', cls, file, source) gives the class, which stays inert.
    const mod = `(${u('module')}cmymodels\nNet\n${u('net.py')}${u('source')}tQ)\x81}(${u('w')}${v2(legacyPid('FloatStorage', '0', 6), 0, [6], [1])}ub`;
    const m = loadTorchCheckpoint(legacy(mod, ['0'], [[6, rec]])) as PickledObject;
    assert.equal(m.__class__, 'mymodels.Net');
    assert.deepEqual((m.state as Record<string, Tensor>).w.toArray(), [1, 2, 3, 4, 5, 6]);
    disposeAll(m);
    // A storage type Tessera cannot represent is stepped over (its size is known) and left inert.
    const cplx = `(${v2(legacyPid('ComplexFloatStorage', 'c', 1), 0, [1], [1])}${v2(legacyPid('FloatStorage', '0', 6), 0, [6], [1])}l`;
    const [p, f] = loadTorchCheckpoint(
      legacy(
        cplx,
        ['0', 'c'],
        [
          [6, rec],
          [1, new Uint8Array(8)],
        ],
      ),
    ) as [PickledObject, Tensor];
    assert.equal(p.__class__, 'torch._utils._rebuild_tensor_v2');
    assert.deepEqual(f.toArray(), [1, 2, 3, 4, 5, 6]);
    disposeAll(f);
  });

  test('legacy streams: malformed layouts give one clear line and leak nothing', () => {
    const rec = f32([1, 2, 3, 4]);
    const one = v2(legacyPid('FloatStorage', '0', 4), 0, [4], [1]);
    const live = T.memoryStats().liveTensors;
    const cases: [Uint8Array, RegExp][] = [
      [legacy(one, ['0'], [[4, rec]], { version: 1000 }), /legacy format: unsupported protocol version 1000 \(expected 1001\)/],
      [legacy(one, ['0'], [[4, rec]], { littleEndian: false }), /file written on a big-endian machine is not supported/],
      [legacy(one, ['0'], [[3, rec]]), /storage '0': element count 3 at byte \d+ does not match the declared 4/],
      [legacy(one, ['0'], [[4, rec.subarray(0, 12)]]), /storage '0': truncated \(needs 16 bytes at byte \d+, 12 left\)/],
      [
        legacy(
          one,
          ['0'],
          [
            [4, rec],
            [1, new Uint8Array(3)],
          ],
        ),
        /legacy format: 11 unexpected bytes after the last storage/,
      ],
      [
        legacy(
          one,
          ['0', '0'],
          [
            [4, rec],
            [4, rec],
          ],
        ),
        /storage '0' is listed twice/,
      ],
      [legacy(one, ['0', 'x'], [[4, rec]]), /storage 'x' is listed but no tensor uses it/],
      [legacy(one, [], []), /storage '0' has no data \(missing from the storage list\)/],
      [
        legacy(`(${one}${v2(legacyPid('IntStorage', '0', 4), 0, [4], [1])}l`, ['0'], [[4, rec]]),
        /storage '0' is declared as both FloatStorage\(4\) and IntStorage\(4\)/,
      ],
      [
        legacy(
          v2(legacyPid('FloatStorage', '0', 4, viewMeta('v', 0, 2)), 0, [2], [1]) + v2(legacyPid('FloatStorage', '0', 4, viewMeta('v', 1, 2)), 0, [2], [1]),
          ['0'],
          [[4, rec]],
        ),
        /storage view 'v' is declared twice with different extents/,
      ],
      [legacy(v2(legacyPid('FloatStorage', '0', 4, `K\x01`), 0, [4], [1]), ['0'], [[4, rec]]), /storage '0': bad view metadata/],
      [legacy(v2(legacyPid('WeirdStorage', '0', 4), 0, [4], [1]), ['0'], [[4, rec]]), /storage '0': unknown storage type torch.WeirdStorage/],
      [legacy(`(${u('blob')}tQ`, [], []), /unsupported persistent id/],
      [
        legacy(v2(legacyPid('FloatStorage', '0', 4), 1, [4], [1]), ['0'], [[4, rec]]),
        /tensor view \[4\] stride \[1\] offset 1 needs 5 elements but storage '0' has 4/,
      ],
      [legacy(one, ['0'], [[-1, rec]]), /element count -1/],
      [legacy(one, ['0'], [[2n ** 62n, rec]]), /element count 4611686018427387904/],
    ];
    for (const [bytes, re] of cases) assertFormatError(() => loadTorchCheckpoint(bytes), re);
    // The storage list must be a list of strings; the object pickle's errors name it.
    const badList = Buffer.from(legacy(one, ['0'], [[4, rec]]));
    const listAt = badList.lastIndexOf(Buffer.from('\x80\x02](', 'latin1'));
    badList[listAt + 2] = 0x4e; // ']' → None
    assertFormatError(() => loadTorchCheckpoint(new Uint8Array(badList)), /legacy storage list: /);
    assertFormatError(() => loadTorchCheckpoint(legacy(one.slice(0, -1) + 'a', ['0'], [[4, rec]])), /^torch checkpoint <bytes>: legacy pickle: /);
    assert.equal(T.memoryStats().liveTensors, live);
  });

  test('storage and view bounds are checked', () => {
    const entries = unzip(readFx('state_dict.pt'));
    const without = entries.filter((e) => !e.name.endsWith('/data/3'));
    assertFormatError(() => loadTorchCheckpoint(makeZip(without)), /storage '3': record 'state_dict\/data\/3' is missing/);
    const short = entries.map((e) => (e.name.endsWith('/data/0') ? { name: e.name, data: e.data.subarray(4) } : e));
    assertFormatError(() => loadTorchCheckpoint(makeZip(short)), /storage '0' has 212 bytes, expected 216/);
    // Failed loads dispose what they had built.
    const live = T.memoryStats().liveTensors;
    for (let i = 0; i < 3; i++) assert.throws(() => loadTorchCheckpoint(makeZip(without)));
    assert.equal(T.memoryStats().liveTensors, live);
    const corrupt = readFx('state_dict.pt').slice();
    const record = entries.find((e) => e.name.endsWith('/data/0'))!.data;
    corrupt[Buffer.from(corrupt).indexOf(Buffer.from(record)) + 5] ^= 0x10;
    assertFormatError(() => loadTorchCheckpoint(corrupt), /zip: CRC-32 mismatch in 'state_dict\/data\/0' \(corrupt file\)/);
  });
});

// ---------------------------------------------------------------- pickle
describe('pickle', () => {
  const P = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
  const pickles = loadJsonFixture<Record<string, string>>('io', 'pickles.json');

  test('plain data pickled with protocols 0–5', () => {
    for (const [proto, b64] of Object.entries(pickles)) {
      const v = unpickle(new Uint8Array(Buffer.from(b64, 'base64'))) as Record<string, unknown>;
      const what = `protocol ${proto}`;
      const { tuplekeys, shared, long_list, bytes300, ...rest } = v;
      assert.deepEqual(
        rest,
        {
          int: 1,
          neg: -2,
          i32: -70000,
          u16: 60000,
          big: 2n ** 100n,
          negbig: -(2n ** 65n),
          float: 1.5,
          inf: Infinity,
          str: 'h\u00e9llo\n\\ "q"',
          astral: '\u{1F600}',
          bytes: new Uint8Array([0, 1, 255]),
          bytearray: new Uint8Array([120, 121]),
          list: [1, [2, 3]],
          tuple: [1, 'a'],
          set: new Set([3]),
          frozenset: new Set([4]),
          none: null,
          bools: [true, false],
          intkeys: { 1: 'a', 2: 'b' },
          empty: {},
        },
        what,
      );
      assert.ok(tuplekeys instanceof Map, `${what}: tuple keys give a Map`);
      assert.deepEqual([...tuplekeys], [[[1, 2], 'x']], what);
      const sh = shared as unknown[];
      assert.strictEqual(sh[0], sh[1], what);
      assert.deepEqual(
        long_list,
        Array.from({ length: 1100 }, (_, i) => i),
        what,
      );
      assert.deepEqual(bytes300, new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), ...new Array(44).fill(7)]), what);
    }
  });

  test('unknown globals are inert placeholders, never executed', () => {
    // os.system('rm -rf /') via GLOBAL + REDUCE, builtins.eval via STACK_GLOBAL + NEWOBJ, and BUILD.
    const v = unpickle(P('\x80\x02cos\nsystem\nX\x08\x00\x00\x00rm -rf /\x85R.')) as PickledObject;
    assert.deepEqual(v, { __class__: 'os.system', args: ['rm -rf /'], state: null });
    const w = unpickle(P('\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85\x81}\x8c\x01kK\x01sb.')) as PickledObject;
    assert.deepEqual(w, { __class__: 'builtins.eval', args: ['1'], state: { k: 1 } });
    // A placeholder filled like a dict / list keeps what was put in it.
    const d = unpickle(P('\x80\x02cmod\nCls\n)\x81(X\x01\x00\x00\x00aK\x01u(K\x02K\x03e.')) as PickledObject;
    assert.deepEqual(d, { __class__: 'mod.Cls', args: [], state: null, items: { a: 1 }, list: [2, 3] });
    // Protocol-0/1 instantiation opcodes (INST, OBJ) and a Python 2 STRING literal.
    assert.deepEqual(unpickle(P("(S'it\\'s\\x41'\nimod\nCls\n.")), { __class__: 'mod.Cls', args: ["it'sA"], state: null });
    assert.deepEqual(unpickle(P('(cmod\nCls\nK\x01o.')), { __class__: 'mod.Cls', args: [1], state: null });
    // Python 2 module names are mapped.
    assert.deepEqual(unpickle(P('\x80\x02c__builtin__\nset\n]K\x07a\x85R.')), new Set([7]));
  });

  test('dict keys, prototype safety and cycles', () => {
    const o = unpickle(P('\x80\x02}X\t\x00\x00\x00__proto__K\x01sNK\x02s\x88K\x03s.')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.deepEqual(Object.entries(o), [
      ['__proto__', 1],
      ['None', 2],
      ['True', 3],
    ]);
    // Keys that collide once stringified keep their identity in a Map.
    const m = unpickle(P('\x80\x02}K\x01K\x02sX\x01\x00\x00\x001K\x03s.'));
    assert.ok(m instanceof Map);
    assert.deepEqual(
      [...m],
      [
        [1, 2],
        ['1', 3],
      ],
    );
    const l = unpickle(P('\x80\x02]q\x00h\x00a.')) as unknown[];
    assert.strictEqual(l[0], l);
  });

  test('malformed pickles fail with one clear line', () => {
    const cases: [string, RegExp][] = [
      ['\x80\x02R.', /stack underflow at byte 2/],
      ['\x80\x02h\x05.', /memo key 5 not found at byte 2/],
      ['\x80\x02\xff.', /unknown opcode 0xff at byte 2/],
      ['\x80\x02X\xff\x00\x00\x00ab', /truncated/],
      ['\x80\x02N', /no STOP opcode/],
      ['\x80\x02t.', /MARK missing/],
      ['\x80\x06N.', /unsupported pickle protocol 6/],
      ['\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x0f', /length 1152921504606846975 exceeds/],
      ['\x80\x02\x8b\x00\x00\x01\x00', /integer of 65536 bytes is too large/],
      ['\x80\x02K\x01K\x02a.', /cannot append to a number/],
      ['\x80\x02)K\x01a.', /cannot append to a tuple/],
      ['\x80\x02Q.', /stack underflow/],
      ['\x80\x02N\x85Q.', /persistent id found but no persistent_load/],
      ['\x80\x02\x82\x01.', /EXT1/],
      ['\x80\x02(K\x01K\x02K\x03d.', /odd number of items/],
      ['\x80\x02I12x\n.', /bad INT/],
      ['\x80\x02K\x01K\x02\x93.', /STACK_GLOBAL needs two strings/],
      ['\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00rot1\x86R.', /unsupported encoding 'rot1'/],
    ];
    for (const [src, re] of cases) assertFormatError(() => unpickle(P(src)), re);
    // Very deep nesting is refused rather than overflowing the JS stack.
    const deep = P('\x80\x02' + ']'.repeat(100_000) + 'a'.repeat(99_999) + '.');
    assertFormatError(() => unpickle(deep), /nested deeper than 2000/);
    // A huge APPENDS batch is fine.
    const big = unpickle(P('\x80\x02](' + 'K\x01'.repeat(300_000) + 'e.')) as number[];
    assert.equal(big.length, 300_000);
  });
});

// ---------------------------------------------------------------- fuzzing
describe('fuzz', () => {
  /** mulberry32: a small seeded PRNG so failures reproduce. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** One random mutation: bit flips, truncation, splice, insertion/deletion, or a corrupted length field. */
  function mutate(src: Uint8Array, r: () => number, lengthFields: { at: number; size: 2 | 4 | 8 }[]): Uint8Array {
    const n = src.length;
    const int = (k: number): number => Math.floor(r() * k);
    const b = Buffer.from(src);
    switch (int(5)) {
      case 0: {
        for (let i = 0, k = 1 + int(4); i < k; i++) b[int(n)]! ^= 1 << int(8);
        return b;
      }
      case 1:
        return b.subarray(0, int(n));
      case 2: {
        // Copy a chunk of the file over another place (duplicates headers, records, opcodes).
        const len = 1 + int(64);
        const from = int(n);
        const to = int(n);
        b.set(src.subarray(from, from + len).subarray(0, n - to), to);
        return b;
      }
      case 3: {
        const at = int(n);
        return r() < 0.5
          ? Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + 1 + int(16)))])
          : Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256))), b.subarray(at)]);
      }
      default: {
        const f = lengthFields[int(lengthFields.length)]!;
        const interesting = [0, 1, 7, 8, 0x7f, 0xff, 0xffff, 0xffffffff, n, n - 1, n + 1, int(2 ** 32)];
        const v = r() < 0.5 ? interesting[int(interesting.length)]! : int(n * 2);
        if (f.size === 2) b.writeUInt16LE(v & 0xffff, f.at);
        else if (f.size === 4) b.writeUInt32LE(v >>> 0, f.at);
        else b.writeBigUInt64LE(r() < 0.1 ? 2n ** BigInt(40 + int(24)) : BigInt(v), f.at);
        return b;
      }
    }
  }

  /** Length/offset fields of a zip archive: EOCD, central and local headers. */
  function zipLengthFields(z: Uint8Array): { at: number; size: 2 | 4 }[] {
    const b = Buffer.from(z);
    const out: { at: number; size: 2 | 4 }[] = [];
    for (let p = 0; p + 4 <= b.length; p++) {
      const sig = b.readUInt32LE(p);
      if (sig === 0x06054b50) out.push({ at: p + 10, size: 2 }, { at: p + 12, size: 4 }, { at: p + 16, size: 4 }, { at: p + 20, size: 2 });
      if (sig === 0x02014b50)
        out.push({ at: p + 20, size: 4 }, { at: p + 24, size: 4 }, { at: p + 28, size: 2 }, { at: p + 30, size: 2 }, { at: p + 42, size: 4 });
      if (sig === 0x04034b50) out.push({ at: p + 18, size: 4 }, { at: p + 22, size: 4 }, { at: p + 26, size: 2 }, { at: p + 28, size: 2 });
    }
    return out;
  }

  /**
   * Feeds `count` mutants to `parse`: each must parse or throw a one-line FormatError. Results are
   * disposed; the live tensor count must come back to where it started (failed parses clean up too).
   */
  function fuzz(name: string, seed: number, count: number, make: (r: () => number) => Uint8Array, parse: (b: Uint8Array) => unknown): void {
    const r = rng(seed);
    const live = T.memoryStats().liveTensors;
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < count; i++) {
      const input = make(r);
      try {
        disposeAll(parse(input));
        ok++;
      } catch (e) {
        if (!(e instanceof FormatError) || e.message.length === 0 || e.message.includes('\n')) {
          const file = join(tmp, `${name}-crash-${i}.bin`);
          writeFileSync(file, input);
          assert.fail(`${name} mutant ${i} (saved to ${file}) threw ${e instanceof Error ? e.stack : String(e)}`);
        }
        failed++;
      }
    }
    assert.equal(T.memoryStats().liveTensors, live, `${name}: tensors leaked`);
    // Both outcomes must occur, or the mutations are not exercising the parser.
    assert.ok(ok > 0 && failed > 0, `${name}: ${ok} parsed, ${failed} rejected`);
  }

  test('safetensors: 1500 mutants parse or fail cleanly', () => {
    const src = readFx('tensors.safetensors');
    // The u64 header length plus every number in the JSON header are "length fields".
    const fields: { at: number; size: 2 | 4 | 8 }[] = [{ at: 0, size: 8 }];
    const n = Number(Buffer.from(src).readBigUInt64LE(0));
    const digits: number[] = [];
    for (let i = 8; i < 8 + n; i++) if (src[i]! >= 0x30 && src[i]! <= 0x39) digits.push(i);
    fuzz(
      'safetensors',
      1,
      1500,
      (r) => {
        if (r() < 0.25) {
          // Change a digit of a shape or offset in the header.
          const b = src.slice();
          b[digits[Math.floor(r() * digits.length)]!] = 0x30 + Math.floor(r() * 10);
          return b;
        }
        return mutate(src, r, fields);
      },
      (b) => parseSafetensors(b).tensors,
    );
  });

  test('torch zip: 1000 mutants of the archive parse or fail cleanly (CRC on and off)', () => {
    const src = readFx('state_dict.pt');
    const fields = zipLengthFields(src);
    fuzz(
      'torch-zip',
      2,
      1000,
      (r) => mutate(src, r, fields),
      (b) => loadTorchCheckpoint(b),
    );
    fuzz(
      'torch-zip-nocrc',
      3,
      1000,
      (r) => mutate(src, r, fields),
      (b) => loadTorchCheckpoint(b, { verifyCrc: false }),
    );
  });

  test('torch pickle: 1500 mutants of data.pkl in a valid archive parse or fail cleanly', () => {
    const entries = unzip(readFx('lightning.ckpt'));
    const pkl = entries.find((e) => e.name.endsWith('/data.pkl'))!;
    // Length-like fields: the 4-byte lengths after BINUNICODE/BINSTRING opcodes and 1-byte args.
    const fields: { at: number; size: 2 | 4 }[] = [];
    for (let i = 0; i + 5 <= pkl.data.length; i++) if (pkl.data[i] === 0x58) fields.push({ at: i + 1, size: 4 });
    fuzz(
      'torch-pickle',
      4,
      1500,
      (r) => {
        const data = mutate(pkl.data, r, fields);
        return makeZip(entries.map((e) => (e === pkl ? { name: e.name, data } : e)));
      },
      (b) => loadTorchCheckpoint(b),
    );
  });

  test('torch legacy: 1200 mutants of a legacy stream parse or fail cleanly', () => {
    const src = readFx('legacy_state_dict.pt');
    // Length fields: BINUNICODE lengths in the pickles and each storage record's int64 element count
    // (found by stepping over the five pickles and the records, with element sizes from the storage types).
    const fields: { at: number; size: 2 | 4 | 8 }[] = [];
    for (let i = 0; i + 5 <= src.length; i++) if (src[i] === 0x58) fields.push({ at: i, size: 4 });
    const itemsize: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, LongStorage: 8 };
    const types = new Map<string, string>();
    let pos = 0;
    for (let i = 0; i < 3; i++) pos = unpickleAt(src, pos).end;
    pos = unpickleAt(src, pos, {
      persistentLoad: (pid) => {
        const [, type, key] = pid as [string, { name: string }, string]; // type: the storage class global
        types.set(key, type.name);
        return null;
      },
    }).end;
    const listed = unpickleAt(src, pos);
    pos = listed.end;
    for (const key of listed.value as string[]) {
      fields.push({ at: pos, size: 8 });
      pos += 8 + Number(Buffer.from(src).readBigInt64LE(pos)) * itemsize[types.get(key)!]!;
    }
    assert.equal(pos, src.length);
    assert.equal((listed.value as string[]).length, 11);
    fuzz(
      'torch-legacy',
      5,
      1200,
      (r) => mutate(src, r, fields),
      (b) => loadTorchCheckpoint(b),
    );
  });

  test('truncation at every length fails cleanly', () => {
    const st = readFx('tensors.safetensors');
    for (let n = 0; n < st.length; n++) assertFormatError(() => parseSafetensors(st.subarray(0, n)), /./);
    const ck = readFx('state_dict.pt');
    for (let n = 0; n < ck.length; n += 3) assertFormatError(() => loadTorchCheckpoint(ck.subarray(0, n)), /./);
    const lg = readFx('legacy_state_dict.pt');
    for (let n = 0; n < lg.length; n++) assertFormatError(() => loadTorchCheckpoint(lg.subarray(0, n)), /./);
  });
});

// Catch any dtype the engine gains that safetensors cannot map.
test('every engine dtype serializes', () => {
  const all: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
  const src = Object.fromEntries(all.map((d) => [d, T.zeros([2], { dtype: d })]));
  const { tensors } = parseSafetensors(serializeSafetensors(src));
  for (const d of all) assert.equal(tensors[d]!.dtype, d);
});

describe('validate', () => {
  test('rejectUnknownKeys names the key, suggests the closest and lists the valid ones', () => {
    assert.doesNotThrow(() => V.rejectUnknownKeys({ discStart: 1 }, ['discStart', 'discWeight'], 'gan'));
    assert.throws(
      () => V.rejectUnknownKeys({ discStrat: 100 }, ['discStart', 'discWeight'], 'gan'),
      (e: unknown) => e instanceof V.ConfigError && e.message === "gan: unknown key 'discStrat' (did you mean 'discStart'? valid: discStart, discWeight)",
    );
    assert.throws(() => V.rejectUnknownKeys({ zzz: 1 }, ['a'], 'x'), /^ConfigError: x: unknown key 'zzz' \(valid: a\)$/);
    assert.throws(
      () => V.rejectUnknownKeys({ 'a\nb': 1 }, ['a'], 'x'),
      (e: Error) => !e.message.includes('\n'),
    );
  });

  test('numbers, integers and the rest', () => {
    assert.equal(V.checkNumber(0.5, 'lr', { min: 0, exclusiveMin: true }), 0.5);
    for (const bad of [NaN, Infinity, -Infinity, '1', null, undefined]) assert.throws(() => V.checkNumber(bad, 'lr'), V.ConfigError);
    assert.throws(() => V.checkNumber(0, 'lr', { min: 0, exclusiveMin: true }), /^ConfigError: lr: must be > 0, got 0$/);
    assert.equal(V.checkNumber(1, 'p', { max: 1 }), 1);
    assert.throws(() => V.checkNumber(1, 'p', { max: 1, exclusiveMax: true }), /p: must be < 1/);
    assert.equal(V.checkInt(-3, 'n'), -3);
    assert.throws(() => V.checkInt(1.5, 'n'), /n: expected an integer, got 1.5/);
    assert.throws(() => V.checkInt(2 ** 53, 'n'), V.ConfigError);
    assert.throws(() => V.checkInt(5, 'n', { min: 0, max: 4 }), /n: must be ≤ 4, got 5/);
    assert.equal(V.checkPositiveInt(7, 'dim'), 7);
    for (const bad of [0, -1, 1.5, NaN, '3', true]) assert.throws(() => V.checkPositiveInt(bad, 'dim'), /dim: expected a positive integer/);
    assert.throws(() => V.checkPositiveInt(9, 'dim', 8), /dim: must be ≤ 8/);
    assert.equal(V.checkBoolean(false, 'b'), false);
    assert.throws(() => V.checkBoolean(0, 'b'), /b: expected true or false, got 0/);
    assert.equal(V.checkString('', 's'), '');
    assert.throws(() => V.checkString('', 's', { nonEmpty: true }), /s: must not be empty/);
    assert.equal(V.checkEnum('ema', ['ema', 'kmeans'] as const, 'init'), 'ema');
    assert.throws(() => V.checkEnum('kmean', ['ema', 'kmeans'], 'init'), /init: expected one of ema, kmeans, got "kmean" \(did you mean 'kmeans'\?\)/);
    assert.ok(V.isObject({}) && !V.isObject([]) && !V.isObject(null) && !V.isObject('x'));
  });

  test('deepEqual / firstDifference', () => {
    assert.ok(V.deepEqual({ a: 1, b: [1, { c: NaN }] }, { b: [1, { c: NaN }], a: 1 }));
    assert.ok(V.deepEqual(-0, 0));
    assert.equal(V.firstDifference({ gan: { discStart: 1, w: 2 } }, { gan: { discStart: 2, w: 2 } }), 'gan.discStart');
    assert.equal(V.firstDifference({ a: [1, 2] }, { a: [1, 2, 3] }), 'a[2]');
    assert.equal(V.firstDifference({ a: 1 }, { a: 1, b: 2 }), 'b');
    assert.equal(V.firstDifference([1], { 0: 1 }), '(root)');
    assert.equal(V.firstDifference(null, {}), '(root)');
    assert.equal(V.firstDifference({ x: 'a' }, { x: 'a' }), undefined);
  });
});

// ---------------------------------------------------------------- the one loader
describe('loading model files: dtypes, values, sizes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-io-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const build = (c: { in: number; out: number }): Linear => new Linear(c.in, c.out);
  /** A 'linear' model file whose weight is `w` (2×3) and bias zeros. */
  function linearFile(name: string, w: number[][]): string {
    const path = join(dir, name);
    T.tidy(() => saveModelFile(path, { kind: 'linear', config: { in: 3, out: 2 }, stateDict: { weight: T.tensor(w), bias: T.zeros([2]) } }));
    return path;
  }

  test('a good file loads through buildFromModelFile with its values', () => {
    const path = linearFile('good.safetensors', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const { model, kind, config } = buildFromModelFile(path, 'linear', build);
    assert.equal(kind, 'linear');
    assert.deepEqual(config, { in: 3, out: 2 });
    assert.deepEqual(model.weight.toArray(), [1, 2, 3, 4, 5, 6]);
    model.dispose();
  });

  test('float weights relabelled I32 in the header are rejected (they would load as garbage integers)', () => {
    const path = linearFile('relabel.safetensors', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString('latin1');
    // Same length, so every offset stays valid: only the dtype of `weight` changes.
    const forged = header.replace(/("weight":\{"dtype":)"F32"/, '$1"I32"');
    assert.notEqual(forged, header);
    bytes.write(forged, 8, 'latin1');
    writeFileSync(path, bytes);
    // The file itself is well-formed; the model check is what catches it.
    assert.equal(
      T.tidy(() => loadModelFile(path).stateDict.weight!.dtype),
      'int32',
    );
    assert.throws(
      () => buildFromModelFile(path, 'linear', build),
      (e: unknown) =>
        e instanceof StateDictError &&
        e.message === `Linear from ${path}: weights do not match its config: 1 wrong dtype: weight is int32, expected float32` &&
        e.result.wrongDtype?.[0]?.key === 'weight',
    );
  });

  test('NaN or Infinity weights are rejected by name, and a failed strict load changes nothing', () => {
    const nan = linearFile('nan.safetensors', [
      [1, NaN, 3],
      [4, 5, 6],
    ]);
    assert.throws(
      () => buildFromModelFile(nan, 'linear', build),
      /^StateDictError: .*nan\.safetensors: weights do not match its config: 1 tensor with NaN or Infinity: weight$/,
    );
    const inf = linearFile('inf.safetensors', [
      [1, 2, 3],
      [4, 5, -Infinity],
    ]);
    assert.throws(() => buildFromModelFile(inf, 'linear', build), /1 tensor with NaN or Infinity: weight/);
    // Module.loadStateDict itself checks, for every model kind and loader.
    const m = new Linear(3, 2);
    const before = m.weight.toArray();
    T.tidy(() => {
      assert.throws(
        () => m.loadStateDict({ weight: T.full([2, 3], NaN), bias: T.zeros([2], { dtype: 'int64' }) }),
        (e: unknown) => {
          assert.ok(e instanceof StateDictError);
          assert.deepEqual(e.result.nonFinite, ['weight']);
          assert.deepEqual(e.result.wrongDtype, [{ key: 'bias', expected: 'float32', got: 'int64' }]);
          return true;
        },
      );
    });
    assert.deepEqual(m.weight.toArray(), before);
    // Within a dtype kind values are cast as before (float64 → float32).
    T.tidy(() => m.loadStateDict({ weight: T.ones([2, 3], { dtype: 'float64' }), bias: T.zeros([2], { dtype: 'float16' }) }));
    assert.deepEqual(m.weight.toArray(), [1, 1, 1, 1, 1, 1]);
    m.dispose();
  });

  test('another kind, a bad config and a missing file are one-line errors naming the file', () => {
    const path = linearFile('k.safetensors', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.throws(
      () => buildFromModelFile(path, ['vqgan', 'movq'], build),
      new RegExp(`^FormatError: ${path} holds a 'linear' model, expected 'vqgan' or 'movq'$`),
    );
    assert.throws(
      () =>
        buildFromModelFile(
          path,
          'linear',
          () => {
            throw new Error('in must be positive');
          },
          { what: 'linear layer' },
        ),
      new RegExp(`^Error: ${path}: bad linear layer config: in must be positive$`),
    );
    assert.throws(() => buildFromModelFile(join(dir, 'nope.safetensors'), 'linear', build), /^Error: model file not found: .*nope\.safetensors$/);
    assert.throws(() => buildFromModelFile(dir, 'linear', build), /^Error: model file is a directory, not a file: /);
  });

  test('prefixed parts: one error lists the problems of every part with their prefixes', () => {
    const path = join(dir, 'parts.safetensors');
    T.tidy(() =>
      saveModelFile(path, {
        kind: 'pair',
        config: {},
        stateDict: { 'a.weight': T.zeros([2, 3]), 'a.bias': T.zeros([2]), 'b.weight': T.zeros([2, 2]), 'stray.x': T.zeros([1]) },
      }),
    );
    const made: Linear[] = [];
    const mk = (): { a: Linear; b: Linear; dispose(): void } => {
      const p = { a: new Linear(3, 2), b: new Linear(2, 2), dispose: () => (p.a.dispose(), p.b.dispose()) };
      made.push(p.a, p.b);
      return p;
    };
    assert.throws(
      () => buildFromModelFile(path, 'pair', mk, { parts: (p) => ({ a: p.a, b: p.b }) }),
      /weights do not match its config: 1 missing key: b\.bias; 1 unexpected key: stray\.x$/,
    );
  });

  test('a forged zip entry size is rejected before anything is inflated', () => {
    // 32 MB of zeros deflate to ~32 KB; the reader must not inflate a claim it can check first.
    const big = new Uint8Array(32 << 20);
    const zip = makeZip([{ name: 'a/data/0', data: big }], { deflate: true });
    const at = Buffer.from(zip).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); // central header
    const forge = (usize: number): Uint8Array => {
      const b = Buffer.from(zip);
      b.writeUInt32LE(usize, at + 24);
      return new Uint8Array(b);
    };
    const arrays = (): number => process.memoryUsage().arrayBuffers;
    const base = arrays();
    // An impossible ratio for DEFLATE (~1032:1 at most).
    assertFormatError(() => new ZipReader(forge(0x7ff00000)).read('a/data/0'), /declares 2146435072 bytes, more than its \d+ compressed bytes can hold/);
    // A plausible size that is not what the caller expects (a storage's numel × itemsize).
    assertFormatError(() => new ZipReader(zip).read('a/data/0', { expectedSize: 64 }), /^zip: entry 'a\/data\/0' declares 33554432 bytes, expected 64$/);
    // Declared smaller than the data: inflation stops at the declared size.
    assertFormatError(() => new ZipReader(forge(16)).read('a/data/0'), /inflates to more than its declared 16 bytes/);
    assert.ok(arrays() - base < 8 << 20, `rejecting the forged entries allocated ${arrays() - base} bytes`);
    // The honest entry still reads.
    assert.equal(new ZipReader(zip).read('a/data/0', { expectedSize: big.length }).length, big.length);
  });

  test('a torch checkpoint whose storage record declares another size is rejected before inflating it', () => {
    const src = Buffer.from(readFx('state_dict_deflate.pt'));
    const z = new ZipReader(new Uint8Array(src));
    const name = [...z.entries.keys()].find((n) => /\/data\/\d+$/.test(n) && z.entries.get(n)!.method === 8)!;
    assert.ok(name, 'the fixture has a deflated storage record');
    const real = z.entries.get(name)!.size;
    // Find the central header of that record and double its uncompressed size.
    const nameBytes = Buffer.from(name);
    let p = src.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    while (p >= 0 && !src.subarray(p + 46, p + 46 + nameBytes.length).equals(nameBytes)) p = src.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), p + 4);
    assert.ok(p >= 0);
    src.writeUInt32LE(real * 2, p + 24);
    const key = name.split('/').pop()!;
    // "has <declared> bytes": the size came from the directory, not from inflating (which would give `real`).
    assertFormatError(() => loadTorchCheckpoint(new Uint8Array(src)), new RegExp(`storage '${key}' has ${real * 2} bytes, expected ${real}`));
  });
});

// ---------------------------------------------------------------- interrupted writes
describe('interrupted writes and stale temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-io-atomic-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The pid of a process that has exited (a child we waited for). */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  }

  test('removeStaleTempFiles removes the temp files of dead processes only', () => {
    const dead = deadPid();
    const names = {
      dead: `model.safetensors.tmp-${dead}`,
      self: `model.safetensors.tmp-${process.pid}`,
      alive: `checkpoint.safetensors.tmp-${process.ppid}`,
      other: `notes.tmp-abc`,
      plain: 'model.safetensors',
    };
    for (const n of Object.values(names)) writeFileSync(join(dir, n), 'x');
    mkdirSync(join(dir, `subdir.tmp-${dead}`));
    assert.deepEqual(removeStaleTempFiles(dir), [join(dir, names.dead)]);
    assert.deepEqual(readdirSync(dir).sort(), [names.alive, names.plain, names.self, names.other, `subdir.tmp-${dead}`].sort());
    assert.deepEqual(removeStaleTempFiles(join(dir, 'missing')), []);
  });

  test('a writer killed mid-write leaves the previous file intact; its temp file is cleaned up afterwards', async () => {
    const path = join(dir, 'ck.safetensors');
    T.tidy(() => saveSafetensors(path, { w: T.tensor([1, 2, 3]) }, { step: '1' }));
    const atomic = pathToFileURL(join(repoRoot, 'dist', 'src', 'io', 'atomic.js')).href;
    // The child writes the first chunk, says so, then blocks inside the write until it is killed.
    const script = `import { writeFileAtomic } from ${JSON.stringify(atomic)};
function* chunks() {
  yield new Uint8Array(1 << 20).fill(7);
  process.stdout.write('ready\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  yield new Uint8Array(1);
}
writeFileAtomic(${JSON.stringify(path)}, chunks());`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before writing: ${err}`)));
    });
    const tmp = `${path}.tmp-${child.pid}`;
    assert.ok(existsSync(tmp), 'the temp file exists while the write is in progress');
    const exited = new Promise((r) => child.on('exit', (_c, sig) => r(sig)));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    // The previous file is untouched, and the half-written temp file is the only trace.
    const { tensors, metadata } = loadSafetensors(path);
    assert.deepEqual(tensors.w!.toArray(), [1, 2, 3]);
    assert.deepEqual(metadata, { step: '1' });
    assert.ok(existsSync(tmp));
    assert.deepEqual(removeStaleTempFiles(dir), [tmp]);
    assert.equal(existsSync(tmp), false);
  });

  test('saving a model file clears stale temp files next to it', () => {
    const stale = join(dir, `m.safetensors.tmp-${deadPid()}`);
    writeFileSync(stale, 'half a model');
    T.tidy(() => saveModelFile(join(dir, 'm.safetensors'), { kind: 'x', config: {}, stateDict: { w: T.zeros([1]) } }));
    assert.equal(existsSync(stale), false);
  });
});

describe('float16 storage (storeModelFileAs, tessera convert)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-f16-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('keeps tensors float16 cannot hold as float32, leaves integer tensors alone, copies the metadata', () => {
    const src = join(dir, 'm.safetensors');
    T.tidy(() =>
      saveModelFile(src, {
        kind: 'x',
        config: { a: 1 },
        stateDict: {
          w: T.tensor([0.5, -0.25, 0.125]),
          counts: T.tensor([1e6, 2.0, 3.0]),
          tiny: T.tensor([1, 1e-5]),
          ids: T.tensor([1, 2], { dtype: 'int64' }),
        },
        extra: { note: 'kept' },
      }),
    );
    const dst = join(dir, 'h.safetensors');
    const r = storeModelFileAs(src, dst, 'float16');
    // 1e6 overflows float16; 1e-5 next to 1 is an error far below 1e-3 of the largest value.
    assert.deepEqual(r.kept, ['counts']);
    assert.equal(r.converted, 2);
    const h = readSafetensorsHeader(dst);
    assert.deepEqual(Object.fromEntries(Object.entries(h.tensors).map(([k, v]) => [k, v.dtype])), {
      w: 'float16',
      counts: 'float32',
      tiny: 'float16',
      ids: 'int64',
    });
    assert.equal(h.metadata.note, 'kept');
    const f = loadModelFile(dst);
    assert.deepEqual(f.config, { a: 1 });
    assert.deepEqual(Array.from(f.stateDict.w!.to('float32').toArray() as number[]), [0.5, -0.25, 0.125]);
    for (const t of Object.values(f.stateDict)) t.dispose();
  });

  test('tessera convert writes the file and reports the sizes; a missing file is one line', () => {
    const src = join(dir, 'c.safetensors');
    T.tidy(() => saveModelFile(src, { kind: 'x', config: {}, stateDict: { w: T.randn([64, 64]) } }));
    const cli = join(repoRoot, 'dist/src/cli/main.js');
    const ok = spawnSync(process.execPath, [cli, 'convert', '--model', src, '--out', join(dir, 'c16.safetensors')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /1 tensors stored as float16; [\d.]+ MB → [\d.]+ MB/);
    assert.equal(readSafetensorsHeader(join(dir, 'c16.safetensors')).tensors.w!.dtype, 'float16');
    const bad = spawnSync(process.execPath, [cli, 'convert', '--model', join(dir, 'nope.safetensors'), '--out', join(dir, 'x.safetensors')], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /model file not found/);
  });
});
