// What both torch.save formats (zip, legacy) share: storage references from persistent ids and the
// allow-listed rebuild functions that turn them into Tensors.
// Storages load lazily, once per key, into a 1-D tensor; each pickled tensor is an as_strided view of it,
// so tensors that share a storage in PyTorch (views, slices, transposes) share it here too.
import { Tensor, fromBytes, type DType } from '../torch/index.js';
import { FormatError, oneLine, q } from './errors.js';
import { PyGlobal, PyObject, type GlobalHandler } from './pickle.js';

export const STORAGE_DTYPES: Record<string, DType> = {
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
export const ITEMSIZE: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
/** torch.<dtype> globals (they appear as arguments of _rebuild_tensor_v3). */
const TORCH_DTYPES: Record<string, DType> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/** The part of a storage a view-storage covers (legacy format only), in elements of the root storage. */
export interface StorageView {
  key: string;
  offset: number;
  numel: number;
}

/** The storage a persistent id names; its bytes are read on first use. */
export class StorageRef {
  constructor(
    readonly key: string,
    /** null for torch.UntypedStorage (bytes; the tensor's dtype comes from _rebuild_tensor_v3). */
    readonly dtype: DType | null,
    readonly numel: number,
    /** Set when the persistent id names a slice of the storage (pre-1.0 storage views). */
    readonly view: StorageView | null = null,
  ) {}
}

/** Table lookup by a file-provided name: own keys only ('constructor' must not find Object's). */
export const own = <V>(table: Record<string, V>, key: string): V | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/** Dims for messages; fuzzed or hostile files can hold very long lists. */
const dims = (d: number[]): string => `[${d.slice(0, 8).join(', ')}${d.length > 8 ? ', …' : ''}]`;

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);

export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The storage class global of a persistent id: 'untyped', a dtype, or undefined for a storage type
 * Tessera cannot represent (complex, quantized, …). torch.load maps any '*Storage' name regardless of
 * module; older files name CUDA storages torch.cuda.FloatStorage.
 */
export function storageType(type: unknown, key: string): DType | 'untyped' | undefined {
  if (!(type instanceof PyGlobal) || (type.module !== 'torch' && type.module !== 'torch.cuda')) throw new FormatError(`storage ${q(key)}: bad storage type`);
  if (type.name === 'UntypedStorage') return 'untyped';
  return own(STORAGE_DTYPES, type.name);
}

/** Where the loader gets a storage's raw bytes (little-endian unless `bigEndian`). */
export interface StorageSource {
  /** `expected` is the byte count the pickle declares (sources check it before reading, where they can). */
  bytes(ref: StorageRef, expected: number): Uint8Array;
  bigEndian: boolean;
}

/** The allow-listed torch globals, plus what is needed to free tensors the pickle built. */
export interface TensorRebuilder {
  globals: Map<string, GlobalHandler>;
  /** Frees tensors that `result` does not reach, and the base storages. Call once, on success. */
  finish(result: unknown): void;
  /** Frees everything built so far. Call once, on failure. */
  abort(): void;
}

/** Runs `unpickleWith(globals)` with tensor rebuilding on, and frees whatever the result does not keep. */
export function withTensorRebuild<R>(source: StorageSource, unpickleWith: (globals: ReadonlyMap<string, GlobalHandler>) => R): R {
  const rb = tensorRebuilder(source);
  let result: R;
  try {
    result = unpickleWith(rb.globals);
  } catch (e) {
    rb.abort();
    throw e;
  }
  rb.finish(result);
  return result;
}

function tensorRebuilder(source: StorageSource): TensorRebuilder {
  const bases = new Map<string, { dtype: DType; numel: number; tensor: Tensor }>();
  const made: Tensor[] = [];

  const loadStorage = (ref: StorageRef, dtype: DType): Tensor => {
    const have = bases.get(ref.key);
    if (have) {
      if (have.dtype !== dtype) throw new FormatError(`storage ${q(ref.key)} is used as both ${have.dtype} and ${dtype}`);
      if (have.numel !== ref.numel) throw new FormatError(`storage ${q(ref.key)} is declared with ${have.numel} and ${ref.numel} elements`);
      return have.tensor;
    }
    const itemsize = ITEMSIZE[dtype];
    const expect = ref.dtype === null ? ref.numel : ref.numel * itemsize; // untyped storages count bytes
    let data = source.bytes(ref, expect);
    if (data.length !== expect) throw new FormatError(`storage ${q(ref.key)} has ${data.length} bytes, expected ${expect}`);
    if (data.length % itemsize) throw new FormatError(`storage ${q(ref.key)} of ${data.length} bytes is not a whole number of ${dtype}`);
    if (source.bigEndian && itemsize > 1) data = byteswap(data, itemsize);
    if (dtype === 'bool' && data.some((b) => b > 1)) data = data.map((b) => (b ? 1 : 0)); // libtorch assumes 0/1
    const tensor = engine(`storage ${q(ref.key)}`, () => fromBytes(data, [data.length / itemsize], dtype));
    bases.set(ref.key, { dtype, numel: ref.numel, tensor });
    return tensor;
  };

  const rebuild = (storage: unknown, offset: unknown, size: unknown, stride: unknown, requiresGrad: unknown, dtype: DType | null): unknown => {
    if (!(storage instanceof StorageRef)) return undefined;
    const dt = dtype ?? storage.dtype;
    const name = storage.view ? storage.view.key : storage.key;
    if (dt === null) throw new FormatError(`storage ${q(name)} is untyped and no dtype was given`);
    if (!isCount(offset)) throw new FormatError(`tensor on storage ${q(name)}: bad storage offset`);
    if (!isIntArray(size) || !isIntArray(stride) || size.length !== stride.length) {
      throw new FormatError(`tensor on storage ${q(name)}: bad size/stride`);
    }
    const base = loadStorage(storage, dt);
    // A view-storage is a window of its root: offsets are relative to it and bounded by its size.
    const available = storage.view ? storage.view.numel : base.numel;
    const shift = storage.view ? storage.view.offset : 0;
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
        `tensor view ${dims(size)} stride ${dims(stride)} offset ${offset} needs ${extent} elements but storage ${q(name)} has ${available}`,
      );
    }
    if (numel === 0 && offset > available) throw new FormatError(`tensor offset ${offset} is past the end of storage ${q(name)} (${available} elements)`);
    const t = engine(`tensor on storage ${q(name)}`, () => base.asStrided(size, stride, offset + shift));
    made.push(t);
    if (requiresGrad === true) setRequiresGrad(t, true);
    return t;
  };

  // The allow-list: torch's own rebuild functions, reimplemented. Anything else stays a placeholder.
  const globals = new Map<string, GlobalHandler>();
  globals.set('torch._utils._rebuild_tensor_v2', {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)
    call: (a) => rebuild(a[0], a[1], a[2], a[3], a[4], null) ?? placeholder('torch._utils._rebuild_tensor_v2', a),
  });
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

  const disposeBases = (): void => {
    // The views keep their storages alive; the base handles are no longer needed.
    for (const b of bases.values()) b.tensor.dispose();
  };
  return {
    globals,
    finish(result) {
      // Tensors the pickle built and then dropped (popped, overwritten keys) are unreachable: free them now.
      const kept = reachableTensors(result);
      for (const t of made) if (!kept.has(t)) t.dispose();
      disposeBases();
    },
    abort() {
      for (const t of made) t.dispose();
      disposeBases();
    },
  };
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
export function placeholder(cls: string, args: unknown[]): unknown {
  return new PyObject(cls, args);
}

function byteswap(data: Uint8Array, itemsize: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += itemsize) for (let j = 0; j < itemsize; j++) out[i + j] = data[i + itemsize - 1 - j]!;
  return out;
}
