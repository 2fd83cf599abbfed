// The Tensor handle, memory scopes, autograd entry points and RNG. Op methods (add, conv2d, …) are
// attached by ops.generated.ts, which is generated from native/ops.def; import the engine through
// src/torch/index.ts so both are loaded.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';
export type Reduction = 'none' | 'mean' | 'sum';
export interface TensorOptions {
  dtype?: DType;
  device?: Device | string;
  requiresGrad?: boolean;
}
export type TensorLike = Tensor | number | boolean;
/** Opaque native handle (a NativeTensor object owned by the addon). */
export type NativeHandle = { dispose(): void; isDisposed(): boolean };

// ---------------------------------------------------------------- the addon
function findAddon(): string {
  // dist/src/torch/tensor.js → package root is three levels up; src/ layout (ts-node) is two.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'tessera.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('tessera: native addon not built (native/build/Release/tessera.node missing). Run `npm run build`.');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const native: any = createRequire(import.meta.url)(findAddon());
native.setNumThreads(Number(process.env.TESSERA_THREADS) || availableParallelism());

// ---------------------------------------------------------------- scopes
class Scope {
  readonly tensors = new Set<Tensor>();
}
const scopes: Scope[] = [];

function track(t: Tensor): void {
  const s = scopes[scopes.length - 1];
  if (s) {
    s.tensors.add(t);
    t._scope = s;
  }
}

// ---------------------------------------------------------------- Tensor
const TYPED: Record<string, { new (b: ArrayBuffer): ArrayLike<number | bigint> } | undefined> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

const DTYPE_NAMES = new Set<string>(['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

export type IndexItem = number | null | '...' | ':' | string | readonly [number | null, number | null, (number | null)?] | Tensor | boolean;

function parseIndex(items: readonly IndexItem[]): unknown[] {
  return items.map((it) => {
    if (it instanceof Tensor) return it.native;
    if (typeof it === 'string' && it !== '...') {
      // "a:b:c" slice syntax, any part may be empty.
      const parts = it.split(':');
      if (parts.length < 2 || parts.length > 3) throw new Error(`index: bad slice '${it}'`);
      return parts.map((p) => (p.trim() === '' ? null : Number(p)));
    }
    return it;
  });
}

export class Tensor {
  /** The native handle; ops take it. Internal but public so generated code can reach it. */
  readonly native: NativeHandle;
  /** @internal */ _scope: Scope | undefined;
  #kept = false;

  private constructor(h: NativeHandle) {
    this.native = h;
  }

  /** @internal Wraps a native handle; the new tensor belongs to the innermost scope. */
  static _wrap(h: NativeHandle): Tensor {
    const t = new Tensor(h);
    track(t);
    return t;
  }

  // ---- metadata
  get shape(): number[] {
    return native.shape(this.native);
  }
  get dtype(): DType {
    return native.dtype(this.native);
  }
  get device(): string {
    return native.device(this.native);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get strides(): number[] {
    return native.strides(this.native);
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size: dim ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }
  isContiguous(memoryFormat?: MemoryFormat): boolean {
    return native.isContiguous(this.native, memoryFormat);
  }
  /** True when both tensors view the same storage. */
  sharesStorageWith(other: Tensor): boolean {
    return native.sameStorage(this.native, other.native);
  }

  // ---- autograd
  get requiresGrad(): boolean {
    return native.requiresGrad(this.native);
  }
  set requiresGrad(v: boolean) {
    native.setRequiresGrad(this.native, v);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.native);
  }
  get gradFn(): string | null {
    return native.gradFn(this.native);
  }
  /** The accumulated gradient, or undefined. Each read returns a new handle on the same storage. */
  get grad(): Tensor | undefined {
    const g = native.grad(this.native);
    return g ? Tensor._wrap(g) : undefined;
  }
  set grad(g: Tensor | undefined) {
    native.setGrad(this.native, g?.native);
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(this.native, gradient?.native, opts.retainGraph, opts.createGraph);
  }

  // ---- conversion
  /** Converts dtype, device and/or memory format. Returns this tensor's data unchanged when nothing changes. */
  to(target: DType | Device | { dtype?: DType; device?: string; memoryFormat?: MemoryFormat; copy?: boolean }): Tensor {
    if (typeof target === 'string') {
      if (DTYPE_NAMES.has(target)) return Tensor._wrap(native.to(this.native, target));
      if (/^(cpu|cuda)(:\d+)?$/.test(target)) return Tensor._wrap(native.to(this.native, undefined, target));
      throw new TypeError(`to(): unknown dtype '${target}' and not a device either (dtypes: ${[...DTYPE_NAMES].join(', ')}; devices: cpu, cuda, cuda:N)`);
    }
    return Tensor._wrap(native.to(this.native, target.dtype, target.device, target.memoryFormat, target.copy));
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  /** The value of a one-element tensor. */
  item(): number {
    const v = native.item(this.native);
    return typeof v === 'boolean' ? Number(v) : v;
  }
  /** A copy of the elements as a TypedArray (row-major). bool → Uint8Array, int64 → BigInt64Array. */
  data(): Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array {
    const dt = this.dtype;
    if (dt === 'float16' || dt === 'bfloat16') {
      const f = this.to('float32');
      try {
        return f.data();
      } finally {
        f.dispose();
      }
    }
    const C = TYPED[dt];
    if (!C) throw new Error(`data(): unsupported dtype ${dt}`);
    return new C(native.toBuffer(this.native)) as Float32Array;
  }
  /** The elements as plain numbers (int64 converted, exact below 2^53). */
  toArray(): number[] {
    const d = this.data();
    return Array.from(d as ArrayLike<number | bigint>, (x) => Number(x));
  }
  /** Raw bytes of the contiguous elements (for serialization). */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.native));
  }

  // ---- indexing
  /**
   * PyTorch-style indexing: numbers, '...', null (new axis), 'a:b:c' or [a, b, c] slices, tensors.
   * `x.index(':', 0)` is `x[:, 0]`.
   */
  index(...items: IndexItem[]): Tensor {
    return Tensor._wrap(native.index(this.native, parseIndex(items)));
  }
  /** In-place `x[items] = value`. Returns this. */
  indexPut(items: readonly IndexItem[], value: Tensor | number | boolean): Tensor {
    native.indexPut(this.native, parseIndex(items), value instanceof Tensor ? value.native : value);
    return this;
  }

  // ---- lifetime
  /** Frees this handle now (idempotent). Views and gradients held elsewhere stay valid. */
  dispose(): void {
    this._scope?.tensors.delete(this);
    this._scope = undefined;
    this.native.dispose();
  }
  get isDisposed(): boolean {
    return this.native.isDisposed();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Removes the tensor from every scope: only an explicit dispose() (or GC) frees it. */
  keep(): this {
    this._scope?.tensors.delete(this);
    this._scope = undefined;
    this.#kept = true;
    return this;
  }
  get isKept(): boolean {
    return this.#kept;
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    const n = this.numel;
    const preview = n <= 8 ? ` ${JSON.stringify(this.toArray().map((x) => +x.toPrecision(5)))}` : '';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})${preview}`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

// ---------------------------------------------------------------- scope API
function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 6 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, depth + 1);
}

function closeScope(s: Scope, survivors: Set<Tensor>): void {
  const idx = scopes.lastIndexOf(s);
  if (idx !== scopes.length - 1) throw new Error('tessera: memory scopes closed out of order');
  scopes.pop();
  const parent = scopes[scopes.length - 1];
  for (const t of s.tensors) {
    if (survivors.has(t)) {
      t._scope = parent;
      parent?.tensors.add(t);
    } else {
      t._scope = undefined;
      t.native.dispose();
    }
  }
  s.tensors.clear();
}

/**
 * Runs fn and disposes every tensor it created, except the tensors in its return value (found in
 * arrays, plain objects and Maps), which move to the enclosing scope. Synchronous functions only.
 */
export function tidy<T>(fn: () => T): T {
  const s = new Scope();
  scopes.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(s, new Set());
    throw e;
  }
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    closeScope(s, new Set());
    throw new Error('tidy(): fn returned a Promise; scopes are synchronous (await outside tidy)');
  }
  const keep = new Set<Tensor>();
  collect(result, keep);
  closeScope(s, keep);
  return result;
}

/** A scope for `using`: `using s = scope();` frees the block's tensors at its end; `s.escape(t)` keeps one. */
export function scope(): { escape<T extends Tensor>(t: T): T; [Symbol.dispose](): void } {
  const s = new Scope();
  scopes.push(s);
  const escaped = new Set<Tensor>();
  return {
    escape<T extends Tensor>(t: T): T {
      escaped.add(t);
      return t;
    },
    [Symbol.dispose]() {
      closeScope(s, escaped);
    },
  };
}

/**
 * Live native tensor handles and the bytes they own (leak checks), and the bytes the caching
 * allocator holds for reuse (TESSERA_CPU_CACHE_MB caps it, default 2048; 0 disables caching).
 */
export function memoryStats(): { liveTensors: number; liveBytes: number; cachedBytes: number; scopeDepth: number } {
  return { ...native.stats(), scopeDepth: scopes.length };
}

/** Returns the allocator's cached free blocks to the system; gives the bytes released. */
export function emptyCache(): number {
  return native.emptyCache();
}

// ---------------------------------------------------------------- autograd
/** Runs fn with gradient recording off (like torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export const autograd = {
  /** Gradients of outputs w.r.t. inputs without touching .grad (torch.autograd.grad). */
  grad(
    outputs: Tensor | readonly Tensor[],
    inputs: Tensor | readonly Tensor[],
    opts: { gradOutputs?: readonly Tensor[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
  ): (Tensor | undefined)[] {
    const outs = outputs instanceof Tensor ? [outputs] : outputs;
    const ins = inputs instanceof Tensor ? [inputs] : inputs;
    const r: (NativeHandle | undefined)[] = native.autogradGrad(
      outs.map((t) => t.native),
      ins.map((t) => t.native),
      opts.gradOutputs?.map((t) => t.native),
      opts.retainGraph,
      opts.createGraph,
      opts.allowUnused,
    );
    return r.map((h) => (h ? Tensor._wrap(h) : undefined));
  },
};

// ---------------------------------------------------------------- RNG and threads
/** A seedable random generator; pass it to rand/randn/randint/multinomial/normal_ … */
export class Generator {
  readonly native: { seed(n: number): void; getState(): NativeHandle; setState(h: NativeHandle): void };
  constructor(seed = 0) {
    this.native = new native.NativeGenerator(seed);
  }
  manualSeed(seed: number): this {
    this.native.seed(seed);
    return this;
  }
  getState(): Tensor {
    return Tensor._wrap(this.native.getState());
  }
  setState(state: Tensor): void {
    this.native.setState(state.native);
  }
}

/** Seeds the default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
export function getRngState(): Tensor {
  return Tensor._wrap(native.getRngState());
}
export function setRngState(state: Tensor): void {
  native.setRngState(state.native);
}
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
/** OpenBLAS's own thread count (setNumThreads sets it too), or null when the BLAS is not OpenBLAS. */
export function getBlasThreads(): number | null {
  return native.getBlasThreads();
}
export function buildInfo(): { torchVersion: string; cudaAvailable: boolean; cudaDeviceCount: number; mkldnn: boolean; parallelInfo: string } {
  return native.buildInfo();
}

// ---------------------------------------------------------------- creation from JS data
type Nested = number | boolean | readonly Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let d: Nested = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0] as Nested;
  }
  return shape;
}

const BYTE_CTOR: Partial<Record<DType, new (n: number) => { [i: number]: number | bigint; buffer: ArrayBufferLike }>> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/**
 * A tensor from JS data: nested arrays, a TypedArray (with `shape`), or a number.
 * dtype defaults to float32 (int64 for BigInt64Array, the TypedArray's own type otherwise).
 */
export function tensor(
  data: Nested | Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array,
  opts: { shape?: readonly number[]; dtype?: DType; requiresGrad?: boolean } = {},
): Tensor {
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const own: DType =
      data instanceof Float32Array
        ? 'float32'
        : data instanceof Float64Array
          ? 'float64'
          : data instanceof Int32Array
            ? 'int32'
            : data instanceof Int16Array
              ? 'int16'
              : data instanceof Int8Array
                ? 'int8'
                : data instanceof BigInt64Array
                  ? 'int64'
                  : 'uint8';
    const shape = opts.shape ?? [data.length];
    t = Tensor._wrap(native.fromBuffer(data, shape, own));
    if (opts.dtype && opts.dtype !== own) {
      const c = t.to(opts.dtype);
      t.dispose();
      t = c;
    }
  } else {
    const shape = opts.shape ?? inferShape(data as Nested);
    const flat = (Array.isArray(data) ? (data as unknown[]).flat(Infinity as 1) : [data]) as (number | boolean)[];
    const n = shape.reduce((a, b) => a * b, 1);
    if (flat.length !== n) throw new Error(`tensor(): data has ${flat.length} elements but shape [${shape.join(', ')}] needs ${n} (ragged nested arrays?)`);
    const dtype = opts.dtype ?? (typeof flat[0] === 'boolean' ? 'bool' : 'float32');
    if (dtype === 'int64') {
      const a = BigInt64Array.from(flat, (x) => BigInt(Math.trunc(Number(x))));
      t = Tensor._wrap(native.fromBuffer(a, shape, 'int64'));
    } else if (dtype === 'float16' || dtype === 'bfloat16') {
      const f = Tensor._wrap(native.fromBuffer(Float32Array.from(flat, Number), shape, 'float32'));
      t = f.to(dtype);
      f.dispose();
    } else {
      const C = BYTE_CTOR[dtype];
      if (!C) throw new TypeError(`tensor(): unknown dtype '${String(dtype)}' (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool)`);
      const a = new C(n);
      // bool storage must hold 0/1 bytes (other values break libtorch's bool kernels); nonzero → true as in PyTorch.
      if (dtype === 'bool') for (let i = 0; i < n; i++) a[i] = Number(flat[i]) !== 0 ? 1 : 0;
      else for (let i = 0; i < n; i++) a[i] = Number(flat[i]);
      t = Tensor._wrap(native.fromBuffer(a, shape, dtype));
    }
  }
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor that views raw little-endian bytes (copied) as `dtype` with `shape`. */
export function fromBytes(bytes: Uint8Array, shape: readonly number[], dtype: DType): Tensor {
  return Tensor._wrap(native.fromBuffer(bytes, shape, dtype));
}

export function scalarTensor(v: number, dtype: DType = 'float32'): Tensor {
  return tensor(v, { dtype, shape: [] });
}
