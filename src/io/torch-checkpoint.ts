// Reader for PyTorch `torch.save` files (zip format, PyTorch ≥ 1.6): .pt/.pth state dicts and Lightning
// .ckpt checkpoints. Layout of the archive:
//   <prefix>/data.pkl       the pickled object; tensors refer to storages through persistent ids
//   <prefix>/data/<key>     raw little-endian storage bytes, one record per storage
//   <prefix>/byteorder      optional, 'little' or 'big'
// Storages load lazily, once per key, into a 1-D tensor; each pickled tensor is an as_strided view of it,
// so tensors that share a storage in PyTorch (views, slices, transposes) share it here too.
// Everything loads onto the CPU whatever device the tensors were saved from.
import { readFileSync } from 'node:fs';
import { Tensor, fromBytes, type DType } from '../torch/index.js';
import { FormatError, oneLine, q, withLabel } from './errors.js';
import { PyGlobal, PyObject, unpickle, type GlobalHandler } from './pickle.js';
import { ZipReader } from './zip.js';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};
const ITEMSIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};
/** torch.<dtype> globals (they appear as arguments of _rebuild_tensor_v3). */
const TORCH_DTYPES: Record<string, DType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};

/** The storage a persistent id names; its bytes are read on first use. */
class StorageRef {
  constructor(
    readonly key: string,
    /** null for torch.UntypedStorage (bytes; the tensor's dtype comes from _rebuild_tensor_v3). */
    readonly dtype: DType | null,
    readonly numel: number,
  ) {}
}

/** Table lookup by a file-provided name: own keys only ('constructor' must not find Object's). */
const own = <V>(table: Record<string, V>, key: string): V | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/** Dims for messages; fuzzed or hostile files can hold very long lists. */
const dims = (d: number[]): string => `[${d.slice(0, 8).join(', ')}${d.length > 8 ? ', …' : ''}]`;

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);

/** Legacy (pre-1.6) torch.save files start by pickling the magic number 0x1950a86a20f9469cfc6c (LONG1). */
const LEGACY_MAGIC = Uint8Array.from([0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const LEGACY_ERROR = 'legacy (pre-1.6) torch.save format is not supported; re-save with torch.save(..., _use_new_zipfile_serialization=True)';

export interface TorchLoadOptions {
  /** Verify each zip entry's CRC-32 (default true). */
  verifyCrc?: boolean;
}

/**
 * Loads a torch.save zip archive (a path or its bytes) and returns the unpickled object: dicts become
 * plain objects, tensors become Tensors (CPU), unknown classes become inert placeholders — see pickle.ts
 * for the full mapping. Nothing from the file is executed.
 */
export function loadTorchCheckpoint(source: string | Uint8Array, opts: TorchLoadOptions = {}): unknown {
  const name = typeof source === 'string' ? source : '<bytes>';
  return withLabel(`torch checkpoint ${name}`, () => {
    const bytes = typeof source === 'string' ? readFileSync(source) : source;
    return loadArchive(bytes, opts);
  });
}

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>, at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

function loadArchive(bytes: Uint8Array, opts: TorchLoadOptions): unknown {
  if (!startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    // After PROTO (and a FRAME for protocol ≥ 4) comes the magic number.
    for (let at = 0; at <= 11; at++) if (startsWith(bytes, LEGACY_MAGIC, at)) throw new FormatError(LEGACY_ERROR);
    if (startsWith(bytes, [0x75, 0x73, 0x74, 0x61, 0x72], 257)) throw new FormatError(LEGACY_ERROR); // tar: older still
    throw new FormatError('not a torch.save zip archive (no zip signature at the start)');
  }
  const zip = new ZipReader(bytes, { verifyCrc: opts.verifyCrc });

  // The prefix is the archive name torch chose ('archive', or the file stem in older versions).
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length === 0) throw new FormatError('no data.pkl in the archive (not a torch.save file)');
  if (pkls.length > 1) throw new FormatError(`several data.pkl records (${pkls.join(', ')})`);
  const pklName = pkls[0]!;
  const prefix = pklName.slice(0, -'data.pkl'.length);

  let bigEndian = false;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new FormatError(`unknown byteorder ${q(order)}`);
    bigEndian = order === 'big';
  }

  const bases = new Map<string, { dtype: DType; numel: number; tensor: Tensor }>();
  const made: Tensor[] = [];

  const loadStorage = (ref: StorageRef, dtype: DType): Tensor => {
    const have = bases.get(ref.key);
    if (have) {
      if (have.dtype !== dtype) throw new FormatError(`storage ${q(ref.key)} is used as both ${have.dtype} and ${dtype}`);
      if (have.numel !== ref.numel) throw new FormatError(`storage ${q(ref.key)} is declared with ${have.numel} and ${ref.numel} elements`);
      return have.tensor;
    }
    const record = `${prefix}data/${ref.key}`;
    if (!zip.entries.has(record)) throw new FormatError(`storage ${q(ref.key)}: record ${q(record)} is missing`);
    let data = zip.read(record);
    const itemsize = ITEMSIZE[dtype];
    const expect = ref.dtype === null ? ref.numel : ref.numel * itemsize; // untyped storages count bytes
    if (data.length !== expect) throw new FormatError(`storage ${q(ref.key)} has ${data.length} bytes, expected ${expect}`);
    if (data.length % itemsize) throw new FormatError(`storage ${q(ref.key)} of ${data.length} bytes is not a whole number of ${dtype}`);
    if (bigEndian && itemsize > 1) data = byteswap(data, itemsize);
    if (dtype === 'bool' && data.some((b) => b > 1)) data = data.map((b) => (b ? 1 : 0)); // libtorch assumes 0/1
    const tensor = engine(`storage ${q(ref.key)}`, () => fromBytes(data, [data.length / itemsize], dtype));
    bases.set(ref.key, { dtype, numel: ref.numel, tensor });
    return tensor;
  };

  const rebuild = (storage: unknown, offset: unknown, size: unknown, stride: unknown, requiresGrad: unknown, dtype: DType | null): unknown => {
    if (!(storage instanceof StorageRef)) return undefined;
    const dt = dtype ?? storage.dtype;
    if (dt === null) throw new FormatError(`storage ${q(storage.key)} is untyped and no dtype was given`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new FormatError(`tensor on storage ${q(storage.key)}: bad storage offset`);
    if (!isIntArray(size) || !isIntArray(stride) || size.length !== stride.length) {
      throw new FormatError(`tensor on storage ${q(storage.key)}: bad size/stride`);
    }
    const base = loadStorage(storage, dt);
    const available = base.numel;
    // Same check as libtorch's setStorage, done here for a clear message and to keep the addon out of it.
    let numel = 1;
    let extent = offset + 1; // one past the last element the view touches
    for (let i = 0; i < size.length; i++) {
      numel *= size[i]!;
      extent += (size[i]! - 1) * stride[i]!;
    }
    // Stride-0 views can claim more elements than any buffer could hold; refuse before libtorch sees them.
    if (numel > Number.MAX_SAFE_INTEGER) throw new FormatError(`tensor view ${dims(size)} has too many elements`);
    if (numel > 0 && extent > available) {
      throw new FormatError(
        `tensor view ${dims(size)} stride ${dims(stride)} offset ${offset} needs ${extent} elements but storage ${q(storage.key)} has ${available}`,
      );
    }
    if (numel === 0 && offset > available) throw new FormatError(`tensor offset ${offset} is past the end of storage ${q(storage.key)} (${available} elements)`);
    const t = engine(`tensor on storage ${q(storage.key)}`, () => base.asStrided(size, stride, offset));
    made.push(t);
    if (requiresGrad === true) setRequiresGrad(t, true);
    return t;
  };

  // The allow-list: torch's own rebuild functions, reimplemented. Anything else stays a placeholder.
  const globals = new Map<string, GlobalHandler>();
  const rebuildV2: GlobalHandler = {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)
    call: (a) => rebuild(a[0], a[1], a[2], a[3], a[4], null) ?? placeholder('torch._utils._rebuild_tensor_v2', a),
  };
  globals.set('torch._utils._rebuild_tensor_v2', rebuildV2);
  globals.set('torch._utils._rebuild_tensor', {
    call: (a) => rebuild(a[0], a[1], a[2], a[3], false, null) ?? placeholder('torch._utils._rebuild_tensor', a),
  });
  globals.set('torch._utils._rebuild_tensor_v3', {
    // _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None)
    call: (a) => {
      const dt = a[6] instanceof PyGlobal && a[6].module === 'torch' ? own(TORCH_DTYPES, a[6].name) : undefined;
      return (dt && rebuild(a[0], a[1], a[2], a[3], a[4], dt)) ?? placeholder('torch._utils._rebuild_tensor_v3', a);
    },
  });
  const rebuildParameter: GlobalHandler = {
    // _rebuild_parameter(data, requires_grad, backward_hooks[, state]): a Parameter is its data tensor here.
    call: (a) => {
      if (!(a[0] instanceof Tensor)) return placeholder('torch._utils._rebuild_parameter', a);
      if (typeof a[1] === 'boolean' && a[0].requiresGrad !== a[1]) setRequiresGrad(a[0], a[1]);
      return a[0];
    },
  };
  globals.set('torch._utils._rebuild_parameter', rebuildParameter);
  globals.set('torch._utils._rebuild_parameter_with_state', rebuildParameter);
  globals.set('torch._utils._rebuild_from_type_v2', {
    // _rebuild_from_type_v2(func, new_type, args, state): tensor subclasses; we keep the plain tensor.
    call: (a) => {
      const [func, , args] = a;
      if (func instanceof PyGlobal && func.handler?.call && Array.isArray(args)) return func.handler.call([...args]);
      return placeholder('torch._utils._rebuild_from_type_v2', a);
    },
  });
  globals.set('torch.device', {
    call: (a) => (typeof a[0] === 'string' ? (typeof a[1] === 'number' ? `${a[0]}:${a[1]}` : a[0]) : placeholder('torch.device', a)),
  });
  globals.set('torch.Size', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : placeholder('torch.Size', a)) });

  const persistentLoad = (pid: unknown): unknown => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') throw new FormatError('unsupported persistent id (expected a storage tuple)');
    const [, type, key, , numel] = pid;
    if (typeof key !== 'string') throw new FormatError('storage key is not a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new FormatError(`storage ${q(key)}: bad element count`);
    if (!(type instanceof PyGlobal) || type.module !== 'torch') throw new FormatError(`storage ${q(key)}: bad storage type`);
    if (type.name === 'UntypedStorage') return new StorageRef(key, null, numel);
    const dtype = own(STORAGE_DTYPES, type.name);
    // An unsupported storage (complex, quantized, …) stays inert: its tensor becomes a placeholder.
    return dtype ? new StorageRef(key, dtype, numel) : placeholder(type.fullName, [key, numel]);
  };

  try {
    const result = unpickle(zip.read(pklName), { globals, persistentLoad }, pklName);
    // Tensors the pickle built and then dropped (popped, overwritten keys) are unreachable: free them now.
    const kept = reachableTensors(result);
    for (const t of made) if (!kept.has(t)) t.dispose();
    return result;
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  } finally {
    // The views keep their storages alive; the base handles are no longer needed.
    for (const b of bases.values()) b.tensor.dispose();
  }
}

/** Runs an engine call on file-derived arguments; libtorch refusing them means the file is bad. */
function engine<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`${what}: ${oneLine((e as Error).message)}`);
  }
}

const FLOATING = new Set<DType>(['float32', 'float64', 'float16', 'bfloat16']);
function setRequiresGrad(t: Tensor, v: boolean): void {
  // PyTorch refuses gradients on integer tensors too; say so instead of surfacing the engine error.
  if (v && !FLOATING.has(t.dtype)) throw new FormatError(`a ${t.dtype} tensor is marked requires_grad`);
  t.requiresGrad = v;
}

function reachableTensors(root: unknown): Set<Tensor> {
  const out = new Set<Tensor>();
  const seen = new Set<object>();
  const stack = [root]; // iterative: the pickle layer bounds depth, but no need to rely on it
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Tensor) out.add(v);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set || Array.isArray(v)) for (const x of v) stack.push(x);
    else if (!ArrayBuffer.isView(v)) for (const x of Object.values(v)) stack.push(x);
  }
  return out;
}

/** An inert stand-in; being a PyObject, the pickle layer converts its arguments like everything else. */
function placeholder(cls: string, args: unknown[]): unknown {
  return new PyObject(cls, args);
}

function byteswap(data: Uint8Array, itemsize: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += itemsize) for (let j = 0; j < itemsize; j++) out[i + j] = data[i + itemsize - 1 - j]!;
  return out;
}

// ---------------------------------------------------------------- finding the weights
/** True for a plain object (not a placeholder) whose values are all Tensors, with at least one. */
export function isTensorDict(v: unknown): v is Record<string, Tensor> {
  if (v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const vals = Object.values(v);
  return vals.length > 0 && vals.every((x) => x instanceof Tensor);
}

/** Keys tried, in order, when the checkpoint is not itself a tensor dict. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'params'];

/**
 * Finds the tensor dict in a loaded checkpoint: the object itself, `obj[key]` when `key` is given,
 * else the first of state_dict (Lightning), model_state_dict, model, module, net, params that is one.
 * `prefix` keeps only keys starting with it and strips it (Lightning modules often nest the
 * network as `model.`).
 */
export function stateDictFrom(obj: unknown, opts: { key?: string; prefix?: string } = {}): Record<string, Tensor> {
  let found: Record<string, Tensor> | undefined;
  const isObj = obj !== null && typeof obj === 'object' && !Array.isArray(obj);
  if (opts.key !== undefined) {
    const v = isObj ? (obj as Record<string, unknown>)[opts.key] : undefined;
    if (!isTensorDict(v)) {
      throw new FormatError(`checkpoint: ${q(opts.key)} ${v === undefined ? 'is missing' : 'is not a dict of tensors'}${describeKeys(obj)}`);
    }
    found = v;
  } else if (isTensorDict(obj)) found = obj;
  else if (isObj) {
    for (const k of STATE_DICT_KEYS) {
      const v = (obj as Record<string, unknown>)[k];
      if (Object.hasOwn(obj as object, k) && isTensorDict(v)) {
        found = v;
        break;
      }
    }
  }
  if (!found) throw new FormatError(`checkpoint: no dict of tensors found${describeKeys(obj)}`);
  if (opts.prefix === undefined) return found;
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(found)) {
    if (k.startsWith(opts.prefix)) Object.defineProperty(out, k.slice(opts.prefix.length), { value: t, enumerable: true, writable: true, configurable: true });
  }
  if (Object.keys(out).length === 0) throw new FormatError(`checkpoint: no tensor key starts with ${q(opts.prefix)}`);
  return out;
}

function describeKeys(obj: unknown): string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return ` (the checkpoint is a ${Array.isArray(obj) ? 'list' : obj === null ? 'None' : typeof obj})`;
  const keys = Object.keys(obj);
  return ` (top-level keys: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', …' : ''})`;
}
