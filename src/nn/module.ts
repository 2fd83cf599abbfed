// The base of every layer: a tree of named parameters, buffers and submodules with PyTorch's
// naming, so state dicts move between Tessera and PyTorch unchanged.
//
// Registration is explicit and ordered (PyTorch's key order is its attribute-assignment order):
//
//   class Block extends Module {
//     readonly conv: Conv2d;
//     readonly scale: Tensor;
//     constructor() {
//       super();
//       this.conv = this.add('conv', new Conv2d(3, 8, 3));
//       this.scale = this.param('scale', T.ones([8]));
//     }
//     forward(x: Tensor): Tensor { … }
//   }
//
// Parameters and buffers are kept (`keep()`): memory scopes (tidy/scope) never free them; only
// `dispose()` does. They keep their identity for the module's life — loading a state dict copies
// into them and `to()` swaps their storage in place — so typed fields stay valid.
import { Tensor, noGrad, type DType, type MemoryFormat } from '../torch/index.js';

/** What loadStateDict found: keys the model wanted but the dict lacked, extra keys, shape mismatches. */
export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  /** `expected` is the model's shape, `got` the state dict's. */
  mismatched: { key: string; expected: number[]; got: number[] }[];
  /**
   * Present when non-empty: tensors whose dtype kind (floating / integer / bool) differs from the
   * model's — e.g. float weights relabelled I32, which would load as garbage integers.
   */
  wrongDtype?: { key: string; expected: DType; got: DType }[];
  /** Present when non-empty: floating-point tensors holding NaN or ±Infinity. */
  nonFinite?: string[];
}

export type StateDict = Record<string, Tensor>;

/** How many keys of each kind a StateDictError message lists before "… and N more". */
const MAX_LISTED = 12;

/** What a StateDictError's message says the weights were checked against, and what would fit. */
export interface StateDictErrorOptions {
  /** "the model" (default), "its config", "the config", "pytorch-fid's FID Inception", … */
  against?: string;
  /** What a matching file looks like, appended as "; expected <hint>". */
  hint?: string;
}

/**
 * The one state-dict mismatch error (strict loadStateDict, model files, imports, LPIPS and Inception
 * weights). Its message is one line listing every kind of problem at once, with counts and the first
 * keys, e.g. "VQGAN from a.safetensors: weights do not match its config: 2 missing keys: x, y;
 * 1 shape mismatch: w is [5, 3], expected [4, 3]". The full lists are in `result`.
 */
export class StateDictError extends Error {
  constructor(
    readonly result: LoadStateDictResult,
    /** The model and where its weights came from, e.g. "VQGAN from a.safetensors". */
    readonly where: string,
    readonly options: StateDictErrorOptions = {},
  ) {
    super(formatStateDictResult(result, where, options));
    this.name = 'StateDictError';
  }
  get missing(): string[] {
    return this.result.missing;
  }
  get unexpected(): string[] {
    return this.result.unexpected;
  }
  /** The same problems for a model named differently (e.g. with the file it came from). */
  relabel(where: string, options: StateDictErrorOptions = this.options): StateDictError {
    return new StateDictError(this.result, where, options);
  }
}

/** True when the result records any problem (strict loading would throw). */
export function hasStateDictProblems(r: LoadStateDictResult): boolean {
  return r.missing.length + r.unexpected.length + r.mismatched.length + (r.wrongDtype?.length ?? 0) + (r.nonFinite?.length ?? 0) > 0;
}

/** The one formatter of a LoadStateDictResult: StateDictError's one-line message. */
export function formatStateDictResult(r: LoadStateDictResult, where: string, o: StateDictErrorOptions = {}): string {
  const esc = (k: string): string => {
    const e = k.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    return e.length > 100 ? `${e.slice(0, 100)}…` : e;
  };
  const list = (items: string[]): string =>
    items.length > MAX_LISTED ? `${items.slice(0, MAX_LISTED).join(', ')}, … and ${items.length - MAX_LISTED} more` : items.join(', ');
  const shape = (s: number[]): string => `[${s.join(', ')}]`;
  const parts: string[] = [];
  const add = (one: string, many: string, items: string[] | undefined): void => {
    if (items?.length) parts.push(`${items.length} ${items.length === 1 ? one : many}: ${list(items)}`);
  };
  add('missing key', 'missing keys', r.missing.map(esc));
  add('unexpected key', 'unexpected keys', r.unexpected.map(esc));
  add(
    'shape mismatch',
    'shape mismatches',
    r.mismatched.map((m) => `${esc(m.key)} is ${shape(m.got)}, expected ${shape(m.expected)}`),
  );
  add(
    'wrong dtype',
    'wrong dtypes',
    r.wrongDtype?.map((m) => `${esc(m.key)} is ${m.got}, expected ${m.expected}`),
  );
  add('tensor with NaN or Infinity', 'tensors with NaN or Infinity', r.nonFinite?.map(esc));
  return `${where}: weights do not match ${o.against ?? 'the model'}: ${parts.join('; ') || 'no problem found'}${o.hint ? `; expected ${o.hint}` : ''}`;
}

/** dtype kinds that can be cast into each other without reinterpreting the values. */
function dtypeKind(d: DType): 'float' | 'int' | 'bool' {
  return d === 'bool' ? 'bool' : d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16' ? 'float' : 'int';
}

const MEMORY_FORMATS = new Set<string>(['contiguous', 'channels_last', 'preserve']);
const DTYPES = new Set<string>(['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);
const FLOATING = new Set<string>(['float32', 'float64', 'float16', 'bfloat16']);

/** Argument of Module.to: a dtype, a device, a memory format, or several at once. */
export type ModuleTarget = DType | MemoryFormat | 'cpu' | 'cuda' | `cuda:${number}` | { dtype?: DType; device?: string; memoryFormat?: MemoryFormat };

export abstract class Module {
  /** Training mode (dropout active, BatchNorm updating its running stats). Set via train()/eval(). */
  training = true;

  // Maps keep insertion order, and re-setting a key keeps its position — like Python's dicts.
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #nonPersistent = new Set<string>();
  readonly #modules = new Map<string, Module>();

  // ------------------------------------------------------------ registration
  #checkName(name: string, kind: 'parameter' | 'buffer' | 'module'): void {
    if (typeof name !== 'string' || name === '') throw new TypeError(`${this.constructor.name}: ${kind} name must be a non-empty string`);
    if (name.includes('.')) throw new TypeError(`${this.constructor.name}: ${kind} name '${name}' cannot contain '.'`);
    const taken =
      (kind !== 'parameter' && this.#parameters.has(name) && 'parameter') ||
      (kind !== 'buffer' && this.#buffers.has(name) && 'buffer') ||
      (kind !== 'module' && this.#modules.has(name) && 'module');
    if (taken) throw new Error(`${this.constructor.name}: cannot register ${kind} '${name}': a ${taken} of that name exists`);
  }

  /**
   * Registers `t` as a parameter: it requires grad (unless `requiresGrad: false`) and is kept out of
   * memory scopes. A tensor with autograd history is detached first, like nn.Parameter(t).
   * Returns the parameter (assign it to a typed field).
   */
  registerParameter(name: string, t: Tensor, opts: { requiresGrad?: boolean } = {}): Tensor {
    this.#checkName(name, 'parameter');
    let p = t;
    if (!p.isLeaf) {
      p = noGrad(() => t.detach());
    }
    p.requiresGrad = opts.requiresGrad ?? true;
    p.keep();
    this.#parameters.set(name, p);
    return p;
  }

  /** Registers a buffer (state that is not trained). Non-persistent buffers stay out of the state dict. */
  registerBuffer(name: string, t: Tensor, opts: { persistent?: boolean } = {}): Tensor {
    this.#checkName(name, 'buffer');
    t.keep();
    this.#buffers.set(name, t);
    if (opts.persistent ?? true) this.#nonPersistent.delete(name);
    else this.#nonPersistent.add(name);
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    if (!(m instanceof Module)) throw new TypeError(`${this.constructor.name}: registerModule('${name}') needs a Module`);
    this.#checkName(name, 'module');
    this.#modules.set(name, m);
    return m;
  }

  /** Shorthands for constructors: `this.weight = this.param('weight', t)`. */
  protected param(name: string, t: Tensor, opts?: { requiresGrad?: boolean }): Tensor {
    return this.registerParameter(name, t, opts);
  }
  protected buffer(name: string, t: Tensor, opts?: { persistent?: boolean }): Tensor {
    return this.registerBuffer(name, t, opts);
  }
  protected add<M extends Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }

  /** @internal For containers that renumber their children (ModuleList.insert). */
  protected clearModules(): void {
    this.#modules.clear();
  }

  // ------------------------------------------------------------ traversal
  /** This module's own parameter / buffer / child of that name, or undefined. */
  getParameter(name: string): Tensor | undefined {
    return this.#parameters.get(name);
  }
  getBuffer(name: string): Tensor | undefined {
    return this.#buffers.get(name);
  }
  getChild(name: string): Module | undefined {
    return this.#modules.get(name);
  }

  /** A submodule by dotted path ('' is this module), like get_submodule. */
  getSubmodule(path: string): Module {
    let m: Module = this;
    if (path === '') return m;
    for (const part of path.split('.')) {
      const next = m.#modules.get(part);
      if (!next) throw new Error(`${m.constructor.name} has no submodule '${part}' (in path '${path}')`);
      m = next;
    }
    return m;
  }

  namedChildren(): [string, Module][] {
    return [...this.#modules];
  }
  children(): Module[] {
    return [...this.#modules.values()];
  }

  /** Every module in the tree, depth first, each once (shared submodules appear under their first name). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, p: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([p, m]);
      for (const [name, child] of m.#modules) walk(child, p ? `${p}.${name}` : name);
    };
    walk(this, prefix);
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  #namedMembers(pick: (m: Module) => Iterable<[string, Tensor]>, recurse: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>(); // a tied tensor is listed once, as in PyTorch
    const mods: [string, Module][] = recurse ? this.namedModules() : [['', this]];
    for (const [p, m] of mods) {
      for (const [name, t] of pick(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([p ? `${p}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** [dotted name, parameter] pairs in PyTorch's order. The tensors are the parameters themselves. */
  namedParameters(opts: { recurse?: boolean } = {}): [string, Tensor][] {
    return this.#namedMembers((m) => m.#parameters, opts.recurse ?? true);
  }
  parameters(opts: { recurse?: boolean } = {}): Tensor[] {
    return this.namedParameters(opts).map(([, t]) => t);
  }
  namedBuffers(opts: { recurse?: boolean } = {}): [string, Tensor][] {
    return this.#namedMembers((m) => m.#buffers, opts.recurse ?? true);
  }
  buffers(opts: { recurse?: boolean } = {}): Tensor[] {
    return this.namedBuffers(opts).map(([, t]) => t);
  }

  /** Number of parameter elements (shared parameters counted once). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!opts.trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  // ------------------------------------------------------------ state dict
  /**
   * [key, tensor] for every parameter and persistent buffer, in state-dict order: own parameters,
   * own buffers, then each child's entries under `child.` (no de-duplication, like PyTorch).
   */
  #stateEntries(prefix: string, out: [string, Tensor][]): [string, Tensor][] {
    for (const [name, p] of this.#parameters) out.push([prefix + name, p]);
    for (const [name, b] of this.#buffers) if (!this.#nonPersistent.has(name)) out.push([prefix + name, b]);
    for (const [name, m] of this.#modules) m.#stateEntries(`${prefix}${name}.`, out);
    return out;
  }

  /**
   * PyTorch's state_dict with dotted keys. By default the values are detached views that share storage
   * with the parameters (new handles in the current memory scope: use inside tidy, or dispose them);
   * `keepVars: true` returns the parameters and buffers themselves (do not dispose those).
   */
  stateDict(opts: { keepVars?: boolean } = {}): StateDict {
    const sd: StateDict = {};
    for (const [k, t] of this.#stateEntries('', [])) sd[k] = opts.keepVars ? t : noGrad(() => t.detach());
    return sd;
  }

  /** The state-dict keys in order (no tensor handles created). */
  stateDictKeys(): string[] {
    return this.#stateEntries('', []).map(([k]) => k);
  }

  /**
   * Copies `sd` into the parameters and buffers in place (their identity, dtype and memory format
   * are kept; values are cast within a dtype kind). Strict mode checks everything first and throws
   * one StateDictError listing every missing / unexpected key, shape mismatch, dtype of the wrong
   * kind (a float weight stored as I32 would load as garbage integers) and tensor holding NaN/Inf,
   * without changing the module. Non-strict mode loads what passes and reports the rest (unlike
   * PyTorch, shape mismatches are skipped rather than fatal there).
   * `optional` keys may be absent (e.g. num_batches_tracked, constants the file does not carry);
   * `name`, `against` and `hint` go into the error message (see StateDictError).
   */
  loadStateDict(
    sd: StateDict | Map<string, Tensor>,
    opts: { strict?: boolean; optional?: (key: string) => boolean; name?: string } & StateDictErrorOptions = {},
  ): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const entries = this.#stateEntries('', []);
    const result: LoadStateDictResult = { missing: [], unexpected: [], mismatched: [] };
    const wrongDtype: NonNullable<LoadStateDictResult['wrongDtype']> = [];
    const nonFinite: string[] = [];
    const toCopy: [Tensor, Tensor][] = [];
    const expectedKeys = new Set<string>();
    for (const [key, dst] of entries) {
      expectedKeys.add(key);
      const src = source.get(key);
      if (src === undefined) {
        if (!opts.optional?.(key)) result.missing.push(key);
        continue;
      }
      if (!(src instanceof Tensor)) throw new TypeError(`loadStateDict: value for '${key}' is not a Tensor`);
      const expected = dst.shape;
      const got = src.shape;
      if (expected.length !== got.length || expected.some((d, i) => d !== got[i])) {
        result.mismatched.push({ key, expected, got });
        continue;
      }
      if (dtypeKind(src.dtype) !== dtypeKind(dst.dtype)) {
        wrongDtype.push({ key, expected: dst.dtype, got: src.dtype });
        continue;
      }
      if (dtypeKind(src.dtype) === 'float' && src.numel > 0 && !allFinite(src)) {
        nonFinite.push(key);
        continue;
      }
      toCopy.push([dst, src]);
    }
    for (const key of source.keys()) if (!expectedKeys.has(key)) result.unexpected.push(key);
    if (wrongDtype.length) result.wrongDtype = wrongDtype;
    if (nonFinite.length) result.nonFinite = nonFinite;
    if (strict && hasStateDictProblems(result))
      throw new StateDictError(result, opts.name ?? this.constructor.name, { against: opts.against, hint: opts.hint });
    noGrad(() => {
      for (const [dst, src] of toCopy) if (dst !== src) dst.copy_(src);
    });
    return result;
  }

  // ------------------------------------------------------------ modes and utilities
  /** Sets training mode here and in every descendant. Returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.#modules.values()) m.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every descendant, children first, then on this module (PyTorch's order). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.#modules.values()) m.apply(fn);
    fn(this);
    return this;
  }

  /** Turns gradient tracking of every parameter on or off (freezing). */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /**
   * Clears the gradients. `setToNone` (default, PyTorch ≥ 2.0 behaviour) drops them; otherwise
   * they are zeroed in place.
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    const setToNone = opts.setToNone ?? true;
    for (const p of this.parameters()) {
      if (setToNone) {
        p.grad = undefined;
        continue;
      }
      const g = p.grad;
      if (g) {
        noGrad(() => g.zero_());
        g.dispose();
      }
    }
  }

  /**
   * Converts parameters and buffers in place, keeping their identity (`param.data = …` in PyTorch):
   * a dtype applies to floating-point tensors only; 'channels_last' applies to 4-d tensors only;
   * a device moves everything. Gradients are converted with their parameters.
   */
  to(target: ModuleTarget): this {
    const spec: { dtype?: DType; device?: string; memoryFormat?: MemoryFormat } =
      typeof target !== 'string'
        ? target
        : MEMORY_FORMATS.has(target)
          ? { memoryFormat: target as MemoryFormat }
          : DTYPES.has(target)
            ? { dtype: target as DType }
            : { device: target };
    if (spec.dtype && !FLOATING.has(spec.dtype)) throw new TypeError(`Module.to: dtype must be floating point, got ${spec.dtype}`);
    const convert = (t: Tensor): void => {
      const dtype = spec.dtype && FLOATING.has(t.dtype) ? spec.dtype : undefined;
      const memoryFormat = spec.memoryFormat && t.ndim === 4 ? spec.memoryFormat : undefined;
      if (!dtype && !memoryFormat && !spec.device) return;
      const swap = (x: Tensor): void => {
        const y = x.to({ dtype, device: spec.device, memoryFormat });
        x.setData(y);
        y.dispose();
      };
      noGrad(() => {
        swap(t);
        const g = t.grad;
        if (g) {
          swap(g);
          g.dispose();
        }
      });
    };
    for (const t of this.parameters()) convert(t);
    for (const t of this.buffers()) convert(t);
    return this;
  }
  float(): this {
    return this.to('float32');
  }
  double(): this {
    return this.to('float64');
  }

  /** Frees every parameter and buffer in the tree; the module is unusable afterwards. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    for (const t of this.buffers()) t.dispose();
  }

  // ------------------------------------------------------------ printing
  /** The part inside the parentheses of this module's one-line description (override in layers). */
  extraRepr(): string {
    return '';
  }

  /** A PyTorch-style tree description. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = [...this.#modules].map(([name, m]) => `(${name}): ${m.toString().split('\n').join('\n  ')}`);
    const lines = [...extraLines, ...childLines];
    let s = `${this.constructor.name}(`;
    if (extraLines.length === 1 && childLines.length === 0) s += extraLines[0];
    else if (lines.length) s += `\n  ${lines.join('\n  ')}\n`;
    return `${s})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** The keys of the floating-point tensors in `sd` that hold NaN or ±Infinity (for files no model is built from). */
export function nonFiniteKeys(sd: StateDict): string[] {
  return Object.entries(sd)
    .filter(([, t]) => dtypeKind(t.dtype) === 'float' && t.numel > 0 && !allFinite(t))
    .map(([k]) => k);
}

/**
 * True when every element of a floating-point tensor is finite. Scanned in JS over a copy of the
 * values: per-tensor libtorch reductions cost far more in op dispatch and thread wake-ups than the scan
 * (measured on emoji-movq's 350 tensors: ~70 ms here against ~1.4 s as isfinite().all() on a busy machine).
 */
function allFinite(t: Tensor): boolean {
  const d = t.data() as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) {
    const x = d[i]!;
    if (x - x !== 0) return false; // NaN - NaN and ±Inf - ±Inf are NaN
  }
  return true;
}

/** A module whose forward maps one tensor to one tensor (what Sequential chains). */
export type UnaryModule = Module & { forward(x: Tensor): Tensor };
